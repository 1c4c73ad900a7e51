"""The host collectors by name (the ``host.collectors`` config values and the ``collector``
label). Explicit, one line per collector; each lives in its own file. Every entry makes a new
collector: the source makes each once and keeps it, with its state, across reloads."""

from __future__ import annotations

from collections.abc import Callable

from exporter.host import cpu, diskio, filesystem, memory, network, pressure, processes, system
from exporter.host.common import Collect
from exporter.host.config import CollectorName


def _stateless(collect: Collect) -> Callable[[], Collect]:
    return lambda: collect


# The order they run in at every scrape: cheap /proc reads first, then the two that may wait
# on the kernel (statvfs of every mount, a walk over every process), so that a scrape deadline
# cuts as few collectors as possible.
COLLECTORS: dict[CollectorName, Callable[[], Collect]] = {
    "cpu": cpu.CpuCollector,
    "memory": _stateless(memory.collect),
    "system": _stateless(system.collect),
    "pressure": _stateless(pressure.collect),
    "diskio": _stateless(diskio.collect),
    "network": _stateless(network.collect),
    "filesystem": filesystem.FilesystemCollector,
    "process_groups": processes.ProcessGroupsCollector,
}
