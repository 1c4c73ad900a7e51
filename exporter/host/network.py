"""Network I/O per interface (psutil.net_io_counters, which reads /proc/net/dev of redline's
network namespace, as node_exporter reads its own). ``nowrap`` keeps the counters monotonic if
a 32-bit kernel counter wraps."""

from __future__ import annotations

import psutil
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import Families
from exporter.host.config import HostConfig


def collect(config: HostConfig) -> list[Family]:
    out = Families()
    for device, c in sorted(psutil.net_io_counters(pernic=True, nowrap=True).items()):
        if not config.network.reports(device):
            continue
        out.values(m.NODE_NETWORK_RECEIVE_BYTES, c.bytes_recv, device)
        out.values(m.NODE_NETWORK_TRANSMIT_BYTES, c.bytes_sent, device)
        out.values(m.NODE_NETWORK_RECEIVE_PACKETS, c.packets_recv, device)
        out.values(m.NODE_NETWORK_TRANSMIT_PACKETS, c.packets_sent, device)
        out.values(m.NODE_NETWORK_RECEIVE_ERRS, c.errin, device)
        out.values(m.NODE_NETWORK_TRANSMIT_ERRS, c.errout, device)
        out.values(m.NODE_NETWORK_RECEIVE_DROP, c.dropin, device)
        out.values(m.NODE_NETWORK_TRANSMIT_DROP, c.dropout, device)
    return out.families()
