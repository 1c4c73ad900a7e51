"""Memory and swap from /proc/meminfo.

Read directly rather than through psutil.virtual_memory(): psutil's ``cached`` adds
SReclaimable to Cached, while node_exporter's node_memory_Cached_bytes is the kernel's Cached
field alone; dashboards built for node_exporter expect the latter.
"""

from __future__ import annotations

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import PROC, Families, read_bytes
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


# The lines of FIELDS only, each found by its name at the start of a line: parsing the other fifty
# lines of /proc/meminfo at every scrape was most of this collector's time (a regular expression
# over the file, three times what these seven searches take). Same reading as parse_meminfo's
# ("Name:  value [kB]").
_NEEDLES = tuple((f"\n{field}:".encode(), field) for field in FIELDS)


def collect(config: HostConfig) -> list[Family]:
    text = b"\n" + read_bytes(f"{PROC}/meminfo")
    out = Families()
    for needle, field in _NEEDLES:
        at = text.find(needle)
        if at < 0:
            continue  # MemAvailable before Linux 3.14
        at += len(needle)
        end = text.find(b"\n", at)
        parts = text[at : end if end >= 0 else None].split()
        if parts:
            value = float(parts[0])
            out.values(FIELDS[field], value * 1024 if parts[1:2] == [b"kB"] else value)
    return out.families()
