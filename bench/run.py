"""``make bench``: every benchmark of redline side by side with its peer, on this machine, in one
run, printed as one table.

Sections, one after the other so that no two ever compete for the cores:

1. HTTP probes vs blackbox_exporter (bench/blackbox.py, issue 2): 1,000 loopback targets,
   saturated and paced by a real Prometheus;
2. Postgres vs postgres_exporter (bench/postgres.py, issue 3): one PostgreSQL 15 under pgbench;
3. host vs node_exporter (bench/host.py, issue 4);
4. logs vs mtail (bench/logs.py, issue 4): a generated nginx access log, and following a file.

Each row: redline's figure, the peer's, the ratio redline / peer, the issue's target and whether
it is met; above the table the machine and every peer's version; below it the targets missed
and each section's notes (with a warning when other processes kept the machine busy while a
section measured). The whole report, with each section's own detailed table, also goes to
bench/results/latest.md (gitignored). docs/performance.md explains the method.

Exits 0 when every section ran, whether or not redline meets its targets (the table says
which are missed); 1 when a section's harness failed (its rows say ERROR, the others still
run). Ctrl-C stops every child and removes the temp dirs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import psutil

from exporter.durations import argparse_positive_seconds

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import blackbox  # noqa: E402
import host  # noqa: E402
import logs  # noqa: E402
import postgres  # noqa: E402
import scale  # noqa: E402
from procs import Children, HarnessError  # noqa: E402
from table import ERROR, Row, Section, machine_lines, markdown, render  # noqa: E402

REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "latest.md"
TMP_PREFIX = "redline-bench-"
SECTIONS = ("probes", "postgres", "host", "logs", "scale")
PEERS = {
    **blackbox.VERSIONS,
    "postgres_exporter": [postgres.PGEXP_BIN, "--version"],
    "node_exporter": [host.NODE_EXPORTER_BIN, "--version"],
    "mtail": [logs.MTAIL, "--version"],
    "postgres": [str(postgres.BIN / "postgres"), "--version"],
}


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, blackbox.Options]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, about 2 minutes")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})",
    )
    probes = parser.add_argument_group("the probes section (blackbox_exporter)")
    probes.add_argument("--targets", type=int, default=1000, help="HTTP targets (1000)")
    probes.add_argument("--ports", type=int, default=10, help="ports they are spread over (10)")
    probes.add_argument("--rounds", type=int, help="measured saturated scrapes (5; quick 2)")
    probes.add_argument("--concurrency", type=int, default=100, help="blackbox /probe at once")
    probes.add_argument(
        "--interval", type=argparse_positive_seconds, default=5.0, help="Prometheus interval (5s)"
    )
    probes.add_argument(
        "--window", type=argparse_positive_seconds, help="paced window (60s; quick 20s)"
    )
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown or not args.only:
        parser.error(f"--only takes some of {','.join(SECTIONS)}")
    try:
        opts = blackbox.Options.make(
            args.quick,
            targets=args.targets,
            ports=args.ports,
            rounds=args.rounds,
            concurrency=args.concurrency,
            interval=args.interval,
            window=args.window,
        )
    except ValueError as e:
        parser.error(str(e))
    return args, opts


def step(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def remove_stale_dirs() -> None:
    """Temp dirs of earlier runs that were killed (SIGKILL leaves no chance to clean up): each
    holds the pid of its bench; remove those whose bench is gone."""
    for stale in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*"):
        try:
            pid = int((stale / "bench.pid").read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created: leave it
        if not psutil.pid_exists(pid):
            shutil.rmtree(stale, ignore_errors=True)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds like ctrl-C: children stopped, temp dirs removed


def run_probes(opts: blackbox.Options) -> Section:
    with (
        tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp,
        Children(Path(tmp)) as children,
    ):
        (Path(tmp) / "bench.pid").write_text(str(os.getpid()))
        return blackbox.section(opts, Path(tmp), children)


def run_section(name: str, title: str, measure: Callable[[], Section]) -> Section:
    """One section, timed; a harness failure becomes an ERROR row, and the next section runs."""
    step(f"{name}: {title}")
    started = time.monotonic()
    try:
        section = measure()
    except (HarnessError, RuntimeError, OSError, ValueError, AssertionError) as e:
        detail = "".join(traceback.format_exception_only(e)).strip()
        step(f"{name}: harness failed: {detail}")
        section = Section(title, [Row("(no figures)", "-", result=ERROR)], error=detail)
    if not section.title:
        section.title = title
    section.seconds = time.monotonic() - started
    return section


def main(argv: list[str] | None = None) -> int:
    args, opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (e.g. from a
    # background job of a script), so the cleanup below always runs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    remove_stale_dirs()
    plans: dict[str, tuple[str, Callable[[], Section]]] = {
        "probes": (
            f"HTTP probes vs blackbox_exporter, {opts.targets} targets (issue 2)",
            lambda: run_probes(opts),
        ),
        "postgres": (
            "Postgres vs postgres_exporter (issue 3)",
            lambda: postgres.section(args.quick),
        ),
        "host": ("host vs node_exporter (issue 4)", lambda: host.section(args.quick)),
        "logs": ("logs vs mtail (issue 4)", lambda: logs.section(args.quick)),
        "scale": ("The stack at 10x the shop (issue 18)", lambda: scale.section(args.quick)),
    }
    sections = []
    try:
        for name in SECTIONS:
            if name in args.only:
                title, measure = plans[name]
                sections.append(run_section(name, title, measure))
    except KeyboardInterrupt:
        print("bench: interrupted; children stopped", file=sys.stderr)
        return 130
    head = [
        f"redline bench, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}: "
        f"{'quick (smoke run, not for quoting)' if args.quick else 'full'} run of "
        f"{', '.join(args.only)} in {time.monotonic() - started:.0f} s",
        *machine_lines(PEERS),
        "ratio = redline / peer; each section ran alone on the machine, one exporter at a time",
    ]
    text = render(sections, head)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(markdown(text, sections))
    step(f"written to {RESULTS.relative_to(REPO)}")
    return 1 if any(s.error for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
