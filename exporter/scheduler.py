"""Runs probes for scrapes: one shared run per target at a time, and reuse of recent results.

* Concurrent scrapes (two Prometheus servers, a person on /probe) share the run in flight
  instead of hitting a target twice.
* A probe with ``min_interval`` (or a target that answered 429/503 with Retry-After) is not run
  again before its time: the last result is served, and its age is exposed.
* A run keeps its own deadline; a scrape whose deadline comes first gets a ``timeout`` result
  for that target while the shared run goes on for the others waiting on it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from exporter import selfmetrics
from exporter.config import Service
from exporter.probes import probe_function
from exporter.probes.base import ProbeContext, ProbeResult, run_probe

_GRACE = 0.05


@dataclass(slots=True)
class Served:
    """A result as served to one scrape."""

    service: Service
    probe: Any
    result: ProbeResult
    age: float  # seconds since the result was produced (0 for a run made for this scrape)


class Scheduler:
    def __init__(self, ctx: ProbeContext, max_concurrent: int = 128) -> None:
        self.ctx = ctx
        # All probes of a scrape share one event loop: started all at once, each one's timer
        # would include the time it waited for the loop (hundreds of ms at 1,000 targets, which
        # would pollute latency SLOs). A run takes a slot first and starts its timer after.
        self._slots = asyncio.Semaphore(max_concurrent)
        self._inflight: dict[str, asyncio.Task[ProbeResult]] = {}
        self._last: dict[
            str, tuple[Any, ProbeResult, float]
        ] = {}  # name -> (cfg, result, not_before)

    def latest(self) -> dict[str, ProbeResult]:
        """The last finished result of each target, by ``service/probe`` name: what the scrapes
        found, for the status page. Reading it never runs a probe."""
        return {name: result for name, (_, result, _) in self._last.items()}

    def forget_missing(self, names: set[str]) -> None:
        """Drop cached results of targets no longer configured (after a reload)."""
        for name in list(self._last):
            if name not in names:
                del self._last[name]

    async def serve_all(
        self, targets: dict[str, tuple[Service, Any]], deadline: float
    ) -> list[Served]:
        """What one scrape serves for ``targets`` (name -> (service, probe)), in their order.

        One wait for the whole scrape rather than a timer and a shield per target (their cost
        was a good part of redline's own CPU per probe: docs/performance.md). A run still going
        at the deadline (plus the grace) is served as ``timeout`` and goes on for the others
        sharing it; asyncio.wait cancels nothing."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        wall = time.time()
        slots: list[Served | tuple[Service, Any, asyncio.Task[ProbeResult]]] = []
        pending: set[asyncio.Task[ProbeResult]] = set()
        for name, (service, probe) in targets.items():
            cached = self._last.get(name)
            # A cached result is reused only while the config of the probe is unchanged (the
            # time first: comparing two configs costs more, and most results are not reused).
            if cached is not None and now < cached[2] and cached[0] == probe:
                result = cached[1]
                slots.append(Served(service, probe, result, max(0.0, wall - result.finished_at)))
                continue
            task = self._inflight.get(name)
            if task is None:
                own_deadline = min(deadline, now + probe.timeout)
                task = loop.create_task(self._run(name, probe, own_deadline))
                self._inflight[name] = task
            slots.append((service, probe, task))
            pending.add(task)
        if pending:
            # A little past the deadline, so that a run this scrape started (whose own deadline
            # is the same) ends first and reports its own timeout with its partial timings.
            await asyncio.wait(pending, timeout=max(0.0, deadline + _GRACE - loop.time()))
        return [slot if isinstance(slot, Served) else _finished(*slot) for slot in slots]

    async def _run(self, name: str, probe: Any, deadline: float) -> ProbeResult:
        service_name, probe_name = name.split("/", 1)
        selfmetrics.PROBE_RUNS.labels(service_name, probe_name).inc()
        try:
            async with self._slots:
                result = await run_probe(
                    probe_function(probe.kind),
                    probe,
                    self.ctx,
                    deadline,
                    degraded_after=probe.degraded_after,
                    trace=False,  # only `redline probe` shows a trace; scrapes never do
                )
        finally:
            self._inflight.pop(name, None)
        if result.reason and result.reason != "degraded":
            selfmetrics.PROBE_ERRORS.labels(service_name, probe_name, result.reason).inc()
        wait = max(probe.min_interval, result.retry_after)
        loop = asyncio.get_running_loop()
        self._last[name] = (probe, result, loop.time() + wait)
        return result

    async def close(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _finished(service: Service, probe: Any, task: asyncio.Task[ProbeResult]) -> Served:
    """A run made or joined for this scrape, as served (age 0: it ended during the scrape), or
    ``timeout`` when it is still running at the scrape's deadline."""
    if task.done():
        return Served(service, probe, task.result(), 0.0)
    result = ProbeResult(
        success=False,
        status="down",
        reason="timeout",
        message="scrape deadline reached while the probe was still running",
        duration=0.0,
        finished_at=time.time(),
        samples=[],
        trace=[],
    )
    selfmetrics.PROBE_ERRORS.labels(service.name, probe.name, "timeout").inc()
    return Served(service, probe, result, 0.0)
