"""History with known shapes for the ops commands' tests (tests/test_ops_*.py), loaded into the
real Prometheus: OpenMetrics text written here is turned into TSDB blocks by ``promtool tsdb
create-blocks-from openmetrics`` in Prometheus's data directory before it starts (retention 10
years, so the 2025 blocks are kept).

Three data sets, on separate days so their blocks never overlap:

- capacity, 2025-08-20 to 2025-08-30 every 10 min: a filesystem filling at exactly 1 GiB a day
  (with a 12-hour gap), a database growing 0.5 GiB a day, flat connections, memory rising 0.2 GiB
  a day, CPU and request counters with a reset each, request rate rising 1 req/s a day;
- baseline, 2025-09-14 every minute: probe durations with known quantiles, an outage of 36
  minutes, a request-latency histogram whose quantiles fall on bucket bounds, 2% 5xx, request
  rate (h+1) x 100 per minute in hour h, a host at 75% CPU;
- postmortem, 2025-10-14 02:00 to 05:00 every 30 s: agent-service failing 02:30:00-02:52:00 and
  the ALERTS / ALERTS_FOR_STATE series Prometheus would have written for it.

The truths the tests check are the module constants below.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exporter.demo.servers import Prometheus

GIB = 1024**3
DAY = 86400


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


# --- capacity -------------------------------------------------------------------------------------
CAP_START = ts("2025-08-20T00:00:00Z")
CAP_END = CAP_START + 10 * DAY
CAP_STEP = 600
DISK_SIZE = 100 * GIB
DISK_USED_START = 50 * GIB  # + 1 GiB a day: 60 GiB at the end, full 40 days later
DISK_GAP = (CAP_START + 3 * DAY, CAP_START + 3.5 * DAY)
DB_START = 2 * GIB  # + 0.5 GiB a day: 7 GiB at the end
MEM_TOTAL = 16 * GIB
MEM_USED_START = 4 * GIB  # + 0.2 GiB a day: 6 GiB at the end
CPUS = 4
CPU_BUSY = 1.0  # cores
GROUP_CPU = 0.5  # cores
GROUP_MEMORY = 1 * GIB
REQ_RATE_START = 10.0  # req/s, + 1 req/s a day: 20 at the end

# --- baseline -------------------------------------------------------------------------------------
BASE_START = ts("2025-09-14T00:00:00Z")
BASE_END = BASE_START + DAY
BASE_MINUTES = 1440
OUTAGE = range(600, 636)  # minutes (samples) of hotdash-app/health failing: 36 of 1440
BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 10.0)
# cumulative requests per bucket per 100: p50 = 0.1, p95 = 0.5, p99 = 1.0 exactly
API_CUMULATIVE = (10, 20, 50, 70, 95, 97, 99, 100, 100, 100, 100)
# agent-service's queue route: 2% slower than the largest bucket, so its p99 is +Inf
QUEUE_CUMULATIVE = (0, 0, 10, 60, 90, 95, 96, 97, 97, 98, 98)


def health_duration(k: int) -> float:
    """hotdash-app/health: 10 ms + 0.2 ms x i for i = 0..1439, in a shuffled order."""
    return 0.010 + ((7 * k) % BASE_MINUTES) * 0.0002


def page_duration(k: int) -> float:
    """hotdash-app/page: 850 ms to 950 ms, shuffled."""
    return 0.85 + 0.1 * ((7 * k) % BASE_MINUTES) / (BASE_MINUTES - 1)


def agent_duration(k: int) -> float:
    """agent-service/health: 15 to 25 ms."""
    return 0.015 + (k % 11) * 0.001


def quantile(values: list[float], q: float) -> float:
    """quantile_over_time's definition: linear between order statistics, rank q x (n - 1)."""
    s = sorted(values)
    rank = q * (len(s) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (rank - lo)


# --- postmortem ----------------------------------------------------------------------------------
PM_START = ts("2025-10-14T02:00:00Z")
PM_END = ts("2025-10-14T05:00:00Z")
PM_FAIL = (ts("2025-10-14T02:30:00Z"), ts("2025-10-14T02:52:00Z"))  # probe_success 0 in [a, b)
DOWN_PENDING = ts("2025-10-14T02:30:30Z")
DOWN_FIRING = ts("2025-10-14T02:32:30Z")
DOWN_LAST = ts("2025-10-14T02:51:30Z")  # last evaluation firing; resolved at 02:52:00
LATENCY_PENDING = (ts("2025-10-14T02:10:00Z"), ts("2025-10-14T02:20:00Z"))
BURN_PENDING = ts("2025-10-14T02:40:00Z")
BURN_FIRING = ts("2025-10-14T02:42:00Z")
BURN_LAST = ts("2025-10-14T02:58:00Z")
# a planned window of agent-service that the outage overran: 10 of its 22 failing minutes
MAINTENANCE = (ts("2025-10-14T02:20:00Z"), ts("2025-10-14T02:40:00Z"))


# --- OpenMetrics --------------------------------------------------------------------------------


class History:
    """Samples by family and series, written as OpenMetrics text."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.samples: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(
            lambda: defaultdict(list)
        )

    def add(self, family: str, kind: str, name: str, labels: dict[str, str], t: float, v: float):
        self.types[family] = kind
        body = ",".join(f'{k}="{val}"' for k, val in labels.items())
        self.samples[family][f"{name}{{{body}}}"].append((t, v))

    def gauge(self, name: str, labels: dict[str, str], t: float, v: float) -> None:
        self.add(name, "gauge", name, labels, t, v)

    def counter(self, name: str, labels: dict[str, str], t: float, v: float) -> None:
        family = name.removesuffix("_total")
        self.add(family, "counter", f"{family}_total", labels, t, v)

    def histogram(
        self,
        name: str,
        labels: dict[str, str],
        t: float,
        cumulative: dict[str, float],
        total: float,
    ) -> None:
        for le, v in cumulative.items():
            self.add(name, "histogram", f"{name}_bucket", {**labels, "le": le}, t, v)
        self.add(name, "histogram", f"{name}_count", labels, t, total)
        self.add(name, "histogram", f"{name}_sum", labels, t, 0.0)

    def backfill(self, data_dir: Path, work: Path, chunk: int = DAY) -> None:
        """Write one OpenMetrics file per day and turn each into one block with promtool, in
        parallel (blocks are aligned to their duration, so no block spans two files)."""
        chunks: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for family, series in self.samples.items():
            for name, points in series.items():
                for t, v in points:
                    chunks[int(t // chunk)][family].append(f"{name} {v!r} {t:.3f}")
        procs = []
        for index, families in sorted(chunks.items()):
            lines = []
            for family, samples in families.items():
                lines += [f"# TYPE {family} {self.types[family]}", *samples]
            path = work / f"chunk-{index}.om"
            path.write_text("\n".join([*lines, "# EOF"]) + "\n")
            procs.append(
                subprocess.Popen(
                    # a day per block (not the default 2 h): 13 blocks instead of 130
                    [
                        "promtool",
                        "tsdb",
                        "create-blocks-from",
                        "openmetrics",
                        "-q",
                        "--max-block-duration=24h",
                        str(path),
                        str(data_dir),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            )
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0, out.decode(errors="replace")


def capacity_history(h: History) -> None:
    fs = {"instance": "h1", "device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/data"}
    tmpfs = {"instance": "h1", "device": "tmpfs", "fstype": "tmpfs", "mountpoint": "/run"}
    pg = {"instance": "h1", "database": "supabase"}
    t = CAP_START
    # restarts just after a sample: the counters start again from 0, nothing is lost
    reset_cpu, reset_req = CAP_START + 5 * DAY, CAP_START + 6 * DAY
    while t <= CAP_END:
        d = (t - CAP_START) / DAY
        if not DISK_GAP[0] <= t < DISK_GAP[1]:
            h.gauge("node_filesystem_size_bytes", fs, t, DISK_SIZE)
            h.gauge("node_filesystem_avail_bytes", fs, t, DISK_SIZE - DISK_USED_START - d * GIB)
        h.gauge("node_filesystem_size_bytes", tmpfs, t, GIB)
        h.gauge("node_filesystem_avail_bytes", tmpfs, t, GIB / 2)
        h.gauge("pg_database_size_bytes", {**pg, "datname": "postgres"}, t, DB_START + d * GIB / 2)
        h.gauge("pg_stat_activity_count", {**pg, "state": "active", "wait_event_type": ""}, t, 10)
        h.gauge("pg_stat_activity_count", {**pg, "state": "idle", "wait_event_type": ""}, t, 30)
        h.gauge("pg_settings_max_connections", pg, t, 100)
        h.gauge("pg_settings_superuser_reserved_connections", pg, t, 3)
        h.gauge("node_memory_MemTotal_bytes", {"instance": "h1"}, t, MEM_TOTAL)
        h.gauge(
            "node_memory_MemAvailable_bytes",
            {"instance": "h1"},
            t,
            MEM_TOTAL - MEM_USED_START - 0.2 * d * GIB,
        )
        since = t - (reset_cpu if t > reset_cpu else CAP_START - DAY)
        for cpu in range(CPUS):
            labels = {"instance": "h1", "cpu": str(cpu), "mode": "idle"}
            h.counter("node_cpu_seconds_total", labels, t, since * (CPUS - CPU_BUSY) / CPUS)
        group = {"instance": "h1", "group": "sidekiq"}
        h.counter("redline_process_group_cpu_seconds_total", group, t, (t - CAP_START) * GROUP_CPU)
        h.gauge("redline_process_group_resident_memory_bytes", group, t, GROUP_MEMORY)

        # requests: rate 10 + 1/day req/s, so the counter is its integral (restarted at a reset)
        def served(x: float) -> float:
            days = (x - CAP_START) / DAY
            return REQ_RATE_START * (x - CAP_START) + DAY * days * days / 2

        count = served(t) - (served(reset_req) if t > reset_req else 0.0)
        labels = {
            "instance": "h1",
            "service": "hotdash-app",
            "route": "api",
            "method": "GET",
            "code_class": "2xx",
        }
        h.counter("redline_http_requests_total", labels, t, count)

        # where the shop runs (as the platform jobs store them): a Fly volume of 10 GiB filling
        # 1% a day from half full; Supabase's /data of 8 GiB filling 0.25 GiB a day from 3 GiB,
        # 30 connections of 60; a Fly machine of 1 GiB using a flat 600 MiB
        vol = {"app": "hotdash-chatwoot", "region": "ord", "host": "ab12", "id": "vol_1"}
        h.gauge("fly_volume_size_bytes", vol, t, 10 * GIB)
        h.gauge("fly_volume_used_pct", vol, t, 50 + d)
        supa = {"supabase_project_ref": "ref", "service_type": "db", "service": "database"}
        data = {**supa, "device": "/dev/nvme1n1", "fstype": "ext4", "mountpoint": "/data"}
        h.gauge("supabase_node_filesystem_size_bytes", data, t, 8 * GIB)
        h.gauge("supabase_node_filesystem_avail_bytes", data, t, 5 * GIB - d * GIB / 4)
        pgs = {**supa, "service_type": "postgresql", "server": "localhost:5432"}
        h.gauge("supabase_pg_stat_database_num_backends", pgs, t, 30)
        h.gauge("supabase_pg_settings_max_connections", pgs, t, 60)
        machine = {"app": "hotdash-chatwoot", "instance": "e784079b449483", "region": "ord"}
        h.gauge("fly_instance_memory_mem_total", machine, t, GIB)
        h.gauge("fly_instance_memory_mem_available", machine, t, GIB - 600 * 1024 * 1024)
        t += CAP_STEP


def baseline_history(h: History) -> None:
    inst = {"instance": "redline:9877", "job": "redline"}
    app_health = {**inst, "service": "hotdash-app", "probe": "health"}
    app_page = {**inst, "service": "hotdash-app", "probe": "page"}
    agent = {**inst, "service": "agent-service", "probe": "health"}
    api_total = queue_total = 0.0
    api_cum = [0.0] * len(BUCKETS)
    queue_cum = [0.0] * len(BUCKETS)
    classes = {"2xx": 0.0, "4xx": 0.0, "5xx": 0.0}
    idle = 0.0
    for k in range(1, BASE_MINUTES + 1):
        t = BASE_START + 60 * k
        hour = datetime.fromtimestamp(t - 60, UTC).hour
        h.gauge("probe_success", app_health, t, 0.0 if k in OUTAGE else 1.0)
        h.gauge("probe_duration_seconds", app_health, t, health_duration(k))
        for phase, value in (
            ("resolve", 0.001),
            ("connect", 0.004),
            ("processing", 0.02),
            ("transfer", 0.0005),
        ):
            h.gauge("probe_http_duration_seconds", {**app_health, "phase": phase}, t, value)
        h.gauge("probe_success", app_page, t, 1.0)
        h.gauge("probe_duration_seconds", app_page, t, page_duration(k))
        h.gauge("probe_success", agent, t, 1.0)
        h.gauge("probe_duration_seconds", agent, t, agent_duration(k))
        # requests: 100 x (hour + 1) a minute for hotdash-app's api, 50 for agent-service's queue
        scale = hour + 1
        for i, c in enumerate(API_CUMULATIVE):
            api_cum[i] += c * scale
        api_total += 100 * scale
        for i, c in enumerate(QUEUE_CUMULATIVE):
            queue_cum[i] += c / 2
        queue_total += 50
        app_route = {**inst, "service": "hotdash-app", "route": "api"}
        queue_route = {**inst, "service": "agent-service", "route": "queue"}
        name = "redline_http_request_duration_seconds"
        h.histogram(name, app_route, t, {**_les(api_cum), "+Inf": api_total}, api_total)
        h.histogram(name, queue_route, t, {**_les(queue_cum), "+Inf": queue_total}, queue_total)
        classes["2xx"] += 96 * scale
        classes["4xx"] += 2 * scale
        classes["5xx"] += 2 * scale
        for code_class, value in classes.items():
            labels = {**app_route, "method": "GET", "code_class": code_class}
            h.counter("redline_http_requests_total", labels, t, value)
        h.counter(
            "redline_http_requests_total",
            {**queue_route, "method": "POST", "code_class": "2xx"},
            t,
            queue_total,
        )
        idle += 60 * 0.25
        for cpu in ("0", "1"):
            labels = {"instance": "h1", "cpu": cpu, "mode": "idle"}
            h.counter("node_cpu_seconds_total", labels, t, 1e6 + idle)
        h.gauge("node_memory_MemTotal_bytes", {"instance": "h1"}, t, 16 * GIB)
        h.gauge("node_memory_MemAvailable_bytes", {"instance": "h1"}, t, 8 * GIB)


def _les(cumulative: list[float]) -> dict[str, float]:
    return {repr(b): v for b, v in zip(BUCKETS, cumulative, strict=True)}


def postmortem_history(h: History) -> None:
    inst = {"instance": "redline:9877", "job": "redline"}
    down = {
        "alertname": "ServiceDown",
        "instance": "redline:9877",
        "job": "redline",
        "probe": "health",
        "service": "agent-service",
        "severity": "page",
    }
    latency = {
        "alertname": "ServiceLatencyHigh",
        "instance": "redline:9877",
        "job": "redline",
        "probe": "health",
        "service": "hotdash-app",
        "severity": "ticket",
    }
    burn = {
        "alertname": "SLOErrorBudgetBurn",
        "service": "agent-service",
        "severity": "page",
        "slo": "agent-service-availability",
    }
    t = PM_START + 30
    while t <= PM_END:
        failing = PM_FAIL[0] <= t < PM_FAIL[1]
        h.gauge(
            "probe_success",
            {**inst, "service": "agent-service", "probe": "health"},
            t,
            0.0 if failing else 1.0,
        )
        for probe in ("health", "page"):
            h.gauge("probe_success", {**inst, "service": "hotdash-app", "probe": probe}, t, 1.0)
        planned = {**inst, "window": "agent-upgrade", "service": "agent-service"}
        open_ = MAINTENANCE[0] <= t < MAINTENANCE[1]
        h.gauge("redline_maintenance_window", planned, t, 1.0 if open_ else 0.0)
        if DOWN_PENDING <= t < DOWN_FIRING:
            h.gauge("ALERTS", {**down, "alertstate": "pending"}, t, 1.0)
        if DOWN_FIRING <= t <= DOWN_LAST:
            h.gauge("ALERTS", {**down, "alertstate": "firing"}, t, 1.0)
        if DOWN_PENDING <= t <= DOWN_LAST:
            h.gauge("ALERTS_FOR_STATE", down, t, DOWN_PENDING)
        if LATENCY_PENDING[0] <= t <= LATENCY_PENDING[1]:
            h.gauge("ALERTS", {**latency, "alertstate": "pending"}, t, 1.0)
            h.gauge("ALERTS_FOR_STATE", latency, t, LATENCY_PENDING[0])
        if BURN_PENDING <= t < BURN_FIRING:
            h.gauge("ALERTS", {**burn, "alertstate": "pending"}, t, 1.0)
        if BURN_FIRING <= t <= BURN_LAST:
            h.gauge("ALERTS", {**burn, "alertstate": "firing"}, t, 1.0)
        if BURN_PENDING <= t <= BURN_LAST:
            h.gauge("ALERTS_FOR_STATE", burn, t, BURN_PENDING)
        t += 30


@pytest.fixture(scope="session")
def history_prom() -> Iterator[Prometheus]:
    """The real Prometheus holding the three data sets (started once per test session)."""
    with tempfile.TemporaryDirectory(prefix="redline-ops-") as tmp:
        work = Path(tmp)
        history = History()
        capacity_history(history)
        baseline_history(history)
        postmortem_history(history)
        (work / "prom" / "data").mkdir(parents=True)
        history.backfill(work / "prom" / "data", work)
        config = "global: {scrape_interval: 15s, evaluation_interval: 15s}\n"
        # the admin API: tests/test_ops_victoriametrics.py takes a snapshot of the history
        with Prometheus(
            work / "prom",
            config,
            extra_args=("--storage.tsdb.retention.time=10y", "--web.enable-admin-api"),
        ) as prom:
            yield prom


def main() -> None:
    """``python -m tests.ops_history [PORT]``: serve the three data sets from a real Prometheus
    until Ctrl-C, to try the commands by hand (docs/operations.md shows their output)."""
    import signal
    import sys
    import time

    # SIGTERM (kill, a background job) ends it like Ctrl-C: Prometheus is stopped and the
    # temporary directory removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 19090
    with tempfile.TemporaryDirectory(prefix="redline-ops-") as tmp:
        work = Path(tmp)
        history = History()
        capacity_history(history)
        baseline_history(history)
        postmortem_history(history)
        (work / "prom" / "data").mkdir(parents=True)
        history.backfill(work / "prom" / "data", work)
        with Prometheus(
            work / "prom",
            "global: {scrape_interval: 15s}\n",
            port=port,
            extra_args=("--storage.tsdb.retention.time=10y",),
        ) as prom:
            print(f"Prometheus with the test history at {prom.url}; Ctrl-C stops it", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
