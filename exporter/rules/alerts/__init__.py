"""The alert catalogue: every alert redline ships, one module per area, as PromQL over the names
of exporter/metrics.py (never spelled here: :func:`~exporter.rules.model.sel` builds selectors
from the Metric objects and refuses labels a metric does not have), with its thresholds from
alert_rules/alerts.yml and the test cases that prove it at its ``for`` boundary
(exporter/rules/promtests.py).

Each area module has one function ``alerts(ctx) -> list[Alert]``; :data:`AREAS` lists them in
the order their rule files are written. A new area is a new module added here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from exporter.config import Config
from exporter.rules.alerts import (
    backups,
    database,
    host,
    logs,
    maintenance,
    missing,
    monitoring,
    outages,
    pipeline,
    platform,
    restore,
    services,
    vendors,
)
from exporter.rules.alerts.common import JOB, UP, Context, ramp, render_text, seq, series
from exporter.rules.model import Alert
from exporter.rules.spec import AlertsSpec, SpecError

__all__ = ["AREAS", "JOB", "UP", "catalog", "ramp", "seq", "series"]

# area -> its alerts; the order is the order of prometheus/rules/ files and the runbook index
AREAS: dict[str, Callable[[Context], list[Alert]]] = {
    "pipeline": pipeline.alerts,
    "services": services.alerts,
    "host": host.alerts,
    "logs": logs.alerts,
    "database": database.alerts,
    "backups": backups.alerts,
    "restore": restore.alerts,  # restore tests; their rules go to the backups group
    "vendors": vendors.alerts,
    "platform": platform.alerts,
    "monitoring": monitoring.alerts,
    "missing": missing.alerts,
    "outages": outages.alerts,
    "maintenance": maintenance.alerts,
}


def catalog(spec: AlertsSpec, config: Config, extra_names: tuple[str, ...] = ()) -> list[Alert]:
    """Every alert of alert_rules/alerts.yml but those built elsewhere (``extra_names``: the SLO
    alerts of exporter/rules/slo.py). Every entry of the spec must be used."""
    ctx = Context(spec, config)
    alerts = [_rendered(alert, spec) for area in AREAS.values() for alert in area(ctx)]
    unused = set(spec.alerts) - ctx.used - set(extra_names)
    if unused:
        raise SpecError(f"alert_rules/alerts.yml: no rule uses {', '.join(sorted(unused))}")
    names = [a.name for a in alerts]
    if len(names) != len(set(names)):
        raise SpecError("two alerts share a name")
    return alerts


def _rendered(alert: Alert, spec: AlertsSpec) -> Alert:
    """The alert with the ``[[...]]`` placeholders of its text filled from its levels."""
    own = spec.alerts.get(alert.name)
    if own is None:
        return alert
    return replace(
        alert,
        summary=render_text(alert.summary, alert.name, own),
        description=render_text(alert.description, alert.name, own),
    )
