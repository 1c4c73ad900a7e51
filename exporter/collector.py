"""Turns the probe results of one scrape into metric families (built fresh per scrape, the
prometheus-client custom-collector pattern), and renders them with the exporter's own metrics.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric as Family
from prometheus_client.registry import Collector, CollectorRegistry

from exporter import metrics as m
from exporter import selfmetrics
from exporter.families import Families
from exporter.probes.base import REASONS, STATUSES
from exporter.scheduler import Served
from exporter.sources import Source

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
    deadline is reported down and never fails the scrape."""
    start = time.perf_counter()
    up = 1.0
    families: list[Family] = []
    try:
        async with asyncio.timeout_at(deadline):
            families = await source.collect(deadline)
    except TimeoutError:
        up = 0.0
        log.warning("source %s did not finish before the scrape deadline", source.name)
    except Exception as e:
        up = 0.0
        log.error(
            "source %s failed: %s", source.name, source.redactor.redact(f"{type(e).__name__}: {e}")
        )
    out = Families()
    out.add(m.SOURCE_UP, {"source": source.name}, up)
    out.add(m.SOURCE_DURATION, {"source": source.name}, time.perf_counter() - start)
    return [*families, *out]


class _Snapshot(Collector):
    def __init__(self, families: list[Family], with_self: bool) -> None:
        self.families = families
        self.with_self = with_self

    def collect(self) -> Iterable[Family]:
        yield from self.families
        if self.with_self:
            yield from selfmetrics.REGISTRY.collect()


def merge(families: Iterable[Family]) -> list[Family]:
    """One family per name: several sources report into the same family (redline_source_up),
    and the exposition format allows one HELP/TYPE per name."""
    by_name: dict[str, Family] = {}
    for family in families:
        first = by_name.get(family.name)
        if first is None:
            by_name[family.name] = family
        else:
            first.samples.extend(family.samples)
    return list(by_name.values())


def render(
    served: Iterable[Served],
    accept: str | None,
    *,
    with_self: bool = True,
    extra: Iterable[Family] = (),
) -> tuple[bytes, str]:
    """The exposition of one scrape (text format, or OpenMetrics when Prometheus asks for it)
    and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(merge([*probe_families(served), *extra]), with_self))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type
