"""From lines to a :class:`~exporter.logs.counters.Tally`: the envelope (for JSON records from log
shippers), the source's parsers in order, label normalisation into closed sets, error patterns,
and the request counters and histogram.

The loop in :meth:`Pipeline._tally` is the hot path (every line of every source goes through
it, 100,000 lines a second per core is the target): it binds what it uses to locals and keeps
per-line work to dictionary lookups.
"""

from __future__ import annotations

import calendar
import math
import re
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from exporter.logs import parsers
from exporter.logs.config import LogsConfig, LogSource
from exporter.logs.counters import LogState, Tally
from exporter.logs.routes import OTHER, RouteGrouper

METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
)
OTHER_METHOD = "OTHER"
CODE_CLASSES = ("", "1xx", "2xx", "3xx", "4xx", "5xx")  # parsers only pass statuses 100-599
UNKNOWN = "unknown"


def _level_table() -> dict[Any, str]:
    names = {
        "debug": ("trace", "debug", "dbg", "verbose", "silly", "fine", "finer", "finest", "t", "d"),
        "info": ("info", "information", "informational", "notice", "log", "i", "n"),
        "warn": ("warn", "warning", "w"),
        "error": ("error", "err", "e", "severe"),
        "fatal": ("fatal", "critical", "crit", "panic", "emerg", "emergency", "alert", "f", "a"),
    }
    table: dict[Any, str] = {}
    for level, words in names.items():
        for word in words:
            for form in (word, word.upper(), word.capitalize()):
                table[form] = level
    # pino / bunyan numbers (10 trace ... 60 fatal), then syslog severities (0 emerg ... 7 debug)
    numbers = {10: "debug", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}
    numbers |= {0: "fatal", 1: "fatal", 2: "fatal", 3: "error", 4: "warn", 5: "info", 6: "info"}
    numbers |= {7: "debug"}
    for number, level in numbers.items():
        table[number] = level
        table[str(number)] = level
    return table


LEVEL_TABLE = _level_table()


def normalise_level(raw: Any) -> str:
    """A level as written (``WARNING``, ``err``, ``40``) -> one of LEVELS."""
    if raw is None:
        return UNKNOWN
    level = LEVEL_TABLE.get(raw)
    if level is None and type(raw) is str:
        level = LEVEL_TABLE.get(raw.strip().lower())
    return level or UNKNOWN


_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_CLF_TIME = re.compile(r"^(\d{2})/(\w{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$")


def parse_timestamp(raw: Any) -> float | None:
    """A line's timestamp as a Unix time: ISO 8601 (no offset: UTC), the common log format
    (``10/Oct/2025:13:55:36 +0000``), or a number of seconds, milliseconds, microseconds or
    nanoseconds since the epoch (told apart by size). None when it is none of these."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, str):
        text = raw.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            match = _CLF_TIME.match(text)
            if match is None:
                try:
                    raw = float(text)
                except ValueError:
                    return None
            else:
                day, mon, year, hh, mm, ss, sign, oh, om = match.groups()
                if mon not in _MONTHS:
                    return None
                try:
                    base = calendar.timegm(
                        (int(year), _MONTHS[mon], int(day), int(hh), int(mm), int(ss))
                    )
                except ValueError:
                    return None
                offset = (int(oh) * 3600 + int(om) * 60) * (1 if sign == "+" else -1)
                return float(base - offset)
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.timestamp()
    if isinstance(raw, int | float):
        value = float(raw)
        if not math.isfinite(value) or value <= 0:
            return None
        for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
            if value > limit:
                return value / scale
        return value
    return None


class Pipeline:
    """Everything one source does with a line. Rebuilt on every reload (cheap); the counters it
    feeds live in the shared :class:`LogState`."""

    def __init__(self, spec: LogSource, logs: LogsConfig, state: LogState) -> None:
        self.source = spec.name
        self.state = state
        self.parsers = [parsers.build(p) for p in spec.parsers]
        envelope = spec.effective_envelope
        self.envelope = envelope
        if envelope is not None:
            self._env_message = parsers.getter(envelope.message)
            self._env_service = parsers.getter(envelope.service)
            self._env_level = parsers.getter(envelope.level)
            self._env_timestamp = parsers.getter(envelope.timestamp)
        self.routes = RouteGrouper(logs.route_groups)
        self.patterns = [(p.name, p.regex) for p in logs.patterns]
        self.prefilter: re.Pattern[str] | None = None
        if self.patterns:
            # One search for all patterns, so the common line (no pattern) costs one search; a
            # pattern with global inline flags such as (?i) cannot be combined: then each runs.
            try:
                self.prefilter = re.compile("|".join(f"(?:{p.pattern})" for _, p in self.patterns))
            except re.error:
                self.prefilter = None
        self.default_service = spec.service_label
        services = dict(spec.service_map)
        for label in (*spec.service_map.values(), self.default_service):
            services.setdefault(label, label)
        self.services = services
        # the state's buckets are fixed at first use (see LogState.set_buckets)
        self.buckets = state.buckets or logs.buckets
        self._lock = threading.Lock()

    def feed(self, lines: list[str]) -> Tally:
        """Count complete lines (empty ones are skipped) and add them to the state."""
        with self._lock:  # one batch at a time: parsers may pair lines (rails)
            tally = self._tally(lines)
        if tally.lines or tally.dropped:
            self.state.merge(self.source, tally)
        return tally

    def _tally(self, lines: list[str]) -> Tally:
        levels: dict[str, int] = {}
        errors: dict[str, int] = {}
        matches: dict[str, int] = {}
        requests: dict[tuple[str, str, str, str], int] = {}
        durations: dict[tuple[str, str], list[float]] = {}
        parse_fns = self.parsers
        envelope = self.envelope
        prefilter = self.prefilter
        patterns = self.patterns
        each_pattern = bool(patterns) and prefilter is None
        group = self.routes.group
        services = self.services
        default_service = self.default_service
        buckets = self.buckets
        slots = len(buckets) + 2  # the buckets, +Inf, and the sum
        level_table = LEVEL_TABLE
        methods = METHODS
        classes = CODE_CLASSES
        env_message: Callable[[dict[str, Any]], Any] | None = None
        env_service = env_level = env_timestamp = None
        if envelope is not None:
            env_message = self._env_message
            env_service, env_level, env_timestamp = (
                self._env_service,
                self._env_level,
                self._env_timestamp,
            )
        seen = False
        last_ts: Any = None

        for text in lines:
            if not text:
                continue
            seen = True
            obj = None
            e_level = e_service = e_ts = None
            if envelope is not None:
                record = parsers.loads_object(text)
                if record is None:
                    errors["format"] = errors.get("format", 0) + 1
                    levels[UNKNOWN] = levels.get(UNKNOWN, 0) + 1
                    last_ts = None
                    continue
                if env_level is not None:
                    e_level = env_level(record)
                    if type(e_level) is not str and type(e_level) is not int:
                        e_level = None  # a level must be a word or a number, not an object
                if env_service is not None:
                    e_service = env_service(record)
                if env_timestamp is not None:
                    e_ts = env_timestamp(record)
                if env_message is None:
                    obj = record
                else:
                    message = env_message(record)
                    if type(message) is not str:
                        errors["field"] = errors.get("field", 0) + 1
                        lvl = normalise_level(e_level)
                        levels[lvl] = levels.get(lvl, 0) + 1
                        last_ts = e_ts
                        continue
                    text = message

            if prefilter is not None:
                if prefilter.search(text) is not None:
                    for name, regex in patterns:
                        if regex.search(text) is not None:
                            matches[name] = matches.get(name, 0) + 1
            elif each_pattern:
                for name, regex in patterns:
                    if regex.search(text) is not None:
                        matches[name] = matches.get(name, 0) + 1

            rec = None
            for parse in parse_fns:
                rec = parse(text, obj)
                if rec is not None:
                    break
            if rec is None:
                errors["format"] = errors.get("format", 0) + 1
                lvl = normalise_level(e_level)
                levels[lvl] = levels.get(lvl, 0) + 1
                last_ts = e_ts
                continue

            level, status, duration, route, method, service, ts, bad = rec
            if bad:
                errors["field"] = errors.get("field", 0) + 1
            if level is None:
                level = e_level
            # the table first: it holds the common spellings, so most lines skip the function
            known = level_table.get(level) if level is not None else UNKNOWN
            lvl = known if known is not None else normalise_level(level)
            levels[lvl] = levels.get(lvl, 0) + 1
            last_ts = ts if ts is not None else e_ts
            if status is None:
                continue

            if service is None:
                service = e_service if type(e_service) is str else None
            svc = default_service if service is None else services.get(service, OTHER)
            grp = group(route)
            if method not in methods:
                method = method.upper() if type(method) is str else None
                if method not in methods:
                    method = OTHER_METHOD
            key = (svc, grp, method, classes[status // 100])
            requests[key] = requests.get(key, 0) + 1
            if duration is not None:
                dkey = (svc, grp)
                counts = durations.get(dkey)
                if counts is None:
                    counts = durations[dkey] = [0.0] * slots
                counts[bisect_left(buckets, duration)] += 1
                counts[-1] += duration

        tally = Tally(
            lines=levels,
            parse_errors=errors,
            patterns=matches,
            requests=requests,
            durations=durations,
            buckets=buckets,
        )
        if seen:
            # Only the newest line's timestamp is parsed: parsing every one would cost more
            # than the rest of the line's work, and the gauge keeps the maximum anyway.
            newest = parse_timestamp(last_ts)
            tally.newest = newest if newest is not None else time.time()
        return tally
