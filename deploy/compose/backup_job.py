"""docker-compose.yml's backup job: a real ``pg_dump`` written where, named as, and run when the
exporter's own config expects, pinging the heartbeat that config watches it with.

Nothing about the backup is written here or in docker-compose.yml: the job reads the config the
exporter runs (``--config``, the same ``REDLINE_CONFIG``) with redline's own loader and takes

- the backup set (``backups.files``; ``--set``, or the config's only one): its ``directory``,
  and the file name from its ``glob`` (its one ``*`` replaced by the UTC time, so the name
  matches the glob and none of its ``exclude`` patterns); custom format (``pg_dump -Fc``), which
  the set's ``pg_restore``/``pg_restore_full`` checks read;
- the heartbeat (``heartbeats.jobs``; ``--heartbeat``, or the config's only job with ``backup``
  in its name), its token (the job's or the section's, a ``${VAR}`` or a file), and its
  ``schedule`` (cron, in its ``timezone``) or ``period``: when to run;
- the database: the ``source`` of the set's restore test (``backups.restore.tests``), the
  ``databases`` entry the dump is taken from, as ``--user`` with the password in
  ``--password-file`` (``--database-url`` instead, for another database);
- what to dump: the tables that restore test checks (``checks.tables``; the whole database when
  it names none), and the row counts it compares (``checks.row_counts``), taken in the dump's own
  snapshot and written to ``FILE.counts.json``.

Each run (docs/backups.md, "Wiring a pg_dump backup job"): ``POST /heartbeat/NAME/start``; the
dump into a temporary name the set excludes (``.NAME.tmp``), its ``.sha256`` sidecar and its
counts, then a rename into place, so the exporter never sees half a dump; all but the newest
``--keep`` dumps removed; ``POST /heartbeat/NAME/<exit code>``.

It runs once at start (a new stack has a dump at once, not a BackupNotOk until the first
night), then at every time of the schedule; a ``period`` job twice per period, so one slow run
never makes its heartbeat late. ``--once`` runs once and exits with pg_dump's exit code (for
cron, and the tests: tests/test_compose.py runs it against a real PostgreSQL and the real
exporter's heartbeat endpoint). The password is never on a command line, in the environment or
in a message: pg_dump reads it from a password file of its own (mode 0600, removed after).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import functools
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cronsim import CronSim

from exporter.backups.config import FileBackup, RestoreTest
from exporter.config import Config, ConfigError, load_config
from exporter.heartbeats import client as heartbeat
from exporter.heartbeats.config import Heartbeat
from exporter.secrets import MissingSecret, Redactor, SecretSource

STAMP = "%Y%m%dT%H%M%SZ"
PING_TRIES = 5
CUSTOM_FORMAT_CHECKS = {"pg_restore", "pg_restore_full"}
PLAIN_FORMAT_CHECKS = {"gzip", "sql_complete"}


class JobError(Exception):
    """A config this job cannot serve, or a secret it cannot read: the message says which."""


@dataclass
class Plan:
    """What one run does, all of it read from the exporter's config."""

    directory: Path
    glob: str
    exclude: tuple[str, ...]
    heartbeat: Heartbeat
    token: str
    dsn: str  # without a password
    password: str | None
    tables: tuple[str, ...]
    counted: tuple[str, ...]

    def name(self, when: datetime) -> str:
        return self.glob.replace("*", when.strftime(STAMP))


def _pick_set(config: Config, name: str | None) -> FileBackup:
    sets = {s.name: s for s in config.backups.files}
    if name is not None:
        if name not in sets:
            raise JobError(f"no backup set {name!r} in backups.files (sets: {_names(sets)})")
        return sets[name]
    if len(sets) != 1:
        raise JobError(f"backups.files has {len(sets)} sets ({_names(sets)}): name one with --set")
    return next(iter(sets.values()))


def _pick_heartbeat(config: Config, name: str | None) -> Heartbeat:
    jobs = {j.name: j for j in config.heartbeats.jobs}
    if name is not None:
        if name not in jobs:
            raise JobError(f"no heartbeat {name!r} in heartbeats.jobs (jobs: {_names(jobs)})")
        return jobs[name]
    backups = [j for j in jobs.values() if "backup" in j.name]
    if len(backups) != 1:
        raise JobError(
            f"{len(backups)} heartbeats have 'backup' in their name (jobs: {_names(jobs)}): "
            "name the one this job pings with --heartbeat"
        )
    return backups[0]


def _names(items: dict[str, Any]) -> str:
    return ", ".join(sorted(items)) or "none"


def _restore_test(config: Config, backup: FileBackup) -> RestoreTest | None:
    tests = [t for t in config.backups.restore.tests if t.backup == backup.name]
    return tests[0] if tests else None


def _check_glob(backup: FileBackup) -> None:
    glob = backup.glob
    if glob.count("*") != 1 or any(c in glob for c in "?[]"):
        raise JobError(
            f"backup set {backup.name!r}: glob {glob!r} must hold exactly one '*' and no other "
            "pattern character, the place of the time in the names this job writes"
        )
    checks = set(backup.verify.checks) if backup.verify else set()
    if checks & PLAIN_FORMAT_CHECKS:
        raise JobError(
            f"backup set {backup.name!r} checks plain-format dumps ({', '.join(sorted(checks))}); "
            "this job writes custom-format dumps (pg_dump -Fc): check them with pg_restore_full"
        )
    sample = glob.replace("*", datetime(2000, 1, 1, tzinfo=UTC).strftime(STAMP))
    if any(fnmatch.fnmatch(sample, pattern) for pattern in backup.exclude):
        raise JobError(f"backup set {backup.name!r}: the names its glob gives are excluded")


def _token(config: Config, job: Heartbeat, secrets: SecretSource) -> str:
    section = config.heartbeats
    value = job.token or job.token_file or section.token or section.token_file
    try:
        token = secrets.resolve(value)
    except MissingSecret as e:
        raise JobError(f"heartbeat {job.name!r}: its token: {e}") from None
    if not token:
        raise JobError(f"heartbeat {job.name!r}: its token is empty")
    return token


def _database(
    config: Config,
    backup: FileBackup,
    test: RestoreTest | None,
    args: argparse.Namespace,
    secrets: SecretSource,
) -> tuple[str, str | None]:
    """The DSN to dump (no password in it) and the password, if one is given apart."""
    password = None
    if args.password_file is not None:
        try:
            password = Path(args.password_file).read_text().splitlines()[0].strip()
        except (OSError, IndexError) as e:
            why = getattr(e, "strerror", None) or "it is empty"
            raise JobError(
                f"the password file {args.password_file} cannot be read: {why}"
            ) from None
        if not password:
            raise JobError(f"the password file {args.password_file} is empty")
    if args.database_url:
        dsn = args.database_url
    else:
        if test is None or test.source is None:
            raise JobError(
                f"backup set {backup.name!r} has no restore test naming its source database "
                "(backups.restore.tests[].source): give --database-url"
            )
        entry = next(d for d in config.databases if d.name == test.source)
        try:
            dsn = secrets.resolve(entry.dsn or entry.dsn_file)
        except MissingSecret as e:
            raise JobError(
                f"database {entry.name!r} (the source of {backup.name!r}): {e}"
            ) from None
    parts = urllib.parse.urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise JobError("the database URL is not a postgresql:// URL")
    user = args.user or parts.username or ""
    if password is None and parts.password:
        password = urllib.parse.unquote(parts.password)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{urllib.parse.quote(user, safe='')}@{host}" if user else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)), password


def plan(args: argparse.Namespace, redactor: Redactor) -> Plan:
    try:
        config, _ = load_config(args.config)
    except ConfigError as e:
        raise JobError("\n".join(str(issue) for issue in e.issues)) from None
    except OSError as e:
        raise JobError(f"{args.config}: {e.strerror}") from None
    secrets = SecretSource(redactor)
    backup = _pick_set(config, args.set)
    _check_glob(backup)
    job = _pick_heartbeat(config, args.heartbeat)
    test = _restore_test(config, backup)
    dsn, password = _database(config, backup, test, args, secrets)
    if password:
        redactor.add(password)
    checks = test.checks if test is not None else None
    tables = tuple(args.table) if args.table else (checks.tables if checks else ())
    counted = checks.row_counts.tables if checks and checks.row_counts else ()
    return Plan(
        directory=Path(backup.directory),
        glob=backup.glob,
        exclude=backup.exclude,
        heartbeat=job,
        token=_token(config, job, secrets),
        dsn=dsn,
        password=password,
        tables=tuple(tables),
        counted=tuple(counted),
    )


# --- one run --------------------------------------------------------------------------------------


def _ping_backoff(attempt: int) -> float:
    return min(2.0**attempt, 10.0)


# Patient: a ping lost while the exporter restarts would show the job late or never run, so
# 5 tries of 10 s each, 1, 2, 4 and 8 s apart.
ping = functools.partial(heartbeat.ping, tries=PING_TRIES, timeout=10.0, backoff=_ping_backoff)


def pg_dump_path() -> str:
    found = shutil.which("pg_dump")
    if found:
        return found
    for version in ("17", "16", "15"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin/pg_dump")
        if candidate.exists():
            return str(candidate)
    raise JobError("pg_dump not found (Debian: apt-get install postgresql-client-15)")


def _pgpass(dsn: str, password: str) -> str:
    """A password file (libpq's format, mode 0600) for pg_dump: the password stays off its
    command line and out of its environment."""
    parts = urllib.parse.urlsplit(dsn)
    escape = lambda s: s.replace("\\", "\\\\").replace(":", "\\:")  # noqa: E731
    fd, path = tempfile.mkstemp(prefix="backup-job-pgpass-")
    with os.fdopen(fd, "w") as f:
        f.write(f"*:*:*:{escape(urllib.parse.unquote(parts.username or ''))}:{escape(password)}\n")
    return path


async def _counts_and_dump(
    p: Plan, argv: list[str], env: dict[str, str], timeout: float
) -> tuple[int, str, dict[str, int]]:
    """pg_dump of an exported snapshot, and the counted tables' rows in that same snapshot."""
    if not p.counted:
        return (*(await _run(argv, env, timeout)), {})
    import asyncpg

    try:
        conn = await asyncpg.connect(p.dsn, password=p.password, timeout=10)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        # no snapshot: pg_dump runs on its own and says what is wrong (the server down, a login
        # refused)
        return (*(await _run(argv, env, timeout)), {})
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            counts: dict[str, int] = {}
            for table in p.counted:
                relation = await conn.fetchval("SELECT to_regclass($1)::text", table)
                if relation is None:
                    return 1, f"counting rows: no table {table}", {}
                counts[table] = await conn.fetchval(f"SELECT count(*) FROM {relation}")
            code, error = await _run([*argv, f"--snapshot={snapshot}"], env, timeout)
    except asyncpg.PostgresError as e:
        return 1, f"counting rows: {e}", {}
    finally:
        await conn.close()
    return code, error, counts


async def _run(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"pg_dump killed after {timeout:g}s"
    return proc.returncode or 0, err.decode(errors="replace").strip()


def run_once(p: Plan, args: argparse.Namespace, redactor: Redactor) -> int:
    """One backup run; its exit code (pg_dump's, or 1), which the heartbeat is told."""
    base = f"{args.exporter.rstrip('/')}/heartbeat/{p.heartbeat.name}"
    ping(f"{base}/start", p.token)
    now = datetime.now(UTC)
    final = p.directory / p.name(now)
    tmp = p.directory / f".{final.name}.tmp"
    pgpass = _pgpass(p.dsn, p.password) if p.password else None
    env = {k: v for k, v in os.environ.items() if k not in ("PGPASSWORD", "PGPASSFILE")}
    if pgpass:
        env["PGPASSFILE"] = pgpass
    argv = [pg_dump_path(), "--format=custom", f"--file={tmp}", f"--dbname={p.dsn}"]
    argv += [f"--table={t}" for t in p.tables]
    try:
        p.directory.mkdir(parents=True, exist_ok=True)
        code, error, counts = asyncio.run(_counts_and_dump(p, argv, env, args.timeout))
        if code == 0:
            data = tmp.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            (p.directory / f"{final.name}.sha256").write_text(f"{digest}  {final.name}\n")
            if counts:
                (p.directory / f"{final.name}.counts.json").write_text(
                    json.dumps(counts, sort_keys=True) + "\n"
                )
            os.replace(tmp, final)
            print(f"{now:%Y-%m-%dT%H:%M:%SZ} wrote {final} ({len(data)} bytes)", flush=True)
            prune(p, args.keep)
        else:
            print(f"{now:%Y-%m-%dT%H:%M:%SZ} pg_dump failed ({code}): {error}", flush=True)
    except OSError as e:
        code = 1
        print(redactor.redact(f"{now:%Y-%m-%dT%H:%M:%SZ} backup failed: {e}"), flush=True)
    finally:
        tmp.unlink(missing_ok=True)
        if pgpass:
            os.unlink(pgpass)
    ping(f"{base}/{code}", p.token)
    return code


def prune(p: Plan, keep: int) -> None:
    """All but the newest ``keep`` dumps of the set go, with their sidecars."""
    names = sorted(
        n
        for n in os.listdir(p.directory)
        if fnmatch.fnmatch(n, p.glob) and not any(fnmatch.fnmatch(n, x) for x in p.exclude)
    )
    for name in names[:-keep]:
        for suffix in ("", ".sha256", ".counts.json"):
            (p.directory / f"{name}{suffix}").unlink(missing_ok=True)


def next_run(job: Heartbeat, after: float) -> float:
    """When the next run starts: the schedule's next time, or half a period on."""
    if job.period is not None:
        return after + job.period / 2
    assert job.schedule is not None
    local = datetime.fromtimestamp(after, zoneinfo.ZoneInfo(job.timezone))
    return next(CronSim(job.schedule, local)).timestamp()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="backup_job.py",
        description="Dump the database the exporter's config backs up, where and when it "
        "expects the dump, and ping its heartbeat.",
    )
    parser.add_argument("--config", required=True, help="the config the exporter runs")
    parser.add_argument("--set", help="the backups.files set (default: the only one)")
    parser.add_argument("--heartbeat", help="the heartbeat it pings (default: the only *backup*)")
    parser.add_argument("--database-url", default=os.environ.get("BACKUP_DATABASE_URL") or None)
    parser.add_argument("--user", help="the role pg_dump logs in as (default: the URL's)")
    parser.add_argument("--password-file", help="its password (default: the URL's)")
    parser.add_argument("--table", action="append", help="dump this table (repeatable)")
    parser.add_argument("--exporter", default="http://127.0.0.1:9877")
    parser.add_argument("--keep", type=int, default=14, help="dumps kept (default 14)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="pg_dump's limit, s")
    parser.add_argument("--once", action="store_true", help="run once, exit with its code")
    parser.add_argument("--max-runs", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    redactor = Redactor()
    try:
        p = plan(args, redactor)
        pg_dump_path()
    except JobError as e:
        print(f"backup_job: {redactor.redact(str(e))}", file=sys.stderr)
        return 2
    if args.keep < 1:
        print("backup_job: --keep must be at least 1", file=sys.stderr)
        return 2
    if args.once:
        return run_once(p, args, redactor)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    when = p.heartbeat.schedule or f"every {p.heartbeat.period:g}s / 2"
    print(f"backup job: {p.directory}/{p.glob}, heartbeat {p.heartbeat.name}, {when}", flush=True)
    runs = 0
    while runs < args.max_runs and not stop.is_set():
        started = time.time()
        run_once(p, args, redactor)
        runs += 1
        stop.wait(max(0.0, next_run(p.heartbeat, started) - time.time()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
