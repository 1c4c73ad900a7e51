"""Services: is each Hot Rod AN service up, fast enough, and why not? One service (or several)
at a time through the ``service`` variable; every figure comes from redline's probes."""

from dashboards import style as s
from dashboards.style import Q, m, sel, var

SVC = {"service": var("service")}
TARGET = "{{service}}/{{probe}}"

# ServiceLatencyHigh's budgets per probe, as per-series threshold lines and tile colours.
BUDGETS = {f"{b.service}/{b.probe}": s.budget_steps(b) for b in s.latency_budgets()}
LATENCY_WINDOW = s.window("ServiceLatencyHigh")
# The availability each service's SLO asks of its probes (alert_rules/slos.yml).
OBJECTIVES = {svc: s.steps(s.CRITICAL, (o, s.OK)) for svc, o in s.slo_objectives().items()}
# Each service's availability SLO: the probes its SLI counts (config/hotrod.yml, through the
# model), not every probe of the service (a vendor check or a slow optional probe is no SLI).
SLI_PROBES = {x.sli.probes.service: x.sli.probes.probes for x in s.slos_spec().slos if x.sli.probes}


def _sli_availability() -> str:
    """What each availability SLI counts, as its recording rule does (exporter/rules/slo.py):
    the average over the range of the SLI's probes' success."""
    terms = []
    for svc, probes in sorted(SLI_PROBES.items()):
        success = sel(
            m.PROBE_SUCCESS,
            service=[svc, var("service")],
            probe=("=~", s.alternatives(probes)),
        )
        terms.append(f"avg by (service) (avg_over_time({success}[{s.RANGE}]))")
    return "\n  or ".join(terms)


# The probes whose JSON checks pin the deployed release (ServiceWrongVersion).
VERSION_PROBES = s.alerts_spec().alerts["ServiceWrongVersion"].probes

QUEUE_JOBS = s.json_metric("queue_jobs")
QUEUE_PROCESSED = s.json_metric("queue_processed")
MCP_P95 = s.json_metric("mcp_tool_p95_latency_seconds")
MCP_ERRORS = s.json_metric("mcp_tool_error_ratio")
MCP_CALLS = s.json_metric("mcp_tool_calls")
MCP_UPTIME = s.json_metric("mcp_uptime_seconds")
APP_STATUS = s.json_metric("app_monitoring_status")
CHATWOOT_STATUS = s.json_metric("chatwoot_service_status")
APP_STATES = s.state_colours(s.json_states("app_monitoring_status"), worst=("unhealthy",))
CHATWOOT_STATES = s.state_colours(s.json_states("chatwoot_service_status"), worst=("failing",))
JOBS_WINDOW = s.window("AgentJobsFailing")


def _version_selector() -> str:
    terms = []
    for target in VERSION_PROBES:
        service, _, probe = target.partition("/")
        terms.append(
            sel(m.PROBE_REASON, service=[service, var("service")], probe=probe, reason="json")
        )
    return " or ".join(terms)


availability = s.row(
    "Availability",
    s.stat(
        "Probes up now",
        "Each probe's last result: UP when it succeeded (a degraded success counts as up).",
        Q(sel(m.PROBE_SUCCESS, **SVC), TARGET),
        mappings=s.state_mappings(s.UP_DOWN),
        alerts=("ServiceDown", "DNSLookupFailing"),
        w=12,
        h=6,
    ),
    s.stat(
        "Availability over the time range",
        "Per service with an availability SLO: the share of its SLI's probe runs that "
        "succeeded over the dashboard's time range ("
        + "; ".join(f"{svc}: {', '.join(p)}" for svc, p in sorted(SLI_PROBES.items()))
        + "), as the SLO counts them; red below the SLO's objective.",
        Q(_sli_availability(), "{{service}}"),
        unit=s.RATIO,
        decimals=3,
        overrides=s.thresholds_by_name(OBJECTIVES, style=""),
        thresholds=s.steps(s.CRITICAL, (min(s.slo_objectives().values()), s.OK)),
        links=(s.goto("slos"),),
        w=12,
        h=6,
    ),
    s.timeline(
        "Probe state over time",
        "up, degraded (succeeded, but slower than degraded_after or the target said degraded) "
        "or down, per probe.",
        Q(
            s.state_code(m.PROBE_STATUS, "status", s.PROBE_STATES, ("service", "probe"), **SVC),
            TARGET,
        ),
        states=s.PROBE_STATES,
        alerts=("ServiceDown",),
        w=24,
    ),
)

latency = s.row(
    "Latency against the targets",
    s.stat(
        f"p95 probe duration over {LATENCY_WINDOW}",
        "What ServiceLatencyHigh compares with each probe's budget (alert_rules/alerts.yml): "
        "orange above the ticket budget, red above the page limit.",
        Q(f"quantile_over_time(0.95, {sel(m.PROBE_DURATION, **SVC)}[{LATENCY_WINDOW}])", TARGET),
        unit=s.SECONDS,
        overrides=s.thresholds_by_name(BUDGETS, style=""),
        alerts=("ServiceLatencyHigh",),
        w=24,
        h=5,
    ),
    s.timeseries(
        "Probe duration",
        "How long each probe took, with its latency budget as dashed lines (orange: ticket, "
        "red: page).",
        Q(sel(m.PROBE_DURATION, **SVC), TARGET),
        unit=s.SECONDS,
        overrides=s.thresholds_by_name(BUDGETS),
        alerts=("ServiceLatencyHigh",),
    ),
    s.timeseries(
        "Latency percentiles",
        f"p50, p95 and p99 of each probe's duration over the last {LATENCY_WINDOW}.",
        *(
            Q(
                f"quantile_over_time({q}, {sel(m.PROBE_DURATION, **SVC)}[{LATENCY_WINDOW}])",
                f"{TARGET} p{int(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        ),
        unit=s.SECONDS,
        alerts=("ServiceLatencyHigh",),
    ),
    s.timeseries(
        "HTTP phases",
        "Where the time of HTTP requests goes: resolve, connect (TCP), tls (handshake; 0 over "
        "plain HTTP), processing (request sent to response headers), transfer (body).",
        Q(sel(m.HTTP_DURATION, **SVC), TARGET + " {{phase}}"),
        unit=s.SECONDS,
    ),
    s.timeseries(
        "Connect, TLS and DNS times",
        "TCP connect and TLS handshake of the TCP probes, and DNS lookups.",
        Q(sel(m.TCP_CONNECT_DURATION, **SVC), TARGET + " connect"),
        Q(sel(m.TLS_HANDSHAKE_DURATION, **SVC), TARGET + " TLS handshake"),
        Q(sel(m.DNS_LOOKUP_TIME, **SVC), TARGET + " DNS lookup"),
        unit=s.SECONDS,
    ),
)

failures = s.row(
    "Status codes and failure reasons",
    s.timeseries(
        "HTTP status codes",
        "The status of each HTTP probe's last response (0: no response).",
        Q(sel(m.HTTP_STATUS_CODE, **SVC), TARGET),
        unit=s.NONE,
        w=8,
    ),
    s.table(
        "Why probes fail now",
        "The one reason of each probe that is down or degraded now (redline_probe_failure_reason); "
        "empty while every probe is up.",
        Q(f"{sel(m.PROBE_REASON, **SVC)} == 1"),
        hide=("__name__", "job", "instance", "Value"),
        alerts=("ServiceDown", "ServiceRateLimited", "DNSLookupFailing"),
        w=8,
    ),
    s.timeseries(
        "Failed probe runs by reason",
        "Probe runs that failed, per second, by reason (timeout, connect, status, json, ...).",
        Q(
            f"sum by (service, probe, reason) (rate({sel(m.PROBE_ERRORS, **SVC)}[{s.RATE}]))",
            TARGET + " {{reason}}",
        ),
        unit=s.OPS,
        bars=True,
        w=8,
    ),
    s.timeseries(
        "Retry-After asked by targets",
        "A target that answers 429 or 503 with Retry-After is not probed again before then.",
        Q(sel(m.HTTP_RETRY_AFTER, **SVC), TARGET),
        unit=s.SECONDS,
        alerts=("ServiceRateLimited",),
        w=8,
        h=6,
    ),
    s.stat(
        "Age of the results served",
        "0 when probed for this scrape; more when a rate-limited (min_interval, Retry-After) "
        "result was reused.",
        Q(sel(m.PROBE_RESULT_AGE, **SVC), TARGET),
        unit=s.SECONDS,
        thresholds=s.above("RedlineProbeResultStale"),
        alerts=("RedlineProbeResultStale",),
        w=16,
        h=6,
    ),
)

release = s.row(
    "Certificates and release",
    s.stat(
        "Certificate expires in",
        "Time left before the earliest certificate of each TLS probe expires; orange and red "
        "where TLSCertificateExpiring opens a ticket and pages.",
        Q(f"{sel(m.SSL_EARLIEST_CERT_EXPIRY, **SVC)} - time()", TARGET),
        unit=s.DURATION,
        thresholds=s.below("TLSCertificateExpiring"),
        alerts=("TLSCertificateExpiring",),
        w=12,
    ),
    s.stat(
        "Deployed release as expected",
        "The probes whose JSON checks pin the release (ServiceWrongVersion: "
        + ", ".join(VERSION_PROBES)
        + "): WRONG RELEASE when that check fails. redline exports no version string: the "
        "expected one is in config/hotrod.yml.",
        Q(f"1 - ({_version_selector()})", TARGET),
        mappings=s.state_mappings({"WRONG RELEASE": s.CRITICAL, "expected": s.OK}),
        alerts=("ServiceWrongVersion",),
        w=12,
    ),
)

figures = s.row(
    "Figures from JSON endpoints",
    s.timeseries(
        "agent-service queue",
        "Jobs in the agent-service queue by state (/queue/stats); a pending backlog above the "
        "dashed line opens a ticket (AgentQueueBacklog).",
        Q(sel(QUEUE_JOBS, **SVC), "{{state}}"),
        unit=s.COUNT,
        thresholds=s.above("AgentQueueBacklog"),
        alerts=("AgentQueueBacklog",),
        w=8,
    ),
    s.timeseries(
        f"agent-service jobs failing ({JOBS_WINDOW})",
        f"Share of the jobs finished in the last {JOBS_WINDOW} that failed (AgentJobsFailing): the "
        "rise of the failed count (a gauge) over the increase of processedCount.",
        Q(
            f"clamp_min(delta({sel(QUEUE_JOBS, state='failed', **SVC)}[{JOBS_WINDOW}]), 0)\n"
            f"  / ignoring (state) increase({sel(QUEUE_PROCESSED, **SVC)}[{JOBS_WINDOW}])",
            "{{service}}",
        ),
        unit=s.RATIO,
        thresholds=s.above("AgentJobsFailing"),
        alerts=("AgentJobsFailing", "JsonFieldMissing"),
        w=8,
    ),
    s.timeline(
        "HotDash's own verdict",
        "The app's /api/monitoring/health status (AppHealthDegraded when degraded).",
        Q(s.state_code(APP_STATUS, "state", APP_STATES, ("service",), **SVC), "{{service}}"),
        states=APP_STATES,
        alerts=("AppHealthDegraded",),
        w=8,
    ),
    s.timeseries(
        "MCP tool p95 latency",
        "llamaindex-mcp's own p95 per tool (/health metrics); query tools must stay below the "
        "dashed lines (MCPQueryLatencyHigh).",
        Q(sel(MCP_P95, **SVC), "{{tool}}"),
        unit=s.SECONDS,
        thresholds=s.above("MCPQueryLatencyHigh"),
        alerts=("MCPQueryLatencyHigh",),
        w=8,
    ),
    s.timeseries(
        "MCP tool error ratio",
        "Errors over calls per tool, as the server counts them (MCPToolErrorRateHigh).",
        Q(sel(MCP_ERRORS, **SVC), "{{tool}}"),
        unit=s.RATIO,
        thresholds=s.above("MCPToolErrorRateHigh"),
        alerts=("MCPToolErrorRateHigh",),
        w=8,
    ),
    s.timeseries(
        "MCP tool calls",
        "Calls per second per tool, from the server's counters.",
        Q(f"rate({sel(MCP_CALLS, **SVC)}[{s.RATE}])", "{{tool}}"),
        unit=s.PER_SECOND,
        w=8,
    ),
    s.timeseries(
        "MCP server uptime",
        "A drop is a restart (deploy, crash, OOM): its counters began again.",
        Q(sel(MCP_UPTIME, **SVC), "{{service}}"),
        unit=s.DURATION,
        alerts=("MCPServerRestarted",),
        w=8,
    ),
    s.timeline(
        "Chatwoot services",
        "queue_services (Sidekiq, Redis) and data_services (Postgres) as Chatwoot's /api "
        "reports them.",
        Q(
            s.state_code(CHATWOOT_STATUS, "state", CHATWOOT_STATES, ("component",), **SVC),
            "{{component}}",
        ),
        states=CHATWOOT_STATES,
        alerts=("ChatwootComponentFailing",),
        w=8,
    ),
    s.stat(
        "JSON fields read",
        "Configured JSON fields by state: ok, missing (absent from the answer) or invalid.",
        Q(f"sum by (state) ({sel(m.JSON_FIELD_STATE, **SVC)})", "{{state}}"),
        unit=s.COUNT,
        text_mode="value_and_name",
        w=8,
        h=8,
    ),
)

dashboard = s.dashboard(
    "services",
    "Is each service up and within its latency budget, and if not, why? Pick services above.",
    [availability, latency, failures, release, figures],
    variables=[s.variable("service", "Service", m.PROBE_SUCCESS, "service")],
)
