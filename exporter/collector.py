"""Turns the probe results of one scrape into metric families (built fresh per scrape, the
prometheus-client custom-collector pattern), and renders them with the exporter's own metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import metrics as pc_metrics
from prometheus_client import values as pc_values
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.registry import CollectorRegistry
from prometheus_client.utils import floatToGoString

from exporter import metrics as m
from exporter import selfmetrics
from exporter.families import _TEXT_TYPE, Families, Row, RowFamily
from exporter.probes.base import REASONS, STATUSES
from exporter.scheduler import Served
from exporter.sources import Deferred, Source

log = logging.getLogger("redline.collector")


def probe_families(served: Iterable[Served]) -> list[Family]:
    out = Families()
    for item in served:
        base = {"service": item.service.name, "probe": item.probe.name}
        r = item.result
        out.add(m.PROBE_SUCCESS, base, 1.0 if r.success else 0.0)
        out.add(m.PROBE_DURATION, base, r.duration)
        out.add(m.PROBE_RESULT_AGE, base, round(item.age, 3))
        for status in STATUSES:
            out.add(m.PROBE_STATUS, {**base, "status": status}, 1.0 if r.status == status else 0.0)
        for reason in REASONS:
            out.add(m.PROBE_REASON, {**base, "reason": reason}, 1.0 if r.reason == reason else 0.0)
        for sample in r.samples:
            out.add(sample.metric, {**base, **sample.labels}, sample.value)
    return list(out)


async def collect_source(source: Source, deadline: float) -> list[Family]:
    """A source's families plus its up/duration series; a source that raises or runs past the
    deadline is reported down and never fails the scrape. A disabled source reports
    nothing."""
    return await collect_sources([source], deadline)


async def collect_sources(sources: Iterable[Source], deadline: float) -> list[Family]:
    """:func:`collect_source` of every source, concurrently, in the sources' order: one wait
    for all under the deadline rather than a timer per source (their cost was a fifth of an
    idle scrape's; docs/performance.md). A source still running at the deadline is cancelled,
    as its timer cancelled it, and reported down once it has stopped."""
    enabled = [source for source in sources if source.enabled]
    if not enabled:
        return []
    starts: dict[int, float] = {}
    done: dict[int, tuple[list[Family], float, float]] = {}
    tasks: dict[int, asyncio.Future[tuple[list[Family], float, float]]] = {}
    for i, source in enumerate(enabled):
        if isinstance(source, Deferred) and source.source is None:
            # its section is empty, so its module is not even loaded: it collects nothing, and
            # says so at once rather than through a task of its own (four of the nine here)
            start = time.perf_counter()
            done[i] = ([], 1.0, time.perf_counter() - start)
        else:
            tasks[i] = asyncio.ensure_future(_collect(source, deadline, starts, i))
    try:
        if tasks:
            loop = asyncio.get_running_loop()
            timeout = max(0.0, deadline - loop.time())
            _, late = await asyncio.wait(tasks.values(), timeout=timeout)
            if late:
                for task in late:
                    task.cancel()
                await asyncio.wait(late)
    except asyncio.CancelledError:  # the scrape is gone: so are its sources' runs
        for task in tasks.values():
            task.cancel()
        raise
    # every source's up and duration in one family each, placed after the first source's own
    # families: where merge() put the nine families of one row each that it used to join
    status = Families()
    out: list[Family] = []
    for i, source in enumerate(enabled):
        families: list[Family]
        run = tasks.get(i)
        if run is None:
            families, up, seconds = done[i]
        elif run.cancelled():
            families, up, seconds = [], 0.0, time.perf_counter() - starts[i]
            log.warning("source %s did not finish before the scrape deadline", source.name)
        else:
            families, up, seconds = run.result()
        status.add(m.SOURCE_UP, {"source": source.name}, up)
        status.add(m.SOURCE_DURATION, {"source": source.name}, seconds)
        out += families
        if i == 0:
            out += status  # its rows are added to until the end
    return out


async def _collect(
    source: Source, deadline: float, starts: dict[int, float], i: int
) -> tuple[list[Family], float, float]:
    """One source's families, up value and seconds; its start goes to ``starts[i]`` (for the
    seconds of a run cancelled at the deadline)."""
    start = starts[i] = time.perf_counter()
    try:
        families = await source.collect(deadline)
    except Exception as e:
        log.error(
            "source %s failed: %s", source.name, source.redactor.redact(f"{type(e).__name__}: {e}")
        )
        return [], 0.0, time.perf_counter() - start
    return families, 1.0, time.perf_counter() - start


def merge(families: Iterable[Family]) -> list[Family]:
    """One family per name: several sources report into the same family (redline_source_up),
    and the exposition format allows one HELP/TYPE per name."""
    by_name: dict[str, Family] = {}
    for family in families:
        first = by_name.get(family.name)
        if first is None:
            by_name[family.name] = family
            continue
        if (
            isinstance(first, RowFamily)
            and isinstance(family, RowFamily)
            and first.rows is not None
            and family.rows is not None
            and first.metric is family.metric
        ):
            # rows of one metric (each source's redline_source_up): still rows, the same text
            joined = RowFamily(first.metric, first.name, first.documentation, first.type)
            joined.rows = [*first.rows, *family.rows]
            by_name[family.name] = joined
        else:
            by_name[family.name] = _joined(first, family)
    return list(by_name.values())


def _joined(first: Family, family: Family) -> Family:
    # a new family: the ones given may be kept by their source between scrapes
    joined = Family(first.name, first.documentation, first.type)
    joined.samples = [*first.samples, *family.samples]
    return joined


TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    if "\\" in text or '"' in text or "\n" in text:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return text


# How the text format writes the values repr() writes otherwise
_SPECIAL = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


def _number(value: float) -> str:
    text = repr(float(value))
    return _SPECIAL.get(text, text)


def text_exposition(families: Iterable[Family]) -> str:
    """The text format (0.0.4) of ``families``. Written here rather than with prometheus-client's
    encoder, which validates and escapes every label name of every sample: at 1,000 probes it was
    a third of the exporter's CPU (bench/README.md). Names come from metrics.py and the config,
    so they are valid already; label values are escaped. Labels are sorted, as prometheus-client
    writes them, so the output does not depend on the order a collector built them in."""
    out: list[str] = []
    for family in families:
        out.append(_header(family.name, family.documentation, family.type))
        out.append(_sample_lines(family))
    return "".join(out)


def render(
    served: Iterable[Served],
    accept: str | None = None,
    *,
    with_self: bool = True,
    extra: Iterable[Family] = (),
) -> tuple[bytes, str]:
    """The exposition of one scrape and its content type. Always the text format: every
    Prometheus accepts it, and it costs a fraction of OpenMetrics to produce (``accept`` is
    taken for the record; text is a valid answer to any Accept Prometheus sends).

    The probes' series are written straight to text (:func:`probe_text`), the same bytes
    ``text_exposition(merge([*probe_families(served), *extra]))`` gives, at a fraction of the
    cost; families of ``extra`` with a probe family's name join it, as :func:`merge` does."""
    probes = probe_text(served)
    rest: list[Family] = []
    for family in merge(extra):
        joined = probes.get(family.name)
        if joined is None:
            rest.append(family)
        else:
            joined += _sample_lines(family).encode()
    text = text_exposition(rest)
    if with_self:
        text += registry_text(selfmetrics.REGISTRY)
    return b"".join([*probes.values(), text.encode()]), TEXT_CONTENT_TYPE


# --- the probes' series, written straight to text ----------------------------------------------
# At 1,000 targets a scrape has some 32,000 probe series; building a prometheus-client family
# of them, with a label dict per sample, and sorting and escaping every label of every sample
# was the largest item of redline's own CPU in a profile (docs/performance.md). Here the
# labels a target's series share are escaped once per target, and the series the wrapper owns
# (success, duration, age, and the two state sets, 22 of an HTTP probe's 32) are written from
# them with the label order fixed in advance; the probe's own samples take the generic path.


# The text of a series up to its value, by (name, labels): most series of a scrape (the host's,
# the exporter's own, a source's) are the same from scrape to scrape, so sorting and escaping
# their labels once saves most of their rendering. Bounded: a source may label series with
# what it read (a statement's text), so the cache is emptied when full and long texts are not
# kept.
_SERIES: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
_SERIES_MAX = 4096
_SERIES_TEXT_MAX = 200


# HELP and TYPE lines by (name, documentation, type): the same few dozen at every scrape.
# Bounded, as the series texts are.
_HEADERS: dict[tuple[str, str, str], str] = {}


def _header(name: str, documentation: str, kind: str) -> str:
    """HELP and TYPE lines, as text_exposition writes them (``kind`` is the family's type)."""
    key = (name, documentation, kind)
    text = _HEADERS.get(key)
    if text is None:
        kind = "untyped" if kind == "unknown" else kind
        name = name + "_total" if kind == "counter" else name
        text = f"# HELP {name} {_escape_help(documentation)}\n# TYPE {name} {kind}\n"
        if len(_HEADERS) >= _SERIES_MAX:
            _HEADERS.clear()
        _HEADERS[key] = text
    return text


def _metric_header(metric: m.Metric) -> tuple[str, str]:
    """(family name, header) of a metric as :class:`~exporter.families.Families` names it."""
    kind = _TEXT_TYPE.get(metric.type, "gauge")
    name = metric.name.removesuffix("_total") if kind == "counter" else metric.name
    return name, _header(name, metric.help, kind)


def _sample_lines(family: Family) -> str:
    if isinstance(family, RowFamily) and family.rows is not None:
        return _row_lines(family.metric, family.rows)
    return "".join(_line(s.name, s.labels, s.value) for s in family.samples)


# The text of a row's series up to its value, by (name, label names, label values): what
# _SERIES holds for a sample, for the rows of a RowFamily, which need no label dict to find it.
_ROW_SERIES: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}


def _row_lines(metric: m.Metric, rows: list[Row]) -> str:
    """The lines of a RowFamily's rows, the same text :func:`_line` writes for their Samples."""
    name, labels = metric.name, metric.labels
    special = _SPECIAL
    out = []
    for values, value in rows:
        series = _ROW_SERIES.get((name, labels, values)) or _row_series(name, labels, values)
        text = repr(value)
        out.append(f"{series}{special.get(text, text)}\n")
    return "".join(out)


def _row_series(name: str, labels: tuple[str, ...], values: tuple[str, ...]) -> str:
    series = _series(name, dict(zip(labels, values, strict=True)))
    if len(series) <= _SERIES_TEXT_MAX:
        if len(_ROW_SERIES) >= _SERIES_MAX:
            _ROW_SERIES.clear()
        _ROW_SERIES[(name, labels, values)] = series
    return series


def _row_line(name: str, labels: tuple[str, ...], values: tuple[str, ...], value: float) -> str:
    series = _ROW_SERIES.get((name, labels, values)) or _row_series(name, labels, values)
    text = repr(float(value))
    return f"{series}{_SPECIAL.get(text, text)}\n"


# --- the exporter's own metrics (exporter/selfmetrics.py), read without collect() -------------
# prometheus-client's collect() makes a family, a Sample and a label dict per series at every
# scrape, and a histogram's formats each bucket's bound again: the exporter's own 30 series
# (the scrape duration histogram's 19 the most) cost more than the host's 106. Its counters,
# gauges and histograms are read here straight from their values, in the order and with the
# text collect() gives (tests/test_families.py compares the two); anything else (the process
# and platform collectors, a gauge set to a function, multiprocess mode) takes collect().

_WRAPPERS: tuple[type, ...] = (pc_metrics.Counter, pc_metrics.Gauge, pc_metrics.Histogram)
_BOUNDS: dict[tuple[float, ...], tuple[str, ...]] = {}


def registry_text(registry: CollectorRegistry) -> str:
    """``text_exposition(registry.collect())``, the same text for less."""
    if registry._target_info is not None:  # set by set_target_info, never here
        return text_exposition(registry.collect())
    with registry._lock:
        collectors = list(registry._collector_to_names)
    out = []
    for collector in collectors:
        text = _wrapper_text(collector)
        if text is None:
            text = _readings_text(collector)
        out.append(text_exposition(collector.collect()) if text is None else text)
    return "".join(out)


def _readings_text(collector: object) -> str | None:
    """The text of a collector that gives its families as readings (exporter/selfmetrics.py's
    process collector), or None."""
    readings = getattr(collector, "readings", None)
    got = readings() if callable(readings) else None
    if got is None:
        return None
    return "".join(
        f"{_header(name, documentation, kind)}{sample} {_number(value)}\n"
        for name, documentation, kind, sample, value in got
    )


def _wrapper_text(metric: Any) -> str | None:
    """The text of a prometheus-client Counter, Gauge or Histogram read from its values, or
    None when it must be collected."""
    kind = type(metric)
    if (
        kind not in _WRAPPERS
        or pc_metrics._use_created
        or pc_values.ValueClass is not pc_values.MutexValue
    ):
        return None
    if metric._unit:
        return None
    children: list[tuple[tuple[str, ...], Any]] = [((), metric)]
    if metric._is_parent():
        with metric._lock:
            children = list(metric._metrics.items())
    name, labels = metric._name, metric._labelnames
    out = [_header(name, metric._documentation, metric._type)]
    for values, child in children:
        if "_child_samples" in vars(child):  # a gauge set to a function
            return None
        if kind is pc_metrics.Counter:
            out.append(_row_line(f"{name}_total", labels, values, child._value.get()))
        elif kind is pc_metrics.Gauge:
            out.append(_row_line(name, labels, values, child._value.get()))
        else:
            bounds = child._upper_bounds
            texts = _BOUNDS.get(tuple(bounds))
            if texts is None:
                texts = _BOUNDS[tuple(bounds)] = tuple(floatToGoString(b) for b in bounds)
            bucket, with_le = f"{name}_bucket", (*labels, "le")
            acc = 0.0
            for i, le in enumerate(texts):
                acc += child._buckets[i].get()
                out.append(_row_line(bucket, with_le, (*values, le), acc))
            out.append(_row_line(f"{name}_count", labels, values, acc))
            if bounds[0] >= 0:
                out.append(_row_line(f"{name}_sum", labels, values, child._sum.get()))
    return "".join(out)


def _series(name: str, labels: dict[str, str]) -> str:
    """The text of a series up to its value: labels sorted, values escaped."""
    if not labels:
        return f"{name} "
    text = ",".join(f'{k}="{_escape_value(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{text}}} "


def _line(name: str, labels: dict[str, str], value: float) -> str:
    if not labels:
        return f"{name} {_number(value)}\n"
    key = (name, tuple(labels.items()))
    series = _SERIES.get(key)
    if series is None:
        series = _series(name, labels)
        if len(series) <= _SERIES_TEXT_MAX:
            if len(_SERIES) >= _SERIES_MAX:
                _SERIES.clear()
            _SERIES[key] = series
    return f"{series}{_number(value)}\n"


def _state_lines(metric: m.Metric, states: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    """For a state set labelled (service, probe, state), per state: the text before the probe
    name, between it and the service name, and after it up to the value, with the labels in
    sorted order (probe < service, the state label anywhere)."""
    key = metric.labels[-1]
    assert metric.labels == (*m.P, key), metric
    out = []
    for state in states:
        order = sorted([("probe", "\0"), ("service", "\0"), (key, _escape_value(state))])
        text = metric.name + "{" + ",".join(f'{k}="{v}"' for k, v in order) + "} "
        before, between, after = text.split("\0")
        out.append((before, between, after))
    return tuple(out)


def _state_blocks(metric: m.Metric, states: tuple[str, ...]) -> dict[str | None, str]:
    """For a state set, per state a target can be in (None: in none of them), the text of all
    its lines as one %-format taking (probe, service) once per line: one formatting per target
    instead of a string made, encoded and copied per line (16 lines for the reasons)."""
    lines = [tuple(x.replace("%", "%%") for x in parts) for parts in _state_lines(metric, states)]
    return {
        current: "".join(
            f"{a}%s{b}%s{c}{'1.0' if state == current else '0.0'}\n"
            for state, (a, b, c) in zip(states, lines, strict=True)
        )
        for current in (*states, None)
    }


_STATUS_BLOCKS = _state_blocks(m.PROBE_STATUS, STATUSES)
_REASON_BLOCKS = _state_blocks(m.PROBE_REASON, REASONS)
_OWN = (m.PROBE_SUCCESS, m.PROBE_DURATION, m.PROBE_RESULT_AGE, m.PROBE_STATUS, m.PROBE_REASON)
_SUCCESS, _DURATION, _AGE = m.PROBE_SUCCESS.name, m.PROBE_DURATION.name, m.PROBE_RESULT_AGE.name


# A probe's own samples share a few label sets (an HTTP probe's phases, say) across every target:
# the text of each set, with the probe and service names left as holes, is made once. The cache
# is bounded, as a probe could label a sample with what a target answered.
_TEMPLATES: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[str, str, str]] = {}
_TEMPLATES_MAX = 4096


def _sample_template(name: str, labels: dict[str, str]) -> tuple[str, str, str] | None:
    """The text of a probe sample's series before the (escaped) probe name, between it and the
    service name, and after it up to the value, labels sorted as :func:`_line` sorts them; None
    when the sample sets the probe or service label itself (none does)."""
    key = (name, tuple(labels.items()))
    template = _TEMPLATES.get(key)
    if template is None:
        if "probe" in labels or "service" in labels:
            return None
        if len(_TEMPLATES) >= _TEMPLATES_MAX:
            _TEMPLATES.clear()
        order = sorted(
            [
                ("probe", "\0"),
                ("service", "\0"),
                *((k, _escape_value(v)) for k, v in labels.items()),
            ]
        )
        text = name + "{" + ",".join(f'{k}="{v}"' for k, v in order) + "} "
        before, between, after = text.split("\0")
        template = _TEMPLATES[key] = (before, between, after)
    return template


def probe_text(served: Iterable[Served]) -> dict[str, bytearray]:
    """The probes' families as exposition bytes, by family name in the order
    :func:`probe_families` builds them: each its HELP/TYPE header and its sample lines.

    Each line is encoded into its family's buffer as soon as it is made, rather than kept as a
    string until the end: at 1,000 targets the 34,000 lines alive at once were some 5 MB of
    small objects in CPython's arenas, which stayed resident after the scrape (an arena is given
    back only when empty), and the joined text and its bytes another 5 MB at the peak."""
    out: dict[str, bytearray] = {}
    empty: dict[str, int] = {}  # family name -> the length of its header alone
    for metric in _OWN:
        name, header = _metric_header(metric)
        out[name] = bytearray(header.encode())
        empty[name] = len(out[name])
    success, duration, age, status, reason = (out[_metric_header(x)[0]] for x in _OWN)
    extra_names: dict[str, str] = {}  # metric name -> family name, for the probes' own samples
    for item in served:
        s, p = _escape_value(item.service.name), _escape_value(item.probe.name)
        r = item.result
        base = f'{{probe="{p}",service="{s}"}} '
        success += f"{_SUCCESS}{base}{'1.0' if r.success else '0.0'}\n".encode()
        duration += f"{_DURATION}{base}{_number(r.duration)}\n".encode()
        age += f"{_AGE}{base}{_number(round(item.age, 3))}\n".encode()
        names = (p, s)
        block = _STATUS_BLOCKS.get(r.status, _STATUS_BLOCKS[None])
        status += (block % (names * len(STATUSES))).encode()
        block = _REASON_BLOCKS.get(r.reason, _REASON_BLOCKS[None])
        reason += (block % (names * len(REASONS))).encode()
        for sample in r.samples:
            family = extra_names.get(sample.metric.name)
            if family is None:
                family, header = _metric_header(sample.metric)
                extra_names[sample.metric.name] = family
                if family not in out:
                    out[family] = bytearray(header.encode())
                    empty[family] = len(out[family])
            template = _sample_template(sample.metric.name, sample.labels)
            if template is None:  # the sample names its own probe or service label
                labels = {"service": item.service.name, "probe": item.probe.name, **sample.labels}
                out[family] += _line(sample.metric.name, labels, sample.value).encode()
                continue
            a, b, c = template
            out[family] += f"{a}{p}{b}{s}{c}{_number(sample.value)}\n".encode()
    # a family with no sample is left out, as probe_families leaves it out (no scrape has none
    # of the wrapper's series unless there is no target at all)
    return {name: lines for name, lines in out.items() if len(lines) > empty[name]}
