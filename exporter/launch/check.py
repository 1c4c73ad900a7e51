"""``redline launch-check``: the pre-flight before a launch, as a go/no-go table.

It scrapes a running exporter's ``/metrics`` once (a real scrape: the probes run now, under the
timeout it announces in ``X-Prometheus-Scrape-Timeout-Seconds``; rate-limited targets are
served their last result as in any scrape), reads ``/status.json`` for the words behind each
state (a probe's message and budget), and judges what it finds:

* every probe up (degraded is not green: slower than its budget, or the target says so);
* every TLS certificate valid through the end of the launch window plus a margin;
* every backup set ``ok`` (fresh, big enough, verified), every heartbeat up (or running);
* the vendor API checks answering (a vendor's own status page in trouble is a warning: it is
  worth knowing, not ours to fix);
* every route of the Alertmanager config reachable: ``amtool check-config``, then for each
  route ``amtool config routes test`` with labels built from its matchers must reach that
  route's receiver (an earlier route catching them is a route nobody is ever told by).

Exit status: 0 go (nothing failed, nothing unknown; warnings allowed), 1 no-go (something
failed), 2 can't tell (the exporter is unreachable or something could not be judged).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import shutil
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from exporter.durations import argparse_positive_seconds
from exporter.status import span

PASS, WARN, FAIL, UNKNOWN, SKIP = "ok", "WARN", "FAIL", "UNKNOWN", "skip"
DEFAULT_EXPORTER = "http://127.0.0.1:9877"
DEFAULT_ALERTMANAGER_CONFIG = "alertmanager/alertmanager.yml"
DEFAULT_TIMEOUT = 15.0
DEFAULT_CERT_MARGIN = 7 * 86400.0

# What each non-ok backup status means (exporter/backups/source.py STATUSES).
BACKUP_HINTS = {
    "missing": "the backup directory does not exist",
    "unreadable": "the backup directory cannot be listed",
    "empty": "no backup file matches",
    "stale": "the newest backup is older than max_age",
    "too_small": "the newest backup is smaller than min_size",
    "corrupt": "an integrity check of the newest backup failed",
    "failed": "the most recent backup attempt failed",
}
HEARTBEAT_HINTS = {
    "late": "its ping is overdue (within the grace time)",
    "down": "overdue past the grace time, or its last run reported a failure",
    "never": "no ping yet: run the job once, or check its ping URL and token",
}


class CantTell(Exception):
    """The pre-flight cannot judge at all (exit 2)."""


@dataclass
class Row:
    area: str
    item: str
    result: str  # PASS, WARN, FAIL, UNKNOWN or SKIP
    detail: str


@dataclass
class Scrape:
    """The samples of one exposition, by metric name."""

    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        out = cls()
        try:
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    out.samples.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
        except ValueError as e:
            raise CantTell(f"the answer is not a Prometheus exposition: {e}") from None
        return out

    def get(self, name: str) -> list[tuple[dict[str, str], float]]:
        return self.samples.get(name, [])

    def by(self, name: str, *keys: str) -> dict[tuple[str, ...], float]:
        return {tuple(labels.get(k, "") for k in keys): v for labels, v in self.get(name)}

    def states(self, name: str, *keys: str, state: str) -> dict[tuple[str, ...], str | None]:
        """For a state set: the state that is 1 for each key (None when none is)."""
        out: dict[tuple[str, ...], str | None] = {}
        for labels, v in self.get(name):
            key = tuple(labels.get(k, "") for k in keys)
            out.setdefault(key, None)
            if v == 1:
                out[key] = labels.get(state)
        return out


# --- formatting ----------------------------------------------------------------------------------


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


# --- judging the scrape --------------------------------------------------------------------------


def window(scrape: Scrape) -> tuple[float, float] | None:
    start = scrape.get("redline_launch_window_start_timestamp_seconds")
    end = scrape.get("redline_launch_window_end_timestamp_seconds")
    if not start or not end:
        return None
    return start[0][1], end[0][1]


def judge(
    scrape: Scrape, now: float, cert_margin: float, status: dict[str, Any] | None = None
) -> list[Row]:
    """The rows about what the exporter measured (everything but the alert routes). ``status``,
    the exporter's /status.json read right after the scrape, adds the words behind a state
    (the probe's message, its budget, the backup's message, the window in its own zone)."""
    notes = Notes.of(status)
    rows: list[Row] = []
    for (source,), up in sorted(scrape.by("redline_source_up", "source").items()):
        if up != 1:
            rows.append(
                Row(
                    "exporter",
                    f"source {source}",
                    UNKNOWN,
                    "failed or ran out of time in this scrape: its checks are incomplete",
                ),
            )

    bounds = window(scrape)
    if bounds is None:
        exported = bool(scrape.get("redline_launch_window"))
        rows.append(
            Row(
                "launch",
                "window",
                WARN,
                "no launch planned: set launch.start and launch.end in the config"
                if exported
                else "the exporter exports no launch window (redline too old?)",
            )
        )
        need = now + cert_margin
        after = "today"
    else:
        start, end = bounds
        text = notes.window or f"{utc(start)} to {utc(end)}"
        if now < start:
            rows.append(Row("launch", "window", PASS, f"{text}: starts in {span(start - now)}"))
        elif now < end:
            rows.append(
                Row("launch", "window", PASS, f"{text}: in progress, {span(end - now)} left")
            )
        else:
            rows.append(
                Row(
                    "launch",
                    "window",
                    WARN,
                    f"{text}: ended {span(now - end)} ago; set launch.start and launch.end in "
                    "the config for the next launch",
                )
            )
        need = max(now, end) + cert_margin
        after = "the window" if end > now else "today"

    rows += _probes(scrape, notes)
    rows += _certificates(scrape, now, need, cert_margin, after)
    rows += _backups(scrape, notes)
    rows += _heartbeats(scrape, now)
    rows += _vendors(scrape)
    return rows


@dataclass
class Notes:
    """What /status.json adds to the series: words, not states (the states come from the
    scrape)."""

    window: str | None = None
    probes: dict[str, tuple[str, float | None]] = field(default_factory=dict)  # message, budget
    backups: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, status: dict[str, Any] | None) -> Notes:
        notes = cls()
        if not status:
            return notes
        try:
            window = status["launch"]["window"]
            notes.window = None if window is None else str(window)
            for service in status["services"]:
                for p in service["probes"]:
                    name = f"{service['name']}/{p['name']}"
                    notes.probes[name] = (str(p["message"] or ""), p["budget_seconds"])
            notes.backups = {b["name"]: str(b["message"] or "") for b in status["backups"]}
        except (KeyError, TypeError):
            return cls()  # another shape (another version): the series say enough
        return notes


def _probes(scrape: Scrape, notes: Notes) -> list[Row]:
    states = scrape.states("redline_probe_status", "service", "probe", state="status")
    reasons = scrape.states("redline_probe_failure_reason", "service", "probe", state="reason")
    durations = scrape.by("probe_duration_seconds", "service", "probe")
    if not states:
        return [Row("probe", "-", WARN, "no probe is configured: nothing to check")]
    rows = []
    for key, state in sorted(states.items()):
        name = "/".join(key)
        took = ms(durations.get(key, 0.0))
        message, budget = notes.probes.get(name, ("", None))
        if state == "up":
            rows.append(Row("probe", name, PASS, f"up in {took}"))
        elif state == "degraded":
            of = f" (budget {ms(budget)})" if budget else ""
            why = message or "slower than its degraded_after, or the target says it is degraded"
            rows.append(Row("probe", name, FAIL, f"degraded in {took}{of}: {why}"))
        else:
            why = f": {message}" if message else ""
            rows.append(Row("probe", name, FAIL, f"down ({reasons.get(key) or 'unknown'}){why}"))
    return rows


def _certificates(scrape: Scrape, now: float, need: float, margin: float, after: str) -> list[Row]:
    expiries = scrape.by("probe_ssl_earliest_cert_expiry", "service", "probe")
    if not expiries:
        return [Row("certificate", "-", SKIP, "no probe reported a TLS certificate")]
    rows = []
    for key, expiry in sorted(expiries.items()):
        name = "/".join(key)
        if expiry <= now:
            rows.append(Row("certificate", name, FAIL, f"expired on {utc(expiry)}"))
        elif expiry < need:
            rows.append(
                Row(
                    "certificate",
                    name,
                    FAIL,
                    f"expires {utc(expiry)}, less than {span(margin)} after {after} "
                    f"({utc(need - margin)}): renew it before the launch",
                )
            )
        else:
            rows.append(
                Row(
                    "certificate",
                    name,
                    PASS,
                    f"valid until {utc(expiry)}, {span(expiry - need + margin)} after {after}",
                )
            )
    return rows


def _backups(scrape: Scrape, notes: Notes) -> list[Row]:
    names = {k[0] for k in scrape.by("redline_backup_max_age_seconds", "backup")}
    states = scrape.states("redline_backup_status", "backup", state="status")
    ages = scrape.by("redline_backup_newest_age_seconds", "backup")
    max_ages = scrape.by("redline_backup_max_age_seconds", "backup")
    verify = scrape.states("redline_backup_verify_status", "backup", "check", state="status")
    rows = []
    for name in sorted(names | {k[0] for k in states}):
        status = states.get((name,))
        age, max_age = ages.get((name,)), max_ages.get((name,))
        fresh = f"newest {span(age)} old" if age is not None else "no backup found"
        if max_age is not None:
            fresh += f" (max {span(max_age)})"
        if status is None:
            rows.append(Row("backup", name, UNKNOWN, "no state yet (no answer from its API yet)"))
        elif status == "ok":
            rows.append(Row("backup", name, PASS, fresh))
        else:
            hint = notes.backups.get(name) or BACKUP_HINTS.get(status, status)
            rows.append(Row("backup", name, FAIL, f"{status}: {hint}; {fresh}"))
            continue
        for (backup, check), state in sorted(verify.items()):
            if backup != name or state in ("ok", "failed"):  # failed: the set is corrupt above
                continue
            what = "has not run on the newest file yet" if state == "pending" else "could not run"
            rows.append(Row("backup", f"{name} {check}", WARN, f"integrity check {what}"))
    return rows


def _heartbeats(scrape: Scrape, now: float) -> list[Row]:
    states = scrape.states("redline_heartbeat_status", "heartbeat", state="status")
    last = scrape.by("redline_heartbeat_last_success_timestamp_seconds", "heartbeat")
    due = scrape.by("redline_heartbeat_next_due_timestamp_seconds", "heartbeat")
    rows = []
    for (name,), status in sorted(states.items()):
        when = last.get((name,))
        seen = f"last success {span(now - when)} ago" if when is not None else "no success yet"
        if status == "up":
            rows.append(Row("heartbeat", name, PASS, seen))
        elif status == "started":
            rows.append(Row("heartbeat", name, PASS, f"running now; {seen}"))
        else:
            hint = HEARTBEAT_HINTS.get(status or "", "no state")
            extra = ""
            if status == "late" and (name,) in due:
                extra = f" (due {span(now - due[(name,)])} ago)"
            seen = "" if status == "never" else f"; {seen}"
            rows.append(Row("heartbeat", name, FAIL, f"{status}: {hint}{extra}{seen}"))
    file_state = scrape.states("redline_heartbeat_state_file_status", state="status").get(())
    if file_state in ("corrupt", "unwritable"):
        rows.append(
            Row(
                "heartbeat",
                "state file",
                WARN,
                f"{file_state}: pings survive no exporter restart until it is fixed",
            )
        )
    return rows


def _vendors(scrape: Scrape) -> list[Row]:
    rows = []
    feed_up = scrape.by("redline_vendor_feed_up", "feed")
    feed_reason = scrape.states("redline_vendor_feed_failure_reason", "feed", state="reason")
    components = scrape.states(
        "redline_vendor_component_status", "feed", "component", state="status"
    )
    indicator = scrape.states("redline_vendor_page_indicator", "feed", state="indicator")
    for (feed,), up in sorted(feed_up.items()):
        if up != 1:
            reason = feed_reason.get((feed,)) or "unknown"
            rows.append(Row("vendor", feed, WARN, f"status feed unreachable ({reason})"))
            continue
        troubled = [
            f"{comp}: {(state or 'unknown').replace('_', ' ')}"
            for (f, comp), state in sorted(components.items())
            if f == feed and state != "operational"
        ]
        page = indicator.get((feed,))
        if page in ("major", "critical"):
            troubled.insert(0, f"page indicator {page}")
        if troubled:
            rows.append(Row("vendor", feed, WARN, "; ".join(troubled)))
        else:
            rows.append(Row("vendor", feed, PASS, "operational"))
    kinds = {k[0] for k in scrape.by("redline_vendor_check_info", "check")}
    check_up = scrape.by("redline_vendor_check_up", "check")
    check_reason = scrape.states("redline_vendor_check_failure_reason", "check", state="reason")
    took = scrape.by("redline_vendor_check_duration_seconds", "check")
    for name in sorted(kinds | {k[0] for k in check_up}):
        answered = check_up.get((name,))
        if answered is None:
            rows.append(Row("vendor", f"{name} API", UNKNOWN, "the check has not run yet"))
        elif answered == 1:
            rows.append(Row("vendor", f"{name} API", PASS, f"answered in {ms(took[(name,)])}"))
        else:
            reason = check_reason.get((name,)) or "unknown"
            level = WARN if reason == "rate_limited" else FAIL
            rows.append(Row("vendor", f"{name} API", level, f"failing ({reason})"))
    return rows


# --- alert routes --------------------------------------------------------------------------------

_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


def _matchers(route: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for text in route.get("matchers") or []:
        match = _MATCHER.match(str(text))
        if match is None:
            raise ValueError(f"cannot read matcher {text!r}")
        name, op, value = match.groups()
        if value.startswith('"'):
            value = json.loads(value)
        out.append((name, op, value))
    for name, value in (route.get("match") or {}).items():
        out.append((name, "=", str(value)))
    for name, value in (route.get("match_re") or {}).items():
        out.append((name, "=~", str(value)))
    return out


def _satisfies(value: str, op: str, want: str) -> bool:
    if op == "=":
        return value == want
    if op == "!=":
        return value != want
    matched = re.fullmatch(want, value) is not None
    return matched if op == "=~" else not matched


def labels_for(matchers: list[tuple[str, str, str]]) -> dict[str, str]:
    """Labels that satisfy every matcher: a value each matcher names (a regex's first plain
    alternative), checked against all the matchers of that label; ValueError when none does."""
    out: dict[str, str] = {}
    for name in dict.fromkeys(n for n, _, _ in matchers):
        mine = [(op, v) for n, op, v in matchers if n == name]
        candidates = [""]
        for op, v in mine:
            if op == "=":
                candidates.insert(0, v)
            elif op == "=~":
                candidates[:0] = [a for a in re.split(r"[|()]", v) if a]
        candidates.append("launch-check")
        value = next((c for c in candidates if all(_satisfies(c, op, v) for op, v in mine)), None)
        if value is None:
            raise ValueError(f"no value of {name} satisfies {mine}")
        if value:
            out[name] = value
    return out


def _walk(
    routes: list[dict[str, Any]], parents: list[tuple[str, str, str]]
) -> list[tuple[list[tuple[str, str, str]], str]]:
    out = []
    for route in routes:
        matchers = [*parents, *_matchers(route)]
        out.append((matchers, str(route.get("receiver", ""))))
        out += _walk(route.get("routes") or [], matchers)
    return out


def route_rows(config: Path | None, amtool: str | None, explicit: bool) -> list[Row]:
    """One row per route of the Alertmanager config: reachable or not."""
    if config is None or not config.exists():
        if explicit:
            return [Row("alert route", str(config), UNKNOWN, "the Alertmanager config is missing")]
        return [
            Row(
                "alert route",
                "-",
                SKIP,
                f"no Alertmanager config at {DEFAULT_ALERTMANAGER_CONFIG} "
                "(--alertmanager.config FILE to check one)",
            )
        ]
    binary = shutil.which(amtool or "amtool")
    if binary is None:
        return [Row("alert route", str(config), UNKNOWN, "amtool not found (--amtool PATH)")]
    try:
        return _test_routes(config, binary)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [Row("alert route", str(config), UNKNOWN, f"amtool failed: {e}")]


def _test_routes(config: Path, binary: str) -> list[Row]:
    checked = subprocess.run(
        [binary, "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    if checked.returncode != 0:
        lines = (checked.stdout + checked.stderr).strip().splitlines()
        return [Row("alert route", str(config), FAIL, f"amtool check-config: {lines[-1:]}")]
    try:
        doc = yaml.safe_load(config.read_text(encoding="utf-8"))
        root = doc["route"]
        routes = _walk(root.get("routes") or [], _matchers(root))
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as e:
        return [Row("alert route", str(config), UNKNOWN, f"cannot read the routes: {e}")]
    rows = []
    for number, (matchers, receiver) in enumerate(routes, 1):
        item = f"{receiver} (route {number})"
        try:
            labels = labels_for(matchers)
        except (ValueError, re.error) as e:
            rows.append(Row("alert route", item, UNKNOWN, f"cannot build labels: {e}"))
            continue
        shown = " ".join(f"{k}={v}" for k, v in labels.items()) or "no labels"
        answer = subprocess.run(
            [
                binary,
                "config",
                "routes",
                "test",
                f"--config.file={config}",
                *(f"{k}={json.dumps(v)}" for k, v in labels.items()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        reached = answer.stdout.strip().splitlines()[-1:] if answer.returncode == 0 else []
        receivers = reached[0].split(",") if reached else []
        if receiver in receivers:
            rows.append(Row("alert route", item, PASS, f"{shown} -> {','.join(receivers)}"))
        elif answer.returncode != 0:
            error = (answer.stderr.strip().splitlines() or ["?"])[-1]
            rows.append(Row("alert route", item, UNKNOWN, f"amtool failed: {error}"))
        else:
            rows.append(
                Row(
                    "alert route",
                    item,
                    FAIL,
                    f"unreachable: {shown} -> {','.join(receivers)}, not {receiver} (an "
                    "earlier route catches them)",
                )
            )
    return rows


# --- fetching ------------------------------------------------------------------------------------


def client_options(path: str | None) -> tuple[dict[str, str], ssl.SSLContext | None]:
    """Headers and TLS context from a Prometheus HTTP client config file (the subset
    ``--http.config.file`` of promtool reads: basic_auth, authorization, tls_config)."""
    if path is None:
        return {}, None
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(doc, dict):
            raise ValueError("not a mapping")
        headers: dict[str, str] = {}
        basic = doc.get("basic_auth")
        if basic:
            password = basic.get("password")
            if basic.get("password_file"):
                password = Path(basic["password_file"]).read_text(encoding="utf-8").strip()
            token = f"{basic['username']}:{password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
        auth = doc.get("authorization")
        if auth:
            credentials = auth.get("credentials")
            if auth.get("credentials_file"):
                credentials = Path(auth["credentials_file"]).read_text(encoding="utf-8").strip()
            headers["Authorization"] = f"{auth.get('type', 'Bearer')} {credentials}"
        tls = doc.get("tls_config") or {}
        context = None
        if tls:
            context = ssl.create_default_context(cafile=tls.get("ca_file"))
            if tls.get("cert_file"):
                context.load_cert_chain(tls["cert_file"], tls.get("key_file"))
            if tls.get("insecure_skip_verify"):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return headers, context
    except (OSError, KeyError, TypeError, ValueError, AttributeError, yaml.YAMLError) as e:
        raise CantTell(f"--http.config.file {path}: {e}") from None


def metrics_url(exporter: str) -> str:
    url = exporter.rstrip("/")
    if "://" not in url:
        url = "http://" + url
    return url if url.endswith("/metrics") else url + "/metrics"


async def fetch(
    url: str, timeout: float, http_config: str | None, *, scrape: bool = True
) -> tuple[str, float]:
    """The body of ``url`` (by default a scrape: with the timeout header) and how long it
    took."""
    headers, context = client_options(http_config)
    if scrape:
        headers["X-Prometheus-Scrape-Timeout-Seconds"] = f"{timeout:g}"
        headers["Accept"] = "text/plain;version=0.0.4"
    started = time.perf_counter()
    try:
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.get(
                url,
                headers=headers,
                ssl=context if context is not None else True,
                timeout=aiohttp.ClientTimeout(total=timeout + 5),
            ) as resp,
        ):
            body = await resp.text()
            if resp.status == 401:
                raise CantTell(f"{url}: 401 Unauthorized (credentials: --http.config.file)")
            if resp.status != 200:
                raise CantTell(f"{url}: HTTP {resp.status}")
    except aiohttp.ClientError as e:
        raise CantTell(f"cannot reach the exporter at {url}: {e}") from None
    except TimeoutError:
        raise CantTell(f"{url}: no answer within {timeout + 5:g}s") from None
    return body, time.perf_counter() - started


# --- the report ----------------------------------------------------------------------------------


def verdict(rows: list[Row]) -> tuple[int, str]:
    failed = [r for r in rows if r.result == FAIL]
    unknown = [r for r in rows if r.result == UNKNOWN]
    warned = [r for r in rows if r.result == WARN]
    judged = [r for r in rows if r.result != SKIP]
    warn_text = f"; {len(warned)} warning(s)" if warned else ""
    if failed:
        names = ", ".join(f"{r.area} {r.item}" for r in failed[:6])
        more = f" and {len(failed) - 6} more" if len(failed) > 6 else ""
        return 1, f"NO-GO: {len(failed)} of {len(judged)} checks failed ({names}{more}){warn_text}."
    if unknown:
        names = ", ".join(f"{r.area} {r.item}" for r in unknown[:6])
        return 2, f"CAN'T TELL: {len(unknown)} check(s) could not be judged ({names}){warn_text}."
    return 0, f"GO: {len(judged) - len(warned)} of {len(judged)} checks passed{warn_text}."


def table(rows: list[Row]) -> str:
    head = Row("AREA", "ITEM", "RESULT", "DETAIL")
    widths = [max(len(getattr(r, f)) for r in [head, *rows]) for f in ("area", "item", "result")]
    lines = []
    for r in [head, *rows]:
        cells = [r.area.ljust(widths[0]), r.item.ljust(widths[1]), r.result.ljust(widths[2])]
        lines.append("  ".join([*cells, r.detail]).rstrip())
    return "\n".join(lines)


@dataclass
class Options:
    exporter: str = DEFAULT_EXPORTER
    timeout: float = DEFAULT_TIMEOUT
    http_config: str | None = None
    alertmanager_config: str | None = None  # None: DEFAULT_ALERTMANAGER_CONFIG if it exists
    amtool: str | None = None
    cert_margin: float = DEFAULT_CERT_MARGIN


async def run(opts: Options, out: TextIO = sys.stdout) -> int:
    url = metrics_url(opts.exporter)
    now = time.time()
    print(f"redline launch-check of {url} at {utc(now)}\n", file=out)
    try:
        text, took = await fetch(url, opts.timeout, opts.http_config)
        scrape = Scrape.parse(text)
        info = scrape.get("redline_build_info")
        if not info:
            raise CantTell(
                f"{url} answered, but not with redline's metrics (no redline_build_info)"
            )
    except CantTell as e:
        print(f"CAN'T TELL: {e}", file=out)
        return 2
    rows = [Row("exporter", url, PASS, f"redline {info[0][0].get('version', '?')}, {ms(took)}")]
    status = None
    try:  # the words behind the states; an exporter without /status.json is judged without
        body, _ = await fetch(
            url.removesuffix("/metrics") + "/status.json", 10, opts.http_config, scrape=False
        )
        status = json.loads(body)
    except (CantTell, ValueError):
        pass
    rows += judge(scrape, now, opts.cert_margin, status if isinstance(status, dict) else None)
    explicit = opts.alertmanager_config is not None
    am = Path(opts.alertmanager_config or DEFAULT_ALERTMANAGER_CONFIG)
    rows += await asyncio.to_thread(route_rows, am, opts.amtool, explicit)
    code, summary = verdict(rows)
    print(table(rows), file=out)
    print(f"\n{summary}", file=out)
    return code


# --- command line --------------------------------------------------------------------------------


def add_parser(sub: Any, help_: str) -> None:
    """``redline launch-check``, added to the CLI's subcommands (``help_``: its line in
    ``redline --help``, kept in exporter/cli.py)."""
    p = sub.add_parser(
        "launch-check",
        help=help_,
        description="Scrape a running exporter once and print a go/no-go table: every probe "
        "up, certificates valid past the launch window, backups fresh, heartbeats up, vendor "
        "API checks answering, every Alertmanager route reachable (docs/launch-day.md).",
    )
    p.add_argument(
        "--exporter",
        metavar="URL",
        default=DEFAULT_EXPORTER,
        help=f"the running exporter's URL (default {DEFAULT_EXPORTER}; /metrics is added)",
    )
    p.add_argument(
        "--http.config.file",
        dest="http_config",
        metavar="FILE",
        default=None,
        help="Prometheus HTTP client config: basic_auth, authorization, tls_config",
    )
    p.add_argument(
        "--timeout",
        metavar="DURATION",
        type=argparse_positive_seconds,
        default=DEFAULT_TIMEOUT,
        help=f"the scrape timeout announced to the exporter (default {DEFAULT_TIMEOUT:g}s)",
    )
    p.add_argument(
        "--alertmanager.config",
        dest="alertmanager_config",
        metavar="FILE",
        default=None,
        help=f"Alertmanager config whose routes to test (default {DEFAULT_ALERTMANAGER_CONFIG} "
        "if it exists)",
    )
    p.add_argument(
        "--amtool", metavar="PATH", default=None, help="amtool to use (default: the one on PATH)"
    )
    p.add_argument(
        "--certificate-margin",
        dest="cert_margin",
        metavar="DURATION",
        type=argparse_positive_seconds,
        default=DEFAULT_CERT_MARGIN,
        help="how long after the launch window certificates must stay valid (default 7d)",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    opts = Options(
        exporter=args.exporter,
        timeout=args.timeout,
        http_config=args.http_config,
        alertmanager_config=args.alertmanager_config,
        amtool=args.amtool,
        cert_margin=args.cert_margin,
    )
    return asyncio.run(run(opts))
