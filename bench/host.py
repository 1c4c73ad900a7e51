"""redline's host collector against node_exporter, side by side on this machine:
``python bench/host.py``.

Five exporters run on loopback, from a temp dir:

1. redline with only the host section (no services, no log sources), scraped as Prometheus
   does: what a scrape of the host costs in redline (it answers the text format, as
   node_exporter does);
2. redline with the host source off: the floor of a redline scrape (HTTP, its own metrics);
3. redline with the host section plus three process groups (a walk over every process);
4. node_exporter with only the collectors redline's host collector matches (cpu, loadavg,
   meminfo, filesystem, diskstats, netdev, stat, filefd, pressure), redline's filters, and
   without its own go_*/process_* metrics: the like-for-like comparison;
5. node_exporter with its defaults (what the issue measured beforehand: 9-12 ms, 507 series).

The scrapes are interleaved (one of each, round after round, one at a time, so no two
exporters ever work at once) so that all see the same machine load, and each round starts one
exporter further, so that each takes every place in a round alike (the same tree measured first
in every round was 10% slower than itself measured second); each exporter gets warm-up scrapes
first. Reported per exporter: the median and 90th percentile of a scrape's wall time
(one keep-alive connection, the headers Prometheus sends), the exporter's CPU per scrape, and
its series. The target of issue 4: redline's host
scrape no slower than node_exporter's in the same run; of issue 19: no slower than
node_exporter restricted to the same collectors.

Run alone it prints its own table and writes it to bench/results/host.md; ``make bench`` (run.py)
takes its rows through :func:`section`. Exits 0 when the bench ran, even if the target is
missed (it is a report); non-zero only when the harness itself failed.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from procs import Child, Children, HarnessError, OtherLoad, wait_for
from table import Row, Section, judge, num, peer_version, ratio

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))  # redline's own config defaults, so both sides filter alike

from exporter.host.config import (  # noqa: E402
    DEFAULT_DISK_DEVICES_EXCLUDE,
    DEFAULT_FS_TYPES_EXCLUDE,
    DEFAULT_MOUNT_POINTS_EXCLUDE,
)

RESULTS = BENCH_DIR / "results" / "host.md"
TMP_PREFIX = "redline-bench-host-"
NODE_EXPORTER_BIN = "/usr/bin/prometheus-node-exporter"
START_TIMEOUT = 30.0
# What Prometheus 2.42 sends; both redline and node_exporter 1.5 answer the text format.
HEADERS = {
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
    "Accept": "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
}
REDLINE = "redline, host only"
FLOOR = "redline, host off (floor)"
GROUPS_LABEL = "redline, host + 3 process groups"
NODE_SAME = "node_exporter, same collectors"
NODE_DEFAULTS = "node_exporter, defaults"
LIKE_FOR_LIKE: tuple[str, ...] = ("cpu", "loadavg", "meminfo", "filesystem", "diskstats")
LIKE_FOR_LIKE += ("netdev", "stat", "filefd", "pressure")
GROUPS = """  process_groups:
    - {name: python, process_name: python}
    - {name: shells, process_name: '^(ba|da)?sh$'}
    - {name: exporters, cmdline: 'exporter'}
"""


@dataclass
class Exporter:
    label: str
    child: Child
    port: int
    headers: dict[str, str]
    walls: list[float]
    cpu: float = 0.0
    series: int = 0
    host_series: int = 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def start_redline(
    children: Children, tmp: Path, name: str, host: str, tree: Path = REPO
) -> tuple[Child, int]:
    port = free_port()
    config = tmp / f"{name}.yml"
    config.write_text(host)
    child = children.start(
        name,
        [
            sys.executable,
            "-m",
            "exporter",
            "run",
            "--config.file",
            str(config),
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--log.level",
            "warning",
        ],
        cwd=tree,  # ``-m exporter`` imports the package of the directory it runs in
    )
    wait_for(name, lambda: answers(port), START_TIMEOUT, child)
    return child, port


def start_node_exporter(
    children: Children, tmp: Path, name: str, like_for_like: bool
) -> tuple[Child, int]:
    port = free_port()
    argv = [NODE_EXPORTER_BIN, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    if like_for_like:
        argv += ["--collector.disable-defaults", "--web.disable-exporter-metrics"]
        argv += [f"--collector.{c}" for c in LIKE_FOR_LIKE]
        argv += [
            f"--collector.filesystem.mount-points-exclude={DEFAULT_MOUNT_POINTS_EXCLUDE}",
            f"--collector.filesystem.fs-types-exclude={DEFAULT_FS_TYPES_EXCLUDE}",
            f"--collector.diskstats.device-exclude={DEFAULT_DISK_DEVICES_EXCLUDE}",
            "--collector.netdev.device-exclude=",  # upstream's default; Debian's drops lo
        ]
    child = children.start(name, argv, cwd=tmp)
    wait_for(name, lambda: answers(port), START_TIMEOUT, child)
    return child, port


def scrape(conn: http.client.HTTPConnection, headers: dict[str, str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    conn.request("GET", "/metrics", headers=headers)
    response = conn.getresponse()
    body = response.read()
    seconds = time.perf_counter() - start
    if response.status != 200:
        raise HarnessError(f"/metrics answered {response.status}: {body[:300]!r}")
    return seconds, body


def count_series(body: bytes) -> tuple[int, int]:
    """(all series, host series: node_* and redline_process_group_*)."""
    lines = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
    host = [line for line in lines if line.startswith(("node_", "redline_process_group_"))]
    return len(lines), len(host)


def cpu_seconds(child: Child) -> float:
    t = psutil.Process(child.popen.pid).cpu_times()
    return float(t.user + t.system)


def measure(exporters: list[Exporter], scrapes: int, warmup: int) -> None:
    conns = {
        e.label: http.client.HTTPConnection("127.0.0.1", e.port, timeout=30) for e in exporters
    }
    try:
        for _ in range(warmup):
            for e in exporters:
                scrape(conns[e.label], e.headers)
        cpu_start = {e.label: cpu_seconds(e.child) for e in exporters}
        for i in range(scrapes):
            # each round starts one exporter further: a scrape right after another exporter's
            # (the heavy node_exporter defaults, say) is slower, and each takes every place alike
            turn = i % len(exporters)
            for e in exporters[turn:] + exporters[:turn]:
                seconds, body = scrape(conns[e.label], e.headers)
                e.walls.append(seconds)
                e.series, e.host_series = count_series(body)
        for e in exporters:
            e.child.check_alive()
            e.cpu = (cpu_seconds(e.child) - cpu_start[e.label]) / scrapes
    finally:
        for conn in conns.values():
            conn.close()


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def render(exporters: list[Exporter], scrapes: int, warmup: int, took: float) -> str:
    by = {e.label: e for e in exporters}
    redline = by[REDLINE]
    head = (
        f"redline host collector vs node_exporter, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n"
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"psutil {psutil.__version__}; {node_exporter_version()}\n"
        f"{scrapes} measured scrapes of each after {warmup} warm-up, interleaved; "
        f"bench took {took:.0f} s\n"
    )
    rows = [
        f"{'exporter':<40}{'median ms':>10}{'p90 ms':>9}{'CPU ms':>9}{'series':>8}"
        f"{'host':>6}{'vs redline':>12}",
        "-" * 94,
    ]
    base = statistics.median(redline.walls)
    for e in exporters:
        median = statistics.median(e.walls)
        rows.append(
            f"{e.label:<40}{median * 1000:>10.2f}{p90(e.walls) * 1000:>9.2f}"
            f"{e.cpu * 1000:>9.2f}{e.series:>8}{e.host_series:>6}{median / base:>11.2f}x"
        )
    verdicts = []
    pairs = [(REDLINE, NODE_DEFAULTS), (REDLINE, NODE_SAME)]
    pairs += [(e.label, NODE_SAME) for e in exporters if e.label.startswith(f"{REDLINE}, ")]
    for mine, theirs in pairs:
        a, b = statistics.median(by[mine].walls), statistics.median(by[theirs].walls)
        verdict = "PASS" if a <= b else "FAIL"
        verdicts.append(
            f"target: {mine} <= {theirs}: {a * 1000:.2f} ms vs {b * 1000:.2f} ms, "
            f"ratio {a / b:.2f}  {verdict}"
        )
    notes = [
        "series: every sample line of the scrape; host: the node_* and redline_process_group_* "
        "ones (redline's other lines are its own process_*/python_*/redline_* metrics).",
        "measured beforehand (issue 4): node_exporter 9-12 ms per scrape for 507 series.",
    ]
    return head + "\n" + "\n".join([*rows, "", *verdicts, "", *notes]) + "\n"


def node_exporter_version() -> str:
    import subprocess

    out = subprocess.run(
        [NODE_EXPORTER_BIN, "--version"], capture_output=True, text=True, check=False
    )
    return (out.stdout + out.stderr).splitlines()[0] if (out.stdout + out.stderr) else "?"


def run(scrapes: int, warmup: int, trees: dict[str, Path] | None = None) -> str:
    """The whole bench; returns its own table."""
    exporters, took = measure_all(scrapes, warmup, trees)
    return render(exporters, scrapes, warmup, took)


def measure_all(
    scrapes: int, warmup: int, trees: dict[str, Path] | None = None
) -> tuple[list[Exporter], float]:
    """Start the five exporters, measure them; (the exporters with their figures, seconds).
    ``trees``: label -> another checkout of redline, whose host-only exporter is measured too,
    interleaved with the others (a change's before and after in one run)."""
    if not os.access(NODE_EXPORTER_BIN, os.X_OK):
        raise HarnessError(f"{NODE_EXPORTER_BIN} is missing: run scripts/install-system.sh")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp_name:
        tmp = Path(tmp_name)
        with Children(tmp) as children:
            host = "host:\n  enabled: true\n"
            plans: list[tuple[str, Callable[[], tuple[Child, int]], dict[str, str]]] = [
                (REDLINE, lambda: start_redline(children, tmp, "redline", host), HEADERS),
                (
                    FLOOR,
                    lambda: start_redline(children, tmp, "redline-off", "host: {enabled: false}\n"),
                    HEADERS,
                ),
                (
                    GROUPS_LABEL,
                    lambda: start_redline(children, tmp, "redline-groups", host + GROUPS),
                    HEADERS,
                ),
                (
                    NODE_SAME,
                    lambda: start_node_exporter(children, tmp, "node-same", True),
                    HEADERS,
                ),
                (
                    NODE_DEFAULTS,
                    lambda: start_node_exporter(children, tmp, "node-defaults", False),
                    HEADERS,
                ),
            ]
            for i, (label, tree) in enumerate((trees or {}).items()):
                plans.insert(
                    1 + i,
                    (
                        f"redline, host only, {label}",
                        lambda tree=tree, i=i: start_redline(
                            children, tmp, f"redline-tree-{i}", host, tree
                        ),
                        HEADERS,
                    ),
                )
            exporters = []
            for label, start, headers in plans:
                child, port = start()
                exporters.append(Exporter(label, child, port, headers, []))
            measure(exporters, scrapes, warmup)
    return exporters, time.monotonic() - started


def section(quick: bool) -> Section:
    """This comparison's rows of ``make bench``'s table (issue 4's host target)."""
    scrapes, warmup = (21, 3) if quick else (101, 10)
    with OtherLoad() as load:
        exporters, took = measure_all(scrapes, warmup)
    by = {e.label: e for e in exporters}
    mine, same, defaults = by[REDLINE], by[NODE_SAME], by[NODE_DEFAULTS]
    med = {e.label: statistics.median(e.walls) * 1000 for e in exporters}
    rows = [
        Row(
            "host scrape, median (ms), vs node_exporter defaults",
            num(med[REDLINE], 2),
            num(med[NODE_DEFAULTS], 2),
            ratio(med[REDLINE], med[NODE_DEFAULTS]),
            "ratio <= 1",
            judge(med[REDLINE] <= med[NODE_DEFAULTS]),
        ),
        # issue 19: like for like, node_exporter cut down to the collectors redline matches
        Row(
            "host scrape, median (ms), vs node_exporter same 9 collectors",
            num(med[REDLINE], 2),
            num(med[NODE_SAME], 2),
            ratio(med[REDLINE], med[NODE_SAME]),
            "ratio <= 1",
            judge(med[REDLINE] <= med[NODE_SAME]),
        ),
        Row(
            "host scrape, p90 (ms), vs node_exporter defaults",
            num(p90(mine.walls) * 1000, 2),
            num(p90(defaults.walls) * 1000, 2),
            ratio(p90(mine.walls), p90(defaults.walls)),
        ),
        Row(
            "exporter CPU per scrape (ms), vs node_exporter defaults",
            num(mine.cpu * 1000, 2),
            num(defaults.cpu * 1000, 2),
            ratio(mine.cpu, defaults.cpu),
        ),
        Row(
            "host series (defaults / same collectors)",
            str(mine.host_series),
            f"{defaults.host_series} / {same.host_series}",
        ),
        Row("redline scrape with the host source off (ms)", num(med[FLOOR], 2)),
        Row("redline host + 3 process groups (ms)", num(med[GROUPS_LABEL], 2)),
    ]
    notes = [
        f"{scrapes} measured scrapes of each exporter after {warmup} warm-up, interleaved one "
        "at a time, each round starting one exporter further; the headers Prometheus sends; "
        "one keep-alive connection each",
        "targets: node_exporter as shipped (issue 4; the issue measured 9-12 ms for its 507 "
        "series) and node_exporter cut down to the collectors redline matches (issue 19), "
        f"whose time redline's scrape is {med[REDLINE] / med[NODE_SAME]:.2f}x",
    ]
    return Section(
        title=f"host vs {peer_version([NODE_EXPORTER_BIN, '--version'])} (issue 4)",
        rows=rows,
        notes=notes,
        detail=render(exporters, scrapes, warmup, took),
        other_cores=load.cores,
        busiest=load.busiest,
        seconds=took,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scrapes", type=int, default=101, help="measured scrapes each (101)")
    parser.add_argument("--warmup", type=int, default=10, help="warm-up scrapes each (10)")
    parser.add_argument("--quick", action="store_true", help="21 scrapes, 3 warm-up")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the table")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also measure redline's host-only scrape from another checkout DIR (e.g. "
        "`git archive <commit> | tar -x -C DIR`), interleaved with the others; repeatable",
    )
    args = parser.parse_args(argv)
    trees: dict[str, Path] = {}
    for item in args.tree:
        label, sep, where = item.partition("=")
        if not sep or not label or not (Path(where) / "exporter" / "__main__.py").is_file():
            parser.error(f"--tree {item!r}: expected LABEL=DIR, DIR a checkout of redline")
        trees[label] = Path(where).resolve()
    scrapes, warmup = (21, 3) if args.quick else (args.scrapes, args.warmup)
    if not 1 <= scrapes <= 10000 or not 0 <= warmup <= 1000:
        parser.error("--scrapes 1..10000, --warmup 0..1000")
    try:
        table = run(scrapes, warmup, trees)
    except HarnessError as e:
        print(f"bench/host.py: {e}", file=sys.stderr)
        return 2
    print(table, end="")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
