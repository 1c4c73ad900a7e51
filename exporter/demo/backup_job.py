"""The demo's backup job: a real ``pg_dump`` of the shop database every ``--every`` seconds,
pinging its heartbeat as docs/heartbeats.md tells a cron job to, written as docs/backups.md
tells a backup script to.

Each run:

1. ``POST /heartbeat/<name>/start``;
2. opens a read-only repeatable-read transaction, exports its snapshot and counts the rows of
   the shop's tables in it; ``pg_dump --format=custom --snapshot=...`` dumps exactly that
   snapshot into ``shop-<UTC time>.dump.tmp`` (a name the backup set's glob skips), so the
   counts are those of the dump; then the SHA-256 sidecar, the counts sidecar
   (``.counts.json``, which the restore test compares the restored rows with), then a rename
   into place: the exporter never sees half a dump;
3. removes all but the newest ``--keep`` dumps;
4. ``POST /heartbeat/<name>/<exit code of pg_dump>``.

Faults (``redline demo break backup-job MODE``), read from ``.demo/backup-job.fault``:

- ``failing``: the job dumps a database that does not exist, so pg_dump really fails and the job
  reports its exit code;
- ``truncated``: the job writes a dump cut halfway through its data, after its table of
  contents (so ``pg_restore --list`` still reads it: :func:`cut_short`), and checksums the cut
  file, as a job whose disk filled up would: only a restore notices;
- ``wrong-database``: the job dumps the server's ``postgres`` database instead of the shop, a
  valid dump of the wrong thing: only a restore and its checks notice.

``redline demo break backup-job down`` stops the job altogether: then nothing pings at all.

Bounded: at most ``--max-runs`` runs and ``--max-seconds`` seconds; each pg_dump is killed after
``--timeout`` seconds; a ping that cannot be delivered (the exporter is down) is logged and
dropped after a few tries.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from exporter.demo import layout
from exporter.durations import argparse_positive_seconds
from exporter.heartbeats import client as heartbeat

DEFAULT_EVERY = 10.0
DEFAULT_KEEP = 6
DEFAULT_MAX_RUNS = 20_000
DEFAULT_MAX_SECONDS = 12 * 3600.0
DEFAULT_TIMEOUT = 60.0
PING_TRIES = 3


def pg_dump_path() -> str:
    found = shutil.which("pg_dump")
    if found:
        return found
    for version in ("17", "16", "15"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin/pg_dump")
        if candidate.exists():
            return str(candidate)
    raise SystemExit("pg_dump not found: run scripts/install-system.sh")


def pg_restore_path(pg_dump: str) -> str:
    """The pg_restore beside the job's pg_dump: the same release reads its archives."""
    return str(Path(pg_dump).with_name("pg_restore"))


def toc_end(data: bytes, pg_restore: str) -> int | None:
    """Where a custom-format dump's table of contents ends: the shortest prefix ``pg_restore
    --list`` reads (it reads the header and the table of contents, never the data). A binary
    search, about 15 runs of a few milliseconds on the demo's dumps; None when pg_restore does
    not read even the whole dump."""

    def readable(n: int) -> bool:
        listed = subprocess.run(
            [pg_restore, "--list"], input=data[:n], capture_output=True, timeout=30, check=False
        )
        return listed.returncode == 0

    if not readable(len(data)):
        return None
    lo, hi = 0, len(data)  # readable(hi); lo is not (nothing is no archive)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if readable(mid) else (mid, hi)
    return hi


def cut_short(path: Path, pg_restore: str) -> int:
    """Cut the dump at ``path`` halfway through its data, after its table of contents, as a disk
    that filled up while pg_dump wrote the data would: ``pg_restore --list`` still reads it, a
    restore fails. A fixed share of the file is not enough: the table of contents of the demo's
    small dumps is most of the file (a cut at 80 % fell into it, and the integrity checks saw
    it). Returns the new size."""
    data = path.read_bytes()
    end = toc_end(data, pg_restore)
    # no data to cut into: half the file, which the integrity checks then see
    size = len(data) // 2 if end is None or end >= len(data) else end + (len(data) - end) // 2
    path.write_bytes(data[:size])
    return size


def _ping_backoff(attempt: int) -> float:
    return 0.5


# Quick: the demo's exporter is on this machine, and a run every few seconds pings again soon.
ping = functools.partial(heartbeat.ping, tries=PING_TRIES, timeout=5.0, backoff=_ping_backoff)


FAULTS = ("failing", "truncated", "wrong-database")
COUNTED = ("customers", "products", "orders", "order_items")  # the shop's tables


def fault(fault_file: Path) -> str | None:
    """The fault the demo set, if any."""
    try:
        mode = fault_file.read_text().strip()
    except OSError:
        return None
    return mode if mode in FAULTS else None


async def dump_with_counts(
    argv: list[str], args: argparse.Namespace, database: str
) -> tuple[int, str, dict[str, int]]:
    """pg_dump of an exported snapshot, and the row counts in that same snapshot: (exit code,
    error output, counts). Counts are empty when the database has none of the shop's tables."""
    import asyncpg

    try:
        conn = await asyncpg.connect(
            host=args.host, port=args.port, user=args.user, database=database, timeout=10
        )
    except (OSError, asyncpg.PostgresError):
        # no snapshot: pg_dump runs on its own and says what is wrong (a database that does
        # not exist, the server down)
        return (*(await _pg_dump(argv, args.timeout)), {})
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            counts = {}
            for table in COUNTED:
                if await conn.fetchval("SELECT to_regclass($1)", f"public.{table}"):
                    counts[f"public.{table}"] = await conn.fetchval(
                        f"SELECT count(*) FROM public.{table}"
                    )
            code, error = await _pg_dump([*argv, f"--snapshot={snapshot}"], args.timeout)
    except asyncpg.PostgresError as e:
        return 1, f"counting rows: {e}", {}
    finally:
        await conn.close()
    return code, error, counts


async def _pg_dump(argv: list[str], timeout: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"pg_dump killed after {timeout:g}s"
    return proc.returncode or 0, err.decode(errors="replace").strip()


def run_once(args: argparse.Namespace, pg_dump: str) -> int:
    """One backup run; pg_dump's exit code."""
    base = f"{args.exporter.rstrip('/')}/heartbeat/{args.heartbeat}"
    ping(f"{base}/start", args.token)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = args.dir / f"{layout.BACKUP_GLOB_PREFIX}{stamp}.dump"
    tmp = final.with_name(final.name + ".tmp")
    mode = fault(args.fault_file)
    database = {"failing": f"{args.database}_missing", "wrong-database": "postgres"}.get(
        mode or "", args.database
    )
    argv = [pg_dump, "--format=custom", f"--file={tmp}", f"--dbname={database}"]
    argv += ["--host", args.host, "--port", str(args.port), "--username", args.user]
    code, error, counts = asyncio.run(dump_with_counts(argv, args, database))
    if code == 0:
        if mode == "truncated":
            cut_short(tmp, pg_restore_path(argv[0]))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        sidecar = final.with_name(final.name + ".sha256")
        sidecar.write_text(f"{digest}  {final.name}\n")
        if counts:
            counted = final.with_name(final.name + ".counts.json")
            counted.write_text(json.dumps(counts, sort_keys=True) + "\n")
        os.replace(tmp, final)
        note = f", fault {mode}" if mode else ""
        print(f"{stamp} wrote {final.name} ({final.stat().st_size} bytes{note})", flush=True)
        prune(args.dir, args.keep)
    else:
        tmp.unlink(missing_ok=True)
        print(f"{stamp} pg_dump failed ({code}): {error}", flush=True)
    ping(f"{base}/{code}", args.token)
    return code


def prune(directory: Path, keep: int) -> None:
    dumps = sorted(directory.glob(f"{layout.BACKUP_GLOB_PREFIX}*.dump"))
    for old in dumps[:-keep]:
        old.unlink(missing_ok=True)
        old.with_name(old.name + ".sha256").unlink(missing_ok=True)
        old.with_name(old.name + ".counts.json").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.demo.backup_job",
        description="Dump the demo shop database on a schedule and ping its heartbeat.",
    )
    parser.add_argument("--host", required=True, help="the server's unix socket directory")
    parser.add_argument("--port", type=int, default=layout.POSTGRES_PORT)
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--database", default=layout.POSTGRES_DB)
    parser.add_argument("--dir", type=Path, default=layout.BACKUP_DIR)
    parser.add_argument("--exporter", default=layout.EXPORTER_URL)
    parser.add_argument("--heartbeat", default=layout.BACKUP_HEARTBEAT)
    parser.add_argument("--token", default=layout.HEARTBEAT_TOKEN)
    parser.add_argument("--fault-file", type=Path, default=layout.BACKUP_FAULT_FILE)
    parser.add_argument("--every", type=argparse_positive_seconds, default=DEFAULT_EVERY)
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP)
    parser.add_argument("--timeout", type=argparse_positive_seconds, default=DEFAULT_TIMEOUT)
    parser.add_argument("--max-runs", type=int, default=DEFAULT_MAX_RUNS)
    parser.add_argument(
        "--max-seconds", type=argparse_positive_seconds, default=DEFAULT_MAX_SECONDS
    )
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    pg_dump = pg_dump_path()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    deadline = time.monotonic() + args.max_seconds
    print(f"backup job: every {args.every:g}s into {args.dir}", flush=True)
    runs = 0
    while runs < args.max_runs and time.monotonic() < deadline and not stop.is_set():
        started = time.monotonic()
        run_once(args, pg_dump)
        runs += 1
        stop.wait(max(0.0, args.every - (time.monotonic() - started)))
    print(f"backup job stopped after {runs} runs", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
