"""``redline maintenance list|add|end``: planned windows and ad-hoc silences (docs/maintenance.md).

``list`` shows the config's windows (open, next, over) and the silences this command created in
Alertmanager; ``add`` creates one silence for a service or database of the config, after
checking it (known name, end after start, no other such silence on it at the same time);
``end`` expires one. Alertmanager's API v2 is the only thing written to: one POST or DELETE,
so a failure leaves nothing half-made. Exit status: 0 done, 1 refused (bad input), 2
Alertmanager unreachable or answering wrongly.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from exporter.config import Config, ConfigError, load_config
from exporter.durations import argparse_positive_seconds

CREATED_BY = "redline maintenance"
DEFAULT_URL = "http://localhost:9093"
TIMEOUT = 10.0  # seconds per request: Alertmanager answers in milliseconds or is not there


class Refused(Exception):
    """Bad input: nothing was written."""


class Unreachable(Exception):
    """Alertmanager could not be asked: nothing was written."""


def add_parser(sub: Any, help_: str) -> None:
    p = sub.add_parser(
        "maintenance",
        help=help_,
        description="Planned maintenance windows (the config's maintenance:) and ad-hoc "
        "silences of a service through Alertmanager's API.",
    )
    p.add_argument("--config.file", dest="config_file", default=None, help="configuration file")
    p.add_argument(
        "--alertmanager.url",
        dest="alertmanager_url",
        default=DEFAULT_URL,
        help=f"Alertmanager to read and write silences (default {DEFAULT_URL})",
    )
    actions = p.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the config's windows and redline's silences")
    add = actions.add_parser("add", help="silence a service or database now, or from --start")
    add.add_argument("--service", required=True, help="a service or database of the config")
    add.add_argument("--reason", required=True, help="why: the silence's comment")
    add.add_argument("--start", help="UTC, ISO 8601 (default: now)")
    end = add.add_mutually_exclusive_group(required=True)
    end.add_argument("--end", help="UTC, ISO 8601")
    end.add_argument(
        "--for", dest="for_", type=argparse_positive_seconds, help="how long, e.g. 45m, 2h"
    )
    stop = actions.add_parser("end", help="expire a silence this command created")
    stop.add_argument("silence_id")
    p.set_defaults(func=cmd_maintenance)


def cmd_maintenance(args: argparse.Namespace) -> int:
    try:
        config, name = load_config(args.config_file)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    am = args.alertmanager_url.rstrip("/")
    try:
        if args.action == "list":
            print(listing(config, name, am, time.time()))
        elif args.action == "add":
            silence_id = add(config, am, args.service, args.reason, *_span(args))
            print(f"silence {silence_id} created in {am} for {args.service}")
        else:
            end(am, args.silence_id)
            print(f"silence {args.silence_id} expired in {am}")
    except Refused as e:
        print(f"error: {e}; nothing was changed", file=sys.stderr)
        return 1
    except Unreachable as e:
        print(f"error: {e}; nothing was changed", file=sys.stderr)
        return 2
    return 0


def _instant(text: str, what: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Refused(
            f"--{what} {text!r} is not a time (ISO 8601, e.g. 2026-12-10T22:00Z)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the CLI's times are UTC unless they say otherwise
    return parsed.timestamp()


def _span(args: argparse.Namespace) -> tuple[float, float]:
    start = _instant(args.start, "start") if args.start else time.time()
    finish = _instant(args.end, "end") if args.end else start + float(args.for_)
    return start, finish


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _request(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            raw = answer.read()
    except urllib.error.HTTPError as e:
        detail = e.read(300).decode("utf-8", "replace").strip()
        raise Unreachable(f"Alertmanager at {url} answered {e.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise Unreachable(f"cannot reach Alertmanager at {url}: {reason}") from None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        raise Unreachable(f"Alertmanager at {url} answered something that is not JSON") from None


def silences(am: str) -> list[dict[str, Any]]:
    """The silences ``redline maintenance`` created that are not over, soonest first."""
    found = _request(f"{am}/api/v2/silences")
    if not isinstance(found, list):
        raise Unreachable(f"Alertmanager at {am}/api/v2/silences answered no list")
    ours = [
        s
        for s in found
        if isinstance(s, dict)
        and s.get("createdBy") == CREATED_BY
        and s.get("status", {}).get("state") in ("active", "pending")
    ]
    return sorted(ours, key=lambda s: str(s.get("startsAt")))


def _subject(config: Config, name: str) -> tuple[str, str]:
    """The label and value a silence of ``name`` matches (a database by its name)."""
    services = {s.name for s in config.services}
    databases = {d.name for d in config.databases}
    if name not in services | databases:
        raise Refused(
            f"--service {name!r} is no service or database of the config (services: "
            f"{', '.join(sorted(services)) or 'none'}; databases: "
            f"{', '.join(sorted(databases)) or 'none'})"
        )
    return config.maintained(name), name


def _span_of(silence: dict[str, Any]) -> tuple[float, float]:
    return (
        datetime.fromisoformat(str(silence["startsAt"]).replace("Z", "+00:00")).timestamp(),
        datetime.fromisoformat(str(silence["endsAt"]).replace("Z", "+00:00")).timestamp(),
    )


def add(config: Config, am: str, name: str, reason: str, start: float, finish: float) -> str:
    label, value = _subject(config, name)
    if finish <= start:
        raise Refused(f"the silence ends ({_when(finish)}) before it starts ({_when(start)})")
    if finish <= time.time():
        raise Refused(f"the silence would end in the past ({_when(finish)})")
    if not reason.strip():
        raise Refused("--reason is empty: say why, on-call reads it")
    for other in silences(am):
        matched = {(m.get("name"), m.get("value")) for m in other.get("matchers", [])}
        s2, e2 = _span_of(other)
        if (label, value) in matched and start < e2 and s2 < finish:
            raise Refused(
                f"silence {other.get('id')} already covers {name} from {_when(s2)} to "
                f"{_when(e2)}: end it or choose another time"
            )
    body = {
        "matchers": [{"name": label, "value": value, "isRegex": False, "isEqual": True}],
        "startsAt": _iso(start),
        "endsAt": _iso(finish),
        "createdBy": CREATED_BY,
        "comment": f"maintenance: {reason.strip()}",
    }
    created = _request(f"{am}/api/v2/silences", "POST", body)
    if not isinstance(created, dict) or not created.get("silenceID"):
        raise Unreachable(f"Alertmanager at {am} did not say which silence it created")
    return str(created["silenceID"])


SILENCE_ID = re.compile(r"^[0-9a-fA-F-]{8,64}$")


def end(am: str, silence_id: str) -> None:
    if not SILENCE_ID.match(silence_id):
        raise Refused(f"{silence_id!r} is not a silence id")
    ours = {str(s.get("id")) for s in silences(am)}
    if silence_id not in ours:
        raise Refused(
            f"no active silence {silence_id} of `redline maintenance` in {am} "
            "(`redline maintenance list` shows them; others are ended in Alertmanager)"
        )
    _request(f"{am}/api/v2/silence/{silence_id}", "DELETE")


def listing(config: Config, name: str, am: str, now: float) -> str:
    lines = [f"planned windows ({name}):"]
    if not config.maintenance:
        lines.append("  none")
    for window in config.maintenance:
        occurrence = window.current_or_next(now)
        if occurrence is None:
            state = "over"
        elif occurrence[0] <= now:
            state = f"OPEN until {_when(occurrence[1])}"
        else:
            state = f"next {_when(occurrence[0])} to {_when(occurrence[1])}"
        lines.append(
            f"  {window.name}: {', '.join(window.services)}; {window.describe()}; {state}; "
            f"{window.reason}"
        )
    lines.append(f"silences of redline maintenance ({am}):")
    try:
        ours = silences(am)
    except Unreachable as e:
        lines.append(f"  cannot tell: {e}")
        return "\n".join(lines)
    if not ours:
        lines.append("  none")
    for s in ours:
        start, finish = _span_of(s)
        matchers = ", ".join(f"{m.get('name')}={m.get('value')}" for m in s.get("matchers", []))
        lines.append(
            f"  {s.get('id')}: {matchers}; {_when(start)} to {_when(finish)}; "
            f"{s.get('status', {}).get('state')}; {s.get('comment')}"
        )
    return "\n".join(lines)
