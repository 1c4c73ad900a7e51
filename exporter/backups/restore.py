"""The restore test: prove the newest backup of a set restores, how long it takes (the measured
RTO) and that the data is whole (docs/backups.md, "Restore tests").

One run:

1. **inspect**: take the set's newest file; tell its format from its first bytes (custom
   ``PGDMP``, gzipped plain SQL, plain SQL); read a custom archive's table of contents with
   ``pg_restore --list`` (a damaged header or a dump of another database stops here); read the
   row counts the backup job recorded next to it (``FILE.counts.json``), if any;
2. **create**: connect to the scratch server and ``CREATE DATABASE redline_restore_<set>_<time>``
   (refused when that server's database is the source: the restore never goes near it);
3. **restore**: the real ``pg_restore`` (custom format, ``--single-transaction
   --exit-on-error --no-owner --no-privileges``) or ``psql`` (plain, fed through a filter that
   refuses anything a pg_dump does not write: ``\\connect``, ``\\!``, ...), with a bounded address
   space, ``maintenance_work_mem`` and statement timeout, killed at the run's time limit;
4. **checks**: the configured checks (exporter/backups/restore_checks.py);
5. **drop**: ``DROP DATABASE ... WITH (FORCE)``, always: after a failure, a timeout or a
   cancellation too. Its name is recorded in the state file before it is created, so a
   process killed mid-run leaves a name the next run drops.

Secrets: the scratch server's password goes to the tools in ``PGPASSWORD`` (never on a command
line), every resolved secret is given to the redactor, and every message recorded or reported
passes through it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import logging
import os
import re
import resource
import secrets as _secrets
import signal
import tempfile
import time
import urllib.parse
import zlib
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from exporter.backups import files, verify
from exporter.backups.config import SCRATCH_PREFIX, FileBackup, RestoreTest, ScratchServer
from exporter.backups.restore_checks import read_sidecar, run_checks
from exporter.backups.restore_state import (
    Busy,
    CheckRecord,
    RunRecord,
    StateError,
    StateFile,
    TestState,
    write_report,
)
from exporter.postgres.config import Database
from exporter.postgres.source import Down, connect_params
from exporter.secrets import Redactor, SecretSource

log = logging.getLogger("redline.backups.restore")

# Why a restore test failed: a closed set, as these are label values.
REASONS: tuple[str, ...] = (
    "no_backup",  # the set has no file to restore (missing directory, empty)
    "secret",  # a DSN's variable or file is missing
    "dsn",  # the scratch server's DSN cannot be parsed
    "refused",  # unsafe: the scratch target is the source, or the dump would leave it
    "connect",  # the scratch server refuses connections, or the login
    "create",  # CREATE DATABASE refused (no CREATEDB, no such tablespace, ...)
    "disk_full",  # the scratch server ran out of disk
    "corrupt",  # the dump cannot be read: truncated, damaged, not a dump, too new
    "wrong_database",  # the dump is of another database than checks.database
    "restore",  # the dump's SQL failed on the scratch database
    "timeout",  # the run took longer than its timeout: cancelled and cleaned up
    "check_failed",  # a check found wrong or missing data
    "check_error",  # a check could not run (its SQL fails)
    "tool_missing",  # pg_restore or psql is not installed
    "internal",  # a bug in redline; logged
)

APPLICATION_NAME = "redline-restore-test"
DROP_TIMEOUT = 60.0  # the DROP DATABASE after the run, which the run's timeout does not cut
CHUNK = 1 << 20  # plain dumps are fed to psql 1 MiB at a time
STDERR_KEEP = 16 * 1024  # the tail of a tool's error output kept for the message
# Archive entries a non-superuser cannot restore, left out (and listed in the report):
# extensions are installed by the server's administrator, and not data.
SKIPPED_ENTRY = re.compile(r"^\d+; \d+ \d+ (EXTENSION - |COMMENT - EXTENSION )(\S+)")
DUMP_COMPLETE = verify.DUMP_COMPLETE


class Failed(Exception):
    """The run stops: ``reason`` is one of :data:`REASONS`; the message is for operators."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# --- where: the scratch server and the source ------------------------------------------------


@dataclass(frozen=True)
class Server:
    dsn: str  # for asyncpg (may hold the password)
    password: str | None  # the configured password, overriding the DSN's
    libpq_url: str  # the same URL without any password, for pg_restore / psql
    libpq_password: str | None  # to the tools through PGPASSWORD
    key: tuple[str, int, str]  # (host, port, database), to compare with the source
    label: str  # user@host:port, for messages and reports

    def url_for(self, database: str) -> str:
        split = urllib.parse.urlsplit(self.libpq_url)
        return urllib.parse.urlunsplit(split._replace(path="/" + urllib.parse.quote(database)))


def _as_database(name: str, server: ScratchServer) -> Database:
    """The scratch server as a ``databases:`` entry, to resolve its DSN the way the Postgres
    source does (secrets, Prisma's parameters, the redactor)."""
    return Database.model_validate(
        {
            "name": name,
            "dsn": server.dsn,
            "dsn_file": server.dsn_file.path if server.dsn_file else None,
            "password": server.password,
            "password_file": server.password_file.path if server.password_file else None,
            "connect_timeout": server.connect_timeout,
        }
    )


def _key(dsn: str) -> tuple[str, int, str]:
    """(host, port, database) of a DSN, with libpq's defaults; ``host``/``port`` query
    parameters (a unix socket directory) count as the host."""
    split = urllib.parse.urlsplit(dsn)
    query = dict(urllib.parse.parse_qsl(split.query))
    host = (query.get("host") or split.hostname or "localhost").lower()
    try:
        port = int(query.get("port") or split.port or 5432)
    except ValueError:
        port = 5432
    database = urllib.parse.unquote(split.path.lstrip("/")) or urllib.parse.unquote(
        split.username or ""
    )
    return (host, port, database)


def resolve_server(test: RestoreTest, secrets: SecretSource) -> Server:
    try:
        params = connect_params(_as_database(f"restore-{test.backup}", test.server), secrets)
    except Down as e:
        raise Failed("secret" if e.reason == "secret" else "dsn", f"scratch server: {e}") from None
    split = urllib.parse.urlsplit(params.dsn)
    dsn_password = urllib.parse.unquote(split.password) if split.password else None
    netloc = split.netloc.rpartition("@")[2]
    user = split.username
    if user:
        netloc = f"{user}@{netloc}"
    libpq = urllib.parse.urlunsplit(split._replace(netloc=netloc))
    host, port, database = _key(params.dsn)
    label = f"{urllib.parse.unquote(user or '')}@{host}:{port}"
    return Server(
        params.dsn,
        params.password,
        libpq,
        params.password or dsn_password,
        (host, port, database),
        label,
    )


def refuse_source(
    test: RestoreTest, server: Server, databases: tuple[Database, ...], secrets: SecretSource
) -> str:
    """Raise :class:`Failed` (reason ``refused``) when the scratch server's database is the
    source's; a note for the report when they share a server (allowed: another database)."""
    if test.source is None:
        return ""
    source = next((d for d in databases if d.name == test.source), None)
    if source is None:
        raise Failed("refused", f"source {test.source!r} is not a configured database")
    try:
        params = connect_params(source, secrets)
    except Down as e:
        raise Failed(
            "secret" if e.reason == "secret" else "refused",
            f"cannot tell whether the scratch server is the source ({test.source}): {e}",
        ) from None
    host, port, database = _key(params.dsn)
    if (host, port) == server.key[:2] and database == server.key[2]:
        raise Failed(
            "refused",
            f"the scratch server's DSN is the source database {database!r} on {host}:{port} "
            f"(databases entry {test.source!r}): a restore test never connects to the source; "
            "point server.dsn at another server or database",
        )
    if (host, port) == server.key[:2]:
        return f"the scratch database is on the source's server ({host}:{port}), not in it"
    return ""


def scratch_name(backup: str, now: float) -> str:
    """redline_restore_<set>_<UTC time>_<random>: unique, at most 63 bytes (Postgres's limit)."""
    stem = re.sub(r"[^a-z0-9_]", "_", backup.lower())[:24]
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
    return f"{SCRATCH_PREFIX}{stem}_{stamp}_{_secrets.token_hex(3)}"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --- inspect -----------------------------------------------------------------------------------


def dump_format(path: str) -> str:
    """custom | plain.gz | plain; Failed for the formats a restore test does not take."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        raise Failed("corrupt", f"{path} cannot be read: {e.strerror}") from None
    if not head:
        raise Failed("corrupt", f"{path} is empty")
    if head.startswith(b"PGDMP"):
        return "custom"
    if head.startswith(verify.GZIP_MAGIC):
        return "plain.gz"
    if len(head) > 262 and head[257:262] == b"ustar":
        raise Failed(
            "corrupt", f"{path} is a tar-format dump: restore tests take custom or plain dumps"
        )
    if b"\x00" in head:
        raise Failed("corrupt", f"{path} is not a pg_dump custom or plain-format dump")
    return "plain"


async def _tool(
    argv: list[str], env: dict[str, str], max_memory: int, stdin: Any = None
) -> asyncio.subprocess.Process:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL if argv[-1] != "--list" else asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            # its own group (a new session: setsid), so a timeout kills it and anything it
            # started. Not process_group=0: uvloop, the loop redline runs on, refuses it.
            start_new_session=True,
        )
    except OSError as e:
        raise Failed("tool_missing", f"{argv[0]} cannot be run: {e.strerror}") from None
    with contextlib.suppress(OSError):
        # bounded memory: the tool's address space (set from outside: no preexec_fn, which is
        # unsafe in a process with threads)
        resource.prlimit(proc.pid, resource.RLIMIT_AS, (max_memory, max_memory))
    return proc


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.shield(proc.wait())


def _tool_env(server: Server, test: RestoreTest) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANGUAGE="C", PGAPPNAME=APPLICATION_NAME, PGCONNECT_TIMEOUT="10")
    if server.libpq_password:
        env["PGPASSWORD"] = server.libpq_password
    # the server memory of the restore session (index builds). No statement_timeout: every
    # dump sets it to 0 first; the run's limit is enforced by killing the tool and dropping the
    # database WITH (FORCE), which ends its session on the server too.
    env["PGOPTIONS"] = f"-c maintenance_work_mem={max(1024, test.maintenance_work_mem // 1024)}kB"
    return env


async def inspect_custom(
    path: str, pg_restore: str, env: dict[str, str], max_memory: int
) -> tuple[str | None, list[str], list[str]]:
    """(the database the archive names, its TOC lines to restore, the entries left out)."""
    proc = await _tool([pg_restore, path, "--list"], env, max_memory)
    try:
        out, err = await proc.communicate()
    finally:
        await _kill(proc)
    if proc.returncode != 0:
        _, message = verify.classify_pg_restore(err.decode("utf-8", "replace"))
        raise Failed("corrupt", f"{path}: pg_restore --list: {message}")
    text = out.decode("utf-8", "replace")
    dbname = None
    keep: list[str] = []
    skipped: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^;\s+dbname:\s*(.*)$", line)
        if match:
            dbname = match.group(1).strip()
        entry = SKIPPED_ENTRY.match(line)
        if entry:
            if entry.group(1) == "EXTENSION - ":
                skipped.append(f"extension {entry.group(2)}")
            continue
        keep.append(line)
    return dbname, keep, skipped


# --- restore: plain dumps through psql ---------------------------------------------------------

_META_OK = (b"\\restrict ", b"\\unrestrict ")  # pg_dump's own guards (since August 2025)
_SKIP_LINE = re.compile(
    rb"^(CREATE EXTENSION |COMMENT ON EXTENSION |GRANT |REVOKE |ALTER DEFAULT PRIVILEGES )"
    rb"|^ALTER .* OWNER TO \S+;\s*$"
)
_COPY = re.compile(rb"^COPY .* FROM stdin;\s*$")
_LONG = 1 << 20


class PlainFilter:
    """Lets through what pg_dump writes and nothing else: a psql meta-command other than
    pg_dump's own (``\\connect`` of a ``--create`` dump, ``\\!`` a shell command) or a
    ``CREATE DATABASE`` stops the restore (reason ``refused``); ownership, privileges and
    extensions (which need roles or a superuser the scratch server does not have) are left out,
    as ``pg_restore --no-owner --no-privileges`` does. Streams: memory is bounded by the chunk
    and one line of at most 1 MiB (longer data lines pass through unread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.buf = b""
        self.line_no = 0
        self.in_copy = False
        self.continuing = False  # inside a line longer than _LONG, its start already checked
        self.skipped: set[str] = set()
        self.complete = False  # pg_dump's closing line was seen
        self.extensions: list[str] = []

    def feed(self, data: bytes) -> bytes:
        self.buf += data
        out = []
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                if len(self.buf) > _LONG:
                    out.append(self._line(self.buf, complete=False))
                    self.buf = b""
                break
            line, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
            out.append(self._line(line, complete=True))
        return b"".join(out)

    def end(self) -> bytes:
        rest = self._line(self.buf, complete=True) if self.buf else b""
        self.buf = b""
        return rest

    def _line(self, line: bytes, complete: bool) -> bytes:
        if self.continuing:
            self.continuing = not complete
            return line
        if complete:
            self.line_no += 1
        else:
            self.continuing = True
        if self.in_copy:
            if line.rstrip(b"\r\n") == b"\\.":
                self.in_copy = False
            return line
        if line.startswith(DUMP_COMPLETE):
            self.complete = True
        if line.startswith(b"\\"):
            if line.startswith(_META_OK):
                return line
            command = line.split(None, 1)[0].decode("utf-8", "replace")[:20]
            if command in ("\\connect", "\\c"):
                raise Failed(
                    "refused",
                    f"{self.path} line {self.line_no}: the dump switches database ({command}): "
                    "it was made with pg_dump --create and would restore into its source "
                    "database, not the scratch database",
                )
            raise Failed(
                "refused",
                f"{self.path} line {self.line_no}: psql meta-command {command} is not part of "
                "a pg_dump; refusing to run it",
            )
        if line.startswith(b"CREATE DATABASE "):
            raise Failed(
                "refused",
                f"{self.path} line {self.line_no}: CREATE DATABASE: a dump made with --create "
                "would restore beside the scratch database, not into it",
            )
        if _COPY.match(line):
            self.in_copy = True
            return line
        if _SKIP_LINE.match(line):
            if line.startswith(b"CREATE EXTENSION "):
                name = line.split()[-1].rstrip(b";").decode("utf-8", "replace")
                words = line.split()
                if b"EXISTS" in words:
                    name = words[words.index(b"EXISTS") + 1].decode("utf-8", "replace")
                self.extensions.append(f"extension {name}")
            return b"\n" if complete else b""
        return line


def _chunks(path: str, gzipped: bool) -> Generator[bytes, None, None]:
    """The dump's (decompressed) bytes, ``CHUNK`` at a time; Failed on a damaged gzip."""
    try:
        opener: Callable[..., Any] = gzip.open if gzipped else open
        with opener(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise Failed("corrupt", f"{path}: damaged or truncated gzip data ({e})") from None
    except OSError as e:
        raise Failed("corrupt", f"{path} cannot be read: {e.strerror}") from None


async def _drain_stderr(proc: asyncio.subprocess.Process, keep: bytearray) -> None:
    assert proc.stderr is not None
    while chunk := await proc.stderr.read(65536):
        keep += chunk
        if len(keep) > STDERR_KEEP:
            del keep[: len(keep) - STDERR_KEEP]


def classify_restore(tool: str, stderr: str) -> Failed:
    """The failure of a pg_restore or psql run from its error output (LC_ALL=C)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line.lower()]
    message = (errors or lines or ["exited with an error"])[0]
    message = message.removeprefix(f"{tool}: ").removeprefix("error: ")
    text = stderr.lower()
    if "no space left on device" in text or "could not extend file" in text:
        return Failed("disk_full", f"the scratch server ran out of disk: {message}")
    # pg_restore says "could not execute query" for SQL that failed; anything else is the
    # archive itself (truncated, damaged): the dump is corrupt
    if tool == "pg_restore" and "could not execute query" not in text:
        return Failed("corrupt", f"pg_restore: {message}")
    return Failed("restore", f"{tool}: {message}")


# --- the run -----------------------------------------------------------------------------------


class RestoreTester:
    """Runs restore tests of one configuration and records them in its state file."""

    def __init__(
        self,
        backups: tuple[FileBackup, ...],
        tests: tuple[RestoreTest, ...],
        state: StateFile,
        report_dir: str | None,
        keep_reports: int,
        databases: tuple[Database, ...],
        redactor: Redactor,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backups = {b.name: b for b in backups}
        self.tests = {t.backup: t for t in tests}
        self.state = state
        self.report_dir = report_dir
        self.keep_reports = keep_reports
        self.databases = databases
        self.redactor = redactor
        self.secrets = SecretSource(redactor)
        self.clock = clock

    async def run(self, backup: str) -> RunRecord:
        """One run of ``backup``'s test, recorded and reported. Raises :class:`Busy` when a run
        of that set is already going on (in this process or another)."""
        test = self.tests[backup]
        with self.state.run_lock(backup):
            run = RunRecord(backup=backup, started_at=self.clock())
            state = await asyncio.to_thread(self._load, backup)
            cancelled = False
            try:
                await self._run(test, run, state)
            except Failed as e:
                run.success, run.reason, run.message = False, e.reason, e.message
            except asyncio.CancelledError:
                # the exporter is stopping (or the test was reconfigured): the scratch database
                # is dropped, and no verdict is recorded, as the backup was not judged
                cancelled = True
                raise
            except Exception as e:
                log.exception("restore test %s: internal error", backup)
                run.success, run.reason = False, "internal"
                run.message = f"internal error: {type(e).__name__}: {e}"
            else:
                run.success = True
            finally:
                if run.scratch is None:
                    run.dropped = True  # none was created: none is left
                run.message = self.redactor.redact(run.message)
                for check in run.checks:
                    check.detail = self.redactor.redact(check.detail)
                run.finished_at = self.clock()
                record = asyncio.ensure_future(asyncio.to_thread(self._record, run, cancelled))
                await _finish(record)
        return run

    def _load(self, backup: str) -> TestState:
        try:
            return self.state.load().get(backup) or TestState()
        except StateError as e:
            log.error("restore test %s: %s", backup, e)
            return TestState()

    def _record(self, run: RunRecord, cancelled: bool = False) -> None:
        if cancelled:
            log.info("restore test %s: cancelled", run.backup)
            if run.scratch is not None and run.dropped:
                self.state.update(run.backup, lambda s: _forget(s, run.scratch))
            return
        if self.report_dir is not None:
            try:
                run.report = write_report(self.report_dir, run, self.keep_reports)
            except OSError as e:
                log.error("restore test %s: report not written: %s", run.backup, e.strerror)

        def change(state: TestState) -> None:
            state.last = run
            if run.success:
                state.last_success_at = run.finished_at
                state.success_counts = dict(run.counts)
            if run.dropped:
                _forget(state, run.scratch)

        try:
            self.state.update(run.backup, change)
        except StateError as e:
            log.error("restore test %s: outcome not recorded: %s", run.backup, e)
        level = logging.INFO if run.success else logging.WARNING
        log.log(
            level,
            "restore test %s: %s in %.1fs (RTO %.1fs)%s",
            run.backup,
            "ok" if run.success else f"failed ({run.reason})",
            run.finished_at - run.started_at,
            run.rto,
            "" if run.success else f": {run.message}",
        )

    async def _run(self, test: RestoreTest, run: RunRecord, state: TestState) -> None:
        backup_cfg = self.backups[test.backup]
        server = resolve_server(test, self.secrets)
        run.server = server.label
        note = refuse_source(test, server, self.databases, self.secrets)
        if note:
            run.checks.append(_note("scratch_server", note))
        conn: Any = None
        try:
            async with asyncio.timeout(test.timeout):
                newest = await self._phase(run, "inspect", self._newest(backup_cfg))
                run.file, run.size, run.file_mtime = newest.path, newest.size, newest.mtime
                sidecar, sidecar_note = await asyncio.to_thread(read_sidecar, newest.path)
                if sidecar_note:
                    run.checks.append(_note("counts_sidecar", sidecar_note))
                started = time.perf_counter()
                toc = await self._inspect(test, run, server)
                run.phases["inspect"] += time.perf_counter() - started
                started = time.perf_counter()
                conn = await self._connect(server, test)
                await self._drop_leftovers(conn, test.backup, state)
                await self._create(conn, test, run)
                run.phases["create"] = time.perf_counter() - started
                started = time.perf_counter()
                try:
                    await self._restore(test, run, server, toc)
                finally:
                    run.phases["restore"] = time.perf_counter() - started
                started = time.perf_counter()
                try:
                    await self._checks(test, run, server, sidecar, state.success_counts)
                finally:
                    run.phases["checks"] = time.perf_counter() - started
        except TimeoutError:
            raise Failed(
                "timeout",
                f"the restore test took longer than its timeout ({test.timeout:g}s): "
                "cancelled, scratch database dropped",
            ) from None
        finally:
            await _finish(asyncio.ensure_future(self._cleanup(conn, server, test, run)))

    async def _phase(self, run: RunRecord, name: str, work: Any) -> Any:
        started = time.perf_counter()
        try:
            return await work
        finally:
            run.phases[name] = run.phases.get(name, 0.0) + time.perf_counter() - started

    async def _newest(self, cfg: FileBackup) -> files.FileInfo:
        scan = await asyncio.to_thread(files.scan, cfg)
        if scan.error is not None:
            raise Failed("no_backup", scan.message)
        if scan.newest is None:
            raise Failed("no_backup", f"no file matches {cfg.glob} in {cfg.directory}")
        return scan.newest

    async def _inspect(self, test: RestoreTest, run: RunRecord, server: Server) -> list[str] | None:
        """The TOC lines to restore (custom format), None for a plain dump."""
        assert run.file is not None
        run.format = await asyncio.to_thread(dump_format, run.file)
        wanted = test.checks.database
        if run.format != "custom":
            return None
        pg_restore = verify.find_tool("pg_restore")
        if pg_restore is None:
            raise Failed("tool_missing", "pg_restore is not installed")
        env = _tool_env(server, test)
        dbname, toc, skipped = await inspect_custom(run.file, pg_restore, env, test.max_memory)
        run.dump_database, run.skipped = dbname, skipped
        if wanted is not None:
            if dbname != wanted:
                run.checks.append(
                    _check("database", "failed", f"dump of {dbname!r}, expected {wanted!r}")
                )
                raise Failed(
                    "wrong_database",
                    f"{run.file} is a dump of database {dbname!r}, not {wanted!r}",
                )
            run.checks.append(_check("database", "ok", f"dump of {dbname!r}"))
        return toc

    async def _connect(self, server: Server, test: RestoreTest, database: str | None = None) -> Any:
        try:
            return await asyncpg.connect(
                dsn=server.dsn,
                password=server.password,
                database=database,
                timeout=test.server.connect_timeout,
                statement_cache_size=0,
                server_settings={"application_name": APPLICATION_NAME},
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
            raise Failed(
                "connect", f"cannot connect to the scratch server {server.label}: {_describe(e)}"
            ) from None

    async def _drop_leftovers(self, conn: Any, backup: str, state: TestState) -> None:
        """Drop the scratch databases an earlier run recorded and did not drop (it was killed),
        exactly those: never a database this test did not create."""
        for name in list(state.pending_drop):
            if not name.startswith(SCRATCH_PREFIX):
                continue
            try:
                await conn.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("restore test %s: leftover %s not dropped: %s", backup, name, e)
                continue
            log.info("restore test %s: dropped the leftover scratch database %s", backup, name)

            await asyncio.to_thread(
                self.state.update, backup, functools.partial(_forget, scratch=name)
            )

    async def _create(self, conn: Any, test: RestoreTest, run: RunRecord) -> None:
        name = scratch_name(test.backup, run.started_at)
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            raise Failed("create", f"a database {name} already exists; not touching it")

        def remember(s: TestState) -> None:
            s.pending_drop.append(name)

        # recorded before it exists: a process killed from here on leaves a name to drop
        await asyncio.to_thread(self.state.update, test.backup, remember)
        run.scratch = name
        sql = f"CREATE DATABASE {_ident(name)} TEMPLATE template0"
        if test.server.tablespace:
            sql += f" TABLESPACE {_ident(test.server.tablespace)}"
        try:
            await conn.execute(sql)
        except asyncpg.InsufficientPrivilegeError as e:
            run.dropped = True  # nothing was created
            raise Failed(
                "create",
                f"the scratch server refused CREATE DATABASE: {e} (the role needs CREATEDB)",
            ) from None
        except asyncpg.DiskFullError as e:
            run.dropped = True
            raise Failed("disk_full", f"the scratch server ran out of disk: {e}") from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            run.dropped = True
            if "no space left" in str(e).lower():
                raise Failed("disk_full", f"the scratch server ran out of disk: {e}") from None
            raise Failed("create", f"CREATE DATABASE {name}: {_describe(e)}") from None

    async def _restore(
        self,
        test: RestoreTest,
        run: RunRecord,
        server: Server,
        toc: list[str] | None,
    ) -> None:
        assert run.file is not None and run.scratch is not None
        env = _tool_env(server, test)
        url = server.url_for(run.scratch)
        if toc is not None:
            await self._pg_restore(test, run, url, toc, env)
        else:
            await self._psql(test, run, url, env)

    async def _pg_restore(
        self, test: RestoreTest, run: RunRecord, url: str, toc: list[str], env: dict[str, str]
    ) -> None:
        assert run.file is not None
        pg_restore = verify.find_tool("pg_restore")
        if pg_restore is None:
            raise Failed("tool_missing", "pg_restore is not installed")
        with tempfile.NamedTemporaryFile("w", prefix="redline-toc-", suffix=".list") as listing:
            listing.write("\n".join(toc) + "\n")
            listing.flush()
            argv = [
                pg_restore,
                "--single-transaction",
                "--exit-on-error",
                "--no-owner",
                "--no-privileges",
                f"--use-list={listing.name}",
                f"--dbname={url}",
                run.file,
            ]
            proc = await _tool(argv, env, test.max_memory)
            err = bytearray()
            try:
                await _drain_stderr(proc, err)
                await proc.wait()
            finally:
                await _kill(proc)
        if proc.returncode != 0:
            raise classify_restore("pg_restore", err.decode("utf-8", "replace"))

    async def _psql(self, test: RestoreTest, run: RunRecord, url: str, env: dict[str, str]) -> None:
        assert run.file is not None
        psql = verify.find_tool("psql")
        if psql is None:
            raise Failed("tool_missing", "psql is not installed")
        argv = [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        argv += ["-d", url, "-f", "-"]
        proc = await _tool(argv, env, test.max_memory, stdin=asyncio.subprocess.PIPE)
        assert proc.stdin is not None
        err = bytearray()
        drain = asyncio.create_task(_drain_stderr(proc, err))
        filt = PlainFilter(run.file)
        chunks = _chunks(run.file, run.format == "plain.gz")
        try:
            try:
                while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                    proc.stdin.write(filt.feed(chunk))
                    await proc.stdin.drain()
                proc.stdin.write(filt.end())
                await proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError):
                pass  # psql stopped at an error: its message says which
            else:
                if not filt.complete:
                    # psql would commit what it got: stop it first, so nothing half is kept
                    await _kill(proc)
                    raise Failed(
                        "corrupt",
                        f"{run.file} ends before pg_dump's 'dump complete' line: the dump is "
                        "truncated (or not a plain-format pg_dump)",
                    )
                proc.stdin.close()
            await proc.wait()
            await drain
        finally:
            chunks.close()
            await _kill(proc)
            drain.cancel()
            run.skipped = filt.extensions
        if proc.returncode != 0:
            raise classify_restore("psql", err.decode("utf-8", "replace"))

    async def _checks(
        self,
        test: RestoreTest,
        run: RunRecord,
        server: Server,
        sidecar: dict[str, int] | None,
        previous: dict[str, int],
    ) -> None:
        assert run.scratch is not None
        conn = await self._connect(server, test, run.scratch)
        try:
            result = await run_checks(conn, test.checks, sidecar, previous)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
        run.checks += result.records
        run.counts, run.reference = result.counts, result.reference
        run.newest_row_at = result.newest_row_at
        # wrong data first: a missing table also makes the checks that read it fail to run
        if result.failed:
            first = result.failed[0]
            raise Failed("check_failed", f"check {first.name} failed: {first.detail}")
        if result.errors:
            first = result.errors[0]
            raise Failed("check_error", f"check {first.name} could not run: {first.detail}")

    async def _cleanup(self, conn: Any, server: Server, test: RestoreTest, run: RunRecord) -> None:
        """Drop the scratch database (whatever happened), bounded by DROP_TIMEOUT."""
        started = time.perf_counter()
        try:
            if run.scratch is None or run.dropped:
                run.dropped = True
                return
            async with asyncio.timeout(DROP_TIMEOUT):
                if conn is None or conn.is_closed():
                    conn = await self._connect(server, test)
                await conn.execute(f"DROP DATABASE IF EXISTS {_ident(run.scratch)} WITH (FORCE)")
                run.dropped = True
        except (Failed, asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as e:
            text = e.message if isinstance(e, Failed) else _describe(e)
            log.error(
                "restore test %s: scratch database %s NOT dropped (the next run drops it): %s",
                run.backup,
                run.scratch,
                self.redactor.redact(text),
            )
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 5)
            if run.scratch is not None:
                run.phases["drop"] = time.perf_counter() - started


async def _finish(task: asyncio.Future[Any]) -> None:
    """Await ``task`` to its end even when the caller is cancelled meanwhile (cleanup: dropping
    the scratch database, recording the outcome), then let the cancellation through."""
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def _forget(state: TestState, scratch: str | None) -> None:
    if scratch in state.pending_drop:
        state.pending_drop.remove(scratch)


def _check(name: str, status: str, detail: str) -> CheckRecord:
    return CheckRecord(name, status, detail)


def _note(name: str, detail: str) -> CheckRecord:
    """A remark for the report, not a verdict."""
    return CheckRecord(name, "skipped", detail)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def restore_tester(
    config: Any, redactor: Redactor, clock: Callable[[], float] = time.time
) -> RestoreTester | None:
    """The :class:`RestoreTester` of a loaded configuration (exporter.config.Config), None when
    it declares no restore test."""
    restore = config.backups.restore
    if not restore.tests or restore.state_file is None:
        return None
    return RestoreTester(
        config.backups.files,
        restore.tests,
        StateFile(restore.state_file),
        restore.report_dir,
        restore.keep_reports,
        config.databases,
        redactor,
        clock=clock,
    )


__all__ = ["REASONS", "Busy", "Failed", "RestoreTester", "restore_tester", "scratch_name"]
