"""Boot time and context switches (/proc/stat), and file descriptors (/proc/sys/fs/file-nr)."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import PROC, Families, read_text
from exporter.host.config import HostConfig


def collect(config: HostConfig) -> list[Family]:
    out = Families()
    for line in read_text(PROC / "stat").splitlines():
        if line.startswith("btime "):
            out.values(m.NODE_BOOT_TIME, float(line.split()[1]))
        elif line.startswith("ctxt "):
            out.values(m.NODE_CONTEXT_SWITCHES, float(line.split()[1]))
    # "allocated  unused  maximum"; unused is always 0 since Linux 2.6
    allocated, _unused, maximum = read_text(PROC / "sys" / "fs" / "file-nr").split()[:3]
    out.values(m.NODE_FILEFD_ALLOCATED, float(allocated))
    out.values(m.NODE_FILEFD_MAXIMUM, float(maximum))
    return out.families()
