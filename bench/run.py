"""redline against blackbox_exporter, side by side on this machine: ``make bench``.

Both exporters probe the same 1,000 local HTTP targets (one separate process serves them all,
so its CPU counts against neither), one exporter at a time so they never compete for the cores:

1. bare aiohttp client, 1,000 fresh-connection GETs: the floor for any aiohttp-based probe;
2. saturated: back-to-back full scrapes of 1,000 targets (redline: one GET /metrics; blackbox:
   1,000 GET /probe, 100 at a time); CPU per probe, wall time of one scrape, resident memory;
3. paced: the exporter with a real Prometheus scraping it every 5 s for a fixed window
   (blackbox: 1,000 scrape targets; redline: one); CPU per probe of the exporter, of
   Prometheus, and of both together.

Prints one table with ratios and the targets of the issue, and writes it to
bench/results/latest.md. Exits 0 when the bench ran, even if a target is missed (it is a
report); non-zero only when the harness itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
from configs import (
    BLACKBOX_MODULE,
    blackbox_config,
    prometheus_for_blackbox,
    prometheus_for_redline,
    redline_config,
    target_urls,
    write_yaml,
)
from procs import Child, Children, HarnessError, OtherLoad, wait_for
from report import Paced, Results, Saturated, render

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results" / "latest.md"
BLACKBOX_BIN = "/usr/bin/prometheus-blackbox-exporter"
PROMETHEUS_BIN = "/usr/bin/prometheus"
START_TIMEOUT = 30.0  # seconds a server gets to answer after start
SCRAPE_TIMEOUT = 10.0  # the X-Prometheus-Scrape-Timeout-Seconds of the bench's own scrapes
TMP_PREFIX = "redline-bench-"


@dataclass(frozen=True)
class Options:
    targets: int
    ports: int
    rounds: int
    concurrency: int
    interval: float
    window: float
    warmup: float
    quick: bool


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (about 1 min)")
    parser.add_argument("--targets", type=int, default=1000, help="HTTP targets (1000)")
    parser.add_argument("--ports", type=int, default=10, help="ports they are spread over (10)")
    parser.add_argument("--rounds", type=int, help="measured saturated scrapes (5; quick 1)")
    parser.add_argument("--concurrency", type=int, default=100, help="blackbox /probe at once")
    parser.add_argument("--interval", type=float, default=5.0, help="Prometheus scrape interval")
    parser.add_argument("--window", type=float, help="paced window, seconds (30; quick 10)")
    args = parser.parse_args(argv)
    if not 1 <= args.targets <= 5000 or not 1 <= args.ports <= 100:
        parser.error("--targets 1..5000, --ports 1..100")
    if not 1 <= args.concurrency <= 1000 or not 2 <= args.interval <= 60:
        parser.error("--concurrency 1..1000, --interval 2..60")
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else 5)
    window = args.window if args.window is not None else (10.0 if args.quick else 30.0)
    # Bounded, so that every loop of the bench is bounded in time and in connections.
    if not 1 <= rounds <= 20 or not 1 <= window <= 600:
        parser.error("--rounds 1..20, --window 1..600")
    return Options(
        targets=args.targets,
        ports=args.ports,
        rounds=rounds,
        concurrency=args.concurrency,
        interval=args.interval,
        window=window,
        # Prometheus spreads its targets over the interval: after two intervals every target
        # has been scraped at least once and the exporter is in its steady state.
        warmup=args.interval + 1 if args.quick else 2 * args.interval,
        quick=args.quick,
    )


# --- small HTTP helpers (synchronous: used for readiness and counters, not for load) ----------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bytes(response.read())
    except (urllib.error.URLError, OSError) as e:  # HTTPError is a URLError too
        raise HarnessError(f"GET {url} failed: {e}") from None


def answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            http_get(url, timeout=1.0)
        except HarnessError:
            return False
        return True

    return check


def served_requests(targets_port: int) -> int:
    """Probes that really reached a target so far (the target server's own count)."""
    return int(json.loads(http_get(f"http://127.0.0.1:{targets_port}/stats"))["requests"])


def prometheus_value(port: int, expr: str) -> float | None:
    query = urllib.parse.urlencode({"query": expr})
    data = json.loads(http_get(f"http://127.0.0.1:{port}/api/v1/query?{query}"))
    result = data["data"]["result"]
    return float(result[0]["value"][1]) if result else None


# --- starting the servers ---------------------------------------------------------------------


def start_targets(children: Children, tmp: Path, ports: int) -> tuple[Child, list[int]]:
    ready = tmp / "targets.json"
    child = children.start(
        "targets",
        [
            sys.executable,
            str(BENCH_DIR / "targets.py"),
            "--ports",
            str(ports),
            "--ready-file",
            str(ready),
        ],
    )
    wait_for("the target server", ready.exists, START_TIMEOUT, child)
    return child, list(json.loads(ready.read_text())["ports"])


def start_blackbox(children: Children, tmp: Path) -> tuple[Child, int]:
    port = free_port()
    config = write_yaml(tmp / "blackbox.yml", blackbox_config())
    child = children.start(
        "blackbox",
        [
            BLACKBOX_BIN,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )
    wait_for("blackbox_exporter", answers(f"http://127.0.0.1:{port}/metrics"), START_TIMEOUT, child)
    return child, port


def start_redline(children: Children, tmp: Path, urls: list[str]) -> tuple[Child, int]:
    port = free_port()
    config = write_yaml(tmp / "redline.yml", redline_config(urls))
    child = children.start(
        "redline",
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
        cwd=REPO,
    )
    wait_for("redline", answers(f"http://127.0.0.1:{port}/-/ready"), START_TIMEOUT, child)
    return child, port


def start_prometheus(children: Children, tmp: Path, name: str, config: dict) -> tuple[Child, int]:
    port = free_port()
    config_file = write_yaml(tmp / f"prometheus-{name}.yml", config)
    child = children.start(
        f"prometheus-{name}",
        [
            PROMETHEUS_BIN,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp / f'prometheus-{name}-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
    )
    wait_for("Prometheus", answers(f"http://127.0.0.1:{port}/-/ready"), START_TIMEOUT, child)
    return child, port


# --- one full scrape of every target, as the bench client ---------------------------------------


@dataclass
class Scrape:
    seconds: float  # wall time of the whole scrape
    ok: int  # probes that reported probe_success 1
    reasons: Counter[str] = field(default_factory=Counter)  # why the others failed


ScrapeFn = Callable[[aiohttp.ClientSession], Awaitable[Scrape]]
# The headers Prometheus 2.42 sends. The Accept header matters: redline then answers in
# OpenMetrics, as it does to the real Prometheus of the paced runs, and that format costs more
# to render than the classic text format. blackbox_exporter answers text whatever it is asked.
_HEADERS = {
    "X-Prometheus-Scrape-Timeout-Seconds": f"{SCRAPE_TIMEOUT:g}",
    "Accept": "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
}
_BLACKBOX_SUCCESS = re.compile(r"^probe_success 1$", re.MULTILINE)
# prometheus_client writes 1 as "1.0"; a reason series is 1 for the reason of a failed probe
_REDLINE_SUCCESS = re.compile(r"^probe_success\{[^}]*\} 1(?:\.0)?$", re.MULTILINE)
_REDLINE_REASON = re.compile(
    r'^redline_probe_failure_reason\{[^}]*reason="([^"]*)"[^}]*\} 1(?:\.0)?$', re.MULTILINE
)


def redline_scrape(port: int) -> ScrapeFn:
    """redline: one GET /metrics probes every configured target."""

    async def scrape(session: aiohttp.ClientSession) -> Scrape:
        start = time.perf_counter()
        async with session.get(f"http://127.0.0.1:{port}/metrics", headers=_HEADERS) as response:
            text = await response.text()
        seconds = time.perf_counter() - start
        if response.status != 200:
            raise HarnessError(f"redline /metrics answered {response.status}: {text[:500]}")
        ok = len(_REDLINE_SUCCESS.findall(text))
        return Scrape(seconds, ok, Counter(_REDLINE_REASON.findall(text)))

    return scrape


def blackbox_scrape(port: int, urls: list[str], concurrency: int) -> ScrapeFn:
    """blackbox: one GET /probe per target; a full scrape is all of them, ``concurrency`` at a
    time (Prometheus, too, scrapes many targets at once)."""
    base = f"http://127.0.0.1:{port}/probe"

    async def scrape(session: aiohttp.ClientSession) -> Scrape:
        gate = asyncio.Semaphore(concurrency)

        async def probe(url: str) -> bool:
            params = {"module": BLACKBOX_MODULE, "target": url}
            async with gate, session.get(base, params=params, headers=_HEADERS) as response:
                text = await response.text()
            return response.status == 200 and _BLACKBOX_SUCCESS.search(text) is not None

        start = time.perf_counter()
        results = await asyncio.gather(*(probe(u) for u in urls))
        seconds = time.perf_counter() - start
        ok = sum(results)
        return Scrape(
            seconds, ok, Counter({"failed": len(urls) - ok}) if ok < len(urls) else Counter()
        )

    return scrape


# --- measurements -----------------------------------------------------------------------------


async def _saturate(
    child: Child, scrape: ScrapeFn, opts: Options, tport: int, load: OtherLoad
) -> Saturated:
    # Keep-alive to the exporter, as Prometheus does; the timeout bounds a stuck scrape.
    timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT + 20)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await scrape(session)  # warm-up: imports, caches, first allocations are not measured
        hits_before = served_requests(tport)
        cpu_before = child.cpu_seconds()
        scrapes, rss = [], []
        with load:
            for _ in range(opts.rounds):
                scrapes.append(await scrape(session))
                rss.append(child.rss_bytes())
        cpu = child.cpu_seconds() - cpu_before
        reached = served_requests(tport) - hits_before
    return Saturated(
        cpu_ms_per_probe=cpu * 1000 / (opts.rounds * opts.targets),
        scrape_seconds=statistics.median(s.seconds for s in scrapes),
        rss_mb=max(rss) / 2**20,
        ok=scrapes[-1].ok,
        reached=reached,
        reasons=scrapes[-1].reasons,
        other_cores=load.cores,
        busiest=load.busiest,
    )


def saturated(
    child: Child, scrape: ScrapeFn, opts: Options, tport: int, children: Children
) -> Saturated:
    """Back-to-back full scrapes after one warm-up scrape."""
    return asyncio.run(_saturate(child, scrape, opts, tport, OtherLoad(children)))


def paced(
    children: Children,
    exporter: Child,
    prometheus: Child,
    prom_port: int,
    tport: int,
    opts: Options,
    job: str,
) -> Paced:
    """Let Prometheus drive the exporter for ``opts.window`` seconds after a warm-up, and
    divide the CPU each used by the probes that really reached a target meanwhile."""
    _watch(opts.warmup, exporter, prometheus)
    hits, cpu_e, cpu_p = served_requests(tport), exporter.cpu_seconds(), prometheus.cpu_seconds()
    with OtherLoad(children) as load:
        rss = _watch(opts.window, exporter, prometheus)
    probes = served_requests(tport) - hits
    cpu_e = exporter.cpu_seconds() - cpu_e
    cpu_p = prometheus.cpu_seconds() - cpu_p
    # Only for redline is one Prometheus scrape a full scrape of every target.
    slowest = f"max_over_time(scrape_duration_seconds{{job='{job}'}}[{opts.window:.0f}s])"
    return Paced(
        exporter_ms_per_probe=cpu_e * 1000 / probes if probes else None,
        prometheus_ms_per_probe=cpu_p * 1000 / probes if probes else None,
        probes=probes,
        expected=round(opts.window / opts.interval * opts.targets),
        up=prometheus_value(prom_port, "sum(probe_success)"),
        rss_peak_mb=max(rss) / 2**20,
        slowest_scrape=prometheus_value(prom_port, slowest) if job == "redline" else None,
        other_cores=load.cores,
        busiest=load.busiest,
    )


def _watch(seconds: float, exporter: Child, prometheus: Child) -> list[int]:
    """Wait ``seconds``, reading the exporter's resident memory every second (the peak comes
    and goes with each scrape) and noticing within a second when either child dies."""
    rss = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        prometheus.check_alive()
        rss.append(exporter.rss_bytes())
    return rss


def bare_client(children: Children, tmp: Path, urls: list[str], rounds: int) -> float:
    """CPU ms per fresh-connection GET of a bare aiohttp client (bench/baseline.py)."""
    urls_file = tmp / "urls.txt"
    urls_file.write_text("\n".join(urls))
    argv = [sys.executable, str(BENCH_DIR / "baseline.py"), "--urls-file", str(urls_file)]
    child = children.start("baseline", [*argv, "--rounds", str(rounds)])
    try:
        code = child.popen.wait(120)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"the bare-client baseline did not finish\n{child.log_tail()}") from None
    children.stop(child)
    if code != 0:
        raise HarnessError(f"the bare-client baseline failed\n{child.log_tail()}")
    result = json.loads(child.log.read_text().strip().splitlines()[-1])
    if result["ok"] != result["gets"]:
        raise HarnessError(f"the bare-client baseline had failed GETs: {result}")
    return float(result["ms_per_get"])


# --- the run ----------------------------------------------------------------------------------


def check_binaries() -> None:
    for binary in (BLACKBOX_BIN, PROMETHEUS_BIN):
        if not os.access(binary, os.X_OK):
            raise HarnessError(
                f"{binary} is missing: run `make system` (scripts/install-system.sh)"
            )


def step(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def run(opts: Options, tmp: Path, children: Children) -> Results:
    results = Results(opts.targets, opts.interval, opts.window, opts.rounds, opts.concurrency)
    targets, ports = start_targets(children, tmp, opts.ports)
    tport = ports[0]
    urls = target_urls(ports, opts.targets)

    step(f"bare aiohttp client: {opts.rounds} x {opts.targets} fresh-connection GETs")
    results.bare_ms = bare_client(children, tmp, urls, opts.rounds)

    step(f"blackbox_exporter saturated: {opts.rounds} full scrape(s)")
    blackbox, bport = start_blackbox(children, tmp)
    scrape = blackbox_scrape(bport, urls, opts.concurrency)
    results.blackbox_sat = saturated(blackbox, scrape, opts, tport, children)
    children.stop(blackbox)

    step(f"redline saturated: {opts.rounds} full scrape(s)")
    redline, rport = start_redline(children, tmp, urls)
    results.redline_sat = saturated(redline, redline_scrape(rport), opts, tport, children)
    children.stop(redline)

    paced_s = f"{opts.warmup:g} s warm-up + {opts.window:g} s window"
    step(f"blackbox_exporter + Prometheus paced: {paced_s}")
    blackbox, bport = start_blackbox(children, tmp)
    prom, pport = start_prometheus(
        children,
        tmp,
        "blackbox",
        prometheus_for_blackbox(f"127.0.0.1:{bport}", urls, opts.interval),
    )
    results.blackbox_paced = paced(children, blackbox, prom, pport, tport, opts, "blackbox")
    children.stop(prom)
    children.stop(blackbox)

    step(f"redline + Prometheus paced: {paced_s}")
    redline, rport = start_redline(children, tmp, urls)
    prom, pport = start_prometheus(
        children, tmp, "redline", prometheus_for_redline(f"127.0.0.1:{rport}", opts.interval)
    )
    results.redline_paced = paced(children, redline, prom, pport, tport, opts, "redline")
    children.stop(prom)
    children.stop(redline)

    targets.check_alive()
    return results


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
    raise KeyboardInterrupt  # unwinds like ctrl-C: children stopped, temp dir removed


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (e.g. from a
    # background job of a script), so the cleanup below always runs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    started = time.monotonic()
    try:
        check_binaries()
        remove_stale_dirs()
        with (
            tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmp,
            Children(Path(tmp)) as children,
        ):
            (Path(tmp) / "bench.pid").write_text(str(os.getpid()))
            results = run(opts, Path(tmp), children)
    except HarnessError as e:
        print(f"bench: harness failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; children stopped", file=sys.stderr)
        return 130
    text = render(results, machine_info(), time.monotonic() - started)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    # Markdown: a title, then the table as printed (a code block keeps its alignment).
    RESULTS.write_text(f"# redline bench\n\n```\n{text}```\n")
    step(f"written to {RESULTS.relative_to(REPO)}")
    return 0


def machine_info() -> str:
    def version(binary: str) -> str:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).split("\n", 1)[0]

    return (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}; {version(BLACKBOX_BIN)}; {version(PROMETHEUS_BIN)}"
    )


if __name__ == "__main__":
    sys.exit(main())
