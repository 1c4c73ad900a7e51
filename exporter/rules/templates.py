"""The subset of Prometheus's alert templating the rules use, rendered in Python, so the promtool
tests can state the exact summary and description each alert must carry (promtool compares
annotations too). Prometheus itself renders the real ones; if this rendering and Go's ever
disagree, the tests fail and show both.

Supported: ``{{ $labels.NAME }}``, ``{{ $value }}`` piped through ``humanize``,
``humanize1024``, ``humanizePercentage`` or ``humanizeDuration`` (Prometheus's
template/template.go). Anything else is refused, so no rule can use a construct the tests cannot
check.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_LABEL = re.compile(r"^\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)$")
_VALUE = re.compile(r"^\$value\s*\|\s*(humanize|humanize1024|humanizePercentage|humanizeDuration)$")


def _g4(v: float) -> str:
    """Go's fmt %.4g (same digits and exponent form as C's)."""
    return f"{v:.4g}"


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return _g4(v) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return _g4(v) + prefix


def humanize1024(v: float) -> str:
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return _g4(v) + prefix


def humanize_percentage(v: float) -> str:
    return _g4(v * 100) + "%"


def humanize_duration(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        whole = int(v)
        seconds = whole % 60
        minutes = (whole // 60) % 60
        hours = (whole // 3600) % 24
        days = whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


_FUNCS = {
    "humanize": humanize,
    "humanize1024": humanize1024,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
}


def check(template: str) -> set[str]:
    """The labels a template reads; ValueError for any construct outside the subset."""
    labels: set[str] = set()
    for action in _ACTION.findall(template):
        if match := _LABEL.match(action):
            labels.add(match.group(1))
        elif not _VALUE.match(action):
            raise ValueError(f"template action {{{{ {action} }}}} is not supported: {template!r}")
    return labels


def render(template: str, labels: Mapping[str, str], value: float) -> str:
    def action(match: re.Match[str]) -> str:
        text = match.group(1)
        if label := _LABEL.match(text):
            return labels.get(label.group(1), "<no value>")
        if func := _VALUE.match(text):
            return _FUNCS[func.group(1)](value)
        raise ValueError(f"unsupported template action {text!r}")

    return _ACTION.sub(action, template)
