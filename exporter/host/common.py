"""What every host collector shares: the signature, the family builder and /proc helpers.

A collector is a plain synchronous callable; it returns the metric families of one run or
raises, and the source turns a raise into ``node_scrape_collector_success{collector} 0``. A
collector that keeps state between scrapes (the CPU counters' clamp, stuck mounts, process
groups) is a class whose instance lives as long as the source, so that state survives config
reloads. The source runs a collector in its worker thread unless the collector says it may run
on the event loop (:func:`runs_on_loop`; exporter/host/source.py says why and which).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client.metrics_core import Metric as Family

from exporter.families import Families as Families  # re-exported for the collectors
from exporter.host.config import HostConfig
from exporter.procfs import read_bytes as read_bytes  # re-exported for the collectors

PROC = Path("/proc")
# Jiffies per second of /proc/stat and /proc/PID/stat (USER_HZ, 100 on Linux).
CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK"))

Collect = Callable[[HostConfig], list[Family]]
# A collector's run that waits on the event loop instead of blocking (its ``collect_async``).
AsyncCollect = Callable[[HostConfig], Awaitable[list[Family]]]

# A collector's attribute saying whether the source may run it on the event loop: True, or a
# method taking the config (a collector that has nothing to wait on under some configs).
ON_LOOP = "on_loop"


def mark_on_loop(collect: Collect) -> Collect:
    """Marks a collector that only reads files the kernel generates from memory when they are
    read (/proc/stat, /proc/meminfo, ...) and computes: it never waits on a disk, a network or
    another process, so the source runs it on the event loop instead of handing it to its
    worker thread (two thread wake-ups per scrape, each up to a few hundred microseconds on a
    busy machine, for reads of tens of microseconds)."""
    setattr(collect, ON_LOOP, True)
    return collect


def runs_on_loop(collect: Collect, config: HostConfig) -> bool:
    """Whether the source may run ``collect`` on the event loop under ``config``."""
    mark = getattr(collect, ON_LOOP, False)
    return mark is True or (callable(mark) and mark(config) is True)


Counters = dict[str, tuple[int, ...]]


class Unwrap:
    """Counters kept from going back when a kernel counter wraps, as psutil's ``nowrap=True``
    does for its disk and network counters (psutil/_common.py ``_WrapNumbers``), reading the
    same files without psutil's objects around them: a value lower than the one before is taken
    for a wrap, and the value before is added to it and to every later value of that counter;
    a device that disappears forgets what was added to its counters, and a device seen for the
    first time is taken as it is. One per collector, made once (its state lives as long as the
    source); psutil keeps the same state for the whole process."""

    def __init__(self) -> None:
        self._last: Counters | None = None
        self._added: dict[str, list[int]] = {}

    def __call__(self, counters: Counters) -> Counters:
        last, self._last = self._last, counters
        if last is None:
            return counters
        for gone in last.keys() - counters.keys():
            self._added.pop(gone, None)
        out: Counters = {}
        for key, new in counters.items():
            old = last.get(key)
            if old is None:
                out[key] = new
                continue
            added = self._added.get(key)
            for i, value in enumerate(new):
                if value < old[i]:
                    if added is None:
                        added = self._added[key] = [0] * len(new)
                    added[i] += old[i]
            if added is not None:
                new = tuple(v + a for v, a in zip(new, added, strict=True))
            out[key] = new
        return out
