"""Turns the probe results of one scrape into metric families (built fresh per scrape, the
prometheus-client custom-collector pattern), and renders them with the exporter's own metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.registry import Collector, CollectorRegistry

from exporter import metrics as m
from exporter import selfmetrics
from exporter.probes.base import REASONS, STATUSES
from exporter.scheduler import Served

# stateset and info are exposed as gauges in the text format (one series per state, value 0/1)
_TEXT_TYPE = {"gauge": "gauge", "counter": "counter", "stateset": "gauge", "info": "gauge"}


class _Families:
    """Collects samples per metric name, keeping the first HELP/type seen."""

    def __init__(self) -> None:
        self._by_name: dict[str, Family] = {}

    def add(self, metric: m.Metric, labels: dict[str, str], value: float) -> None:
        family = self._by_name.get(metric.name)
        if family is None:
            family = Family(metric.name, metric.help, _TEXT_TYPE.get(metric.type, "gauge"))
            self._by_name[metric.name] = family
        family.add_sample(metric.name, labels, value)

    def __iter__(self) -> Iterator[Family]:
        return iter(self._by_name.values())


def probe_families(served: Iterable[Served]) -> list[Family]:
    out = _Families()
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


class _Snapshot(Collector):
    def __init__(self, families: list[Family], with_self: bool) -> None:
        self.families = families
        self.with_self = with_self

    def collect(self) -> Iterable[Family]:
        yield from self.families
        if self.with_self:
            yield from selfmetrics.REGISTRY.collect()


def render(
    served: Iterable[Served], accept: str | None, *, with_self: bool = True
) -> tuple[bytes, str]:
    """The exposition of one scrape (text format, or OpenMetrics when Prometheus asks for it)
    and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(probe_families(served), with_self))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
