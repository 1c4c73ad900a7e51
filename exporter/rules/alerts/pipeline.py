"""The alerting pipeline and the exporter itself: Watchdog, the exporter's scrape, reloads,
probe errors, sources and collectors."""

from __future__ import annotations

from exporter import metrics as m
from exporter.metrics import Metric
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
from exporter.rules.spec import SHARD_LABEL, SpecError

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

    out.append(_shard_mismatch(ctx))

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


# --- sharded exporters ---------------------------------------------------------------------------

# The shard cases' exporters (besides the tests' usual one) and their length in steps: an onset
# at step 4 and the 15 min `for` (30 steps) fit.
SHARD_A, SHARD_B, SHARD_OLD = "redline-1:9877", "redline-2:9877", "redline-old:9877"
SHARD_STEPS = 40
ONSET = 4


def _at(metric: Metric, instance: str, scraped: str | None, **labels: str) -> str:
    """A series of the exporter at ``instance`` (job redline); ``scraped``: the shard label its
    scrape adds (stack.yml's share), None for a scrape config without one."""
    all_ = {"job": JOB, "instance": instance}
    if scraped is not None:
        all_[SHARD_LABEL] = scraped
    body = ", ".join(f'{k}="{v}"' for k, v in {**all_, **labels}.items())
    return f"{metric.name}{{{body}}}"


def _life(value: int, start: int = 0, stop: int | None = None) -> str:
    """``value`` from step ``start`` to ``stop`` (then a staleness marker, as when the exporter
    restarts with another share or stops), absent before."""
    end = SHARD_STEPS if stop is None else stop
    parts = [f"_x{start}"] if start else []
    parts.append(seq((value, end - start)))
    return " ".join([*parts, "stale"] if stop is not None else parts)


def _restarted(instance: str, scraped: str | None, old: str, new: str) -> dict[str, str]:
    """An exporter running the share ``old`` until step ONSET, then ``new`` (restarted with
    another --shard): its info, its shard count and ``up``, scraped fine throughout."""
    old_n, new_n = int(old.partition("/")[2]), int(new.partition("/")[2])
    return {
        _at(m.SHARD_INFO, instance, scraped, running=old): _life(1, 0, ONSET),
        _at(m.SHARD_INFO, instance, scraped, running=new): _life(1, ONSET),
        _at(m.SHARD_COUNT, instance, scraped): seq((old_n, ONSET), (new_n, SHARD_STEPS - ONSET)),
        _at(UP, instance, scraped): _life(1),
    }


def _shard_mismatch(ctx: Context) -> Alert:
    """Sharded exporters that do not split the services as configured. Each exporter says the
    share it runs (redline_shard_info{running="I/N"}) and its N (redline_shards); the
    generated scrape job labels it with the share stack.yml gives it (shard="I/N"). Four ways
    the split goes wrong, one family each, told apart by the ``mismatch`` label."""
    name = "RedlineShardMismatch"
    spec = ctx.alert(name)
    info = sel(m.SHARD_INFO, job=JOB)
    count = sel(m.SHARD_COUNT, job=JOB)

    def tagged(expr: str, mismatch: str) -> str:
        return f'label_replace(\n  {expr},\n  "mismatch", "{mismatch}", "", ""\n)'

    # an exporter running another share than its scrape label: the copy of its info with
    # running set to the label equals it only when they agree (no label: nothing to compare)
    share = f'{info}\n  unless label_replace({info}, "running", "$1", "{SHARD_LABEL}", "(.+)")'
    # the exporters were started with different N: some services are owned by two or by none
    counts = f'count(count_values("shards", {count})) > 1'
    # fewer shares served than N while every exporter is scraped: a share nobody runs (an
    # exporter down is RedlineExporterDown's page, and its share missing with it)
    missing = (
        f"(max({count}) - count(count by (running) ({info}))) > 0\n"
        f"  and on () (min({sel(UP, job=JOB)}) == 1)"
    )
    # a probe served by two exporters that run sharded: probed twice per scrape, its series
    # doubled in every sum (unsharded exporters in two places may well probe alike). target
    # keeps the probe's identity (service is redline's, who must act): without it, two doubled
    # probes are one label set and Prometheus refuses the rule's whole result
    by = labels_of(m.PROBE_SUCCESS, "service", "probe")
    twice = (
        f"label_join(\n    count by ({by}) (\n      {sel(m.PROBE_SUCCESS, job=JOB)}\n"
        f"      and on (job, instance) ({count} > 1)\n    ) > 1,\n"
        f'    "target", "/", "service", "probe"\n  )'
    )
    redline = {"service": "redline"}
    probe = {"service": "agent-service", "probe": "health"}
    doubled = (probe, {"service": "chatwoot", "probe": "health"})

    def on(instance: str, scraped: str | None, running: str, **life: int) -> dict[str, str]:
        n_ = int(running.partition("/")[2])
        return {
            _at(m.SHARD_INFO, instance, scraped, running=running): _life(1, **life),
            _at(m.SHARD_COUNT, instance, scraped): _life(n_, **life),
        }

    cases = (
        # the two exporters restarted with each other's --shard: both run the wrong share
        case(
            {
                **_restarted(SHARD_A, "1/2", "1/2", "2/2"),
                **_restarted(SHARD_B, "2/2", "2/2", "1/2"),
            },
            {"mismatch": "share"},
            *(
                fires("ticket", ONSET, 1, "share", {**target_of(i), SHARD_LABEL: s, "running": r})
                for i, s, r in ((SHARD_A, "1/2", "2/2"), (SHARD_B, "2/2", "1/2"))
            ),
        ),
        # the second exporter restarted as 2/3 (a scrape config without shard labels): N
        # differs, and shares 2/2 and 3/3 have nobody
        case(
            {
                **on(SHARD_A, None, "1/2"),
                _at(UP, SHARD_A, None): _life(1),
                **_restarted(SHARD_B, None, "2/2", "2/3"),
            },
            {},
            fires("ticket", ONSET, 2, "count", {"mismatch": "count"}),
            fires("ticket", ONSET, 1, "missing", {"mismatch": "missing"}),
        ),
        # both restarted as shares of 3, the third exporter never started
        case(
            {
                **_restarted(SHARD_A, None, "1/2", "1/3"),
                **_restarted(SHARD_B, None, "2/2", "2/3"),
            },
            {"mismatch": "missing"},
            fires("ticket", ONSET, 1, "missing"),
        ),
        # a forgotten exporter (not in stack.yml's list, so no shard label) comes back as 2/2
        # next to the one stack.yml has: shard 2's two probes served by both, one alert each
        case(
            {
                **on(SHARD_A, "1/2", "1/2"),
                _at(UP, SHARD_A, "1/2"): _life(1),
                **on(SHARD_B, "2/2", "2/2"),
                _at(UP, SHARD_B, "2/2"): _life(1),
                **{_at(m.PROBE_SUCCESS, SHARD_B, "2/2", **p): _life(1) for p in doubled},
                **on(SHARD_OLD, None, "2/2", start=ONSET),
                _at(UP, SHARD_OLD, None): _life(1, ONSET),
                **{_at(m.PROBE_SUCCESS, SHARD_OLD, None, **p): _life(1, ONSET) for p in doubled},
            },
            {"mismatch": "twice"},
            *(
                fires("ticket", ONSET, 2, "twice", {**p, "target": f"{p['service']}/{p['probe']}"})
                for p in doubled
            ),
        ),
    )
    # unsharded (every exporter 1/1, no shard label), here two in two places probing the same
    # service: nothing to compare. (Sharded as stack.yml says, and one shard stopped:
    # tests/test_shards.py runs both with real exporters.)
    quiet_ = quiet(
        {
            k: v
            for i in (SHARD_A, SHARD_B)
            for k, v in {
                **on(i, None, "1/1"),
                _at(UP, i, None): _life(1),
                _at(m.PROBE_SUCCESS, i, None, **probe): _life(1),
            }.items()
        }
    )
    return Alert(
        name,
        "redline",
        "redline's exporter shards do not split the services as configured "
        "({{ $labels.mismatch }})",
        "The sharded exporters (redline run --shard=I/N) have not split the services as "
        "alert_rules/stack.yml says for [[for]] (mismatch {{ $labels.mismatch }}, value "
        "{{ $value | humanize }}). share: an exporter runs another share than its scrape label "
        "(value 1; its instance, shard and running labels say which). count: the exporters were "
        "started with different N (value: how many N). missing: every exporter is up but "
        "shares are served by none (value: how many). twice: a probe is served by two or more "
        "sharded exporters (value: how many; its target label names the probe). Services of a "
        "missing share are unmeasured and none of their alerts can fire.",
        spec.dashboard,
        (
            ctx.rule(spec, "ticket", tagged(share, "share"), redline, family="share"),
            ctx.rule(spec, "ticket", tagged(counts, "count"), redline, family="count"),
            ctx.rule(spec, "ticket", tagged(missing, "missing"), redline, family="missing"),
            ctx.rule(spec, "ticket", tagged(twice, "twice"), redline, family="twice"),
        ),
        cases,
        quiet_,
    )


def target_of(instance: str) -> dict[str, str]:
    return {"job": JOB, "instance": instance}
