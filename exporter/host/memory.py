"""Memory and swap from /proc/meminfo.

Read directly rather than through psutil.virtual_memory(): psutil's ``cached`` adds
SReclaimable to Cached, while node_exporter's node_memory_Cached_bytes is the kernel's Cached
field alone; dashboards built for node_exporter expect the latter.
"""

from __future__ import annotations

import re

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import PROC, Families, read_text
from exporter.host.config import HostConfig

FIELDS: dict[str, m.Metric] = {
    "MemTotal": m.NODE_MEMORY_MEMTOTAL,
    "MemFree": m.NODE_MEMORY_MEMFREE,
    "MemAvailable": m.NODE_MEMORY_MEMAVAILABLE,  # absent before Linux 3.14
    "Buffers": m.NODE_MEMORY_BUFFERS,
    "Cached": m.NODE_MEMORY_CACHED,
    "SwapTotal": m.NODE_MEMORY_SWAPTOTAL,
    "SwapFree": m.NODE_MEMORY_SWAPFREE,
}


def parse_meminfo(text: str) -> dict[str, float]:
    """Field -> bytes ("MemTotal:  16318412 kB"; the kernel's "kB" means KiB)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        value = float(parts[0])
        out[key] = value * 1024 if len(parts) > 1 and parts[1] == "kB" else value
    return out


# The lines of FIELDS only: parsing the other fifty lines of /proc/meminfo at every scrape was
# most of this collector's time. Same reading as parse_meminfo's ("Name:  value [kB]").
_LINES = re.compile(rf"^({'|'.join(FIELDS)}):[ \t]*(\S+)(?:[ \t]+(\S+))?", re.MULTILINE)


def collect(config: HostConfig) -> list[Family]:
    info: dict[str, float] = {}
    for field, number, unit in _LINES.findall(read_text(PROC / "meminfo")):
        value = float(number)
        info[field] = value * 1024 if unit == "kB" else value
    out = Families()
    for field, metric in FIELDS.items():
        if field in info:
            out.values(metric, info[field])
    return out.families()
