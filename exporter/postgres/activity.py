"""Activity: client connections by state and wait event, the connection limits and how much of
them is used, idle-in-transaction sessions, the oldest transaction and query, and lock waits.

One statement: pg_stat_activity is read once (a CTE used several times is materialised) and
the settings come along as extra columns.
"""

from __future__ import annotations

from exporter import metrics as m
from exporter.postgres.base import Context, SubCollector, number

# PostgreSQL 14 added pg_locks.waitstart; before it, the start of the waiting query is the best
# bound on how long its lock wait has lasted.
_LOCK_WAIT_14 = """(SELECT coalesce(max(extract(epoch FROM now() - waitstart)), 0)
        FROM pg_locks WHERE NOT granted AND waitstart IS NOT NULL)"""
_LOCK_WAIT_OLD = """(SELECT coalesce(max(extract(epoch FROM now() - query_start)), 0)
        FROM a WHERE wait_event_type = 'Lock')"""

# One row per (state, wait_event_type) with the scalars repeated: rows, not arrays, because
# asyncpg would look array types up in pg_type (one more statement) on every new connection.
_SQL = """
WITH a AS MATERIALIZED (
    SELECT pid, coalesce(state, '') AS state, coalesce(wait_event_type, '') AS wait_event_type,
           xact_start, query_start
    FROM pg_stat_activity
    WHERE backend_type = 'client backend'
), s AS (
    SELECT
        (SELECT count(*) FROM a) AS connections,
        (SELECT count(*) FROM a WHERE state LIKE 'idle in transaction%') AS idle_in_transaction,
        (SELECT coalesce(max(extract(epoch FROM now() - xact_start)), 0)
            FROM a WHERE pid <> pg_backend_pid())::float8 AS oldest_transaction,
        (SELECT coalesce(max(extract(epoch FROM now() - query_start)), 0)
            FROM a WHERE state = 'active' AND pid <> pg_backend_pid())::float8 AS oldest_query,
        (SELECT count(*) FROM a WHERE wait_event_type = 'Lock') AS lock_waiting,
        {lock_wait}::float8 AS lock_wait_max,
        current_setting('max_connections')::int AS max_connections,
        current_setting('superuser_reserved_connections')::int AS superuser_reserved,
        current_setting('reserved_connections', true)::int AS reserved
)
SELECT g.state, g.wait_event_type, g.n, s.*
FROM s
LEFT JOIN (SELECT state, wait_event_type, count(*) AS n FROM a GROUP BY 1, 2) g ON true
ORDER BY g.state, g.wait_event_type
"""


def activity_sql(version: int) -> str:
    return _SQL.format(
        lock_wait=_LOCK_WAIT_14 if version >= 140000 or not version else _LOCK_WAIT_OLD
    )


class Activity(SubCollector):
    name = "activity"

    async def collect(self, ctx: Context) -> None:
        rows = await ctx.fetch(activity_sql(ctx.version))
        for group in rows:
            if group["state"] is not None:  # NULL only when there is no client at all
                ctx.add(
                    m.PG_ACTIVITY_COUNT,
                    group["n"],
                    state=group["state"],
                    wait_event_type=group["wait_event_type"],
                )
        row = rows[0]
        max_connections = int(row["max_connections"])
        reserved = int(row["superuser_reserved"]) + int(row["reserved"] or 0)
        ctx.add(m.PG_MAX_CONNECTIONS, max_connections)
        ctx.add(m.PG_SUPERUSER_RESERVED, row["superuser_reserved"])
        ctx.add(m.PG_RESERVED, row["reserved"])  # NULL before PostgreSQL 16: no series
        usable = max(1, max_connections - reserved)
        ctx.add(m.PG_CONNECTIONS_USAGE, min(1.0, row["connections"] / usable))
        ctx.add(m.PG_IDLE_IN_TRANSACTION, row["idle_in_transaction"])
        # now() is the start of our own statement: a backend that began after it would show a
        # tiny negative age
        ctx.add(m.PG_OLDEST_TRANSACTION, max(0.0, number(row["oldest_transaction"]) or 0.0))
        ctx.add(m.PG_OLDEST_QUERY, max(0.0, number(row["oldest_query"]) or 0.0))
        ctx.add(m.PG_LOCK_WAITING, row["lock_waiting"])
        ctx.add(m.PG_LOCK_WAIT_MAX, max(0.0, number(row["lock_wait_max"]) or 0.0))
