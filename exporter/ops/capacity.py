"""``redline capacity``: when each resource runs out, at the current trend and under growth.

For every resource Prometheus has series for (disk space per filesystem, database size,
database connections against the slots ordinary roles may use, memory and CPU per host and per
process group, request rate per service; and where the shop runs: each Fly machine's memory
against its size, each Fly volume against its size, the Supabase instance's /data disk,
connections against its max_connections and memory), the level is read with a range query
over the window (each point the mean over its step, or the rate over it for counters, so a
counter reset is handled by rate() and every sample counts), a straight line is fitted by
least squares, and the report gives:

- the current level, its limit and the share used;
- the trend per day and the date the line crosses the limit (and the warning line of the alert
  that watches it, where there is one);
- the date it crosses under the growth scenario: traffic grows linearly from today's to
  ``growth`` times today's at the end of the horizon. Request-driven levels (request rate, CPU,
  connections) are multiplied by the traffic factor; accumulating resources (disk, database
  size) grow at a rate multiplied by it; memory is not scaled (mostly a fixed amount per
  process; scale it by hand when caches grow with traffic).

A line is fitted only from at least ``MIN_POINTS`` points spanning at least a tenth of the
horizon (extrapolating 90 days from two hours is a guess, not a trend); otherwise the report
says how much data there is and how much the fit needs. Gaps are reported (coverage and the
longest gap) and simply leave the fit fewer points.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from exporter import metrics as m
from exporter.ops.common import (
    DAY,
    Gaps,
    UsageError,
    fmt_date,
    fmt_duration,
    fmt_ratio,
    fmt_time,
    fmt_value,
    load_model,
    md_table,
    write_text,
)
from exporter.ops.promapi import ApiError, PromClient
from exporter.promql import sel

MIN_POINTS = 10
MIN_SPAN_FRACTION = 0.1  # the data must span at least this share of the horizon
MAX_POINTS = 1000  # range-query points per series over the window
YEAR = 365 * DAY
FAR = 10 * YEAR  # crossings later than this are not dated


@dataclass(frozen=True)
class Kind:
    key: str
    title: str
    level: str  # PromQL, "{r}" is the range each point averages over
    labels: tuple[str, ...]
    unit: str  # bytes | cores | connections | req/s
    driver: str  # level (scaled by traffic) | growth (its growth scaled) | none
    limit: str | None = None  # PromQL (instant at the end), joined on limit_labels
    limit_labels: tuple[str, ...] = ()
    user_limit: str | None = None  # the --limit key that gives it one
    warn_alert: str | None = None  # alert whose ticket threshold (a share of the limit) warns
    counter: str | None = None  # the counter behind a rate, for counting resets
    rate: bool = False


def _kinds() -> list[Kind]:
    disks = ("!~", "tmpfs|ramfs")  # memory-backed filesystems are not disk space
    size = sel(m.NODE_FILESYSTEM_SIZE, fstype=disks)
    avail = sel(m.NODE_FILESYSTEM_AVAIL, fstype=disks)
    idle = sel(m.NODE_CPU_SECONDS, mode="idle")
    cores = f"count by (instance) ({idle})"
    mem_total = f"max by (instance) ({m.NODE_MEMORY_MEMTOTAL.name})"
    max_conn = f"max by (database) ({m.PG_MAX_CONNECTIONS.name})"
    return [
        Kind(
            "disk",
            "Disk space",
            f"max by (instance, mountpoint) (avg_over_time({size}[{{r}}]) - "
            f"avg_over_time({avail}[{{r}}]))",
            ("instance", "mountpoint"),
            "bytes",
            "growth",
            limit=f"max by (instance, mountpoint) ({size})",
            limit_labels=("instance", "mountpoint"),
            warn_alert="HostDiskUsageHigh",
        ),
        Kind(
            "database-size",
            "Database size",
            f"max by (database, datname) (avg_over_time({m.PG_DATABASE_SIZE.name}[{{r}}]))",
            ("database", "datname"),
            "bytes",
            "growth",
            user_limit="database-size",
        ),
        Kind(
            "connections",
            "Database connections",
            f"sum by (database) (avg_over_time({m.PG_ACTIVITY_COUNT.name}[{{r}}]))",
            ("database",),
            "connections",
            "level",
            limit=f"{max_conn} - max by (database) ({m.PG_SUPERUSER_RESERVED.name}) - "
            f"(max by (database) ({m.PG_RESERVED.name}) or {max_conn} * 0)",
            limit_labels=("database",),
            warn_alert="PostgresConnectionsHigh",
        ),
        Kind(
            "memory",
            "Host memory",
            f"max by (instance) (avg_over_time({m.NODE_MEMORY_MEMTOTAL.name}[{{r}}]) - "
            f"avg_over_time({m.NODE_MEMORY_MEMAVAILABLE.name}[{{r}}]))",
            ("instance",),
            "bytes",
            "none",
            limit=mem_total,
            limit_labels=("instance",),
            warn_alert="HostMemoryHigh",
        ),
        Kind(
            "cpu",
            "Host CPU",
            f"count by (instance) (last_over_time({idle}[{{r}}])) - "
            f"sum by (instance) (rate({idle}[{{r}}]))",
            ("instance",),
            "cores",
            "level",
            limit=cores,
            limit_labels=("instance",),
            warn_alert="HostCPUHigh",
            counter=idle,
            rate=True,
        ),
        Kind(
            "process-cpu",
            "Process group CPU",
            f"sum by (instance, group) (rate({m.PROCESS_GROUP_CPU_SECONDS.name}[{{r}}]))",
            ("instance", "group"),
            "cores",
            "level",
            limit=cores,
            limit_labels=("instance",),
            counter=m.PROCESS_GROUP_CPU_SECONDS.name,
            rate=True,
        ),
        Kind(
            "process-memory",
            "Process group memory",
            f"sum by (instance, group) "
            f"(avg_over_time({m.PROCESS_GROUP_RESIDENT_MEMORY.name}[{{r}}]))",
            ("instance", "group"),
            "bytes",
            "none",
            limit=mem_total,
            limit_labels=("instance",),
        ),
        # --- where the shop runs: Fly machines and volumes, the Supabase instance, each
        # against its real limit (the machine's memory, the volume's size, /data, the server's
        # max_connections) rather than the local host's
        Kind(
            "fly-memory",
            "Fly machine memory",
            f"max by (app, instance) (avg_over_time({m.FLY_MEM_TOTAL.name}[{{r}}]) - "
            f"avg_over_time({m.FLY_MEM_AVAILABLE.name}[{{r}}]))",
            ("app", "instance"),
            "bytes",
            "none",
            limit=f"max by (app, instance) ({m.FLY_MEM_TOTAL.name})",
            limit_labels=("app", "instance"),
        ),
        Kind(
            "fly-volume",
            "Fly volume",
            f"max by (app, id) (avg_over_time({m.FLY_VOLUME_USED_PCT.name}[{{r}}]) / 100 * "
            f"avg_over_time({m.FLY_VOLUME_SIZE.name}[{{r}}]))",
            ("app", "id"),
            "bytes",
            "growth",
            limit=f"max by (app, id) ({m.FLY_VOLUME_SIZE.name})",
            limit_labels=("app", "id"),
            warn_alert="FlyVolumeFull",
        ),
        Kind(
            "supabase-disk",
            "Supabase disk (/data)",
            f"max by (supabase_project_ref) "
            f"(avg_over_time({sel(m.SUPA_FS_SIZE, mountpoint='/data')}[{{r}}]) - "
            f"avg_over_time({sel(m.SUPA_FS_AVAIL, mountpoint='/data')}[{{r}}]))",
            ("supabase_project_ref",),
            "bytes",
            "growth",
            limit=f"max by (supabase_project_ref) ({sel(m.SUPA_FS_SIZE, mountpoint='/data')})",
            limit_labels=("supabase_project_ref",),
            warn_alert="SupabaseDiskFull",
        ),
        Kind(
            "supabase-connections",
            "Supabase connections",
            f"sum by (supabase_project_ref) (avg_over_time({m.SUPA_BACKENDS.name}[{{r}}]))",
            ("supabase_project_ref",),
            "connections",
            "level",
            limit=f"max by (supabase_project_ref) ({m.SUPA_MAX_CONNECTIONS.name})",
            limit_labels=("supabase_project_ref",),
            warn_alert="SupabaseConnectionsHigh",
        ),
        Kind(
            "supabase-memory",
            "Supabase memory",
            f"max by (supabase_project_ref) (avg_over_time({m.SUPA_MEM_TOTAL.name}[{{r}}]) - "
            f"avg_over_time({m.SUPA_MEM_AVAILABLE.name}[{{r}}]))",
            ("supabase_project_ref",),
            "bytes",
            "none",
            limit=f"max by (supabase_project_ref) ({m.SUPA_MEM_TOTAL.name})",
            limit_labels=("supabase_project_ref",),
            warn_alert="SupabaseMemoryHigh",
        ),
        Kind(
            "requests",
            "Request rate",
            f"sum by (service) (rate({m.LOG_HTTP_REQUESTS.name}[{{r}}]))",
            ("service",),
            "req/s",
            "level",
            user_limit="requests",
            counter=m.LOG_HTTP_REQUESTS.name,
            rate=True,
        ),
    ]


KINDS = _kinds()
LIMIT_KEYS = {k.user_limit: k for k in KINDS if k.user_limit}

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$")
_SIZE_UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
_SIZE_UNITS.update({"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4})


def parse_limit(text: str) -> tuple[str, float]:
    """``database-size=8GiB`` or ``requests=50`` (requests per second per service)."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or name not in LIMIT_KEYS:
        raise UsageError(
            f"{text!r}: a limit is NAME=VALUE with NAME one of {', '.join(sorted(LIMIT_KEYS))}"
        )
    if LIMIT_KEYS[name].unit == "bytes":
        match = _SIZE.match(value)
        if not match:
            raise UsageError(f"{text!r}: {name} needs a size such as 8GiB")
        return name, float(match.group(1)) * _SIZE_UNITS[match.group(2) or "B"]
    try:
        number = float(value)
    except ValueError:
        raise UsageError(f"{text!r}: {name} needs a number") from None
    if number <= 0:
        raise UsageError(f"{text!r}: a limit must be more than 0")
    return name, number


# --- fitting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    intercept: float  # the line's value at the end of the window
    slope: float  # per second
    r2: float | None
    points: int
    span: float  # seconds from the first point to the last

    def at(self, t: float) -> float:
        """The line's value ``t`` seconds after the end of the window."""
        return self.intercept + self.slope * t


def fit_line(points: list[tuple[float, float]], end: float) -> Fit:
    """Least squares over (time, value), time measured from ``end``."""
    n = len(points)
    xs = [t - end for t, _ in points]
    ys = [v for _, v in points]
    mx, my = math.fsum(xs) / n, math.fsum(ys) / n
    sxx = math.fsum((x - mx) ** 2 for x in xs)
    sxy = math.fsum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    syy = math.fsum((y - my) ** 2 for y in ys)
    slope = sxy / sxx if sxx > 0 else 0.0
    intercept = my - slope * mx
    r2 = (sxy * sxy) / (sxx * syy) if sxx > 0 and syy > 0 else None
    return Fit(intercept, slope, r2, n, (max(xs) - min(xs)) if xs else 0.0)


@dataclass(frozen=True)
class Crossing:
    """When a level reaches a line: ``status`` is date (at ``when``, within the horizon),
    beyond (at ``when``, after the horizon), already (at or over it now), never (not rising,
    or not within the horizon under the scenario), or na (no limit, no fit)."""

    status: str
    when: float | None = None
    note: str = ""

    def text(self, now: float) -> str:
        if self.status in ("date", "beyond"):
            assert self.when is not None
            ahead = self.when - now
            if ahead > FAR:  # a date decades out is the fit's arithmetic, not a forecast
                return f"not within {FAR / YEAR:.0f} years at this trend"
            if ahead < DAY:  # a short horizon (or a crisis): the hour matters, not the day
                text = f"{fmt_time(self.when)} (in {fmt_duration(ahead)})"
            else:
                text = f"{fmt_date(self.when)} (in {ahead / DAY:.1f} d)"
            return text + (" beyond the horizon" if self.status == "beyond" else "")
        return {"already": "already reached", "never": self.note or "not rising"}.get(
            self.status, self.note or "n/a"
        )


def trend_crossing(fit: Fit, current: float, limit: float, end: float, horizon: float) -> Crossing:
    if current >= limit or fit.at(0) >= limit:
        return Crossing("already")
    if fit.slope * horizon <= 1e-6 * abs(limit):  # flat to a millionth of the limit
        return Crossing("never", note="not rising")
    t = (limit - fit.intercept) / fit.slope
    return Crossing("date" if t <= horizon else "beyond", end + t)


def scenario(fit: Fit, driver: str, growth: float, horizon: float) -> Callable[[float], float]:
    """The level ``t`` seconds ahead when traffic grows linearly to ``growth`` times today's
    at the end of the horizon (and stays there)."""
    k = (growth - 1) / horizon

    def factor(t: float) -> float:
        return 1 + k * min(t, horizon)

    def integral(t: float) -> float:  # of factor from 0 to t
        ramp = min(t, horizon)
        return ramp + k * ramp * ramp / 2 + growth * max(0.0, t - horizon)

    if driver == "level":
        return lambda t: fit.at(t) * factor(t)
    if driver == "growth":
        return lambda t: fit.intercept + fit.slope * integral(t)
    return fit.at


def first_crossing(
    f: Callable[[float], float], limit: float, horizon: float, end: float
) -> Crossing:
    """First time in [0, horizon] where ``f`` reaches ``limit`` (to a second)."""
    if f(0) >= limit:
        return Crossing("already")
    steps = 2000
    prev = 0.0
    for i in range(1, steps + 1):
        t = horizon * i / steps
        if f(t) >= limit:
            lo, hi = prev, t
            while hi - lo > 1:
                mid = (lo + hi) / 2
                lo, hi = (lo, mid) if f(mid) >= limit else (mid, hi)
            return Crossing("date", end + hi)
        prev = t
    return Crossing("never", note="not within the horizon")


# --- the resources ------------------------------------------------------------------------------


@dataclass
class Resource:
    kind: Kind
    labels: dict[str, str]
    points: list[tuple[float, float]]
    current: float | None = None
    limit: float | None = None
    warn_share: float | None = None  # the warning line as a share of the limit
    fit: Fit | None = None
    not_fitted: str = ""
    trend: Crossing = field(default_factory=lambda: Crossing("na"))
    growth: Crossing = field(default_factory=lambda: Crossing("na"))
    warn: Crossing = field(default_factory=lambda: Crossing("na"))
    coverage: float = 0.0
    longest_gap: float = 0.0
    resets: int | None = None
    chart: Path | None = None

    @property
    def name(self) -> str:
        return " ".join(self.labels.get(n, "") for n in self.kind.labels).strip()

    @property
    def slug(self) -> str:
        text = f"{self.kind.key}-{self.name}".lower()
        return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or self.kind.key


@dataclass
class Capacity:
    prometheus: str
    start: float
    end: float
    horizon: float
    growth: float
    step: float
    resources: list[Resource] = field(default_factory=list)
    gaps: Gaps = field(default_factory=Gaps)
    unreachable: str | None = None
    missing_kinds: list[str] = field(default_factory=list)


def _warn_shares(spec_dir: Path | None, gaps: Gaps) -> dict[str, float]:
    """The ticket threshold (a share of the limit) of each alert that watches a resource."""
    if spec_dir is None:
        return {}
    model = load_model(spec_dir, gaps, "warning lines not drawn")
    if model is None:
        return {}
    alerts = model.alerts.alerts
    out: dict[str, float] = {}
    for kind in KINDS:
        if kind.warn_alert is None:
            continue
        a = alerts.get(kind.warn_alert)
        if a is not None and a.ticket is not None and a.ticket.threshold is not None:
            out[kind.warn_alert] = float(a.ticket.threshold)
    return out


def compute(
    prom: PromClient,
    start: float,
    end: float,
    horizon: float,
    growth: float,
    limits: dict[str, float] | None = None,
    spec_dir: Path | None = None,
) -> Capacity:
    window = end - start
    # a point a minute at most (15 s for windows under a day), MAX_POINTS at most
    step = float(max(60 if window >= DAY else 15, math.ceil(window / MAX_POINTS)))
    result = Capacity(prom.url, start, end, horizon, growth, step)
    try:
        prom.check()
    except ApiError as e:
        result.unreachable = e.message
        result.gaps.add(f"{e.message}: nothing was read, no resource computed")
        return result
    limits = limits or {}
    warn = _warn_shares(spec_dir, result.gaps)
    for kind in KINDS:
        # the range each point covers: a rate needs a few samples, a mean at least the step
        short = window < DAY
        r = max(2 * step, 60.0 if short else 600.0) if kind.rate else max(step, 120.0)
        # however sparse the samples, a rate needs a few in its range and a mean one
        sampled = kind.counter or _what(kind).split(", ")[0]
        r = max(r, (2.5 if kind.rate else 1.5) * _sample_interval(prom, sampled, end, window, step))
        r = float(math.ceil(r))  # PromQL durations are whole seconds here
        expr = kind.level.replace("{r}", f"{r:g}s")
        try:
            series = prom.query_range(expr, start, end, step)
        except ApiError as e:
            result.gaps.add(f"{kind.title}: {e.message}")
            continue
        series = [s for s in series if any(math.isfinite(v) for _, v in s.points)]
        if not series:
            result.missing_kinds.append(kind.title)
            result.gaps.add(f"{kind.title}: no series in the window ({_what(kind)}): not computed")
            continue
        limit_by: dict[tuple[str, ...], float] = {}
        if kind.limit is not None:
            try:
                for sample in prom.query(kind.limit, end):
                    labels = tuple(sample.labels.get(n, "") for n in kind.limit_labels)
                    limit_by[labels] = sample.value
            except ApiError as e:
                result.gaps.add(f"{kind.title} limit: {e.message}")
        resets: dict[tuple[str, ...], int] = {}
        if kind.counter is not None:
            try:
                expr_resets = (
                    f"sum by ({', '.join(kind.labels)}) (resets({kind.counter}[{round(window)}s]))"
                )
                for sample in prom.query(expr_resets, end):
                    labels = tuple(sample.labels.get(n, "") for n in kind.labels)
                    resets[labels] = int(sample.value)
            except ApiError as e:
                result.gaps.add(f"{kind.title} counter resets: {e.message}")
        for s in sorted(series, key=lambda s: tuple(s.labels.get(n, "") for n in kind.labels)):
            # each point is the mean (or rate) over the r before it: it stands for the middle.
            # A rate over a range the series only partly covers (its first r) is too low:
            # those warm-up points are left out.
            raw = [(t, v) for t, v in s.points if math.isfinite(v)]
            if kind.rate and raw:
                raw = [(t, v) for t, v in raw if t >= raw[0][0] + r]
            points = [(t - r / 2, v) for t, v in raw]
            if not points:
                result.gaps.add(f"{kind.title}: too few samples for a rate over {r:g}s")
                continue
            res = Resource(kind, {n: s.labels.get(n, "") for n in kind.labels}, points)
            res.resets = resets.get(tuple(res.labels[n] for n in kind.labels))
            if kind.limit is not None:
                res.limit = limit_by.get(tuple(res.labels.get(n, "") for n in kind.limit_labels))
                if res.limit is None:
                    result.gaps.add(f"{kind.title} {res.name}: its limit has no series now")
            elif kind.user_limit is not None:
                res.limit = limits.get(kind.user_limit)
            if kind.warn_alert in warn:
                res.warn_share = warn[kind.warn_alert]
            analyse(res, start, end, step, horizon, growth, result.gaps)
            result.resources.append(res)
    return result


def _sample_interval(
    prom: PromClient, metric: str, end: float, window: float, step: float
) -> float:
    """The longest typical interval between samples of ``metric`` (0 when unknown): per series,
    the time between its first and last sample over the window (a day at most) over the number of
    intervals. Not a day over the count: a series younger than that range (a Prometheus started
    an hour ago) would look a hundred times sparser than it is."""
    span = f"{math.ceil(min(window, DAY))}s"
    first_last = f"timestamp({metric})[{span}:{step:g}s]"
    expr = (
        f"max((max_over_time({first_last}) - min_over_time({first_last}))"
        f" / (count_over_time({metric}[{span}]) - 1))"
    )
    try:
        found = prom.query(expr, end)
    except ApiError:
        return 0.0
    return next((s.value for s in found if math.isfinite(s.value) and s.value > 0), 0.0)


def _what(kind: Kind) -> str:
    names = re.findall(r"\b((?:node|pg|redline)_[a-zA-Z0-9_]+)", kind.level)
    return ", ".join(dict.fromkeys(names))


def analyse(
    res: Resource, start: float, end: float, step: float, horizon: float, growth: float, gaps: Gaps
) -> None:
    points = res.points
    expected = max(1, math.floor((end - start) / step))
    res.coverage = min(1.0, len(points) / expected)
    times = [t for t, _ in points]
    res.longest_gap = max([0.0, *(b - a - step for a, b in itertools.pairwise(times))])
    res.current = points[-1][1] if points else None
    label = f"{res.kind.title} {res.name}"
    span = (times[-1] - times[0]) if len(times) > 1 else 0.0
    need = max(horizon * MIN_SPAN_FRACTION, step * MIN_POINTS)
    if len(points) < MIN_POINTS or span < need:
        res.not_fitted = (
            f"{len(points)} points over {fmt_duration(span) if span else 'no time'}; a trend "
            f"needs at least {MIN_POINTS} points over {fmt_duration(need)} (a tenth of the "
            f"{fmt_duration(horizon)} horizon)"
        )
        gaps.add(f"{label}: not fitted: {res.not_fitted}")
        return
    res.fit = fit = fit_line(points, end)
    if res.coverage < 0.9:
        why = []
        if times[0] - start > 2 * step:  # a series younger than the window, or a rate's warm-up
            why.append(f"its data begins {fmt_duration(times[0] - start)} into the window")
        if res.longest_gap > 0:
            why.append(f"longest gap {fmt_duration(res.longest_gap)}")
        gaps.add(
            f"{label}: only {fmt_ratio(res.coverage, 3)} of the window has data"
            f"{' (' + '; '.join(why) + ')' if why else ''}; the trend is fitted on what there is"
        )
    if res.limit is None:
        note = (
            f"no limit known: give one with --limit {res.kind.user_limit}=VALUE"
            if res.kind.user_limit
            else "no limit known"
        )
        res.trend = res.growth = Crossing("na", note=note)
        return
    current = res.current if res.current is not None else fit.at(0)
    res.trend = trend_crossing(fit, current, res.limit, end, horizon)
    if res.kind.driver == "none" or res.trend.status == "already":
        res.growth = res.trend
    else:
        f = scenario(fit, res.kind.driver, growth, horizon)
        res.growth = first_crossing(f, res.limit, horizon, end)
    if res.warn_share is not None:
        res.warn = trend_crossing(fit, current, res.warn_share * res.limit, end, horizon)


# --- the report ---------------------------------------------------------------------------------


def _per_day(res: Resource) -> str:
    if res.fit is None:
        return "-"
    value = res.fit.slope * DAY
    sign = "+" if value >= 0 else "-"
    return f"{sign}{fmt_value(abs(value), res.kind.unit)}/day"


def table_rows(c: Capacity) -> list[list[str]]:
    rows = []
    for res in c.resources:
        u = res.kind.unit
        used = (
            fmt_ratio(res.current / res.limit, 3) if res.limit and res.current is not None else "-"
        )
        warn = "-"
        if res.warn_share is not None and res.fit is not None and res.limit is not None:
            warn = f"{fmt_ratio(res.warn_share, 3)}: {res.warn.text(c.end)}"
        rows.append(
            [
                f"{res.kind.title} {res.name}",
                fmt_value(res.current, u),
                fmt_value(res.limit, u) if res.limit is not None else "none known",
                used,
                _per_day(res) if res.fit else f"not fitted: {res.not_fitted}",
                res.trend.text(c.end) if res.fit else "-",
                (res.growth.text(c.end) if res.fit else "-")
                + (" (not scaled)" if res.kind.driver == "none" and res.fit else ""),
                warn,
            ]
        )
    return rows


def to_markdown(c: Capacity) -> str:
    g = f"{c.growth:g}x"
    out = [
        f"# Capacity: {fmt_duration(c.horizon)} ahead, growth {g}",
        "",
        f"Trends fitted over {fmt_time(c.start)} to {fmt_time(c.end)} "
        f"({fmt_duration(c.end - c.start)}, a point every {fmt_duration(c.step)}) from "
        f'Prometheus at {c.prometheus}. "At the trend": the fitted straight line. "At {g}": '
        f"traffic grows linearly to {g} today's by the end of the {fmt_duration(c.horizon)} "
        "horizon; request-driven levels (request rate, CPU, connections) scale with it, disk "
        "and database size grow that much faster, memory is not scaled.",
        "",
    ]
    if c.unreachable:
        out += ["## Could not compute", "", *c.gaps.markdown(), ""]
        return "\n".join(out)
    out += ["## At a glance", ""]
    out += md_table(
        [
            "resource",
            "now",
            "limit",
            "used",
            "trend",
            "full at the trend",
            f"full at {g}",
            "warning line at the trend",
        ],
        table_rows(c),
    )
    charts = [r for r in c.resources if r.chart is not None]
    if charts:
        out += ["", "## Charts", ""]
        out.append(
            "Points: the level over the window; solid line: the fitted trend; dashed: the "
            f"{g} scenario; red: the limit; orange: the alert's warning line; dots: where "
            "each line crosses the limit."
        )
        for res in charts:
            assert res.chart is not None
            out += ["", f"![{res.kind.title} {res.name}](charts/{res.chart.name})"]
    out += ["", "## Data behind each trend", ""]
    rows = [
        [
            f"{res.kind.title} {res.name}",
            str(len(res.points)),
            fmt_ratio(res.coverage, 3),
            fmt_duration(res.longest_gap) if res.longest_gap else "-",
            str(res.resets) if res.resets is not None else "-",
            f"{res.fit.r2:.3f}" if res.fit and res.fit.r2 is not None else "-",
        ]
        for res in c.resources
    ]
    out += md_table(["resource", "points", "coverage", "longest gap", "counter resets", "R²"], rows)
    out += [
        "",
        "Counter resets (restarts) are handled by rate(); R² near 1 means the line explains the "
        "level well, near 0 that the date is uncertain.",
        "",
        "## Could not compute",
        "",
        *c.gaps.markdown(),
        "",
    ]
    return "\n".join(out)


def summary(c: Capacity) -> list[str]:
    lines = [
        f"capacity {fmt_time(c.start)} .. {fmt_time(c.end)}, horizon "
        f"{fmt_duration(c.horizon)}, growth {c.growth:g}x, from {c.prometheus}"
    ]
    for res in c.resources:
        u = res.kind.unit
        if res.fit is None:
            lines.append(f"  {res.kind.title} {res.name}: not fitted ({res.not_fitted})")
            continue
        lines.append(
            f"  {res.kind.title} {res.name}: now {fmt_value(res.current, u)}"
            f" of {fmt_value(res.limit, u) if res.limit is not None else 'no known limit'}, "
            f"{_per_day(res)}; full at the trend: {res.trend.text(c.end)}; at {c.growth:g}x: "
            f"{res.growth.text(c.end)}"
        )
    return lines


def write(c: Capacity, out_dir: Path) -> Path:
    # matplotlib is an extra (redline[charts]): the exporter itself never needs it, and a
    # report without charts still has every figure
    try:
        from exporter.ops import charts
    except ImportError:
        c.gaps.add("charts not drawn: matplotlib is not installed (pip install 'redline[charts]')")
        write_text(out_dir / "capacity.md", to_markdown(c))
        return out_dir / "capacity.md"

    chart_dir = out_dir / "charts"
    for res in c.resources:
        if res.fit is None or res.limit is None:
            continue
        path = chart_dir / f"capacity-{res.slug}.png"
        growth = (
            scenario(res.fit, res.kind.driver, c.growth, c.horizon)
            if res.kind.driver != "none"
            else None
        )
        charts.capacity_chart(path, res, c, growth)
        res.chart = path
    md = out_dir / "capacity.md"
    write_text(md, to_markdown(c))
    return md
