"""The one duration grammar of redline: the operator's config, the alert specs and every command
line read durations here, so ``1h30m``, ``500ms`` and ``0.5s`` mean the same everywhere and a bad
value gets the same message everywhere.

Grammar: one or more ``<number><unit>`` parts, units in decreasing order, each at most once, as
Prometheus writes them (``y`` is 365 days, ``w`` 7 days, then ``d h m s ms``), where a part's number
may also have a fraction (``0.5s``, ``1.5h``, ``2d12h``). Where a bare number of seconds was
accepted before (a YAML number in the config, a number on the command line) it still is. Never
negative, never NaN or infinite, never empty.

Prometheus itself accepts only whole numbers per unit: :func:`prom` writes a value in the form
Prometheus prints (``0.5s`` -> ``500ms``, ``90m`` -> ``1h30m``), and refuses what is finer than a
millisecond, which Prometheus cannot express.
"""

from __future__ import annotations

import argparse
import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

EXAMPLES = "500ms, 0.5s, 30s, 5m or 1h30m"

# Largest first, as Prometheus orders them (prometheus/common model.ParseDuration).
UNITS: dict[str, Decimal] = {
    "y": Decimal(365 * 86400),
    "w": Decimal(7 * 86400),
    "d": Decimal(86400),
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
}
_NUMBER = r"\d+(?:\.\d+)?"
_GRAMMAR = re.compile("".join(f"(?:(?P<{u}>{_NUMBER}){u})?" for u in UNITS))
_BARE = re.compile(_NUMBER)
# What Prometheus itself accepts: whole numbers only (and a lone 0).
_PROM = re.compile("0|" + "".join(rf"(?:\d+{u})?" for u in UNITS))
# A bare number this large is a timeout that never comes, not a duration anyone means.
_TOO_LARGE = Decimal("1e300")
_MILLISECOND = Decimal("0.001")


def message(value: object) -> str:
    """The one error text for a value that is not a duration."""
    return f"{value!r} is not a duration such as {EXAMPLES}"


def parse(value: object, *, bare: bool = True) -> Decimal:
    """Exact seconds in ``value``: a duration string, or (when ``bare``) a number of seconds given
    as a number or as a string of digits. ValueError with :func:`message` otherwise."""
    if isinstance(value, bool):  # YAML's yes/no are not 1 and 0 seconds
        raise ValueError(message(value))
    if isinstance(value, int | float | Decimal) and bare:
        try:
            seconds = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            raise ValueError(message(value)) from None
        if not seconds.is_finite() or seconds < 0 or seconds >= _TOO_LARGE:
            raise ValueError(message(value))
        return seconds
    if not isinstance(value, str):
        raise ValueError(message(value))
    text = value.strip()
    if bare and _BARE.fullmatch(text):
        seconds = Decimal(text)
    elif text and (match := _GRAMMAR.fullmatch(text)):
        parts = match.groupdict().items()
        seconds = sum((Decimal(n) * UNITS[unit] for unit, n in parts if n), Decimal(0))
    else:
        raise ValueError(message(value))
    if seconds >= _TOO_LARGE:
        raise ValueError(message(value))
    return seconds


def is_prom(text: str) -> bool:
    """Whether Prometheus reads ``text`` as it stands (whole numbers per unit)."""
    return bool(text) and _PROM.fullmatch(text) is not None


def prom(value: object) -> str:
    """``value`` (anything :func:`parse` reads, or seconds) in the form Prometheus prints it:
    ``0.5s`` -> ``500ms``, ``90m`` -> ``1h30m``, 604800 -> ``1w``, 0 -> ``0s``. Years and weeks
    only when exact (``90d``, not ``12w6d``). ValueError below a millisecond."""
    seconds = parse(value)
    millis = seconds / _MILLISECOND
    if millis != millis.to_integral_value():
        raise ValueError(
            f"{value!r} is finer than a millisecond, which Prometheus cannot express "
            f"(the nearest it can: {prom(seconds.quantize(_MILLISECOND, ROUND_HALF_UP))})"
        )
    left = int(millis)
    if left == 0:
        return "0s"
    out = ""
    for unit, size in UNITS.items():
        size_ms = int(size / _MILLISECOND)
        if unit in ("y", "w") and left % size_ms:
            continue
        amount, left = divmod(left, size_ms)
        if amount:
            out += f"{amount}{unit}"
    return out


def _argparse(text: str, *, positive: bool) -> float:
    try:
        seconds = parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if positive and seconds == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0")
    result = float(seconds)
    if not math.isfinite(result):
        raise argparse.ArgumentTypeError(message(text))
    return result


def argparse_seconds(text: str) -> float:
    """The argparse ``type=`` of every duration option: seconds, 0 allowed (``--lag 0``)."""
    return _argparse(text, positive=False)


def argparse_positive_seconds(text: str) -> float:
    """The argparse ``type=`` of a timeout, an interval or a window: seconds, more than 0."""
    return _argparse(text, positive=True)
