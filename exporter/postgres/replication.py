"""Replication: whether the server is a replica, its replay lag, and every replication slot with
the WAL it makes the server keep (a forgotten slot fills the disk). One statement.
"""

from __future__ import annotations

from exporter import metrics as m
from exporter.postgres.base import Context, SubCollector, number

# On a replica the WAL position is what it has received; pg_current_wal_lsn() would fail there
# (CASE evaluates only the branch taken). Lag is 0 when everything received is replayed (an
# idle primary sends nothing, and the last replay timestamp would grow without any lag).
SQL = """
SELECT r.is_replica, r.lag, s.slot_name::text AS slot_name, s.slot_type, s.active,
       pg_wal_lsn_diff(r.wal_lsn, s.restart_lsn)::float8 AS retained
FROM (
    SELECT pg_is_in_recovery() AS is_replica,
           CASE WHEN NOT pg_is_in_recovery() THEN 0
                WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp()))
           END::float8 AS lag,
           CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                ELSE pg_current_wal_lsn() END AS wal_lsn
) r
LEFT JOIN pg_replication_slots s ON true
ORDER BY s.slot_name
"""


class Replication(SubCollector):
    name = "replication"

    async def collect(self, ctx: Context) -> None:
        rows = await ctx.fetch(SQL)
        first = rows[0]  # the LEFT JOIN keeps one row when there is no slot
        ctx.add(m.PG_IS_REPLICA, 1.0 if first["is_replica"] else 0.0)
        ctx.add(m.PG_REPLICATION_LAG, number(first["lag"]))
        for row in rows:
            if row["slot_name"] is None:
                continue
            labels = {"slot_name": row["slot_name"], "slot_type": row["slot_type"] or ""}
            ctx.add(m.PG_SLOT_ACTIVE, 1.0 if row["active"] else 0.0, **labels)
            ctx.add(m.PG_SLOT_RETAINED, number(row["retained"]), **labels)
