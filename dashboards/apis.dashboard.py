"""APIs from logs: what the services' own request logs say (the services expose no metrics):
traffic, errors and latency by service and route group, error patterns, and whether the logs
still arrive."""

from dashboards import style as s
from dashboards.style import Q, m, sel, var

REQ = {"service": var("service"), "route": var("route")}
REQUESTS = sel(m.LOG_HTTP_REQUESTS, **REQ)
ERRORS = sel(m.LOG_HTTP_REQUESTS, code_class="5xx", **REQ)
BUCKETS = sel(m.LOG_HTTP_DURATION, "_bucket", **REQ)
# Pattern matches, levels and freshness are counted per log source (one source, e.g. Fly's
# log shipper, carries several services, and these lines have no route): the bottom row
# follows the source variable, since the service and route of a line are not known there.
SRC = {"source": var("source")}
RATE = s.RATE

# The latency SLOs (alert_rules/slos.yml) as per-series threshold lines on the p95 graph.
LATENCY_TARGETS = {
    f"{x.sli.latency.service} {route} p95": s.steps(s.OK, (x.sli.latency.threshold, s.WARNING))
    for x in s.slos_spec().slos
    if x.sli.latency is not None
    for route in x.sli.latency.routes
}


def _ratio(by: str) -> str:
    # a service or route without a 5xx series (none logged yet) shows 0, not a missing line
    requests = f"sum by ({by}) (rate({REQUESTS}[{RATE}]))"
    return f"(sum by ({by}) (rate({ERRORS}[{RATE}])) or {requests} * 0)\n  / {requests}"


traffic = s.row(
    "Traffic and errors",
    s.timeseries(
        "Requests per second",
        "Requests read from the logs, by service and route group (logs.route_groups; any other "
        "path is 'other').",
        Q(
            f"sum by (service, route) (rate({REQUESTS}[{RATE}]))",
            "{{service}} {{route}}",
        ),
        unit=s.PER_SECOND,
        stack=True,
    ),
    s.timeseries(
        "Responses by status class",
        "Requests per second by status class (1xx to 5xx).",
        Q(f"sum by (code_class) (rate({REQUESTS}[{RATE}]))", "{{code_class}}"),
        unit=s.PER_SECOND,
        stack=True,
    ),
    s.timeseries(
        "5xx ratio by service",
        "Server errors over all responses; orange and red where LogErrorRateHigh opens a ticket "
        "and pages (targets: below 0.5%, alert at 1% and 5%).",
        Q(_ratio("service"), "{{service}}"),
        unit=s.RATIO,
        thresholds=s.above("LogErrorRateHigh"),
        alerts=("LogErrorRateHigh",),
    ),
    s.timeseries(
        "5xx ratio by route group",
        "The same ratio per service and route group: which endpoints fail.",
        Q(_ratio("service, route"), "{{service}} {{route}}"),
        unit=s.RATIO,
        thresholds=s.above("LogErrorRateHigh"),
        alerts=("LogErrorRateHigh",),
    ),
)

latency = s.row(
    "Latency",
    s.timeseries(
        "Latency percentiles by service and route group",
        "p50, p95 and p99 of the request durations the logs state; dashed lines are the latency "
        "SLOs' thresholds (alert_rules/slos.yml).",
        *(
            Q(
                f"histogram_quantile({q}, sum by (service, route, le) (rate({BUCKETS}[{RATE}])))",
                f"{{{{service}}}} {{{{route}}}} p{int(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        ),
        unit=s.SECONDS,
        overrides=s.thresholds_by_name(LATENCY_TARGETS),
        links=(s.goto("slos"),),
        w=24,
        h=9,
    ),
)

patterns = s.row(
    "Error patterns and log health, by log source (variable source)",
    s.table(
        "Top error patterns",
        "Log lines matching each configured error pattern (logs.patterns) over the time range, "
        "most first: oom, econnreset, unhandled rejections, timeouts, Prisma errors, Shopify "
        "throttling.",
        Q(
            f"topk(10, sum by (source, pattern) "
            f"(increase({sel(m.LOG_PATTERN_MATCHES, **SRC)}[{s.RANGE}])))"
        ),
        columns={"Value": "lines"},
        sort="lines",
        alerts=("LogOutOfMemory", "LogErrorPatternSpike"),
        w=8,
        h=9,
    ),
    s.timeseries(
        "Error pattern matches",
        "Matching lines per second, by pattern.",
        Q(
            f"sum by (source, pattern) (rate({sel(m.LOG_PATTERN_MATCHES, **SRC)}[{RATE}]))",
            "{{source}} {{pattern}}",
        ),
        unit=s.PER_SECOND,
        alerts=("LogOutOfMemory", "LogErrorPatternSpike"),
        w=8,
        h=9,
    ),
    s.timeseries(
        "Log lines by level",
        "Lines per second by source and normalised level.",
        Q(
            f"sum by (source, level) (rate({sel(m.LOG_LINES, **SRC)}[{RATE}]))",
            "{{source}} {{level}}",
        ),
        unit=s.PER_SECOND,
        stack=True,
        w=8,
        h=9,
    ),
    s.stat(
        "Log freshness",
        "Time since the newest line of each log source; orange past the silence LogSourceSilent "
        "tolerates (redline's own probes make the Fly apps log every scrape).",
        Q(f"time() - {sel(m.LOG_LAST_LINE, **SRC)}", "{{source}}"),
        unit=s.SECONDS,
        thresholds=s.above("LogSourceSilent"),
        alerts=("LogSourceSilent",),
        w=24,
        h=4,
    ),
)

dashboard = s.dashboard(
    "apis",
    "What the request logs say: traffic, errors and latency by service and route group, error "
    "patterns, and whether the logs still arrive.",
    [traffic, latency, patterns],
    variables=[
        s.variable("service", "Service", m.LOG_HTTP_REQUESTS, "service"),
        s.variable("route", "Route group", m.LOG_HTTP_REQUESTS, "route"),
        s.variable("source", "Log source", m.LOG_LINES, "source"),
    ],
)
