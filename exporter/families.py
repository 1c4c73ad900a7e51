"""Builds prometheus-client metric families from the Metric objects of exporter/metrics.py.

Every collector uses this one helper, so every family is typed and named the same way: state
sets and info metrics are gauges in the text format (one series per state, value 0/1), and a
counter family is named without ``_total`` because prometheus-client adds it back (a family
named with it would render ``..._total_total``).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import Metric as Family
from prometheus_client.samples import Sample

from exporter import metrics as m

_TEXT_TYPE = {"gauge": "gauge", "counter": "counter", "stateset": "gauge", "info": "gauge"}


Row = tuple[tuple[str, ...], float]  # label values in the metric's declared order, value
_CHECKED: set[str] = set()  # family names prometheus-client's Metric accepted


class RowFamily(Family):
    """A family of one metric whose samples are kept as rows (label values in the order the
    metric declares its labels, value) until something reads ``samples``.

    The renderer writes the rows straight to text (exporter/collector.py), and nothing else
    reads most families: making a label dict and a prometheus-client Sample per series, then
    taking them apart again to render them, was most of what a series cost (the host's 106 at
    every scrape; docs/performance.md). Reading or setting ``samples`` makes the Samples, once
    and for good (``rows`` is then None), so every reader of a family sees what it always
    saw."""

    def __init__(self, metric: m.Metric, name: str, documentation: str, kind: str) -> None:
        if name not in _CHECKED:  # prometheus-client's checks of name and type, once per name
            Family(name, documentation, kind)
            _CHECKED.add(name)
        self.name, self.documentation, self.unit, self.type = name, documentation, "", kind
        self.metric = metric
        self.rows: list[Row] | None = []
        self._samples: list[Sample] = []

    @property
    def samples(self) -> list[Sample]:
        rows = self.rows
        if rows is not None:
            self.rows = None
            name, labels = self.metric.name, self.metric.labels
            self._samples = [
                Sample(name, dict(zip(labels, values, strict=True)), value, None, None, None)
                for values, value in rows
            ]
        return self._samples

    @samples.setter
    def samples(self, samples: list[Sample]) -> None:
        self.rows = None
        self._samples = samples


class Families:
    """Samples per metric name, keeping the first HELP/type seen."""

    def __init__(self) -> None:
        self._by_name: dict[str, RowFamily] = {}

    def _family(self, metric: m.Metric) -> RowFamily:
        family = self._by_name.get(metric.name)
        return self._new(metric) if family is None else family

    def _new(self, metric: m.Metric) -> RowFamily:
        kind = _TEXT_TYPE.get(metric.type, "gauge")
        name = metric.name.removesuffix("_total") if kind == "counter" else metric.name
        family = self._by_name[metric.name] = RowFamily(metric, name, metric.help, kind)
        return family

    def add(self, metric: m.Metric, labels: dict[str, str], value: float) -> None:
        family = self._family(metric)
        rows = family.rows
        if rows is not None and family.metric is metric and tuple(labels) == metric.labels:
            rows.append((tuple(labels.values()), float(value)))
        else:
            # what Family.add_sample appends, without its call
            family.samples.append(Sample(metric.name, labels, float(value), None, None, None))

    def set(self, metric: m.Metric, value: float, **labels: str) -> None:
        """``add`` with labels as keywords, in the order the metric declares them."""
        self.add(metric, {k: labels[k] for k in metric.labels}, value)

    def values(self, metric: m.Metric, value: float, *label_values: str) -> None:
        """``add`` with label values given in the order of ``metric.labels``."""
        if len(label_values) != len(metric.labels):
            dict(zip(metric.labels, label_values, strict=True))  # raises, as it always did
        family = self._by_name.get(metric.name) or self._new(metric)
        rows = family.rows
        if rows is not None and family.metric is metric:
            rows.append((label_values, float(value)))
        else:
            labels = dict(zip(metric.labels, label_values, strict=True))
            family.samples.append(Sample(metric.name, labels, float(value), None, None, None))

    def states(
        self, metric: m.Metric, states: tuple[str, ...], current: str | None, **labels: str
    ) -> None:
        """A state set: one series per state, 1 for ``current``; the state label is the
        metric's last label."""
        key = metric.labels[-1]
        for state in states:
            self.set(metric, 1.0 if state == current else 0.0, **labels, **{key: state})

    def merge(self, other: Families) -> None:
        for name, family in other._by_name.items():
            mine = self._by_name.get(name)
            if mine is None:
                self._by_name[name] = family
            elif mine.rows is not None and family.rows is not None and mine.metric is family.metric:
                mine.rows.extend(family.rows)
            else:
                mine.samples.extend(family.samples)

    def families(self) -> list[Family]:
        return list(self._by_name.values())

    def __iter__(self) -> Iterator[Family]:
        return iter(self._by_name.values())
