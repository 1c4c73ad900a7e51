"""Per table, for the N largest tables of the connected database: scans, live and dead rows,
the dead ratio, the time since the last (auto)vacuum and (auto)analyze, table and index bytes.

The N tables are chosen by the planner's size estimate (pg_class.relpages of the table and its
TOAST table, kept by VACUUM and ANALYZE), and the exact sizes are computed for those N only:
pg_table_size opens every relation it measures, which on a database of thousands of tables
would cost a lock and a few file lookups each at every scrape. One statement.
"""

from __future__ import annotations

from exporter import metrics as m
from exporter.postgres.base import Context, SubCollector, number

_OPERATIONS = ("vacuum", "autovacuum", "analyze", "autoanalyze")

# The LIMIT sits in a subquery so the size functions run on its N rows only (a subquery with a
# LIMIT is never flattened into the outer query).
_AGES = ", ".join(
    f"extract(epoch FROM now() - t.last_{op})::float8 AS {op}_age" for op in _OPERATIONS
)
SQL = f"""
SELECT t.schemaname, t.relname, t.seq_scan, t.idx_scan, t.n_live_tup, t.n_dead_tup, {_AGES},
       pg_table_size(t.relid) AS table_bytes, pg_indexes_size(t.relid) AS index_bytes
FROM (
    SELECT s.relid, s.schemaname::text AS schemaname, s.relname::text AS relname, s.seq_scan,
           s.idx_scan, s.n_live_tup, s.n_dead_tup,
           {", ".join(f"s.last_{op}" for op in _OPERATIONS)}
    FROM pg_stat_user_tables s
    JOIN pg_class c ON c.oid = s.relid
    LEFT JOIN pg_class toast ON toast.oid = c.reltoastrelid
    ORDER BY c.relpages::bigint + coalesce(toast.relpages, 0) DESC, s.relid
    LIMIT $1
) t
"""


class Tables(SubCollector):
    name = "tables"

    async def collect(self, ctx: Context) -> None:
        for row in await ctx.fetch(SQL, self.db.tables.top):
            labels = {"schemaname": row["schemaname"], "relname": row["relname"]}
            ctx.add(m.PG_TABLE_SEQ_SCAN, row["seq_scan"], **labels)
            ctx.add(m.PG_TABLE_IDX_SCAN, row["idx_scan"], **labels)  # NULL without indexes
            live, dead = int(row["n_live_tup"]), int(row["n_dead_tup"])
            ctx.add(m.PG_TABLE_LIVE, live, **labels)
            ctx.add(m.PG_TABLE_DEAD, dead, **labels)
            ctx.add(m.PG_TABLE_DEAD_RATIO, dead / (live + dead) if live + dead else 0.0, **labels)
            for op in _OPERATIONS:
                age = number(row[f"{op}_age"])
                if age is not None:
                    ctx.add(m.PG_TABLE_MAINTENANCE_AGE, max(0.0, age), **labels, operation=op)
            ctx.add(m.PG_TABLE_SIZE, row["table_bytes"], **labels)
            ctx.add(m.PG_TABLE_INDEX_SIZE, row["index_bytes"], **labels)
