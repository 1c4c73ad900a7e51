"""The exporter's own behaviour: the only global metric objects in redline (docs/architecture.md).
Data about monitored things is built fresh per scrape in exporter/collector.py instead."""

from __future__ import annotations

import asyncio
import os
import platform

import prometheus_client
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import Metric

from exporter import __version__
from exporter import metrics as m
from exporter.procfs import read_bytes

# _created series add a series per counter that no dashboard or rule here uses
prometheus_client.disable_created_metrics()


# (family name, HELP, type, sample name, value) of one process metric
Reading = tuple[str, str, str, str, float]


class _ProcessCollector(ProcessCollector):
    """prometheus-client's process collector, the same families from the same files, read
    through file descriptors kept open (exporter/procfs.py ``read_bytes``) instead of a Python
    file object opened, iterated and closed per file at every scrape; the renderer writes its
    :meth:`readings` straight to text (exporter/collector.py ``registry_text``). It was a
    third of the exporter's own metrics' cost (docs/performance.md)."""

    def readings(self) -> list[Reading] | None:
        """What :meth:`collect` reports, in its order; None where prometheus-client's own
        collector must read (another process, another /proc)."""
        if not self._btime or self._proc != "/proc" or str(self._pid()) != "self":
            return None
        out: list[Reading] = []
        p = self._prefix
        try:
            parts = read_bytes("/proc/self/stat").split(b")")[-1].split()
            start = float(parts[19]) / self._ticks + self._btime
            cpu = float(parts[11]) / self._ticks + float(parts[12]) / self._ticks
            out += [
                (
                    f"{p}virtual_memory_bytes",
                    "Virtual memory size in bytes.",
                    "gauge",
                    f"{p}virtual_memory_bytes",
                    float(parts[20]),
                ),
                (
                    f"{p}resident_memory_bytes",
                    "Resident memory size in bytes.",
                    "gauge",
                    f"{p}resident_memory_bytes",
                    float(parts[21]) * self._pagesize,
                ),
                (
                    f"{p}start_time_seconds",
                    "Start time of the process since unix epoch in seconds.",
                    "gauge",
                    f"{p}start_time_seconds",
                    start,
                ),
                (
                    f"{p}cpu_seconds",  # a counter family is named without _total
                    "Total user and system CPU time spent in seconds.",
                    "counter",
                    f"{p}cpu_seconds_total",
                    cpu,
                ),
            ]
        except OSError:
            pass
        try:
            limits = read_bytes("/proc/self/limits")
            max_fds: list[Reading] = [
                (
                    f"{p}max_fds",
                    "Maximum number of open file descriptors.",
                    "gauge",
                    f"{p}max_fds",
                    float(line.split()[3]),
                )
                for line in limits.splitlines()
                if line.startswith(b"Max open file")
            ][:1]
            open_fds = float(len(os.listdir("/proc/self/fd")))
            name = f"{p}open_fds"
            out += [(name, "Number of open file descriptors.", "gauge", name, open_fds)]
            out += max_fds
        except OSError:
            pass
        return out

    def collect(self) -> list[Metric]:
        readings = self.readings()
        if readings is None:
            return list(super().collect())
        result: list[Metric] = []
        for name, documentation, kind, sample, value in readings:
            family = Metric(name, documentation, kind)
            family.add_sample(sample, {}, value)
            result.append(family)
        return result


REGISTRY = CollectorRegistry(auto_describe=True)
# process_* (CPU, memory, open fds of the exporter itself) and python_info, as every exporter has
_ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

SCRAPE_DURATION = Histogram(
    m.SCRAPE_DURATION.name,
    m.SCRAPE_DURATION.help,
    m.SCRAPE_DURATION.labels,
    buckets=m.SCRAPE_DURATION_BUCKETS,
    registry=REGISTRY,
)
PROBE_ERRORS = Counter(
    m.PROBE_ERRORS.name, m.PROBE_ERRORS.help, m.PROBE_ERRORS.labels, registry=REGISTRY
)
PROBE_RUNS = Counter(m.PROBE_RUNS.name, m.PROBE_RUNS.help, m.PROBE_RUNS.labels, registry=REGISTRY)
CONFIG_RELOAD_SUCCESS = Gauge(
    m.CONFIG_RELOAD_SUCCESS.name, m.CONFIG_RELOAD_SUCCESS.help, registry=REGISTRY
)
CONFIG_RELOAD_TIMESTAMP = Gauge(
    m.CONFIG_RELOAD_TIMESTAMP.name, m.CONFIG_RELOAD_TIMESTAMP.help, registry=REGISTRY
)
CONFIG_TARGETS = Gauge(
    m.CONFIG_TARGETS.name, m.CONFIG_TARGETS.help, m.CONFIG_TARGETS.labels, registry=REGISTRY
)
WEB_AUTH_FAILURES = Counter(
    m.WEB_AUTH_FAILURES.name,
    m.WEB_AUTH_FAILURES.help,
    m.WEB_AUTH_FAILURES.labels,
    registry=REGISTRY,
)
SHARD_INFO = Gauge(m.SHARD_INFO.name, m.SHARD_INFO.help, m.SHARD_INFO.labels, registry=REGISTRY)
SHARD_COUNT = Gauge(m.SHARD_COUNT.name, m.SHARD_COUNT.help, registry=REGISTRY)
BUILD_INFO = Gauge(m.BUILD_INFO.name, m.BUILD_INFO.help, m.BUILD_INFO.labels, registry=REGISTRY)
BUILD_INFO.labels(__version__, platform.python_version()).set(1)
ASYNCIO_TASKS = Gauge(m.ASYNCIO_TASKS.name, m.ASYNCIO_TASKS.help, registry=REGISTRY)


def _asyncio_tasks() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # no running loop: the registry is read outside the exporter
        return float("nan")


ASYNCIO_TASKS.set_function(_asyncio_tasks)
