"""Network I/O per interface, from /proc/net/dev of redline's network namespace (as
node_exporter reads its own).

The figures are psutil.net_io_counters(pernic=True, nowrap=True)'s, read the way psutil reads
them (psutil/_pslinux.py) without its objects and its process-wide wrap cache around them, most
of this collector's time. :class:`~exporter.host.common.Unwrap` keeps the counters monotonic if a
32-bit kernel counter wraps, as psutil's ``nowrap`` does.
"""

from __future__ import annotations

import os

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import PROC, Counters, Families, Unwrap, read_bytes
from exporter.host.config import HostConfig

# The columns of an interface's line, after "name:": 8 received, then 8 transmitted.
RECEIVE_BYTES, RECEIVE_PACKETS, RECEIVE_ERRS, RECEIVE_DROP = 0, 1, 2, 3
TRANSMIT_BYTES, TRANSMIT_PACKETS, TRANSMIT_ERRS, TRANSMIT_DROP = 8, 9, 10, 11
COLUMNS = 16


def parse_netdev(data: bytes) -> Counters:
    """Interface -> its 16 counters, as psutil reads them: the two header lines skipped, the
    name up to the last colon, exactly 16 numbers after it."""
    out: Counters = {}
    for line in data.splitlines()[2:]:
        colon = line.rfind(b":")
        if colon <= 0:
            raise ValueError(f"no interface name in /proc/net/dev line {line!r}")
        values = tuple(map(int, line[colon + 1 :].split()))
        if len(values) != COLUMNS:
            raise ValueError(f"expected {COLUMNS} values in /proc/net/dev line {line!r}")
        out[os.fsdecode(line[:colon].strip())] = values
    return out


class NetworkCollector:
    def __init__(self) -> None:
        self._unwrap = Unwrap()

    def __call__(self, config: HostConfig) -> list[Family]:
        out = Families()
        counters = self._unwrap(parse_netdev(read_bytes(f"{PROC}/net/dev")))
        for device, c in sorted(counters.items()):
            if not config.network.reports(device):
                continue
            out.values(m.NODE_NETWORK_RECEIVE_BYTES, c[RECEIVE_BYTES], device)
            out.values(m.NODE_NETWORK_TRANSMIT_BYTES, c[TRANSMIT_BYTES], device)
            out.values(m.NODE_NETWORK_RECEIVE_PACKETS, c[RECEIVE_PACKETS], device)
            out.values(m.NODE_NETWORK_TRANSMIT_PACKETS, c[TRANSMIT_PACKETS], device)
            out.values(m.NODE_NETWORK_RECEIVE_ERRS, c[RECEIVE_ERRS], device)
            out.values(m.NODE_NETWORK_TRANSMIT_ERRS, c[TRANSMIT_ERRS], device)
            out.values(m.NODE_NETWORK_RECEIVE_DROP, c[RECEIVE_DROP], device)
            out.values(m.NODE_NETWORK_TRANSMIT_DROP, c[TRANSMIT_DROP], device)
        return out.families()
