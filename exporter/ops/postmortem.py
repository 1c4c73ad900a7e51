"""``redline postmortem``: a draft post-mortem of a time range, in the template of
docs/incident-response.md ("Post-mortem template"), filled with what the monitoring data says.

- The alert timeline comes from Prometheus's own series: ``ALERTS{alertstate="pending"|"firing"}``
  (one sample per rule evaluation while the alert is active) and ``ALERTS_FOR_STATE`` (its value
  is the time the alert became active, exact even when that was before the range). Samples of
  one alert are split into episodes where evaluations stop; an episode resolved one evaluation
  interval after its last sample, unless that is past the range (then it was still active).
- Time to detect: from the first sign of trouble (the first failed probe of an affected service,
  or the first pending alert that went on to fire, whichever is earlier) to the first alert that
  fired (a page, if one did). Alertmanager's group_wait comes on top before the notification.
- The SLOs touched and the error budget each burned use the SLIs of alert_rules/slos.yml (the
  same expressions as the recording rules) over the range: burned = bad share x range /
  (budget x SLO window), assuming the range's traffic is typical for request-based SLIs.
- Dashboard links come from the alerts' ``dashboard`` annotations (or alert_rules/ when the rules
  are not loaded) with the range as Grafana's ``from``/``to``.
- With ``--alertmanager``: the alerts it still holds from the range, with their receivers, and
  the silences that overlapped the range. Alertmanager keeps no history beyond that.

The sections that need people (root cause, what went well, action items) are left empty with the
template's guidance. The wording describes what the system did, never who did what.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exporter import metrics as m
from exporter.ops.common import (
    Gaps,
    fmt_duration,
    fmt_ratio,
    fmt_time,
    iso,
    load_model,
    md_table,
    parse_duration,
    write_text,
)
from exporter.ops.promapi import AlertmanagerClient, ApiError, PromClient
from exporter.promql import sel
from exporter.rules.model import WATCHDOG

# P0 detected within 5 min (docs/targets.md; docs/incident-response.md, SEV-1)
DETECTION_TARGET = 300.0
DEFAULT_INTERVAL = 30.0  # rule evaluation interval when neither the rules nor the data say


@dataclass
class Episode:
    alertname: str
    labels: dict[str, str]  # without __name__ and alertstate
    interval: float
    first_sample: float
    last_sample: float
    pending_at: float | None = None  # when the condition became true (active since)
    firing_at: float | None = None
    resolved_at: float | None = None  # None: still active at the end of the range
    before_range: bool = False  # already active when the range began

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def subject(self) -> str:
        keep = [
            f"{k}={v}"
            for k, v in sorted(self.labels.items())
            if k not in ("alertname", "severity", "job", "instance")
        ]
        return ", ".join(keep)


@dataclass
class ProbeFailure:
    service: str
    probe: str
    start: float
    end: float | None  # None: still failing at the end of the range


@dataclass
class SLOBurn:
    name: str
    service: str
    objective: float  # percent
    bad_ratio: float | None
    burned_minutes: float | None = None
    budget_minutes: float = 0.0
    burned_share: float | None = None

    @property
    def overspent(self) -> bool:
        """Bad events above the objective's allowance over the range (a burn rate above 1): the
        service's users saw worse than the SLO allows. A ratio within it is the background
        every SLO budgets for, not a sign that the incident touched the service."""
        return self.bad_ratio is not None and self.bad_ratio > 1 - self.objective / 100


@dataclass
class MaintenanceSpan:
    """A planned maintenance window open in the range (redline_maintenance_window 1)."""

    window: str
    service: str  # "database" for a database's window, like its alerts
    database: str
    start: float
    end: float | None  # None: still open at the end of the range

    @property
    def subject(self) -> str:
        return self.database or self.service

    def covers(self, service: str, t: float) -> bool:
        return service == self.service and self.start <= t and (self.end is None or t < self.end)

    def overlap(self, start: float, end: float) -> float:
        """Seconds of [start, end) inside this window (``end``: the range's end if open)."""
        stop = end if self.end is None else min(end, self.end)
        return max(0.0, stop - max(start, self.start))


@dataclass
class Postmortem:
    prometheus: str
    start: float
    end: float
    episodes: list[Episode] = field(default_factory=list)  # every alert but the Watchdog
    watchdog: list[Episode] = field(default_factory=list)  # the pipeline's dead man's switch
    failures: list[ProbeFailure] = field(default_factory=list)
    maintenance: list[MaintenanceSpan] = field(default_factory=list)
    slos: list[SLOBurn] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # title -> URL
    annotations: dict[str, dict[str, str]] = field(default_factory=dict)  # alertname -> ...
    fors: dict[str, float] = field(default_factory=dict)  # alertname -> for (seconds)
    intervals: dict[str, float] = field(default_factory=dict)  # alertname -> evaluation interval
    am_alerts: list[dict[str, Any]] | None = None
    am_silences: list[dict[str, Any]] | None = None
    alertmanager: str | None = None
    gaps: Gaps = field(default_factory=Gaps)
    unreachable: str | None = None

    # --- derived facts ---

    @property
    def fired(self) -> list[Episode]:
        return [e for e in self.episodes if e.firing_at is not None]

    @property
    def fired_in_range(self) -> list[Episode]:
        """Fired and began in the range: an alert still active from an earlier problem (a
        burn-rate alert trails its outage for an hour) says nothing of when this one began."""
        return [e for e in self.fired if not e.before_range]

    def first_alert(self) -> Episode | None:
        fired = self.fired_in_range
        pages = [e for e in fired if e.severity == "page"]
        chosen = pages or fired
        return min(chosen, key=lambda e: e.firing_at or 0) if chosen else None

    def affected(self) -> list[str]:
        services = {e.labels["service"] for e in self.fired if e.labels.get("service")}
        services |= {f.service for f in self.failures}
        services |= {s.service for s in self.slos if s.overspent}
        return sorted(services)

    def first_sign(self) -> tuple[float, str] | None:
        candidates: list[tuple[float, str]] = []
        fired = self.fired_in_range
        fired_services = {e.labels.get("service") for e in fired}
        for f in self.failures:
            if not fired or f.service in fired_services:
                candidates.append((f.start, f"{f.service}/{f.probe} probe failed"))
        for e in fired:
            if e.pending_at is not None:
                candidates.append((e.pending_at, f"{e.alertname} condition became true"))
        return min(candidates) if candidates else None

    def time_to_detect(self) -> float | None:
        sign, first = self.first_sign(), self.first_alert()
        if sign is None or first is None or first.firing_at is None:
            return None
        return max(0.0, first.firing_at - sign[0])


# --- reading ------------------------------------------------------------------------------------


def _identity(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", "alertstate")))


def episodes_from(
    alerts: list[tuple[dict[str, str], list[tuple[float, float]]]],
    for_state: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]],
    intervals: dict[str, float],
    start: float,
    end: float,
) -> list[Episode]:
    """Episodes of each alert from the raw samples of ALERTS (labels with alertstate) and of
    ALERTS_FOR_STATE (by identity)."""
    samples: dict[tuple[tuple[str, str], ...], list[tuple[float, str]]] = defaultdict(list)
    for labels, points in alerts:
        state = labels.get("alertstate", "firing")
        samples[_identity(labels)] += [(t, state) for t, v in points if v == 1]
    out: list[Episode] = []
    for ident, states in samples.items():
        states.sort()
        labels = dict(ident)
        name = labels.get("alertname", "?")
        times = [t for t, _ in states]
        diffs = [b - a for a, b in itertools.pairwise(times) if b > a]
        interval = intervals.get(name) or (statistics.median(diffs) if diffs else DEFAULT_INTERVAL)
        run: list[tuple[float, str]] = []
        runs: list[list[tuple[float, str]]] = []
        for p in states:
            if run and p[0] - run[-1][0] > 2 * interval:
                runs.append(run)
                run = []
            run.append(p)
        if run:
            runs.append(run)
        for run in runs:
            e = Episode(name, labels, interval, run[0][0], run[-1][0])
            pend = [t for t, s in run if s == "pending"]
            fire = [t for t, s in run if s == "firing"]
            e.pending_at = pend[0] if pend else None
            e.firing_at = fire[0] if fire else None
            # without ALERTS_FOR_STATE, an alert seen from the range's first evaluation on is
            # taken to have been active before it; with it, its active-since time says
            e.before_range = run[0][0] - start <= 1.5 * interval
            for t, active_since in for_state.get(ident, []):
                if e.first_sample <= t <= e.last_sample and math.isfinite(active_since):
                    e.pending_at = active_since
                    e.before_range = active_since < start
                    break
            if e.pending_at is None and e.firing_at is not None and not e.before_range:
                e.pending_at = e.firing_at  # no `for`: active and firing at once
            if end - e.last_sample > 1.5 * interval:
                e.resolved_at = e.last_sample + interval
            out.append(e)
    out.sort(key=lambda e: (e.pending_at or e.firing_at or e.first_sample, e.alertname))
    return out


def failures_from(
    series: list[tuple[dict[str, str], list[tuple[float, float]]]], step: float, end: float
) -> list[ProbeFailure]:
    """Runs of failing probe samples (points of ``probe_success == 0`` at each step)."""
    out = []
    for labels, points in series:
        run_start: float | None = None
        prev = 0.0
        for t, _ in sorted(points):
            if run_start is None:
                run_start = t
            elif t - prev > 1.5 * step:
                out.append(ProbeFailure(labels["service"], labels["probe"], run_start, prev + step))
                run_start = t
            prev = t
        if run_start is not None:
            still = end - prev < 1.5 * step
            out.append(
                ProbeFailure(
                    labels["service"], labels["probe"], run_start, None if still else prev + step
                )
            )
    return sorted(out, key=lambda f: (f.start, f.service, f.probe))


def compute(
    prom: PromClient,
    start: float,
    end: float,
    spec_dir: Path | None,
    alertmanager: AlertmanagerClient | None = None,
) -> Postmortem:
    pm = Postmortem(prom.url, start, end)
    if alertmanager is not None:
        pm.alertmanager = alertmanager.url
        _read_alertmanager(pm, alertmanager)
    try:
        prom.check()
    except ApiError as e:
        pm.unreachable = e.message
        pm.gaps.add(
            f"{e.message}: no alert timeline, time to detect, SLO burn or affected services; "
            "fill them in by hand"
        )
        return pm
    _read_rules(pm, prom)
    try:
        alerts = [(s.labels, s.points) for s in prom.raw("ALERTS", start, end)]
        for_state: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {
            _identity(s.labels): s.points for s in prom.raw("ALERTS_FOR_STATE", start, end)
        }
        episodes = episodes_from(alerts, for_state, pm.intervals, start, end)
        # Watchdog always fires: it is evidence that alerting worked, not part of the incident
        pm.watchdog = [e for e in episodes if e.alertname == WATCHDOG]
        pm.episodes = [e for e in episodes if e.alertname != WATCHDOG]
        if not alerts:
            pm.gaps.add(
                "no ALERTS series in the range: no alert was pending or firing then (or this "
                "Prometheus does not evaluate the alert rules); the timeline has no alerts"
            )
    except ApiError as e:
        pm.gaps.add(f"alert timeline: {e.message}")

    # fine enough to place the first failed probe within a scrape of when it happened (a day's
    # range: 9 s), coarse enough to stay within 10,000 points a series
    step = max(1.0, math.ceil((end - start) / 10000))
    try:
        failing = prom.query_range(
            f"min by (service, probe) ({sel(m.PROBE_SUCCESS)}) == 0", start, end, step
        )
        pm.failures = failures_from([(s.labels, s.points) for s in failing], step, end)
    except ApiError as e:
        pm.gaps.add(f"probe failures: {e.message}")
    try:
        windows = prom.query_range(f"{sel(m.MAINTENANCE_WINDOW)} == 1", start, end, step)
        for s in windows:
            # runs of points, as for failing probes: each run is one opening of the window
            for run in failures_from([({"service": "", "probe": ""}, s.points)], step, end):
                pm.maintenance.append(
                    MaintenanceSpan(
                        s.labels.get("window", ""),
                        s.labels.get("service", ""),
                        s.labels.get("database", ""),
                        run.start,
                        run.end,
                    )
                )
        pm.maintenance.sort(key=lambda w: (w.start, w.window, w.subject))
    except ApiError as e:
        pm.gaps.add(f"maintenance windows: {e.message}")
    _read_slos(pm, prom, spec_dir)
    _links(pm, spec_dir)
    return pm


def inside_maintenance(pm: Postmortem, service: str, t: float) -> str | None:
    """The planned window ``service`` was in at ``t``, if any."""
    return next((w.window for w in pm.maintenance if w.covers(service, t)), None)


def _read_rules(pm: Postmortem, prom: PromClient) -> None:
    try:
        rules = prom.rules()
    except ApiError as e:
        pm.gaps.add(f"alert rules (annotations, for, interval): {e.message}")
        return
    for rule in rules:
        name = rule.get("name", "")
        annotations = rule.get("annotations") or {}
        entry = pm.annotations.setdefault(name, {})
        for k in ("summary", "dashboard", "runbook_url"):
            if annotations.get(k) and k not in entry:
                entry[k] = str(annotations[k])
        if rule.get("group_interval"):
            pm.intervals[name] = float(rule["group_interval"])
        if rule.get("duration") is not None:
            pm.fors[name] = max(pm.fors.get(name, 0.0), float(rule["duration"]))


def _read_slos(pm: Postmortem, prom: PromClient, spec_dir: Path | None) -> None:
    if spec_dir is None:
        return
    from exporter.rules.slo import budget, error_ratio

    model = load_model(spec_dir, pm.gaps, "SLOs")
    if model is None:
        return
    spec = model.slos
    range_s = round(pm.end - pm.start)
    slo_window = parse_duration(spec.window)
    for slo in spec.slos:
        b = float(budget(slo))
        burn = SLOBurn(slo.name, slo.service, float(slo.objective), None)
        burn.budget_minutes = b * slo_window / 60
        try:
            result = prom.query(error_ratio(slo, f"{range_s}s"), pm.end)
        except ApiError as e:
            pm.gaps.add(f"SLO {slo.name}: {e.message}")
            pm.slos.append(burn)
            continue
        values = [s.value for s in result if math.isfinite(s.value)]
        if values:
            burn.bad_ratio = max(0.0, values[0])
            burn.burned_minutes = burn.bad_ratio * range_s / 60
            burn.burned_share = burn.bad_ratio * range_s / (b * slo_window)
        pm.slos.append(burn)
    nodata = [s.name for s in pm.slos if s.bad_ratio is None]
    if nodata:
        pm.gaps.add(
            f"SLOs without data in the range (their SLI series are absent): {', '.join(nodata)}"
        )


def _links(pm: Postmortem, spec_dir: Path | None) -> None:
    grafana_range = f"from={int(pm.start * 1000)}&to={int(pm.end * 1000)}"
    names = sorted({e.alertname for e in pm.episodes})
    spec_dash: dict[str, str] = {}
    stack = None
    if spec_dir is not None:
        from exporter.rules.spec import SpecError, load_alerts, load_stack

        try:
            stack = load_stack(spec_dir)
            alerts = load_alerts(spec_dir).alerts
            spec_dash = {
                name: f"{stack.grafana_url.rstrip('/')}/d/{stack.dashboards[a.dashboard]}"
                for name, a in alerts.items()
                if a.dashboard in stack.dashboards
            }
        except SpecError as e:
            pm.gaps.add(f"dashboard links from alert_rules/: {e}")
    for name in names:
        dash = pm.annotations.get(name, {}).get("dashboard") or spec_dash.get(name)
        if dash:
            sep = "&" if "?" in dash else "?"
            pm.links[f"{name}: dashboard"] = f"{dash}{sep}{grafana_range}"
        runbook = pm.annotations.get(name, {}).get("runbook_url")
        if not runbook and stack is not None:
            runbook = f"{stack.runbook_url.rstrip('/')}/{name}.md"
        if runbook:
            pm.links[f"{name}: runbook"] = runbook
    if stack is not None and "slos" in stack.dashboards and any(s.bad_ratio for s in pm.slos):
        slo_dash = f"{stack.grafana_url.rstrip('/')}/d/{stack.dashboards['slos']}"
        pm.links["SLOs: dashboard"] = f"{slo_dash}?{grafana_range}"


def _read_alertmanager(pm: Postmortem, am: AlertmanagerClient) -> None:
    try:
        alerts = am.alerts()
        silences = am.silences()
    except ApiError as e:
        pm.gaps.add(f"Alertmanager: {e.message}")
        return
    pm.am_alerts = [a for a in alerts if _ts(a.get("startsAt")) <= pm.end]
    pm.am_silences = [
        s
        for s in silences
        if _ts(s.get("startsAt")) <= pm.end and _ts(s.get("endsAt"), math.inf) >= pm.start
    ]


def _ts(text: Any, default: float = math.inf) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


# --- the draft ----------------------------------------------------------------------------------


def _hm(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


def _todo(text: str) -> str:
    return f"_To write: {text}_"


def timeline(pm: Postmortem) -> list[tuple[float, str]]:
    events: list[tuple[float, str]] = []
    for w in pm.maintenance:
        events.append((w.start, f"maintenance window {w.window} open for {w.subject}"))
        if w.end is not None:
            events.append((w.end, f"maintenance window {w.window} closed for {w.subject}"))
    for f in pm.failures:
        planned = inside_maintenance(pm, f.service, f.start)
        note = f" [inside maintenance window {planned}]" if planned else ""
        events.append(
            (f.start, f"{f.service}/{f.probe} probe started failing (probe_success 0){note}")
        )
        if f.end is not None:
            events.append((f.end, f"{f.service}/{f.probe} probe succeeding again"))
    for e in pm.episodes:
        what = f"{e.alertname} ({e.severity or 'no severity'}) on {e.subject or 'all'}"
        planned = None
        if e.firing_at is not None and not e.alertname.startswith("Maintenance"):
            planned = inside_maintenance(pm, e.labels.get("service", ""), e.firing_at)
        held = f" [inside maintenance window {planned}: inhibited]" if planned else ""
        if e.before_range:
            what += " [active at the start]"
        hold = pm.fors.get(e.alertname)
        if e.pending_at is not None and (e.firing_at is None or e.pending_at < e.firing_at):
            note = f", fires after {fmt_duration(hold)}" if hold else ""
            events.append((e.pending_at, f"{what}: condition true, alert pending{note}"))
        if e.firing_at is not None:
            events.append(
                (
                    e.firing_at,
                    f"{what}: alert firing, sent to Alertmanager (notified after its group_wait)"
                    f"{held}",
                )
            )
        elif e.resolved_at is not None:
            events.append((e.resolved_at, f"{what}: condition cleared before firing"))
            continue
        if e.resolved_at is not None:
            events.append((e.resolved_at, f"{what}: alert resolved"))
        else:
            events.append((pm.end, f"{what}: still active at the end of the range"))
    return sorted(events, key=lambda x: x[0])


def watchdog_gaps(pm: Postmortem) -> list[tuple[float, float]]:
    """The parts of the range the Watchdog was not active (longer than two evaluations)."""
    gaps = []
    t = pm.start
    for e in sorted(pm.watchdog, key=lambda e: e.first_sample):
        began = e.pending_at if e.pending_at is not None else e.first_sample
        if began - t > 2 * e.interval:
            gaps.append((t, began))
        t = max(t, e.resolved_at if e.resolved_at is not None else pm.end)
    if pm.end - t > 2 * (pm.watchdog[-1].interval if pm.watchdog else DEFAULT_INTERVAL):
        gaps.append((t, pm.end))
    return gaps


def pipeline_note(pm: Postmortem) -> str:
    """Whether the alerting pipeline worked in the range, from the Watchdog's samples; nothing
    when this Prometheus does not load redline's rules (the timeline says so already)."""
    if pm.unreachable or (not pm.watchdog and WATCHDOG not in pm.annotations):
        return ""
    gaps = watchdog_gaps(pm)
    if not gaps:
        return (
            f"{WATCHDOG} (the dead man's switch) was firing through the whole range: Prometheus "
            "evaluated the rules and sent alerts to Alertmanager."
        )
    spans = ", ".join(f"{_hm(a)} to {_hm(b)}" for a, b in gaps)
    return (
        f"**{WATCHDOG} (the dead man's switch) was not firing from {spans} UTC**: Prometheus did "
        "not evaluate the rules then, so no alert could fire or be notified in that time. Add "
        "the pipeline to the root cause."
    )


def maintenance_lines(pm: Postmortem) -> list[str]:
    """What of the failures fell inside planned maintenance: that budget was spent on purpose
    (docs/maintenance.md); the SLOs count it all the same."""
    out = []
    for w in pm.maintenance:
        end = pm.end if w.end is None else w.end
        failing = [f for f in pm.failures if f.service == w.service]
        inside = sum(w.overlap(f.start, pm.end if f.end is None else f.end) for f in failing)
        total = sum((pm.end if f.end is None else f.end) - f.start for f in failing)
        probes = (
            f"{fmt_duration(inside)} of its {fmt_duration(total)} of failing probes fell inside "
            "it: that part of the SLO budget was spent on planned work"
            if total
            else "no probe of it failed in the range"
        )
        out.append(
            f"- Maintenance window {w.window} covered {w.subject} from {_hm(w.start)} to "
            f"{_hm(end)} UTC{' (still open)' if w.end is None else ''}: {probes}."
        )
    return out


def to_markdown(pm: Postmortem, template_note: str = "docs/incident-response.md") -> str:
    day = datetime.fromtimestamp(pm.start, UTC).strftime("%Y-%m-%d")
    first = pm.first_alert()
    affected = pm.affected()
    if first is not None:
        summary = pm.annotations.get(first.alertname, {}).get("summary")
        where = first.labels.get("service") or first.subject
        title = summary if summary and "{{" not in summary else f"{first.alertname} on {where}"
    else:
        title = "<title>"
    out = [
        f"# Post-mortem: {title} ({day}, SEV-<n>)",
        "",
        f"> Draft by `redline postmortem` from Prometheus at {pm.prometheus}, for "
        f"{fmt_time(pm.start)} to {fmt_time(pm.end)}, in the template of {template_note}. "
        "The facts are what the monitoring recorded; the _To write_ parts are for the people "
        "involved. Blameless: describe what the system and the process allowed, not who erred; "
        "people acted on what they knew then.",
        "",
    ]
    pages = [e for e in pm.fired if e.severity == "page"]
    if pages:
        out += [
            "> A page fired: SEV-1 or SEV-2 (docs/incident-response.md, Severities); decide "
            "from the impact.",
            "",
        ]
    out += ["## Summary", ""]
    if pm.unreachable:
        out.append("The monitoring data could not be read (see the last section).")
    elif pm.fired:
        names = sorted({e.alertname for e in pm.fired})
        out.append(
            f"Monitoring recorded {len(pm.fired)} firing alert(s) ({', '.join(names)}) between "
            f"{_hm(min(e.firing_at or 0 for e in pm.fired))} and "
            f"{_hm(max(e.resolved_at or pm.end for e in pm.fired))} UTC; affected: "
            f"{', '.join(affected) or 'no service label'}."
        )
    else:
        out.append("No alert fired in the range.")
    out += [
        "",
        _todo("two or three sentences: what happened, how long, what customers saw, how it ended."),
        "",
    ]

    out += ["## Impact", ""]
    sign = pm.first_sign()
    ttd = pm.time_to_detect()
    # the impact ends when the probes succeed again; without failed probes, when the alerts
    # resolved (burn-rate alerts trail the impact: they are not used when probes tell)
    if pm.failures:
        end_times = [f.end for f in pm.failures if f.end is not None]
        still = any(f.end is None for f in pm.failures)
    else:
        end_times = [e.resolved_at for e in pm.fired if e.resolved_at is not None]
        still = any(e.resolved_at is None for e in pm.fired)
    if sign is not None:
        last = pm.end if still or not end_times else max(end_times)
        tail = " (still ongoing at the end of the range)" if still else ""
        detect = f"detection took {fmt_duration(ttd)}" if ttd is not None else "no alert fired"
        out.append(
            f"- Duration: {_hm(sign[0])} to {_hm(last)} UTC ({fmt_duration(last - sign[0])})"
            f"{tail}; {detect}, mitigation {_todo('N minutes')}."
        )
    else:
        out.append(f"- Duration: {_todo('HH:MM to HH:MM UTC')} (no failure in the data).")
    out.append(
        f"- Who was affected and how: services {', '.join(affected) or '(none in the data)'}; "
        + _todo("customers, orders, support conversations, the operator.")
    )
    touched = [s for s in pm.slos if s.bad_ratio]
    if touched:
        for s in touched:
            assert s.burned_minutes is not None and s.burned_share is not None
            out.append(
                f"- Error budget spent: {s.burned_minutes:.1f} minutes of SLO {s.name} "
                f"(docs/slos.md), {fmt_ratio(s.burned_share, 3)} of the month's budget "
                f"({s.budget_minutes:g} minutes)."
            )
    elif pm.slos:
        out.append("- Error budget spent: none of the SLOs with data had bad events.")
    out += maintenance_lines(pm)
    out += [f"- Data lost or at risk: {_todo('none / what, and whether it was recovered.')}", ""]

    out += ["## Timeline (UTC)", ""]
    rows = [[_hm(t), text] for t, text in timeline(pm)]
    rows += [
        ["HH:MM", _todo("the change or fault that started it")],
        ["HH:MM", _todo("acknowledged by <role>")],
        ["HH:MM", _todo("mitigation started: ...")],
    ]
    out += md_table(["time", "event"], rows)
    if any(e.before_range for e in pm.episodes):
        out += ["", "Alerts marked active at the start were already active before the range."]
    out += ["", "## Detection", ""]
    if first is not None and first.firing_at is not None:
        line = f"The first alert to fire was {first.alertname} ({first.severity or 'no severity'})"
        line += f" on {first.subject or 'all'} at {_hm(first.firing_at)} UTC."
        if sign is not None and ttd is not None:
            verdict = "within" if ttd <= DETECTION_TARGET else "beyond"
            line += (
                f" The first sign in the data was at {_hm(sign[0])} UTC ({sign[1]}): time to "
                f"detect {fmt_duration(ttd) if ttd else '0s'}, {verdict} the 5-minute P0 "
                "detection target, before Alertmanager's group_wait."
            )
        out.append(line)
    elif pm.fired:
        out.append(
            "Every alert that fired was already active when the range began: the time to detect "
            "cannot be read from this range; start it earlier (--from) to see how it began."
        )
    elif pm.failures:
        out.append(
            "Probes failed in the range but no alert fired: check whether an alert should have "
            "(a gap in detection)."
        )
    else:
        out.append("Nothing in the monitoring data marks the start of the problem.")
    pending = [e for e in pm.episodes if e.firing_at is None]
    cleared = sorted({e.alertname for e in pending if e.resolved_at is not None})
    pending_at_end = sorted({e.alertname for e in pending if e.resolved_at is None})
    if cleared:
        cleared_names = ", ".join(cleared)
        out += [
            "",
            f"Pending but never fired (their condition cleared before `for`): {cleared_names}.",
        ]
    if pending_at_end:
        out += ["", f"Still pending at the end of the range: {', '.join(pending_at_end)}."]
    pipeline = pipeline_note(pm)
    if pipeline:
        out += ["", pipeline]
    out += [
        "",
        _todo(
            "how we learned of it (an alert, or a person), and whether an alert should have "
            "fired earlier or fired needlessly."
        ),
        "",
        "## Root cause",
        "",
        _todo(
            "the chain of causes (five whys), down to what in the system or the process "
            "allowed it. No names."
        ),
        "",
        "## What went well",
        "",
        _todo("what helped: an alert, a runbook step, a dashboard, a person's call."),
        "",
        "## What went wrong / where we got lucky",
        "",
        _todo("what made it longer or worse, and what could have made it worse."),
        "",
        "## Action items",
        "",
        *md_table(
            ["action", "type (prevent / detect / mitigate / process)", "owner", "due"],
            [["", "", "", ""]],
        ),
        "",
        "Thresholds or alerts that were wrong are changed in `alert_rules/` as action items.",
        "",
        "## Appendix: SLOs and error budget in the range",
        "",
    ]
    if pm.slos:
        rows = []
        for s in pm.slos:
            if s.bad_ratio is None:
                rows.append([s.name, s.service, f"{s.objective:g}%", "no data", "-", "-"])
                continue
            assert s.burned_minutes is not None and s.burned_share is not None
            rows.append(
                [
                    s.name,
                    s.service,
                    f"{s.objective:g}%",
                    fmt_ratio(s.bad_ratio, 4),
                    f"{s.burned_minutes:.1f} of {s.budget_minutes:g}",
                    fmt_ratio(s.burned_share, 3),
                ]
            )
        out += md_table(
            [
                "SLO",
                "service",
                "objective",
                "bad in the range",
                "budget minutes burned",
                "share of the month's budget",
            ],
            rows,
        )
        out += [
            "",
            "Burned = the bad share over the range x the range / (budget x the SLO window); "
            "for request-based SLOs this assumes the range's traffic is typical.",
        ]
    else:
        out.append("No SLOs read.")
    out += ["", "## Appendix: dashboards and runbooks", ""]
    out += [f"- {title}: {url}" for title, url in pm.links.items()] or ["No links."]
    if pm.alertmanager is not None:
        out += ["", f"## Appendix: Alertmanager ({pm.alertmanager})", ""]
        if pm.am_alerts is None:
            out.append("Not read (see the last section).")
        else:
            out.append(
                "Alertmanager keeps only the alerts it holds now and the silences; no history."
            )
            out.append("")
            rows = [
                [
                    a.get("labels", {}).get("alertname", "?"),
                    ", ".join(
                        f"{k}={v}"
                        for k, v in sorted(a.get("labels", {}).items())
                        if k != "alertname"
                    ),
                    str(a.get("startsAt", "")),
                    str((a.get("status") or {}).get("state", "")),
                    ", ".join(r.get("name", "") for r in a.get("receivers", [])),
                ]
                for a in pm.am_alerts
            ]
            out += (
                md_table(["alert", "labels", "starts at", "state", "receivers"], rows)
                if rows
                else ["No alert from the range is still held."]
            )
            out.append("")
            rows = [
                [
                    ", ".join(
                        f"{x.get('name')}{'=~' if x.get('isRegex') else '='}{x.get('value')}"
                        for x in s.get("matchers", [])
                    ),
                    str(s.get("startsAt", "")),
                    str(s.get("endsAt", "")),
                    str(s.get("comment", "")),
                ]
                for s in pm.am_silences or []
            ]
            out += (
                md_table(["silence matchers", "starts", "ends", "comment"], rows)
                if rows
                else ["No silence overlapped the range."]
            )
    out += ["", "## Appendix: what this draft could not compute", "", *pm.gaps.markdown(), ""]
    return "\n".join(out)


def summary(pm: Postmortem) -> list[str]:
    lines = [f"postmortem {fmt_time(pm.start)} .. {fmt_time(pm.end)} from {pm.prometheus}"]
    for t, text in timeline(pm):
        lines.append(f"  {_hm(t)} {text}")
    ttd = pm.time_to_detect()
    if ttd is not None:
        lines.append(f"  time to detect: {fmt_duration(ttd) if ttd else '0s'}")
    for s in pm.slos:
        if s.bad_ratio and s.burned_share is not None and s.burned_minutes is not None:
            lines.append(
                f"  SLO {s.name}: {s.burned_minutes:.1f} budget minutes burned "
                f"({fmt_ratio(s.burned_share, 3)} of the month's)"
            )
    return lines


def write(pm: Postmortem, out_dir: Path) -> Path:
    path = out_dir / f"postmortem-{iso(pm.start).replace(':', '')}.md"
    write_text(path, to_markdown(pm))
    return path
