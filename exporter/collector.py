"""Turns the probe results of one scrape into metric families (built fresh per scrape, the
prometheus-client custom-collector pattern), and renders them with the exporter's own metrics.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric as Family

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


def merge(families: Iterable[Family]) -> list[Family]:
    """One family per name: several sources report into the same family (redline_source_up),
    and the exposition format allows one HELP/TYPE per name."""
    by_name: dict[str, Family] = {}
    for family in families:
        first = by_name.get(family.name)
        if first is None:
            by_name[family.name] = family
        else:
            # a new family: the ones given may be kept by their source between scrapes
            joined = Family(first.name, first.documentation, first.type)
            joined.samples = [*first.samples, *family.samples]
            by_name[family.name] = joined
    return list(by_name.values())


TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_value(text: str) -> str:
    if "\\" in text or '"' in text or "\n" in text:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
    return text


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def text_exposition(families: Iterable[Family]) -> str:
    """The text format (0.0.4) of ``families``. Written here rather than with prometheus-client's
    encoder, which validates and escapes every label name of every sample: at 1,000 probes it was
    a third of the exporter's CPU (bench/README.md). Names come from metrics.py and the config,
    so they are valid already; label values are escaped. Labels are sorted, as prometheus-client
    writes them, so the output does not depend on the order a collector built them in."""
    out: list[str] = []
    for family in families:
        kind = "untyped" if family.type == "unknown" else family.type
        name = family.name + "_total" if kind == "counter" else family.name
        out.append(f"# HELP {name} {_escape_help(family.documentation)}\n# TYPE {name} {kind}\n")
        for sample in family.samples:
            if sample.labels:
                labels = ",".join(
                    f'{key}="{_escape_value(value)}"'
                    for key, value in sorted(sample.labels.items())
                )
                out.append(f"{sample.name}{{{labels}}} {_number(sample.value)}\n")
            else:
                out.append(f"{sample.name} {_number(sample.value)}\n")
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
    taken for the record; text is a valid answer to any Accept Prometheus sends)."""
    families = merge([*probe_families(served), *extra])
    if with_self:
        families.extend(selfmetrics.REGISTRY.collect())
    return text_exposition(families).encode("utf-8"), TEXT_CONTENT_TYPE
