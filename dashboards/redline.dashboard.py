"""redline itself: is the measuring instrument working? Scrapes, probe errors, sources and
collectors, reloads, and the streams it ingests (logs, heartbeat pings, vendor fetches)."""

from dashboards import style as s
from dashboards.style import Q, m, sel, var

EX = {"instance": var("instance")}
JOB: dict[str, s.Matches] = {"job": s.REDLINE_JOB, **EX}
RATE = s.RATE
SCRAPE_BUCKETS = sel(m.SCRAPE_DURATION, "_bucket", **EX)

health = s.row(
    "Exporter",
    s.stat(
        "Exporter up",
        "Whether Prometheus could scrape each exporter (RedlineExporterDown pages after 2 min).",
        Q(sel(s.PROMETHEUS_UP, **JOB), "{{instance}}"),
        mappings=s.state_mappings(s.UP_DOWN),
        alerts=("RedlineExporterDown",),
        w=6,
    ),
    s.stat(
        "Version",
        "redline's version on each exporter.",
        Q(sel(m.BUILD_INFO, **EX), "{{instance}} {{version}} (Python {{python_version}})"),
        text_mode="name",
        thresholds=s.steps(s.INFO),
        w=4,
    ),
    s.stat(
        "Shard",
        "The share of the services each exporter runs (redline run --shard=I/N; 1/1 "
        "unsharded). RedlineShardMismatch compares it with the share stack.yml gives the "
        "exporter, and the exporters' shares with each other.",
        Q(sel(m.SHARD_INFO, **EX), "{{instance}}: {{running}}"),
        text_mode="name",
        thresholds=s.steps(s.INFO),
        alerts=("RedlineShardMismatch",),
        w=4,
    ),
    s.stat(
        "Config reload",
        "Whether the last load or reload of the config succeeded (the old config stays in force "
        "when it did not: an invalid or empty file, or one removing more than half of an "
        "area's targets without ?force=1). RedlineTargetsVanished watches the targets counted "
        "by redline_config_targets.",
        Q(sel(m.CONFIG_RELOAD_SUCCESS, **EX), "{{instance}}"),
        mappings=s.state_mappings({"FAILED": s.CRITICAL, "ok": s.OK}),
        alerts=("RedlineConfigReloadFailed", "RedlineTargetsVanished"),
        w=6,
    ),
    s.stat(
        "Last good reload",
        "When the config was last loaded successfully.",
        Q(f"{sel(m.CONFIG_RELOAD_TIMESTAMP, **EX)} * 1000", "{{instance}}"),
        unit=s.FROM_NOW,
        w=4,
    ),
    s.timeseries(
        "Scrape duration",
        "p50, p90 and p99 of /metrics and /probe wall time; orange where RedlineScrapeSlow "
        "opens a ticket (its p90 close to the scrape timeout).",
        *(
            Q(
                f"histogram_quantile({q}, sum by (endpoint, le) (rate({SCRAPE_BUCKETS}[{RATE}])))",
                f"{{{{endpoint}}}} p{int(q * 100)}",
            )
            for q in (0.5, 0.9, 0.99)
        ),
        Q(sel(s.SCRAPE_DURATION, **JOB), "{{instance}} as Prometheus saw it"),
        unit=s.SECONDS,
        thresholds=s.above("RedlineScrapeSlow"),
        alerts=("RedlineScrapeSlow",),
    ),
    s.timeseries(
        "Exporter process",
        "CPU (in CPUs, left axis) and resident memory (bytes, right axis) of the exporter "
        "process; its open files are the next panel.",
        Q(f"rate({sel(s.PROCESS_CPU, **JOB)}[{RATE}])", "{{instance}} CPU"),
        Q(sel(s.PROCESS_RESIDENT_MEMORY, **JOB), "{{instance}} memory"),
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": ".* memory"},
                "properties": [
                    {"id": "unit", "value": s.BYTES},
                    {"id": "custom.axisPlacement", "value": "right"},
                ],
            }
        ],
    ),
    s.timeseries(
        "Exporter open files",
        "File descriptors the exporter process holds open (sockets, log files followed).",
        Q(sel(s.PROCESS_OPEN_FDS, **JOB), "{{instance}}"),
        unit=s.COUNT,
    ),
)

probes = s.row(
    "Probes",
    s.timeseries(
        "Probe runs",
        "Probe runs started per second, per service (a run shared by concurrent scrapes counts "
        "once).",
        Q(
            f"sum by (service) (rate({sel(m.PROBE_RUNS, **EX)}[{RATE}]))",
            "{{service}}",
        ),
        unit=s.OPS,
        stack=True,
        w=8,
    ),
    s.timeseries(
        "Probe errors by reason",
        "Failed probe runs per second by reason; secret (a missing secret) and internal (a bug "
        "in redline) mean a probe measures nothing (RedlineProbeErrors).",
        Q(
            f"sum by (reason) (rate({sel(m.PROBE_ERRORS, **EX)}[{RATE}]))",
            "{{reason}}",
        ),
        unit=s.OPS,
        stack=True,
        alerts=("RedlineProbeErrors",),
        w=8,
    ),
    s.timeseries(
        "Reused results",
        "Age of the results served: above the dashed line alerts about that probe see the past "
        "(RedlineProbeResultStale).",
        Q(f"max by (service, probe) ({sel(m.PROBE_RESULT_AGE, **EX)})", "{{service}}/{{probe}}"),
        unit=s.SECONDS,
        thresholds=s.above("RedlineProbeResultStale"),
        alerts=("RedlineProbeResultStale",),
        w=8,
    ),
)

sources = s.row(
    "Sources and collectors",
    s.stat(
        "Sources",
        "Whether each source (postgres, host, logs, backups, heartbeats, vendors) answered the "
        "last scrape in time (RedlineSourceDown after 10 min).",
        Q(f"min by (source) ({sel(m.SOURCE_UP, **EX)})", "{{source}}"),
        mappings=s.state_mappings(s.UP_DOWN),
        alerts=("RedlineSourceDown",),
        w=12,
        h=5,
    ),
    s.stat(
        "Collectors failing",
        "Host collectors and Postgres sub-collectors failing in the last scrape while their "
        "source works (RedlineCollectorFailing).",
        Q(f"count({sel(m.NODE_SCRAPE_COLLECTOR_SUCCESS, **EX)} == 0) or vector(0)", "host"),
        Q(f"count({sel(m.PG_COLLECTOR_SUCCESS, **EX)} == 0) or vector(0)", "postgres"),
        unit=s.COUNT,
        thresholds=s.steps(s.OK, (1, s.WARNING)),
        text_mode="value_and_name",
        alerts=("RedlineCollectorFailing",),
        w=12,
        h=5,
    ),
    s.timeseries(
        "Source durations",
        "How long each source took to collect for a scrape.",
        Q(f"max by (source) ({sel(m.SOURCE_DURATION, **EX)})", "{{source}}"),
        unit=s.SECONDS,
        w=8,
    ),
    s.timeseries(
        "Host collector durations",
        "How long each host collector took.",
        Q(
            f"max by (collector) ({sel(m.NODE_SCRAPE_COLLECTOR_DURATION, **EX)})",
            "{{collector}}",
        ),
        unit=s.SECONDS,
        w=8,
    ),
    s.timeseries(
        "Postgres sub-collector durations",
        "How long each Postgres sub-collector took, per database.",
        Q(sel(m.PG_COLLECTOR_DURATION, **EX), "{{database}} {{collector}}"),
        unit=s.SECONDS,
        w=8,
    ),
)

ingest = s.row(
    "Ingest",
    s.timeseries(
        "Log lines read",
        "Lines per second per log source, and bytes read.",
        Q(f"sum by (source) (rate({sel(m.LOG_LINES, **EX)}[{RATE}]))", "{{source}} lines"),
        Q(f"rate({sel(m.LOG_READ_BYTES, **EX)}[{RATE}])", "{{source}} bytes"),
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": ".* bytes"},
                "properties": [
                    {"id": "unit", "value": s.BYTES_PER_SECOND},
                    {"id": "custom.axisPlacement", "value": "right"},
                ],
            }
        ],
        w=8,
    ),
    s.timeseries(
        "Log parse errors",
        "Share of each source's lines no parser understood; above the dashed line request and "
        "error figures from it are incomplete (LogParseErrorsHigh).",
        Q(
            f"sum by (source) (rate({sel(m.LOG_PARSE_ERRORS, **EX)}[{RATE}]))\n"
            f"  / sum by (source) (rate({sel(m.LOG_LINES, **EX)}[{RATE}]))",
            "{{source}}",
        ),
        unit=s.RATIO,
        thresholds=s.above("LogParseErrorsHigh"),
        alerts=("LogParseErrorsHigh",),
        w=8,
    ),
    s.timeseries(
        "Lines dropped and file errors",
        "Lines dropped (too long, or cut by a rotation) and files that could not be read, per "
        "second.",
        Q(
            f"sum by (source, reason) (rate({sel(m.LOG_LINES_DROPPED, **EX)}[{RATE}]))",
            "{{source}} dropped {{reason}}",
        ),
        Q(f"rate({sel(m.LOG_FILE_ERRORS, **EX)}[{RATE}])", "{{source}} file errors"),
        unit=s.OPS,
        w=8,
    ),
    s.timeseries(
        "Ingest requests",
        "Requests to /ingest/<source> per second by answer (200, 401, 413, 503).",
        Q(
            f"sum by (source, code) (rate({sel(m.LOG_INGEST_REQUESTS, **EX)}[{RATE}]))",
            "{{source}} {{code}}",
        ),
        unit=s.PER_SECOND,
        w=8,
    ),
    s.stat(
        "Log files followed",
        "Files each file source has open now.",
        Q(sel(m.LOG_FILES, **EX), "{{source}}"),
        unit=s.COUNT,
        w=4,
    ),
    s.state_stat(
        "Heartbeat state file",
        "Whether the heartbeats' state file was last saved (ok), or why not.",
        Q(s.state_code(m.HEARTBEAT_STATE_FILE_STATUS, "status", s.STATE_FILE_STATES, (), **EX)),
        states=s.STATE_FILE_STATES,
        w=4,
    ),
    s.timeseries(
        "Vendor fetches",
        "How long the last fetch of each status feed and vendor API check took.",
        Q(sel(m.VENDOR_FEED_FETCH_DURATION, **EX), "feed {{feed}}"),
        Q(sel(m.VENDOR_CHECK_DURATION, **EX), "check {{check}}"),
        unit=s.SECONDS,
        w=8,
    ),
)

# The alerts on the pipeline's own metrics, where the catalogue has them (their runbooks are
# linked from these panels; a name not in alert_rules/alerts.yml is left out, not invented).
PIPELINE_ALERTS = {
    "rules": ("PrometheusRuleEvaluationFailing",),
    "notifications": ("AlertmanagerNotificationsFailing",),
    "reloads": ("PrometheusConfigReloadFailed", "AlertmanagerConfigReloadFailed"),
}


def _alerts(key: str) -> tuple[str, ...]:
    return tuple(a for a in PIPELINE_ALERTS[key] if a in s.alerts_spec().alerts)


pipeline = s.row(
    "Alerting pipeline: can an alert reach the on-call? (Prometheus and Alertmanager: the "
    "exporter variable does not apply)",
    s.stat(
        "Watchdog",
        "FIRING while Prometheus evaluates the rules (the Watchdog rule always fires; "
        "Alertmanager sends it to the dead man's switch). Anything else means no alert can "
        "fire: see its runbook.",
        Q(f"max({sel(s.ALERTS, alertname=s.WATCHDOG, alertstate='firing')})"),
        mappings=[{"type": "value", "options": {"1": {"text": "FIRING", "color": s.OK}}}],
        no_data=s.NoData("NOT FIRING", s.CRITICAL),
        alerts=(s.WATCHDOG,),
        w=6,
        h=5,
    ),
    s.stat(
        "Config reloads",
        "Whether the last configuration reload of Prometheus and of each Alertmanager "
        "succeeded; after a refused reload the old rules or routes stay in force and the next "
        "restart fails on the file on disk.",
        Q(sel(s.PROMETHEUS_RELOAD_OK), "Prometheus {{instance}}"),
        Q(sel(s.ALERTMANAGER_RELOAD_OK), "Alertmanager {{instance}}"),
        mappings=s.state_mappings({"FAILED": s.CRITICAL, "ok": s.OK}),
        text_mode="value_and_name",
        alerts=_alerts("reloads"),
        w=6,
        h=5,
    ),
    s.stat(
        "Alertmanagers Prometheus sends to",
        "Alertmanagers Prometheus has discovered and sends its alerts to; 0 means every alert "
        "stays inside Prometheus.",
        Q(sel(s.PROMETHEUS_ALERTMANAGERS), "{{instance}}"),
        unit=s.COUNT,
        thresholds=s.steps(s.CRITICAL, (1, s.OK)),
        w=6,
        h=5,
    ),
    s.stat(
        "Alerts dropped by Prometheus",
        "Alerts Prometheus dropped over the time range instead of sending them (queue full, "
        "no Alertmanager reachable).",
        Q(f"increase({sel(s.PROMETHEUS_NOTIFICATIONS_DROPPED)}[{s.RANGE}])", "{{instance}}"),
        unit=s.COUNT,
        thresholds=s.steps(s.OK, (1, s.CRITICAL)),
        w=6,
        h=5,
    ),
    s.timeseries(
        "Rule evaluation failures",
        "Failed evaluations per rule group, one bar per interval: while a group fails, its "
        "alerts cannot fire.",
        Q(
            f"sum by (rule_group) (increase({sel(s.PROMETHEUS_RULE_FAILURES)}[{s.INTERVAL}]))",
            "{{rule_group}}",
        ),
        unit=s.COUNT,
        per_interval=True,
        alerts=_alerts("rules"),
    ),
    s.timeseries(
        "Notifications failed",
        "Share of the notifications each integration (pagerduty, slack, email, webhook) "
        "attempted that it failed to deliver: a failed page is a page nobody got.",
        Q(
            f"sum by (integration) "
            f"(rate({sel(s.ALERTMANAGER_NOTIFICATIONS_FAILED)}[{s.RATE}]))\n"
            f"  / clamp_min(sum by (integration) "
            f"(rate({sel(s.ALERTMANAGER_NOTIFICATIONS)}[{s.RATE}])), 1e-9)",
            "{{integration}}",
        ),
        unit=s.RATIO,
        thresholds=s.steps(s.OK, (0.000001, s.CRITICAL)),
        alerts=_alerts("notifications"),
    ),
)

dashboard = s.dashboard(
    "redline",
    "Is redline itself measuring, and can an alert reach the on-call? Scrapes, the alerting "
    "pipeline (Watchdog, rule evaluation, reloads, notifications), probe errors, sources and "
    "collectors, config reloads, and what it ingests.",
    [health, pipeline, probes, sources, ingest],
    variables=[s.variable("instance", "Exporter", m.BUILD_INFO, "instance")],
)
