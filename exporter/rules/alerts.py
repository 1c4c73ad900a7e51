"""The alert catalogue: every alert redline ships, as PromQL over the names of exporter/metrics.py
(never spelled here: :func:`~exporter.rules.model.sel` builds selectors from the Metric objects
and refuses labels a metric does not have), with its thresholds from alert_rules/alerts.yml and
the test cases that prove it at its ``for`` boundary (exporter/rules/promtests.py).

One function per area; each returns :class:`~exporter.rules.model.Alert` objects. Names of JSON-
derived gauges come from the shipped config (config/hotrod.yml), so a rule can only use a JSON
field that is really read.

Test inputs are series of one value per evaluation step (30 s), written with :func:`seq` (runs
of a constant) and :func:`ramp` (counters). ``onset`` is the first step at which the expression
holds; where it depends on how PromQL extrapolates a partial range, the comment says why.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from exporter import metrics as m
from exporter.config import Config, JsonProbe
from exporter.metrics import Metric
from exporter.rules.model import (
    WATCHDOG,
    Alert,
    Case,
    Expect,
    Rule,
    alternatives,
    const,
    labels_of,
    n,
    sel,
)
from exporter.rules.spec import AlertSpec, AlertsSpec, Severity, SpecError, seconds

# The scrape job of the exporter in prometheus/prometheus.yml, and the address of the tests'
# exporter.
JOB = "redline"
TEST_TARGET = {"job": JOB, "instance": "localhost:9877"}

# Prometheus's own series for every target: 1 if the scrape succeeded.
UP = Metric("up", "gauge", "1 if Prometheus scraped the target, else 0 (Prometheus itself).")

# Probe failure reasons that are not the target being down: DNS has its own alert, a 429 means
# the target is up but refuses us, secret and internal are redline's own problems.
NOT_DOWN_REASONS = ("dns", "rate_limited", "secret", "internal")
# llamaindex-mcp's tools that answer questions (DESIGN.md): the MCP query latency target.
MCP_QUERY_TOOLS = ("query_support", "query_knowledge_base")


# --- test input helpers -------------------------------------------------------------------------


def _v(value: Decimal | float | int) -> str:
    return n(Decimal(repr(value)) if isinstance(value, float) else value)


def seq(*runs: tuple[Decimal | float | int, int]) -> str:
    """Runs of constant values: ``seq((1, 4), (0, 20))`` is 4 steps of 1, then 20 of 0."""
    return " ".join(f"{_v(v)}x{count - 1}" if count > 1 else _v(v) for v, count in runs)


def ramp(start: Decimal | float | int, step: Decimal | float | int, count: int) -> str:
    """``count`` values from ``start``, changing by ``step`` each evaluation step."""
    negative = step < 0
    magnitude: Decimal | float | int = -step if negative else step
    return f"{_v(start)}{'-' if negative else '+'}{_v(magnitude)}x{count - 1}"


def series(metric: Metric | str, suffix: str = "", **labels: str) -> str:
    name = metric if isinstance(metric, str) else metric.name
    body = ", ".join(f'{k}="{v}"' for k, v in {**labels, **TEST_TARGET}.items())
    return f"{name}{suffix}{{{body}}}"


def target(**labels: str) -> dict[str, str]:
    return {**labels, **TEST_TARGET}


def fires(
    severity: Severity, onset: int, value: float | Callable[[int], float], family: str = ""
) -> Expect:
    return Expect(severity, onset, value if callable(value) else const(value), family)


def case(series_: dict[str, str], labels: dict[str, str], *expect: Expect) -> Case:
    return Case(series_, labels, expect)


def quiet(series_: dict[str, str]) -> Case:
    return Case(series_, {}, ())


# --- context: the spec and the shipped config -------------------------------------------------


class Context:
    def __init__(self, spec: AlertsSpec, config: Config) -> None:
        self.spec = spec
        self.config = config
        self.used: set[str] = set()

    def alert(self, name: str) -> AlertSpec:
        if name not in self.spec.alerts:
            raise SpecError(f"alert_rules/alerts.yml: alerts: no entry for {name}")
        self.used.add(name)
        return self.spec.alerts[name]

    def level(self, spec: AlertSpec, name: str, severity: Severity) -> tuple[str, Decimal]:
        """(for, threshold) of a level that must have a threshold."""
        (threshold,) = self.values(spec, name, severity, "threshold")
        return spec.level(severity).for_, threshold

    def values(self, spec: AlertSpec, name: str, severity: Severity, *fields: str) -> list[Any]:
        """The named values of a level (window, threshold, guard, horizon), all required."""
        lvl = spec.level(severity)
        found = [getattr(lvl, f) for f in fields]
        missing = [f for f, v in zip(fields, found, strict=True) if v is None]
        if missing:
            raise SpecError(
                f"alert_rules/alerts.yml: alerts.{name}.{severity}: needs {', '.join(missing)}"
            )
        return found

    def json_metric(self, name: str) -> Metric:
        """The JSON-derived gauge ``name`` as config/hotrod.yml defines it."""
        for service in self.config.services:
            for probe in service.probes:
                if not isinstance(probe, JsonProbe):
                    continue
                for spec in probe.metrics:
                    if spec.name == name:
                        labels = ("service", "probe", *sorted(spec.labels))
                        if spec.parse == "states":
                            labels = (*labels, "state")
                        kind = "stateset" if spec.parse == "states" else "gauge"
                        return Metric(m.JSON_METRIC_PREFIX + name, kind, spec.help, labels)
        raise SpecError(f"config/hotrod.yml defines no JSON metric {name!r} that a rule uses")

    def check_probe(self, target_: str) -> tuple[str, str]:
        service, _, probe = target_.partition("/")
        for s in self.config.services:
            if s.name == service and any(p.name == probe for p in s.probes):
                return service, probe
        raise SpecError(f"alert_rules/alerts.yml names probe {target_!r}, not in config/hotrod.yml")

    def rule(
        self,
        spec: AlertSpec,
        severity: Severity,
        expr: str,
        labels: dict[str, str] | None = None,
        family: str = "",
    ) -> Rule:
        lvl = spec.level(severity)
        return Rule(severity, expr, lvl.for_, labels or {}, family, lvl.keep_firing_for)


def _seconds(value: Decimal) -> str:
    """A threshold in seconds as PromQL arithmetic that reads as days or hours."""
    for size, unit in ((86400, "86400"), (3600, "3600"), (60, "60")):
        if value >= size and value % size == 0:
            return f"{n(value / size)} * {unit}"
    return n(value)


# --- the alerting pipeline and the exporter ------------------------------------------------------


def pipeline(ctx: Context) -> list[Alert]:
    out = []
    spec = ctx.alert(WATCHDOG)
    out.append(
        Alert(
            WATCHDOG,
            "redline",
            "Watchdog: the alerting pipeline works",
            "Always firing (value {{ $value | humanize }}) so that the dead man's switch outside "
            "this stack hears from Alertmanager every minute. If it stops, Prometheus, its rules "
            "or Alertmanager are broken: never silence it.",
            spec.dashboard,
            (ctx.rule(spec, "info", "vector(1)", {"service": "redline"}),),
            (case({}, {}, fires("info", 0, 1)),),
            None,
        )
    )

    spec = ctx.alert("RedlineExporterDown")
    up = sel(UP, job=JOB)
    out.append(
        Alert(
            "RedlineExporterDown",
            "redline",
            "redline exporter {{ $labels.instance }} cannot be scraped",
            "Prometheus has failed to scrape redline at {{ $labels.instance }} for 2 minutes "
            "(up = {{ $value | humanize }}): every probe, database, host, log and vendor figure "
            "it serves is missing, and the alerts computed from them are silenced.",
            spec.dashboard,
            (ctx.rule(spec, "page", f"{up} == 0", {"service": "redline"}),),
            (case({series(UP): seq((1, 4), (0, 20))}, target(), fires("page", 4, 0)),),
            quiet({series(UP): seq((1, 30))}),
        )
    )

    spec = ctx.alert("RedlineConfigReloadFailed")
    out.append(
        Alert(
            "RedlineConfigReloadFailed",
            "redline",
            "redline {{ $labels.instance }} refused its new configuration",
            "The last configuration reload of redline at {{ $labels.instance }} failed "
            "(redline_config_last_reload_successful = {{ $value | humanize }}); the previous "
            "config still runs, but the exporter will not start again with the file on disk.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{sel(m.CONFIG_RELOAD_SUCCESS)} == 0",
                    {"service": "redline"},
                ),
            ),
            (
                case(
                    {series(m.CONFIG_RELOAD_SUCCESS): seq((1, 4), (0, 20))},
                    target(),
                    fires("ticket", 4, 0),
                ),
            ),
            quiet({series(m.CONFIG_RELOAD_SUCCESS): seq((1, 20))}),
        )
    )

    spec = ctx.alert("RedlineProbeErrors")
    reason = sel(m.PROBE_REASON, reason=("=~", "internal|secret"))
    bad = series(m.PROBE_REASON, service="agent-service", probe="health", reason="secret")
    out.append(
        Alert(
            "RedlineProbeErrors",
            "redline",
            "redline cannot run probe {{ $labels.target }} ({{ $labels.reason }})",
            "The probe {{ $labels.target }} fails with reason {{ $labels.reason }} (value "
            "{{ $value | humanize }}): secret means a secret it needs (environment variable or "
            "file) is missing on the exporter, internal is a bug in redline. The service itself "
            "is not measured meanwhile.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    # target keeps the probe's identity; service is redline's, who must act
                    f'label_join({reason} == 1, "target", "/", "service", "probe")',
                    {"service": "redline"},
                ),
            ),
            (
                case(
                    {bad: seq((0, 4), (1, 20))},
                    target(
                        service="agent-service",
                        probe="health",
                        reason="secret",
                        target="agent-service/health",
                    ),
                    fires("ticket", 4, 1),
                ),
            ),
            quiet(
                {
                    bad: seq((0, 20)),
                    series(
                        m.PROBE_REASON, service="agent-service", probe="health", reason="json"
                    ): seq((1, 20)),
                }
            ),
        )
    )

    spec = ctx.alert("RedlineScrapeSlow")
    window, threshold = ctx.values(spec, "RedlineScrapeSlow", "ticket", "window", "threshold")
    bucket = sel(m.SCRAPE_DURATION, "_bucket", endpoint="metrics")
    expr = (
        f"histogram_quantile(0.9, sum by ({labels_of(m.SCRAPE_DURATION, 'job', 'instance')}, le) "
        f"(rate({bucket}[{window}])))\n  > {n(threshold)}"
    )

    def buckets(slow: bool) -> dict[str, str]:
        # every scrape lands in (10 s, 30 s] (slow) or (0, 1 s] (fast); p90 interpolates to 28 s
        out = {}
        for le in ("1.0", "10.0", "30.0", "+Inf"):
            grows = le in ("30.0", "+Inf") or not slow
            name = series(m.SCRAPE_DURATION, "_bucket", endpoint="metrics", le=le)
            out[name] = ramp(100, 1, 60) if grows else seq((100, 60))
        return out

    out.append(
        Alert(
            "RedlineScrapeSlow",
            "redline",
            "redline {{ $labels.instance }} scrapes take {{ $value | humanizeDuration }}",
            "90% of /metrics scrapes of {{ $labels.instance }} took up to "
            "{{ $value | humanizeDuration }} over the last 10 min, close to the 25 s scrape "
            "timeout: one more slow target and whole scrapes fail. Look for the slowest probes "
            "and sources (probe_duration_seconds, redline_source_duration_seconds).",
            spec.dashboard,
            (ctx.rule(spec, "ticket", expr, {"service": "redline"}),),
            # rate() needs two samples: onset at step 1
            (case(buckets(True), target(), fires("ticket", 1, 28)),),
            quiet(buckets(False)),
        )
    )

    spec = ctx.alert("RedlineSourceDown")
    out.append(
        Alert(
            "RedlineSourceDown",
            "redline",
            "redline source {{ $labels.source }} fails on {{ $labels.instance }}",
            "The {{ $labels.source }} source of redline at {{ $labels.instance }} has failed "
            "every scrape for 10 minutes (redline_source_up = {{ $value | humanize }}): its whole "
            "area is unmeasured. The exporter's log says why (timeout, error).",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(m.SOURCE_UP)} == 0", {"service": "redline"}),),
            (
                case(
                    {series(m.SOURCE_UP, source="logs"): seq((1, 4), (0, 30))},
                    target(source="logs"),
                    fires("ticket", 4, 0),
                ),
            ),
            quiet({series(m.SOURCE_UP, source="logs"): seq((1, 30))}),
        )
    )

    spec = ctx.alert("RedlineCollectorFailing")
    host = sel(m.NODE_SCRAPE_COLLECTOR_SUCCESS)
    pg = sel(m.PG_COLLECTOR_SUCCESS)
    host_s = series(m.NODE_SCRAPE_COLLECTOR_SUCCESS, collector="pressure")
    pg_s = series(m.PG_COLLECTOR_SUCCESS, database="supabase", collector="statements")
    out.append(
        Alert(
            "RedlineCollectorFailing",
            "redline",
            "redline collector {{ $labels.collector }} fails on {{ $labels.instance }}",
            "The {{ $labels.collector }} collector has failed every scrape for 15 minutes "
            "(success = {{ $value | humanize }}) while the rest of its source works: its series "
            "are missing from dashboards and alerts. Usually a permission or a missing extension.",
            spec.dashboard,
            (
                ctx.rule(spec, "ticket", f"{host} == 0", {"service": "host"}, family="host"),
                ctx.rule(spec, "ticket", f"{pg} == 0", {"service": "database"}, family="database"),
            ),
            (
                case(
                    {host_s: seq((1, 4), (0, 40))},
                    target(collector="pressure"),
                    fires("ticket", 4, 0, "host"),
                ),
                case(
                    {pg_s: seq((1, 4), (0, 40))},
                    target(database="supabase", collector="statements"),
                    fires("ticket", 4, 0, "database"),
                ),
            ),
            quiet({host_s: seq((1, 40)), pg_s: seq((1, 40))}),
        )
    )

    spec = ctx.alert("RedlineProbeResultStale")
    _, limit = ctx.level(spec, "RedlineProbeResultStale", "ticket")
    age = series(m.PROBE_RESULT_AGE, service="shopify", probe="graphql")
    out.append(
        Alert(
            "RedlineProbeResultStale",
            "redline",
            "Probe {{ $labels.target }} serves a {{ $value | humanizeDuration }} old result",
            "redline has reused the result of {{ $labels.target }} for "
            "{{ $value | humanizeDuration }} (min_interval or a Retry-After from the target), so "
            "its dashboards and alerts show the past. Check redline_probe_http_retry_after_seconds "
            "and the probe's min_interval.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f'label_join({sel(m.PROBE_RESULT_AGE)} > {_seconds(limit)}, "target", "/", '
                    '"service", "probe")',
                    {"service": "redline"},
                ),
            ),
            (
                case(
                    {age: seq((0, 4), (900, 30))},
                    target(service="shopify", probe="graphql", target="shopify/graphql"),
                    fires("ticket", 4, 900),
                ),
            ),
            quiet({age: seq((60, 30))}),
        )
    )
    return out


# --- services, from probes ------------------------------------------------------------------------


def probes(ctx: Context) -> list[Alert]:
    out = []
    svc = {"service": "agent-service", "probe": "health"}

    # The probes that pin the deployed version: failing their JSON checks is a wrong release
    # (ServiceWrongVersion, a ticket: the service answers), not the service being down.
    version_spec = ctx.alert("ServiceWrongVersion")
    if not version_spec.probes:
        raise SpecError("alert_rules/alerts.yml: alerts.ServiceWrongVersion.probes: none listed")
    pinned = [ctx.check_probe(t) for t in version_spec.probes]
    wrong_version = "\nor\n".join(
        f"{sel(m.PROBE_REASON, reason='json', service=service, probe=probe)} == 1"
        for service, probe in pinned
    )

    spec = ctx.alert("ServiceDown")
    not_down = sel(m.PROBE_REASON, reason=("=~", alternatives(NOT_DOWN_REASONS)))
    same_probe = f"unless on ({labels_of(m.PROBE_REASON, 'job', 'instance', 'service', 'probe')})"
    indented = wrong_version.replace("\n", "\n    ")
    expr = (
        f"{sel(m.PROBE_SUCCESS)} == 0\n"
        f"{same_probe}\n  {not_down} == 1\n"
        f"{same_probe}\n  (\n    {indented}\n  )"
    )
    success = series(m.PROBE_SUCCESS, **svc)
    version_service, version_probe = pinned[0]
    out.append(
        Alert(
            "ServiceDown",
            "probes",
            "{{ $labels.service }} is down ({{ $labels.probe }} probe failing)",
            "The {{ $labels.probe }} probe of {{ $labels.service }} has failed every scrape for 2 "
            "minutes (probe_success = {{ $value | humanize }}). redline_probe_failure_reason says "
            "why: timeout, connect, tls, status, body, json, ...",
            spec.dashboard,
            (ctx.rule(spec, "page", expr),),
            (
                case(
                    {
                        success: seq((1, 4), (0, 20)),
                        series(m.PROBE_REASON, **svc, reason="timeout"): seq((0, 4), (1, 20)),
                        series(m.PROBE_REASON, **svc, reason="dns"): seq((0, 24)),
                    },
                    target(**svc),
                    fires("page", 4, 0),
                ),
            ),
            # failing because the name does not resolve (DNSLookupFailing's job), and a pinned
            # probe failing its JSON checks (ServiceWrongVersion's)
            quiet(
                {
                    success: seq((0, 20)),
                    series(m.PROBE_REASON, **svc, reason="dns"): seq((1, 20)),
                    series(m.PROBE_SUCCESS, service=version_service, probe=version_probe): seq(
                        (0, 20)
                    ),
                    series(
                        m.PROBE_REASON, service=version_service, probe=version_probe, reason="json"
                    ): seq((1, 20)),
                }
            ),
        )
    )

    spec = version_spec
    service, probe = pinned[0]
    json_bad = series(m.PROBE_REASON, service=service, probe=probe, reason="json")
    out.append(
        Alert(
            "ServiceWrongVersion",
            "probes",
            "{{ $labels.service }} answers with an unexpected release",
            "The {{ $labels.probe }} probe of {{ $labels.service }} fails its JSON checks, which "
            "pin the deployed version (value {{ $value | humanize }}): a rollback, a stale Fly "
            "machine or an unplanned release is serving. Compare the version it reports with "
            "config/hotrod.yml.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", wrong_version),),
            (
                case(
                    {json_bad: seq((0, 4), (1, 20))},
                    target(service=service, probe=probe, reason="json"),
                    fires("ticket", 4, 1),
                ),
            ),
            # a JSON check failing on a probe that does not pin a version
            quiet(
                {
                    series(
                        m.PROBE_REASON, service="hotdash-app", probe="health", reason="json"
                    ): seq((1, 20))
                }
            ),
        )
    )

    out.append(_latency(ctx))

    spec = ctx.alert("ServiceRateLimited")
    mcp = {"service": "llamaindex-mcp", "probe": "tools"}
    limited = series(m.PROBE_REASON, **mcp, reason="rate_limited")
    out.append(
        Alert(
            "ServiceRateLimited",
            "probes",
            "{{ $labels.service }} rate-limits redline ({{ $labels.probe }})",
            "{{ $labels.service }} has answered the {{ $labels.probe }} probe with 429 for 10 "
            "minutes (value {{ $value | humanize }}): it is up, but the request budget it shares "
            "with the app is spent, so the app's own calls are being refused too.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(m.PROBE_REASON, reason='rate_limited')} == 1"),),
            (
                case(
                    {limited: seq((0, 4), (1, 30))},
                    target(**mcp, reason="rate_limited"),
                    fires("ticket", 4, 1),
                ),
            ),
            quiet({limited: seq((0, 30))}),
        )
    )

    spec = ctx.alert("TLSCertificateExpiring")
    _, t_left = ctx.level(spec, "TLSCertificateExpiring", "ticket")
    _, p_left = ctx.level(spec, "TLSCertificateExpiring", "page")
    left = f"({sel(m.SSL_EARLIEST_CERT_EXPIRY)} - time())"
    tls = {"service": "hotdash-app", "probe": "tls"}
    expiry = series(m.SSL_EARLIEST_CERT_EXPIRY, **tls)

    def remaining(expires: int) -> Callable[[int], float]:
        return lambda step: float(expires - 30 * step)

    out.append(
        Alert(
            "TLSCertificateExpiring",
            "probes",
            "{{ $labels.service }}'s certificate expires in {{ $value | humanizeDuration }}",
            "The certificate {{ $labels.service }} serves ({{ $labels.probe }} probe) expires in "
            "{{ $value | humanizeDuration }}. Fly renews it about 30 days ahead, so renewal is "
            "failing: check `fly certs show` for the hostname and its DNS records.",
            spec.dashboard,
            (
                ctx.rule(spec, "ticket", f"{left} < {_seconds(t_left)}"),
                ctx.rule(spec, "page", f"{left} < {_seconds(p_left)}"),
            ),
            (
                # expiry as a Unix time; time() is 0 at step 0 of a test
                case(
                    {expiry: seq((10 * 86400, 40))},
                    target(**tls),
                    fires("ticket", 0, remaining(864000)),
                ),
                case(
                    {expiry: seq((2 * 86400, 40))},
                    target(**tls),
                    fires("page", 0, remaining(172800)),
                    fires("ticket", 0, remaining(172800)),
                ),
            ),
            quiet({expiry: seq((30 * 86400, 40))}),
        )
    )

    spec = ctx.alert("DNSLookupFailing")
    dns = {"service": "chatwoot", "probe": "dns"}
    dns_s = series(m.PROBE_REASON, **dns, reason="dns")
    out.append(
        Alert(
            "DNSLookupFailing",
            "probes",
            "{{ $labels.service }}'s name does not resolve",
            "The {{ $labels.probe }} probe of {{ $labels.service }} has failed to resolve its "
            "hostname for 5 minutes (value {{ $value | humanize }}): clients cannot reach the "
            "service either. Check the record with `dig` against a public resolver and Fly's "
            "`fly ips list`.",
            spec.dashboard,
            (ctx.rule(spec, "page", f"{sel(m.PROBE_REASON, reason='dns')} == 1"),),
            (
                case(
                    {dns_s: seq((0, 4), (1, 20))}, target(**dns, reason="dns"), fires("page", 4, 1)
                ),
            ),
            quiet({dns_s: seq((0, 20))}),
        )
    )

    spec = ctx.alert("AppHealthDegraded")
    status = ctx.json_metric("app_monitoring_status")
    app = {"service": "hotdash-app", "probe": "monitoring"}
    degraded = series(status, **app, state="degraded")
    out.append(
        Alert(
            "AppHealthDegraded",
            "probes",
            "HotDash reports itself degraded",
            'HotDash\'s /api/monitoring/health has said "degraded" for 15 minutes (value '
            "{{ $value | humanize }}): it works, but a dependency (Shopify, the database) is slow "
            "or failing. Its /health `checks` say which.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(status, state='degraded')} == 1"),),
            (
                case(
                    {degraded: seq((0, 4), (1, 40))},
                    target(**app, state="degraded"),
                    fires("ticket", 4, 1),
                ),
            ),
            quiet({degraded: seq((0, 40))}),
        )
    )

    spec = ctx.alert("ChatwootComponentFailing")
    cw = ctx.json_metric("chatwoot_service_status")
    cw_l = {"service": "chatwoot", "probe": "api", "component": "queue_services"}
    failing = series(cw, **cw_l, state="failing")
    out.append(
        Alert(
            "ChatwootComponentFailing",
            "probes",
            "Chatwoot's {{ $labels.component }} are failing",
            "Chatwoot's /api has reported {{ $labels.component }} failing (value "
            "{{ $value | humanize }}): queue_services is Sidekiq and Redis (messages and webhooks "
            "wait, so no AI drafts), data_services is its Postgres connection.",
            spec.dashboard,
            (
                ctx.rule(spec, "ticket", f"{sel(cw, state='failing')} == 1"),
                ctx.rule(spec, "page", f"{sel(cw, state='failing')} == 1"),
            ),
            (
                case(
                    {failing: seq((0, 4), (1, 80))},
                    target(**cw_l, state="failing"),
                    fires("ticket", 4, 1),
                ),
                case(
                    {failing: seq((0, 4), (1, 80))},
                    target(**cw_l, state="failing"),
                    fires("page", 4, 1),
                    fires("ticket", 4, 1),
                ),
            ),
            quiet({failing: seq((0, 80))}),
        )
    )

    spec = ctx.alert("AgentQueueBacklog")
    _, backlog = ctx.level(spec, "AgentQueueBacklog", "ticket")
    jobs = ctx.json_metric("queue_jobs")
    q = {"service": "agent-service", "probe": "queue"}
    pending = series(jobs, **q, state="pending")
    out.append(
        Alert(
            "AgentQueueBacklog",
            "probes",
            "agent-service has {{ $value | humanize }} jobs waiting",
            "The agent-service queue has held {{ $value | humanize }} pending jobs for 15 minutes: "
            "AI drafts for customer conversations are minutes late. Is the worker running, and "
            "are OpenAI calls slow or failing?",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(jobs, state='pending')} > {n(backlog)}"),),
            (
                case(
                    {pending: seq((10, 4), (150, 40))},
                    target(**q, state="pending"),
                    fires("ticket", 4, 150),
                ),
            ),
            quiet({pending: seq((100, 40))}),
        )
    )

    out.append(_agent_failures(ctx, jobs, ctx.json_metric("queue_processed")))
    out.append(_mcp_errors(ctx))

    spec = ctx.alert("MCPQueryLatencyHigh")
    _, warn = ctx.level(spec, "MCPQueryLatencyHigh", "ticket")
    _, crit = ctx.level(spec, "MCPQueryLatencyHigh", "page")
    p95 = ctx.json_metric("mcp_tool_p95_latency_seconds")
    p95_sel = sel(p95, tool=("=~", alternatives(MCP_QUERY_TOOLS)))
    mq = {"service": "llamaindex-mcp", "probe": "health", "tool": "query_support"}
    p95_s = series(p95, **mq)
    out.append(
        Alert(
            "MCPQueryLatencyHigh",
            "probes",
            "MCP tool {{ $labels.tool }} p95 is {{ $value | humanizeDuration }}",
            "llamaindex-mcp reports a p95 latency of {{ $value | humanizeDuration }} for "
            "{{ $labels.tool }} (target below 500 ms): support answers and AI drafts are slow. "
            "Is the index being refreshed, or the LLM provider slow?",
            spec.dashboard,
            (
                ctx.rule(spec, "ticket", f"{p95_sel} > {n(warn)}"),
                ctx.rule(spec, "page", f"{p95_sel} > {n(crit)}"),
            ),
            (
                case({p95_s: seq((0.2, 4), (0.75, 40))}, target(**mq), fires("ticket", 4, 0.75)),
                case(
                    {p95_s: seq((0.2, 4), (1.5, 40))},
                    target(**mq),
                    fires("page", 4, 1.5),
                    fires("ticket", 4, 1.5),
                ),
            ),
            # a slow tool that is not a query tool
            quiet(
                {
                    p95_s: seq((0.2, 40)),
                    series(p95, **{**mq, "tool": "refresh_index"}): seq((5, 40)),
                }
            ),
        )
    )

    spec = ctx.alert("MCPServerRestarted")
    (window,) = ctx.values(spec, "MCPServerRestarted", "info", "window")
    uptime = ctx.json_metric("mcp_uptime_seconds")
    mu = {"service": "llamaindex-mcp", "probe": "health"}
    out.append(
        Alert(
            "MCPServerRestarted",
            "probes",
            "llamaindex-mcp restarted",
            "llamaindex-mcp's uptime went back to zero {{ $value | humanize }} time(s) in the last "
            "30 minutes: it was redeployed, crashed or was OOM-killed, and its per-tool counters "
            "started again. `fly logs -a hotdash-llamaindex-mcp` says which.",
            spec.dashboard,
            (ctx.rule(spec, "info", f"resets({sel(uptime)}[{window}]) > 0"),),
            # the uptime drops at step 10
            (
                case(
                    {series(uptime, **mu): f"{ramp(1000, 30, 10)} {ramp(5, 30, 30)}"},
                    target(**mu),
                    fires("info", 10, 1),
                ),
            ),
            quiet({series(uptime, **mu): ramp(1000, 30, 40)}),
        )
    )
    return out


def _latency(ctx: Context) -> Alert:
    spec = ctx.alert("ServiceLatencyHigh")
    rules: list[Rule] = []
    cases: list[Case] = []
    quiet_series: dict[str, str] = {}
    for budget in spec.budgets:
        for service in budget.services:
            ctx.check_probe(f"{service}/{budget.probe}")
        selector = sel(
            m.PROBE_DURATION, service=("=~", alternatives(budget.services)), probe=budget.probe
        )
        limits: dict[Severity, Decimal] = {"ticket": budget.ticket}
        if budget.page is not None:
            limits["page"] = budget.page
        for severity, limit in limits.items():
            (window,) = ctx.values(spec, "ServiceLatencyHigh", severity, "window")
            expr = f"quantile_over_time(0.95, {selector}[{window}])\n  > {n(limit)}"
            # the probe as a static label too: rules of one name must differ in their labels
            rules.append(ctx.rule(spec, severity, expr, {"probe": budget.probe}, budget.probe))
        labels = target(service=budget.services[0], probe=budget.probe)
        name = series(m.PROBE_DURATION, service=budget.services[0], probe=budget.probe)
        # constant from step 0: the p95 of the window is that value at every step
        slow = (budget.ticket + budget.page) / 2 if budget.page else budget.ticket * Decimal("1.5")
        cases.append(
            case({name: seq((slow, 60))}, labels, fires("ticket", 0, float(slow), budget.probe))
        )
        if budget.page is not None:
            worse = budget.page * Decimal("1.5")
            cases.append(
                case(
                    {name: seq((worse, 60))},
                    labels,
                    fires("page", 0, float(worse), budget.probe),
                    fires("ticket", 0, float(worse), budget.probe),
                )
            )
        quiet_series[name] = seq((budget.ticket / 2, 60))
    return Alert(
        "ServiceLatencyHigh",
        "probes",
        "{{ $labels.service }} is slow: {{ $labels.probe }} p95 {{ $value | humanizeDuration }}",
        "The {{ $labels.probe }} probe of {{ $labels.service }} has taken "
        "{{ $value | humanizeDuration }} at the 95th percentile over 5 minutes, above its budget "
        "(alert_rules/alerts.yml, from the business's latency targets). "
        "probe_http_duration_seconds{phase} shows where the time goes.",
        spec.dashboard,
        tuple(rules),
        tuple(cases),
        quiet(quiet_series),
    )


def _ratio_alert_levels(
    ctx: Context, name: str, errors: str, total: str, matching: str = ""
) -> tuple[AlertSpec, list[Rule]]:
    """Rules for 'errors over total above threshold, with at least guard events' per level."""
    spec = ctx.alert(name)
    rules = []
    for severity in spec.levels():
        window, threshold, guard = ctx.values(spec, name, severity, "window", "threshold", "guard")
        expr = (
            f"increase({errors}[{window}])\n"
            f"  / {matching}increase({total}[{window}])\n"
            f"  > {n(threshold)}\n"
            f"and increase({total}[{window}]) >= {n(guard)}"
        )
        rules.append(ctx.rule(spec, severity, expr))
    return spec, rules


def _agent_failures(ctx: Context, jobs: Metric, processed: Metric) -> Alert:
    # failed jobs carry state="failed", processed jobs no state: match ignoring it
    spec, rules = _ratio_alert_levels(
        ctx,
        "AgentJobsFailing",
        sel(jobs, state="failed"),
        sel(processed),
        matching=f"ignoring ({labels_of(jobs, 'state')}) ",
    )
    q = {"service": "agent-service", "probe": "queue"}
    failed = series(jobs, **q, state="failed")
    done = series(processed, **q)

    # both counters sampled together, so extrapolation scales them alike: the ratio is exact
    def inputs(failed_per_step: int) -> dict[str, str]:
        return {failed: ramp(10, failed_per_step, 60), done: ramp(1000, 50, 60)}

    return Alert(
        "AgentJobsFailing",
        "probes",
        "agent-service jobs failing: {{ $value | humanizePercentage }}",
        "{{ $value | humanizePercentage }} of the jobs agent-service finished in the last 15 "
        "minutes failed (limit 1%, critical 5%): customer conversations get no AI draft. The "
        "failed jobs' errors are in its logs.",
        spec.dashboard,
        tuple(rules),
        (
            case(inputs(1), target(**q), fires("ticket", 1, 0.02)),
            case(inputs(5), target(**q), fires("page", 1, 0.1), fires("ticket", 1, 0.1)),
        ),
        quiet(inputs(0)),
    )


def _mcp_errors(ctx: Context) -> Alert:
    calls = ctx.json_metric("mcp_tool_calls")
    errors = ctx.json_metric("mcp_tool_errors")
    spec, rules = _ratio_alert_levels(ctx, "MCPToolErrorRateHigh", sel(errors), sel(calls))
    t = {"service": "llamaindex-mcp", "probe": "health", "tool": "query_support"}

    def inputs(errors_per_step: int) -> dict[str, str]:
        return {
            series(errors, **t): ramp(10, errors_per_step, 60),
            series(calls, **t): ramp(1000, 50, 60),
        }

    return Alert(
        "MCPToolErrorRateHigh",
        "probes",
        "MCP tool {{ $labels.tool }} fails {{ $value | humanizePercentage }} of calls",
        "{{ $value | humanizePercentage }} of the calls to llamaindex-mcp's {{ $labels.tool }} "
        "failed over the last 15 minutes (limit 1%, critical 5%): agents get no knowledge-base "
        "answers. The server's log has the errors.",
        spec.dashboard,
        tuple(rules),
        (
            case(inputs(1), target(**t), fires("ticket", 1, 0.02)),
            case(inputs(5), target(**t), fires("page", 1, 0.1), fires("ticket", 1, 0.1)),
        ),
        quiet(inputs(0)),
    )


# --- host ----------------------------------------------------------------------------------------


def host(ctx: Context) -> list[Alert]:
    out = []
    hl = {"service": "host"}

    spec = ctx.alert("HostCPUHigh")
    rules = []
    for severity in spec.levels():
        window, threshold = ctx.values(spec, "HostCPUHigh", severity, "window", "threshold")
        idle = sel(m.NODE_CPU_SECONDS, mode="idle")
        expr = (
            f"1 - avg without ({labels_of(m.NODE_CPU_SECONDS, 'cpu', 'mode')}) "
            f"(rate({idle}[{window}]))\n  > {n(threshold)}"
        )
        rules.append(ctx.rule(spec, severity, expr, hl))
    idle_s = series(m.NODE_CPU_SECONDS, cpu="0", mode="idle")
    # idle seconds per 30 s step: 6 -> 20% idle, 1.5 -> 5%, 27 -> 90%. rate() needs two samples
    # (onset step 1); by the boundary the 5 min window is full and the value exact.
    out.append(
        Alert(
            "HostCPUHigh",
            "host",
            "CPU of {{ $labels.instance }} is {{ $value | humanizePercentage }} busy",
            "The host redline runs on ({{ $labels.instance }}) has been {{ $value | "
            "humanizePercentage }} busy (all CPUs, 5 min average): warn above 70% for 10 min, "
            "critical above 90% for 5 min. Which process group uses it: "
            "redline_process_group_cpu_seconds_total.",
            spec.dashboard,
            tuple(rules),
            (
                case({idle_s: ramp(1000, 6, 60)}, target(), fires("ticket", 1, 0.8)),
                case(
                    {idle_s: ramp(1000, 1.5, 60)},
                    target(),
                    fires("page", 1, 0.95),
                    fires("ticket", 1, 0.95),
                ),
            ),
            quiet({idle_s: ramp(1000, 27, 60)}),
        )
    )

    spec = ctx.alert("HostMemoryHigh")
    used = f"1 - {sel(m.NODE_MEMORY_MEMAVAILABLE)} / {sel(m.NODE_MEMORY_MEMTOTAL)}"
    rules = [
        ctx.rule(spec, sev, f"{used}\n  > {n(ctx.level(spec, 'HostMemoryHigh', sev)[1])}", hl)
        for sev in spec.levels()
    ]
    total = series(m.NODE_MEMORY_MEMTOTAL)
    avail = series(m.NODE_MEMORY_MEMAVAILABLE)
    out.append(
        Alert(
            "HostMemoryHigh",
            "host",
            "Memory of {{ $labels.instance }} is {{ $value | humanizePercentage }} used",
            "{{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} is in use "
            "(1 - MemAvailable/MemTotal; warn 70%, critical 85%). Near the limit the kernel's OOM "
            "killer picks a process: find the biggest with "
            "redline_process_group_resident_memory_bytes.",
            spec.dashboard,
            tuple(rules),
            (
                case(
                    {total: seq((1000, 40)), avail: seq((600, 4), (200, 36))},
                    target(),
                    fires("ticket", 4, 0.8),
                ),
                case(
                    {total: seq((1000, 40)), avail: seq((600, 4), (100, 36))},
                    target(),
                    fires("page", 4, 0.9),
                    fires("ticket", 4, 0.9),
                ),
            ),
            quiet({total: seq((1000, 40)), avail: seq((400, 40))}),
        )
    )

    fs = {"device": "/dev/vda1", "fstype": "ext4", "mountpoint": "/"}
    size = series(m.NODE_FILESYSTEM_SIZE, **fs)
    free = series(m.NODE_FILESYSTEM_AVAIL, **fs)
    ro = series(m.NODE_FILESYSTEM_READONLY, **fs)
    writable = f"{sel(m.NODE_FILESYSTEM_READONLY)} == 0"
    free_ratio = f"{sel(m.NODE_FILESYSTEM_AVAIL)} / {sel(m.NODE_FILESYSTEM_SIZE)}"

    spec = ctx.alert("HostDiskUsageHigh")
    _, full = ctx.level(spec, "HostDiskUsageHigh", "ticket")
    out.append(
        Alert(
            "HostDiskUsageHigh",
            "host",
            "{{ $labels.mountpoint }} on {{ $labels.instance }} is "
            "{{ $value | humanizePercentage }} full",
            "The filesystem {{ $labels.mountpoint }} ({{ $labels.device }}) of "
            "{{ $labels.instance }} is {{ $value | humanizePercentage }} full (warn at 80%). "
            "Logs, backups and Postgres temp files are the usual suspects: `du -xh "
            "{{ $labels.mountpoint }} | sort -h | tail`.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"1 - {free_ratio} > {n(full)}\nand {writable}", hl),),
            (
                case(
                    {size: seq((1000, 40)), free: seq((500, 4), (150, 36)), ro: seq((0, 40))},
                    target(**fs),
                    fires("ticket", 4, 0.85),
                ),
            ),
            # full, but read-only (an image or a snapshot mount): nothing will be written there
            quiet({size: seq((1000, 40)), free: seq((50, 40)), ro: seq((1, 40))}),
        )
    )

    spec = ctx.alert("HostFilesystemFillingUp")
    rules = []
    for severity in spec.levels():
        window, horizon, guard = ctx.values(
            spec, "HostFilesystemFillingUp", severity, "window", "horizon", "guard"
        )
        predicted = (
            f"predict_linear({sel(m.NODE_FILESYSTEM_AVAIL)}[{window}], "
            f"{_seconds(seconds(horizon))}) < 0"
        )
        expr = f"{free_ratio} < {n(guard)}\nand {predicted}\nand {writable}"
        rules.append(ctx.rule(spec, severity, expr, hl))

    def draining(start: int) -> Callable[[int], float]:
        # free bytes fall by 1 per step out of 1000; the value is the free share
        return lambda step: (start - step) / 1000

    out.append(
        Alert(
            "HostFilesystemFillingUp",
            "host",
            "{{ $labels.mountpoint }} on {{ $labels.instance }} will fill up "
            "({{ $value | humanizePercentage }} free)",
            "At the rate of the last hours, {{ $labels.mountpoint }} ({{ $labels.device }}) of "
            "{{ $labels.instance }} fills up within 24 hours (ticket) or 4 hours (page); "
            "{{ $value | humanizePercentage }} is free now. Find what grows before it is full: "
            "Postgres, logs and backups stop when it is.",
            spec.dashboard,
            tuple(rules),
            (
                # predict_linear needs two samples: onset step 1. 35% free stays above the page's
                # 20% guard for the whole case.
                case(
                    {size: seq((1000, 200)), free: ramp(350, -1, 200), ro: seq((0, 200))},
                    target(**fs),
                    fires("ticket", 1, draining(350)),
                ),
                case(
                    {size: seq((1000, 200)), free: ramp(190, -1, 150), ro: seq((0, 200))},
                    target(**fs),
                    fires("page", 1, draining(190)),
                    fires("ticket", 1, draining(190)),
                ),
            ),
            # little free space, but not shrinking
            quiet({size: seq((1000, 200)), free: seq((150, 200)), ro: seq((0, 200))}),
        )
    )

    spec = ctx.alert("ProcessGroupDown")
    grp = series(m.PROCESS_GROUP_PROCESSES, group="sidekiq")
    out.append(
        Alert(
            "ProcessGroupDown",
            "host",
            "No {{ $labels.group }} process runs on {{ $labels.instance }}",
            "The process group {{ $labels.group }} on {{ $labels.instance }} has had "
            "{{ $value | humanize }} processes for 2 minutes: whatever it does (Chatwoot's Sidekiq "
            "works the message queue) has stopped.",
            spec.dashboard,
            (ctx.rule(spec, "page", f"{sel(m.PROCESS_GROUP_PROCESSES)} == 0", hl),),
            (case({grp: seq((2, 4), (0, 20))}, target(group="sidekiq"), fires("page", 4, 0)),),
            quiet({grp: seq((2, 20))}),
        )
    )

    spec = ctx.alert("ProcessGroupRestarting")
    window, threshold = ctx.values(spec, "ProcessGroupRestarting", "ticket", "window", "threshold")
    restarts = series(m.PROCESS_GROUP_RESTARTS, group="sidekiq")
    out.append(
        Alert(
            "ProcessGroupRestarting",
            "host",
            "{{ $labels.group }} on {{ $labels.instance }} is crash-looping",
            "The process group {{ $labels.group }} on {{ $labels.instance }} restarted "
            "{{ $value | humanize }} times in 15 minutes: a crash loop (at launch: Chatwoot's "
            "worker OOM-killed). `journalctl -k | grep -i oom` and the group's own log say why.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"increase({sel(m.PROCESS_GROUP_RESTARTS)}[{window}]) > {n(threshold)}",
                    hl,
                ),
            ),
            # a counter from 0: increase() does not extrapolate below zero, so it is exactly the
            # restarts so far; above 2 from step 3
            (case({restarts: ramp(0, 1, 40)}, target(group="sidekiq"), fires("ticket", 3, 13)),),
            quiet({restarts: seq((5, 40))}),
        )
    )
    return out


# --- logs ----------------------------------------------------------------------------------------


def logs(ctx: Context) -> list[Alert]:
    out = []
    spec = ctx.alert("LogErrorRateHigh")
    req = m.LOG_HTTP_REQUESTS
    by = labels_of(req, "service")
    rules = []
    for severity in spec.levels():
        window, threshold, guard = ctx.values(
            spec, "LogErrorRateHigh", severity, "window", "threshold", "guard"
        )
        expr = (
            f"sum by ({by}) (rate({sel(req, code_class='5xx')}[{window}]))\n"
            f"  / sum by ({by}) (rate({sel(req)}[{window}]))\n  > {n(threshold)}\n"
            f"and sum by ({by}) (increase({sel(req)}[{window}])) >= {n(guard)}"
        )
        rules.append(ctx.rule(spec, severity, expr))
    r = {"service": "agent-service", "route": "api", "method": "POST"}
    ok_s = series(req, **r, code_class="2xx")
    err_s = series(req, **r, code_class="5xx")

    # 100 requests per step; counters far from 0, so both rates extrapolate alike
    def traffic(errors: float) -> dict[str, str]:
        return {ok_s: ramp(10000, 100 - errors, 60), err_s: ramp(100, errors, 60)}

    out.append(
        Alert(
            "LogErrorRateHigh",
            "logs",
            "{{ $labels.service }} answers {{ $value | humanizePercentage }} of requests with 5xx",
            "{{ $value | humanizePercentage }} of the requests {{ $labels.service }} logged over "
            "the last 5 minutes were server errors (target below 0.5%; warn 1%, critical 5%). "
            "redline_http_requests_total by route shows where; the log lines say why.",
            spec.dashboard,
            tuple(rules),
            (
                case(traffic(2), {"service": "agent-service"}, fires("ticket", 1, 0.02)),
                case(
                    traffic(10),
                    {"service": "agent-service"},
                    fires("page", 1, 0.1),
                    fires("ticket", 1, 0.1),
                ),
            ),
            quiet(traffic(0.5)),
        )
    )

    spec = ctx.alert("LogSourceSilent")
    _, silence = ctx.level(spec, "LogSourceSilent", "ticket")
    last = series(m.LOG_LAST_LINE, source="fly")
    out.append(
        Alert(
            "LogSourceSilent",
            "logs",
            "No log line from {{ $labels.source }} for {{ $value | humanizeDuration }}",
            "The log source {{ $labels.source }} has delivered no line for "
            "{{ $value | humanizeDuration }}, although redline's own probes make the services "
            "log every 30 s: the log shipper or the ingest path is broken, and error rates from "
            "logs are blind.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"time() - {sel(m.LOG_LAST_LINE)} > {_seconds(silence)}",
                    {"service": "logs"},
                ),
            ),
            # lines arrive every step until step 9 (t = 270 s); silent for 600 s after step 29
            (
                case(
                    {last: f"{ramp(0, 30, 10)} {seq((270, 50))}"},
                    target(source="fly"),
                    fires("ticket", 30, lambda step: 30.0 * step - 270),
                ),
            ),
            quiet({last: ramp(0, 30, 60)}),
        )
    )

    pat = m.LOG_PATTERN_MATCHES
    spec = ctx.alert("LogOutOfMemory")
    window, threshold = ctx.values(spec, "LogOutOfMemory", "ticket", "window", "threshold")
    oom = series(pat, source="fly", pattern="oom")
    other = series(pat, source="fly", pattern="econnreset")
    out.append(
        Alert(
            "LogOutOfMemory",
            "logs",
            "Out-of-memory in the logs of {{ $labels.source }}",
            "{{ $value | humanize }} out-of-memory line(s) in the last 10 minutes from log source "
            "{{ $labels.source }}: a process was killed or is about to be (Chatwoot's worker at "
            "launch). Find the line and the app: `fly logs` filtered for the pattern.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"increase({sel(pat, pattern='oom')}[{window}]) > {n(threshold)}",
                    {"service": "logs"},
                ),
            ),
            # the first OOM line at step 10; a counter from 0 is not extrapolated below zero
            (
                case(
                    {oom: seq((0, 10), (1, 30))},
                    target(source="fly", pattern="oom"),
                    fires("ticket", 10, 1),
                ),
            ),
            quiet({oom: seq((0, 40)), other: ramp(0, 5, 40)}),
        )
    )

    spec = ctx.alert("LogErrorPatternSpike")
    window, threshold = ctx.values(spec, "LogErrorPatternSpike", "ticket", "window", "threshold")
    out.append(
        Alert(
            "LogErrorPatternSpike",
            "logs",
            "{{ $labels.pattern }} errors in {{ $labels.source }}: "
            "{{ $value | humanize }} in 10 min",
            "The error pattern {{ $labels.pattern }} matched {{ $value | humanize }} lines of log "
            "source {{ $labels.source }} in the last 10 minutes (more than 20): a dependency is "
            "failing (econnreset, etimedout, econnrefused), or the app is (unhandled_rejection, "
            "prisma_error), or Shopify throttles it (shopify_throttled).",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"increase({sel(pat, pattern=('!=', 'oom'))}[{window}]) > {n(threshold)}",
                    {"service": "logs"},
                ),
            ),
            # 2 matches per step from 0: above 20 from step 11; at the boundary (step 21) the
            # 10 min window is full: 40
            (
                case(
                    {other: ramp(0, 2, 40)},
                    target(source="fly", pattern="econnreset"),
                    fires("ticket", 11, 40),
                ),
            ),
            quiet({other: ramp(0, 0.5, 40), oom: ramp(0, 5, 40)}),
        )
    )

    spec = ctx.alert("LogParseErrorsHigh")
    window, threshold = ctx.values(spec, "LogParseErrorsHigh", "ticket", "window", "threshold")
    src = labels_of(m.LOG_LINES, "source", "job", "instance")
    expr = (
        f"sum by ({src}) (rate({sel(m.LOG_PARSE_ERRORS)}[{window}]))\n"
        f"  / sum by ({src}) (rate({sel(m.LOG_LINES)}[{window}]))\n  > {n(threshold)}"
    )
    lines = series(m.LOG_LINES, source="nginx", level="info")
    perr = series(m.LOG_PARSE_ERRORS, source="nginx", reason="format")
    out.append(
        Alert(
            "LogParseErrorsHigh",
            "logs",
            "{{ $value | humanizePercentage }} of {{ $labels.source }}'s log lines do not parse",
            "{{ $value | humanizePercentage }} of the lines of log source {{ $labels.source }} "
            "failed to parse over the last 15 minutes: the log format changed, so request counts, "
            "error rates and latencies from it are incomplete. Compare a line with the source's "
            "parsers in config/hotrod.yml.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", expr, {"service": "redline"}),),
            (
                case(
                    {lines: ramp(10000, 100, 60), perr: ramp(1000, 20, 60)},
                    target(source="nginx"),
                    fires("ticket", 1, 0.2),
                ),
            ),
            quiet({lines: ramp(10000, 100, 60), perr: ramp(1000, 5, 60)}),
        )
    )
    return out


# --- database -------------------------------------------------------------------------------------


def database(ctx: Context) -> list[Alert]:
    out = []
    dl = {"service": "database"}
    db = {"database": "supabase"}

    def simple(
        name: str,
        metric: Metric,
        op: str,
        summary: str,
        description: str,
        values: tuple[float, float, float],
        *,
        unit_days: bool = False,
        fixed: str | None = None,
    ) -> Alert:
        """An alert comparing one per-database gauge with each level's threshold (or with
        ``fixed``). values: the quiet value, the ticket case's value and the page case's (past
        both thresholds)."""
        spec = ctx.alert(name)
        rules = []
        for severity in spec.levels():
            if fixed is not None:
                rhs = fixed
            else:
                _, limit = ctx.level(spec, name, severity)
                rhs = _seconds(limit) if unit_days else n(limit)
            rules.append(ctx.rule(spec, severity, f"{sel(metric)} {op} {rhs}", dl))
        s = series(metric, **db)
        quiet_v, ticket_v, page_v = values
        cases = []
        if "ticket" in spec.levels():
            cases.append(
                case(
                    {s: seq((quiet_v, 4), (ticket_v, 40))},
                    target(**db),
                    fires("ticket", 4, ticket_v),
                )
            )
        if "page" in spec.levels():
            expects = [fires("page", 4, page_v)]
            if "ticket" in spec.levels():
                expects.append(fires("ticket", 4, page_v))
            cases.append(case({s: seq((quiet_v, 4), (page_v, 40))}, target(**db), *expects))
        return Alert(
            name,
            "database",
            summary,
            description,
            spec.dashboard,
            tuple(rules),
            tuple(cases),
            quiet({s: seq((quiet_v, 40))}),
        )

    out.append(
        simple(
            "PostgresDown",
            m.PG_UP,
            "==",
            "Database {{ $labels.database }} is down",
            "redline's canary query to {{ $labels.database }} has failed for 2 minutes (pg_up = "
            "{{ $value | humanize }}); every Hot Rod AN service depends on it. "
            "redline_pg_failure_reason says why (connect, auth, timeout, ...); check Supabase's "
            "status page and dashboard.",
            (1, 0, 0),
            fixed="0",  # pg_up is 0 or 1: no threshold to choose
        )
    )
    out.append(
        simple(
            "PostgresConnectionsHigh",
            m.PG_CONNECTIONS_USAGE,
            ">",
            "{{ $labels.database }} uses {{ $value | humanizePercentage }} of its connections",
            "{{ $value | humanizePercentage }} of the connection slots of {{ $labels.database }} "
            "are taken (warn 80%, critical 90%): the next burst or deploy is refused connections. "
            "pg_stat_activity_count by state shows who holds them.",
            (0.5, 0.85, 0.95),
        )
    )
    out.append(
        simple(
            "PostgresLongTransaction",
            m.PG_OLDEST_TRANSACTION,
            ">",
            "A transaction on {{ $labels.database }} has been open {{ $value | humanizeDuration }}",
            "The oldest transaction on {{ $labels.database }} has been open for "
            "{{ $value | humanizeDuration }}: it holds its locks, keeps vacuum from cleaning up "
            "and, through the pooler, pins a connection. Find it in pg_stat_activity "
            "(xact_start) and end it if nobody owns it.",
            (10, 600, 600),
            unit_days=True,
        )
    )
    out.append(
        simple(
            "PostgresIdleInTransaction",
            m.PG_IDLE_IN_TRANSACTION,
            ">=",
            "{{ $value | humanize }} connections idle in a transaction on {{ $labels.database }}",
            "{{ $value | humanize }} connections to {{ $labels.database }} have sat idle inside an "
            "open transaction: an app code path forgot to commit or roll back, and the pooler's "
            "connections are pinned. pg_stat_activity (state 'idle in transaction') names them.",
            (1, 4, 4),
        )
    )
    out.append(
        simple(
            "PostgresLockWaits",
            m.PG_LOCK_WAIT_MAX,
            ">",
            "A query on {{ $labels.database }} waits {{ $value | humanizeDuration }} for a lock",
            "A connection to {{ $labels.database }} has waited {{ $value | humanizeDuration }} for "
            "a lock: requests behind it time out. pg_blocking_pids() finds the blocker (often a "
            "long transaction or a migration).",
            (1, 45, 45),
            unit_days=True,
        )
    )
    out.append(
        simple(
            "PostgresReplicationLag",
            m.PG_REPLICATION_LAG,
            ">",
            "Replica {{ $labels.database }} is {{ $value | humanizeDuration }} behind",
            "The replica {{ $labels.database }} replays the primary's changes "
            "{{ $value | humanizeDuration }} late: reads from it are stale, and a failover to it "
            "would lose that much. On a primary this is always 0.",
            (0, 60, 60),
            unit_days=True,
        )
    )

    spec = ctx.alert("PostgresDeadlocks")
    window, threshold = ctx.values(spec, "PostgresDeadlocks", "ticket", "window", "threshold")
    deadlocks = m.PG_STAT_DATABASE_COUNTERS["deadlocks"]
    dls = series(deadlocks, **db, datname="postgres")
    out.append(
        Alert(
            "PostgresDeadlocks",
            "database",
            "Deadlocks on {{ $labels.database }} ({{ $labels.datname }})",
            "Postgres detected about {{ $value | humanize }} deadlock(s) in {{ $labels.datname }} "
            "over the last 15 minutes and aborted a transaction each time: two code paths take "
            "the same locks in opposite order. The server log (Supabase: Logs > Postgres) shows "
            "both statements.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"increase({sel(deadlocks)}[{window}]) > {n(threshold)}",
                    dl,
                ),
            ),
            # one deadlock at step 10 (counter at 3 before): over the 5 min sampled, increase()
            # extrapolates 15 s towards the 15 min window's start: 1 x 315 / 300 = 1.05
            (
                case(
                    {dls: seq((3, 10), (4, 30))},
                    target(**db, datname="postgres"),
                    fires("ticket", 10, 1.05),
                ),
            ),
            quiet({dls: seq((3, 40))}),
        )
    )

    spec = ctx.alert("PostgresCacheHitRatioLow")
    window, threshold, guard = ctx.values(
        spec, "PostgresCacheHitRatioLow", "ticket", "window", "threshold", "guard"
    )
    hit_m = m.PG_STAT_DATABASE_COUNTERS["blks_hit"]
    read_m = m.PG_STAT_DATABASE_COUNTERS["blks_read"]
    by = labels_of(hit_m, "database", "datname", "job", "instance")
    hit = f"sum by ({by}) (rate({sel(hit_m)}[{window}]))"
    read = f"sum by ({by}) (rate({sel(read_m)}[{window}]))"
    hit_s = series(hit_m, **db, datname="postgres")
    read_s = series(read_m, **db, datname="postgres")
    out.append(
        Alert(
            "PostgresCacheHitRatioLow",
            "database",
            "Cache hit ratio of {{ $labels.database }} is {{ $value | humanizePercentage }}",
            "Only {{ $value | humanizePercentage }} of the blocks {{ $labels.datname }} read over "
            "15 minutes came from the buffer cache (below 90%): the working set outgrew memory "
            "or a query scans a big table. Top statements by shared_blks_read point at it.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{hit}\n  / ({hit} + {read})\n  < {n(threshold)}\n"
                    f"and ({hit} + {read}) > {n(guard)}",
                    dl,
                ),
            ),
            # 16 hits and 4 reads per second: ratio 0.8 at once, but the guard's 15 min rate
            # reaches 10/s only at step 15 (the window is still mostly empty before)
            (
                case(
                    {hit_s: ramp(1000000, 480, 90), read_s: ramp(1000000, 120, 90)},
                    target(**db, datname="postgres"),
                    fires("ticket", 15, 0.8),
                ),
            ),
            quiet({hit_s: ramp(1000000, 570, 90), read_s: ramp(1000000, 30, 90)}),
        )
    )

    spec = ctx.alert("PostgresStatementRegressed")
    window, horizon, threshold, guard = ctx.values(
        spec, "PostgresStatementRegressed", "ticket", "window", "horizon", "threshold", "guard"
    )
    secs = sel(m.PG_STATEMENT_SECONDS)
    calls = sel(m.PG_STATEMENT_CALLS)
    recent = f"rate({secs}[{window}]) / rate({calls}[{window}])"
    usual = f"rate({secs}[{horizon}]) / rate({calls}[{horizon}])"
    st = {"database": "supabase", "datname": "postgres", "user": "hotdash", "queryid": "42"}
    secs_s = series(m.PG_STATEMENT_SECONDS, **st)
    calls_s = series(m.PG_STATEMENT_CALLS, **st)
    out.append(
        Alert(
            "PostgresStatementRegressed",
            "database",
            "Statement {{ $labels.queryid }} on {{ $labels.database }} slowed to "
            "{{ $value | humanizeDuration }}",
            "Statement {{ $labels.queryid }} (user {{ $labels.user }}) now takes "
            "{{ $value | humanizeDuration }} on average over 30 minutes, more than twice its mean "
            "over the last day: a plan changed, an index is missing or bloated, or the data grew. "
            'Its text: pg_stat_statements_query_info{queryid="{{ $labels.queryid }}"}.',
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{recent}\n  > {n(threshold)} * ({usual})\nand {recent} > {n(guard)}",
                    dl,
                ),
            ),
            # 10 calls per step; 20 ms each for 5 h, then 530 ms each. The recent mean (60 steps)
            # passes 100 ms at step 609 (10 slow steps in the window), far above twice the day's.
            (
                case(
                    {
                        calls_s: ramp(0, 10, 700),
                        secs_s: f"{ramp(0, 0.2, 600)} {ramp(125.1, 5.3, 100)}",
                    },
                    target(**st),
                    fires("ticket", 609, lambda step: (12 + 5.1 * (step - 599)) / 600),
                ),
            ),
            # always 500 ms: slow, but not slower than usual
            quiet({calls_s: ramp(0, 10, 100), secs_s: ramp(0, 5, 100)}),
        )
    )
    return out


# --- backups and scheduled jobs -------------------------------------------------------------------


def backups(ctx: Context) -> list[Alert]:
    out = []
    bl = {"service": "backups"}
    bk = {"backup": "agent-tables"}

    spec = ctx.alert("BackupTooOld")
    rules = []
    for severity in spec.levels():
        _, times = ctx.level(spec, "BackupTooOld", severity)
        factor = "" if times == 1 else f"{n(times)} * "
        expr = f"{sel(m.BACKUP_NEWEST_AGE)}\n  > {factor}{sel(m.BACKUP_MAX_AGE)}"
        rules.append(ctx.rule(spec, severity, expr, bl))
    age = series(m.BACKUP_NEWEST_AGE, **bk)
    rpo = series(m.BACKUP_MAX_AGE, **bk)
    out.append(
        Alert(
            "BackupTooOld",
            "backups",
            "Newest backup of {{ $labels.backup }} is {{ $value | humanizeDuration }} old",
            "The newest backup of {{ $labels.backup }} is {{ $value | humanizeDuration }} old, "
            "older than its max_age (the RPO; business target below 1 h): a database loss now "
            "loses that much. Is the backup job running (its heartbeat), and is the disk full?",
            spec.dashboard,
            tuple(rules),
            # a nightly set (max_age 26 h) whose newest dump is 30 h old
            (
                case(
                    {age: seq((3600, 4), (108000, 30)), rpo: seq((93600, 34))},
                    target(**bk),
                    fires("ticket", 4, 108000),
                ),
            ),
            quiet({age: seq((90000, 34)), rpo: seq((93600, 34))}),
        )
    )

    spec = ctx.alert("BackupFailed")
    failed_states = ("missing", "unreadable", "empty", "failed")
    bad = series(m.BACKUP_STATUS, **bk, status="empty")
    out.append(
        Alert(
            "BackupFailed",
            "backups",
            "Backup set {{ $labels.backup }} is {{ $labels.status }}",
            "The backup set {{ $labels.backup }} has been {{ $labels.status }} for 10 minutes "
            "(value {{ $value | humanize }}): missing or unreadable directory, no backup at all, "
            "or Supabase's latest backup failed. Backup success must be 100%.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{sel(m.BACKUP_STATUS, status=('=~', alternatives(failed_states)))} == 1",
                    bl,
                ),
            ),
            (
                case(
                    {bad: seq((0, 4), (1, 30))}, target(**bk, status="empty"), fires("ticket", 4, 1)
                ),
            ),
            # stale is BackupTooOld's
            quiet({bad: seq((0, 30)), series(m.BACKUP_STATUS, **bk, status="stale"): seq((1, 30))}),
        )
    )

    spec = ctx.alert("BackupTooSmall")
    size = series(m.BACKUP_NEWEST_SIZE, **bk)
    minimum = series(m.BACKUP_MIN_SIZE, **bk)
    out.append(
        Alert(
            "BackupTooSmall",
            "backups",
            "Newest backup of {{ $labels.backup }} is only {{ $value | humanize1024 }}B",
            "The newest backup file of {{ $labels.backup }} is {{ $value | humanize1024 }}B, below "
            "the set's min_size: the dump stopped early or dumped nothing. A backup that small "
            "cannot restore the shop.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{sel(m.BACKUP_NEWEST_SIZE)} < {sel(m.BACKUP_MIN_SIZE)}",
                    bl,
                ),
            ),
            (
                case(
                    {size: seq((5242880, 4), (1024, 30)), minimum: seq((1048576, 34))},
                    target(**bk),
                    fires("ticket", 4, 1024),
                ),
            ),
            quiet({size: seq((5242880, 34)), minimum: seq((1048576, 34))}),
        )
    )

    spec = ctx.alert("BackupVerificationFailed")
    vf = {**bk, "check": "pg_restore_full"}
    vs = series(m.BACKUP_VERIFY_STATUS, **vf, status="failed")
    out.append(
        Alert(
            "BackupVerificationFailed",
            "backups",
            "Newest backup of {{ $labels.backup }} fails its {{ $labels.check }} check",
            "The {{ $labels.check }} integrity check of the newest backup of {{ $labels.backup }} "
            "failed (value {{ $value | humanize }}): that backup could not be restored. "
            "redline_backup_verify_failure_reason says how.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(m.BACKUP_VERIFY_STATUS, status='failed')} == 1", bl),),
            (
                case(
                    {vs: seq((0, 4), (1, 10))}, target(**vf, status="failed"), fires("ticket", 4, 1)
                ),
            ),
            quiet(
                {
                    vs: seq((0, 10)),
                    series(m.BACKUP_VERIFY_STATUS, **vf, status="pending"): seq((1, 10)),
                }
            ),
        )
    )

    jl = {"service": "jobs"}
    hb = {"heartbeat": "agent-table-backup"}
    heartbeat_alerts: tuple[tuple[str, str, Severity, str], ...] = (
        (
            "HeartbeatLate",
            "late",
            "info",
            "is late: its ping is overdue but within its grace time",
        ),
        (
            "HeartbeatFailed",
            "down",
            "ticket",
            "is down: its grace time passed without a ping, a run outlasted it, or it reported a "
            "failure",
        ),
    )
    for name, state, severity, text in heartbeat_alerts:
        spec = ctx.alert(name)
        hs = series(m.HEARTBEAT_STATUS, **hb, status=state)
        out.append(
            Alert(
                name,
                "backups",
                "Scheduled job {{ $labels.heartbeat }} " + state,
                "The job {{ $labels.heartbeat }} " + text + " (status value "
                "{{ $value | humanize }}). redline_heartbeat_last_success_timestamp_seconds and "
                "_last_failure_ say when it last worked; the job's own log says why.",
                spec.dashboard,
                (ctx.rule(spec, severity, f"{sel(m.HEARTBEAT_STATUS, status=state)} == 1", jl),),
                (
                    case(
                        {hs: seq((0, 4), (1, 10))},
                        target(**hb, status=state),
                        fires(severity, 4, 1),
                    ),
                ),
                quiet(
                    {hs: seq((0, 10)), series(m.HEARTBEAT_STATUS, **hb, status="up"): seq((1, 10))}
                ),
            )
        )
    return out


# --- vendors --------------------------------------------------------------------------------------


def _as_service(expr: str, label: str) -> str:
    """Vendor alerts carry service = the feed's or check's name (e.g. shopify), the name our own
    alerts about that vendor use, so routing and inhibitions match them."""
    return f'label_replace(\n  {expr},\n  "service", "$1", "{label}", "(.*)"\n)'


def vendors(ctx: Context) -> list[Alert]:
    out = []
    feed = {"feed": "shopify"}
    comp = {**feed, "component": "Admin API"}
    status = m.VENDOR_COMPONENT_STATUS
    component_alerts: tuple[tuple[str, tuple[str, ...], Severity, str], ...] = (
        ("VendorComponentDown", ("partial_outage", "major_outage"), "ticket", "in an outage"),
        (
            "VendorComponentDegraded",
            ("degraded_performance", "under_maintenance"),
            "info",
            "degraded",
        ),
    )
    for name, states, severity, word in component_alerts:
        spec = ctx.alert(name)
        bad = series(status, **comp, status=states[0])
        expr = _as_service(f"{sel(status, status=('=~', alternatives(states)))} == 1", "feed")
        out.append(
            Alert(
                name,
                "vendors",
                "{{ $labels.feed }}: {{ $labels.component }} is " + word,
                "{{ $labels.feed }}'s status page reports {{ $labels.component }} as "
                "{{ $labels.status }} (value {{ $value | humanize }}). Nothing to fix on our "
                "side: tell the operator, and expect our own alerts about it (silenced while "
                "this fires).",
                spec.dashboard,
                (ctx.rule(spec, severity, expr),),
                (
                    case(
                        {bad: seq((0, 4), (1, 10))},
                        target(**comp, status=states[0], service="shopify"),
                        fires(severity, 4, 1),
                    ),
                ),
                quiet(
                    {bad: seq((0, 10)), series(status, **comp, status="operational"): seq((1, 10))}
                ),
            )
        )

    spec = ctx.alert("VendorStatusFeedStale")
    _, stale = ctx.level(spec, "VendorStatusFeedStale", "ticket")
    age = sel(m.VENDOR_FEED_DATA_AGE)
    never = (
        f"({sel(m.VENDOR_FEED_UP)} == 0\n"
        f"  unless on ({labels_of(m.VENDOR_FEED_UP, 'feed', 'job', 'instance')}) {age})"
    )
    age_s = series(m.VENDOR_FEED_DATA_AGE, **feed)
    up_s = series(m.VENDOR_FEED_UP, **feed)
    out.append(
        Alert(
            "VendorStatusFeedStale",
            "vendors",
            "Status feed {{ $labels.feed }} is stale",
            "redline's last good data from the {{ $labels.feed }} status feed is "
            "{{ $value | humanizeDuration }} old (0s: none since redline started): a vendor outage "
            "would go unseen and would not silence our alerts about it. "
            "redline_vendor_feed_failure_reason says why fetches fail.",
            spec.dashboard,
            (
                ctx.rule(
                    spec, "ticket", f"{age} > {_seconds(stale)}\nor {never}", {"service": "redline"}
                ),
            ),
            (
                case(
                    {age_s: seq((60, 4), (1200, 20)), up_s: seq((1, 4), (0, 20))},
                    target(**feed),
                    fires("ticket", 4, 1200),
                ),
                # never fetched successfully: no data age at all
                case({up_s: seq((0, 24))}, target(**feed), fires("ticket", 0, 0)),
            ),
            quiet({age_s: seq((60, 24)), up_s: seq((1, 24))}),
        )
    )

    check = {"check": "shopify-admin"}
    spec = ctx.alert("VendorApiFailing")
    cu = series(m.VENDOR_CHECK_UP, **check)
    out.append(
        Alert(
            "VendorApiFailing",
            "vendors",
            "{{ $labels.check }} API calls fail",
            "redline's synthetic call to the {{ $labels.check }} API has failed for 10 minutes "
            "(value {{ $value | humanize }}), so the app's calls most likely fail too. "
            "redline_vendor_check_failure_reason says how (auth, status, timeout, ...); the "
            "vendor's status page says whether it is them.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", _as_service(f"{sel(m.VENDOR_CHECK_UP)} == 0", "check")),),
            (
                case(
                    {cu: seq((1, 4), (0, 30))},
                    target(**check, service="shopify-admin"),
                    fires("ticket", 4, 0),
                ),
            ),
            quiet({cu: seq((1, 30))}),
        )
    )

    spec = ctx.alert("VendorApiThrottled")
    _, low = ctx.level(spec, "VendorApiThrottled", "ticket")
    avail = series(m.VENDOR_SHOPIFY_THROTTLE_AVAILABLE, **check)
    maximum = series(m.VENDOR_SHOPIFY_THROTTLE_MAXIMUM, **check)
    ratio = (
        f"{sel(m.VENDOR_SHOPIFY_THROTTLE_AVAILABLE)}\n  / {sel(m.VENDOR_SHOPIFY_THROTTLE_MAXIMUM)}"
    )
    out.append(
        Alert(
            "VendorApiThrottled",
            "vendors",
            "{{ $labels.check }} API budget at {{ $value | humanizePercentage }}",
            "Only {{ $value | humanizePercentage }} of the app's Shopify GraphQL cost bucket has "
            "been left for 5 minutes: the app's calls are being throttled (THROTTLED errors in its "
            "logs). A bulk job or a retry loop is spending it.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", _as_service(f"{ratio} < {n(low)}", "check")),),
            (
                case(
                    {avail: seq((1000, 4), (50, 20)), maximum: seq((1000, 24))},
                    target(**check, service="shopify-admin"),
                    fires("ticket", 4, 0.05),
                ),
            ),
            quiet({avail: seq((150, 24)), maximum: seq((1000, 24))}),
        )
    )

    spec = ctx.alert("GoogleAnalyticsNoData")
    ga = {"check": "google-analytics"}
    rows = series(m.VENDOR_GA_ROWS_LAST_HOUR, **ga)
    out.append(
        Alert(
            "GoogleAnalyticsNoData",
            "vendors",
            "Google Analytics has no recent data",
            "GA4 answers, but has had no data for the current or the previous hour for 2 hours "
            "(rows = {{ $value | humanize }}): the storefront's tag or the data stream is broken "
            "and the shop's analytics are being lost.",
            spec.dashboard,
            (
                ctx.rule(
                    spec, "ticket", _as_service(f"{sel(m.VENDOR_GA_ROWS_LAST_HOUR)} == 0", "check")
                ),
            ),
            (
                case(
                    {rows: seq((1, 4), (0, 250))},
                    target(**ga, service="google-analytics"),
                    fires("ticket", 4, 0),
                ),
            ),
            quiet({rows: seq((1, 250))}),
        )
    )
    return out


# --- the catalogue --------------------------------------------------------------------------------

AREAS = (pipeline, probes, host, logs, database, backups, vendors)


def catalog(spec: AlertsSpec, config: Config, extra_names: tuple[str, ...] = ()) -> list[Alert]:
    """Every alert of alert_rules/alerts.yml but those built elsewhere (``extra_names``: the SLO
    alerts of exporter/rules/slo.py). Every entry of the spec must be used."""
    ctx = Context(spec, config)
    alerts = [alert for area in AREAS for alert in area(ctx)]
    unused = set(spec.alerts) - ctx.used - set(extra_names)
    if unused:
        raise SpecError(f"alert_rules/alerts.yml: no rule uses {', '.join(sorted(unused))}")
    names = [a.name for a in alerts]
    if len(names) != len(set(names)):
        raise SpecError("two alerts share a name")
    return alerts
