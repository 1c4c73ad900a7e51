"""The JSON probe: the HTTP probe (same request, same checks), then values read from the JSON
body and exposed as ``redline_json_<name>`` gauges.

Reading a value never fails the probe: ``probe_success`` says whether the endpoint answered as
configured, and ``redline_json_field_state{field, state}`` says, per configured field, whether
its value was read (ok), absent (missing) or unreadable (invalid). A field that is not ok emits
no value, rather than a made-up one.

Values are read only from a response that passed the HTTP checks: a failed probe emits no
JSON-derived series, so a stale value is never mistaken for a current one.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from typing import Any

from exporter import assertions
from exporter import metrics as m
from exporter.config import Config, JsonMetric, JsonProbe
from exporter.probes import http
from exporter.probes.base import ProbeContext, Report

_PLACEHOLDER = re.compile(r"(\.?)\{([a-z_][a-z0-9_]*)\}")
_PLAIN_KEY = re.compile(r"[A-Za-z_$][\w$-]*")
# "12s", "340ms", "5m", "1h30m", "1.5s"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h|d)")
_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0,
}  # fmt: skip
_FIELD_STATES = ("ok", "missing", "invalid")


class _Invalid(Exception):
    """The value is present but cannot be read as configured."""


# One expanded field: the path as shown (the ``field`` label), the parsed path, the label values.
_Field = tuple[str, tuple[str | int, ...], dict[str, str]]


@functools.lru_cache(maxsize=4096)
def _expand(path: str, labels: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[_Field, ...]:
    """Every concrete path of a metric: ``{label}`` filled with each configured value, over the
    cartesian product of its labels. Bounded by the config, so cached."""
    names = [name for name, _ in labels]
    out: list[_Field] = []
    for values in itertools.product(*(vals for _, vals in labels)):
        chosen = dict(zip(names, values, strict=True))

        def fill(match: re.Match[str], chosen: dict[str, str] = chosen) -> str:
            value = chosen[match.group(2)]
            if _PLAIN_KEY.fullmatch(value):
                return match.group(1) + value
            # A value such as "a.b" or "0" would change the path's shape: quote it as a key.
            return f"[{json.dumps(value)}]"

        text = _PLACEHOLDER.sub(fill, path)
        out.append((text, assertions.parse_path(text), chosen))
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _metric(name: str, kind: str, help_text: str, labels: tuple[str, ...]) -> m.Metric:
    # Names come from the config, so they cannot be defined once in exporter/metrics.py; the
    # prefix keeps them apart from redline's own names.
    return m.Metric(m.JSON_METRIC_PREFIX + name, kind, help_text, (*m.P, *labels))


def _help(spec: JsonMetric) -> str:
    return spec.help or f"Value of {spec.path} in the JSON response ({spec.parse})."


def metric_of(spec: JsonMetric) -> m.Metric:
    """The series a configured JSON metric is exposed as: a gauge, or a state set with the
    label ``state``; labels ``service``, ``probe`` and the configured ones. The one mapping from
    config to series, read by the probe, the alert rules, the dashboards and ``baseline``."""
    is_states = spec.parse == "states"
    labels = tuple(spec.labels)
    return _metric(
        spec.name,
        "stateset" if is_states else "gauge",
        _help(spec),
        (*labels, "state") if is_states else labels,
    )


def configured(config: Config, name: str) -> tuple[JsonMetric, m.Metric]:
    """The JSON metric ``name`` as ``config`` defines it; KeyError naming it when no JSON probe
    reads it (a rule or a panel may only use a field that is really read)."""
    for service in config.services:
        for probe in service.probes:
            if isinstance(probe, JsonProbe):
                for spec in probe.metrics:
                    if spec.name == name:
                        return spec, metric_of(spec)
    raise KeyError(f"no JSON probe of the config defines the metric {name!r}")


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{_show(value)} is not a number")
    try:
        return float(value)
    except OverflowError:
        raise _Invalid("number out of range") from None


def _percent(value: Any) -> float:
    """ "1.50%" -> 0.015. A bare JSON number is read as a percentage too (1.5 -> 0.015)."""
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            raise _Invalid(f"{_show(value)} is not a percentage such as 1.50%")
        try:
            number = float(text[:-1])
        except ValueError:
            raise _Invalid(f"{_show(value)} is not a percentage such as 1.50%") from None
    else:
        number = _number(value)
    if not math.isfinite(number):
        raise _Invalid(f"{_show(value)} is not a finite percentage")
    return number / 100.0


def _duration(value: Any) -> float:
    """ "12s", "340ms", "5m", "1h30m" -> seconds. A bare JSON number is read as seconds."""
    if not isinstance(value, str):
        return _number(value)
    text = value.strip()
    parts = _DURATION.findall(text)
    # findall skips what does not match: make sure the parts are the whole text
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        raise _Invalid(f"{_show(value)} is not a duration such as 12s or 340ms")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _bool(value: Any) -> float:
    if not isinstance(value, bool):
        raise _Invalid(f"{_show(value)} is not true or false")
    return 1.0 if value else 0.0


_PARSERS = {"number": _number, "percent": _percent, "duration": _duration, "bool": _bool}


def _state(value: Any, states: tuple[str, ...]) -> str:
    # JSON strings compare as they are; other scalars by their JSON text (true, 1, null).
    text = value if isinstance(value, str) else json.dumps(value)
    if text not in states:
        raise _Invalid(f"{_show(value)} is not one of {', '.join(states)}")
    return text


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def read_values(metrics: tuple[JsonMetric, ...], doc: Any, report: Report) -> None:
    """Expose each configured metric's values read from ``doc``, and every field's state."""
    # field -> state. A field read by two metrics is one series; unreadable by either wins.
    field_states: dict[str, str] = {}
    for spec in metrics:
        is_states = spec.parse == "states"
        metric = metric_of(spec)
        parser = None if is_states else _PARSERS[spec.parse]
        for field, path, labels in _expand(spec.path, tuple(spec.labels.items())):
            found = assertions.lookup(doc, path)
            if assertions.is_missing(found):
                state = "missing"
                report.note(f"json field {field}: missing")
            else:
                try:
                    if parser is not None:
                        report.set(metric, parser(found) * spec.scale, **labels)
                    else:
                        current = _state(found, spec.states)
                        for s in spec.states:
                            report.set(metric, 1 if s == current else 0, **labels, state=s)
                    state = "ok"
                except _Invalid as e:
                    state = "invalid"
                    report.note(f"json field {field}: invalid, {e}")
            if field_states.get(field) != "invalid":
                field_states[field] = state
    counts = dict.fromkeys(_FIELD_STATES, 0)
    for field, state in field_states.items():
        counts[state] += 1
        for s in _FIELD_STATES:
            report.set(m.JSON_FIELD_STATE, 1 if s == state else 0, field=field, state=s)
    report.note(
        f"json: {counts['ok']} fields read, {counts['missing']} missing, "
        f"{counts['invalid']} invalid"
    )


async def probe(cfg: JsonProbe, ctx: ProbeContext, report: Report) -> None:
    resp = await http.fetch(cfg, ctx, report)
    http.check(cfg, resp, report)
    read_values(cfg.metrics, resp.json(), report)
