"""The ``launch:`` section of redline.yml: the launch window, in the operator's time zone.

A window is a start and an end, each a date (``2025-10-13``) or a local time (``2025-10-13
08:00``) in ``timezone``. An end given as a date is inclusive, so ``start: 2025-10-13`` and
``end: 2025-10-15`` cover the three days of docs/targets.md ("October 13-15"), up to midnight at the
end of the 15th; an end given as a time is exclusive.

The same window drives three things that must agree:

* the exporter's ``redline_launch_window`` series (1 inside), for rules stricter in the window;
* the Alertmanager time interval that pages warnings during it: :func:`alertmanager_intervals`
  renders the window in Alertmanager's ``time_intervals`` form (alert_rules/routing.yml holds
  ``launch-window``; tests/test_launch_config.py checks that the two agree);
* ``redline launch-check``, which wants certificates valid through the end of the window (plus
  a margin) and reads the window from the exporter's series.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, field_validator, model_validator

from exporter.configtypes import Model, check_timezone

MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_LOCAL = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2}))?$")


def _local(value: Any) -> date | datetime:
    """A date, or a local date and time to the minute, without a UTC offset."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise ValueError(
                "give the local time without a UTC offset: the zone is launch.timezone"
            )
        parsed = value
    elif isinstance(value, date):
        return value
    elif isinstance(value, str) and (match := _LOCAL.match(value.strip())):
        try:
            day = date.fromisoformat(match.group(1))
            if match.group(2) is None:
                return day
            parsed = datetime.combine(day, time(int(match.group(2)), int(match.group(3))))
        except ValueError as e:
            raise ValueError(f"{value!r}: {e}") from None
    else:
        raise ValueError(f"{value!r} is not a date (2025-10-13) or a local time (2025-10-13 08:00)")
    if parsed.second or parsed.microsecond:
        # Alertmanager's time intervals are to the minute: the window must be too
        raise ValueError(f"{value!r}: a launch time is to the minute (no seconds)")
    return parsed


LocalTime = Annotated[date | datetime, BeforeValidator(_local)]


def naive(value: date | datetime, *, end: bool) -> datetime:
    """A :data:`LocalTime` as a naive datetime; a date that ends a window is inclusive (the
    window runs to midnight after it). The launch and maintenance windows read theirs so."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1) if end else value, time())


class LaunchConfig(Model):
    """The next launch window. No dates are built in: without ``launch:`` no launch is planned
    (the config's ``launch`` is None). The zone defaults to America/Chicago, the zone of the
    apps' Fly region (ord)."""

    start: LocalTime
    end: LocalTime  # a date: inclusive (to the end of that day)
    timezone: str = "America/Chicago"  # IANA name

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value, "America/Chicago")

    @model_validator(mode="after")
    def _order(self) -> LaunchConfig:
        if self.local_end <= self.local_start:
            raise ValueError(
                f"the window ends ({self.end}) before it starts ({self.start}); an end given "
                "as a date is inclusive"
            )
        return self

    @property
    def local_start(self) -> datetime:
        """The start, as a naive local time in :attr:`timezone`."""
        return naive(self.start, end=False)

    @property
    def local_end(self) -> datetime:
        """The end (exclusive), as a naive local time in :attr:`timezone`."""
        return naive(self.end, end=True)

    def bounds(self) -> tuple[float, float]:
        """(start, end) as Unix times; the window is start <= t < end."""
        zone = zoneinfo.ZoneInfo(self.timezone)
        return (
            self.local_start.replace(tzinfo=zone).timestamp(),
            self.local_end.replace(tzinfo=zone).timestamp(),
        )

    def contains(self, when: float) -> bool:
        start, end = self.bounds()
        return start <= when < end

    def describe(self) -> str:
        """The window as a person reads it: ``2025-10-13 00:00 to 2025-10-15 24:00
        America/Chicago``."""
        end = self.local_end
        end_text = (
            f"{(end - timedelta(days=1)):%Y-%m-%d} 24:00"
            if end.time() == time()
            else f"{end:%Y-%m-%d %H:%M}"
        )
        return f"{self.local_start:%Y-%m-%d %H:%M} to {end_text} {self.timezone}"


def alertmanager_intervals(launch: LaunchConfig | None) -> list[dict[str, Any]]:
    """The window as Alertmanager ``time_intervals`` entries (in its ``location``): whole days
    of one month as one entry with a ``days_of_month`` range, a partial first or last day as its
    own entry with ``times``. No launch planned: no entry, an interval that is never active
    (the routes that name it stay valid and never apply)."""
    if launch is None:
        return []
    start, end = launch.local_start, launch.local_end
    out: list[dict[str, Any]] = []
    day = start.date()
    while datetime.combine(day, time()) < end:
        day_start = datetime.combine(day, time())
        day_end = day_start + timedelta(days=1)
        lo, hi = max(start, day_start), min(end, day_end)
        entry: dict[str, Any] = {
            "years": [str(day.year)],
            "months": [MONTHS[day.month - 1]],
            "days_of_month": [str(day.day)],
            "location": launch.timezone,
        }
        if (lo, hi) != (day_start, day_end):
            end_text = "24:00" if hi == day_end else f"{hi:%H:%M}"
            entry["times"] = [{"start_time": f"{lo:%H:%M}", "end_time": end_text}]
        previous = out[-1] if out else None
        if (
            previous is not None
            and "times" not in entry
            and "times" not in previous
            and previous["years"] == entry["years"]
            and previous["months"] == entry["months"]
        ):
            first = previous["days_of_month"][0].split(":")[0]
            previous["days_of_month"] = [f"{first}:{day.day}"]
        else:
            out.append(entry)
        day += timedelta(days=1)
    return out
