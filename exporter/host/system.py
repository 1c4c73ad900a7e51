"""Boot time and context switches (/proc/stat), and file descriptors (/proc/sys/fs/file-nr)."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import PROC, Families, read_bytes
from exporter.host.config import HostConfig

# The two lines of /proc/stat reported, found by name rather than by splitting the whole file
# (its "intr" line alone holds a number per interrupt source, hundreds to thousands).
LINES: dict[bytes, m.Metric] = {b"\nbtime ": m.NODE_BOOT_TIME, b"\nctxt ": m.NODE_CONTEXT_SWITCHES}


def collect(config: HostConfig) -> list[Family]:
    out = Families()
    text = b"\n" + read_bytes(f"{PROC}/stat")
    found = sorted((at, needle) for needle in LINES if (at := text.find(needle)) >= 0)
    for at, needle in found:  # in the file's order (ctxt, then btime), as the lines come
        start = at + len(needle)
        end = text.find(b"\n", start)
        out.values(LINES[needle], float(text[start : end if end >= 0 else None].split()[0]))
    # "allocated  unused  maximum"; unused is always 0 since Linux 2.6
    allocated, _unused, maximum = read_bytes(f"{PROC}/sys/fs/file-nr").split()[:3]
    out.values(m.NODE_FILEFD_ALLOCATED, float(allocated))
    out.values(m.NODE_FILEFD_MAXIMUM, float(maximum))
    return out.families()
