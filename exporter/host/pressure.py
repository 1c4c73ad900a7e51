"""Pressure stall information (/proc/pressure/{cpu,memory,io}, Linux 4.20+ with PSI on).

A kernel without PSI (no /proc/pressure, or the files answer EOPNOTSUPP when booted with
psi=0) is not a failure: the series are absent and the collector reports success. node_exporter
reports success 0 there, which would page on every host that simply lacks the feature.
"""

from __future__ import annotations

import errno

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import PROC, Families, read_bytes
from exporter.host.config import HostConfig

# (file, line kind) -> metric. "some": at least one task stalled; "full": all non-idle tasks.
# The cpu file's "full" line (Linux 5.13+) has no node_exporter name and is not reported.
LINES: dict[tuple[str, bytes], m.Metric] = {
    ("cpu", b"some"): m.NODE_PRESSURE_CPU_WAITING,
    ("memory", b"some"): m.NODE_PRESSURE_MEMORY_WAITING,
    ("memory", b"full"): m.NODE_PRESSURE_MEMORY_STALLED,
    ("io", b"some"): m.NODE_PRESSURE_IO_WAITING,
    ("io", b"full"): m.NODE_PRESSURE_IO_STALLED,
}
ABSENT = (errno.ENOENT, errno.EOPNOTSUPP)


def collect(config: HostConfig) -> list[Family]:
    out = Families()
    for resource in ("cpu", "memory", "io"):
        try:
            text = read_bytes(f"{PROC}/pressure/{resource}")
        except OSError as e:
            if e.errno in ABSENT:
                continue
            raise
        # "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345" (total in microseconds)
        for line in text.splitlines():
            kind, _, rest = line.partition(b" ")
            metric = LINES.get((resource, kind))
            if metric is None:
                continue
            total = rest.rsplit(b"total=", 1)[1]
            out.values(metric, int(total) / 1e6)
    return out.families()
