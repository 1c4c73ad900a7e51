"""``redline drill [SCENARIO]``: scripted failures against the running demo stack, checked end to
end, from the fault to the notification at the receiver and back (docs/failover-testing.md).

A drill:

1. waits until the alerts it is about are quiet (a previous drill may still be resolving) and
   heals what it is about to break;
2. breaks something with the demo's fault controls (exporter/demo/faults.py) and notes the time;
3. watches, once a second and at most ``detect_timeout`` seconds: Prometheus's alerts (pending,
   firing), every Alertmanager peer's alerts (which are inhibited, and by what) and the
   receiver's notifications (which receiver got what, when, from which peer), until every
   expected notification and inhibition has been seen; runs the scenario's ``during`` step (the
   peer drill kills an Alertmanager here), and keeps watching ``hold`` seconds more, so a
   notification that should not come has the time to come;
4. heals and watches until each notification has its resolved notification;
5. checks: each expected alert notified at the right receiver (with its runbook link) within
   its target time, resolved after healing within the target, each expected inhibition seen
   and never notified, the silent alerts never notified, and every notification delivered
   exactly once whatever the number of Alertmanager peers;
6. writes a Markdown report (scenario, expected, observed, times, timeline) to
   ``.demo/drills/``.

Every wait is bounded; a drill never leaves its fault in place (it heals in a ``finally``).
"""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exporter.demo import faults, layout
from exporter.launch.config import MONTHS
from exporter.rules.model import WATCHDOG

POLL = 1.0  # seconds between two looks at Prometheus, the Alertmanagers and the receiver
BASELINE_TIMEOUT = 240.0  # longest wait for the alerts of a scenario to be quiet before it
DUPLICATE_WINDOW = 30.0  # the same notification twice within this is a duplicate, not a repeat
# The speed targets of issue 8, with the demo's intervals.
PAGE_TARGET = 90.0
RESOLVE_TARGET = 120.0


# The receiver that pages (alert_rules/routing.yml's page route): PagerDuty in production.
PAGER = "oncall"
# After the last resolved notice, how long a drill keeps watching for a page that should not
# come (a healed burn-rate alert repeated, a dependent's alert let through as it recovers).
AFTER_HEAL_WATCH = 45.0


# The demo's host alerts are about the machine it runs on, whose load (other test suites, a
# busy CI runner) no drill sets: their pages are listed in the report, not counted.
MACHINE_SERVICES = ("host",)


@dataclass
class PagerLog:
    """The paging receiver's notifications, as the on-call lives them (Drill.pager)."""

    pages: list[tuple[float, str, list[str]]] = field(default_factory=list)
    updates: list[tuple[float, str]] = field(default_factory=list)
    resolved: list[tuple[float, str]] = field(default_factory=list)
    after_heal: list[tuple[float, str, list[str]]] = field(default_factory=list)
    still_open: list[str] = field(default_factory=list)
    # pages about the machine running the demo (MACHINE_SERVICES), not about the drill's fault
    unrelated: list[tuple[float, list[str]]] = field(default_factory=list)


class DrillError(Exception):
    """The drill could not run (the stack is not up); the message says what to do."""


# --- what a scenario expects ------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """Alerts by name and labels; every value is a regular expression matched whole."""

    alertname: str
    labels: Mapping[str, str] = field(default_factory=dict)
    severity: str | None = None
    receiver: str | None = None  # where routing.yml sends it (the demo's webhook path)
    within: float | None = None  # target seconds from the fault to the notification
    resolves: bool = True  # a resolved notification must follow the healing
    # a time interval of alert_rules/routing.yml the route is active in (business-hours):
    # outside it the alert must fire but not be notified
    active_in: str | None = None
    baseline: bool = True  # must be quiet before the fault (not Watchdog: it always fires)
    # the heal target that ends it, for a scenario that heals its faults in turn
    healed_by: str | None = None

    def matches(self, labels: Mapping[str, str]) -> bool:
        if not re.fullmatch(self.alertname, labels.get("alertname", "")):
            return False
        if self.severity is not None and labels.get("severity") != self.severity:
            return False
        return all(re.fullmatch(v, labels.get(k, "")) for k, v in self.labels.items())

    def text(self) -> str:
        labels = dict(self.labels)
        if self.severity:
            labels["severity"] = self.severity
        inner = ", ".join(f'{k}="{v}"' for k, v in labels.items())
        return f"{self.alertname}{{{inner}}}" if inner else self.alertname


@dataclass(frozen=True)
class Fault:
    target: str
    mode: str
    delay: float | None = None

    def text(self) -> str:
        return f"{self.target} {self.mode}" + (f" ({self.delay:g}s)" if self.delay else "")


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    why: str  # what the drill rehearses
    faults: tuple[Fault, ...]
    heal: tuple[str, ...]
    notified: tuple[Expect, ...]  # must reach their receiver, then resolve after healing
    inhibited: tuple[Expect, ...] = ()  # must fire and be inhibited, never notified
    silent: tuple[Expect, ...] = ()  # must never be notified
    fired: tuple[Expect, ...] = ()  # must fire in Prometheus (notified or not)
    resolve_within: float | None = RESOLVE_TARGET
    detect_timeout: float = 180.0
    resolve_timeout: float = 180.0
    hold: float = 10.0
    # paging incidents the on-call must get (None: one per expected notification to the pager)
    pages: int | None = None
    # heal the targets one at a time, each once the resolved notices of the one before came,
    # so each incident is seen resolving on its own
    heal_in_turn: bool = False
    during: Callable[[Drill], None] | None = None  # once the expected notifications arrived
    after: Callable[[Drill], None] | None = None  # once the resolved notifications arrived


# --- the stack and what it says ---------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    prometheus: str = layout.PROMETHEUS_URL
    alertmanagers: tuple[tuple[str, str], ...] = tuple(
        (p.name, p.url) for p in layout.ALERTMANAGERS
    )
    receiver: str = layout.RECEIVER_URL


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return bool(resp.status == 200)
    except (OSError, ValueError):
        return False


def _key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _fmt(labels: Mapping[str, str], skip: tuple[str, ...] = ("job", "instance", "cluster")) -> str:
    inner = ", ".join(
        f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "alertname" and k not in skip
    )
    return f"{labels.get('alertname', '?')}{{{inner}}}"


@dataclass
class Seen:
    """An alert as Prometheus showed it during the drill."""

    labels: dict[str, str]
    pending: float | None = None
    firing: float | None = None


@dataclass
class Check:
    check: str
    expected: str
    observed: str
    ok: bool
    seconds: float | None = None  # the measured time, when the check is about one
    target: float | None = None

    def row(self) -> str:
        took = f"{self.seconds:.1f} s" if self.seconds is not None else ""
        target = f"≤ {self.target:g} s" if self.target is not None else ""
        cells = [self.check, self.expected, self.observed, took, target]
        cells = [c.replace("|", "\\|") for c in cells]
        return "| " + " | ".join(cells) + f" | {'pass' if self.ok else '**FAIL**'} |"


class Drill:
    """One run of a scenario: what was seen, when, and the verdict."""

    def __init__(self, scenario: Scenario, stack: Stack | None = None) -> None:
        self.scenario = scenario
        self.stack = stack or Stack()
        self.started = time.time()
        self.t_fault = 0.0
        self.t_heal: float | None = None  # when the last fault was healed
        self.t_healed: dict[str, float] = {}  # heal target -> when
        self.t_end: float | None = None
        self.seen: dict[tuple[tuple[str, str], ...], Seen] = {}
        # alert -> (first seen inhibited, labels, peer, whether it started after the fault)
        self.inhibited: dict[Any, tuple[float, dict[str, str], str, bool]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.events: list[tuple[float, str]] = []
        self.checks: list[Check] = []
        self.notes: list[str] = []
        self.killed_peer: str | None = None
        self._next_poll = 0.0

    # --- watching ---------------------------------------------------------------------------

    def event(self, text: str, when: float | None = None) -> None:
        self.events.append((time.time() if when is None else when, text))

    def poll(self, snapshot: bool = False) -> None:
        """Look once at Prometheus, every Alertmanager and the receiver. ``snapshot``: only note
        the alerts already active before the fault, without events."""
        now = time.time()
        try:
            alerts = _get(f"{self.stack.prometheus}/api/v1/alerts")["data"]["alerts"]
        except (OSError, ValueError, KeyError):
            alerts = []
        for a in alerts:
            labels = a["labels"]
            seen = self.seen.setdefault(_key(labels), Seen(labels))
            if seen.pending is None:
                seen.pending = now
                if a["state"] == "pending" and not snapshot:
                    self.event(f"Prometheus: {_fmt(labels)} pending", now)
            if a["state"] == "firing" and seen.firing is None:
                seen.firing = now
                if not snapshot:
                    self.event(f"Prometheus: {_fmt(labels)} firing", now)
        if snapshot:
            return
        for peer, url in self.stack.alertmanagers:
            try:
                am_alerts = _get(f"{url}/api/v2/alerts", timeout=3)
            except (OSError, ValueError):
                continue  # a peer the drill killed, or one still starting
            for a in am_alerts:
                if a["status"]["inhibitedBy"] and _key(a["labels"]) not in self.inhibited:
                    new = not self.before_fault(a)
                    self.inhibited[_key(a["labels"])] = (now, a["labels"], peer, new)
                    since = "" if new else " (active since before the fault)"
                    self.event(f"{peer}: {_fmt(a['labels'])} inhibited{since}", now)
        try:
            received = _get(f"{self.stack.receiver}/notifications?since={self.t_fault}")
        except (OSError, ValueError):
            received = []
        known = {(n["received_at"], n["receiver"]) for n in self.notifications}
        for n in received:
            if (n["received_at"], n["receiver"]) in known:
                continue
            self.notifications.append(n)
            payload = n["payload"]
            names = ", ".join(sorted({_fmt(a["labels"]) for a in payload["alerts"]}))
            self.event(
                f"receiver: {payload['status'].upper()} to {n['receiver']} from "
                f"{payload.get('externalURL', '?')}: {names}",
                n["received_at"],
            )

    def watch(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Poll for at most ``seconds``; True as soon as ``until`` holds (never without one)."""
        deadline = time.time() + seconds
        while True:
            wait = self._next_poll - time.time()
            if wait > 0:
                time.sleep(wait)
            self._next_poll = time.time() + POLL
            self.poll()
            if until is not None and until():
                return True
            if time.time() >= deadline:
                return False

    # --- what the notifications say ---------------------------------------------------------

    def deliveries(
        self, e: Expect, status: str, after: float = 0.0, new_only: bool = False
    ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(notification, its alerts matching ``e`` with ``status``) from ``after`` on;
        ``new_only``: leaving out alerts that started before the fault (a previous drill's)."""
        out = []
        for n in self.notifications:
            if n["received_at"] < after:
                continue
            hits = [
                a
                for a in n["payload"]["alerts"]
                if a["status"] == status
                and e.matches(a["labels"])
                and not (new_only and self.before_fault(a))
            ]
            if hits:
                out.append((n, hits))
        return out

    def before_fault(self, alert: Mapping[str, Any]) -> bool:
        """The alert was active before the fault: another cause's (a previous drill's)."""
        return _started(alert) < self.t_fault - 1.0

    def expected_notified(self) -> list[Expect]:
        """The notified expectations whose route is active now (business hours, ...)."""
        return [e for e in self.scenario.notified if _route_active(e, self.t_fault)]

    def muted(self) -> list[Expect]:
        return [e for e in self.scenario.notified if not _route_active(e, self.t_fault)]

    def outage_seen(self) -> bool:
        s = self.scenario
        notified = all(self.deliveries(e, "firing", self.t_fault) for e in self.expected_notified())
        held = [labels for _, labels, _, new in self.inhibited.values() if new]
        inhibited = all(any(e.matches(lb) for lb in held) for e in s.inhibited)
        fired = all(
            any(e.matches(x.labels) and x.firing for x in self.seen.values())
            for e in (*s.fired, *self.muted())
        )
        return notified and inhibited and fired

    def healed_at(self, e: Expect) -> float:
        """When the fault that ends ``e`` was healed (the last heal, unless it names its own)."""
        assert self.t_heal is not None
        return self.t_healed.get(e.healed_by or "", self.t_heal)

    def resolved_seen(self) -> bool:
        return all(
            self.deliveries(e, "resolved", self.healed_at(e))
            for e in self.expected_notified()
            if e.resolves
        )

    def scraping(self) -> bool:
        """Prometheus scrapes every exporter and has its probe results (a stack just started
        has not yet)."""
        query = urllib.parse.quote('min(up{job="redline"}) == 1 and on () count(probe_success) > 0')
        try:
            answer = _get(f"{self.stack.prometheus}/api/v1/query?query={query}")
        except (OSError, ValueError):
            return False
        return bool(answer.get("data", {}).get("result"))

    def clustered(self) -> bool:
        """Every Alertmanager peer answers and its gossip has settled with all the others (the
        game day's precondition too: alertmanager_cluster_members equals the peers). Before
        that, each peer can send the same notification: a duplicate page the drill would
        blame on the rules."""
        peers = len(self.stack.alertmanagers)
        for _, url in self.stack.alertmanagers:
            try:
                cluster = _get(f"{url}/api/v2/status", timeout=3).get("cluster", {})
            except (OSError, ValueError, AttributeError):
                return False
            if cluster.get("status") != "ready" or len(cluster.get("peers") or []) != peers:
                return False
        return True

    def quiet(self) -> bool:
        s = self.scenario
        watched = [e for e in (*s.notified, *s.inhibited, *s.fired) if e.baseline]
        try:
            alerts = _get(f"{self.stack.prometheus}/api/v1/alerts")["data"]["alerts"]
        except (OSError, ValueError, KeyError):
            return False
        return not any(e.matches(a["labels"]) for a in alerts for e in watched)

    # --- running ------------------------------------------------------------------------------

    def preflight(self) -> None:
        if not _ready(f"{self.stack.prometheus}/-/ready") or not _ready(
            f"{self.stack.receiver}/-/ready"
        ):
            raise DrillError("the demo stack is not running: start it with `make demo`")
        if not any(_ready(f"{url}/-/ready") for _, url in self.stack.alertmanagers):
            raise DrillError("no Alertmanager answers: `redline demo heal`, or `make demo`")
        for line in faults.heal(None):
            self.notes.append(f"before the drill: {line}")
        deadline = time.time() + BASELINE_TIMEOUT
        while not (self.scraping() and self.quiet() and self.clustered()):
            if time.time() > deadline:
                raise DrillError(
                    f"Prometheus does not scrape the exporter, the Alertmanager peers do not "
                    f"see each other, or the alerts of {self.scenario.name} did not go quiet, "
                    f"within {BASELINE_TIMEOUT:.0f}s "
                    "(see `redline demo status`)"
                )
            time.sleep(POLL)
        self.poll(snapshot=True)

    def run(self, log: Callable[[str], None] = print) -> Drill:
        s = self.scenario
        self.preflight()
        self.t_fault = time.time()
        try:
            for f in s.faults:
                self.event(f"fault: {faults.break_(f.target, f.mode, f.delay)}")
            log(f"  fault: {', '.join(f.text() for f in s.faults)}; watching")
            if not self.watch(s.detect_timeout, self.outage_seen):
                self.notes.append(
                    f"not everything expected was seen within {s.detect_timeout:.0f}s of the fault"
                )
            if s.during is not None:
                s.during(self)
            self.watch(s.hold)
        finally:
            if not s.heal_in_turn:
                self.t_heal = time.time()
            for target in () if s.heal_in_turn else s.heal:
                self.t_healed[target] = self.t_heal or time.time()
                for line in faults.heal(target):
                    self.event(f"heal: {line}")
            if s.heal_in_turn:
                try:
                    self._heal_in_turn(log)
                finally:
                    for target in s.heal:  # whatever stopped the turns, nothing stays broken
                        if target not in self.t_healed:
                            self.t_healed[target] = time.time()
                            faults.heal(target)
                    self.t_heal = max(self.t_healed.values())
        assert self.t_heal is not None
        log(f"  healed after {self.t_heal - self.t_fault:.0f}s; waiting for the resolved notices")
        if not self.watch(s.resolve_timeout, self.resolved_seen):
            self.notes.append(
                f"not every resolved notification came within {s.resolve_timeout:.0f}s"
            )
        if s.after is not None:
            s.after(self)
        # every paged group closed (a group's last alert may resolve after the expected ones),
        # then a duplicate of the last notification, or a page that should not come after
        # healing (a repeat, a recovering dependent), would come within AFTER_HEAL_WATCH
        self.watch(s.resolve_timeout, lambda: not self.pager().still_open)
        self.watch(AFTER_HEAL_WATCH)
        self.t_end = time.time()
        self.evaluate()
        return self

    def _heal_in_turn(self, log: Callable[[str], None]) -> None:
        """Heal each target, then watch until the resolved notices of what it ended came (or
        the resolve timeout), before the next: every fault is healed, whatever happens."""
        s = self.scenario
        for i, target in enumerate(s.heal):
            self.t_healed[target] = time.time()
            for line in faults.heal(target):
                self.event(f"heal: {line}")
            ended = [e for e in self.expected_notified() if e.healed_by == target and e.resolves]
            if i + 1 < len(s.heal):
                log(f"  healed {target}; waiting for its resolved notices")
                since = self.t_healed[target]

                def resolved(ended: list[Expect] = ended, since: float = since) -> bool:
                    # the whole paged group closed, not only one of its alerts resolved
                    return all(
                        self.deliveries(e, "resolved", since) and self.closed_at(e) is not None
                        for e in ended
                    )

                self.watch(s.resolve_timeout, resolved)
        self.t_heal = time.time() if not self.t_healed else max(self.t_healed.values())

    # --- what the on-call got ---------------------------------------------------------------

    def pager(self) -> PagerLog:
        """The notifications of the paging receiver, as the on-call lives them: a page is a
        firing notification of a group with no open incident (PagerDuty opens one per group:
        its dedup key is the group key); a firing notification of a group already paged is an
        update of that incident (an alert joined or left it), except a repeat of the same
        alerts, which pages again; a resolved notification closes it. Alerts active before the
        fault (another cause's) and Watchdog are left out."""
        out = PagerLog()
        open_: dict[str, set[str]] = {}
        for n in sorted(self.notifications, key=lambda n: n["received_at"]):
            if n["receiver"] != PAGER:
                continue
            alerts = [
                a
                for a in n["payload"]["alerts"]
                if not self.before_fault(a) and a["labels"].get("alertname") != WATCHDOG
            ]
            mine = [a for a in alerts if a["labels"].get("service") not in MACHINE_SERVICES]
            if alerts and not mine:
                out.unrelated.append((n["received_at"], sorted(_fmt(a["labels"]) for a in alerts)))
            alerts = mine
            if not alerts:
                continue
            key = str(n["payload"].get("groupKey", ""))
            firing = {_fmt(a["labels"]) for a in alerts if a["status"] == "firing"}
            t = n["received_at"]
            after = self.t_heal is not None and t >= self.t_heal
            if n["payload"]["status"] == "resolved":
                if key in open_:
                    out.resolved.append((t, key))
                    del open_[key]
                continue
            if key not in open_ or firing == open_[key]:
                out.pages.append((t, key, sorted(firing)))
                if after:
                    out.after_heal.append((t, key, sorted(firing)))
            else:
                out.updates.append((t, key))
            open_[key] = firing
        out.still_open = sorted(open_)
        return out

    def closed_at(self, e: Expect) -> float | None:
        """When the last paging group holding an alert of ``e`` got its resolved notification
        (the incident closed); None while one is open."""
        last: dict[str, tuple[str, float]] = {}
        mine: set[str] = set()
        for n in sorted(self.notifications, key=lambda n: n["received_at"]):
            if n["receiver"] != PAGER:
                continue
            key = str(n["payload"].get("groupKey", ""))
            if any(e.matches(a["labels"]) for a in n["payload"]["alerts"]):
                mine.add(key)
            last[key] = (n["payload"]["status"], n["received_at"])
        if not mine or any(last[k][0] != "resolved" for k in mine):
            return None
        return max(last[k][1] for k in mine)

    def expected_pages(self) -> int:
        if self.scenario.pages is not None:
            return self.scenario.pages
        return sum(1 for e in self.expected_notified() if e.receiver == PAGER)

    # --- the verdict ------------------------------------------------------------------------

    def evaluate(self) -> None:
        s = self.scenario
        assert self.t_heal is not None
        checks = self.checks
        for e in self.expected_notified():
            got = self.deliveries(e, "firing", self.t_fault)
            target = e.within
            where = f" at {e.receiver}" if e.receiver else ""
            if not got:
                checks.append(
                    Check("notified", f"{e.text()}{where}", "no notification", False, None, target)
                )
            else:
                n, hits = got[0]
                took = n["received_at"] - self.t_fault
                runbook = hits[0].get("annotations", {}).get("runbook_url", "")
                right = e.receiver is None or n["receiver"] == e.receiver
                ok = right and bool(runbook) and (target is None or took <= target)
                observed = (
                    f"{len(hits)} alert(s) to {n['receiver']} from "
                    f"{n['payload'].get('externalURL', '?')}; runbook {runbook or 'missing'}"
                )
                checks.append(Check("notified", f"{e.text()}{where}", observed, ok, took, target))
            if e.resolves:
                res = self.deliveries(e, "resolved", self.healed_at(e))
                if not res:
                    checks.append(
                        Check(
                            "resolved",
                            e.text(),
                            "no resolved notification",
                            False,
                            None,
                            s.resolve_within,
                        )
                    )
                else:
                    took = res[0][0]["received_at"] - self.healed_at(e)
                    ok = s.resolve_within is None or took <= s.resolve_within
                    observed = f"resolved to {res[0][0]['receiver']}"
                    checks.append(Check("resolved", e.text(), observed, ok, took, s.resolve_within))
        for e in self.muted():
            fired = any(e.matches(x.labels) and x.firing for x in self.seen.values())
            sent = self.deliveries(e, "firing", self.t_fault, new_only=True)
            checks.append(
                Check(
                    "muted",
                    f"{e.text()} fires; its route is outside {e.active_in}: not notified",
                    f"{'fired' if fired else 'did not fire'}; {len(sent)} notification(s)",
                    fired and not sent,
                )
            )
        for e in s.inhibited:
            inhibited = [
                (t, lb, p) for t, lb, p, new in self.inhibited.values() if new and e.matches(lb)
            ]
            sent = self.deliveries(e, "firing", self.t_fault, new_only=True)
            if inhibited:
                t, lb, peer = min(inhibited, key=lambda x: x[0])
                observed = f"{_fmt(lb)} inhibited on {peer}; {len(sent)} notification(s)"
                checks.append(Check("inhibited", e.text(), observed, not sent, t - self.t_fault))
            else:
                checks.append(Check("inhibited", e.text(), "never seen inhibited", False))
        for e in s.silent:
            sent = self.deliveries(e, "firing", self.t_fault, new_only=True)
            names = sorted({_fmt(a["labels"]) for _, hits in sent for a in hits})
            observed = "none" if not sent else f"{len(sent)} notification(s): {', '.join(names)}"
            checks.append(Check("silent", f"{e.text()} never notified", observed, not sent))
        for e in s.fired:
            first = [x.firing for x in self.seen.values() if e.matches(x.labels) and x.firing]
            took = min(first) - self.t_fault if first else None
            checks.append(
                Check("fired", e.text(), "firing" if first else "never fired", bool(first), took)
            )
        checks.extend(self.pager_checks())
        for e in self.expected_notified():
            if e.healed_by is None or not e.resolves:
                continue
            healed = self.t_healed.get(e.healed_by)
            early = [
                n
                for n, _ in self.deliveries(e, "resolved", self.t_fault)
                if healed is None or n["received_at"] < healed
            ]
            closed = self.closed_at(e)
            after = healed is not None and closed is not None and closed >= healed
            took = closed - healed if after and closed is not None and healed else None
            # the others' faults still in place when it closed: it resolved on its own
            others = [t for target, t in self.t_healed.items() if target != e.healed_by]
            alone = closed is not None and all(closed < t or t < (healed or 0) for t in others)
            checks.append(
                Check(
                    "resolved on its own",
                    f"{e.text()}: its page closed after {e.healed_by} healed, before the "
                    "faults healed after it",
                    f"{len(early)} resolved notice(s) before its healing; "
                    + ("closed" if closed else "not closed")
                    + ("" if alone else ", after a later healing"),
                    not early and after and alone,
                    took,
                    s.resolve_within,
                )
            )
        dupes = self.duplicates()
        peers = len(self.stack.alertmanagers)
        checks.append(
            Check(
                "exactly once",
                f"every notification delivered once ({peers} Alertmanager peers)",
                f"{len(self.notifications)} notification(s), "
                + ("no duplicate" if not dupes else f"{len(dupes)} duplicate(s): {dupes}"),
                not dupes,
            )
        )

    def pager_checks(self) -> list[Check]:
        """What the on-call experienced: exactly the expected pages, each resolved once, and
        nothing paging after the healing."""
        log = self.pager()
        want = self.expected_pages()
        pages = ", ".join(
            f"+{t - self.t_fault:.1f} s {' '.join(names)}" for t, _, names in log.pages
        )
        heal = self.t_heal or self.t_fault
        resolved = ", ".join(f"+{t - heal:.1f} s after healing" for t, _ in log.resolved)
        first = log.pages[0][0] - self.t_fault if log.pages else None
        last = max((t for t, _ in log.resolved), default=None)
        return [
            Check(
                "pages",
                f"{want} page(s) to {PAGER}",
                f"{len(log.pages)} page(s){': ' + pages if pages else ''}"
                + (f"; {len(log.updates)} update(s) of an open page" if log.updates else ""),
                len(log.pages) == want,
                first,
            ),
            Check(
                "pages resolved",
                f"{want} resolved notice(s) to {PAGER}",
                f"{len(log.resolved)}{': ' + resolved if resolved else ''}"
                + (f"; still open: {', '.join(log.still_open)}" if log.still_open else ""),
                len(log.resolved) == want and not log.still_open,
                None if last is None else last - heal,
            ),
            Check(
                "pages after heal",
                f"0 pages to {PAGER} after healing "
                f"(watched until +{(self.t_end or heal) - heal:.0f} s)",
                "none"
                if not log.after_heal
                else "; ".join(
                    f"+{t - heal:.1f} s {' '.join(names)}" for t, _, names in log.after_heal
                ),
                not log.after_heal,
            ),
        ]

    def duplicates(self) -> list[str]:
        """Notifications that arrived twice: same receiver, group, status and alerts, within
        :data:`DUPLICATE_WINDOW` (a repeat_interval repeat is later than that)."""
        seen: dict[Any, float] = {}
        out = []
        for n in sorted(self.notifications, key=lambda n: n["received_at"]):
            p = n["payload"]
            alerts = tuple(
                sorted((a.get("fingerprint", ""), a["status"], a["startsAt"]) for a in p["alerts"])
            )
            key = (n["receiver"], p.get("groupKey"), p["status"], alerts)
            if key in seen and n["received_at"] - seen[key] < DUPLICATE_WINDOW:
                out.append(f"{p['status']} to {n['receiver']} ({p.get('groupKey')})")
            seen[key] = n["received_at"]
        return out

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def times(self) -> dict[str, float]:
        """The measured times by check and alert, for tests and summaries."""
        return {f"{c.check} {c.expected}": c.seconds for c in self.checks if c.seconds is not None}

    def others(self) -> list[dict[str, Any]]:
        """Notifications the scenario did not expect (Watchdog left out)."""
        s = self.scenario
        expected = (*s.notified, *s.inhibited, *s.silent, Expect(WATCHDOG))
        return [
            n
            for n in self.notifications
            if not any(e.matches(a["labels"]) for a in n["payload"]["alerts"] for e in expected)
        ]

    def residue(self) -> list[str]:
        """Alerts notified during the drill that were active before its fault."""
        return sorted(
            {
                f"{_fmt(a['labels'])} ({a['status']})"
                for n in self.notifications
                for a in n["payload"]["alerts"]
                if self.before_fault(a) and a["labels"].get("alertname") != WATCHDOG
            }
        )

    # --- the report -------------------------------------------------------------------------

    def report(self) -> str:
        s = self.scenario
        assert self.t_heal is not None and self.t_end is not None
        verdict = "PASS" if self.passed else "FAIL"
        passed = sum(c.ok for c in self.checks)
        lines = [
            f"# Drill `{s.name}`: {s.title}",
            "",
            f"- **result: {verdict}** ({passed} of {len(self.checks)} checks)",
            f"- run: {_utc(self.t_fault)} UTC, {self.t_end - self.t_fault:.0f} s in all",
            f"- rehearses: {s.why}",
            f"- fault: {', '.join(f.text() for f in s.faults)} at +0.0 s",
            f"- healed: {', '.join(s.heal)} at +{self.t_heal - self.t_fault:.1f} s",
            f"- settings: {settings_text(s)}",
            f"- speed targets: paged within {PAGE_TARGET:g} s of the fault, "
            + (
                f"resolved within {s.resolve_within:g} s of healing"
                if s.resolve_within is not None
                else "no resolution target"
            ),
            "",
            "## Expected and observed",
            "",
            "| check | expected | observed | time | target | result |",
            "|---|---|---|---|---|---|",
            *(c.row() for c in self.checks),
        ]
        if self.notes:
            lines += ["", "## Notes", "", *(f"- {n}" for n in self.notes)]
        lines += ["", "## Inhibited in Alertmanager", ""]
        if self.inhibited:
            for t, labels, peer, new in sorted(self.inhibited.values(), key=lambda x: x[0]):
                since = "" if new else ", active since before the fault"
                lines.append(f"- +{t - self.t_fault:.1f} s {_fmt(labels)} (seen on {peer}{since})")
        else:
            lines.append("- none")
        residue = self.residue()
        if residue:
            lines += [
                "",
                "Notified during the drill but active since before its fault (another cause's, "
                "left out of the checks):",
                "",
                *(f"- {r}" for r in residue),
            ]
        unrelated = self.pager().unrelated
        if unrelated:
            lines += [
                "",
                "Pages about the machine running the demo (host alerts: its load is not the "
                "drill's fault; not counted):",
                "",
                *(f"- +{t - self.t_fault:.1f} s {' '.join(names)}" for t, names in unrelated),
            ]
        lines += ["", "## Other notifications during the drill", ""]
        others = self.others()
        if others:
            for n in others:
                names = ", ".join(sorted({_fmt(a["labels"]) for a in n["payload"]["alerts"]}))
                lines.append(
                    f"- +{n['received_at'] - self.t_fault:.1f} s "
                    f"{n['payload']['status']} to {n['receiver']}: {names}"
                )
        else:
            lines.append("- none")
        lines += ["", "## Timeline", "", "| time | event |", "|---|---|"]
        for t, text in sorted(self.events, key=lambda e: e[0]):
            lines.append(f"| +{t - self.t_fault:.1f} s | {text.replace('|', chr(92) + '|')} |")
        return "\n".join(lines) + "\n"


def _started(alert: Mapping[str, Any]) -> float:
    """An Alertmanager alert's startsAt as unix time (Go writes up to nanoseconds)."""
    text = str(alert.get("startsAt", ""))
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if match is None:
        return 0.0
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    base = datetime.fromisoformat(match.group(1) + zone).timestamp()
    return base + float("0" + (match.group(2) or ""))


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- time intervals of routing.yml ------------------------------------------------------------

_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _in_ranges(value: int, ranges: tuple[str, ...], names: Sequence[str] | None = None) -> bool:
    """``value`` (1-based) within one of Alertmanager's ranges (``monday:friday``, ``13:15``,
    ``2025``); no ranges means any value."""

    def number(text: str) -> int:
        text = text.strip().lower()
        return names.index(text) + 1 if names and text in names else int(text)

    if not ranges:
        return True
    for r in ranges:
        lo, _, hi = r.partition(":")
        if number(lo) <= value <= number(hi or lo):
            return True
    return False


def interval_active(name: str, when: float) -> bool:
    """Whether routing.yml's time interval ``name`` holds at ``when`` (weekdays, times,
    days of month, months, years and location: what routing.yml uses)."""
    from exporter.rules import stackmodel

    spec = stackmodel.load(layout.repo()).routing
    for ti in spec.time_intervals.get(name, ()):
        zone = zoneinfo.ZoneInfo(ti.location or "UTC")
        local = datetime.fromtimestamp(when, zone)
        minute = local.hour * 60 + local.minute
        times_ok = not ti.times or any(
            _minutes(t.start_time) <= minute < _minutes(t.end_time) for t in ti.times
        )
        if (
            times_ok
            and _in_ranges(local.isoweekday(), ti.weekdays, _DAYS)
            and _in_ranges(local.day, ti.days_of_month)
            and _in_ranges(local.month, ti.months, MONTHS)
            and _in_ranges(local.year, ti.years)
        ):
            return True
    return False


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _route_active(e: Expect, when: float) -> bool:
    return e.active_in is None or interval_active(e.active_in, when)


# --- the demo's settings, for the report ------------------------------------------------------


def settings_text(s: Scenario) -> str:
    """The demo profile's intervals and the ``for`` of the alerts the scenario is about."""
    from exporter.rules import stackmodel
    from exporter.rules.demo import profile

    demo = profile("demo")
    assert demo is not None
    model = stackmodel.load(layout.repo())
    alerts = demo.alerts(model.alerts, model.stack.evaluation_interval)
    routing = demo.routing(model.routing)
    fors = []
    for e in (*s.notified, *s.inhibited, *s.fired):
        spec = alerts.alerts.get(e.alertname)
        if spec is None:
            continue
        for severity, level in spec.levels().items():
            if e.severity in (None, severity):
                text = f"{e.alertname} {severity} for {level.for_}"
                if text not in fors:
                    fors.append(text)
    d = routing.defaults
    return (
        f"scrape and evaluation every {demo.scrape_interval}; {'; '.join(fors)}; "
        f"group_wait {d.group_wait}, group_interval {d.group_interval} (the demo profile, "
        f"exporter/rules/demo.py: production's `for` are {int(1 / demo.alert_time)} times "
        f"longer, Alertmanager's waits {int(1 / demo.routing_time)} times)"
    )


# --- the scenarios ----------------------------------------------------------------------------

DEPENDENTS = "hotdash-app|agent-service|chatwoot|llamaindex-mcp"  # routing.yml: on the database
ALERT_BURN = "SLOErrorBudgetBurn"


def _kill_sending_peer(drill: Drill) -> None:
    """Kill the Alertmanager that delivered the page, during the outage."""
    e = drill.scenario.notified[0]
    got = drill.deliveries(e, "firing", drill.t_fault)
    sender = got[0][0]["payload"].get("externalURL", "") if got else ""
    peer = next((p for p in layout.ALERTMANAGERS if sender.rstrip("/") == p.url), None)
    peer = peer or layout.ALERTMANAGERS[0]
    drill.killed_peer = peer.name
    drill.event(f"fault: {faults.break_(peer.name, 'down')} (it sent the page)")


def _restart_peer_and_watch(drill: Drill) -> None:
    """Start the killed peer again and watch for a minute: Prometheus resends every firing alert
    to it (the demo's resend delay is 1 s), the peer learns by gossip what was sent and sends
    nothing a second time, and what inhibits arrives before a new page's group_wait ends."""
    if drill.killed_peer is None:
        return
    for line in faults.heal(drill.killed_peer):
        drill.event(f"heal: {line}")
    drill.watch(65.0)
    e = drill.scenario.notified[0]
    # to the page's own receiver: the escalation receiver gets its copy of an unresolved page
    # after the acknowledgement time, which is not a second page
    firing = [d for d in drill.deliveries(e, "firing", drill.t_fault) if _to(d[0], e)]
    resolved = [d for d in drill.deliveries(e, "resolved", drill.t_fault) if _to(d[0], e)]
    senders = [n["payload"].get("externalURL", "?") for n, _ in (*firing, *resolved)]
    drill.checks.append(
        Check(
            "one peer down",
            f"page and resolved notice each once, with {drill.killed_peer} killed in between",
            f"{len(firing)} firing, {len(resolved)} resolved; sent by {', '.join(senders)}",
            len(firing) == 1 and len(resolved) == 1,
        )
    )


def _to(notification: Mapping[str, Any], e: Expect) -> bool:
    """The notification went to ``e``'s receiver (any, when ``e`` names none)."""
    return e.receiver is None or notification["receiver"] == e.receiver


def _scenarios() -> dict[str, Scenario]:
    agent_down = Expect(
        "ServiceDown", {"service": "agent-service"}, "page", "oncall", within=PAGE_TARGET
    )
    out = [
        Scenario(
            "service-down",
            "a service down",
            "agent-service stops answering (connections dropped): on-call is paged with the "
            "runbook, and told when it is back",
            (Fault("agent-service", "down"),),
            ("agent-service",),
            notified=(agent_down,),
            # its SLO burns with it: held back by ServiceDown, and by OutageWindow as it heals
            inhibited=(Expect(ALERT_BURN, {"service": "agent-service"}, "page"),),
            silent=(
                Expect("ServiceLatencyHigh", {"service": "agent-service"}),
                Expect(ALERT_BURN, {"service": "agent-service"}),
            ),
        ),
        Scenario(
            "service-slow",
            "a service slow past its budget",
            "agent-service answers in 1.5 s: its /health p95 is past the 1 s page budget and "
            "its queue API past the 1 s ticket budget; the page silences the ticket of the same "
            "probe, and nothing says it is down",
            (Fault("agent-service", "slow", 1.5),),
            ("agent-service",),
            notified=(
                Expect(
                    "ServiceLatencyHigh",
                    {"service": "agent-service", "probe": "health"},
                    "page",
                    "oncall",
                ),
                Expect(
                    "ServiceLatencyHigh",
                    {"service": "agent-service", "probe": "queue"},
                    "ticket",
                    "services",
                ),
            ),
            inhibited=(
                Expect(
                    "ServiceLatencyHigh", {"service": "agent-service", "probe": "health"}, "ticket"
                ),
            ),
            silent=(Expect("ServiceDown", {"service": "agent-service"}),),
            detect_timeout=240.0,
            # the p95 is over ServiceLatencyHigh's window (30 min; 3 min in the demo profile):
            # it stays past the budget until the slow runs are under 5% of that window, so the
            # alerts resolve about one window after healing (found by running this drill after
            # the window grew from 5 min: resolved at +179 s and +184 s)
            resolve_within=240.0,
            resolve_timeout=300.0,
        ),
        Scenario(
            "worker-oom",
            "Chatwoot's worker OOM-killed",
            "Chatwoot's Sidekiq worker machine runs out of memory and the kernel kills it, as at "
            "launch: Fly's Machines API reports the exit with oom_killed; on-call gets exactly "
            "one page with the runbook (FlyMachineOOMKilled, the worker processes the customers' "
            "messages), and the same app's restart alert stays silent",
            (Fault("chatwoot-worker", "oom"),),
            ("chatwoot-worker",),
            notified=(
                Expect(
                    "FlyMachineOOMKilled",
                    {"service": "chatwoot", "app": "hotdash-chatwoot", "group": "worker"},
                    "page",
                    "oncall",
                    within=PAGE_TARGET,
                ),
            ),
            silent=(
                Expect("FlyMachineOOMKilled", {"group": "web"}),
                Expect("FlyMachineRestarting", {"service": "chatwoot"}),
                Expect("ServiceDown", {"service": "chatwoot"}),
            ),
        ),
        Scenario(
            "database-down",
            "the database down",
            "PostgreSQL stops: on-call gets one page (PostgresDown of the pooler the services "
            "use) while the services that depend on it (hotdash-app's health check fails, its "
            "error rate climbs with the operator's traffic) stay silent, also as it recovers",
            (Fault("database", "down"),),
            ("database",),
            notified=(
                Expect(
                    "PostgresDown",
                    {"database": layout.SERVICES_DATABASE},
                    "page",
                    "oncall",
                    within=PAGE_TARGET,
                ),
            ),
            inhibited=(
                Expect("ServiceDown", {"service": "hotdash-app"}, "page"),
                # the direct entry (the same server) is down too: its ticket is explained
                Expect("PostgresDown", {"database": "supabase"}, "ticket"),
            ),
            silent=(Expect(".*", {"service": DEPENDENTS}),),
        ),
        Scenario(
            "backup-missed",
            "a backup missed",
            "the backup job's pg_dump fails: the job reports the failure at once (HeartbeatFailed) "
            "and the newest dump grows older than the set's RPO (BackupTooOld), both tickets for "
            "the vendors-and-jobs channel",
            (Fault("backup-job", "failing"),),
            ("backup-job",),
            notified=(
                Expect(
                    "HeartbeatFailed",
                    {"heartbeat": layout.BACKUP_HEARTBEAT},
                    "ticket",
                    "vendors-jobs",
                ),
                Expect("BackupTooOld", {"backup": layout.BACKUP_SET}, "ticket", "vendors-jobs"),
            ),
            detect_timeout=240.0,
        ),
        Scenario(
            "backup-unrestorable",
            "a backup that does not restore",
            "the backup job writes dumps cut short and checksums them as they are (the integrity "
            "checks pass: pg_restore --list reads the table of contents); only the restore test "
            "notices: BackupRestoreFailed, one ticket with its runbook, resolved by the first "
            "good dump that restores",
            (Fault("backup-job", "truncated"),),
            ("backup-job",),
            notified=(
                Expect(
                    "BackupRestoreFailed", {"backup": layout.BACKUP_SET}, "ticket", "vendors-jobs"
                ),
            ),
            silent=(Expect("(?!BackupRestoreFailed)(Backup|Heartbeat).*"),),
            detect_timeout=240.0,
        ),
        Scenario(
            "heartbeat-late",
            "a heartbeat late",
            "the backup job stops (its cron is gone): its ping is late (HeartbeatLate, info: "
            "the digest, at any hour), then overdue past its grace (HeartbeatFailed, a ticket)",
            (Fault("backup-job", "down"),),
            ("backup-job",),
            notified=(
                Expect(
                    "HeartbeatLate",
                    {"heartbeat": layout.BACKUP_HEARTBEAT},
                    "info",
                    "digest",
                    resolves=False,
                ),
                Expect(
                    "HeartbeatFailed",
                    {"heartbeat": layout.BACKUP_HEARTBEAT},
                    "ticket",
                    "vendors-jobs",
                ),
            ),
            fired=(Expect("HeartbeatLate", {"heartbeat": layout.BACKUP_HEARTBEAT}, "info"),),
            detect_timeout=240.0,
        ),
        Scenario(
            "vendor-outage",
            "a vendor outage",
            "Shopify is down: its status page says so and its API answers 503; on-call learns it "
            "from VendorComponentDown while our own Shopify alerts (probes, synthetic calls) "
            "stay silent, including while the status page lags the recovery",
            (Fault("shopify", "outage"),),
            ("shopify",),
            notified=(
                Expect(
                    "VendorComponentDown",
                    {"feed": "shopify", "component": "Admin"},
                    "ticket",
                    "vendors-jobs",
                ),
            ),
            # a vendor's ServiceDown is a ticket (we cannot fix Shopify; its status page is
            # the news): it fires and is inhibited by the vendor's own outage
            inhibited=(Expect("ServiceDown", {"service": "shopify"}, "ticket"),),
            silent=(Expect("(?!VendorComponent).*", {"service": "shopify|shopify-admin"}),),
            resolve_within=None,  # the status page closes its incident 75 s after the recovery
            resolve_timeout=240.0,
        ),
        Scenario(
            "exporter-down",
            "the exporter down",
            "redline itself stops: RedlineExporterDown pages (Prometheus's `up`), and Watchdog "
            "keeps reaching the dead man's switch, proving the rest of the pipeline works",
            (Fault("exporter", "down"),),
            ("exporter",),
            notified=(
                Expect(
                    "RedlineExporterDown", {"job": "redline"}, "page", "oncall", within=PAGE_TARGET
                ),
                Expect(WATCHDOG, {}, "info", "deadmansswitch", resolves=False, baseline=False),
            ),
        ),
        Scenario(
            "alertmanager-peer-killed",
            "an Alertmanager peer killed during an outage",
            "two Alertmanagers gossip; agent-service goes down, the peer that sent the page is "
            "killed, the service recovers: the other peer sends the resolved notice, nothing "
            "arrives twice, and the killed peer rejoins without repeating anything",
            (Fault("agent-service", "down"),),
            ("agent-service",),
            notified=(agent_down,),
            during=_kill_sending_peer,
            after=_restart_peer_and_watch,
            hold=5.0,
        ),
        Scenario(
            "two-faults",
            "two unrelated faults at once",
            "agent-service and llamaindex-mcp go down together: two incidents, so two pages, "
            "one per service; agent-service is healed first and only its page resolves, then "
            "llamaindex-mcp's; their SLO burns stay silent throughout",
            (Fault("agent-service", "down"), Fault("llamaindex-mcp", "down")),
            ("agent-service", "llamaindex-mcp"),
            notified=(
                Expect(
                    "ServiceDown",
                    {"service": "agent-service"},
                    "page",
                    "oncall",
                    within=PAGE_TARGET,
                    healed_by="agent-service",
                ),
                Expect(
                    "ServiceDown",
                    {"service": "llamaindex-mcp"},
                    "page",
                    "oncall",
                    within=PAGE_TARGET,
                    healed_by="llamaindex-mcp",
                ),
            ),
            silent=(Expect(ALERT_BURN, {"service": "agent-service|llamaindex-mcp"}),),
            heal_in_turn=True,
        ),
    ]
    return {s.name: s for s in out}


SCENARIOS = _scenarios()


# --- running from the command line ------------------------------------------------------------


def run_scenario(
    name: str, stack: Stack | None = None, log: Callable[[str], None] = print
) -> Drill:
    drill = Drill(SCENARIOS[name], stack)
    log(f"drill {name}: {drill.scenario.title}")
    return drill.run(log)


def write_report(drill: Drill, path: Path | None = None) -> Path:
    if path is None:
        stamp = datetime.fromtimestamp(drill.t_fault, UTC).strftime("%Y%m%dT%H%M%SZ")
        path = layout.REPORTS_DIR / f"{stamp}-{drill.scenario.name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(drill.report(), encoding="utf-8")
    return path


def summary(drill: Drill) -> str:
    times = "; ".join(
        f"{c.check} {c.expected.split(' at ')[0]} {c.seconds:.1f}s"
        for c in drill.checks
        if c.seconds is not None and c.check in ("notified", "resolved")
    )
    log = drill.pager()
    pages = (
        f"pages {len(log.pages)}/{drill.expected_pages()}, resolved {len(log.resolved)}, "
        f"after heal {len(log.after_heal)}"
    )
    return f"{'PASS' if drill.passed else 'FAIL'} {drill.scenario.name}: {pages}; {times}"


def main(names: list[str], report: str | None = None) -> int:
    failed = 0
    texts = []
    for name in names:
        try:
            drill = run_scenario(name)
        except (DrillError, faults.FaultError) as e:
            print(f"drill {name}: {e}", file=sys.stderr)
            return 2
        path = write_report(drill)
        texts.append(drill.report())
        failed += not drill.passed
        print(summary(drill))
        for c in drill.checks:
            if not c.ok:
                print(f"  failed: {c.check}: expected {c.expected}; observed {c.observed}")
        print(f"  report: {path}")
    if report:
        Path(report).write_text("\n".join(texts), encoding="utf-8")
        print(f"report: {report}")
    return 1 if failed else 0
