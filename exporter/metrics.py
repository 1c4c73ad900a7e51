"""Every metric name redline exposes, defined once.

Collectors, the docs generator (docs/metrics.md), dashboards and rule generators import these
objects instead of spelling names. Names follow DESIGN.md section 3: blackbox_exporter's
``probe_*`` where the meaning is the same, otherwise ``redline_<area>_<what>_<unit>``.

Every series about a configured probe carries ``service`` and ``probe`` (the names from the
config), so cardinality is bounded by the config, never by what a target answers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    type: str  # gauge | counter | histogram | stateset | info
    help: str
    labels: tuple[str, ...] = ()


P = ("service", "probe")

# --- probe results (common to every probe kind; owned by the probe wrapper) -------------------
PROBE_SUCCESS = Metric("probe_success", "gauge", "1 if the probe succeeded, else 0.", P)
PROBE_DURATION = Metric(
    "probe_duration_seconds", "gauge", "How long the probe took to complete, in seconds.", P
)
PROBE_STATUS = Metric(
    "redline_probe_status",
    "stateset",
    "State of the probe: up, degraded (succeeded but slower than degraded_after) or down.",
    (*P, "status"),
)
PROBE_REASON = Metric(
    "redline_probe_failure_reason",
    "stateset",
    "Why the probe is down or degraded: exactly one reason is 1 then; all are 0 when up.",
    (*P, "reason"),
)
PROBE_RESULT_AGE = Metric(
    "redline_probe_result_age_seconds",
    "gauge",
    "Age of the result served: 0 when probed for this scrape, more when a shared or "
    "rate-limited (min_interval, Retry-After) result was reused.",
    P,
)

# --- HTTP (probes/http.py, probes/json_metrics.py) ---------------------------------------------
HTTP_STATUS_CODE = Metric(
    "probe_http_status_code", "gauge", "HTTP status code of the last response (0 if none).", P
)
HTTP_DURATION = Metric(
    "probe_http_duration_seconds",
    "gauge",
    "Duration of each phase of the HTTP request: resolve, connect (TCP and TLS), processing "
    "(request sent to response headers), transfer (body).",
    (*P, "phase"),
)
HTTP_CONTENT_LENGTH = Metric(
    "probe_http_content_length", "gauge", "Length of the response body read, in bytes.", P
)
HTTP_REDIRECTS = Metric("probe_http_redirects", "gauge", "Number of redirects followed.", P)
HTTP_SSL = Metric("probe_http_ssl", "gauge", "1 if the final response came over TLS.", P)
HTTP_RETRY_AFTER = Metric(
    "redline_probe_http_retry_after_seconds",
    "gauge",
    "Retry-After the target asked for on its last 429/503 (0 if none); redline waits that long "
    "before probing it again.",
    P,
)
SSL_EARLIEST_CERT_EXPIRY = Metric(
    "probe_ssl_earliest_cert_expiry",
    "gauge",
    "Expiry of the peer's certificate, as a Unix timestamp in seconds.",
    P,
)
TLS_VERSION_INFO = Metric(
    "probe_tls_version_info", "gauge", "TLS version used (label version), value 1.", (*P, "version")
)

# --- JSON-derived values (probes/json_metrics.py) ----------------------------------------------
# The names of JSON-derived gauges come from the config (``metrics[].name``) and are exposed with
# this prefix, so they can never collide with redline's own names.
JSON_METRIC_PREFIX = "redline_json_"
JSON_FIELD_STATE = Metric(
    "redline_json_field_state",
    "stateset",
    "State of each configured JSON field: ok, missing (absent from the response) or invalid "
    "(present but not a number, or not one of the configured states).",
    (*P, "field", "state"),
)

# --- TCP (probes/tcp.py) -----------------------------------------------------------------------
TCP_CONNECT_DURATION = Metric(
    "redline_probe_tcp_connect_seconds", "gauge", "Time to establish the TCP connection.", P
)
TLS_HANDSHAKE_DURATION = Metric(
    "redline_probe_tls_handshake_seconds", "gauge", "Time of the TLS handshake (TCP probe).", P
)

# --- DNS (probes/dns.py) -----------------------------------------------------------------------
DNS_LOOKUP_TIME = Metric(
    "probe_dns_lookup_time_seconds", "gauge", "Time taken for the DNS lookup, in seconds.", P
)
DNS_ANSWER_RRS = Metric(
    "probe_dns_answer_rrs", "gauge", "Number of records in the answer section.", P
)

# --- MCP (probes/mcp.py) -----------------------------------------------------------------------
MCP_TOOLS = Metric("redline_mcp_tools", "gauge", "Number of tools the MCP server listed.", P)
MCP_TOOL_LISTED = Metric(
    "redline_mcp_tool_listed",
    "gauge",
    "1 if the configured tool is listed by the MCP server, else 0.",
    (*P, "tool"),
)

# --- sources (exporter/sources.py): database, host, logs, ... -----------------------------------
SOURCE_UP = Metric(
    "redline_source_up",
    "gauge",
    "1 if the source (postgres, host, logs, ...) answered this scrape in time without error.",
    ("source",),
)
SOURCE_DURATION = Metric(
    "redline_source_duration_seconds",
    "gauge",
    "How long the source took to collect for this scrape.",
    ("source",),
)

# --- the exporter's own behaviour (global counters/gauges in exporter/selfmetrics.py) ---------
SCRAPE_DURATION = Metric(
    "redline_scrape_duration_seconds",
    "histogram",
    "Wall time of /metrics and /probe requests, by endpoint.",
    ("endpoint",),
)
PROBE_ERRORS = Metric(
    "redline_probe_errors_total",
    "counter",
    "Probe runs that failed, by service, probe and reason.",
    (*P, "reason"),
)
PROBE_RUNS = Metric(
    "redline_probe_runs_total",
    "counter",
    "Probe runs started (a run shared by concurrent scrapes counts once).",
    P,
)
CONFIG_RELOAD_SUCCESS = Metric(
    "redline_config_last_reload_successful",
    "gauge",
    "1 if the last configuration load or reload succeeded, else 0.",
)
CONFIG_RELOAD_TIMESTAMP = Metric(
    "redline_config_last_reload_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful configuration load or reload.",
)
BUILD_INFO = Metric(
    "redline_build_info", "gauge", "redline's version, value 1.", ("version", "python_version")
)

ALL: tuple[Metric, ...] = (
    PROBE_SUCCESS,
    PROBE_DURATION,
    PROBE_STATUS,
    PROBE_REASON,
    PROBE_RESULT_AGE,
    HTTP_STATUS_CODE,
    HTTP_DURATION,
    HTTP_CONTENT_LENGTH,
    HTTP_REDIRECTS,
    HTTP_SSL,
    HTTP_RETRY_AFTER,
    SSL_EARLIEST_CERT_EXPIRY,
    TLS_VERSION_INFO,
    JSON_FIELD_STATE,
    TCP_CONNECT_DURATION,
    TLS_HANDSHAKE_DURATION,
    DNS_LOOKUP_TIME,
    DNS_ANSWER_RRS,
    MCP_TOOLS,
    MCP_TOOL_LISTED,
    SOURCE_UP,
    SOURCE_DURATION,
    SCRAPE_DURATION,
    PROBE_ERRORS,
    PROBE_RUNS,
    CONFIG_RELOAD_SUCCESS,
    CONFIG_RELOAD_TIMESTAMP,
    BUILD_INFO,
)
