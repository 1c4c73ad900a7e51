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


class Families:
    """Samples per metric name, keeping the first HELP/type seen."""

    def __init__(self) -> None:
        self._by_name: dict[str, Family] = {}

    def add(self, metric: m.Metric, labels: dict[str, str], value: float) -> None:
        family = self._by_name.get(metric.name)
        if family is None:
            kind = _TEXT_TYPE.get(metric.type, "gauge")
            name = metric.name.removesuffix("_total") if kind == "counter" else metric.name
            family = Family(name, metric.help, kind)
            self._by_name[metric.name] = family
        # what Family.add_sample appends, without its call (every sample of every source)
        family.samples.append(Sample(metric.name, labels, float(value), None, None, None))

    def set(self, metric: m.Metric, value: float, **labels: str) -> None:
        """``add`` with labels as keywords, in the order the metric declares them."""
        self.add(metric, {k: labels[k] for k in metric.labels}, value)

    def values(self, metric: m.Metric, value: float, *label_values: str) -> None:
        """``add`` with label values given in the order of ``metric.labels``."""
        self.add(metric, dict(zip(metric.labels, label_values, strict=True)), value)

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
            else:
                mine.samples.extend(family.samples)

    def families(self) -> list[Family]:
        return list(self._by_name.values())

    def __iter__(self) -> Iterator[Family]:
        return iter(self._by_name.values())
