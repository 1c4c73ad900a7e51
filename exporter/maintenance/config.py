"""The ``maintenance:`` section of redline.yml: planned work, declared before it happens.

A window names what it covers (``services``: services and databases of this file), why
(``reason``), and when: either once (``start`` and ``end``, dates or local times to the minute,
read like the launch window: an end given as a date is inclusive) or every week (``weekly``:
days and a local start and end time). Times are local to ``timezone``.

While a window is open the exporter's ``redline_maintenance_window`` series is 1 for each thing
it covers; the MaintenanceWindow alert turns it into Alertmanager inhibitions
(exporter/rules/alerts/maintenance.py): nothing about the service notifies, everything still
shows. Unplanned work gets a silence instead: ``redline maintenance add``.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from exporter.configtypes import Model, Name, check_timezone
from exporter.launch.config import LocalTime, naive

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# how far ahead an occurrence is looked for: a weekly window recurs within a week (two, across
# a daylight-saving change), a one-off one is its own occurrence
LOOKAHEAD_DAYS = 15


def _clock(value: object) -> int:
    """``"03:00"``: a local time of day to the minute, as minutes after midnight; ``"24:00"``
    (1440) is the end of the day."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads 03:00 unquoted as a sexagesimal integer (180): refuse, say how
        raise ValueError(f"{value!r}: quote the time of day, e.g. '03:00'")
    text = value.strip() if isinstance(value, str) else ""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValueError(f"{value!r} is not a time of day like '03:00'")
    hours, minutes = int(parts[0]), int(parts[1])
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise ValueError(f"{value!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


Clock = Annotated[int, BeforeValidator(_clock)]


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class Weekly(Model):
    """Every week, on ``days``, from ``start`` to ``end`` (local times of day; ``end`` "24:00"
    is midnight; an end earlier than the start runs past midnight into the next day)."""

    days: tuple[Literal[WEEKDAYS], ...] = Field(min_length=1)  # type: ignore[valid-type]
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _length(self) -> Weekly:
        if self.start == self.end or (self.start, self.end) == (0, 1440):
            raise ValueError(
                "the weekly window is empty or a whole day: give a start and an end that differ"
            )
        if self.start == 1440:
            raise ValueError("a window starts at 00:00 of the next day, not at 24:00")
        return self

    def minutes(self) -> int:
        """The window's length in minutes (across midnight when end < start)."""
        return self.end - self.start if self.end > self.start else self.end + 1440 - self.start

    def describe(self) -> str:
        return f"every {', '.join(self.days)}, {_hhmm(self.start)} to {_hhmm(self.end)}"


class Window(Model):
    name: Name
    services: tuple[Name, ...] = Field(min_length=1)  # services and databases of this file
    reason: str = Field(min_length=1)
    start: LocalTime | None = None  # once: start and end
    end: LocalTime | None = None
    weekly: Weekly | None = None  # or every week
    timezone: str = "America/Chicago"  # IANA name; the apps' Fly region is ord (Chicago)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value, "America/Chicago")

    @model_validator(mode="after")
    def _when(self) -> Window:
        once = self.start is not None or self.end is not None
        if once and self.weekly is not None:
            raise ValueError("give start and end (once) or weekly (every week), not both")
        if not once and self.weekly is None:
            raise ValueError("give start and end (once) or weekly (every week)")
        if once:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            start, end = self.bounds_once()
            if end <= start:
                raise ValueError(
                    f"the window ends ({self.end}) before it starts ({self.start}); an end "
                    "given as a date is inclusive"
                )
        if len(set(self.services)) != len(self.services):
            raise ValueError("a service is named twice")
        return self

    def bounds_once(self) -> tuple[float, float]:
        """A one-off window's (start, end) as Unix times; start <= t < end."""
        assert self.start is not None and self.end is not None
        zone = zoneinfo.ZoneInfo(self.timezone)
        start = naive(self.start, end=False).replace(tzinfo=zone).timestamp()
        return start, naive(self.end, end=True).replace(tzinfo=zone).timestamp()

    def occurrences(self, since: float, until: float) -> Iterator[tuple[float, float]]:
        """Every (start, end) of the window that overlaps [since, until), in order."""
        if self.weekly is None:
            start, end = self.bounds_once()
            if start < until and end > since:
                yield start, end
            return
        zone = zoneinfo.ZoneInfo(self.timezone)
        weekly = self.weekly
        length = timedelta(minutes=weekly.minutes())
        # the day before `since` too: an occurrence that began yesterday may still be open
        day = datetime.fromtimestamp(since, zone).date() - timedelta(days=1)
        last = datetime.fromtimestamp(until, zone).date()
        while day <= last:
            if WEEKDAYS[day.weekday()] in weekly.days:
                local = datetime.combine(day, time()) + timedelta(minutes=weekly.start)
                # wall-clock length: 03:00-04:00 stays 03:00-04:00 across a DST change
                start = local.replace(tzinfo=zone).timestamp()
                end = (local + length).replace(tzinfo=zone).timestamp()
                if start < until and end > since:
                    yield start, end
            day += timedelta(days=1)

    def current_or_next(self, now: float) -> tuple[float, float] | None:
        """The occurrence open at ``now``, else the next one (None: a one-off window that is
        over)."""
        return next(self.occurrences(now, now + LOOKAHEAD_DAYS * 86400.0), None)

    def describe(self) -> str:
        if self.weekly is None:
            assert self.start is not None and self.end is not None
            start, end = naive(self.start, end=False), naive(self.end, end=True)
            return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} {self.timezone}"
        return f"{self.weekly.describe()} {self.timezone}"


@dataclass(frozen=True)
class Clash:
    """Two windows covering one service at the same time."""

    service: str
    first: str
    second: str
    at: float


def clashes(windows: tuple[Window, ...], horizon: float) -> list[Clash]:
    """Windows that cover the same service at the same time, looked for from ``horizon`` (a
    Unix time: now) over the next LOOKAHEAD_DAYS days and over every one-off window's span.
    Two windows on one service at once is a copy-paste mistake or two plans that do not know
    of each other: either way the operator should decide which one holds."""
    out: list[Clash] = []
    spans = [w.bounds_once() for w in windows if w.weekly is None]
    since = min([horizon, *(s for s, _ in spans)])
    until = max([horizon + LOOKAHEAD_DAYS * 86400.0, *(e for _, e in spans)])
    # bounded: a one-off window years long is a mistake, not a reason to scan years of weeks
    until = min(until, since + 400 * 86400.0)
    for i, a in enumerate(windows):
        for b in windows[i + 1 :]:
            shared = [s for s in a.services if s in b.services]
            if not shared:
                continue
            hit = _overlap(list(a.occurrences(since, until)), list(b.occurrences(since, until)))
            if hit is not None:
                out.append(Clash(shared[0], a.name, b.name, hit))
    return out


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float | None:
    for s1, e1 in a:
        for s2, e2 in b:
            if s1 < e2 and s2 < e1:
                return max(s1, s2)
    return None


# The section as it sits in Config: a tuple of windows, names unique (checked with the rest of
# the file's references in Config._references).
Windows = tuple[Window, ...]
