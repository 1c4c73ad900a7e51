"""The monitoring stack itself: Prometheus and Alertmanager, from their own metrics (the
``prometheus`` and ``alertmanager`` scrape jobs of prometheus/prometheus.yml).

A notification Alertmanager cannot deliver is a page lost; a rule Prometheus cannot evaluate is
an alert that never fires; a config that does not reload leaves yesterday's rules and routes in
force and fails the next restart. Watchdog catches the pipeline stopping altogether (the dead
man's switch), not these. They are tickets (docs/alerting.md: the monitoring itself pages only
when redline is blind) and go to the platform channel and its email, which does not depend on the
integration that fails when PagerDuty is the one refusing.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter.metrics import Metric
from exporter.rules.alerts.common import (
    Context,
    case,
    fires,
    quiet,
    ramp,
    seq,
)
from exporter.rules.model import Alert, labels_of, sel
from exporter.rules.spec import seconds

# Prometheus's and Alertmanager's own metrics (their /metrics): names as they publish them.
AM_NOTIFICATIONS_FAILED = Metric(
    "alertmanager_notifications_failed_total",
    "counter",
    "Notifications Alertmanager failed to deliver, by integration (Alertmanager itself).",
    ("integration",),
)
AM_CONFIG_RELOAD = Metric(
    "alertmanager_config_last_reload_successful",
    "gauge",
    "1 if Alertmanager's last configuration reload succeeded (Alertmanager itself).",
)
PROM_CONFIG_RELOAD = Metric(
    "prometheus_config_last_reload_successful",
    "gauge",
    "1 if Prometheus's last configuration reload succeeded (Prometheus itself).",
)
PROM_RULE_FAILURES = Metric(
    "prometheus_rule_evaluation_failures_total",
    "counter",
    "Rule evaluations that failed, by rule group (Prometheus itself).",
    ("rule_group",),
)
METRICS = (AM_NOTIFICATIONS_FAILED, AM_CONFIG_RELOAD, PROM_CONFIG_RELOAD, PROM_RULE_FAILURES)
SERVICE = {"service": "redline"}  # the monitoring stack: the platform team's
FLAT = 12  # test counters stay flat this many 30 s steps (more than a 5 min window)


def _series(metric: Metric, job: str, **labels: str) -> str:
    body = ", ".join(f'{k}="{v}"' for k, v in {**labels, "job": job, "instance": "m:9"}.items())
    return f"{metric.name}{{{body}}}"


def alerts(ctx: Context) -> list[Alert]:
    out = []

    name = "AlertmanagerNotificationsFailing"
    spec = ctx.alert(name)
    (window,) = ctx.values(spec, name, "ticket", "window")
    by = labels_of(AM_NOTIFICATIONS_FAILED, "job", "instance", "integration")
    failed = _series(AM_NOTIFICATIONS_FAILED, "alertmanager", integration="pagerduty")
    out.append(
        Alert(
            name,
            "monitoring",
            "Alertmanager {{ $labels.instance }} fails to deliver {{ $labels.integration }} "
            "notifications",
            "Alertmanager at {{ $labels.instance }} failed about {{ $value | humanize }} "
            "{{ $labels.integration }} notification(s) over the last 5 minutes: pages or tickets "
            "are not reaching anyone (PagerDuty refusing an event, a revoked Slack webhook, SMTP "
            "down). Its log names the receiver and the error.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"sum by ({by}) (increase({sel(AM_NOTIFICATIONS_FAILED)}[{window}])) > 0",
                    SERVICE,
                ),
            ),
            (
                case(
                    {failed: f"{seq((3, FLAT))} {ramp(4, 1, 40)}"},
                    {"job": "alertmanager", "instance": "m:9", "integration": "pagerduty"},
                    fires("ticket", FLAT, _increase(window)),
                ),
            ),
            quiet({failed: seq((3, 30))}),
        )
    )

    for name, metric, job, what in (
        ("AlertmanagerConfigReloadFailed", AM_CONFIG_RELOAD, "alertmanager", "Alertmanager"),
        ("PrometheusConfigReloadFailed", PROM_CONFIG_RELOAD, "prometheus", "Prometheus"),
    ):
        spec = ctx.alert(name)
        s = _series(metric, job)
        out.append(
            Alert(
                name,
                "monitoring",
                what + " {{ $labels.instance }} refused its new configuration",
                f"The last configuration reload of {what} at {{{{ $labels.instance }}}} failed "
                f"({metric.name} = {{{{ $value | humanize }}}}): the previous configuration "
                "still runs, so changed rules, routes or receivers are not in force, and a "
                "restart will fail on the file on disk. Its log says what it refused.",
                spec.dashboard,
                (ctx.rule(spec, "ticket", f"{sel(metric)} == 0", SERVICE),),
                (
                    case(
                        {s: seq((1, 4), (0, 30))},
                        {"job": job, "instance": "m:9"},
                        fires("ticket", 4, 0),
                    ),
                ),
                quiet({s: seq((1, 30))}),
            )
        )

    name = "PrometheusRuleEvaluationFailing"
    spec = ctx.alert(name)
    (window,) = ctx.values(spec, name, "ticket", "window")
    by = labels_of(PROM_RULE_FAILURES, "job", "instance", "rule_group")
    group = "/etc/prometheus/rules/probes.yml;probes"
    fails = _series(PROM_RULE_FAILURES, "prometheus", rule_group=group)
    out.append(
        Alert(
            name,
            "monitoring",
            "Prometheus {{ $labels.instance }} fails to evaluate rules of {{ $labels.rule_group }}",
            "About {{ $value | humanize }} evaluations of the rule group {{ $labels.rule_group }} "
            "failed over the last 5 minutes on {{ $labels.instance }}: the alerts of that group "
            "cannot fire (a query error, a many-to-many match after a label change, the series "
            "limit). `promtool check rules` and Prometheus's log say which rule.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"sum by ({by}) (increase({sel(PROM_RULE_FAILURES)}[{window}])) > 0",
                    SERVICE,
                ),
            ),
            (
                case(
                    {fails: f"{seq((3, FLAT))} {ramp(4, 1, 40)}"},
                    {"job": "prometheus", "instance": "m:9", "rule_group": group},
                    fires("ticket", FLAT, _increase(window)),
                ),
            ),
            quiet({fails: seq((7, 30))}),
        )
    )
    return out


def _increase(window: str) -> Callable[[int], float]:
    """increase() over ``window`` of the test counter: 3 for FLAT steps (longer than the window,
    so every range is full and Prometheus extrapolates nothing), then one more per 30 s step."""
    width = int(seconds(window) / 30)

    def value(t: int) -> float:
        def at(k: int) -> int:
            return 3 if k < FLAT else 4 + (k - FLAT)

        return float(at(t) - at(t - width))

    return value
