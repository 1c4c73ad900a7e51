"""Planned maintenance: nothing about a service notifies while its window is open, and its
after-effects do not page when the window closes (docs/maintenance.md).

MaintenanceWindow turns the exporter's ``redline_maintenance_window`` series (the config's
``maintenance:`` section) into an alert that notifies nobody and that Alertmanager's inhibitions
key on (alert_rules/routing.yml): ``phase="during"`` silences every alert of the service (or
database) while the window is open; ``phase="after"`` silences all but the down alert for
``window`` after it closed, while the SLO burn windows and error ratios still hold the planned
downtime. A service still down when its window has closed pages: the work overran.

Why an alert and not an Alertmanager time interval: the window lives in Prometheus's history,
so post-mortems and the dashboards see which burn fell inside it, and both Alertmanagers of an
HA pair get it from the same rule.
"""

from __future__ import annotations

from exporter.metrics import MAINTENANCE_WINDOW
from exporter.rules.alerts.common import Context, case, fires, quiet
from exporter.rules.model import Alert, Rule, sel
from exporter.rules.spec import seconds

NAME = "MaintenanceWindow"
AFTER = "MaintenanceAftermath"
TEST_STEP = 30  # seconds: the evaluation interval the promtool tests step at (stack.yml)
WINDOW_LABELS = "window, service, database"
DESCRIPTION = (
    "Maintenance window {{ $labels.window }} of the config's maintenance: covers "
    "{{ $labels.service }} (a database window names it in the database label). "
)


def alerts(ctx: Context) -> list[Alert]:
    spec, after_spec = ctx.alert(NAME), ctx.alert(AFTER)
    (window,) = ctx.values(after_spec, AFTER, "info", "window")
    open_ = f"{sel(MAINTENANCE_WINDOW)} == 1"
    recent = f"max_over_time({sel(MAINTENANCE_WINDOW)}[{window}]) == 1"
    chatwoot = 'redline_maintenance_window{window="upgrade", service="chatwoot"}'
    steps = int(seconds(window) / TEST_STEP)
    labels = {"window": "upgrade", "service": "chatwoot"}
    # open for steps 1-10 (five minutes), then closed
    series = {chatwoot: f"0 1x9 0x{steps + 10}"}
    # a window that stays closed explains nothing
    closed = quiet({chatwoot: f"0x{steps}"})
    return [
        Alert(
            NAME,
            "maintenance",
            "Planned maintenance of {{ $labels.service }} ({{ $labels.window }})",
            DESCRIPTION
            + "While it is open (value {{ $value | humanize }}) every alert about it is "
            "inhibited. Sends nothing; docs/maintenance.md.",
            spec.dashboard,
            (Rule("info", open_, spec.level("info").for_),),
            (case(series, labels, fires("info", 1, 1), until=10),),
            closed,
        ),
        Alert(
            AFTER,
            "maintenance",
            "Maintenance of {{ $labels.service }} ({{ $labels.window }}) ended within [[window]]",
            DESCRIPTION
            + "It closed less than [[window]] ago (value {{ $value | humanize }}): every "
            "alert about it but the down alert stays inhibited while the SLO burn windows and "
            "error ratios still hold the planned downtime. Sends nothing; docs/maintenance.md.",
            after_spec.dashboard,
            (
                Rule(
                    "info",
                    f"({recent})\nunless on ({WINDOW_LABELS})\n({open_})",
                    after_spec.level("info").for_,
                ),
            ),
            (case(series, labels, fires("info", 11, 1), until=10 + steps),),
            closed,
        ),
    ]
