"""Fault controls of the running demo: ``redline demo break TARGET MODE``, ``redline demo heal
[TARGET]`` and ``redline demo status`` (docs/demo.md).

================  ===================================  ========================================
target            modes                                what breaks
================  ===================================  ========================================
hotdash-app,      slow, failing, down, wrong_version,  the stand-in's fault switch (``POST
agent-service,    degraded                             /_standin/fault``): late answers, HTTP
llamaindex-mcp,                                        500, dropped connections, another
chatwoot, shopify                                      release, unwell
shopify           outage                               Shopify's status page reports a major
                                                       outage of Admin and API & Mobile, and
                                                       its API answers 503
google-analytics  outage                               the Google Ads status dashboard opens
                                                       an incident on Google Analytics
database          down                                 PostgreSQL stops (pg_ctl stop -m fast)
chatwoot-worker   oom                                  the platform stand-in: Chatwoot's worker
                                                       machine runs out of memory and is
                                                       OOM-killed (exit event, exit code 137)
backup-job        down, failing, truncated,            the job stops (no dumps, no pings); its
                  wrong-database                       pg_dump fails and it reports that; it
                                                       writes a cut dump; or a dump of the
                                                       wrong database (exporter/demo/backup_job)
exporter,         down                                 the process stops (SIGTERM)
prometheus
alertmanager-a,   down                                 the peer crashes (SIGKILL), as a
alertmanager-b                                         machine dies
================  ===================================  ========================================

``heal`` undoes a target's fault (all of them without a target): the stand-in back to ``ok``,
the database and the stopped processes started again. A vendor's status page closes its
incident :data:`VENDOR_RECOVERY_LAG` seconds after its API recovers, as real status pages lag
the recovery (``--lag`` changes it).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from exporter.demo import database, layout, run
from exporter.demo.standins import DEFAULT_PORTS, FAULT_MODES


class FaultError(Exception):
    """A fault could not be set or healed; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    name: str
    modes: tuple[str, ...]
    what: str


STANDIN_MODES = tuple(m for m in FAULT_MODES if m != "ok")
STANDIN_SERVICES = ("hotdash-app", "agent-service", "llamaindex-mcp", "chatwoot", "shopify")
PROCESSES = ("exporter", "prometheus", *(p.name for p in layout.ALERTMANAGERS))
# Shopify's status page says the outage is over this long after its API recovered: longer than
# it takes our own Shopify alerts to resolve while VendorComponentDown still silences them: the
# shopify/graphql probe's last failed result is reused for its min_interval (60 s), then the
# shopify-calls SLO's short burn window (30 s in the demo) must clear, plus scrapes and
# evaluations.
VENDOR_RECOVERY_LAG = {"shopify": 120.0, "google": 0.0}
VENDOR_FEEDS = {"shopify": "shopify", "google-analytics": "google"}

TARGETS: dict[str, Target] = {
    **{
        s: Target(s, STANDIN_MODES + (("outage",) if s == "shopify" else ()), "stand-in")
        for s in STANDIN_SERVICES
    },
    "google-analytics": Target("google-analytics", ("outage",), "vendor status page"),
    "database": Target("database", ("down",), "the demo's PostgreSQL"),
    "backup-job": Target(
        "backup-job",
        ("down", "failing", "truncated", "wrong-database"),
        "pg_dump job with a heartbeat",
    ),
    "chatwoot-worker": Target("chatwoot-worker", ("oom",), "Chatwoot's Fly worker machine"),
    **{p: Target(p, ("down",), "process") for p in PROCESSES},
}


# Healing everything: what others depend on first (the backup job pings the exporter and dumps
# the database; the stand-ins check the database).
HEAL_ORDER = (
    "database",
    "exporter",
    *(p.name for p in layout.ALERTMANAGERS),
    "prometheus",
    *STANDIN_SERVICES,
    "google-analytics",
    "backup-job",
    "chatwoot-worker",
)
assert set(HEAL_ORDER) == set(TARGETS)


# --- talking to the stand-ins -----------------------------------------------------------------


def _post(port: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://{layout.HOST}:{port}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
            return answer
    except urllib.error.HTTPError as e:
        raise FaultError(f"{path}: HTTP {e.code}: {e.read().decode(errors='replace')}") from None
    except OSError:
        raise FaultError("the stand-ins do not answer: is the demo running? (make demo)") from None


def _get(port: int, path: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://{layout.HOST}:{port}{path}", timeout=3) as resp:
            answer: dict[str, Any] = json.loads(resp.read())
            return answer
    except (OSError, ValueError):
        return None


def _standin_fault(service: str, mode: str, delay: float | None = None) -> None:
    body: dict[str, Any] = {"mode": mode}
    if delay is not None:
        body["delay"] = delay
    _post(DEFAULT_PORTS[service], "/_standin/fault", body)


def _platform_fault(mode: str) -> None:
    _post(layout.PLATFORM_PORT, "/_standin/fault", {"mode": mode})


def _outage(feed: str, active: bool, lag: float = 0.0) -> None:
    body = {"feed": feed, "active": active, "lag": lag}
    _post(DEFAULT_PORTS["vendor-status"], "/_standin/outage", body)


# --- break and heal -----------------------------------------------------------------------------


def break_(target: str, mode: str, delay: float | None = None) -> str:
    """Put ``target`` into fault ``mode``; a line saying what was done."""
    spec = TARGETS.get(target)
    if spec is None:
        raise FaultError(f"unknown target {target!r}; one of {', '.join(TARGETS)}")
    if mode not in spec.modes:
        raise FaultError(f"{target} has no mode {mode!r}; one of {', '.join(spec.modes)}")
    if target in VENDOR_FEEDS and mode == "outage":
        _outage(VENDOR_FEEDS[target], True)
        if target == "shopify":
            _standin_fault("shopify", "failing")  # the platform is down: its API answers 503
            return "shopify: status page reports a major outage; its API answers 503"
        return f"{target}: the status page reports an outage"
    if target in STANDIN_SERVICES:
        _standin_fault(target, mode, delay)
        return f"{target}: mode {mode}" + (f" ({delay:g}s)" if delay is not None else "")
    if target == "chatwoot-worker":
        _platform_fault("worker-oom")
        return "chatwoot-worker: OOM-killed (exit 137), restarted by its policy"
    if target == "database":
        if database.cluster() is None:
            raise FaultError("the demo's database does not exist: run make demo")
        database.stop("fast")
        return "database: stopped"
    if target == "backup-job":
        if mode == "failing":
            layout.BACKUP_FAULT_FILE.write_text("failing\n")
            return "backup-job: its pg_dump now fails (the job reports it)"
        if mode in ("truncated", "wrong-database"):
            layout.BACKUP_FAULT_FILE.write_text(mode + "\n")
            what = {"truncated": "cut short", "wrong-database": "of the wrong database"}[mode]
            return f"backup-job: its next dumps are {what}, and it does not notice"
        pid = run.stop_component("backup-job")
        return "backup-job: stopped" if pid else "backup-job: was not running"
    crash = target.startswith("alertmanager-")
    pid = run.stop_component(target, crash=crash)
    if pid is None:
        return f"{target}: was not running"
    return f"{target}: {'killed (SIGKILL)' if crash else 'stopped'} (pid {pid})"


def heal(target: str | None = None, lag: float | None = None) -> list[str]:
    """Undo ``target``'s fault, or every fault; a line per thing done."""
    if target is not None and target not in TARGETS:
        raise FaultError(f"unknown target {target!r}; one of {', '.join(TARGETS)}")
    names = [target] if target else list(HEAL_ORDER)
    done = []
    for name in names:
        if name in VENDOR_FEEDS:
            feed = VENDOR_FEEDS[name]
            pages = _get(DEFAULT_PORTS["vendor-status"], "/_standin/state") or {}
            if pages.get("outages", {}).get(feed, {}).get("active"):
                wait = VENDOR_RECOVERY_LAG[feed] if lag is None else lag
                _outage(feed, False, wait)
                done.append(f"{name}: the status page closes its incident in {wait:g}s")
        if name in STANDIN_SERVICES:
            state = _get(DEFAULT_PORTS[name], "/_standin/state")
            if state is None:
                raise FaultError("the stand-ins do not answer: is the demo running? (make demo)")
            if state["fault"]["mode"] != "ok":
                _standin_fault(name, "ok")
                done.append(f"{name}: mode ok")
        elif name == "chatwoot-worker":
            state = _get(layout.PLATFORM_PORT, "/_standin/state")
            if state is not None and state.get("mode") != "ok":
                _platform_fault("ok")
                done.append("chatwoot-worker: memory back to normal")
        elif name == "database":
            if database.cluster() is not None and not database.running():
                database.start()
                done.append("database: started")
        elif name == "backup-job":
            if layout.BACKUP_FAULT_FILE.exists():
                layout.BACKUP_FAULT_FILE.unlink()
                done.append("backup-job: good dumps again")
            done += _restart("backup-job")
        elif name in PROCESSES:
            done += _restart(name)
    return done


def _restart(name: str) -> list[str]:
    if run.running_pid(run.component(name)) is not None:
        return []
    error = run.start_component(name)
    if error:
        raise FaultError(f"{name} did not start: {error}")
    return [f"{name}: started (pid {run.running_pid(run.component(name))})"]


# --- status ---------------------------------------------------------------------------------------


def states() -> dict[str, str]:
    """Every target's state in a few words."""
    out: dict[str, str] = {}
    for name in STANDIN_SERVICES:
        state = _get(DEFAULT_PORTS[name], "/_standin/state")
        if state is None:
            out[name] = "not answering"
            continue
        fault = state["fault"]
        out[name] = "ok" if fault["mode"] == "ok" else f"{fault['mode']}"
        if fault["mode"] == "slow":
            out[name] += f" ({fault['delay']:g}s)"
    vendor = _get(DEFAULT_PORTS["vendor-status"], "/_standin/state") or {}
    for name, feed in VENDOR_FEEDS.items():
        o = vendor.get("outages", {}).get(feed, {})
        if o.get("active"):
            page = "outage on its status page" + (f" until {o['until']}" if o.get("until") else "")
            out[name] = page if name not in out or out[name] == "ok" else f"{out[name]}, {page}"
        else:
            out.setdefault(name, "ok")
    out["database"] = "running" if database.running() else "down"
    job = run.running_pid(run.component("backup-job")) is not None
    try:
        mode = layout.BACKUP_FAULT_FILE.read_text().strip()
    except OSError:
        mode = ""
    out["backup-job"] = ("running" if job else "down") + (
        {"failing": ", pg_dump failing"}.get(mode, f", dumps {mode}") if mode else ""
    )
    for name in PROCESSES:
        out[name] = "running" if run.running_pid(run.component(name)) else "down"
    return out


def _json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError):
        return None


def status_text(notifications: int = 8) -> str:
    """What `redline demo status` prints: every target's state, the alerts Prometheus has
    pending or firing, and the latest notifications at the receiver."""
    lines = ["targets:"]
    for name, state in states().items():
        lines.append(f"  {name:<17} {state}")
    answer = _json(f"{layout.PROMETHEUS_URL}/api/v1/alerts")
    lines.append("alerts in Prometheus:")
    if answer is None:
        lines.append("  (Prometheus does not answer)")
    else:
        for a in sorted(answer["data"]["alerts"], key=lambda a: a["labels"]["alertname"]):
            labels = a["labels"]
            about = ", ".join(
                f"{k}={v}"
                for k, v in sorted(labels.items())
                if k not in ("alertname", "job", "instance", "severity")
            )
            lines.append(
                f"  {a['state']:<8} {labels['alertname']} ({labels.get('severity')}) {about}"
            )
    received = _json(f"{layout.RECEIVER_URL}/notifications")
    lines.append(f"latest notifications ({layout.RECEIVER_URL}/):")
    if received is None:
        lines.append("  (the receiver does not answer)")
    else:
        from exporter.demo.receiver import summary_line

        for entry in received[-notifications:]:
            lines.append("  " + summary_line(entry))
    return "\n".join(lines)
