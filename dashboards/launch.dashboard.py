"""Launch day: what on-call watches during the launch window (October 13-15, when paging is
tighter) on one screen: the shop's pulse, its traffic, and the known weak spots of the launch
(Chatwoot's worker running out of memory, the agent queue, Shopify's rate limits)."""

from dashboards import platform_health
from dashboards import style as s
from dashboards.style import Q, m, sel

RATE = s.RATE
HEALTH = {"probe": "health"}
HEALTH_BUDGETS = {
    f"{b.service}/{b.probe}": s.budget_steps(b) for b in s.latency_budgets() if b.probe == "health"
}
QUEUE_JOBS = s.json_metric("queue_jobs")
MCP_P95 = s.json_metric("mcp_tool_p95_latency_seconds")
FIRING: dict[str, s.Matches] = {"alertstate": "firing", "alertname": ("!=", s.WATCHDOG)}
REQUESTS = sel(m.LOG_HTTP_REQUESTS)
# redline_launch_window is 0 or 1: the tile names it, blue while closed, orange while open
# (warnings page on-call then: alert_rules/routing.yml's launch-window)
WINDOW_STATES = {"closed": s.INFO, "open": s.WARNING}


def _moment(title: str, description: str, metric: m.Metric) -> s.g.Stat:
    """A Unix-time gauge shown as "in 3 days" / "2 months ago"."""
    return s.stat(
        title,
        description,
        Q(f"{sel(metric)} * 1000"),
        unit=s.FROM_NOW,
        thresholds=s.steps(s.INFO),
        w=8,
        h=3,
    )


window = s.row(
    "Launch window",
    s.stat(
        "Window state",
        "Open inside the launch window of the exporter's config (launch:); while it is open, "
        "warnings page on-call too (docs/launch-day.md).",
        Q(sel(m.LAUNCH_WINDOW)),
        mappings=s.state_mappings(WINDOW_STATES),
        w=8,
        h=3,
    ),
    _moment("Window opens", "The start of the configured launch window.", m.LAUNCH_WINDOW_START),
    _moment(
        "Window closes",
        "The end of the configured launch window: paging returns to normal then.",
        m.LAUNCH_WINDOW_END,
    ),
)

pulse = s.row(
    "Pulse",
    s.stat(
        "Services up",
        "The /health probe of every service.",
        Q(sel(m.PROBE_SUCCESS, **HEALTH), "{{service}}"),
        mappings=s.state_mappings(s.UP_DOWN),
        links=(s.goto("services"),),
        alerts=("ServiceDown",),
        w=8,
        h=5,
    ),
    s.stat(
        "5xx ratio (logs)",
        "Server errors over all responses in the logs, all services; orange and red where "
        "LogErrorRateHigh opens a ticket and pages.",
        Q(
            f"(sum(rate({sel(m.LOG_HTTP_REQUESTS, code_class='5xx')}[{RATE}])) or vector(0))\n"
            f"  / sum(rate({REQUESTS}[{RATE}]))"
        ),
        unit=s.RATIO,
        thresholds=s.above("LogErrorRateHigh"),
        links=(s.goto("apis"),),
        alerts=("LogErrorRateHigh",),
        w=4,
        h=5,
    ),
    s.stat(
        "Alerts firing",
        "Alerts firing now, by severity (Watchdog aside); 'none firing' when there are none.",
        Q(f"count by (severity) ({sel(s.ALERTS, **FIRING)})", "{{severity}}"),
        unit=s.COUNT,
        thresholds=s.steps(s.OK, (1, s.WARNING)),
        text_mode="value_and_name",
        no_data=s.nothing("none firing"),
        links=(s.goto("overview"),),
        w=4,
        h=5,
    ),
    s.budget_left_stat(
        "Error budget left",
        "The SLO with the least of its error budget left over the SLOs' rolling 30 days.",
        w=4,
        h=5,
    ),
    s.state_stat(
        "Shopify",
        "The worst state of Shopify's components the shop depends on (its status page).",
        Q(
            s.state_code(
                m.VENDOR_COMPONENT_STATUS, "status", s.COMPONENT_STATES, (), feed="shopify"
            )
        ),
        states=s.COMPONENT_STATES,
        links=(s.goto("backups-vendors"),),
        alerts=("VendorComponentDown",),
        w=4,
        h=5,
    ),
)

traffic = s.row(
    "Traffic and latency",
    s.timeseries(
        "Requests per second by service",
        "Requests in the logs per second, by status class.",
        Q(
            f"sum by (service, code_class) (rate({REQUESTS}[{RATE}]))",
            "{{service}} {{code_class}}",
        ),
        unit=s.PER_SECOND,
        stack=True,
        links=(s.goto("apis"),),
        w=8,
    ),
    s.timeseries(
        "p95 latency by service (logs)",
        "p95 of the request durations in the logs, per service.",
        Q(
            "histogram_quantile(0.95, sum by (service, le) "
            f"(rate({sel(m.LOG_HTTP_DURATION, '_bucket')}[{RATE}])))",
            "{{service}}",
        ),
        unit=s.SECONDS,
        links=(s.goto("apis"),),
        w=8,
    ),
    s.timeseries(
        "Health checks against their budgets",
        "Each service's /health probe duration with its latency budget as dashed lines.",
        Q(sel(m.PROBE_DURATION, **HEALTH), "{{service}}/{{probe}}"),
        unit=s.SECONDS,
        overrides=s.thresholds_by_name(HEALTH_BUDGETS),
        alerts=("ServiceLatencyHigh",),
        w=8,
    ),
)

weak_spots = s.row(
    "Known weak spots",
    s.timeseries(
        "Out-of-memory lines",
        "Log lines matching the oom pattern (Chatwoot's Sidekiq worker was OOM-killed at "
        "launch), one bar per interval counting that interval's lines only; any one opens a "
        "ticket (LogOutOfMemory).",
        Q(
            f"sum by (source) "
            f"(increase({sel(m.LOG_PATTERN_MATCHES, pattern='oom')}[{s.INTERVAL}]))",
            "{{source}}",
        ),
        unit=s.COUNT,
        per_interval=True,
        alerts=("LogOutOfMemory",),
        w=6,
    ),
    s.timeseries(
        "Agent queue pending",
        "Pending agent-service jobs: drafts wait while it grows (AgentQueueBacklog above the "
        "dashed line).",
        Q(sel(QUEUE_JOBS, state="pending"), "{{service}}"),
        unit=s.COUNT,
        thresholds=s.above("AgentQueueBacklog"),
        alerts=("AgentQueueBacklog",),
        w=6,
    ),
    s.timeseries(
        "MCP query latency",
        "llamaindex-mcp's p95 per tool (MCPQueryLatencyHigh above the dashed lines).",
        Q(sel(MCP_P95), "{{tool}}"),
        unit=s.SECONDS,
        thresholds=s.above("MCPQueryLatencyHigh"),
        alerts=("MCPQueryLatencyHigh",),
        w=6,
    ),
    s.timeseries(
        "Capacity",
        "CPU busy, memory used and the fullest disk of the host (orange at the lowest ticket "
        "threshold of the three).",
        Q(
            f"1 - avg by (instance) (rate({sel(m.NODE_CPU_SECONDS, mode='idle')}[{RATE}]))",
            "{{instance}} CPU",
        ),
        Q(
            f"1 - {sel(m.NODE_MEMORY_MEMAVAILABLE)} / {sel(m.NODE_MEMORY_MEMTOTAL)}",
            "{{instance}} memory",
        ),
        Q(
            f"max by (instance) (1 - {sel(m.NODE_FILESYSTEM_AVAIL)} / "
            f"{sel(m.NODE_FILESYSTEM_SIZE)})",
            "{{instance}} fullest disk",
        ),
        unit=s.RATIO,
        max_=1,
        thresholds=s.above("HostMemoryHigh"),
        links=(s.goto("hosts"),),
        alerts=("HostCPUHigh", "HostMemoryHigh", "HostDiskUsageHigh"),
        w=6,
    ),
    s.stat(
        "Database",
        "The database's canary and how much of its connections are in use.",
        Q(sel(m.PG_UP), "{{database}} up"),
        Q(sel(m.PG_CONNECTIONS_USAGE), "{{database}} connections used"),
        text_mode="value_and_name",
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": ".* up"},
                "properties": [{"id": "mappings", "value": s.state_mappings(s.UP_DOWN)}],
            },
            {
                "matcher": {"id": "byRegexp", "options": ".* connections used"},
                "properties": [
                    {"id": "unit", "value": s.RATIO},
                    {
                        "id": "thresholds",
                        "value": {"mode": "absolute", "steps": s.above("PostgresConnectionsHigh")},
                    },
                ],
            },
        ],
        links=(s.goto("database"),),
        alerts=("PostgresDown", "PostgresConnectionsHigh"),
        w=8,
        h=5,
    ),
    s.stat(
        "Shopify API bucket left",
        "Share of the app's GraphQL cost bucket left (VendorApiThrottled below the line).",
        Q(
            f"{sel(m.VENDOR_SHOPIFY_THROTTLE_AVAILABLE)}\n"
            f"  / {sel(m.VENDOR_SHOPIFY_THROTTLE_MAXIMUM)}",
            "{{check}}",
        ),
        unit=s.RATIO,
        thresholds=s.below("VendorApiThrottled"),
        alerts=("VendorApiThrottled",),
        w=8,
        h=5,
    ),
    s.stat(
        "Backups and jobs",
        "Backup sets not ok and jobs down (heartbeats).",
        Q(
            f"count({sel(m.BACKUP_STATUS, status=('!=', 'ok'))} == 1) or vector(0)",
            "backup sets not ok",
        ),
        Q(f"count({sel(m.HEARTBEAT_STATUS, status='down')} == 1) or vector(0)", "jobs down"),
        unit=s.COUNT,
        thresholds=s.steps(s.OK, (1, s.WARNING)),
        text_mode="value_and_name",
        links=(s.goto("backups-vendors"),),
        alerts=("BackupFailed", "HeartbeatFailed"),
        w=8,
        h=5,
    ),
)

dashboard = s.dashboard(
    "launch",
    "The launch window on one screen: the shop's pulse, traffic and latency, and the known "
    "weak spots.",
    [window, pulse, platform_health.row(), traffic, weak_spots],
    all_alerts=True,
    time_from="now-3h",
)
