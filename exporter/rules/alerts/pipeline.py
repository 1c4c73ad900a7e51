"""The alerting pipeline and the exporter itself: Watchdog, the exporter's scrape, reloads,
probe errors, sources and collectors."""

from __future__ import annotations

from exporter import metrics as m
from exporter.rules.alerts.common import (
    JOB,
    UP,
    Context,
    case,
    duration_expr,
    fires,
    quiet,
    ramp,
    seq,
    series,
    target,
)
from exporter.rules.model import (
    WATCHDOG,
    Alert,
    labels_of,
    n,
    sel,
)
from exporter.rules.spec import SpecError

# --- the alerting pipeline and the exporter ------------------------------------------------------


def alerts(ctx: Context) -> list[Alert]:
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
            "Prometheus has failed to scrape redline at {{ $labels.instance }} for [[for]] "
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

    # A config cut short or replaced by a wrong file removes targets, and a removed target
    # raises no alert of its own: nothing is measured, so nothing is down. Two guards: the
    # count of configured targets falling below half of its recent maximum (a reload refuses
    # that unless forced, a restart does not), and no probe_success at all from an exporter
    # that is scraped fine (whatever the config says).
    spec = ctx.alert("RedlineTargetsVanished")
    window, ratio = ctx.values(spec, "RedlineTargetsVanished", "ticket", "window", "threshold")
    count = sel(m.CONFIG_TARGETS, job=JOB)
    drop = f"{count} < {n(ratio)} * max_over_time({count}[{window}])"
    gone = f"absent({sel(m.PROBE_SUCCESS, job=JOB)}) and on () {sel(UP, job=JOB)} == 1"
    probes = series(m.CONFIG_TARGETS, area="probes")
    ok = series(m.PROBE_SUCCESS, service="agent-service", probe="health")
    out.append(
        Alert(
            "RedlineTargetsVanished",
            "redline",
            "redline ({{ $labels.job }}) lost most of its targets",
            "Monitoring has shrunk (value {{ $value | humanize }}): either an area of "
            "redline_config_targets fell below half of its maximum over the last day, or the "
            "exporter is scraped but serves no probe_success at all. A removed target raises no "
            "alert of its own. Compare the config in force with the repository's.",
            spec.dashboard,
            (
                ctx.rule(spec, "ticket", drop, {"service": "redline"}, family="drop"),
                ctx.rule(spec, "page", gone, {"service": "redline"}, family="absent"),
            ),
            (
                case(
                    {probes: seq((6, 20), (2, 40))},
                    target(area="probes"),
                    fires("ticket", 20, 2, "drop"),
                ),
                # up is 1 and not one probe_success: absent() answers at once
                case({series(UP): seq((1, 20))}, {"job": JOB}, fires("page", 0, 1, "absent")),
            ),
            quiet(
                {
                    # half may go (a service retired); the exporter down is RedlineExporterDown's
                    probes: seq((6, 20), (3, 40)),
                    ok: seq((1, 20)) + " _x39",  # then stale while the exporter is down
                    series(UP): seq((1, 20), (0, 40)),
                }
            ),
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
    if float(threshold) not in m.SCRAPE_DURATION_BUCKETS:
        raise SpecError(
            f"alert_rules/alerts.yml: alerts.RedlineScrapeSlow.ticket.threshold: {n(threshold)} s "
            "is not a bucket bound of redline_scrape_duration_seconds "
            f"(exporter/metrics.py: {', '.join(f'{b:g}' for b in m.SCRAPE_DURATION_BUCKETS)}): "
            "histogram_quantile would interpolate across it"
        )
    bucket = sel(m.SCRAPE_DURATION, "_bucket", endpoint="metrics")
    expr = (
        f"histogram_quantile(0.9, sum by ({labels_of(m.SCRAPE_DURATION, 'job', 'instance')}, le) "
        f"(rate({bucket}[{window}])))\n  > {n(threshold)}"
    )

    def buckets(seconds_: float) -> dict[str, str]:
        """The exporter's own buckets when every scrape takes ``seconds_`` (one a step): the
        buckets from the first bound at or above it grow, the others stay."""
        out = {}
        for le in (*(repr(float(b)) for b in m.SCRAPE_DURATION_BUCKETS), "+Inf"):
            grows = le == "+Inf" or float(le) >= seconds_
            name = series(m.SCRAPE_DURATION, "_bucket", endpoint="metrics", le=le)
            out[name] = ramp(100, 1, 60) if grows else seq((100, 60))
        return out

    def p90(seconds_: float) -> float:
        """What histogram_quantile(0.9) reads from :func:`buckets`: 90% into the bucket."""
        upper = next(b for b in m.SCRAPE_DURATION_BUCKETS if b >= seconds_)
        lower = max((b for b in m.SCRAPE_DURATION_BUCKETS if b < upper), default=0.0)
        return lower + 0.9 * (upper - lower)

    slow = float(threshold) + 2  # scrapes 2 s past the threshold

    out.append(
        Alert(
            "RedlineScrapeSlow",
            "redline",
            "redline {{ $labels.instance }} scrapes take {{ $value | humanizeDuration }}",
            "90% of /metrics scrapes of {{ $labels.instance }} took up to "
            "{{ $value | humanizeDuration }} over the last [[window]], close to the 25 s scrape "
            "timeout: one more slow target and whole scrapes fail. Look for the slowest probes "
            "and sources (probe_duration_seconds, redline_source_duration_seconds).",
            spec.dashboard,
            (ctx.rule(spec, "ticket", expr, {"service": "redline"}),),
            # rate() needs two samples: onset at step 1
            (case(buckets(slow), target(), fires("ticket", 1, p90(slow))),),
            # scrapes of 11 s, 9 s below the threshold: with no bucket between 10 and 30 s they
            # read as a p90 of 28 s and alerted
            quiet(buckets(11)),
        )
    )

    spec = ctx.alert("RedlineSourceDown")
    out.append(
        Alert(
            "RedlineSourceDown",
            "redline",
            "redline source {{ $labels.source }} fails on {{ $labels.instance }}",
            "The {{ $labels.source }} source of redline at {{ $labels.instance }} has failed "
            "every scrape for [[for]] (redline_source_up = {{ $value | humanize }}): its whole "
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
            "The {{ $labels.collector }} collector has failed every scrape for [[for]] "
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
                    f"label_join({sel(m.PROBE_RESULT_AGE)} > {duration_expr(limit)}, "
                    '"target", "/", "service", "probe")',
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
