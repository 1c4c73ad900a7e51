"""exporter/collector.py collect_sources: every source of a scrape at once under the scrape's
deadline; one that is late or raises is reported down without failing the others, a disabled one
reports nothing, and a scrape that goes away takes its sources' runs with it."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.collector import collect_sources, merge
from exporter.config import Config
from exporter.families import Families
from exporter.secrets import Redactor
from exporter.sources import Source


class Fake(Source):
    def __init__(self, name: str, *, sleep: float = 0.0, error: str = "", on: bool = True) -> None:
        super().__init__(Config(), Redactor())
        self.name, self.sleep, self.error, self.on = name, sleep, error, on
        self.cancelled = False

    @property
    def enabled(self) -> bool:
        return self.on

    async def collect(self, deadline: float) -> list[Family]:
        try:
            if self.sleep:
                await asyncio.sleep(self.sleep)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.error:
            raise RuntimeError(self.error)
        out = Families()
        out.values(m.NODE_LOAD1, 1.0)  # any family of the source's own
        return out.families()


def rows(families: list[Family], metric: m.Metric) -> dict[str, float]:
    return {
        s.labels["source"]: s.value
        for family in merge(families)
        if family.name == metric.name
        for s in family.samples
    }


async def test_late_and_failing_sources_are_down_and_the_others_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    late = Fake("late", sleep=5.0)
    sources = [Fake("fine"), late, Fake("broken", error="no way"), Fake("off", on=False)]
    start = time.perf_counter()
    with caplog.at_level(logging.WARNING):
        families = await collect_sources(sources, asyncio.get_running_loop().time() + 0.2)
    took = time.perf_counter() - start
    assert 0.15 < took < 1.0  # the deadline, not the late source's five seconds
    assert late.cancelled  # stopped at the deadline, as its own timer stopped it
    assert rows(families, m.SOURCE_UP) == {"fine": 1.0, "late": 0.0, "broken": 0.0}
    seconds = rows(families, m.SOURCE_DURATION)
    assert 0.15 < seconds["late"] < 1.0 and seconds["fine"] < 0.1 and seconds["broken"] < 0.1
    assert [s.labels for f in families if f.name == m.NODE_LOAD1.name for s in f.samples] == [{}]
    text = caplog.text
    assert "source late did not finish before the scrape deadline" in text
    assert "source broken failed: RuntimeError: no way" in text
    # in the sources' order: each one's own families, then its up and duration
    names = [f.name for f in families]
    assert names[0] == m.NODE_LOAD1.name and names[1:3] == [
        m.SOURCE_UP.name,
        m.SOURCE_DURATION.name,
    ]


async def test_a_scrape_that_goes_away_stops_its_sources() -> None:
    slow = Fake("slow", sleep=5.0)
    scrape = asyncio.ensure_future(collect_sources([slow], asyncio.get_running_loop().time() + 10))
    await asyncio.sleep(0.05)
    scrape.cancel()
    with pytest.raises(asyncio.CancelledError):
        await scrape
    await asyncio.sleep(0)  # the source's task runs its cancellation
    assert slow.cancelled


async def test_no_enabled_source_reports_nothing() -> None:
    assert (
        await collect_sources([Fake("off", on=False)], asyncio.get_running_loop().time() + 1) == []
    )
