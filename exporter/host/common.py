"""What every host collector shares: the signature, the family builder and /proc helpers.

A collector is a plain synchronous callable run in a worker thread by the source (psutil calls
and /proc reads block); it returns the metric families of one run or raises, and the source
turns a raise into ``node_scrape_collector_success{collector} 0``. A collector that keeps state
between scrapes (the CPU counters' clamp, stuck mounts, process groups) is a class whose
instance lives as long as the source, so that state survives config reloads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from prometheus_client.metrics_core import Metric as Family

from exporter.families import Families as Families  # re-exported for the collectors
from exporter.host.config import HostConfig

PROC = Path("/proc")
# Jiffies per second of /proc/stat and /proc/PID/stat (USER_HZ, 100 on Linux).
CLOCK_TICKS = float(os.sysconf("SC_CLK_TCK"))

Collect = Callable[[HostConfig], list[Family]]


def read_text(path: Path) -> str:
    """A /proc or /sys file in one read (they are generated whole on open)."""
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()
