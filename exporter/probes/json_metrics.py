"""Placeholder: being written (issue 2)."""

from typing import Any

from exporter.probes.base import ProbeContext, ProbeFailure, Report


async def probe(cfg: Any, ctx: ProbeContext, report: Report) -> None:
    raise ProbeFailure("internal", "probe kind not implemented yet")
