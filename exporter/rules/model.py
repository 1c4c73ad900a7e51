"""What the rule stages produce: alerts made of rules (one per severity), each with the test cases
that prove it, and the annotations every alert carries.

An :class:`Alert` is one alert name: a summary, a description, a dashboard and a runbook, and
one :class:`Rule` per severity (ServiceLatencyHigh has one per latency budget and severity, told
apart by ``family``). Each :class:`Case` is an input for ``promtool test rules`` with what must
fire on it and from which evaluation step, so prometheus/tests/ checks every rule at its ``for``
boundary: not firing one evaluation before, firing at it; ``quiet`` is an input on which the
alert must stay silent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from exporter.promql import TARGET_LABELS, Match, alternatives, labels_of, sel
from exporter.rules.render import Ordered, num
from exporter.rules.spec import Severity, StackSpec

# The always-firing alert that proves the pipeline works (the dead man's switch): dashboards,
# drills and post-mortems leave it out of what counts as an incident.
WATCHDOG = "Watchdog"


@dataclass(frozen=True)
class Expect:
    """A rule that fires on a case: from ``onset`` (an evaluation step) its expression holds,
    and it then has the value ``value(step)``."""

    severity: Severity
    onset: int
    value: Callable[[int], float]
    family: str = ""
    # labels of this alert beyond the case's: a case on which one rule fires several alerts
    # (one per exporter, one per family with its own labels) lists each with what tells it apart
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """Input series (promtool's expanding notation, one value per evaluation step) and the rules
    they make fire. ``expect[0]`` is the rule whose ``for`` boundary the case tests."""

    series: Mapping[str, str]
    labels: Mapping[str, str]  # the alert's labels from its expression (not the rule's own)
    expect: tuple[Expect, ...]
    # the last step at which ``expect[0]`` still fires: checked there and one step later, where
    # it must have stopped (for an alert whose end matters, such as OutageWindow's)
    until: int | None = None
    # a quiet case (no ``expect``): the step at which nothing may fire, when the longest ``for``
    # plus 2 (the default) comes before its input could fire anything
    at: int | None = None


@dataclass(frozen=True)
class Measure:
    """What a threshold rule compares, for ``redline baseline`` to judge the rule's own quantity
    against normal load instead of a copy of its PromQL: ``quantity > threshold`` (``and
    guard`` when set) is the rule, one series per ``subject``."""

    quantity: str  # PromQL of the measured value, one series per subject
    threshold: Decimal
    subject: tuple[str, ...]  # the labels naming what is measured
    unit: str  # seconds | ratio | jobs
    kind: str  # latency (can be blind) | ratio | usage | count
    lookback: str | None = None  # the range the quantity reads (its warm-up)
    guard: str | None = None  # a condition that must hold too (enough events)
    target: bool = False  # the threshold is a business target
    where: str = ""  # where the threshold is set, when not alert_rules/alerts.yml
    scope: str = "all"  # what it applies to, shown when it has no data

    def expr(self) -> str:
        """The rule's expression, as the rule states it."""
        out = f"{self.quantity}\n  > {num(self.threshold)}"
        return f"{out}\nand {self.guard}" if self.guard else out


@dataclass(frozen=True)
class Rule:
    severity: Severity
    expr: str
    for_: str
    labels: Mapping[str, str] = field(default_factory=dict)  # static labels besides severity
    family: str = ""
    keep_firing_for: str | None = None
    measure: Measure | None = None  # a threshold rule: what it compares (redline baseline)


@dataclass(frozen=True)
class Alert:
    name: str
    group: str  # the rule file (prometheus/rules/<group>.yml) and group
    summary: str
    description: str
    dashboard: str  # key of alert_rules/stack.yml dashboards
    rules: tuple[Rule, ...]
    cases: tuple[Case, ...]
    quiet: Case | None  # None only for Watchdog, which never is

    def rule(self, severity: Severity, family: str = "") -> Rule:
        for r in self.rules:
            if r.severity == severity and r.family == family:
                return r
        raise KeyError(f"{self.name} has no {severity} rule {family!r}")


def const(value: float) -> Callable[[int], float]:
    """A $value that does not change over the steps of a case."""
    return lambda _step: value


def annotations_of(alert: Alert, stack: StackSpec) -> dict[str, str]:
    """Summary, description (both with the live value), runbook and dashboard links."""
    uid = stack.dashboards.get(alert.dashboard)
    if uid is None:
        raise ValueError(f"{alert.name}: dashboard {alert.dashboard!r} is not in stack.yml")
    return {
        "summary": alert.summary,
        "description": alert.description,
        "runbook_url": f"{stack.runbook_url.rstrip('/')}/{alert.name}.md",
        "dashboard": f"{stack.grafana_url.rstrip('/')}/d/{uid}",
    }


def rule_data(alert: Alert, rule: Rule, stack: StackSpec) -> Ordered:
    """One alerting rule as Prometheus reads it."""
    return Ordered(
        alert=alert.name,
        expr=rule.expr,
        **{"for": rule.for_},
        **({"keep_firing_for": rule.keep_firing_for} if rule.keep_firing_for else {}),
        labels={**rule.labels, "severity": rule.severity},
        annotations=annotations_of(alert, stack),
    )


# --- building PromQL: exporter/promql.py, re-exported for the rule modules ------------------


def n(value: Decimal | int) -> str:
    return num(value)


__all__ = [
    "TARGET_LABELS",
    "WATCHDOG",
    "Alert",
    "Case",
    "Expect",
    "Match",
    "Measure",
    "Rule",
    "alternatives",
    "annotations_of",
    "const",
    "labels_of",
    "n",
    "rule_data",
    "sel",
]
