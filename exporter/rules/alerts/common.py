"""What every alert area shares: the context that hands out thresholds from alert_rules/alerts.yml
and the shipped config, the Prometheus series of the exporter's own job, and the helpers that
write promtool test inputs.

Test inputs are series of one value per evaluation step (30 s), written with :func:`seq` (runs
of a constant) and :func:`ramp` (counters). ``onset`` is the first step at which the expression
holds; where it depends on how PromQL extrapolates a partial range, the comment says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from exporter import metrics as m
from exporter.config import Config
from exporter.metrics import Metric
from exporter.probes import json_metrics
from exporter.rules.model import (
    Case,
    Expect,
    Measure,
    Rule,
    alternatives,
    const,
    n,
    sel,
)
from exporter.rules.spec import (
    AlertSpec,
    AlertsSpec,
    ProbeTraffic,
    Severity,
    SpecError,
    seconds,
)
from exporter.rules.stackmodel import ModelError

# The scrape job of the exporter in prometheus/prometheus.yml, and the address of the tests'
# exporter.
JOB = "redline"
TEST_TARGET = {"job": JOB, "instance": "localhost:9877"}

# Prometheus's own series for every target: 1 if the scrape succeeded.
UP = Metric("up", "gauge", "1 if Prometheus scraped the target, else 0 (Prometheus itself).")

# Probe failure reasons that are not the target being down: DNS has its own alert, a 429 means
# the target is up but refuses us, secret and internal are redline's own problems.
NOT_DOWN_REASONS = ("dns", "rate_limited", "secret", "internal")
# The JSON figures the alerts read as counters, with increase() or resets(): the services' own
# cumulative counts (exporter/rules/alerts/services.py). Read through Fly's proxy from an app
# with more than one machine, each scrape may reach another machine, whose count differs: every
# switch reads as a reset, and increase() counts the other machine's whole count as new
# (make generate refuses that setup: exporter/rules/stackmodel.py).
JSON_COUNTERS = ("queue_processed", "mcp_tool_calls", "mcp_tool_errors", "mcp_uptime_seconds")
# llamaindex-mcp's tools that answer questions (docs/targets.md): the MCP query latency target.
MCP_QUERY_TOOLS = ("query_support", "query_knowledge_base")


def probe_runs(service: str, traffic: tuple[ProbeTraffic, ...]) -> list[tuple[int, str]]:
    """redline's own requests to ``service`` that a rule leaves out (:class:`ProbeTraffic`, from
    exporter/rules/stackmodel.py): (requests one run sends, selector of the runs of the probes
    that send that many), fewest first. A rule reads ``rate()`` of each selector times its count
    (the SLIs of exporter/rules/slo.py, LogErrorRateHigh of exporter/rules/alerts/logs.py)."""
    by_count: dict[int, list[str]] = {}
    for t in traffic:
        by_count.setdefault(t.per_run, []).append(t.probe)
    return [
        (per_run, sel(m.PROBE_RUNS, service=service, probe=("=~", alternatives(tuple(probes)))))
        for per_run, probes in sorted(by_count.items())
    ]


# --- test input helpers -------------------------------------------------------------------------


def _v(value: Decimal | float | int) -> str:
    return n(Decimal(repr(value)) if isinstance(value, float) else value)


def seq(*runs: tuple[Decimal | float | int, int]) -> str:
    """Runs of constant values: ``seq((1, 4), (0, 20))`` is 4 steps of 1, then 20 of 0."""
    return " ".join(f"{_v(v)}x{count - 1}" if count > 1 else _v(v) for v, count in runs)


def ramp(start: Decimal | float | int, step: Decimal | float | int, count: int) -> str:
    """``count`` values from ``start``, changing by ``step`` each evaluation step."""
    negative = step < 0
    magnitude: Decimal | float | int = -step if negative else step
    return f"{_v(start)}{'-' if negative else '+'}{_v(magnitude)}x{count - 1}"


def series(metric: Metric | str, suffix: str = "", **labels: str) -> str:
    name = metric if isinstance(metric, str) else metric.name
    body = ", ".join(f'{k}="{v}"' for k, v in {**labels, **TEST_TARGET}.items())
    return f"{name}{suffix}{{{body}}}"


def target(**labels: str) -> dict[str, str]:
    return {**labels, **TEST_TARGET}


def fires(
    severity: Severity,
    onset: int,
    value: float | Callable[[int], float],
    family: str = "",
    labels: dict[str, str] | None = None,
) -> Expect:
    """``labels``: this alert's own beyond the case's (see :class:`Expect`)."""
    return Expect(severity, onset, value if callable(value) else const(value), family, labels or {})


def case(
    series_: dict[str, str], labels: dict[str, str], *expect: Expect, until: int | None = None
) -> Case:
    return Case(series_, labels, expect, until)


def quiet(series_: dict[str, str], at: int | None = None) -> Case:
    return Case(series_, {}, (), at=at)


# --- context: the spec and the shipped config -------------------------------------------------


class Context:
    def __init__(self, spec: AlertsSpec, config: Config) -> None:
        self.spec = spec
        self.config = config
        self.used: set[str] = set()

    def alert(self, name: str) -> AlertSpec:
        if name not in self.spec.alerts:
            raise SpecError(f"alert_rules/alerts.yml: alerts: no entry for {name}")
        self.used.add(name)
        return self.spec.alerts[name]

    def level(self, spec: AlertSpec, name: str, severity: Severity) -> tuple[str, Decimal]:
        """(for, threshold) of a level that must have a threshold."""
        (threshold,) = self.values(spec, name, severity, "threshold")
        return spec.level(severity).for_, threshold

    def values(self, spec: AlertSpec, name: str, severity: Severity, *fields: str) -> list[Any]:
        """The named values of a level (window, threshold, guard, horizon), all required."""
        lvl = spec.level(severity)
        found = [getattr(lvl, f) for f in fields]
        missing = [f for f, v in zip(fields, found, strict=True) if v is None]
        if missing:
            raise SpecError(
                f"alert_rules/alerts.yml: alerts.{name}.{severity}: needs {', '.join(missing)}"
            )
        return found

    def check_min_bad(
        self, name: str, severity: Severity, guard: Decimal, min_bad: Decimal, why: str
    ) -> None:
        """Refuse a level whose ``min_bad`` is above its ``guard``, at the value's line of
        alerts.yml. ``why``: what each counts, and so why this alert's rule needs min_bad at most
        the guard."""
        if min_bad > guard:
            raise ModelError(
                "alerts.yml",
                ("alerts", name, severity, "min_bad"),
                f"{n(min_bad)} is above the guard ({n(guard)}, alerts.{name}.{severity}.guard): "
                f"{why}; it must be at most the guard",
            )

    def json_metric(self, name: str) -> Metric:
        """The JSON-derived series ``name`` as the shipped config defines it (the probe's own
        mapping, exporter/probes/json_metrics.py)."""
        try:
            return json_metrics.configured(self.config, name)[1]
        except KeyError:
            raise SpecError(
                f"config/hotrod.yml defines no JSON metric {name!r} that a rule uses"
            ) from None

    def check_probe(self, target_: str) -> tuple[str, str]:
        service, _, probe = target_.partition("/")
        for s in self.config.services:
            if s.name == service and any(p.name == probe for p in s.probes):
                return service, probe
        raise SpecError(f"alert_rules/alerts.yml names probe {target_!r}, not in config/hotrod.yml")

    def rule(
        self,
        spec: AlertSpec,
        severity: Severity,
        expr: str,
        labels: dict[str, str] | None = None,
        family: str = "",
    ) -> Rule:
        lvl = spec.level(severity)
        return Rule(severity, expr, lvl.for_, labels or {}, family, lvl.keep_firing_for)

    def measured(
        self,
        spec: AlertSpec,
        severity: Severity,
        measure: Measure,
        labels: dict[str, str] | None = None,
        family: str = "",
    ) -> Rule:
        """A threshold rule: ``measure``'s quantity above its threshold. The measure travels
        with the rule, so ``redline baseline`` judges exactly what the rule compares."""
        lvl = spec.level(severity)
        return Rule(
            severity, measure.expr(), lvl.for_, labels or {}, family, lvl.keep_firing_for, measure
        )


def duration_expr(value: Decimal) -> str:
    """A threshold in seconds as PromQL arithmetic that reads as days or hours."""
    for size, unit in ((86400, "86400"), (3600, "3600"), (60, "60")):
        if value >= size and value % size == 0:
            return f"{n(value / size)} * {unit}"
    return n(value)


# --- values in the text of an alert -----------------------------------------------------------

_PLACEHOLDER = re.compile(r"\[\[([a-z_]+)(?:\.(page|ticket|info))?(?:\|(percent|duration))?\]\]")


def humanize_duration(seconds_: Decimal) -> str:
    """``120`` -> ``2 minutes``: a duration as the on-call reads it in a notification."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds_ >= size and seconds_ % size == 0:
            count = seconds_ / size
            return f"{n(count)} {unit}{'' if count == 1 else 's'}"
    return f"{n(seconds_)} seconds"


def render_text(text: str, name: str, spec: AlertSpec) -> str:
    """``text`` with its ``[[key]]``, ``[[key.severity]]`` and ``[[key.severity|format]]``
    placeholders filled from the alert's levels in alert_rules/alerts.yml, so a description
    never repeats a ``for``, window or threshold by hand. ``key`` is a Level field (for,
    threshold, window, guard, min_bad, horizon, keep_firing_for); without a severity, every
    level must agree on the value. ``|percent`` writes a ratio as a percentage, ``|duration``
    seconds as words; a duration field is always written in words."""

    def fill(match: re.Match[str]) -> str:
        key, severity, fmt = match.group(1), match.group(2), match.group(3)
        field_ = "for_" if key == "for" else key
        levels = spec.levels()
        chosen = [levels[severity]] if severity in levels else list(levels.values())
        if severity and severity not in levels:
            raise SpecError(f"{name}: its text names [[{key}.{severity}]], a level it lacks")
        values = {getattr(lvl, field_, None) for lvl in chosen}
        if len(values) != 1 or None in values:
            raise SpecError(
                f"{name}: [[{match.group(0)[2:-2]}]] has no single value in alert_rules/alerts.yml"
            )
        value = values.pop()
        assert value is not None  # checked above
        if isinstance(value, str):  # a Prometheus duration
            return humanize_duration(seconds(value))
        if fmt == "percent":
            return f"{n(value * 100)}%"
        if fmt == "duration":
            return humanize_duration(value)
        return n(value)

    return _PLACEHOLDER.sub(fill, text)
