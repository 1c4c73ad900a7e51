"""The probe registry: config ``kind`` -> probe function. Explicit, so a reader sees every probe
kind in one place; each lives in its own file behind the signature in probes/base.py."""

from __future__ import annotations

from exporter.probes import dns, http, json_metrics, mcp, tcp
from exporter.probes.base import ProbeFn

PROBES: dict[str, ProbeFn] = {
    "http": http.probe,
    "json": json_metrics.probe,
    "tcp": tcp.probe,
    "dns": dns.probe,
    "mcp": mcp.probe,
}
