"""pg_stat_statements: the N statements with the most total execution time (calls, total and mean
seconds, rows, shared block hits and reads), by queryid, database and user, with the normalised
text in a separate ``pg_stat_statements_query_info`` series.

Cheap on the server by design:

- the ranking reads ``pg_stat_statements(false)``, which skips the query-text file (reading
  that file, megabytes on a busy server, is most of what the view costs);
- texts are fetched only for statements new to the top N, then kept here, so a steady top N
  costs one statement per scrape;
- the extension's schema is looked up once (Supabase installs it in ``extensions``, which is
  not on a monitoring role's search_path), and again only after a failure.

Column names: PostgreSQL 13 renamed total_time/mean_time to total_exec_time/mean_exec_time
(pg_stat_statements 1.8); the server version from the canary picks the right ones.
"""

from __future__ import annotations

import re
from typing import Any

from exporter import metrics as m
from exporter.postgres.base import Context, SubCollector

# pg_stat_statements normalises the constants of plannable statements ($1, $2, ...) but keeps
# utility statements verbatim: CREATE/ALTER ROLE ... PASSWORD 'x' (or a user mapping's
# password 'x') would put a password into a label. The literal may be cut short by
# query_length, hence the optional closing quote.
_PASSWORD_LITERAL = re.compile(r"(?i)(\bpassword\s*=?\s*)(E?'(?:[^']|'')*(?:'|$))")


def scrub(text: str) -> str:
    """Query text safe to expose: password literals masked."""
    return _PASSWORD_LITERAL.sub(r"\1'<redacted>'", text)


SCHEMA_SQL = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = $1"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def top_sql(version: int, schema: str) -> str:
    """The ranking query: $1 is N. Rows of one (user, database, queryid) are summed: with
    pg_stat_statements.track = all, a statement has a top-level and a nested row (PG14+), and one
    series per label set is all the exposition may hold."""
    total = "total_exec_time" if version >= 130000 or not version else "total_time"
    return f"""
SELECT s.queryid::text AS queryid, s.userid::oid::int8 AS userid, s.dbid::oid::int8 AS dbid,
       coalesce(d.datname::text, s.dbid::text) AS datname,
       coalesce(r.rolname::text, s.userid::text) AS "user",
       s.calls, s.seconds, s.rows, s.blks_hit, s.blks_read
FROM (
    SELECT userid, dbid, queryid, sum(calls)::float8 AS calls,
           sum({total})::float8 / 1000 AS seconds, sum(rows)::float8 AS rows,
           sum(shared_blks_hit)::float8 AS blks_hit, sum(shared_blks_read)::float8 AS blks_read
    FROM {_ident(schema)}.pg_stat_statements(false)
    WHERE queryid IS NOT NULL
    GROUP BY userid, dbid, queryid
    ORDER BY seconds DESC
    LIMIT $1
) s
LEFT JOIN pg_database d ON d.oid = s.dbid
LEFT JOIN pg_roles r ON r.oid = s.userid
ORDER BY s.seconds DESC, s.queryid
"""


def text_sql(schema: str) -> str:
    """Texts of the given queryids ($1, comma-separated: an array parameter would make asyncpg
    look the array type up, one more statement), cut to $2 characters on the server."""
    return f"""
SELECT userid::oid::int8 AS userid, dbid::oid::int8 AS dbid, queryid::text AS queryid,
       left(query, $2) AS query
FROM {_ident(schema)}.pg_stat_statements(true)
WHERE queryid = ANY(string_to_array($1, ',')::int8[])
"""


Key = tuple[int, int, str]  # (userid, dbid, queryid)


class Statements(SubCollector):
    name = "statements"

    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.schema: str | None = None
        self.texts: dict[Key, str] = {}

    async def collect(self, ctx: Context) -> None:
        try:
            await self._collect(ctx)
        except Exception:
            self.schema = None  # the extension may have been dropped or moved: look again
            raise

    async def _collect(self, ctx: Context) -> None:
        if self.schema is None:
            rows = await ctx.fetch(SCHEMA_SQL, "pg_stat_statements")
            if not rows:
                raise RuntimeError(
                    "the pg_stat_statements extension is not installed in this database "
                    "(CREATE EXTENSION pg_stat_statements; it also needs "
                    "shared_preload_libraries)"
                )
            self.schema = str(rows[0][0])
        top = await ctx.fetch(top_sql(ctx.version, self.schema), self.db.statements.top)
        keys = [(int(r["userid"]), int(r["dbid"]), str(r["queryid"])) for r in top]
        missing = [k for k in keys if k not in self.texts]
        if missing:
            rows = await ctx.fetch(
                text_sql(self.schema),
                ",".join(sorted({k[2] for k in missing})),
                self.db.statements.query_length,
            )
            for r in rows:
                key = (int(r["userid"]), int(r["dbid"]), str(r["queryid"]))
                # and any secret redline itself knows (its own DSN's password, ...); cut again
                # as the masks may be longer than what they hide
                text = ctx.redactor.redact(scrub(r["query"] or ""))
                self.texts.setdefault(key, text[: self.db.statements.query_length])
        # keep only the current top N: the cache is bounded by the config
        self.texts = {k: self.texts[k] for k in keys if k in self.texts}
        for row, key in zip(top, keys, strict=True):
            labels = {"datname": row["datname"], "user": row["user"], "queryid": key[2]}
            calls, seconds = row["calls"], row["seconds"]
            ctx.add(m.PG_STATEMENT_CALLS, calls, **labels)
            ctx.add(m.PG_STATEMENT_SECONDS, seconds, **labels)
            ctx.add(m.PG_STATEMENT_MEAN, seconds / calls if calls else 0.0, **labels)
            ctx.add(m.PG_STATEMENT_ROWS, row["rows"], **labels)
            ctx.add(m.PG_STATEMENT_BLKS_HIT, row["blks_hit"], **labels)
            ctx.add(m.PG_STATEMENT_BLKS_READ, row["blks_read"], **labels)
            if key in self.texts:
                ctx.add(m.PG_STATEMENT_INFO, 1, **labels, query=self.texts[key])
