"""What every Postgres sub-collector shares: the context it queries and records through, the
failure reasons, and the metric-family builder.

A sub-collector is a small class with ``async def collect(self, ctx)``: it runs its query through
:meth:`Context.fetch` (which owns the pool, the timeouts and the read-only transaction) and adds
samples with :meth:`Context.add`. It raises on failure; the wrapper in source.py owns the timing,
``pg_scrape_collector_success`` and the error capture, and drops the samples of a sub-collector
that failed so a half-read area never looks complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import asyncpg

from exporter import metrics as m
from exporter.families import Families as Families  # re-exported for the sub-collectors
from exporter.postgres.config import Database
from exporter.secrets import MissingSecret, Redactor

# Why pg_up is 0 (redline_pg_failure_reason): a closed set, so the state set is bounded.
REASONS: tuple[str, ...] = (
    "secret",  # the DSN's variable or file is missing
    "dsn",  # the DSN cannot be parsed
    "connect",  # refused, unreachable, name not resolved, connection lost
    "auth",  # wrong password or role, or pg_hba refuses
    "timeout",  # connecting or the canary took longer than allowed
    "server",  # the server refused: starting up, shutting down, too many connections, ...
    "internal",  # a bug in redline; logged
)

# The client-side timeout of a query in transaction mode trails the server's statement_timeout a
# little, so the server cancels first and the connection stays clean.
CLIENT_GRACE = 0.25
# How long a query waits for a lock another session holds (a migration's ACCESS EXCLUSIVE on a
# table that pg_table_size must open, a VACUUM FULL): a quarter of the query's timeout, at most
# this. A locked table then costs its area this long and a clear reason ("lock"), never the
# whole timeout of a scrape that everything else is waiting on.
LOCK_TIMEOUT_MAX = 0.5


def lock_timeout_ms(timeout: float) -> int:
    return max(1, int(min(LOCK_TIMEOUT_MAX, timeout / 4) * 1000))


# stateset and info are gauges in the text format (one series per state, value 0/1)


class Down(Exception):
    """The database cannot be used now; ``reason`` is one of :data:`REASONS`. The message is
    shown to operators: it never holds the DSN, and is redacted as a second line of defence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def classify(error: BaseException) -> str:
    """The :data:`REASONS` entry for an error met while connecting or querying."""
    if isinstance(error, Down):
        return error.reason
    if isinstance(error, MissingSecret):
        return "secret"
    if isinstance(error, TimeoutError | asyncpg.QueryCanceledError):
        return "timeout"
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError):
        return "auth"  # 28000 (pg_hba reject, unknown role) and 28P01 (wrong password)
    if isinstance(
        error,
        asyncpg.PostgresConnectionError
        | asyncpg.AdminShutdownError
        | asyncpg.ConnectionDoesNotExistError
        | ConnectionError
        | socket.gaierror
        | OSError,
    ):
        return "connect"
    if isinstance(error, asyncpg.exceptions.ClientConfigurationError):
        return "dsn"
    if isinstance(error, asyncpg.PostgresError | asyncpg.InterfaceError):
        return "server"
    return "internal"


def area_reason(error: BaseException) -> str:
    """Why an area (a sub-collector) failed: "lock" when it gave up waiting for a lock another
    session holds, else the :func:`classify` reason."""
    if isinstance(error, asyncpg.LockNotAvailableError):
        return "lock"
    return classify(error)


def describe(error: BaseException) -> str:
    """A one-line message for an error, without the DSN (asyncpg's messages name the user and
    host at most; the caller still redacts)."""
    if isinstance(error, Down):
        return error.message
    if isinstance(error, asyncpg.LockNotAvailableError):
        return (
            "a table it reads is locked by another session (an ALTER TABLE, VACUUM FULL, "
            "LOCK TABLE or a migration): gave up at lock_timeout, this area is skipped in this "
            "scrape"
        )
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    name = type(error).__name__
    return f"{name}: {text}" if text else name


class Context:
    """What one sub-collector sees during one scrape of one database."""

    def __init__(
        self,
        db: Database,
        pool: Any,  # asyncpg.Pool (asyncpg ships no type hints)
        deadline: float,
        version: int,
        transaction_pooler: bool,
        redactor: Redactor | None = None,
    ) -> None:
        self.db = db
        self.redactor = redactor or Redactor()
        self.transaction_pooler = transaction_pooler  # also set by pgbouncer=true in the DSN
        self.pool = pool
        self.deadline = deadline  # loop.time() by which every query must be over
        self.version = version  # server_version_num, e.g. 150008 (0: unknown, assume the newest)
        self.families = Families()
        self.failed = False  # set by a sub-collector that carries on after a partial failure
        self.query_seconds = 0.0  # round trip of the last query, connection wait excluded
        # Problems a sub-collector carried on after (key -> message, None once fixed), logged by
        # the source when they change, so a broken custom query is not logged at every scrape.
        self.problems: dict[str, str | None] = {}

    def add(self, metric: m.Metric, value: float | None, **labels: str) -> None:
        """Record one sample; ``None`` (SQL NULL) records nothing."""
        if value is None:
            return
        self.families.add(metric, {"database": self.db.name, **labels}, float(value))

    def add_named(
        self, name: str, help_text: str, type_: str, value: float, labels: dict[str, str]
    ) -> None:
        """A sample of a metric named by the config (custom SQL)."""
        # a custom SQL metric: its name, help and type come from the config
        self.families.add(
            m.Metric(name, type_, help_text), {"database": self.db.name, **labels}, value
        )

    async def fetch(self, sql: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """Run one read-only query on a pooled connection and return its rows.

        Waiting for a connection counts against the scrape deadline only; the query itself gets
        ``timeout`` (the database's ``timeout`` by default), cut by the deadline, and is
        cancelled on the server when it runs past it. The pool has at most ``pool.max_size``
        connections, so never more queries are in flight than that."""
        limit = self.db.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        remaining = self.deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        async with self.pool.acquire(timeout=remaining) as conn:
            budget = min(limit, self.deadline - loop.time())
            if budget <= 0:
                raise TimeoutError
            start = time.perf_counter()
            try:
                return await run_query(conn, sql, args, budget, self.transaction_pooler)
            finally:
                self.query_seconds = time.perf_counter() - start


async def run_query(
    conn: Any, sql: str, args: Sequence[Any], budget: float, transaction_pooler: bool
) -> list[Any]:
    """One query, read-only and time-limited.

    Session mode (a direct connection): the connection was opened with
    default_transaction_read_only=on and a statement_timeout (see source.py), so the query runs
    alone, one statement and, once prepared, one round trip; asyncpg cancels it on the server
    when ``budget`` passes.

    Transaction mode (pgbouncer/Supavisor on port 6543): a pooler hands the server connection
    to someone else after every transaction, so settings made at connect time are not ours to
    keep, and asyncpg's Parse and Execute round trips must stay on one server connection.
    Hence ``BEGIN READ ONLY`` with a transaction-local statement_timeout (sent together, one
    round trip), the query, and ``COMMIT``.
    """
    if not transaction_pooler:
        return list(await conn.fetch(sql, *args, timeout=budget))
    ms = max(1, int(budget * 1000))
    await conn.execute(
        f"BEGIN READ ONLY; SELECT set_config('statement_timeout', '{ms}', true), "
        f"set_config('lock_timeout', '{lock_timeout_ms(budget)}', true)",
        timeout=budget + CLIENT_GRACE,
    )
    try:
        rows = await conn.fetch(sql, *args, timeout=budget + CLIENT_GRACE)
    except asyncio.CancelledError:
        # The scrape gave up on us mid-query: we cannot await a ROLLBACK now. Dropping the
        # connection makes the pooler roll back; the pool opens a new one when needed.
        conn.terminate()
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            await conn.execute("ROLLBACK", timeout=CLIENT_GRACE * 4)
        raise
    await conn.execute("COMMIT", timeout=budget + CLIENT_GRACE)
    return list(rows)


class SubCollector:
    """One area of Postgres metrics. An instance lives as long as its database's config, so it
    may keep state across scrapes (text caches, custom-query results)."""

    name: ClassVar[str] = ""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def collect(self, ctx: Context) -> None:
        raise NotImplementedError


def number(value: Any) -> float | None:
    """A SQL value as a float; None stays None (NULL: no sample)."""
    if value is None:
        return None
    return float(value)
