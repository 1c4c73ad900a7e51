"""The host collectors by name (the ``host.collectors`` config values and the ``collector``
label). Explicit, one line per collector; each lives in its own file. Every entry makes a new
collector: the source makes each once and keeps it, with its state, across reloads."""

from __future__ import annotations

from collections.abc import Callable

from exporter.host import cpu, diskio, filesystem, memory, network, pressure, processes, system
from exporter.host.common import Collect, mark_on_loop
from exporter.host.config import CollectorName


def _stateless(collect: Collect) -> Callable[[], Collect]:
    return lambda: collect


def _on_loop(make: Callable[[], Collect]) -> Callable[[], Collect]:
    """A collector that only reads files the kernel generates from memory: the source runs it
    on the event loop (exporter/host/common.py ``mark_on_loop``)."""
    return lambda: mark_on_loop(make())


# The order they run in at every scrape: cheap /proc reads first, then the two that may wait
# on the kernel (statvfs of every mount, a walk over every process), so that a scrape deadline
# cuts as few collectors as possible. Those two say themselves when they may run on the event
# loop (filesystem: waiting for statvfs without blocking it; process groups: when none is
# configured); otherwise they run in the source's worker thread.
COLLECTORS: dict[CollectorName, Callable[[], Collect]] = {
    "cpu": _on_loop(cpu.CpuCollector),
    "memory": _on_loop(_stateless(memory.collect)),
    "system": _on_loop(_stateless(system.collect)),
    "pressure": _on_loop(_stateless(pressure.collect)),
    "diskio": _on_loop(diskio.DiskIOCollector),
    "network": _on_loop(network.NetworkCollector),
    "filesystem": filesystem.FilesystemCollector,
    "process_groups": processes.ProcessGroupsCollector,
}
