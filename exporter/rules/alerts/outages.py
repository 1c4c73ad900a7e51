"""Outages and what they explain: one page per incident (docs/alerting.md).

A service that is down (ServiceDown) or the database the services use being down (PostgresDown)
is the one page of its incident. The other alerts it causes (the service's SLO burn, its log
error rate, the dependents of the database) are inhibited in Alertmanager by the down alert
while it fires (alert_rules/routing.yml), and by OutageWindow after it resolved: their windows
still hold the outage for a while (a burn-rate pair's short window, a 5 min error ratio), and
without it they page as the service recovers, to an on-call who just saw the resolved notice.

OutageWindow reads Prometheus's own ALERTS series: it fires from the evaluation after the down
alert fires until ``window`` after it resolved. It is routed to a receiver that sends nothing;
it shows in Prometheus and Alertmanager as the reason an alert is inhibited.
"""

from __future__ import annotations

from exporter.metrics import Metric
from exporter.rules.alerts.common import (
    Context,
    case,
    fires,
    quiet,
    seq,
)
from exporter.rules.model import Alert, Rule, sel
from exporter.rules.spec import SpecError, seconds

# Prometheus's series of every alerting rule's pending and firing alerts (rule labels included).
ALERTS = Metric(
    "ALERTS",
    "gauge",
    "1 for every pending or firing alert (Prometheus itself).",
    ("alertname", "alertstate", "severity", "service", "database", "probe"),
)
NAME = "OutageWindow"
TEST_STEP = 30  # seconds: the evaluation interval the promtool tests step at (stack.yml)
# explaining alert -> the label it explains by (the identity its inhibition keys on)
EXPLAINERS = {"ServiceDown": "service", "PostgresDown": "database"}


def _alerts_series(**labels: str) -> str:
    body = ", ".join(f'{k}="{v}"' for k, v in labels.items())
    return f"ALERTS{{{body}}}"


def alerts(ctx: Context) -> list[Alert]:
    spec = ctx.alert(NAME)
    (window,) = ctx.values(spec, NAME, "info", "window")
    rules = []
    for cause, by in EXPLAINERS.items():
        if cause not in ctx.spec.alerts:
            raise SpecError(f"alert_rules/alerts.yml: {NAME} explains {cause}, not an alert")
        fired = sel(ALERTS, alertname=cause, alertstate="firing", severity="page")
        expr = f"max by ({by}) (max_over_time({fired}[{window}]))"
        if by != "service":
            # the database's own alerts carry service="database"
            expr = f'label_replace(\n  {expr},\n  "service", "database", "", ""\n)'
        # cause tells the two rules apart (rules of one name must differ in their labels)
        rules.append(Rule("info", expr, spec.level("info").for_, {"cause": cause}, cause))
    firing = {"alertstate": "firing", "severity": "page"}
    down = _alerts_series(alertname="ServiceDown", **firing, service="agent-service", probe="h")
    db = _alerts_series(alertname="PostgresDown", **firing, database="supabase-pooler")
    steps = int(seconds(window) / TEST_STEP)
    # the down alert fires for 10 steps (0-9); max_over_time holds its last sample until the
    # window has passed it: still firing at step 9 + steps, gone one step later
    return [
        Alert(
            NAME,
            "outages",
            "An outage of {{ $labels.service }} goes on or ended within the window",
            "The down alert of {{ $labels.service }} fired within the window of OutageWindow "
            "(value {{ $value | humanize }}): the alerts it causes stay inhibited while their "
            "own windows still hold the outage, so the recovery does not page a second time. "
            "Sends nothing; docs/alerting.md.",
            spec.dashboard,
            tuple(rules),
            (
                case(
                    {down: f"{seq((1, 10))} _x{steps + 10}"},
                    {"service": "agent-service"},
                    fires("info", 0, 1, "ServiceDown"),
                    until=9 + steps,
                ),
                case(
                    {db: f"{seq((1, 10))} _x{steps + 10}"},
                    {"database": "supabase-pooler", "service": "database"},
                    fires("info", 0, 1, "PostgresDown"),
                    until=9 + steps,
                ),
            ),
            # pending is no outage yet, and a ticket-level one is not the one page
            quiet(
                {
                    _alerts_series(
                        alertname="ServiceDown", alertstate="pending", severity="page"
                    ): seq((1, 10)),
                    _alerts_series(
                        alertname="PostgresDown", alertstate="firing", severity="ticket"
                    ): seq((1, 10)),
                }
            ),
        )
    ]
