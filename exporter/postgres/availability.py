"""Availability: the canary query. It runs first, alone, on every scrape: its success is
``pg_up`` and its round trip is the database's latency as redline sees it. It also reads what
the other sub-collectors need to know (the server version, for the column names that differ
between releases), so they need no query of their own for it.
"""

from __future__ import annotations

from exporter import metrics as m
from exporter.postgres.base import Context, SubCollector, number

SQL = """
SELECT current_setting('server_version') AS version,
       extract(epoch FROM pg_postmaster_start_time())::float8 AS started
"""


class Availability(SubCollector):
    name = "availability"

    async def collect(self, ctx: Context) -> None:
        rows = await ctx.fetch(SQL)
        row = rows[0]
        ctx.add(m.PG_CANARY_DURATION, ctx.query_seconds)
        ctx.add(m.PG_POSTMASTER_START, number(row["started"]))
        # "15.8 (Debian 15.8-1.pgdg120+1)" -> "15.8": the label stays short and stable
        ctx.add(m.PG_SERVER_INFO, 1, version=str(row["version"]).split(" ", 1)[0])
