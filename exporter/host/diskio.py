"""Disk I/O per block device, from /proc/diskstats.

The figures are psutil.disk_io_counters(perdisk=True, nowrap=True)'s, read the way psutil reads
them (psutil/_pslinux.py, whose three line layouts this follows) without its objects and its
process-wide wrap cache around them, a third of this collector's time: completed reads and
writes, bytes as 512-byte sectors (the kernel's unit there, whatever the device's sector size),
and the time the device was busy (the "io_ticks" column, milliseconds). They have
node_exporter's meaning. :class:`~exporter.host.common.Unwrap` keeps them monotonic if a 32-bit
kernel counter wraps, as psutil's ``nowrap`` does. Where /proc/diskstats is missing, psutil
reads /sys/block instead, as before.
"""

from __future__ import annotations

import os

import psutil
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import PROC, Counters, Families, Unwrap, read_bytes
from exporter.host.config import HostConfig

SECTOR = 512  # bytes per sector in /proc/diskstats, whatever the device's own sector size


def parse_diskstats(data: bytes) -> Counters:
    """Device -> (reads, writes, read bytes, written bytes, busy milliseconds), as psutil
    reads each line: 14 fields (Linux 2.6+) or 18 and more (4.18+ and 5.5+ add columns), 15
    (Linux 2.4, the name one column later), 7 (a partition on old 2.6 kernels)."""
    out: Counters = {}
    for line in data.splitlines():
        f = line.split()
        n = len(f)
        if n == 14 or n >= 18:
            name, reads, rsect, writes, wsect, busy = f[2], f[3], f[5], f[7], f[9], f[12]
        elif n == 15:
            name, reads, rsect, writes, wsect, busy = f[3], f[2], f[5], f[7], f[9], f[12]
        elif n == 7:
            name, reads, rsect, writes, wsect, busy = f[2], f[3], f[4], f[5], f[6], b"0"
        else:
            # psutil's error, so the collector fails with the same message
            text = line.decode("utf-8", "surrogateescape") + "\n"
            raise ValueError(f"not sure how to interpret line {text!r}")
        out[os.fsdecode(name)] = (
            int(reads),
            int(writes),
            int(rsect) * SECTOR,
            int(wsect) * SECTOR,
            int(busy),
        )
    return out


def _from_psutil() -> Counters:
    """psutil's reading of /sys/block, for a system without /proc/diskstats."""
    counters = psutil.disk_io_counters(perdisk=True, nowrap=False) or {}
    return {
        name: (c.read_count, c.write_count, c.read_bytes, c.write_bytes, c.busy_time)
        for name, c in counters.items()
    }


class DiskIOCollector:
    def __init__(self) -> None:
        self._unwrap = Unwrap()

    def __call__(self, config: HostConfig) -> list[Family]:
        try:
            raw = parse_diskstats(read_bytes(f"{PROC}/diskstats"))
        except FileNotFoundError:
            raw = _from_psutil()
        out = Families()
        for device, (reads, writes, read_bytes_, written, busy) in sorted(
            self._unwrap(raw).items()
        ):
            if not config.diskio.reports(device):
                continue
            out.values(m.NODE_DISK_READS_COMPLETED, reads, device)
            out.values(m.NODE_DISK_WRITES_COMPLETED, writes, device)
            out.values(m.NODE_DISK_READ_BYTES, read_bytes_, device)
            out.values(m.NODE_DISK_WRITTEN_BYTES, written, device)
            out.values(m.NODE_DISK_IO_TIME, busy / 1000.0, device)
        return out.families()
