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

import asyncio
import functools
import itertools
import json
import math
import re
from typing import Any

from exporter import assertions
from exporter import metrics as m
from exporter.config import FLY_PIN_HEADER, Config, JsonMetric, JsonProbe, status_matches
from exporter.probes import http
from exporter.probes.base import ProbeContext, ProbeFailure, Report

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


def metric_of(spec: JsonMetric, per_machine: bool = False) -> m.Metric:
    """The series a configured JSON metric is exposed as: a gauge, or a state set with the
    label ``state``; labels ``service``, ``probe``, the configured ones, and ``machine`` when
    its probe reads each machine (``per_machine``). The one mapping from config to series, read
    by the probe, the alert rules, the dashboards and ``baseline``."""
    is_states = spec.parse == "states"
    labels = (*spec.labels, MACHINE_LABEL) if per_machine else tuple(spec.labels)
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
                        return spec, metric_of(spec, probe.per_machine is not None)
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
    field_states: dict[str, str] = {}
    _read(metrics, doc, report, field_states)
    _field_states(field_states, report)


# field states, worst first: a field unreadable anywhere is invalid, else absent anywhere missing
_WORSE = {"invalid": 2, "missing": 1, "ok": 0}


def _read(
    metrics: tuple[JsonMetric, ...],
    doc: Any,
    report: Report,
    field_states: dict[str, str],
    machine: str | None = None,
) -> None:
    """Each configured metric's values in ``doc`` into ``report`` (labelled ``machine`` when
    read from one machine), each field's state into ``field_states`` (the worst wins: a field
    read by two metrics, or from several machines, is one series)."""
    where = f" (machine {machine})" if machine is not None else ""
    extra = {MACHINE_LABEL: machine} if machine is not None else {}
    for spec in metrics:
        is_states = spec.parse == "states"
        metric = metric_of(spec, machine is not None)
        parser = None if is_states else _PARSERS[spec.parse]
        for field, path, labels in _expand(spec.path, tuple(spec.labels.items())):
            found = assertions.lookup(doc, path)
            if assertions.is_missing(found):
                state = "missing"
                report.note(f"json field {field}{where}: missing")
            else:
                try:
                    if parser is not None:
                        report.set(metric, parser(found) * spec.scale, **labels, **extra)
                    else:
                        current = _state(found, spec.states)
                        for s in spec.states:
                            report.set(metric, 1 if s == current else 0, **labels, **extra, state=s)
                    state = "ok"
                except _Invalid as e:
                    state = "invalid"
                    report.note(f"json field {field}{where}: invalid, {e}")
            if _WORSE[state] > _WORSE[field_states.get(field, "ok")] or field not in field_states:
                field_states[field] = state


def _field_states(field_states: dict[str, str], report: Report) -> None:
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
    if cfg.per_machine is None:
        read_values(cfg.metrics, resp.json(), report)
    else:
        await read_each_machine(cfg, ctx, report)


# --- per machine: each machine of a Fly process group read on its own ---------------------------

MACHINE_LABEL = "machine"
# Machines read per run: a label value each, so the series stay bounded whatever Fly runs.
MAX_MACHINES = 20


async def read_each_machine(cfg: JsonProbe, ctx: ProbeContext, report: Report) -> None:
    """Read the values from each started machine of ``cfg.per_machine``, one request each pinned
    with Fly's fly-force-instance-id header, concurrently; labelled ``machine``. Through the
    proxy the machines answer in turn, each with its own counts, and every switch read as a
    counter reset. Unknown machines (no Fly source here, no poll yet) give no values at all:
    read through the proxy they would alternate. A machine that does not answer has its fields
    missing (JsonFieldMissing); the probe's success is its one request through the proxy."""
    machines = ctx.machines(cfg) if ctx.machines is not None else None
    field_states: dict[str, str] = {}
    if not machines:
        why = "no started machine" if machines == () else "its machines are not known yet"
        report.note(f"per_machine {cfg.per_machine}: {why}; no values read")
        for spec in cfg.metrics:
            for field, _, _ in _expand(spec.path, tuple(spec.labels.items())):
                field_states[field] = "missing"
        _field_states(field_states, report)
        return
    if len(machines) > MAX_MACHINES:
        report.note(f"per_machine {cfg.per_machine}: {len(machines)} machines, read {MAX_MACHINES}")
        machines = machines[:MAX_MACHINES]
    docs = await asyncio.gather(*(_machine_doc(cfg, ctx, mid) for mid in machines))
    for mid, (doc, failure) in zip(machines, docs, strict=True):
        if failure is not None:
            report.note(f"machine {mid}: {failure.reason}: {failure.message}")
            for spec in cfg.metrics:
                for field, _, _ in _expand(spec.path, tuple(spec.labels.items())):
                    if field not in field_states or field_states[field] == "ok":
                        field_states[field] = "missing"
            continue
        _read(cfg.metrics, doc, report, field_states, machine=mid)
    report.note(f"per_machine {cfg.per_machine}: read {len(machines)} machine(s)")
    _field_states(field_states, report)


async def _machine_doc(
    cfg: JsonProbe, ctx: ProbeContext, machine: str
) -> tuple[Any, ProbeFailure | None]:
    """One machine's JSON answer, or why there is none. Its transport series are its own (a
    scratch report): the probe's are those of its request through the proxy."""
    pinned = cfg.model_copy(update={"headers": {**cfg.headers, FLY_PIN_HEADER: machine}})
    scratch = Report(tracing=False)
    try:
        resp = await http.fetch(pinned, ctx, scratch)
        if not status_matches(cfg.valid_status, resp.status):
            raise ProbeFailure("status", f"status {resp.status}")
        if resp.too_large:
            raise ProbeFailure("too_large", f"body larger than {cfg.max_body_bytes} bytes")
        return resp.json(), None
    except ProbeFailure as e:
        return None, e
