"""Per database (pg_stat_database): transactions, deadlocks, conflicts, block hits and reads,
temporary files, rows, and the size on disk. One statement for every database of the server
that accepts connections (templates excluded).
"""

from __future__ import annotations

from exporter import metrics as m
from exporter.postgres.base import Context, SubCollector

_COLUMNS = tuple(m.PG_STAT_DATABASE_COUNTERS)

# pg_database_size needs CONNECT on the database or pg_read_all_stats (in pg_monitor); without
# either the size is NULL (no series) instead of an error that would lose every other column.
SQL = f"""
SELECT d.datname::text AS datname, s.numbackends, {", ".join("s." + c for c in _COLUMNS)},
       CASE WHEN has_database_privilege(d.oid, 'CONNECT')
                 OR pg_has_role('pg_read_all_stats', 'MEMBER')
            THEN pg_database_size(d.oid) END AS size_bytes
FROM pg_database d
JOIN pg_stat_database s ON s.datid = d.oid
WHERE d.datallowconn AND NOT d.datistemplate
ORDER BY d.datname
"""


class DatabaseStats(SubCollector):
    name = "database"

    async def collect(self, ctx: Context) -> None:
        for row in await ctx.fetch(SQL):
            datname = row["datname"]
            ctx.add(m.PG_STAT_DATABASE_NUMBACKENDS, row["numbackends"], datname=datname)
            for column, metric in m.PG_STAT_DATABASE_COUNTERS.items():
                ctx.add(metric, row[column], datname=datname)
            ctx.add(m.PG_DATABASE_SIZE, row["size_bytes"], datname=datname)
