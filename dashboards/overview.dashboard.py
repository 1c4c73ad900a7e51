"""Operator overview: is the shop OK? A handful of big tiles, each coloured where the alerts draw
their lines and each a click away from its detail dashboard."""

from dashboards import platform_health
from dashboards import style as s
from dashboards.style import Q, m, sel

APP = "hotdash-app"
APP_PROBES = next(x.sli.probes for x in s.slos_spec().slos if x.sli.probes and x.service == APP)
APP_PROBE_MATCH = ("=~", s.alternatives(APP_PROBES.probes))
APP_HEALTH = next(b for b in s.latency_budgets() if (b.service, b.probe) == (APP, "health"))
LATENCY_WINDOW = s.window("ServiceLatencyHigh")
STOREFRONT = ("shopify", "Storefront")  # vendor feed and component, as config/hotrod.yml names them
assert STOREFRONT[1] in s.vendor_components(STOREFRONT[0])
FIRING: dict[str, s.Matches] = {"alertstate": "firing", "alertname": ("!=", s.WATCHDOG)}

EXPORTER_UP = sel(s.PROMETHEUS_UP, job=s.REDLINE_JOB)
# Every exporter Prometheus scrapes answered its last scrape (false with none configured): what
# redline's own figures need before "0 failing" can be believed.
EXPORTERS_ALL_UP = f"count({EXPORTER_UP} == 1) == count({EXPORTER_UP})"
# Watchdog fires as long as Prometheus evaluates its rules: "nothing paging" is only true then.
WATCHDOG_FIRING = sel(s.ALERTS, alertname=s.WATCHDOG, alertstate="firing")


def _count_firing(severity: str) -> str:
    """Alerts of ``severity`` firing now; 0 when none fire while the rules are evaluated, no
    value (unknown) when Watchdog is not firing either, since then nothing could fire."""
    firing = sel(s.ALERTS, severity=severity, **FIRING)
    return f"count({firing})\n  or on() (vector(0) and on() {WATCHDOG_FIRING})"


verdict = s.row(
    "Is anything paging?",
    s.stat(
        "Paging now",
        "Alerts with severity page firing now (Watchdog aside). Green 'nothing paging' only "
        "while Watchdog fires, the proof that Prometheus evaluates the rules; grey 'unknown' "
        "when it does not (then no alert could fire: see the Watchdog runbook).",
        Q(_count_firing("page")),
        unit=s.COUNT,
        thresholds=s.steps(s.OK, (1, s.CRITICAL)),
        mappings=[{"type": "value", "options": {"0": {"text": "nothing paging", "color": s.OK}}}],
        links=(s.goto("launch"),),
        alerts=(s.WATCHDOG,),
        w=8,
        h=6,
    ),
    s.stat(
        "Alerts with a ticket",
        "Alerts firing with severity ticket now; unknown while Watchdog is not firing.",
        Q(_count_firing("ticket")),
        unit=s.COUNT,
        thresholds=s.steps(s.OK, (1, s.WARNING)),
        mappings=[{"type": "value", "options": {"0": {"text": "none", "color": s.OK}}}],
        links=(s.goto("launch"),),
        w=4,
        h=6,
    ),
    s.stat(
        "Exporter up",
        "DOWN when Prometheus failed its last scrape of a redline exporter, or scrapes none: "
        "then every figure of the shop below is stale or missing (RedlineExporterDown).",
        Q(f"min({EXPORTER_UP})\n  or on() (absent({EXPORTER_UP}) * 0)"),
        mappings=s.state_mappings(s.UP_DOWN),
        links=(s.goto("redline"),),
        alerts=("RedlineExporterDown",),
        w=4,
        h=6,
    ),
    s.stat(
        "Probes failing",
        "Probes of every service failing at the last scrape; 'exporter down' when an exporter "
        "was not scraped, since its probes then have no result at all (not 0 failing).",
        Q(f"(count({sel(m.PROBE_SUCCESS)} == 0) or vector(0))\n  and on() ({EXPORTERS_ALL_UP})"),
        unit=s.COUNT,
        thresholds=s.steps(s.OK, (1, s.CRITICAL)),
        no_data=s.NoData("exporter down", s.CRITICAL),
        links=(s.goto("services"),),
        alerts=("ServiceDown",),
        w=8,
        h=6,
    ),
)

tiles = s.row(
    "Is the shop OK?",
    s.stat(
        "HotDash app",
        "UP when every probe of the app's availability SLO ("
        + ", ".join(APP_PROBES.probes)
        + ") succeeded at the last scrape.",
        Q(f"min({sel(m.PROBE_SUCCESS, service=APP, probe=APP_PROBE_MATCH)})"),
        mappings=s.state_mappings(s.UP_DOWN),
        links=(s.goto("services", service=APP),),
        alerts=("ServiceDown",),
        w=4,
        h=6,
    ),
    s.state_stat(
        "Storefront (Shopify)",
        "Shopify's own status page for the Storefront component the shop's customers use.",
        Q(
            s.state_code(
                m.VENDOR_COMPONENT_STATUS,
                "status",
                s.COMPONENT_STATES,
                (),
                feed=STOREFRONT[0],
                component=STOREFRONT[1],
            )
        ),
        states=s.COMPONENT_STATES,
        links=(s.goto("backups-vendors"),),
        alerts=("VendorComponentDown",),
        w=4,
        h=6,
    ),
    s.stat(
        "App latency against its budget",
        f"p95 of the app's /health probe over {LATENCY_WINDOW}; orange above its ticket budget, "
        "red above its page limit (ServiceLatencyHigh).",
        Q(
            f"quantile_over_time(0.95, "
            f"{sel(m.PROBE_DURATION, service=APP, probe=APP_HEALTH.probe)}[{LATENCY_WINDOW}])"
        ),
        unit=s.SECONDS,
        thresholds=s.budget_steps(APP_HEALTH),
        links=(s.goto("services", service=APP),),
        alerts=("ServiceLatencyHigh",),
        w=4,
        h=6,
    ),
    s.budget_left_stat(
        "Error budget left (30 days)",
        "The SLO with the least of its error budget left over the SLOs' rolling 30-day window "
        "(not the calendar month); red once overspent.",
        w=8,
        h=6,
    ),
    s.state_stat(
        "Vendors",
        "The worst state of the vendor components the stack depends on (status pages).",
        Q(s.state_code(m.VENDOR_COMPONENT_STATUS, "status", s.COMPONENT_STATES, ())),
        states=s.COMPONENT_STATES,
        links=(s.goto("backups-vendors"),),
        alerts=("VendorComponentDown", "VendorComponentDegraded"),
        w=4,
        h=6,
    ),
    s.stat(
        "Oldest backup against its RPO",
        "Age of the newest backup of the worst backup set over its max_age (RPO): orange "
        "from 1x (ticket), red from the page multiple (BackupTooOld).",
        Q(f"max({sel(m.BACKUP_NEWEST_AGE)} / {sel(m.BACKUP_MAX_AGE)})"),
        unit=s.RATIO,
        thresholds=s.above("BackupTooOld"),
        links=(s.goto("backups-vendors"),),
        alerts=("BackupTooOld", "BackupFailed"),
        w=8,
        h=6,
    ),
    s.stat(
        "Database",
        "UP when every configured database answered redline's canary query.",
        Q(f"min({sel(m.PG_UP)})"),
        mappings=s.state_mappings(s.UP_DOWN),
        links=(s.goto("database"),),
        alerts=("PostgresDown",),
        w=8,
        h=6,
    ),
    s.state_stat(
        "Scheduled jobs",
        "The worst heartbeat state of the nightly jobs.",
        Q(s.state_code(m.HEARTBEAT_STATUS, "status", s.HEARTBEAT_STATES, ())),
        states=s.HEARTBEAT_STATES,
        links=(s.goto("backups-vendors"),),
        alerts=("HeartbeatFailed", "HeartbeatLate"),
        w=8,
        h=6,
    ),
)

details = s.row(
    "What is going on",
    s.table(
        "Firing alerts",
        "Every alert firing now but Watchdog, the alerting pipeline's heartbeat (its runbook "
        "says what its silence means); click an alert's name for its runbook.",
        Q(sel(s.ALERTS, **FIRING)),
        hide=("__name__", "alertstate", "Value", "job", "instance"),
        overrides=[s.runbook_field_link()],
        alerts=(s.WATCHDOG, "OutageWindow", "MaintenanceWindow", "MaintenanceAftermath"),
        w=12,
        h=9,
    ),
    s.timeseries(
        "Probes failing by service",
        "Probes failing at each scrape, per service.",
        Q(f"count by (service) ({sel(m.PROBE_SUCCESS)} == 0)", "{{service}}"),
        unit=s.COUNT,
        bars=True,
        links=(s.goto("services"),),
        w=12,
        h=9,
    ),
)

dashboard = s.dashboard(
    "overview",
    "Is the shop OK? Each tile is coloured where the alerts draw their lines; click one for "
    "its detail dashboard.",
    [verdict, tiles, platform_health.row(), details],
    all_alerts=True,
    time_from="now-3h",
)
