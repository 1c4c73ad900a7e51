"""What the ops commands share: times and durations on the command line, number formatting for
reports, "nice" suggested values, and the list of what a report could not compute."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from exporter import durations
from exporter.ops.promapi import ApiError


class UsageError(ValueError):
    """A bad command-line value; the message says what is expected."""


def parse_duration(text: str) -> float:
    """Seconds in a duration (exporter/durations.py): ``7d``, ``90d``, ``1h30m``, ``0.5s``; more
    than 0."""
    try:
        seconds = float(durations.parse(text, bare=False))
    except ValueError as e:
        raise UsageError(str(e)) from None
    if seconds <= 0:
        raise UsageError(f"{text!r}: must be more than 0")
    return seconds


def parse_time(text: str, now: float | None = None) -> float:
    """Unix seconds from RFC 3339 (``2025-10-14T02:30:00Z``; a date alone is midnight UTC),
    a Unix timestamp, ``now`` or ``now-2h``."""
    now = time.time() if now is None else now
    value = text.strip()
    if value == "now":
        return now
    if value.startswith("now-"):
        return now - parse_duration(value[4:])
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{text!r} is not a time: use RFC 3339 (2025-10-14T02:30:00Z), a Unix timestamp, "
            "now or now-2h"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def parse_factor(text: str) -> float:
    """``10x`` or ``10`` -> 10.0 (a growth factor, at least 1)."""
    value = text.strip().lower().removesuffix("x")
    try:
        factor = float(value)
    except ValueError:
        raise UsageError(f"{text!r} is not a growth factor such as 10x") from None
    if not math.isfinite(factor) or factor < 1:
        raise UsageError(f"{text!r}: a growth factor is 1x or more")
    return factor


# --- formatting ---------------------------------------------------------------------------------


DAY = 86400.0  # seconds


def fmt_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_date(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_duration(seconds: float) -> str:
    """``90`` -> ``1m 30s``; ``86400*7`` -> ``7d``; below a second in milliseconds."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    total = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def sig(value: float, digits: int = 6) -> float:
    """``value`` rounded to ``digits`` significant digits: no float noise in YAML files."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def fmt_seconds(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "above the largest bucket" if value > 0 else "n/a"
    if value < 1:
        return f"{value * 1000:.3g} ms"
    return f"{value:.3g} s"


def fmt_ratio(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{sig(value * 100, digits):g}%"


def fmt_bytes(value: float) -> str:
    for unit, size in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(value) >= size * 0.95:  # 1023.9 MiB reads better as 1 GiB
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"


def fmt_value(value: float | None, unit: str) -> str:
    """A value in its unit: seconds, ratio, bytes, or a plain number followed by the unit."""
    if value is None or math.isnan(value):
        return "n/a"
    if unit == "seconds":
        return fmt_seconds(value)
    if unit == "ratio":
        return fmt_ratio(value, 3)
    if unit == "bytes":
        return fmt_bytes(value)
    return f"{sig(value, 3):g} {unit}".rstrip()


# 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten: values a person would write in a config
_NICE = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def nice_up(value: float) -> float:
    """The smallest "nice" number (see _NICE) at or above ``value`` (> 0)."""
    if value <= 0 or not math.isfinite(value):
        raise ValueError(f"nice_up needs a positive number, not {value!r}")
    power = 10.0 ** math.floor(math.log10(value))
    for step in _NICE:
        candidate = sig(step * power, 6)
        if candidate >= value * (1 - 1e-12):
            return candidate
    return sig(10 * power, 6)  # pragma: no cover - _NICE ends at 10


# --- what a report could not compute ---------------------------------------------------------


@dataclass
class Gaps:
    """What could not be computed, with why: shown in every report and printed as warnings."""

    items: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        if message not in self.items:
            self.items.append(message)

    def markdown(self) -> list[str]:
        if not self.items:
            return ["Everything was computed."]
        return [f"- {item}" for item in self.items]

    def warn(self, stream: TextIO | None = None) -> None:
        for item in self.items:
            print(f"warning: {item}", file=stream or sys.stderr)


def unreachable_message(error: ApiError) -> str:
    return f"{error.message}; nothing was read from Prometheus"


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table (``|`` in cells escaped)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def load_model(spec_dir: Path, gaps: Gaps, what: str) -> Any:
    """The stack model (exporter/rules/stackmodel.py) of the repository that holds ``spec_dir``
    (its alert_rules/) and its config/hotrod.yml; None, with ``what`` noted as a gap, when it
    cannot be read."""
    from exporter.config import ConfigError
    from exporter.rules import stackmodel
    from exporter.rules.spec import SpecError

    try:
        return stackmodel.load(spec_dir.resolve().parent)
    except (SpecError, ConfigError) as e:
        gaps.add(f"{what}: {e}")
        return None
