"""Parsers: a line (and, for JSON records already decoded, its object) in, a :data:`Record` out,
or None when the parser does not recognise the line.

A record is a plain tuple, not an object, because it is made for every line and the regex path
must reach 100,000 lines a second on one core:
``(level, status, duration_seconds, route, method, service, timestamp, bad)``.
Every field may be None (absent). ``bad`` is True when a field was present with the wrong type
(a status of ``"abc"``, a duration of ``true``): the line still counts, the field is dropped,
and the pipeline counts a parse error with reason ``field``.

Kinds: ``json`` (configured field paths), ``regex`` (named groups), and the shipped formats of
the Hot Rod AN stack (:data:`SHIPPED_REGEX`, ``json_logger``, ``rails``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from exporter.logs.config import FIELDS, Parser

Record = tuple[
    str | int | None,  # level, raw (normalised by the pipeline)
    int | None,  # status
    float | None,  # duration in seconds
    str | None,  # route (the raw path)
    str | None,  # method, raw
    str | None,  # service, raw
    Any,  # timestamp, raw (parsed only for the newest line of a batch)
    bool,  # a field had the wrong type
]
ParseFn = Callable[[str, dict[str, Any] | None], Record | None]

UNIT_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}

# --- shipped formats --------------------------------------------------------------------------

# agent-service and llamaindex-mcp: "[GET] /health - 200 (12ms) [req-abc]". Searched, not
# anchored: the platform may prefix a timestamp.
HOTROD_ACCESS = (
    r"\[(?P<method>[A-Z]+)\] (?P<route>\S+) - (?P<status>\d{3}) "
    r"\((?P<duration>\d+(?:\.\d+)?)ms\)"
)
# nginx "combined" plus $request_time (seconds, e.g. 0.123) as the next field, bare or as rt=...
# A request that is not "METHOD PATH PROTO" (a TLS handshake sent to a plain port, "-") still
# matches, without method and route. nginx escapes quotes inside fields as \x22.
NGINX_COMBINED = (
    r'^\S+ \S+ \S+ \[(?P<timestamp>[^\]]*)\] "(?:(?P<method>[A-Z]+) (?P<route>[^ "]*)[^"]*|[^"]*)"'
    r' (?P<status>\d{3}) \S+ "[^"]*" "[^"]*"(?: (?:rt=|request_time=)?(?P<duration>\d+(?:\.\d+)?))?'
)
# Apache "combined" plus %D (microseconds); Apache escapes quotes inside fields as \".
APACHE_COMBINED = (
    r"^\S+ \S+ \S+ \[(?P<timestamp>[^\]]*)\] "
    r'"(?:(?P<method>[A-Z]+) (?P<route>[^ "\\]*)(?:[^"\\]|\\.)*|(?:[^"\\]|\\.)*)"'
    r' (?P<status>\d{3}) \S+ "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*"(?: (?P<duration>\d+))?'
)
SHIPPED_REGEX: dict[str, tuple[str, str]] = {
    "hotrod_access": (HOTROD_ACCESS, "ms"),
    "nginx_combined": (NGINX_COMBINED, "s"),
    "apache_combined": (APACHE_COMBINED, "us"),
}

# --- field conversion -------------------------------------------------------------------------


def _status(value: Any) -> tuple[int | None, bool]:
    """(status, bad): an integer 100-599, or a string of one."""
    if value is None:
        return None, False
    if type(value) is int:
        return (value, False) if 100 <= value <= 599 else (None, True)
    if type(value) is str and len(value) == 3 and value.isdigit() and value[0] in "12345":
        return int(value), False
    return None, True


def _duration(value: Any, scale: float) -> tuple[float | None, bool]:
    """(seconds, bad): a finite non-negative number, or a string of one."""
    if value is None:
        return None, False
    kind = type(value)
    if kind is str:
        try:
            value = float(value)
        except ValueError:
            return None, True
    elif kind is not int and kind is not float:  # bool is no duration
        return None, True
    if not math.isfinite(value) or value < 0:
        return None, True
    return value * scale, False


def getter(path: str | None) -> Callable[[dict[str, Any]], Any] | None:
    """A function reading a dotted path (``fly.app.name``) from a JSON object; a key that
    contains the dot itself (``"log.level"`` in a flattened record) is found first."""
    if path is None:
        return None
    if "." not in path:
        return lambda obj: obj.get(path)
    parts = path.split(".")

    def get(obj: dict[str, Any]) -> Any:
        value = obj.get(path)
        if value is not None:
            return value
        node: Any = obj
        for part in parts:
            if type(node) is not dict:
                return None
            node = node.get(part)
        return node

    return get


def loads_object(text: str) -> dict[str, Any] | None:
    """The JSON object a line holds, or None (not JSON, not an object, nested too deep)."""
    if not text.startswith("{"):
        return None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if type(obj) is dict else None


# --- parser kinds -----------------------------------------------------------------------------


def json_parser(spec: Parser) -> ParseFn:
    get_level = getter(spec.level)
    get_status = getter(spec.status)
    get_duration = getter(spec.duration)
    get_route = getter(spec.route)
    get_method = getter(spec.method)
    get_service = getter(spec.service)
    get_timestamp = getter(spec.timestamp)
    scale = UNIT_SCALE[spec.duration_unit]

    def text_field(obj: dict[str, Any], get: Callable[[dict[str, Any]], Any] | None) -> Any:
        return None if get is None else get(obj)

    def parse(text: str, obj: dict[str, Any] | None) -> Record | None:
        if obj is None:
            obj = loads_object(text)
            if obj is None:
                return None
        bad = False
        level = text_field(obj, get_level)
        if level is not None and (type(level) is not str and type(level) is not int):
            level, bad = None, True
        status, bad_status = _status(text_field(obj, get_status))
        duration, bad_duration = _duration(text_field(obj, get_duration), scale)
        route = text_field(obj, get_route)
        if route is not None and type(route) is not str:
            route, bad = None, True
        method = text_field(obj, get_method)
        if method is not None and type(method) is not str:
            method, bad = None, True
        service = text_field(obj, get_service)
        if service is not None and type(service) is not str:
            service, bad = None, True
        timestamp = text_field(obj, get_timestamp)
        return (
            level,
            status,
            duration,
            route,
            method,
            service,
            timestamp,
            bad or bad_status or bad_duration,
        )

    return parse


def regex_parser(pattern: re.Pattern[str], unit: str) -> ParseFn:
    index = pattern.groupindex
    # positions in m.groups(); -1 for a field the regex does not capture
    il, ist, idu, iro, ime, ise, iti = (index.get(f, 0) - 1 for f in FIELDS)
    scale = UNIT_SCALE[unit]
    search = pattern.search

    def parse(text: str, obj: dict[str, Any] | None) -> Record | None:
        m = search(text)
        if m is None:
            return None
        g = m.groups()
        bad = False
        status = None
        if ist >= 0 and (raw := g[ist]) is not None:
            if len(raw) == 3 and raw.isdigit() and raw[0] in "12345":
                status = int(raw)
            else:
                bad = True
        duration = None
        if idu >= 0 and (raw := g[idu]) is not None:
            try:
                duration = float(raw) * scale
            except ValueError:
                bad = True
            else:
                if not math.isfinite(duration) or duration < 0:
                    duration, bad = None, True
        return (
            g[il] if il >= 0 else None,
            status,
            duration,
            g[iro] if iro >= 0 else None,
            g[ime] if ime >= 0 else None,
            g[ise] if ise >= 0 else None,
            g[iti] if iti >= 0 else None,
            bad,
        )

    return parse


class RailsParser:
    """Rails' default logger, as Chatwoot writes it:
    ``I, [2025-10-13T12:00:00.123456 #42]  INFO -- : [req-id] Completed 200 OK in 12ms (...)``.

    Every line is recognised (Rails logs SQL, params and backtraces between requests); the level
    and timestamp come from the logger's prefix when present. A request is the ``Completed``
    line, which carries no path: its method and route are taken from the ``Started GET "/path"``
    line of the same request, paired by the first tag (the request id, Rails' default
    ``log_tags``), else by the process id of the prefix. Unpaired, they are absent (the route
    group is then ``other``). Pairs waiting are bounded, the oldest dropped first.
    """

    _PREFIX = re.compile(r"[DIWEFAU], \[(\S+) #(\d+)\]\s+([A-Z]+) -- [^:]*: ")
    _TAG = re.compile(r"\[([^\]\s]+)\] ")
    _STARTED = re.compile(r'Started ([A-Z]+) "([^"]*)"')
    _COMPLETED = re.compile(r"Completed (\d{3}) .*?in (\d+(?:\.\d+)?)ms")
    PENDING_MAX = 4096

    def __init__(self) -> None:
        # the pipeline feeds one batch at a time per source (its lock), so no lock here
        self._pending: dict[str, tuple[str, str]] = {}

    def __call__(self, text: str, obj: dict[str, Any] | None) -> Record | None:
        level = timestamp = None
        key = ""
        rest = text
        prefix = self._PREFIX.match(text)
        if prefix is not None:
            timestamp, key, level = prefix.group(1), prefix.group(2), prefix.group(3)
            rest = text[prefix.end() :]
        if "Started " not in rest and "Completed " not in rest:
            return (level, None, None, None, None, None, timestamp, False)
        tag = self._TAG.match(rest)
        if tag is not None:
            key = tag.group(1)
        started = self._STARTED.search(rest)
        if started is not None:
            self._pending.pop(key, None)  # re-inserted last: dict order is age order
            self._pending[key] = (started.group(1), started.group(2))
            if len(self._pending) > self.PENDING_MAX:
                del self._pending[next(iter(self._pending))]
            return (level, None, None, None, None, None, timestamp, False)
        completed = self._COMPLETED.search(rest)
        if completed is None:
            return (level, None, None, None, None, None, timestamp, False)
        method, route = self._pending.pop(key, (None, None))
        code = int(completed.group(1))
        valid = 100 <= code <= 599  # "Completed 000" or "999" is no status: dropped, as elsewhere
        return (
            level,
            code if valid else None,
            float(completed.group(2)) / 1000.0,
            route,
            method,
            None,
            timestamp,
            not valid,
        )


def build(spec: Parser) -> ParseFn:
    if spec.kind in ("json", "json_logger"):
        # json_logger is the HotDash JSON logger, {timestamp, level, message, service, ...}:
        # exactly the json defaults
        return json_parser(spec)
    if spec.kind == "regex":
        assert spec.regex is not None  # the model checks it
        return regex_parser(spec.regex, spec.duration_unit)
    if spec.kind == "rails":
        return RailsParser()
    pattern, unit = SHIPPED_REGEX[spec.kind]
    return regex_parser(re.compile(pattern), unit)
