"""``promtool test rules`` files from the cases of every alert (exporter/rules/model.py).

For each case, with ``expect[0]`` the rule under test (onset step s, ``for`` of f steps):
- one evaluation before the boundary (step s + f - 1) the rule is not firing;
- at the boundary (step s + f) it fires, with its exact labels and annotations;
and at both steps every other rule of the alert that the case expects is checked too (firing
once its own boundary has passed), so an alert's severities are tested together. Each quiet case
is checked once the longest ``for`` of the alert has passed (or at its own ``at``), with no alert
expected.

Steps are the evaluation interval of alert_rules/stack.yml; input series use the same interval,
so a step is one scrape and one evaluation, as in production.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exporter.rules import templates
from exporter.rules.model import Alert, Case, Expect, annotations_of
from exporter.rules.render import Ordered, num
from exporter.rules.spec import StackSpec, seconds


def _steps(duration: str, step: Decimal) -> int:
    count = seconds(duration) / step
    if count != count.to_integral_value():
        raise ValueError(f"{duration} is not a whole number of {num(step)} s evaluation steps")
    return int(count)


def _at(step: int, interval: Decimal) -> str:
    total = int(Decimal(step) * interval)
    if total == 0:
        return "0s"
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out += f"{total // size}{unit}"
            total %= size
    return out


def _expected(
    alert: Alert, case: Case, step: int, interval: Decimal, stack: StackSpec
) -> list[Ordered]:
    out = []
    notes = annotations_of(alert, stack)
    for exp in case.expect:
        rule = alert.rule(exp.severity, exp.family)
        if exp.onset + _steps(rule.for_, interval) > step:
            continue
        if case.until is not None and step > case.until and exp is case.expect[0]:
            continue
        value = exp.value(step)
        own = {**case.labels, **exp.labels}
        labels = {**own, **rule.labels, "severity": rule.severity}
        rendered = {
            key: templates.render(text, own, value) if key in ("summary", "description") else text
            for key, text in notes.items()
        }
        out.append(Ordered(exp_labels=labels, exp_annotations=rendered))
    return out


def _check_case(alert: Alert, case: Case) -> None:
    if not case.expect:
        return  # a quiet case: nothing fires, no label is read
    for exp in case.expect:
        alert.rule(exp.severity, exp.family)
        for text in (alert.summary, alert.description):
            missing = templates.check(text) - set(case.labels) - set(exp.labels)
            if missing:
                raise ValueError(
                    f"{alert.name}: template reads {sorted(missing)} not in the case labels"
                )


def _series(case: Case) -> list[Ordered]:
    return [Ordered(series=s, values=v) for s, v in case.series.items()]


def alert_tests(alerts: list[Alert], stack: StackSpec) -> list[Ordered]:
    interval = seconds(stack.evaluation_interval)
    tests: list[Ordered] = []
    for alert in alerts:
        for case in alert.cases:
            _check_case(alert, case)
            target: Expect = case.expect[0]
            rule = alert.rule(target.severity, target.family)
            boundary = target.onset + _steps(rule.for_, interval)
            steps = [boundary - 1, boundary] if boundary > 0 else [boundary]
            if case.until is not None:
                steps += [case.until, case.until + 1]
            checks = [
                Ordered(
                    eval_time=_at(s, interval),
                    alertname=alert.name,
                    exp_alerts=_expected(alert, case, s, interval, stack),
                )
                for s in steps
                if s >= 0
            ]
            family = f" {target.family}" if target.family else ""
            tests.append(
                Ordered(
                    name=f"{alert.name} {target.severity}{family}: for boundary",
                    interval=stack.evaluation_interval,
                    input_series=_series(case),
                    alert_rule_test=checks,
                )
            )
        if alert.quiet is not None:
            _check_case(alert, alert.quiet)
            longest = max(_steps(r.for_, interval) for r in alert.rules)
            at = alert.quiet.at if alert.quiet.at is not None else longest + 2
            tests.append(
                Ordered(
                    name=f"{alert.name}: quiet",
                    interval=stack.evaluation_interval,
                    input_series=_series(alert.quiet),
                    alert_rule_test=[
                        Ordered(
                            eval_time=_at(at, interval),
                            alertname=alert.name,
                            exp_alerts=[],
                        )
                    ],
                )
            )
    return tests


def test_file(rule_files: list[str], tests: list[Ordered], stack: StackSpec) -> dict[str, Any]:
    return Ordered(
        rule_files=rule_files,
        evaluation_interval=stack.evaluation_interval,
        tests=tests,
    )
