"""Section 1 of ``make bench``: redline's HTTP probes against blackbox_exporter (issue 2).

Both exporters probe the same 1,000 local HTTP targets (one separate process serves them all,
so its CPU counts against neither), one exporter at a time so they never compete for the cores:

1. bare aiohttp client, 1,000 fresh-connection GETs: the floor for any aiohttp-based probe, on
   each loop at the start, then (``Floor``) round by round in the minutes redline is measured;
2. saturated: back-to-back full scrapes of 1,000 targets (redline: one GET /metrics; blackbox:
   1,000 GET /probe, 100 at a time); CPU per probe, wall time of one scrape, resident memory;
3. paced: the exporter with a real Prometheus scraping it every 5 s for a fixed window
   (blackbox: 1,000 scrape targets; redline: one); CPU per probe of the exporter, of
   Prometheus, and of both together.

:func:`section` runs it and returns its rows of the table (bench/report.py builds them).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
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
from report import Paced, Results, Saturated, section_of
from table import Section, peer_version

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))  # redline's own choice of event loop, for the floor's
from exporter import eventloop  # noqa: E402

BLACKBOX_BIN = "/usr/bin/prometheus-blackbox-exporter"
PROMETHEUS_BIN = "/usr/bin/prometheus"
START_TIMEOUT = 30.0  # seconds a server gets to answer after start
SCRAPE_TIMEOUT = 10.0  # the X-Prometheus-Scrape-Timeout-Seconds of the bench's own scrapes
FLOOR_ROUNDS = 3  # bare-client rounds just before and just after redline's paced window
VERSIONS = {
    "blackbox_exporter": [BLACKBOX_BIN, "--version"],
    "prometheus": [PROMETHEUS_BIN, "--version"],
}


@dataclass(frozen=True)
class Options:
    targets: int = 1000
    ports: int = 10
    rounds: int = 5
    concurrency: int = 100
    interval: float = 5.0
    window: float = 60.0
    warmup: float = 10.0

    @classmethod
    def make(
        cls,
        quick: bool,
        *,
        targets: int = 1000,
        ports: int = 10,
        rounds: int | None = None,
        concurrency: int = 100,
        interval: float = 5.0,
        window: float | None = None,
    ) -> Options:
        """The defaults of a full run, or of ``--quick``; each bounded, so that every loop of
        the bench is bounded in time and in connections."""
        rounds = rounds if rounds is not None else (2 if quick else 5)
        window = window if window is not None else (20.0 if quick else 60.0)
        if not 1 <= targets <= 5000 or not 1 <= ports <= 100:
            raise ValueError("--targets 1..5000, --ports 1..100")
        if not 1 <= concurrency <= 1000 or not 2 <= interval <= 60:
            raise ValueError("--concurrency 1..1000, --interval 2..60")
        if not 1 <= rounds <= 20 or not 1 <= window <= 600:
            raise ValueError("--rounds 1..20, --window 1..600")
        # Prometheus spreads its targets over the interval: after two intervals every target
        # has been scraped at least once and the exporter is in its steady state.
        return cls(targets, ports, rounds, concurrency, interval, window, 2 * interval)


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
    child: Child,
    scrape: ScrapeFn,
    opts: Options,
    tport: int,
    load: OtherLoad,
    floor: Floor | None,
) -> Saturated:
    # Keep-alive to the exporter, as Prometheus does; the timeout bounds a stuck scrape.
    timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT + 20)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await scrape(session)  # warm-up: imports, caches, first allocations are not measured
        scrapes, rss, cpu_rounds, floor_rounds = [], [], [], []
        reached = 0  # the exporter's requests only, not the floor's, which the targets serve too
        with load:
            for _ in range(opts.rounds):
                hits_before, cpu_before = served_requests(tport), child.cpu_seconds()
                scrapes.append(await scrape(session))
                cpu_rounds.append(child.cpu_seconds() - cpu_before)
                reached += served_requests(tport) - hits_before
                rss.append(child.rss_bytes())
                if floor is not None:  # between two scrapes: the exporter is idle meanwhile
                    floor_rounds.append(floor.round())
    return Saturated(
        cpu_ms_per_probe=sum(cpu_rounds) * 1000 / (opts.rounds * opts.targets),
        round_ms_per_probe=[c * 1000 / opts.targets for c in cpu_rounds],
        floor_ms=statistics.median(floor_rounds) if floor_rounds else None,
        scrape_seconds=statistics.median(s.seconds for s in scrapes),
        rss_mb=max(rss) / 2**20,
        ok=scrapes[-1].ok,
        reached=reached,
        reasons=scrapes[-1].reasons,
        other_cores=load.cores,
        busiest=load.busiest,
    )


def saturated(
    child: Child, scrape: ScrapeFn, opts: Options, tport: int, floor: Floor | None = None
) -> Saturated:
    """Full scrapes one after the other after one warm-up scrape; with ``floor``, a round of
    the bare client between each two (its median is the floor of the ratio to it)."""
    return asyncio.run(_saturate(child, scrape, opts, tport, OtherLoad(), floor))


def paced(
    exporter: Child,
    prometheus: Child,
    prom_port: int,
    tport: int,
    opts: Options,
    job: str,
    floor: Floor | None = None,
) -> Paced:
    """Let Prometheus drive the exporter for ``opts.window`` seconds after a warm-up, and
    divide the CPU each used by the probes that really reached a target meanwhile. With
    ``floor``, rounds of the bare client just before and just after the window make the floor:
    not during it, since the target server counts the floor's GETs too and the window's count
    must be the exporter's probes alone. Prometheus keeps scraping meanwhile, so each round
    waits for a pause between two scrapes (:func:`_between_scrapes`): a round that shared the
    cores with a scrape read 0.70 ms where the saturated rounds of the same run read 0.40."""
    _watch(opts.warmup, exporter, prometheus)
    floor_rounds = _floor_rounds(floor, exporter, prometheus, opts.interval)
    hits, cpu_e, cpu_p = served_requests(tport), exporter.cpu_seconds(), prometheus.cpu_seconds()
    with OtherLoad() as load:
        rss = _watch(opts.window, exporter, prometheus)
    probes = served_requests(tport) - hits
    cpu_e = exporter.cpu_seconds() - cpu_e
    cpu_p = prometheus.cpu_seconds() - cpu_p
    floor_rounds += _floor_rounds(floor, exporter, prometheus, opts.interval)
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
        floor_ms=statistics.median(floor_rounds) if floor_rounds else None,
    )


def _floor_rounds(
    floor: Floor | None, exporter: Child, prometheus: Child, interval: float
) -> list[float]:
    """``FLOOR_ROUNDS`` rounds of the floor, each started in a pause between two of the
    exporter's scrapes."""
    if floor is None:
        return []
    rounds = []
    for _ in range(FLOOR_ROUNDS):
        _between_scrapes(exporter, prometheus, interval)
        rounds.append(floor.round())
    return rounds


QUIET_FOR = 0.3  # seconds without CPU in the exporter and in Prometheus: a scrape is over


def _between_scrapes(exporter: Child, prometheus: Child, interval: float) -> None:
    """Return just after one of the exporter's scrapes, and Prometheus's ingestion of it, is
    over: wait for the exporter to use CPU (a scrape), then for neither to use any for
    ``QUIET_FOR`` seconds. The next scrape is then most of an interval away, time enough for a
    round (half a second at 1,000 targets); a quiet spell alone could be the end of the pause,
    just before the next scrape. At most two intervals for each step: a machine that never
    settles gets its round anyway, and the table's other-load warning says why its figures are
    off."""
    end = time.monotonic() + 2 * interval
    start = exporter.cpu_seconds()
    while time.monotonic() < end and exporter.cpu_seconds() == start:
        time.sleep(0.02)
    end = time.monotonic() + 2 * interval
    last = (exporter.cpu_seconds(), prometheus.cpu_seconds())
    quiet_since = time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.05)
        now = (exporter.cpu_seconds(), prometheus.cpu_seconds())
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_FOR:
            return


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


def baseline_argv(tmp: Path, urls: list[str]) -> list[str]:
    """The command line of bench/baseline.py on ``urls``, written to a file in ``tmp`` (1,000
    URLs would make a long argument list); its loop and mode are for the caller to add."""
    urls_file = tmp / "urls.txt"
    urls_file.write_text("\n".join(urls))
    return [sys.executable, str(BENCH_DIR / "baseline.py"), "--urls-file", str(urls_file)]


def bare_client(children: Children, tmp: Path, urls: list[str], rounds: int, loop: str) -> float:
    """CPU ms per fresh-connection GET of a bare aiohttp client (bench/baseline.py) on the
    event loop ``loop``."""
    argv = baseline_argv(tmp, urls)
    child = children.start(f"baseline-{loop}", [*argv, "--rounds", str(rounds), "--loop", loop])
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


class Floor:
    """The bare client (bench/baseline.py ``--serve``) kept running, making one round of
    fresh-connection GETs whenever asked: the floor is taken round by round between redline's
    own measurements, so that both see the same minutes of the machine (taken once, minutes
    before redline's, the floor alone moved from 0.34 to 0.60 ms between runs)."""

    ROUND_TIMEOUT = 120.0

    def __init__(self, children: Children, tmp: Path, urls: list[str], loop: str) -> None:
        argv = baseline_argv(tmp, urls)
        self.child = children.start(f"floor-{loop}", [*argv, "--loop", loop, "--serve"], pipes=True)
        self._read()  # {"ready": true} after its warm-up round

    def round(self) -> float:
        """One round; its CPU ms per GET."""
        stdin = self.child.popen.stdin
        assert stdin is not None
        try:
            stdin.write(b"round\n")
            stdin.flush()
        except BrokenPipeError:  # it is gone: say which child, and its log, not just EPIPE
            self.child.check_alive()
            raise HarnessError(
                f"the bare-client floor closed its input\n{self.child.log_tail()}"
            ) from None
        result = self._read()
        if result["ok"] != result["gets"]:
            raise HarnessError(f"the bare-client floor had failed GETs: {result}")
        return float(result["ms_per_get"])

    def _read(self) -> dict[str, Any]:
        out = self.child.popen.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], self.ROUND_TIMEOUT)
        line = out.readline() if ready else b""
        if not line:
            self.child.check_alive()
            raise HarnessError(f"the bare-client floor did not answer\n{self.child.log_tail()}")
        return dict(json.loads(line))


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

    # The bare client alone, on the loop redline runs on (uvloop when REDLINE_EVENT_LOOP asks
    # for it) and on asyncio's own, to show what the choice of loop gives; issue 19's rows take
    # their floor later, in the same minutes as redline's figures (Floor).
    results.loop = eventloop.name()
    for loop in dict.fromkeys((results.loop, "asyncio")):
        step(f"bare aiohttp client on {loop}: {opts.rounds} x {opts.targets} fresh-connection GETs")
        results.bare_ms_by_loop[loop] = bare_client(children, tmp, urls, opts.rounds, loop)

    step(f"blackbox_exporter saturated: {opts.rounds} full scrape(s)")
    blackbox, bport = start_blackbox(children, tmp)
    scrape = blackbox_scrape(bport, urls, opts.concurrency)
    results.blackbox_sat = saturated(blackbox, scrape, opts, tport)
    children.stop(blackbox)

    step(f"redline saturated: {opts.rounds} full scrape(s), a bare-client round after each")
    floor = Floor(children, tmp, urls, results.loop)
    redline, rport = start_redline(children, tmp, urls)
    results.redline_sat = saturated(redline, redline_scrape(rport), opts, tport, floor)
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
    results.blackbox_paced = paced(blackbox, prom, pport, tport, opts, "blackbox")
    children.stop(prom)
    children.stop(blackbox)

    step(f"redline + Prometheus paced: {paced_s}")
    redline, rport = start_redline(children, tmp, urls)
    prom, pport = start_prometheus(
        children, tmp, "redline", prometheus_for_redline(f"127.0.0.1:{rport}", opts.interval)
    )
    results.redline_paced = paced(redline, prom, pport, tport, opts, "redline", floor)
    children.stop(prom)
    children.stop(redline)
    children.stop(floor.child)

    targets.check_alive()
    return results


def section(opts: Options, tmp: Path, children: Children) -> Section:
    """Run the whole comparison; its rows of the table."""
    check_binaries()
    out = section_of(run(opts, tmp, children))
    out.title = f"HTTP probes vs {peer_version(VERSIONS['blackbox_exporter'])} (issue 2)"
    return out
