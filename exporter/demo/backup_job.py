"""The demo's backup job: a real ``pg_dump`` of the shop database every ``--every`` seconds,
pinging its heartbeat as docs/heartbeats.md tells a cron job to, written as docs/backups.md
tells a backup script to.

Each run:

1. ``POST /heartbeat/<name>/start``;
2. ``pg_dump --format=custom`` into ``shop-<UTC time>.dump.tmp`` (a name the backup set's glob
   skips), then the SHA-256 sidecar, then a rename into place: the exporter never sees half a
   dump;
3. removes all but the newest ``--keep`` dumps;
4. ``POST /heartbeat/<name>/<exit code of pg_dump>``.

Fault (the demo's ``redline demo break backup-job failing``): while the file
``.demo/backup-job.fault`` says ``failing``, the job dumps a database that does not exist, so
pg_dump really fails and the job reports its exit code. ``redline demo break backup-job down``
stops the job altogether: then nothing pings at all.

Bounded: at most ``--max-runs`` runs and ``--max-seconds`` seconds; each pg_dump is killed after
``--timeout`` seconds; a ping that cannot be delivered (the exporter is down) is logged and
dropped after a few tries.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from exporter.demo import layout
from exporter.durations import argparse_positive_seconds

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


def ping(url: str, token: str) -> bool:
    request = urllib.request.Request(
        url, method="POST", data=b"", headers={"Authorization": f"Bearer {token}"}
    )
    for attempt in range(PING_TRIES):
        try:
            with urllib.request.urlopen(request, timeout=5):
                return True
        except urllib.error.HTTPError as e:
            print(f"ping {url}: HTTP {e.code}", flush=True)
            return False
        except OSError as e:
            if attempt == PING_TRIES - 1:
                print(f"ping {url} not delivered: {e}", flush=True)
            time.sleep(0.5)
    return False


def faulty(fault_file: Path) -> bool:
    try:
        return fault_file.read_text().strip() == "failing"
    except OSError:
        return False


def run_once(args: argparse.Namespace, pg_dump: str) -> int:
    """One backup run; pg_dump's exit code."""
    base = f"{args.exporter.rstrip('/')}/heartbeat/{args.heartbeat}"
    ping(f"{base}/start", args.token)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    final = args.dir / f"{layout.BACKUP_GLOB_PREFIX}{stamp}.dump"
    tmp = final.with_name(final.name + ".tmp")
    database = f"{args.database}_missing" if faulty(args.fault_file) else args.database
    argv = [pg_dump, "--format=custom", f"--file={tmp}", f"--dbname={database}"]
    argv += ["--host", args.host, "--port", str(args.port), "--username", args.user]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=args.timeout, check=False
        )
        code = done.returncode
        error = done.stderr.strip()
    except subprocess.TimeoutExpired:
        code, error = 124, f"pg_dump killed after {args.timeout:g}s"
    if code == 0:
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        sidecar = final.with_name(final.name + ".sha256")
        sidecar.write_text(f"{digest}  {final.name}\n")
        os.replace(tmp, final)
        print(f"{stamp} wrote {final.name} ({final.stat().st_size} bytes)", flush=True)
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
