"""The operator's status page: ``/status`` (HTML) and its JSON twin ``/status.json``.

One page, no Grafana needed: each service with its state (up, degraded, down) and each probe's
latency against its budget (``degraded_after``), the vendors' status feeds and API checks, the
backups, the heartbeats, the launch window, and the time of the last check.

It shows what the exporter already knows and never measures anything itself: the probes' latest
results are the ones the scrapes produced (:meth:`Scheduler.latest`), the vendors' the
background fetches', the backups' those of the last scrape (:meth:`BackupSource.views`), and the
heartbeats' are computed from the pings in memory. Before the first scrape a probe is shown as
``unknown`` ("not checked yet"), never probed for the page.

The HTML has no external asset and no script: inline CSS, a ``<meta http-equiv="refresh">``, a
Content-Security-Policy that forbids everything else, and every value HTML-escaped. Messages
pass through the redactor as a second line of defence against a secret in an error text.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from exporter import __version__
from exporter import metrics as m
from exporter.sources import find
from exporter.vendors.common import norm
from exporter.vendors.config import check_kind

if TYPE_CHECKING:
    from exporter.backups.source import BackupSource
    from exporter.config import Config
    from exporter.heartbeats.source import HeartbeatSource
    from exporter.launch.config import LaunchConfig
    from exporter.scheduler import Scheduler
    from exporter.secrets import Redactor
    from exporter.sources import Source
    from exporter.vendors.source import FeedJob, VendorSource


class Runtime(Protocol):
    """What the pages read of the exporter's state (exporter/app.py's Runtime has it): the
    status module depends on this shape, not on the app that builds it."""

    config: Config
    config_name: str
    redactor: Redactor
    scheduler: Scheduler | None
    sources: list[Source]


REFRESH_SECONDS = 30
# A result older than this is flagged stale: Prometheus has stopped scraping (or this exporter
# is not the one it scrapes), so the state shown may no longer be true.
STALE_AFTER = 300.0

STATES: tuple[str, ...] = ("up", "degraded", "down", "unknown")
# Worst last: a service is as bad as its worst probe; not knowing ranks above up.
_RANK = {"up": 0, "unknown": 1, "degraded": 2, "down": 3}

# Each area's own words, mapped onto the page's four states.
_COMPONENT_STATE = {
    "operational": "up",
    "under_maintenance": "degraded",
    "degraded_performance": "degraded",
    "partial_outage": "down",
    "major_outage": "down",
    "unknown": "unknown",
    "missing": "unknown",
}
_INDICATOR_STATE = {
    "none": "up",
    "minor": "degraded",
    "maintenance": "degraded",
    "major": "down",
    "critical": "down",
    "unknown": "unknown",
}
_HEARTBEAT_STATE = {
    "up": "up",
    "started": "up",
    "late": "degraded",
    "down": "down",
    "never": "unknown",
}


def worst(states: list[str]) -> str:
    return max(states, key=_RANK.__getitem__) if states else "unknown"


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# --- the snapshot (the JSON twin, and what the HTML renders) ------------------------------------


def snapshot(runtime: Runtime, now: float | None = None) -> dict[str, Any]:
    """Everything the page shows, as plain data. Reads state only; runs nothing."""
    now = time.time() if now is None else now
    redact = runtime.redactor.redact
    services = _services(runtime, now, redact)
    vendors = _vendors(runtime, redact)
    backups = _backups(runtime, now, redact)
    restore_tests = _restore_tests(runtime, now, redact)
    heartbeats = _heartbeats(runtime, now)
    checked = [p["checked_at"] for s in services for p in s["probes"] if p["checked_at"]]
    checked += [b["checked_at"] for b in backups if b["checked_at"]]
    checked += [v["checked_at"] for v in (*vendors["feeds"], *vendors["checks"]) if v["checked_at"]]
    return {
        "generated_at": _r(now),
        "last_check_at": max(checked) if checked else None,
        "refresh_seconds": REFRESH_SECONDS,
        "version": __version__,
        "state": worst([s["state"] for s in services]),
        "launch": _launch(runtime.config.launch, now),
        "maintenance": _maintenance(runtime.config, now),
        "services": services,
        "vendors": vendors,
        "backups": backups,
        "restore_tests": restore_tests,
        "heartbeats": heartbeats,
    }


def _services(runtime: Runtime, now: float, redact: Callable[[str], str]) -> list[dict[str, Any]]:
    latest = runtime.scheduler.latest() if runtime.scheduler is not None else {}
    out = []
    for service in runtime.config.services:
        probes = []
        for probe in service.probes:
            result = latest.get(f"{service.name}/{probe.name}")
            row: dict[str, Any] = {
                "name": probe.name,
                "kind": probe.kind,
                "state": "unknown",
                "reason": None,
                "message": "not checked yet: no scrape since the exporter started",
                "latency_seconds": None,
                "budget_seconds": probe.degraded_after,
                "timeout_seconds": probe.timeout,
                "checked_at": None,
                "stale": False,
                "certificate_expiry": None,
            }
            if result is not None:
                expiry = [s.value for s in result.samples if s.metric is m.SSL_EARLIEST_CERT_EXPIRY]
                row.update(
                    state=result.status,
                    reason=result.reason,
                    message=redact(result.message),
                    latency_seconds=_r(result.duration, 4),
                    checked_at=_r(result.finished_at),
                    stale=now - result.finished_at > STALE_AFTER,
                    certificate_expiry=min(expiry) if expiry else None,
                )
            probes.append(row)
        out.append(
            {
                "name": service.name,
                "description": service.description,
                "state": worst([p["state"] for p in probes]),
                "probes": probes,
            }
        )
    return out


def _source(runtime: Runtime, name: str) -> Any:
    return find(runtime.sources, name)


def _vendors(runtime: Runtime, redact: Callable[[str], str]) -> dict[str, list[dict[str, Any]]]:
    src: VendorSource | None = _source(runtime, "vendors")
    if src is None:
        return {"feeds": [], "checks": []}
    mono = src.clock.monotonic()
    feeds = [_feed(job, mono, redact) for job in src.feeds.values()]
    checks = []
    for job in src.checks.values():
        st = job.state
        attempted = st.attempted_at is not None
        if not attempted:
            state = "unknown"
        elif st.reason is None:
            state = "up"
        else:
            state = "degraded" if st.reason == "rate_limited" else "down"
        checks.append(
            {
                "name": job.cfg.name,
                "kind": check_kind(job.cfg),
                "state": state,
                "reason": st.reason,
                "message": redact(st.message) if attempted else "not run yet",
                "latency_seconds": _r(st.duration, 4) if attempted else None,
                "checked_at": _r(st.attempted_at),
            }
        )
    return {"feeds": feeds, "checks": checks}


def _feed(job: FeedJob, mono: float, redact: Callable[[str], str]) -> dict[str, Any]:
    st, cfg = job.state, job.cfg
    snap = st.snapshot
    components = [
        {"name": c, "status": snap.state_of(c) if snap is not None else "unknown"}
        for c in cfg.components
    ]
    incidents = None
    state = "unknown"
    if snap is not None:
        configured = {norm(c) for c in cfg.components}
        found = snap.incidents
        if snap.incidents_scoped:
            found = tuple(i for i in found if i.components & configured)
        incidents = len(found)
        if components:
            state = worst([_COMPONENT_STATE.get(c["status"], "unknown") for c in components])
        elif snap.indicator is not None:
            state = _INDICATOR_STATE.get(snap.indicator, "unknown")
        else:
            state = "degraded" if incidents else "up"
    if st.attempted_at is None:
        message = "not fetched yet"
    elif st.reason is not None:
        message = "last fetch failed: " + redact(st.message)
        message += "; showing the last good data" if snap is not None else ""
    else:
        message = ""
    return {
        "name": cfg.name,
        "state": state,
        "indicator": snap.indicator if snap is not None else None,
        "components": components,
        "incidents_open": incidents,
        "fetch_ok": st.attempted_at is not None and st.reason is None,
        "reason": st.reason,
        "message": message,
        "data_age_seconds": _r(mono - st.data_mono) if st.data_mono is not None else None,
        "checked_at": _r(st.attempted_at),
    }


def _backups(runtime: Runtime, now: float, redact: Callable[[str], str]) -> list[dict[str, Any]]:
    src: BackupSource | None = _source(runtime, "backups")
    seen = {v.name: v for v in src.views()} if src is not None else {}
    cfg = runtime.config.backups
    out = []
    for kind, sets in (("files", cfg.files), ("supabase", cfg.supabase)):
        for item in sets:
            view = seen.get(item.name)
            if view is None:
                out.append(
                    {
                        "name": item.name,
                        "kind": kind,
                        "state": "unknown",
                        "status": None,
                        "message": "not checked yet: no scrape since the exporter started",
                        "newest_age_seconds": None,
                        "max_age_seconds": item.max_age,
                        "checked_at": None,
                    }
                )
                continue
            out.append(
                {
                    "name": view.name,
                    "kind": view.kind,
                    "state": "up" if view.status == "ok" else "down",
                    "status": view.status,
                    "message": redact(view.message),
                    "newest_age_seconds": _r(max(0.0, now - view.newest))
                    if view.newest is not None
                    else None,
                    "max_age_seconds": view.max_age,
                    "checked_at": _r(view.checked_at),
                }
            )
    return out


def _restore_tests(
    runtime: Runtime, now: float, redact: Callable[[str], str]
) -> list[dict[str, Any]]:
    """The latest recorded outcome of each restore test (state file, as of the last scrape)."""
    src: BackupSource | None = _source(runtime, "backups")
    if src is None:
        return []
    out = []
    for view in src.restore_views():
        state = view.state
        run = state.last if state is not None else None
        row: dict[str, Any] = {
            "backup": view.backup,
            "state": "unknown" if run is None else ("up" if run.success else "down"),
            "running": view.running,
            "interval_seconds": view.interval,
            "rto_budget_seconds": view.rto_budget,
            "rpo_budget_seconds": view.rpo_budget,
            "last_success_at": _r(state.last_success_at) if state is not None else None,
            "finished_at": None,
            "reason": None,
            "message": "not run yet",
            "file": None,
            "size_bytes": None,
            "rto_seconds": None,
            "phases": {},
            "newest_row_age_seconds": None,
            "checks": [],
            "report": None,
        }
        if run is not None:
            row.update(
                finished_at=_r(run.finished_at),
                reason=run.reason,
                message=redact(run.message) if not run.success else "all checks passed",
                file=run.file,
                size_bytes=run.size,
                rto_seconds=_r(run.rto),
                phases={k: _r(v) for k, v in run.phases.items()},
                newest_row_age_seconds=_r(run.newest_row_age),
                checks=[
                    {"name": c.name, "status": c.status, "detail": redact(c.detail)}
                    for c in run.checks
                ],
                report=run.report,
            )
        out.append(row)
    return out


def _heartbeats(runtime: Runtime, now: float) -> list[dict[str, Any]]:
    src: HeartbeatSource | None = _source(runtime, "heartbeats")
    if src is None:
        return []
    return [
        {
            "name": job.name,
            "description": job.description,
            "state": _HEARTBEAT_STATE.get(verdict.status, "unknown"),
            "status": verdict.status,
            "last_success_at": st.last_success,
            "next_due_at": verdict.due,
            "grace_seconds": job.grace,
        }
        for job, st, verdict in src.verdicts()
    ]


# --- HTML ----------------------------------------------------------------------------------------

STYLE = """
:root { color-scheme: light; --up: #1a7f37; --degraded: #9a6700; --down: #cf222e;
  --unknown: #6e7781; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  margin: 0; color: #1f2328; background: #f6f8fa; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
h1 { font-size: 24px; margin: 0 0 4px; display: flex; gap: 12px; align-items: center; }
h2 { font-size: 17px; margin: 26px 0 8px; }
.meta { color: var(--muted); margin: 0; }
.launch { margin: 14px 0 0; padding: 8px 12px; border-radius: 6px; background: #ddf4ff;
  border: 1px solid #54aeff; }
.launch.during { background: #fff8c5; border-color: #d4a72c; font-weight: 600; }
.launch.after { background: #f6f8fa; border-color: var(--line); color: var(--muted); }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line);
  border-radius: 6px; }
th, td { text-align: left; padding: 6px 10px; border-top: 1px solid var(--line);
  vertical-align: top; }
th { background: #f6f8fa; font-size: 13px; color: var(--muted); font-weight: 600; }
tr.service td { background: #f6f8fa; border-top: 2px solid var(--line); font-weight: 600; }
tr.service td.desc { font-weight: 400; color: var(--muted); }
td.probe { padding-left: 26px; }
.badge { display: inline-block; min-width: 84px; text-align: center; padding: 1px 8px;
  border-radius: 12px; color: #fff; font-size: 13px; font-weight: 600; }
.s-up { background: var(--up); } .s-degraded { background: var(--degraded); }
.s-down { background: var(--down); } .s-unknown { background: var(--unknown); }
h1 .badge { font-size: 15px; padding: 3px 12px; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.over { color: var(--down); font-weight: 600; }
.detail { color: var(--muted); font-size: 13px; overflow-wrap: anywhere; }
.stale { color: var(--degraded); font-weight: 600; }
meter { width: 90px; height: 10px; vertical-align: middle; margin-right: 6px; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: 13px; padding: 24px 20px 30px; }
a { color: #0969da; }
"""
STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode("ascii")


# Only the page's own stylesheet may apply (by its hash): no script, no other style, nothing
# loaded from anywhere, no form, no framing.
CSP = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _badge(state: str, text: str | None = None) -> str:
    return f'<span class="badge s-{_e(state)}">{_e(text or state)}</span>'


def _utc(ts: float | None) -> str:
    if ts is None:
        return "never"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def span(seconds: float) -> str:
    """A duration as a person reads it: 45 s, 12 min, 3.5 h, 2 d."""
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{seconds / 86400:.0f} d"


def _ago(ts: float | None, now: float) -> str:
    return "never" if ts is None else f"{span(now - ts)} ago"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _latency(p: dict[str, Any]) -> str:
    latency, budget = p["latency_seconds"], p["budget_seconds"]
    if latency is None:
        return '<span class="empty">—</span>'
    if not budget:
        return f'<span class="num">{_ms(latency)}</span> <span class="detail">no budget</span>'
    over = ' class="over"' if latency > budget else ""
    return (
        f'<meter min="0" max="{budget * 2:g}" low="{budget * 0.8:g}" high="{budget:g}" '
        f'optimum="0" value="{min(latency, budget * 2):g}"></meter>'
        f'<span class="num"><span{over}>{_ms(latency)}</span> of {_ms(budget)}</span>'
    )


def _table(head: list[str], rows: list[str], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{_e(empty)}</p>'
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _services_html(snap: dict[str, Any], now: float) -> str:
    rows = []
    for s in snap["services"]:
        rows.append(
            f'<tr class="service" data-service="{_e(s["name"])}" data-state="{_e(s["state"])}">'
            f"<td>{_e(s['name'])}</td><td>{_badge(s['state'])}</td>"
            f'<td class="desc" colspan="3">{_e(s["description"])}</td></tr>'
        )
        for p in s["probes"]:
            detail = p["message"] or ""
            if p["reason"] and p["reason"] != "degraded":
                detail = f"{p['reason']}: {detail}" if detail else p["reason"]
            checked = _ago(p["checked_at"], now)
            if p["stale"]:
                checked = f'<span class="stale">{_e(checked)} (stale)</span>'
            else:
                checked = _e(checked)
            if p["certificate_expiry"] is not None:
                cert = f"certificate valid until {_utc(p['certificate_expiry'])}"
                detail = f"{detail}; {cert}" if detail else cert
            probe_id = f"{s['name']}/{p['name']}"
            rows.append(
                f'<tr data-probe="{_e(probe_id)}" data-state="{_e(p["state"])}">'
                f'<td class="probe">{_e(p["name"])} <span class="detail">{_e(p["kind"])}</span>'
                f"</td><td>{_badge(p['state'])}</td><td>{_latency(p)}</td>"
                f'<td class="num">{checked}</td><td class="detail">{_e(detail)}</td></tr>'
            )
    return _table(
        ["Service / probe", "State", "Latency vs budget", "Checked", "Detail"],
        rows,
        "No service is configured.",
    )


def _vendors_html(snap: dict[str, Any], now: float) -> str:
    rows = []
    for f in snap["vendors"]["feeds"]:
        comps = ", ".join(f"{c['name']}: {c['status'].replace('_', ' ')}" for c in f["components"])
        page = f["indicator"] or "—"
        incidents = "—" if f["incidents_open"] is None else str(f["incidents_open"])
        age = "—" if f["data_age_seconds"] is None else span(f["data_age_seconds"]) + " old"
        rows.append(
            f'<tr data-feed="{_e(f["name"])}" data-state="{_e(f["state"])}">'
            f'<td>{_e(f["name"])} <span class="detail">status feed</span></td>'
            f"<td>{_badge(f['state'])}</td>"
            f"<td>page: {_e(page)}; open incidents: {_e(incidents)}"
            f"{'<br>' + _e(comps) if comps else ''}</td>"
            f'<td class="num">{_e(age)}</td><td class="detail">{_e(f["message"])}</td></tr>'
        )
    for c in snap["vendors"]["checks"]:
        detail = f"{c['reason']}: {c['message']}" if c["reason"] else c["message"]
        rows.append(
            f'<tr data-check="{_e(c["name"])}" data-state="{_e(c["state"])}">'
            f'<td>{_e(c["name"])} <span class="detail">{_e(c["kind"])} API</span></td>'
            f"<td>{_badge(c['state'])}</td>"
            f'<td class="num">{_ms(c["latency_seconds"])}</td>'
            f'<td class="num">{_e(_ago(c["checked_at"], now))}</td>'
            f'<td class="detail">{_e(detail)}</td></tr>'
        )
    return _table(
        ["Vendor", "State", "Status", "Data / checked", "Detail"],
        rows,
        "No vendor feed or check is configured.",
    )


def _backups_html(snap: dict[str, Any], now: float) -> str:
    rows = []
    for b in snap["backups"]:
        newest = "—" if b["newest_age_seconds"] is None else span(b["newest_age_seconds"]) + " old"
        text = b["status"] or "unknown"
        rows.append(
            f'<tr data-backup="{_e(b["name"])}" data-state="{_e(b["state"])}">'
            f'<td>{_e(b["name"])} <span class="detail">{_e(b["kind"])}</span></td>'
            f"<td>{_badge(b['state'], text)}</td>"
            f'<td class="num">{_e(newest)} (max {_e(span(b["max_age_seconds"]))})</td>'
            f'<td class="num">{_e(_ago(b["checked_at"], now))}</td>'
            f'<td class="detail">{_e(b["message"])}</td></tr>'
        )
    return _table(
        ["Backup", "State", "Newest", "Checked", "Detail"], rows, "No backup set is configured."
    )


def _restore_html(snap: dict[str, Any], now: float) -> str:
    rows = []
    for t in snap["restore_tests"]:
        text = {"up": "restored", "down": f"failed: {t['reason']}"}.get(t["state"], "not run yet")
        if t["running"]:
            text += " (running)"
        rto = "—" if t["rto_seconds"] is None else _ms(t["rto_seconds"])
        rpo = t["newest_row_age_seconds"]
        checks = ", ".join(f"{c['name']} {c['status']}" for c in t["checks"])
        rows.append(
            f'<tr data-restore="{_e(t["backup"])}" data-state="{_e(t["state"])}">'
            f"<td>{_e(t['backup'])}</td><td>{_badge(t['state'], text)}</td>"
            f'<td class="num">{_e(rto)} (budget {_e(span(t["rto_budget_seconds"]))})</td>'
            f'<td class="num">{_e("—" if rpo is None else span(rpo))} '
            f"(budget {_e(span(t['rpo_budget_seconds']))})</td>"
            f'<td class="num">{_e(_ago(t["finished_at"], now))}; last success '
            f"{_e(_ago(t['last_success_at'], now))}</td>"
            f'<td class="detail">{_e(t["message"])}{"<br>" + _e(checks) if checks else ""}</td>'
            "</tr>"
        )
    return _table(
        ["Restore test", "Result", "Measured RTO", "Measured RPO", "Ran", "Detail"],
        rows,
        "No restore test is configured.",
    )


def _heartbeats_html(snap: dict[str, Any], now: float) -> str:
    rows = []
    for h in snap["heartbeats"]:
        due = h["next_due_at"]
        if due is None:
            due_text = "—"
        elif due >= now:
            due_text = f"in {span(due - now)}"
        else:
            due_text = f"{span(now - due)} overdue"
        rows.append(
            f'<tr data-heartbeat="{_e(h["name"])}" data-state="{_e(h["state"])}">'
            f"<td>{_e(h['name'])}</td><td>{_badge(h['state'], h['status'])}</td>"
            f'<td class="num">{_e(_ago(h["last_success_at"], now))}</td>'
            f'<td class="num">{_e(due_text)}</td>'
            f'<td class="detail">{_e(h["description"])}</td></tr>'
        )
    return _table(
        ["Job", "State", "Last success", "Next ping due", "Detail"],
        rows,
        "No heartbeat is configured.",
    )


def _launch(launch: LaunchConfig | None, now: float) -> dict[str, Any]:
    if launch is None:
        return {"window": None, "start": None, "end": None, "phase": "none"}
    start, end = launch.bounds()
    return {
        "window": launch.describe(),
        "start": start,
        "end": end,
        "phase": "before" if now < start else ("during" if now < end else "after"),
    }


def _maintenance(config: Config, now: float) -> list[dict[str, Any]]:
    """The config's maintenance windows that are open or still to come (docs/maintenance.md)."""
    out = []
    for window in config.maintenance:
        occurrence = window.current_or_next(now)
        if occurrence is None:
            continue  # a one-off window that is over
        start, end = occurrence
        out.append(
            {
                "name": window.name,
                "services": list(window.services),
                "when": window.describe(),
                "reason": window.reason,
                "start": start,
                "end": end,
                "state": "open" if start <= now else "next",
            }
        )
    return sorted(out, key=lambda w: (w["state"] != "open", w["start"]))


def _maintenance_html(snap: dict[str, Any], now: float) -> str:
    rows = []
    for w in snap["maintenance"]:
        if w["state"] == "open":
            text = (
                f"Maintenance {w['name']} in progress ({', '.join(w['services'])}): "
                f"{w['reason']}; their alerts notify nobody for {span(w['end'] - now)} more."
            )
        else:
            text = (
                f"Maintenance {w['name']} ({', '.join(w['services'])}) starts in "
                f"{span(w['start'] - now)}: {w['reason']} ({w['when']})."
            )
        state = _e(w["state"])
        rows.append(
            f'<p class="launch {"during" if w["state"] == "open" else "before"}" '
            f'data-maintenance="{_e(w["name"])}" data-state="{state}">{_e(text)}</p>'
        )
    return "\n".join(rows)


def _launch_html(snap: dict[str, Any], now: float) -> str:
    launch = snap["launch"]
    phase = launch["phase"]
    if phase == "none":
        text = "No launch planned (launch: in the config sets the next one)."
        return f'<p class="launch after" data-launch="none">{_e(text)}</p>'
    if phase == "before":
        text = f"Launch window {launch['window']}: starts in {span(launch['start'] - now)}."
    elif phase == "during":
        text = (
            f"Launch window in progress ({launch['window']}): warnings page on-call; "
            f"{span(launch['end'] - now)} left."
        )
    else:
        text = f"Launch window {launch['window']}: ended {span(now - launch['end'])} ago."
    return f'<p class="launch {_e(phase)}" data-launch="{_e(phase)}">{_e(text)}</p>'


def render_html(snap: dict[str, Any], config_name: str) -> str:
    now = snap["generated_at"]
    counts = {s: 0 for s in STATES}
    for service in snap["services"]:
        counts[service["state"]] += 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no services"
    last = snap["last_check_at"]
    last_text = f"{_utc(last)} ({_ago(last, now)})" if last else "none yet"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{snap["refresh_seconds"]}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>redline status: {_e(snap["state"])}</title>
<style>{STYLE}</style></head>
<body>
<header>
<h1>Hot Rod AN status {_badge(snap["state"])}</h1>
<p class="meta">Services: {_e(summary)}. Last check: <span id="last-check">{_e(last_text)}</span>.
Page generated {_e(_utc(now))}; it refreshes every {snap["refresh_seconds"]} s.</p>
{_launch_html(snap, now)}
{_maintenance_html(snap, now)}
</header>
<main>
<h2>Services</h2>
{_services_html(snap, now)}
<h2>Vendors</h2>
{_vendors_html(snap, now)}
<h2>Backups</h2>
{_backups_html(snap, now)}
<h2>Restore tests</h2>
{_restore_html(snap, now)}
<h2>Heartbeats</h2>
{_heartbeats_html(snap, now)}
</main>
<footer>redline {_e(snap["version"])}, config {_e(config_name)}. The states are those of the
exporter's latest checks (Prometheus scrapes); this page runs none.
<a href="/status.json">/status.json</a> · <a href="/metrics">/metrics</a></footer>
</body></html>
"""


# --- routes --------------------------------------------------------------------------------------


def routes(runtime: Runtime) -> list[web.RouteDef]:
    """``GET /status`` and ``GET /status.json`` of ``runtime`` (the app's one Runtime, whose
    config and scheduler change in place on reload and restart)."""

    async def handle_status(request: web.Request) -> web.Response:
        body = render_html(snapshot(runtime), runtime.config_name)
        return web.Response(
            text=body,
            content_type="text/html",
            headers={
                "Content-Security-Policy": CSP,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def handle_status_json(request: web.Request) -> web.Response:
        return web.Response(
            text=json.dumps(snapshot(runtime), indent=1),
            content_type="application/json",
            headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
        )

    return [web.get("/status", handle_status), web.get("/status.json", handle_status_json)]
