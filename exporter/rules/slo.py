"""SLOs to Sloth-style rules: SLO spec -> SLI error ratios -> metadata -> multi-window,
multi-burn-rate alerts, each a small function (after slok/sloth).

For every SLO of alert_rules/slos.yml, one rule group (prometheus/rules/slos.yml) records

- ``slo:sli_error:ratio_rate<w>``: the share of bad events over each window ``w`` the burn-rate
  alerts use (5m, 30m, 1h, 2h, 6h, 1d, 3d with the Workbook's windows) and over the SLO window
  (30d: the sum of the bad events recorded per 5m, ``slo:sli_bad:rate5m``, over the sum of all
  events, ``slo:sli_total:rate5m``, so no rule reads 30 days of raw samples, the ratio is
  weighted by traffic, and a 5 minutes without requests is no NaN);
- ``slo:objective:ratio``, ``slo:error_budget:ratio`` (1 - objective), ``slo:time_period:days``;
- ``slo:current_burn_rate:ratio`` (5m ratio / budget), ``slo:period_burn_rate:ratio`` (30d ratio /
  budget) and ``slo:period_error_budget_remaining:ratio`` (1 - period burn rate);

all labelled ``slo`` and ``service``, then the alert SLOErrorBudgetBurn: page when any page
window pair burns faster than its factor on both windows, ticket likewise (windows and factors in
alert_rules/alerts.yml). Numbers are written from Decimal values, so a 99.9% objective is
``0.999`` and its budget ``0.001``, never ``0.0010000000000000009``.

The promtool tests of these alerts come from a simulation (:func:`simulate`) of the same ratios
over an outage: a full outage (fast burn: the page), a partial one at 4.5 times the budget (slow
burn: only the ticket), and a quiet case.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from exporter import metrics as m
from exporter.rules.alerts import ramp, seq, series
from exporter.rules.alerts.common import probe_runs, target
from exporter.rules.model import Alert, Case, Expect, Rule, alternatives, sel
from exporter.rules.render import Ordered, num
from exporter.rules.spec import (
    SLO,
    AlertSpec,
    BurnWindow,
    ProbeTraffic,
    Severity,
    SLOSpec,
    SpecError,
    seconds,
)

ALERT = "SLOErrorBudgetBurn"


def windows(alert: AlertSpec) -> list[str]:
    """Every window the burn-rate alerts read, shortest first."""
    found = {
        w for lvl in alert.levels().values() for bw in lvl.windows for w in (bw.long, bw.short)
    }
    return sorted(found, key=seconds)


def budget(slo: SLO) -> Decimal:
    return 1 - slo.objective / 100


def _le(threshold: Decimal) -> str:
    """The ``le`` label of the bucket bound, as prometheus_client writes it (1.0, 0.5)."""
    return repr(float(threshold))


# Fly's proxy labels responses with their status code (ASSUMPTION: the three digits, as its docs
# show fly_app_http_responses_count{status}; confirm with a query by status).
FLY_5XX = "5.."


def _fly_le(threshold: Decimal) -> str:
    """The ``le`` of Fly's bucket bound, written either way (1 or 1.0): its store is
    VictoriaMetrics, whose text may differ from prometheus_client's. ASSUMPTION: the threshold
    is one of Fly's bucket bounds (check the le values of fly_app_http_response_time_seconds)."""
    whole = threshold == threshold.to_integral_value()
    plain = str(int(threshold)) if whole else format(threshold.normalize(), "f")
    forms = dict.fromkeys([plain, _le(threshold)])
    return "|".join(f.replace(".", "\\\\.") for f in forms)


def error_ratio(slo: SLO, window: str, pinned: frozenset[tuple[str, str]] = frozenset()) -> str:
    """PromQL for the share of bad events of ``slo`` over ``window``; an SLI with version-pinned
    probes (``pinned``) reads the recording of available runs (:data:`AVAILABLE`)."""
    sli = slo.sli
    if sli.probes is not None and pinned_probes(slo, pinned):
        return f'1 - avg(avg_over_time({AVAILABLE}{{slo="{slo.name}"}}[{window}]))'
    if sli.probes is not None:
        success = sel(
            m.PROBE_SUCCESS,
            service=sli.probes.service,
            probe=("=~", alternatives(sli.probes.probes)),
        )
        return f"1 - avg(avg_over_time({success}[{window}]))"
    if sli.database is not None:
        return f"1 - avg(avg_over_time({sel(m.PG_UP, database=sli.database)}[{window}]))"
    bad, total, good = _request_terms(slo, window)
    if _traffic(slo):
        # redline's own requests left out: see events()
        users, bad = _users(slo, window, total, bad)
        return f"(\n  {bad}\n)\n/\n{users}"
    if good is not None:
        return f"1 - (\n  {good}\n  /\n  {total}\n)"
    return f"({bad})\n/\n{total}"


def _request_terms(slo: SLO, window: str) -> tuple[str, str, str | None]:
    """PromQL of a request-counting SLI over ``window``: (bad events' rate, all events' rate,
    good events' rate for a latency SLI, else None), every request counted, redline's too."""
    sli = slo.sli
    if sli.fly_requests is not None:
        app = {"app": sli.fly_requests.app}
        errors = sel(m.FLY_APP_RESPONSES, **app, status=("=~", FLY_5XX))
        total = sel(m.FLY_APP_RESPONSES, **app)
        return f"sum(rate({errors}[{window}])) or vector(0)", f"sum(rate({total}[{window}]))", None
    if sli.fly_latency is not None:
        app = {"app": sli.fly_latency.app}
        good = sel(
            m.FLY_APP_RESPONSE_TIME, "_bucket", **app, le=("=~", _fly_le(sli.fly_latency.threshold))
        )
        total = sel(m.FLY_APP_RESPONSE_TIME, "_count", **app)
        t, g = f"sum(rate({total}[{window}]))", f"sum(rate({good}[{window}]))"
        return f"{t} - {g}", t, g
    req = sli.requests or sli.latency
    assert req is not None
    where: dict[str, Any] = {"service": req.service}
    if req.routes:
        where["route"] = ("=~", alternatives(req.routes))
    elif req.excluded:
        where["route"] = ("!~", alternatives(req.excluded))
    if sli.requests is not None:
        errors = sel(m.LOG_HTTP_REQUESTS, **where, code_class="5xx")
        total = sel(m.LOG_HTTP_REQUESTS, **where)
        # no 5xx series (none logged since the exporter started) is no error, not no data
        return f"sum(rate({errors}[{window}])) or vector(0)", f"sum(rate({total}[{window}]))", None
    assert sli.latency is not None
    good = sel(m.LOG_HTTP_DURATION, "_bucket", **where, le=_le(sli.latency.threshold))
    total = sel(m.LOG_HTTP_DURATION, "_count", **where)
    t, g = f"sum(rate({total}[{window}]))", f"sum(rate({good}[{window}]))"
    return f"{t} - {g}", t, g


def _traffic(slo: SLO) -> tuple[ProbeTraffic, ...]:
    """redline's own requests among those the SLI counts (:class:`ProbeTraffic`)."""
    sli = slo.sli
    req = sli.fly_requests or sli.fly_latency or sli.requests or sli.latency
    return req.probe_traffic if req is not None else ()


def _probe_rate(slo: SLO, window: str) -> str:
    """PromQL for the rate of redline's own requests the SLI counts: each probe's runs
    (redline_probe_runs_total, summed over every exporter that runs it) times its requests per
    run; 0 while no exporter reports runs (no probe runs, no requests)."""
    req = slo.sli.fly_requests or slo.sli.fly_latency or slo.sli.requests or slo.sli.latency
    assert req is not None
    terms = []
    for per_run, runs in probe_runs(req.service, req.probe_traffic):
        term = f"(sum(rate({runs}[{window}])) or vector(0))"
        terms.append(term if per_run == 1 else f"{per_run} * {term}")
    return " + ".join(terms)


def _users(slo: SLO, window: str, total: str, bad: str) -> tuple[str, str]:
    """(the users' events, the users' bad events) of a request-counting SLI whose source also
    counts redline's requests it cannot tell apart: all events less redline's (never below 0),
    and the bad events, at most as many as the users' events. A bad answer redline got is not
    told apart from a user's, so it counts only while users had as many requests: without users
    (redline's probes alone, failing) there is no bad event, and the minimum counts of bad events
    are never met by redline's requests alone."""
    users = f"clamp_min(\n  {total}\n  - ({_probe_rate(slo, window)}),\n  0\n)"
    return users, f"({bad}) < {users}\nor\n{users}"


def _ratio(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


# The number of bad events over a page pair's long window, for the level's min_bad: the SRE
# Workbook's low-traffic guard. A probe runs every 30 s, so at 99.9% two isolated failed runs
# in an hour are 14.4 times the budget's pace and paged; ServiceDown needs four in a row.
BAD_COUNT = "slo:sli_bad:count"


def bad_count(slo: SLO, window: str, pinned: frozenset[tuple[str, str]] = frozenset()) -> str:
    """PromQL for how many bad events ``slo`` had over ``window``: failed runs of its probes
    (or of the database canary), or bad requests."""
    sli = slo.sli

    def failed_runs(runs: str) -> str:
        return f"sum(count_over_time({runs}[{window}]) - sum_over_time({runs}[{window}]))"

    if sli.probes is not None and pinned_probes(slo, pinned):
        return failed_runs(f'{AVAILABLE}{{slo="{slo.name}"}}')
    if sli.probes is not None:
        probes = ("=~", alternatives(sli.probes.probes))
        return failed_runs(sel(m.PROBE_SUCCESS, service=sli.probes.service, probe=probes))
    if sli.database is not None:
        return failed_runs(sel(m.PG_UP, database=sli.database))
    bad, _ = events(slo, window)
    # events() reads the counters' per-second rate(); their increase() over the window is the
    # count (each of its counter terms is rate(...[window]), nothing else is)
    return bad.replace("rate(", "increase(")


# The SLO window's ratio is a sum of bad events over a sum of events, each recorded per short
# window: weighted by traffic, and never NaN (a short window without requests adds 0 to both,
# where the mean of 5-minute ratios took its 0/0 and made the budget NaN for 30 days).
BAD = "slo:sli_bad:rate"
TOTAL = "slo:sli_total:rate"


def events(slo: SLO, window: str) -> tuple[str, str]:
    """PromQL for (bad events, all events) of ``slo`` over ``window``: request rates for the
    request-counting SLIs; for probes and the database, whose runs are evenly spaced, the share
    of failed runs and 1 (so every window weighs the same, as every run does).

    A request-counting SLI leaves out redline's own requests (its probes' runs times their
    requests per run, :class:`ProbeTraffic`) where its source counts them with the users':
    Fly's proxy (no user agent, no path in its series) and the log routes a probe requests
    (llamaindex-mcp's tools probe posts to /mcp like a tool call)."""
    sli = slo.sli
    if sli.probes is not None or sli.database is not None:
        ratio = f'{_ratio(window)}{{slo="{slo.name}"}}'
        return ratio, f"{ratio} >= bool 0"
    bad, total, _ = _request_terms(slo, window)
    if _traffic(slo):
        users, bad = _users(slo, window, total, bad)
        return bad, users
    return bad, total


# A probe run that failed only its version pin (reason json on a probe of ServiceWrongVersion's
# `probes`) answered: a planned upgrade is ServiceWrongVersion's ticket, not an outage that
# spends the availability budget and pages through the burn. Such SLIs read this recording, per
# probe run 1 when it succeeded or failed only its pin.
AVAILABLE = "slo:probe_available:success"


def pinned_probes(slo: SLO, pinned: frozenset[tuple[str, str]]) -> tuple[str, ...]:
    """The SLI's probes whose JSON checks pin a version (``pinned``: (service, probe) pairs)."""
    sli = slo.sli.probes
    if sli is None:
        return ()
    return tuple(p for p in sli.probes if (sli.service, p) in pinned)


def available(slo: SLO) -> str:
    """Per probe run of the SLI: 1 when it succeeded or failed only its version pin."""
    sli = slo.sli.probes
    assert sli is not None
    where: dict[str, Any] = {"service": sli.service, "probe": ("=~", alternatives(sli.probes))}
    success = sel(m.PROBE_SUCCESS, **where)
    pin = sel(m.PROBE_REASON, **where, reason="json")
    # Matched on every label but `reason`, so the result keeps all of probe_success's labels.
    # `on (job, instance, ...)` kept only the listed ones (one-to-one matching does), and `or`
    # then added probe_success itself as a second series wherever a series carries a label
    # the list lacks: the `shard` of a sharded scrape job, and in VictoriaMetrics the external
    # labels on everything stored (`cluster`, `replica`): two series per probe run, one of
    # them 0, where there must be one 1.
    # the reason series exist once the exporter ran the probe; without them, probe_success
    return f"{success}\n  + ignoring (reason) ({pin} == bool 1)\nor\n{success}"


def recordings(
    slo: SLO, spec: SLOSpec, alert: AlertSpec, pinned: frozenset[tuple[str, str]] = frozenset()
) -> list[Ordered]:
    labels = {"service": slo.service, "slo": slo.name}
    this = f'{{slo="{slo.name}"}}'
    b = num(budget(slo))
    rules = []
    if pinned_probes(slo, pinned):
        rules.append(Ordered(record=AVAILABLE, expr=available(slo), labels=labels))
    rules += [
        Ordered(record=_ratio(w), expr=error_ratio(slo, w, pinned), labels=labels)
        for w in windows(alert)
    ]
    rules += [
        Ordered(record=f"{BAD_COUNT}{w}", expr=bad_count(slo, w, pinned), labels=labels)
        for w in min_bad_windows(alert)
    ]
    short = windows(alert)[0]
    bad, total = events(slo, short)
    rules += [
        Ordered(record=f"{BAD}{short}", expr=bad, labels=labels),
        Ordered(record=f"{TOTAL}{short}", expr=total, labels=labels),
        Ordered(
            record=_ratio(spec.window),
            expr=f"sum_over_time({BAD}{short}{this}[{spec.window}])\n/\n"
            f"sum_over_time({TOTAL}{short}{this}[{spec.window}])",
            labels=labels,
        ),
        Ordered(
            record="slo:objective:ratio", expr=f"vector({num(slo.objective / 100)})", labels=labels
        ),
        Ordered(record="slo:error_budget:ratio", expr=f"vector({b})", labels=labels),
        Ordered(
            record="slo:time_period:days",
            expr=f"vector({num(seconds(spec.window) / 86400)})",
            labels=labels,
        ),
        Ordered(
            record="slo:current_burn_rate:ratio", expr=f"{_ratio(short)}{this} / {b}", labels=labels
        ),
        Ordered(
            record="slo:period_burn_rate:ratio",
            expr=f"{_ratio(spec.window)}{this} / {b}",
            labels=labels,
        ),
        Ordered(
            record="slo:period_error_budget_remaining:ratio",
            expr=f"1 - slo:period_burn_rate:ratio{this}",
            labels=labels,
        ),
    ]
    return rules


def min_bad_windows(alert: AlertSpec) -> list[str]:
    """The long windows whose bad events a level's ``min_bad`` counts."""
    found = {pair.long for lvl in alert.levels().values() if lvl.min_bad for pair in lvl.windows}
    return sorted(found, key=seconds)


def burn_expr(slo: SLO, pairs: tuple[BurnWindow, ...], min_bad: Decimal | None = None) -> str:
    this = f'{{slo="{slo.name}"}}'
    b = num(budget(slo))
    terms = []
    for pair in pairs:
        f = num(pair.factor)
        enough = f"  and\n  {BAD_COUNT}{pair.long}{this} >= {num(min_bad)}\n" if min_bad else ""
        # a burn a dependency explains is not alerted: the dependency's error ratio over the
        # short window is at least this SLO's (its own alerts say it, and inhibitions only hold
        # while those fire); errors of this SLO beyond the dependency's still alert
        short = _ratio(pair.short)
        explained = (
            f"  unless on ()\n  max({short}{_slos(slo.explained_by)}) >= on () {short}{this}\n"
            if slo.explained_by
            else ""
        )
        # likewise a vendor's outage its status page reported within the short window
        if slo.vendor_outages:
            down = sel(
                m.VENDOR_COMPONENT_STATUS,
                feed=("=~", alternatives(slo.vendor_outages)),
                status=("=~", alternatives(VENDOR_DOWN)),
            )
            explained += f"  unless on ()\n  max(max_over_time({down}[{pair.short}])) == 1\n"
        terms.append(
            "(\n"
            f"  {_ratio(pair.long)}{this} / {b} > {f}\n"
            "  and\n"
            f"  {_ratio(pair.short)}{this} / {b} > {f}\n"
            f"{enough}"
            f"{explained}"
            ")"
        )
    return "\nor\n".join(terms)


# the component states of an outage (VendorComponentDown's)
VENDOR_DOWN = ("partial_outage", "major_outage")


def _slos(names: tuple[str, ...]) -> str:
    return f'{{slo="{names[0]}"}}' if len(names) == 1 else f'{{slo=~"{"|".join(names)}"}}'


def severities(slo: SLO, alert: AlertSpec) -> list[Severity]:
    wanted: list[Severity] = []
    if slo.page:
        wanted.append("page")
    if slo.ticket:
        wanted.append("ticket")
    for severity in wanted:
        if not alert.level(severity).windows:
            raise SpecError(f"alert_rules/alerts.yml: alerts.{ALERT}.{severity}: needs windows")
    return wanted


def rules(slo: SLO, alert: AlertSpec) -> list[Rule]:
    # slo as a static label too (the ratios carry it): rules of one name must differ in labels
    return [
        Rule(
            severity,
            burn_expr(slo, alert.level(severity).windows, alert.level(severity).min_bad),
            alert.level(severity).for_,
            {"slo": slo.name},
        )
        for severity in severities(slo, alert)
    ]


# --- simulation, for the tests ------------------------------------------------------------------

# Request-counting SLIs: requests per evaluation step, counters starting far from zero so that
# rate() extrapolates the bad and the total counter alike (their ratio is then exact).
REQUESTS_PER_STEP = 100
COUNTER_START = 10_000_000


@dataclass
class Outage:
    """Per evaluation step: probe-like success (1/0) or request counts (bad, total)."""

    steps: int
    good: list[Decimal]  # probes and database: the value of probe_success / pg_up
    bad: list[Decimal]  # requests and latency: bad requests during the step
    total: list[Decimal]


def outage(slo: SLO, kind: str, steps: int, start: int) -> Outage:
    """``kind``: full (everything bad from ``start``; 97% of requests), total (all of them),
    slow (4.5x the budget: bad probe runs spread evenly, or that share of requests), or quiet."""
    b = budget(slo)
    good = [Decimal(1)] * steps
    bad = [Decimal(0)] * steps
    total = [Decimal(REQUESTS_PER_STEP)] * steps
    if kind in ("full", "total"):
        for i in range(start, steps):
            good[i] = Decimal(0)
            # 97 of 100 requests fail: with all of them failing, ratios over whole windows land
            # exactly on thresholds (18 of 60 intervals is 0.3 = 6 x 5%) and float rounding
            # would decide the test
            bad[i] = Decimal(REQUESTS_PER_STEP * (100 if kind == "total" else 97) // 100)
    elif kind == "slow":
        period = round(1 / (Decimal("4.5") * b))
        for i in range(steps):
            if i % period == period - 1:
                good[i] = Decimal(0)
            bad[i] = REQUESTS_PER_STEP * Decimal("4.5") * b
    return Outage(steps, good, bad, total)


Exact = TypeVar("Exact", Decimal, int)


def _cumulative(per_step: list[Exact], start: Exact) -> list[Exact]:
    """Cumulative counter values from ``start``, exact (Decimal, or integers in units of a
    scale), so the series text has no float noise; the first step adds nothing."""
    out, value = [], start
    for i, d in enumerate(per_step):
        if i:
            value += d
        out.append(value)
    return out


def _counter(per_step: list[Decimal]) -> list[Decimal]:
    return _cumulative(per_step, Decimal(COUNTER_START))


Reading = Callable[[int], "float | None"]


@dataclass
class _Sums:
    """An outage's cumulative counts, computed once for all the windows that read them, as
    integers in units of 1/scale: exact like the Decimals they come from, and a difference
    divided by ``scale`` is the float ``float(Decimal difference)`` gives (Python's int division
    rounds correctly), at a fraction of Decimal's cost."""

    scale: int
    bad: list[int]
    total: list[int]
    good: list[int]  # good[t] - good[f] = good in (f, t]
    good_at: list[int]  # each step's own good value
    failed: list[int]  # failed[t] = steps in [0, t] whose probe-like value is 0

    @classmethod
    def of(cls, o: Outage) -> _Sums:
        # few distinct values: scale each once
        distinct = {*o.bad, *o.total, *o.good}
        places = max(max(0, -int(v.as_tuple().exponent)) for v in distinct)
        scale = 10**places
        as_int = {v: int(v * scale) for v in distinct}
        assert all(Decimal(n) == v * scale for v, n in as_int.items())

        def scaled(values: list[Decimal]) -> list[int]:
            return [as_int[v] for v in values]

        def counter(per_step: list[int]) -> list[int]:
            return _cumulative(per_step, COUNTER_START * scale)

        failed, n = [], 0
        for g in o.good:
            n += g == 0
            failed.append(n)
        good = scaled(o.good)
        return cls(
            scale, counter(scaled(o.bad)), counter(scaled(o.total)), counter(good), good, failed
        )


def error_ratio_at(slo: SLO, sums: _Sums, window: str, step: Decimal) -> Reading:
    """What ``error_ratio(slo, window)`` evaluates to at a step (Prometheus 2.x ranges include
    both ends; rate() over counters sampled together cancels its extrapolation in the ratio)."""
    width = int(seconds(window) / step)
    bad_c, total_c, good_c, good_at, scale = (
        sums.bad,
        sums.total,
        sums.good,
        sums.good_at,
        sums.scale,
    )

    if slo.sli.probes is not None or slo.sli.database is not None:

        def probes(t: int) -> float | None:
            first = t - width if t > width else 0
            good = (good_c[t] - good_c[first] + good_at[first]) / scale
            return 1 - good / (t - first + 1)

        return probes

    def requests(t: int) -> float | None:
        first = t - width if t > width else 0
        if t == first:
            return None  # rate() needs two samples
        d_total = (total_c[t] - total_c[first]) / scale
        return (bad_c[t] - bad_c[first]) / scale / d_total if d_total else None

    return requests


def bad_count_at(slo: SLO, sums: _Sums, window: str, step: Decimal) -> Reading:
    """What ``bad_count(slo, window)`` evaluates to at a step: failed runs of every series of the
    SLI, or the bad requests increase() reads (extrapolated as Prometheus does while the range
    is not yet full of samples)."""
    width = int(seconds(window) / step)
    sli = slo.sli
    if sli.probes is not None or sli.database is not None:
        runs = len(sli.probes.probes) if sli.probes is not None else 1
        failed = sums.failed

        def probes(t: int) -> float | None:
            first = t - width if t > width else 0
            return float(runs * (failed[t] - (failed[first - 1] if first else 0)))

        return probes
    bad_c, scale = sums.bad, sums.scale

    def requests(t: int) -> float | None:
        first = t - width if t > width else 0
        sampled = t - first
        if sampled == 0:
            return 0.0  # rate() of one sample is nothing; the bad rate reads 0 then
        to_start = width - sampled  # steps from the range's start to its first sample
        extra = 0.0 if to_start == 0 else (to_start if to_start < 1.1 else 0.5)
        return (bad_c[t] - bad_c[first]) / scale * (sampled + extra) / sampled

    return requests


@dataclass
class Firing:
    onset: int  # first step of the run of true conditions that led to firing
    at: int  # first firing step
    value: Callable[[int], float]


# Steps simulated past the last severity's first firing: the generated tests read values up to
# the first firing of the severity they test, never later.
_AFTER_FIRING = 2


def simulate(slo: SLO, alert: AlertSpec, o: Outage, step: Decimal) -> dict[Severity, Firing | None]:
    """When each severity of the burn-rate alert first fires on the outage ``o`` (None: never
    within its steps). The simulation stops a couple of steps after the last of them fired."""
    sums = _Sums.of(o)
    ratio_at = {w: error_ratio_at(slo, sums, w, step) for w in windows(alert)}
    count_at = {w: bad_count_at(slo, sums, w, step) for w in min_bad_windows(alert)}
    b = float(budget(slo))
    order = severities(slo, alert)
    levels = {severity: alert.level(severity) for severity in order}
    holds = {severity: int(seconds(levels[severity].for_) / step) for severity in order}
    values: dict[Severity, dict[int, float]] = {severity: {} for severity in order}
    run_start: dict[Severity, int | None] = dict.fromkeys(order)
    out: dict[Severity, Firing | None] = dict.fromkeys(order)
    for t in range(o.steps):
        ratios = {w: at(t) for w, at in ratio_at.items()}
        counts = {w: at(t) for w, at in count_at.items()}
        for severity in order:
            lvl = levels[severity]
            value = None
            for pair in lvl.windows:
                long, short = ratios[pair.long], ratios[pair.short]
                if long is None or short is None:
                    continue
                f = float(pair.factor)
                for r in (long / b, short / b):
                    if math.isclose(r, f, rel_tol=1e-9):
                        raise ValueError(f"{slo.name}: burn rate {r} too close to {f} at step {t}")
                if lvl.min_bad:
                    bad = counts[pair.long]
                    if bad is None or bad < float(lvl.min_bad):
                        continue
                if long / b > f and short / b > f:
                    value = long / b
                    break
            if value is None:
                run_start[severity] = None
                continue
            values[severity][t] = value
            start = run_start[severity]
            if start is None:
                run_start[severity] = start = t
            if t - start >= holds[severity] and out[severity] is None:
                # the value at later steps: the condition must still hold there (a KeyError
                # otherwise: the case would test a step where the alert has resolved)
                out[severity] = Firing(start, t, values[severity].__getitem__)
        fired = [f.at for f in out.values() if f is not None]
        if len(fired) == len(order) and t >= max(fired) + _AFTER_FIRING:
            break
    return out


def _runs(values: list[Decimal]) -> str:
    """0/1 samples in promtool's notation, as runs of equal values."""
    runs: list[tuple[Decimal, int]] = []
    for v in values:
        if runs and runs[-1][0] == v:
            runs[-1] = (v, runs[-1][1] + 1)
        else:
            runs.append((v, 1))
    return seq(*runs)


def _encode(values: list[Decimal]) -> str:
    """Counter values in promtool's expanding notation, as runs of equal increments."""
    parts, i = [], 0
    while i < len(values):
        if i + 1 == len(values):
            parts.append(num(values[i]))
            break
        d = values[i + 1] - values[i]
        j = i + 1
        while j + 1 < len(values) and values[j + 1] - values[j] == d:
            j += 1
        parts.append(seq((values[i], j - i + 1)) if d == 0 else ramp(values[i], d, j - i + 1))
        i = j + 1
    return " ".join(parts)


# redline's probe runs per evaluation step in the simulation: each probe of an SLI's
# ProbeTraffic runs once a step, all along (outages and quiet nights included), and its
# requests answer well and fast, counted by the SLI's source with the users' requests.
PROBE_RUNS_PER_STEP = 1


def probe_requests(slo: SLO, steps: int) -> list[Decimal]:
    """redline's requests per step among those the SLI's source counts (0 without any)."""
    per_step = sum(t.per_run for t in _traffic(slo)) * PROBE_RUNS_PER_STEP
    return [Decimal(per_step)] * steps


def _probe_runs(slo: SLO, steps: int) -> dict[str, str]:
    """redline_probe_runs_total of the SLI's ProbeTraffic probes over ``steps``."""
    req = slo.sli.fly_requests or slo.sli.fly_latency or slo.sli.requests or slo.sli.latency
    if req is None:
        return {}
    runs = _encode(_counter([Decimal(PROBE_RUNS_PER_STEP)] * steps))
    return {series(m.PROBE_RUNS, service=req.service, probe=t.probe): runs for t in _traffic(slo)}


def input_series(slo: SLO, o: Outage) -> dict[str, str]:
    sli = slo.sli
    if sli.probes is not None:
        return {
            series(m.PROBE_SUCCESS, service=sli.probes.service, probe=p): _runs(o.good)
            for p in sli.probes.probes
        }
    if sli.database is not None:
        return {series(m.PG_UP, database=sli.database): _runs(o.good)}
    if sli.fly_requests is not None or sli.fly_latency is not None:
        return {**_fly_series(slo, o), **_probe_runs(slo, o.steps)}
    req = sli.requests or sli.latency
    assert req is not None
    route = req.routes[0] if req.routes else "api"
    where = {"service": req.service, "route": route}
    ours = probe_requests(slo, o.steps)
    # the users' good requests and redline's, which the log counts on the same route
    good = [t - b + p for t, b, p in zip(o.total, o.bad, ours, strict=True)]
    counted = [t + p for t, p in zip(o.total, ours, strict=True)]
    runs = _probe_runs(slo, o.steps)
    # redline's own probes of a synthetic route (health) answer well and fast all along, at
    # every step, outages and quiet nights included: the SLI must not count them (they once
    # halved an outage's error ratio and made the quiet night's traffic)
    probes = {**where, "route": req.excluded[0]} if req.excluded else None
    steady = _encode(_counter([Decimal(REQUESTS_PER_STEP)] * o.steps))
    if sli.requests is not None:
        out = {
            series(m.LOG_HTTP_REQUESTS, **where, method="GET", code_class="2xx"): _encode(
                _counter(good)
            )
        }
        if any(o.bad):  # without errors there is no 5xx series, as after a restart
            out[series(m.LOG_HTTP_REQUESTS, **where, method="GET", code_class="5xx")] = _encode(
                _counter(o.bad)
            )
        if probes:
            out[series(m.LOG_HTTP_REQUESTS, **probes, method="GET", code_class="2xx")] = steady
        return {**out, **runs}
    assert sli.latency is not None
    le = _le(sli.latency.threshold)
    out = {
        series(m.LOG_HTTP_DURATION, "_bucket", **where, le=le): _encode(_counter(good)),
        series(m.LOG_HTTP_DURATION, "_count", **where): _encode(_counter(counted)),
    }
    if probes:
        out[series(m.LOG_HTTP_DURATION, "_bucket", **probes, le=le)] = steady
        out[series(m.LOG_HTTP_DURATION, "_count", **probes)] = steady
    return {**out, **runs}


def _fly_series(slo: SLO, o: Outage, probes_bad: bool = False) -> dict[str, str]:
    """Fly's proxy series for the request-counting simulation: the users' requests and
    redline's (good and fast, or with ``probes_bad`` answered 503 and slow), which the proxy
    counts alike."""
    sli = slo.sli
    fly = sli.fly_requests or sli.fly_latency
    assert fly is not None
    where = {"service": fly.service, "app": fly.app, "region": "ord", "instance": "m1"}
    ours = probe_requests(slo, o.steps)
    ours_good = [Decimal(0)] * o.steps if probes_bad else ours
    ours_bad = ours if probes_bad else [Decimal(0)] * o.steps
    good = [t - b + p for t, b, p in zip(o.total, o.bad, ours_good, strict=True)]
    bad = [b + p for b, p in zip(o.bad, ours_bad, strict=True)]
    total = [t + p for t, p in zip(o.total, ours, strict=True)]
    if sli.fly_requests is not None:
        out = {series(m.FLY_APP_RESPONSES, **where, status="200"): _encode(_counter(good))}
        if any(bad):
            out[series(m.FLY_APP_RESPONSES, **where, status="503")] = _encode(_counter(bad))
        return out
    assert sli.fly_latency is not None
    le = _fly_le(sli.fly_latency.threshold).split("|")[0].replace("\\\\", "")
    return {
        series(m.FLY_APP_RESPONSE_TIME, "_bucket", **where, le=le): _encode(_counter(good)),
        series(m.FLY_APP_RESPONSE_TIME, "_count", **where): _encode(_counter(total)),
    }


def probes_alone(slo: SLO, o: Outage) -> dict[str, str]:
    """The SLI's source counting redline's requests only, every one of them bad: 503 through
    Fly's proxy, a 5xx or slower than the bound in the logs."""
    runs = _probe_runs(slo, o.steps)
    if slo.sli.fly_requests is not None or slo.sli.fly_latency is not None:
        return {**_fly_series(slo, o, probes_bad=True), **runs}
    req = slo.sli.requests or slo.sli.latency
    assert req is not None
    where = {"service": req.service, "route": req.routes[0] if req.routes else "api"}
    ours = _encode(_counter(probe_requests(slo, o.steps)))
    if slo.sli.requests is not None:
        bad = series(m.LOG_HTTP_REQUESTS, **where, method="GET", code_class="5xx")
        return {bad: ours, **runs}
    assert slo.sli.latency is not None
    le = _le(slo.sli.latency.threshold)
    return {
        series(m.LOG_HTTP_DURATION, "_bucket", **where, le=le): _encode(
            _counter([Decimal(0)] * o.steps)
        ),
        series(m.LOG_HTTP_DURATION, "_count", **where): ours,
        **runs,
    }


def cases(slo: SLO, alert: AlertSpec, step: Decimal) -> tuple[list[Case], Case]:
    labels = {"service": slo.service, "slo": slo.name}
    found: list[Case] = []
    start = int(3600 / step)  # an hour of good service first
    for kind in ("full", "slow"):
        # long enough for the slowest ticket: the 3 d window needs no more than a day here
        steps = start + int(86400 / step)
        o = outage(slo, kind, steps, start)
        fired = simulate(slo, alert, o, step)
        order: list[Severity] = ["page", "ticket"] if kind == "full" else ["ticket"]
        if kind == "slow" and fired.get("page") is not None:
            raise ValueError(f"{slo.name}: the slow burn case would page")
        targets = [s for s in order if fired.get(s) is not None]
        if not targets:
            raise ValueError(f"{slo.name}: the {kind} case fires nothing")
        first = fired[targets[0]]
        assert first is not None
        expects = []
        for severity in targets:
            f = fired[severity]
            assert f is not None
            # another severity is only checked where it fires by the tested boundary
            if severity != targets[0] and f.at > first.at:
                continue
            expects.append(Expect(severity, f.onset, f.value))
        o = outage(slo, kind, first.at + 2, start)
        found.append(Case(input_series(slo, o), labels, tuple(expects)))
    if slo.sli.probes is None and slo.sli.database is None:
        return found, Case(input_series(slo, outage(slo, "quiet", 40, 0)), {}, ())
    # a probe or canary run every 30 s: six hours of good runs, then two isolated failed runs
    # 10 min apart, checked 4 min after the second. The 1h/5m pair is above 14.4x then (2 of
    # 121 runs, 1 of 11) and paged at 3 min; the page's min_bad wants more failed runs than
    # that. (4 min: before the 3d/6h ticket pair, which six hours of history make see 1x, fires.)
    history = int(6 * 3600 / step)
    gap = int(600 / step)
    isolated = outage(slo, "quiet", history + gap + 20, 0)
    isolated.good[history] = isolated.good[history + gap] = Decimal(0)
    return found, Case(input_series(slo, isolated), {}, (), at=history + gap + int(240 / step))


SUMMARY = "SLO {{ $labels.slo }} burns its error budget {{ $value | humanize }}x too fast"
DESCRIPTION = (
    "{{ $labels.service }} is spending the error budget of SLO {{ $labels.slo }} "
    "{{ $value | humanize }} times faster than its window allows (long window of the "
    "burn-rate pair that fired). At this pace a page-level burn empties the window's budget in "
    "days; a ticket-level one within the window. slo:sli_error:ratio_rate5m shows whether it "
    "is still going on; the service's own alerts say why."
)


def expression_tests(
    slo: SLO, alert: AlertSpec, step: Decimal, pinned: frozenset[tuple[str, str]] = frozenset()
) -> list[Ordered]:
    """What the metadata rules record: the objective, the budget and all of it left on a quiet
    input; an error ratio of exactly 1 once the short window holds nothing but the outage."""
    labels = f'{{service="{slo.service}", slo="{slo.name}"}}'

    def sample(name: str, value: Decimal | int, at: int) -> Ordered:
        return Ordered(
            expr=f'{name}{{slo="{slo.name}"}}',
            eval_time=f"{int(Decimal(at) * step)}s",
            exp_samples=[Ordered(labels=name + labels, value=value)],
        )

    def test(name: str, o: Outage, checks: list[Ordered]) -> Ordered:
        return Ordered(
            name=f"{ALERT} {slo.name}: {name}",
            interval=f"{num(step)}s",
            input_series=[Ordered(series=k, values=v) for k, v in input_series(slo, o).items()],
            promql_expr_test=checks,
        )

    start = int(3600 / step)
    short = windows(alert)[0]
    full_at = start + int(seconds(short) / step)
    # the full outage of cases() while what explains it was down all along: nothing fires
    # where the full case pages; one test per explanation
    explanations: list[tuple[str, list[Ordered]]] = []
    if slo.explained_by or slo.vendor_outages:
        o = outage(slo, "full", start + int(86400 / step), start)
        fired = simulate(slo, alert, o, step)
        at = min(f.at for f in fired.values() if f is not None) + 1
        for name in slo.explained_by:
            ratios = [
                Ordered(series=f'{_ratio(w)}{{slo="{name}"}}', values=f"1x{at}")
                for w in windows(alert)
            ]
            explanations.append((f"SLO {name}", ratios))
        for feed in slo.vendor_outages:
            status = series(
                m.VENDOR_COMPONENT_STATUS, feed=feed, component="any", status=VENDOR_DOWN[-1]
            )
            explanations.append((f"{feed}'s outage", [Ordered(series=status, values=f"1x{at}")]))
    explained = []
    for what, extra in explanations:
        o = outage(slo, "full", at + 1, start)
        series_ = [Ordered(series=k, values=v) for k, v in input_series(slo, o).items()]
        explained.append(
            Ordered(
                name=f"{ALERT} {slo.name}: explained by {what}",
                interval=f"{num(step)}s",
                input_series=series_ + extra,
                alert_rule_test=[
                    Ordered(eval_time=f"{int(Decimal(at) * step)}s", alertname=ALERT, exp_alerts=[])
                ],
            )
        )
    # requests, then none for a while (a quiet night), then requests again: the SLO window's
    # ratio stays a number (no error: all the budget left), where the mean of 5m ratios took
    # the quiet windows' 0/0 and was NaN
    quiet_night = []
    if slo.sli.requests is not None or slo.sli.latency is not None:
        o = outage(slo, "quiet", 60, 0)
        for i in range(20, 40):
            o.total[i] = Decimal(0)
        quiet_night.append(
            test(
                "no requests for a while",
                o,
                [
                    sample(_ratio(short), 0, 15),
                    sample("slo:period_error_budget_remaining:ratio", 1, 35),
                    sample("slo:period_error_budget_remaining:ratio", 1, 59),
                ],
            )
        )
    # a pinned probe failing only its version check (a planned upgrade) for the whole short
    # window: no error, where the burn once paged within minutes
    pin_tests = []
    for probe in pinned_probes(slo, pinned):
        assert slo.sli.probes is not None
        o = outage(slo, "total", full_at + 1, 0)
        ident = {"service": slo.sli.probes.service, "probe": probe}
        inputs = {k: v for k, v in input_series(slo, o).items() if f'probe="{probe}"' in k}
        inputs[series(m.PROBE_REASON, **ident, reason="json")] = _runs(
            [Decimal(1) - g for g in o.good]
        )
        pin_tests.append(
            Ordered(
                name=f"{ALERT} {slo.name}: {probe} failing only its version pin",
                interval=f"{num(step)}s",
                input_series=[Ordered(series=k, values=v) for k, v in inputs.items()],
                promql_expr_test=[sample(_ratio(short), 0, full_at)],
            )
        )
        # the same with a label the rule does not name (a sharded scrape job's `shard`; in
        # VictoriaMetrics, the external labels): one available run per probe run, not two
        on_shard = {"shard": "1/2"}
        labelled = {
            series(m.PROBE_SUCCESS, **ident, **on_shard): inputs[series(m.PROBE_SUCCESS, **ident)],
            series(m.PROBE_REASON, **ident, reason="json", **on_shard): inputs[
                series(m.PROBE_REASON, **ident, reason="json")
            ],
        }
        own = {**target(**ident, **on_shard), "slo": slo.name}
        own_labels = ", ".join(f'{k}="{v}"' for k, v in sorted(own.items()))
        pin_tests.append(
            Ordered(
                name=f"{ALERT} {slo.name}: {probe} failing only its version pin, on a shard",
                interval=f"{num(step)}s",
                input_series=[Ordered(series=k, values=v) for k, v in labelled.items()],
                promql_expr_test=[
                    Ordered(
                        expr=f'{AVAILABLE}{{slo="{slo.name}"}}',
                        eval_time=f"{int(Decimal(full_at) * step)}s",
                        exp_samples=[Ordered(labels=f"{AVAILABLE}{{{own_labels}}}", value=1)],
                    ),
                    sample(_ratio(short), 0, full_at),
                ],
            )
        )
    # redline's probes alone, every answer bad (503, or slower than the bound), no user at
    # all for over an hour: no bad event, no page. Counted, they were a full outage (ratio 1,
    # 120 bad events an hour: every minimum met) of a service nobody used.
    alone = []
    if _traffic(slo):
        at = int(4500 / step)  # 75 min: the 1 h window full of them, past the page's for
        o = outage(slo, "quiet", at + 1, 0)
        o.total = [Decimal(0)] * o.steps
        inputs = probes_alone(slo, o)
        # fewer than one bad event (the 6 h window's extrapolation leaves float noise of 1e-13)
        counts = [
            Ordered(
                expr=f'{BAD_COUNT}{w}{{slo="{slo.name}"}} < bool 1',
                eval_time=f"{int(Decimal(at) * step)}s",
                exp_samples=[Ordered(labels=labels, value=1)],
            )
            for w in min_bad_windows(alert)
        ]
        alone.append(
            Ordered(
                name=f"{ALERT} {slo.name}: redline's probes alone, failing",
                interval=f"{num(step)}s",
                input_series=[Ordered(series=k, values=v) for k, v in inputs.items()],
                promql_expr_test=[sample(f"{BAD}{short}", 0, at), *counts],
                alert_rule_test=[
                    Ordered(eval_time=f"{int(Decimal(at) * step)}s", alertname=ALERT, exp_alerts=[])
                ],
            )
        )
    return [
        *pin_tests,
        *quiet_night,
        *alone,
        test(
            "recorded metadata",
            outage(slo, "quiet", 12, 0),
            [
                sample("slo:objective:ratio", slo.objective / 100, 10),
                sample("slo:error_budget:ratio", budget(slo), 10),
                sample("slo:period_error_budget_remaining:ratio", 1, 10),
            ],
        ),
        test(
            "error ratio in an outage",
            outage(slo, "total", full_at + 1, start),
            [sample(_ratio(short), 1, full_at)],
        ),
        *explained,
    ]


def alerts(spec: SLOSpec, alert: AlertSpec, step: Decimal, with_cases: bool = True) -> list[Alert]:
    """SLOErrorBudgetBurn, one :class:`Alert` per SLO (same name, its own rules and cases).
    ``with_cases=False``: the rules only, no promtool cases (the demo profile writes no tests,
    and simulating every SLO at its 5 s evaluations took most of `make demo`'s start)."""
    out = []
    for slo in spec.slos:
        found, quiet_case = cases(slo, alert, step) if with_cases else ([], None)
        out.append(
            Alert(
                ALERT,
                f"slo-{slo.name}",
                SUMMARY,
                DESCRIPTION,
                alert.dashboard,
                tuple(rules(slo, alert)),
                tuple(found),
                quiet_case,
            )
        )
    return out
