"""The Postgres source: one asyncpg pool per configured database, the sub-collector registry,
and the wrapper that runs them under the scrape deadline.

Connection rules (issue 3, docs/postgres.md):

- the pool is small (``pool.min_size``..``pool.max_size``, 1..2 by default) and is the only
  limit on queries in flight: a slow database is never piled on;
- it is created in the background at start and, after a failure, again no sooner than a
  backoff (0.5 s doubling to 10 s) allows, so start-up never waits for the database and a
  database that is down is not hammered; ``pg_up`` is 0 meanwhile, with the reason;
- every connection says ``application_name=redline``. Through a pooler in transaction mode
  (``transaction_pooler`` or Prisma's ``pgbouncer=true``) it uses no server-side prepared
  statements (``statement_cache_size=0``): the pooler hands the server connection to others
  between transactions and could not keep them. A direct connection keeps a small statement
  cache: a query is then one round trip instead of two (Parse and Execute) and is not planned
  again at every scrape, which halves the scrape's wall time (bench/postgres.py);
- every query is read-only and time-limited (base.run_query);
- the DSN is resolved only here, its password is given to the Redactor before anything can
  fail, and no message is ever built from the DSN itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import asyncpg
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.config import Config
from exporter.postgres.activity import Activity
from exporter.postgres.availability import Availability
from exporter.postgres.base import (
    REASONS,
    Context,
    Down,
    Families,
    SubCollector,
    area_reason,
    classify,
    describe,
    lock_timeout_ms,
)
from exporter.postgres.config import Database
from exporter.postgres.custom import Custom
from exporter.postgres.database import DatabaseStats
from exporter.postgres.replication import Replication
from exporter.postgres.statements import Statements
from exporter.postgres.tables import Tables
from exporter.secrets import MissingSecret, Redactor, SecretSource
from exporter.sources import Source

log = logging.getLogger("redline.postgres")


class _QuietPoolFloor(logging.Filter):
    """asyncpg logs a warning with a traceback each time it fails to reopen the pool's minimum
    connection while the database is down (every 1 s to 60 s); redline already reports that
    state (pg_up, redline_pg_failure_reason) and logs it once per change."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to restore the pool connection floor")


logging.getLogger("asyncpg.pool").addFilter(_QuietPoolFloor())

# The registry: sub-collector name -> class. "availability" always runs, first and alone (it is
# pg_up); "custom" runs when the database has queries; the others as ``collectors`` lists.
COLLECTORS: dict[str, type[SubCollector]] = {
    "availability": Availability,
    "activity": Activity,
    "database": DatabaseStats,
    "tables": Tables,
    "replication": Replication,
    "statements": Statements,
    "custom": Custom,
}

APPLICATION_NAME = "redline"
# Direct connections only: room for every built-in query and a few dozen custom ones.
STATEMENT_CACHE = 64
BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
# Kept free before the scrape deadline to cancel what is still running and assemble the answer.
DEADLINE_MARGIN = 0.05
# Prisma's DATABASE_URL parameters (and libpq's connect_timeout): asyncpg would send unknown
# ones to the server as settings, which the server or pgbouncer refuses.
_DROPPED_PARAMS = frozenset(
    {
        "connection_limit",
        "pool_timeout",
        "socket_timeout",
        "statement_cache_size",
        "schema",
        "sslaccept",
        "sslidentity",
        "connect_timeout",
    }
)


# --- the DSN ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectParams:
    dsn: str  # as asyncpg gets it: Prisma's parameters removed
    password: str | None  # the configured password, overriding the DSN's
    transaction_pooler: bool
    target: str  # user@host:port/dbname, for messages (no password)


def connect_params(db: Database, secrets: SecretSource) -> ConnectParams:
    """Resolve and check the DSN. Every secret is given to the Redactor before anything else
    can fail; errors never quote the DSN."""
    try:
        raw = secrets.resolve(db.dsn if db.dsn is not None else db.dsn_file)
        password = None
        if db.password is not None or db.password_file is not None:
            password = secrets.resolve(db.password if db.password is not None else db.password_file)
    except MissingSecret as e:
        raise Down("secret", str(e)) from None
    try:
        split = urllib.parse.urlsplit(raw.strip())
        dsn_password = split.password
    except ValueError:
        raise Down("dsn", "the DSN is not a valid URL") from None
    if dsn_password:
        # the URL form may be percent-encoded; an error could show either form
        secrets.redactor.add(dsn_password)
        secrets.redactor.add(urllib.parse.unquote(dsn_password))
    if split.scheme not in ("postgres", "postgresql"):
        raise Down("dsn", "the DSN must start with postgresql:// (or postgres://)")
    try:
        params = urllib.parse.parse_qsl(split.query, keep_blank_values=True, strict_parsing=False)
    except ValueError:
        raise Down("dsn", "the DSN's query string cannot be parsed") from None
    pooler = db.transaction_pooler
    kept: list[tuple[str, str]] = []
    for key, value in params:
        if key == "pgbouncer":
            # Prisma's flag for a transaction-mode pooler: it means exactly that here too
            pooler = pooler or value.lower() in ("true", "1", "yes", "on")
        elif key not in _DROPPED_PARAMS:
            kept.append((key, value))
    dsn = urllib.parse.urlunsplit(split._replace(query=urllib.parse.urlencode(kept)))
    user = urllib.parse.unquote(split.username or "")
    hostspec = split.netloc.rpartition("@")[2]
    target = f"{user}@{hostspec}{split.path}" if user else f"{hostspec}{split.path}"
    return ConnectParams(dsn, password, pooler, target)


def server_settings(db: Database, transaction_pooler: bool) -> dict[str, str]:
    """Startup parameters. Through a transaction-mode pooler only application_name (which
    pgbouncer tracks per client); settings there are made per transaction instead."""
    settings = {"application_name": APPLICATION_NAME}
    if not transaction_pooler:
        settings["default_transaction_read_only"] = "on"
        settings["statement_timeout"] = str(max(1, int(db.server_timeout * 1000)))
        settings["lock_timeout"] = str(lock_timeout_ms(db.timeout))
    return settings


async def _keep_session(conn: Any) -> None:
    """Pool reset: nothing. asyncpg still rolls back a transaction left open; its default reset
    (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) would be four statements per query for
    session state redline never changes."""
    return None


async def _server_version(pool: Any, timeout: float) -> int:
    """The server's version as server_version_num, read from a pooled connection's startup
    parameters (asyncpg parses server_version; a pooler passes the server's on)."""
    try:
        async with pool.acquire(timeout=timeout) as conn:
            v = conn.get_server_version()
    except Exception:
        return 0  # the next scrape's failure will say why; 0 means "assume the newest"
    return int(v.major) * 10000 + int(v.minor) if v.major >= 10 else int(v.major) * 10000


# --- the pool ---------------------------------------------------------------------------------


class Connector:
    """Creates the pool of one database lazily, shares one attempt between concurrent scrapes,
    and backs off after failures. Once the pool exists, asyncpg replaces broken connections by
    itself when they are next acquired (after a restart, for instance)."""

    def __init__(self, db: Database, secrets: SecretSource) -> None:
        self.db = db
        self.secrets = secrets
        self.pool: Any = None  # asyncpg.Pool
        self.params: ConnectParams | None = None
        self.error: Down | None = None
        self._attempt: asyncio.Task[None] | None = None
        self._next_try = 0.0
        self._backoff = BACKOFF_START
        self._closed = False
        # server_version_num (e.g. 150008), for the SQL that differs between releases: from the
        # server's startup message, so no query is needed (0 until known: the newest SQL)
        self.version = 0

    @property
    def transaction_pooler(self) -> bool:
        return self.params.transaction_pooler if self.params else self.db.transaction_pooler

    def start(self) -> None:
        """Begin connecting in the background (start-up never waits for the database)."""
        if self.pool is None and self._attempt is None:
            self._attempt = asyncio.get_running_loop().create_task(self._connect())

    async def get(self, deadline: float) -> Any:
        if self.pool is not None:
            return self.pool
        loop = asyncio.get_running_loop()
        if self._attempt is None:
            if self.error is not None and loop.time() < self._next_try:
                raise self.error
            self._attempt = loop.create_task(self._connect())
        attempt = self._attempt
        try:
            # shielded: the next scrape can use a connection this one had no time to wait for
            await asyncio.wait_for(asyncio.shield(attempt), max(0.0, deadline - loop.time()))
        except TimeoutError:
            raise Down("timeout", "connecting took longer than the scrape's deadline") from None
        if self.pool is None:
            raise self.error or Down("internal", "no pool after connecting")
        return self.pool

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            params = connect_params(self.db, self.secrets)
            self.params = params
            pool = await asyncpg.create_pool(
                dsn=params.dsn,
                password=params.password,
                min_size=self.db.pool.min_size,
                max_size=self.db.pool.max_size,
                timeout=self.db.connect_timeout,
                statement_cache_size=0 if params.transaction_pooler else STATEMENT_CACHE,
                server_settings=server_settings(self.db, params.transaction_pooler),
                reset=_keep_session,
                command_timeout=None,
            )
        except Down as e:
            self._failed(e, loop.time())
        except Exception as e:
            self._failed(Down(classify(e), self._hint(describe(e))), loop.time())
        else:
            if self._closed:
                pool.terminate()
                return
            self.pool, self.error, self._backoff = pool, None, BACKOFF_START
            self.version = await _server_version(pool, self.db.connect_timeout)
        finally:
            self._attempt = None

    def _hint(self, message: str) -> str:
        if "unsupported startup parameter" in message:
            message += " (a pooler in transaction mode: set transaction_pooler: true)"
        target = self.params.target if self.params else "the database"
        return f"connecting to {target}: {message}"

    def _failed(self, error: Down, now: float) -> None:
        self.error = error
        self._next_try = now + self._backoff
        self._backoff = min(BACKOFF_MAX, self._backoff * 2)

    async def close(self) -> None:
        self._closed = True
        if self._attempt is not None:
            self._attempt.cancel()
            with contextlib.suppress(BaseException):
                await self._attempt
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:
                await asyncio.wait_for(pool.close(), 2.0)
            except Exception:
                pool.terminate()


# --- one database -----------------------------------------------------------------------------


@dataclass
class _Outcome:
    name: str
    success: bool
    duration: float
    families: Families
    error: BaseException | None = None
    problems: dict[str, str | None] | None = None


class DatabaseMonitor:
    """Everything about one configured database: its connector and sub-collectors."""

    def __init__(self, db: Database, secrets: SecretSource, redactor: Redactor) -> None:
        self.db = db
        self.redactor = redactor
        self.connector = Connector(db, secrets)
        self.collectors = self._make_collectors(db)
        self._logged: dict[str, str] = {}  # last message logged per topic
        self.healthy = False  # the last scrape's canary succeeded
        self._stragglers: set[asyncio.Task[_Outcome]] = set()

    @staticmethod
    def _make_collectors(db: Database) -> list[SubCollector]:
        names = ["availability", *db.collectors, *(["custom"] if db.queries else [])]
        return [COLLECTORS[name](db) for name in names]

    def start(self) -> None:
        self.connector.start()

    def can_adopt(self, db: Database) -> bool:
        """True when ``db`` differs from the current config only in what the pool does not
        depend on (sub-collectors, custom queries with the same longest timeout, ...) and its
        secrets still resolve to what the pool was opened with."""
        keys = ("dsn", "dsn_file", "password", "password_file", "transaction_pooler", "pool")
        if any(getattr(db, k) != getattr(self.db, k) for k in keys):
            return False
        # the session's statement_timeout and lock_timeout come from these
        if (db.connect_timeout, db.server_timeout, lock_timeout_ms(db.timeout)) != (
            self.db.connect_timeout,
            self.db.server_timeout,
            lock_timeout_ms(self.db.timeout),
        ):
            return False
        if self.connector.params is None:
            return False
        try:
            return connect_params(db, self.connector.secrets) == self.connector.params
        except Down:
            return False

    def adopt(self, db: Database) -> None:
        self.db = db
        self.connector.db = db
        self.collectors = self._make_collectors(db)

    async def collect(self, deadline: float) -> Families:
        loop = asyncio.get_running_loop()
        end = deadline - DEADLINE_MARGIN
        outcomes: dict[str, _Outcome] = {}
        down: Down | None = None
        try:
            pool = await self.connector.get(end)
        except Down as e:
            down, pool = e, None
        gated = pool is not None and not self.healthy
        if gated:
            # the last scrape found the database down: try the canary alone first, so a
            # database that is still down is asked once, not once per area
            canary = await self._run(self.collectors[0], pool, end, outcomes)
            if not canary.success:
                error = canary.error or Down("internal", "the canary failed")
                down = Down(classify(error), describe(error))
        if down is None:
            # every area at once (the canary too, unless it just ran): as many run at a time
            # as the pool has connections, the rest wait for one
            started = time.perf_counter()
            tasks = [
                loop.create_task(self._run(c, pool, end, outcomes))
                for c in self.collectors[1 if gated else 0 :]
            ]
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=max(0.0, end - loop.time()))
                for task in pending:
                    task.cancel()
                if pending:
                    # give cancelled queries a moment; what is still busy finishes on its own
                    # and holds its connection until then, so the pool limit still holds
                    _, late = await asyncio.wait(pending, timeout=DEADLINE_MARGIN / 2)
                    for task in late:
                        self._stragglers.add(task)
                        task.add_done_callback(self._stragglers.discard)
            late_error = TimeoutError()
            for collector in self.collectors:
                if collector.name not in outcomes:  # cut by the deadline
                    outcomes[collector.name] = _Outcome(
                        collector.name, False, time.perf_counter() - started, Families(), late_error
                    )
            canary = outcomes["availability"]
            if not canary.success:
                error = canary.error or Down("internal", "the canary failed")
                down = Down(classify(error), describe(error))
        self.healthy = down is None
        return self._families(outcomes, down)

    def _families(self, outcomes: dict[str, _Outcome], down: Down | None) -> Families:
        out = Families()
        base = {"database": self.db.name}
        out.add(m.PG_UP, base, 0.0 if down else 1.0)
        reason = down.reason if down else None
        for r in REASONS:
            out.add(m.PG_FAILURE_REASON, {**base, "reason": r}, 1.0 if r == reason else 0.0)
        pool = self.connector.pool
        out.add(m.PG_POOL_CONNECTIONS, base, pool.get_size() if pool is not None else 0)
        self._note("connection", f"down ({down.reason}): {down.message}" if down else None)
        for collector in self.collectors:  # in registry order, so the output is stable
            outcome = outcomes.get(collector.name) or _Outcome(
                collector.name, False, 0.0, Families()
            )
            labels = {**base, "collector": outcome.name}
            out.add(m.PG_COLLECTOR_SUCCESS, labels, 1.0 if outcome.success else 0.0)
            out.add(m.PG_COLLECTOR_DURATION, labels, outcome.duration)
            out.merge(outcome.families)
            if down is None:  # when down, the connection note says it all
                self._note_outcome(outcome)
        return out

    async def _run(
        self, collector: SubCollector, pool: Any, end: float, outcomes: dict[str, _Outcome]
    ) -> _Outcome:
        """The wrapper every sub-collector runs in: timing, success, error capture."""
        ctx = Context(
            self.db,
            pool,
            end,
            self.connector.version,
            self.connector.transaction_pooler,
            self.redactor,
        )
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            await collector.collect(ctx)
        except Exception as e:
            error = e
        duration = time.perf_counter() - start
        success = error is None and not ctx.failed
        # a sub-collector that raised may have added half its samples: drop them all
        families = ctx.families if error is None else Families()
        outcome = _Outcome(collector.name, success, duration, families, error, ctx.problems)
        outcomes[collector.name] = outcome
        return outcome

    def _note_outcome(self, outcome: _Outcome) -> None:
        topic = f"collector {outcome.name}"
        if outcome.error is not None:
            reason = area_reason(outcome.error)
            self._note(topic, f"failed ({reason}): {describe(outcome.error)}")
        else:
            self._note(topic, None)
        for key, message in (outcome.problems or {}).items():
            self._note(key, message)

    def _note(self, topic: str, message: str | None) -> None:
        """Log a problem when it appears or changes, and once when it is gone: a database that
        stays down is one log line, not one per scrape."""
        last = self._logged.get(topic)
        if message is None:
            if last is not None:
                del self._logged[topic]
                log.info("database %s: %s recovered", self.db.name, topic)
            return
        text = self.redactor.redact(message)
        if text != last:
            self._logged[topic] = text
            log.warning("database %s: %s %s", self.db.name, topic, text)

    async def close(self) -> None:
        for task in list(self._stragglers):
            task.cancel()
        if self._stragglers:
            await asyncio.wait(list(self._stragglers), timeout=2.0)
        await self.connector.close()


# --- the source -------------------------------------------------------------------------------


class PostgresSource(Source):
    name = "postgres"

    def __init__(self, config: Config, redactor: Redactor) -> None:
        super().__init__(config, redactor)
        self.secrets = SecretSource(redactor)
        self.monitors: dict[str, DatabaseMonitor] = {
            db.name: DatabaseMonitor(db, self.secrets, redactor) for db in config.databases
        }

    async def start(self) -> None:
        for monitor in self.monitors.values():
            monitor.start()

    async def reload(self, config: Config) -> None:
        self.config = config
        old = dict(self.monitors)
        new: dict[str, DatabaseMonitor] = {}
        for db in config.databases:
            monitor = old.pop(db.name, None)
            if monitor is not None and monitor.can_adopt(db):
                monitor.adopt(db)  # the pool stays open
            else:
                if monitor is not None:
                    await monitor.close()
                monitor = DatabaseMonitor(db, self.secrets, self.redactor)
                monitor.start()
            new[db.name] = monitor
        self.monitors = new
        for monitor in old.values():
            await monitor.close()

    async def collect(self, deadline: float) -> list[Family]:
        monitors = list(self.monitors.values())
        if not monitors:
            return []
        results = await asyncio.gather(*(mon.collect(deadline) for mon in monitors))
        out = Families()
        for families in results:
            out.merge(families)
        return list(out)

    async def close(self) -> None:
        monitors, self.monitors = list(self.monitors.values()), {}
        await asyncio.gather(*(mon.close() for mon in monitors))
