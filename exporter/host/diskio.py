"""Disk I/O per block device (psutil.disk_io_counters, which reads /proc/diskstats).

psutil's figures have node_exporter's meaning: completed reads and writes, bytes as 512-byte
sectors (the kernel's unit there, whatever the device's sector size), and the time the device
was busy (the diskstats "io_ticks" column, milliseconds). ``nowrap`` keeps them monotonic if a
32-bit kernel counter wraps.
"""

from __future__ import annotations

import psutil
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import Families
from exporter.host.config import HostConfig


def collect(config: HostConfig) -> list[Family]:
    out = Families()
    counters = psutil.disk_io_counters(perdisk=True, nowrap=True) or {}
    for device, c in sorted(counters.items()):
        if not config.diskio.reports(device):
            continue
        out.values(m.NODE_DISK_READS_COMPLETED, c.read_count, device)
        out.values(m.NODE_DISK_WRITES_COMPLETED, c.write_count, device)
        out.values(m.NODE_DISK_READ_BYTES, c.read_bytes, device)
        out.values(m.NODE_DISK_WRITTEN_BYTES, c.write_bytes, device)
        out.values(m.NODE_DISK_IO_TIME, c.busy_time / 1000.0, device)
    return out.families()
