"""``redline baseline``: what is normal, per service, from what Prometheus holds over a window,
and which configured thresholds are noisy or blind against it.

Per configured probe: availability (mean of probe_success), latency quantiles of its runs
(quantile_over_time over probe_duration_seconds, and over probe_http_duration_seconds by phase).
Per service seen in the logs: requests, the 4xx and 5xx ratios, latency quantiles per route
(histogram_quantile over the increase of redline_http_request_duration_seconds over the window)
and the request rate by hour of day.

Thresholds compared with the baseline:

- each probe's ``degraded_after`` (redline.yml): *noisy* when the 95th percentile of normal runs
  is above it (more than 5% of runs marked degraded), *blind* when it is more than
  ``BLIND_FACTOR`` times the slowest run seen; each probe's ``timeout``: noisy when the 99th
  percentile is within 20% of it (never blind: degraded_after catches slowness first);
- the alert thresholds of alert_rules/alerts.yml whose quantity redline measures (latency
  budgets, error ratios, host and database usage, queue backlog): the alert's quantity is
  evaluated over the window in a subquery; *noisy* when it stayed above the threshold for the
  alert's whole ``for`` at least once (the alert would have fired on normal traffic), *blind*
  (latency thresholds only) when the threshold is more than ``BLIND_FACTOR`` times the highest
  value seen. Usage and error-ratio limits are never called blind: their limit is physical or a
  business rule, not a guess about normal.

A noisy threshold's suggestion is the next round number above 1.2 times the normal peak; a blind
one's, the next round number above twice the peak. The window may contain real incidents: the
report says the verdicts assume it is normal traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from exporter import metrics as m
from exporter.config import Config
from exporter.ops.common import (
    Gaps,
    fmt_duration,
    fmt_ratio,
    fmt_time,
    fmt_value,
    iso,
    load_model,
    md_table,
    nice_up,
    parse_duration,
    sig,
    write_text,
)
from exporter.ops.promapi import ApiError, PromClient, Sample
from exporter.promql import alternatives, sel

BLIND_FACTOR = 5.0  # a latency threshold this many times the highest value seen is blind
QUANTILES = (0.5, 0.95, 0.99)
HEADROOM = 1.2  # a noisy threshold's suggestion: the next round number above 1.2 x the peak
Key = tuple[tuple[str, str], ...]


def key(labels: dict[str, str], names: tuple[str, ...]) -> Key:
    return tuple((n, labels.get(n, "")) for n in names)


@dataclass
class Quantiles:
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {k: _num(getattr(self, k)) for k in ("p50", "p95", "p99", "max")}


@dataclass
class ProbeStats:
    service: str
    probe: str
    kind: str
    availability: float | None = None
    runs: int = 0
    latency: Quantiles = field(default_factory=Quantiles)
    phases: dict[str, Quantiles] = field(default_factory=dict)


@dataclass
class RouteStats:
    route: str
    requests: float
    latency: Quantiles


@dataclass
class ServiceRequests:
    service: str
    requests: float = 0.0
    ratio_4xx: float | None = None
    ratio_5xx: float | None = None
    latency: Quantiles = field(default_factory=Quantiles)
    routes: list[RouteStats] = field(default_factory=list)
    by_hour: list[float | None] = field(default_factory=lambda: [None] * 24)


@dataclass
class Verdict:
    threshold: str  # what it is: "degraded_after", "ServiceLatencyHigh (ticket)"
    where: str  # the file and path it is configured in
    subject: str  # what it applies to: "hotdash-app/health", "instance=host1"
    value: float
    unit: str  # seconds | ratio | count
    baseline: str  # the normal values it was judged against, in words
    verdict: str  # ok | noisy | blind | no data
    suggested: float | None = None
    why: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "where": self.where,
            "subject": self.subject,
            "value": _num(self.value),
            "unit": self.unit,
            "baseline": self.baseline,
            "verdict": self.verdict,
            "suggested": _num(self.suggested),
            "why": self.why,
        }


@dataclass
class Baseline:
    prometheus: str
    start: float
    end: float
    config_name: str
    timezone: str
    step: float
    probes: list[ProbeStats] = field(default_factory=list)
    requests: list[ServiceRequests] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    gaps: Gaps = field(default_factory=Gaps)
    unreachable: str | None = None


def _num(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return value
    return sig(value)


# --- reading ------------------------------------------------------------------------------------


class _Reader:
    """Runs instant queries at the window's end; a failed query becomes a gap, not an error."""

    def __init__(self, prom: PromClient, at: float, gaps: Gaps) -> None:
        self.prom = prom
        self.at = at
        self.gaps = gaps

    def query(self, expr: str, what: str) -> list[Sample]:
        try:
            return self.prom.query(expr, self.at)
        except ApiError as e:
            self.gaps.add(f"{what}: {e.message}")
            return []

    def by(self, expr: str, what: str, names: tuple[str, ...]) -> dict[Key, float]:
        return {key(s.labels, names): s.value for s in self.query(expr, what)}


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def read_probes(r: _Reader, config: Config, window: str) -> list[ProbeStats]:
    names = [s.name for s in config.services]
    if not names:
        return []
    configured = ("=~", alternatives(names))
    by = ("service", "probe")
    success = sel(m.PROBE_SUCCESS, service=configured)
    duration = sel(m.PROBE_DURATION, service=configured)
    phases = sel(m.HTTP_DURATION, service=configured)
    avail = r.by(
        f"avg by (service, probe) (avg_over_time({success}[{window}]))", "availability", by
    )
    runs = r.by(f"sum by (service, probe) (count_over_time({success}[{window}]))", "runs", by)
    lat: dict[str, dict[Key, float]] = {}
    ph: dict[str, dict[Key, float]] = {}
    for q in QUANTILES:
        name = f"p{round(q * 100)}"
        lat[name] = r.by(
            f"max by (service, probe) (quantile_over_time({q}, {duration}[{window}]))",
            f"probe latency {name}",
            by,
        )
        ph[name] = r.by(
            f"max by (service, probe, phase) (quantile_over_time({q}, {phases}[{window}]))",
            f"probe phase latency {name}",
            (*by, "phase"),
        )
    lat["max"] = r.by(
        f"max by (service, probe) (max_over_time({duration}[{window}]))", "probe latency max", by
    )
    out = []
    for service in config.services:
        for probe in service.probes:
            k = (("service", service.name), ("probe", probe.name))
            stats = ProbeStats(service.name, probe.name, probe.kind)
            stats.runs = int(runs.get(k, 0))
            if not stats.runs:
                r.gaps.add(
                    f"{service.name}/{probe.name}: no {m.PROBE_SUCCESS.name} samples in the window"
                    " (not scraped then, or the probe is new): no availability or latency"
                )
                out.append(stats)
                continue
            stats.availability = _finite(avail.get(k))
            stats.latency = Quantiles(*(_finite(lat[n].get(k)) for n in ("p50", "p95", "p99")))
            stats.latency.max = _finite(lat["max"].get(k))
            for pk in ph["p50"]:
                if pk[:2] == k:
                    stats.phases[pk[2][1]] = Quantiles(
                        *(_finite(ph[n].get(pk)) for n in ("p50", "p95", "p99"))
                    )
            out.append(stats)
    return out


def read_requests(
    r: _Reader, prom: PromClient, start: float, end: float, window: str, tz: ZoneInfo
) -> list[ServiceRequests]:
    total = sel(m.LOG_HTTP_REQUESTS)
    by_class = r.by(
        f"sum by (service, code_class) (increase({total}[{window}]))",
        "requests by status class",
        ("service", "code_class"),
    )
    if not by_class:
        r.gaps.add(
            f"requests from logs: no {m.LOG_HTTP_REQUESTS.name} in the window (no log source, or "
            "no request lines): no request counts, error ratios, request latency or hourly rate"
        )
        return []
    services: dict[str, ServiceRequests] = {}
    for k, value in by_class.items():
        service = k[0][1]
        sr = services.setdefault(service, ServiceRequests(service))
        sr.requests += value
    for sr in services.values():
        if sr.requests > 0:
            s = (("service", sr.service),)
            sr.ratio_4xx = by_class.get((*s, ("code_class", "4xx")), 0.0) / sr.requests
            sr.ratio_5xx = by_class.get((*s, ("code_class", "5xx")), 0.0) / sr.requests
        else:
            r.gaps.add(f"{sr.service}: no requests in the window: no error ratios")

    bucket = sel(m.LOG_HTTP_DURATION, "_bucket")
    count = sel(m.LOG_HTTP_DURATION, "_count")
    routes = r.by(
        f"sum by (service, route) (increase({count}[{window}]))",
        "timed requests",
        ("service", "route"),
    )
    q_service: dict[str, dict[Key, float]] = {}
    q_route: dict[str, dict[Key, float]] = {}
    for q in QUANTILES:
        name = f"p{round(q * 100)}"
        q_service[name] = r.by(
            f"histogram_quantile({q}, sum by (service, le) (increase({bucket}[{window}])))",
            f"request latency {name}",
            ("service",),
        )
        q_route[name] = r.by(
            f"histogram_quantile({q}, sum by (service, route, le) (increase({bucket}[{window}])))",
            f"request latency {name} by route",
            ("service", "route"),
        )
    # histogram_quantile answers the largest finite bound for a quantile in the +Inf bucket: a
    # lower bound, not a value. Those quantiles become +Inf ("above the largest bucket").
    per_le = r.by(
        f"sum by (service, route, le) (increase({bucket}[{window}]))",
        "request latency buckets",
        ("service", "route", "le"),
    )
    tails: dict[Key, tuple[float, float]] = {}  # (service[, route]) -> (largest finite, +Inf)
    for k, value in per_le.items():
        le = float(k[2][1])
        for group in (k[:1], k[:2]):
            below, everything = tails.get(group, (0.0, 0.0))
            if math.isinf(le):
                everything += value
            elif le >= _largest_le(per_le, group):
                below += value
            tails[group] = (below, everything)

    def capped(group: Key, name: str, value: float | None) -> float | None:
        below, everything = tails.get(group, (0.0, 0.0))
        q = {"p50": 0.5, "p95": 0.95, "p99": 0.99}[name]
        if value is not None and everything > 0 and below < q * everything:
            return math.inf
        return value

    for sr in services.values():
        s = (("service", sr.service),)
        sr.latency = Quantiles(
            *(capped(s, n, _finite(q_service[n].get(s))) for n in ("p50", "p95", "p99"))
        )
        for k, n_req in sorted(routes.items()):
            if k[0][1] != sr.service or n_req <= 0:
                continue
            sr.routes.append(
                RouteStats(
                    k[1][1],
                    n_req,
                    Quantiles(
                        *(capped(k, n, _finite(q_route[n].get(k))) for n in ("p50", "p95", "p99"))
                    ),
                )
            )
        if not sr.routes:
            r.gaps.add(
                f"{sr.service}: no request durations in the logs (lines without a duration): "
                "no request latency"
            )

    # request rate by hour of day: rate over each whole hour, labelled by the hour it covers
    first = math.ceil((start + 3600) / 3600) * 3600
    last = math.floor(end / 3600) * 3600
    if last < first:
        r.gaps.add(
            f"request rate by hour of day: the window ({fmt_duration(end - start)}) holds no "
            "whole hour"
        )
        return sorted(services.values(), key=lambda s: s.service)
    try:
        hourly = prom.query_range(f"sum by (service) (rate({total}[1h]))", first, last, 3600)
    except ApiError as e:
        r.gaps.add(f"request rate by hour of day: {e.message}")
        hourly = []
    for series in hourly:
        sr_opt = services.get(series.labels.get("service", ""))
        if sr_opt is None:
            continue
        per_hour: list[list[float]] = [[] for _ in range(24)]
        for t, value in series.points:
            if math.isfinite(value):
                per_hour[datetime.fromtimestamp(t - 3600, tz).hour].append(value)
        sr_opt.by_hour = [sum(v) / len(v) if v else None for v in per_hour]
    return sorted(services.values(), key=lambda s: s.service)


def _largest_le(per_le: dict[Key, float], group: Key) -> float:
    """The largest finite bucket bound among the buckets of ``group`` (a service, or a service
    and a route)."""
    bounds = [float(k[2][1]) for k in per_le if k[: len(group)] == group]
    return max((b for b in bounds if math.isfinite(b)), default=math.inf)


# --- thresholds ---------------------------------------------------------------------------------


def judge_degraded_after(stats: ProbeStats, threshold: float) -> Verdict:
    subject = f"{stats.service}/{stats.probe}"
    where = f"redline.yml: services[{stats.service}].probes[{stats.probe}].degraded_after"
    v = Verdict("degraded_after", where, subject, threshold, "seconds", "", "no data")
    lat = stats.latency
    if lat.p95 is None or lat.p99 is None or lat.max is None:
        v.why = "no probe runs in the window"
        return v
    v.baseline = f"p95 {fmt_value(lat.p95, 'seconds')}, max {fmt_value(lat.max, 'seconds')}"
    if lat.p95 > threshold:
        v.verdict = "noisy"
        v.suggested = nice_up(lat.p99 * HEADROOM)
        v.why = (
            f"the 95th percentile of normal runs ({fmt_value(lat.p95, 'seconds')}) is above "
            f"{fmt_value(threshold, 'seconds')}: more than 5% of runs are marked degraded on "
            f"normal traffic. {fmt_value(v.suggested, 'seconds')} is above the 99th percentile "
            f"({fmt_value(lat.p99, 'seconds')}) with 20% headroom. If the value is a business "
            "target, the service misses it: improving it is the other way out."
        )
    elif lat.max > 0 and threshold > BLIND_FACTOR * lat.max:
        v.verdict = "blind"
        v.suggested = nice_up(2 * lat.max)
        v.why = (
            f"the slowest run in the window took {fmt_value(lat.max, 'seconds')}; "
            f"{fmt_value(threshold, 'seconds')} is {threshold / lat.max:.0f} times that, so "
            "the probe could slow down that much without being marked degraded. "
            f"{fmt_value(v.suggested, 'seconds')} (twice the slowest run) would show a doubling."
        )
    else:
        v.verdict = "ok"
    return v


def judge_timeout(stats: ProbeStats, timeout: float) -> Verdict:
    subject = f"{stats.service}/{stats.probe}"
    where = f"redline.yml: services[{stats.service}].probes[{stats.probe}].timeout"
    v = Verdict("timeout", where, subject, timeout, "seconds", "", "no data")
    if stats.latency.p99 is None:
        v.why = "no probe runs in the window"
        return v
    p99 = stats.latency.p99
    v.baseline = f"p99 {fmt_value(p99, 'seconds')}"
    if p99 >= 0.8 * timeout:
        v.verdict = "noisy"
        v.suggested = nice_up(p99 * 2)
        v.why = (
            f"1% of normal runs take {fmt_value(p99, 'seconds')} or more, within 20% of the "
            f"{fmt_value(timeout, 'seconds')} timeout: a slightly slower day fails them as down "
            f"(reason timeout). {fmt_value(v.suggested, 'seconds')} is twice the 99th "
            "percentile; keep it inside the scrape timeout."
        )
    else:
        v.verdict = "ok"
        v.why = "timeouts are not judged blind: degraded_after catches slowness first"
    return v


@dataclass(frozen=True)
class AlertCheck:
    """An alert threshold of alert_rules/alerts.yml and the quantity it compares."""

    alert: str
    severity: str
    subject_labels: tuple[str, ...]
    expr: str  # the quantity, one series per subject
    threshold: float
    for_: float  # seconds
    unit: str  # seconds | ratio | jobs
    kind: str  # latency (can be blind) | ratio | usage | count
    target: bool = False  # the value is a business target (docs/targets.md)
    where: str = ""
    lookback: float = 0.0  # the range the quantity itself reads (rate[5m]): its warm-up
    scope: str = "all"  # what it applies to, shown when it has no data


def judge_alert(
    check: AlertCheck, subject: str, peak: float, sustained: float, share: float
) -> Verdict:
    label = f"{check.alert} ({check.severity})"
    where = check.where or f"alert_rules/alerts.yml: alerts.{check.alert}.{check.severity}"
    u = check.unit
    v = Verdict(label, where, subject, check.threshold, u, "", "ok")
    hold = f" for {fmt_duration(check.for_)}" if check.for_ else ""
    v.baseline = f"peak {fmt_value(peak, u)}, held{hold}: {fmt_value(sustained, u)}"
    if sustained > check.threshold:
        v.verdict = "noisy"
        suggestion = nice_up(sustained * HEADROOM) if sustained > 0 else None
        if suggestion is not None and u == "ratio" and check.kind == "usage" and suggestion >= 1:
            suggestion = None
        v.suggested = suggestion
        v.why = (
            f"on this window's traffic the quantity stayed above {fmt_value(check.threshold, u)}"
            f"{hold} (highest level held that long: {fmt_value(sustained, u)}; above the "
            f"threshold {fmt_ratio(share, 3)} of the time), so the alert would have fired."
        )
        if suggestion is None:
            v.why += " Normal load is close to the limit: no threshold below it stays quiet; "
            v.why += "add capacity."
        else:
            v.why += f" {fmt_value(suggestion, u)} is 20% above that level, rounded."
        if check.target and suggestion is not None:
            v.why += (
                " The value is a business target (docs/targets.md): raising it hides that normal "
                "traffic misses the target; improving the service is the other way out."
            )
    elif check.kind == "latency" and peak > 0 and check.threshold > BLIND_FACTOR * peak:
        v.verdict = "blind"
        v.suggested = nice_up(2 * peak)
        v.why = (
            f"the highest value in the window was {fmt_value(peak, u)}; "
            f"{fmt_value(check.threshold, u)} is {check.threshold / peak:.0f} times that, so "
            "the service could slow down that much without this alert firing. "
        )
        if check.target:
            v.why += (
                f"Keep {fmt_value(check.threshold, u)} as the business target and add an "
                f"earlier warning at {fmt_value(v.suggested, u)} (twice the peak)."
            )
        else:
            v.why += f"{fmt_value(v.suggested, u)} (twice the peak) would catch a doubling."
    return v


def _secs(duration: str | None, default: float = 0.0) -> float:
    if not duration or duration in ("0", "0s"):
        return default
    return parse_duration(duration)


def alert_checks(spec_dir: Path, gaps: Gaps) -> list[AlertCheck]:
    """The alert thresholds redline can judge: every rule of the catalogue that carries a
    :class:`~exporter.rules.model.Measure` (its quantity, threshold and subject), so what is
    judged is exactly what the rule compares, with the values of the stack model."""
    from exporter.rules import alerts as catalogue
    from exporter.rules import slo
    from exporter.rules.spec import SpecError

    model = load_model(spec_dir, gaps, "alert thresholds not compared")
    if model is None:
        return []
    try:
        found = catalogue.catalog(model.alerts, model.config, extra_names=(slo.ALERT,))
    except SpecError as e:
        gaps.add(f"alert thresholds not compared: {e}")
        return []
    out: list[AlertCheck] = []
    for alert in found:
        for rule in alert.rules:
            me = rule.measure
            if me is None:
                continue
            by = ", ".join(me.subject)
            expr = f"max by ({by}) ({me.quantity})"
            if me.guard:
                expr = f"({expr}) and on ({by}) ({me.guard})"
            out.append(
                AlertCheck(
                    alert.name,
                    rule.severity,
                    me.subject,
                    expr,
                    float(me.threshold),
                    _secs(rule.for_),
                    me.unit,
                    me.kind,
                    target=me.target,
                    where=me.where,
                    lookback=_secs(me.lookback),
                    scope=me.scope,
                )
            )
    return out


def judge_alerts(
    r: _Reader, checks: list[AlertCheck], seconds: float, step: float
) -> list[Verdict]:
    """Each check's quantity over the window, evaluated every ``step`` as the rule would be.
    The first ``lookback + for`` of the window only warm up the quantity's own range and the
    ``for`` (a rate over a half-empty range is no value to judge), and a level counts as held
    for ``for`` only when the quantity had a value at every step of it, as the alert needs."""
    out: list[Verdict] = []
    s = f"{step:g}s"
    for check in checks:
        what = f"{check.alert} ({check.severity})"
        x = check.expr
        window = f"{max(step, round(seconds - check.lookback - check.for_)):g}s"
        peak = r.by(f"max_over_time(({x})[{window}:{s}])", what, check.subject_labels)
        if check.for_ > 0:
            hold = f"{check.for_:g}s"
            steps = math.floor(check.for_ / step)
            sustained = r.by(
                f"max_over_time((min_over_time(({x})[{hold}:{s}]) "
                f"and count_over_time(({x})[{hold}:{s}]) >= {steps})[{window}:{s}])",
                what,
                check.subject_labels,
            )
        else:
            sustained = peak
        share = r.by(
            f"avg_over_time((({x}) > bool {check.threshold!r})[{window}:{s}])",
            what,
            check.subject_labels,
        )
        if not peak:
            out.append(
                Verdict(
                    what,
                    check.where or f"alert_rules/alerts.yml: alerts.{check.alert}.{check.severity}",
                    check.scope,
                    check.threshold,
                    check.unit,
                    "",
                    "no data",
                    why="the quantity it compares has no series in the window",
                )
            )
            continue
        for k, p in sorted(peak.items()):
            if not math.isfinite(p):
                continue
            subject = ", ".join(f"{n}={v}" for n, v in k) if len(k) > 1 else k[0][1]
            out.append(
                judge_alert(
                    check,
                    subject,
                    p,
                    sustained.get(k, float("nan")),
                    share.get(k, 0.0),
                )
            )
    return out


# --- the command --------------------------------------------------------------------------------


def compute(
    prom: PromClient,
    config: Config,
    config_name: str,
    start: float,
    end: float,
    spec_dir: Path,
    tz_name: str = "UTC",
) -> Baseline:
    step = max(15.0, math.ceil((end - start) / 10000))
    result = Baseline(prom.url, start, end, config_name, tz_name, step)
    try:
        prom.check()
    except ApiError as e:
        result.unreachable = e.message
        result.gaps.add(f"{e.message}: nothing was read, no baseline computed")
        return result
    window = f"{round(end - start)}s"
    reader = _Reader(prom, end, result.gaps)
    result.probes = read_probes(reader, config, window)
    result.requests = read_requests(reader, prom, start, end, window, ZoneInfo(tz_name))
    for stats in result.probes:
        for service in config.services:
            for probe in service.probes:
                if (service.name, probe.name) != (stats.service, stats.probe):
                    continue
                if probe.degraded_after is not None:
                    result.verdicts.append(judge_degraded_after(stats, probe.degraded_after))
                result.verdicts.append(judge_timeout(stats, probe.timeout))
    result.verdicts += judge_alerts(reader, alert_checks(spec_dir, result.gaps), end - start, step)
    return result


def to_yaml(b: Baseline) -> str:
    services: dict[str, Any] = {}
    for p in b.probes:
        svc = services.setdefault(p.service, {"probes": {}})
        svc["probes"][p.probe] = {
            "kind": p.kind,
            "availability": _num(p.availability),
            "runs": p.runs,
            "latency_seconds": p.latency.as_dict(),
            **(
                {
                    "phases_seconds": {
                        ph: {k: v for k, v in q.as_dict().items() if k != "max"}
                        for ph, q in sorted(p.phases.items())
                    }
                }
                if p.phases
                else {}
            ),
        }
    for name, svc in services.items():
        values = [
            v["availability"] for v in svc["probes"].values() if v["availability"] is not None
        ]
        svc["availability"] = _num(sum(values) / len(values)) if values else None
        services[name] = {"availability": svc.pop("availability"), **svc}
    for sr in b.requests:
        svc = services.setdefault(sr.service, {})
        svc["requests"] = {
            "total": _num(sr.requests),
            "ratio_4xx": _num(sr.ratio_4xx),
            "ratio_5xx": _num(sr.ratio_5xx),
            "latency_seconds": {k: v for k, v in sr.latency.as_dict().items() if k != "max"},
            "routes": {
                rs.route: {
                    "requests": _num(rs.requests),
                    "latency_seconds": {
                        k: v for k, v in rs.latency.as_dict().items() if k != "max"
                    },
                }
                for rs in sr.routes
            },
            f"rate_per_second_by_hour_{b.timezone}": [_num(v) for v in sr.by_hour],
        }
    doc = {
        "generated_by": "redline baseline",
        "prometheus": b.prometheus,
        "config": b.config_name,
        "window": {"start": iso(b.start), "end": iso(b.end), "seconds": round(b.end - b.start)},
        "services": services,
        "thresholds": [v.as_dict() for v in b.verdicts],
        "not_computed": list(b.gaps.items),
    }
    header = (
        "# What was normal over the window, per service, from Prometheus (redline baseline).\n"
        "# Values in base units: seconds, ratios 0-1, requests per second. null: not computed\n"
        "# (see not_computed); .inf: above the histogram's largest bucket.\n"
        "# Regenerate rather than edit.\n"
    )
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def to_markdown(b: Baseline) -> str:
    out = [
        f"# Baseline: {fmt_time(b.start)} to {fmt_time(b.end)}",
        "",
        f"What was normal over {fmt_duration(b.end - b.start)}, read from Prometheus at "
        f"{b.prometheus}; thresholds from {b.config_name} and alert_rules/alerts.yml. The "
        "verdicts assume the window is normal traffic: an incident inside it makes thresholds "
        "look noisy that are not.",
        "",
    ]
    if b.unreachable:
        out += ["## Could not compute", "", *b.gaps.markdown(), ""]
        return "\n".join(out)
    out += ["## Services", ""]
    rows = []
    for name in dict.fromkeys([p.service for p in b.probes] + [s.service for s in b.requests]):
        probes = [p for p in b.probes if p.service == name and p.availability is not None]
        req = next((s for s in b.requests if s.service == name), None)
        avail = sum(p.availability or 0.0 for p in probes) / len(probes) if probes else None
        worst = max((p.latency.p95 for p in probes if p.latency.p95 is not None), default=None)
        rows.append(
            [
                name,
                fmt_ratio(avail, 5),
                fmt_value(worst, "seconds"),
                f"{req.requests:.0f}" if req else "-",
                fmt_ratio(req.ratio_5xx) if req else "-",
                fmt_value(req.latency.p95, "seconds") if req else "-",
            ]
        )
    out += md_table(
        [
            "service",
            "availability (mean of its probes)",
            "slowest probe p95",
            "requests (logs)",
            "5xx",
            "request p95",
        ],
        rows,
    )
    out += ["", "## Probes", ""]
    rows = [
        [
            f"{p.service}/{p.probe}",
            p.kind,
            fmt_ratio(p.availability, 5),
            str(p.runs),
            fmt_value(p.latency.p50, "seconds"),
            fmt_value(p.latency.p95, "seconds"),
            fmt_value(p.latency.p99, "seconds"),
            fmt_value(p.latency.max, "seconds"),
        ]
        for p in b.probes
    ]
    out += md_table(["probe", "kind", "availability", "runs", "p50", "p95", "p99", "max"], rows)
    phase_rows = [
        [
            f"{p.service}/{p.probe}",
            phase,
            fmt_value(q.p50, "seconds"),
            fmt_value(q.p95, "seconds"),
            fmt_value(q.p99, "seconds"),
        ]
        for p in b.probes
        for phase, q in sorted(p.phases.items())
    ]
    if phase_rows:
        out += ["", "HTTP phases of the probes' requests:", ""]
        out += md_table(["probe", "phase", "p50", "p95", "p99"], phase_rows)
    out += ["", "## Requests from logs", ""]
    if b.requests:
        rows = []
        for sr in b.requests:
            rows.append(
                [
                    sr.service,
                    "all",
                    f"{sr.requests:.0f}",
                    fmt_ratio(sr.ratio_4xx),
                    fmt_ratio(sr.ratio_5xx),
                    *(fmt_value(getattr(sr.latency, q), "seconds") for q in ("p50", "p95", "p99")),
                ]
            )
            for rs in sr.routes:
                rows.append(
                    [
                        sr.service,
                        rs.route,
                        f"{rs.requests:.0f}",
                        "",
                        "",
                        *(
                            fmt_value(getattr(rs.latency, q), "seconds")
                            for q in ("p50", "p95", "p99")
                        ),
                    ]
                )
        out += md_table(["service", "route", "requests", "4xx", "5xx", "p50", "p95", "p99"], rows)
        out += [
            "",
            "Latency of log-derived requests is histogram_quantile's estimate: exact at bucket "
            "bounds, interpolated between them.",
            "",
            f"### Request rate by hour of day ({b.timezone}, requests per second, mean over the "
            "window's days)",
            "",
        ]
        hour_rows = [
            [f"{h:02d}:00", *(fmt_value(sr.by_hour[h], "") for sr in b.requests)] for h in range(24)
        ]
        out += md_table(["hour", *(sr.service for sr in b.requests)], hour_rows)
    else:
        out.append("No log-derived requests in the window.")
    out += ["", "## Thresholds against the baseline", ""]
    counts = {v: sum(1 for x in b.verdicts if x.verdict == v) for v in ("noisy", "blind")}
    out.append(
        f"{counts['noisy']} noisy (would have fired on normal traffic), {counts['blind']} blind "
        f"(far above anything seen; latency only), of {len(b.verdicts)} compared. Noisy and "
        "blind first."
    )
    out.append("")
    order = {"noisy": 0, "blind": 1, "no data": 2, "ok": 3}
    rows = [
        [
            v.threshold,
            v.subject,
            fmt_value(v.value, v.unit),
            v.baseline or "-",
            f"**{v.verdict}**" if v.verdict in ("noisy", "blind") else v.verdict,
            fmt_value(v.suggested, v.unit) if v.suggested is not None else "-",
            v.why or "-",
            v.where,
        ]
        for v in sorted(b.verdicts, key=lambda v: (order[v.verdict], v.threshold, v.subject))
    ]
    out += md_table(
        ["threshold", "applies to", "value", "baseline", "verdict", "suggested", "why", "where"],
        rows,
    )
    out += ["", "## Could not compute", "", *b.gaps.markdown(), ""]
    return "\n".join(out)


def summary(b: Baseline) -> list[str]:
    """The lines printed on the terminal."""
    lines = [f"baseline {fmt_time(b.start)} .. {fmt_time(b.end)} from {b.prometheus}"]
    for p in b.probes:
        if p.runs:
            lines.append(
                f"  {p.service}/{p.probe}: availability {fmt_ratio(p.availability, 5)}, "
                f"p95 {fmt_value(p.latency.p95, 'seconds')}, p99 "
                f"{fmt_value(p.latency.p99, 'seconds')} ({p.runs} runs)"
            )
    for sr in b.requests:
        lines.append(
            f"  {sr.service} requests: {sr.requests:.0f}, 5xx {fmt_ratio(sr.ratio_5xx)}, p95 "
            f"{fmt_value(sr.latency.p95, 'seconds')}"
        )
    for v in b.verdicts:
        if v.verdict in ("noisy", "blind"):
            suggested = fmt_value(v.suggested, v.unit) if v.suggested is not None else "none"
            lines.append(
                f"  {v.verdict}: {v.threshold} {v.subject} = {fmt_value(v.value, v.unit)}, "
                f"suggested {suggested}"
            )
    return lines


def write(b: Baseline, out_dir: Path) -> tuple[Path, Path]:
    yml, md = out_dir / "baseline.yml", out_dir / "baseline.md"
    write_text(yml, to_yaml(b))
    write_text(md, to_markdown(b))
    return yml, md
