"""Runs probes for scrapes: one shared run per target at a time, and reuse of recent results.

* Concurrent scrapes (two Prometheus servers, a person on /probe) share the run in flight
  instead of hitting a target twice.
* A probe with ``min_interval`` (or a target that answered 429/503 with Retry-After) is not run
  again before its time: the last result is served, and its age is exposed.
* A run keeps its own deadline; a scrape whose deadline comes first gets a ``timeout`` result
  for that target while the shared run goes on for the others waiting on it.
* At most ``max_concurrent`` runs at once, made by as many worker tasks taking queued runs in
  the order the scrapes asked for them (below).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
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


class _Waiter:
    """One scrape waiting for its runs: how many are not finished, and the future set when
    none is left (or at the scrape's deadline)."""

    __slots__ = ("done", "left")

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.left = 0

    def release(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class _Run:
    """One run of a target's probe: queued, then made by a worker; ``result`` once finished."""

    __slots__ = ("deadline", "name", "probe", "result", "waiters")

    def __init__(self, name: str, probe: Any, deadline: float) -> None:
        self.name = name
        self.probe = probe
        self.deadline = deadline
        self.result: ProbeResult | None = None
        self.waiters: list[_Waiter] = []

    def finish(self, result: ProbeResult) -> None:
        self.result = result
        for waiter in self.waiters:
            waiter.left -= 1
            if waiter.left == 0:
                waiter.release()
        self.waiters = []


class Scheduler:
    """Runs are queued and made by at most ``max_concurrent`` worker tasks, each taking the
    next queued run as soon as its last one ends, and ending when the queue is empty.

    All probes of a scrape share one event loop: started all at once, each one's timer would
    include the time it waited for the loop (hundreds of ms at 1,000 targets, which would
    pollute latency SLOs), so a run's timer starts when a worker takes it. Workers rather than
    a task per run waiting on a semaphore: a scrape of 1,000 targets used to create its 1,000
    tasks at once, of which 128 could run; the tasks, their coroutines and the semaphore's
    waiters of the 872 others were the larger part of a scrape's peak memory, left in
    CPython's arenas after it (docs/performance.md), and asyncio's semaphore rescans its
    waiters at every release."""

    def __init__(self, ctx: ProbeContext, max_concurrent: int = 128) -> None:
        self.ctx = ctx
        self._max = max_concurrent
        self._queue: deque[_Run] = deque()
        self._workers: set[asyncio.Task[None]] = set()
        self._inflight: dict[str, _Run] = {}  # queued or running, by name
        self._last: dict[
            str, tuple[Any, ProbeResult, float]
        ] = {}  # name -> (cfg, result, not_before)
        # Each target's child of redline_probe_runs_total, by name: prometheus-client's
        # labels() takes a lock and looks the child up at every call, a few microseconds per
        # run that a dict lookup saves (docs/performance.md).
        self._runs_total: dict[str, Any] = {}

    def latest(self) -> dict[str, ProbeResult]:
        """The last finished result of each target, by ``service/probe`` name: what the scrapes
        found, for the status page. Reading it never runs a probe."""
        return {name: result for name, (_, result, _) in self._last.items()}

    def forget_missing(self, names: set[str]) -> None:
        """Drop cached results of targets no longer configured (after a reload), and their
        series of redline_probe_runs_total and redline_probe_errors_total: kept, a removed
        target's counters would be served frozen until a restart, and the series of every
        target ever configured would pile up across reloads. Removed, they go stale in
        Prometheus as the target's own probe series do."""
        for name in list(self._last):
            if name not in names:
                del self._last[name]
        for name in list(self._runs_total):
            if name in names:
                continue
            del self._runs_total[name]
            service, probe = name.split("/", 1)
            selfmetrics.PROBE_RUNS.remove(service, probe)
            # every reason's series of the target (partial match on its two labels)
            selfmetrics.PROBE_ERRORS.remove_by_labels({"service": service, "probe": probe})

    async def serve_all(
        self, targets: dict[str, tuple[Service, Any]], deadline: float
    ) -> list[Served]:
        """What one scrape serves for ``targets`` (name -> (service, probe)), in their order.

        One wait for the whole scrape rather than a timer and a shield per target (their cost
        was a good part of redline's own CPU per probe: docs/performance.md). A run still going
        at the deadline (plus the grace) is served as ``timeout`` and goes on for the others
        sharing it; nothing is cancelled."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        wall = time.time()
        slots: list[Served | tuple[Service, Any, _Run]] = []
        waiter = _Waiter(loop.create_future())
        for name, (service, probe) in targets.items():
            cached = self._last.get(name)
            # A cached result is reused only while the config of the probe is unchanged (the
            # time first: comparing two configs costs more, and most results are not reused).
            if cached is not None and now < cached[2] and cached[0] == probe:
                result = cached[1]
                slots.append(Served(service, probe, result, max(0.0, wall - result.finished_at)))
                continue
            run = self._inflight.get(name)
            if run is None:
                run = _Run(name, probe, min(deadline, now + probe.timeout))
                self._inflight[name] = run
                self._queue.append(run)
                runs_total = self._runs_total.get(name)
                if runs_total is None:
                    runs_total = selfmetrics.PROBE_RUNS.labels(service.name, probe.name)
                    self._runs_total[name] = runs_total
                runs_total.inc()
            run.waiters.append(waiter)
            waiter.left += 1
            slots.append((service, probe, run))
        if waiter.left:
            self._start_workers()
            # A little past the deadline, so that a run this scrape started (whose own deadline
            # is the same) ends first and reports its own timeout with its partial timings.
            timer = loop.call_at(deadline + _GRACE, waiter.release)
            try:
                await waiter.done
            finally:
                timer.cancel()
        return [slot if isinstance(slot, Served) else _finished(*slot) for slot in slots]

    def _start_workers(self) -> None:
        """A worker per queued run, up to ``max_concurrent`` in all; each takes its first run
        now, so that no worker starts without one."""
        loop = asyncio.get_running_loop()
        while self._queue and len(self._workers) < self._max:
            worker = loop.create_task(self._work(self._queue.popleft()))
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)

    async def _work(self, run: _Run) -> None:
        while True:
            await self._run(run)
            if not self._queue:
                return
            run = self._queue.popleft()

    async def _run(self, run: _Run) -> None:
        probe = run.probe
        result: ProbeResult | None = None
        try:
            result = await run_probe(
                probe_function(probe.kind),
                probe,
                self.ctx,
                run.deadline,
                degraded_after=probe.degraded_after,
                trace=False,  # only `redline probe` shows a trace; scrapes never do
            )
            if result.reason and result.reason != "degraded":
                service_name, probe_name = run.name.split("/", 1)
                selfmetrics.PROBE_ERRORS.labels(service_name, probe_name, result.reason).inc()
            wait = max(probe.min_interval, result.retry_after)
            self._last[run.name] = (probe, result, asyncio.get_running_loop().time() + wait)
        finally:
            # finished or cancelled (close): a later scrape makes a run of its own
            self._inflight.pop(run.name, None)
            if result is not None:
                run.finish(result)

    async def close(self) -> None:
        """Cancel the runs in flight and drop the queued ones; a scrape waiting for them is
        served what it has, the others as ``timeout``."""
        runs = list(self._inflight.values())
        self._queue.clear()
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for run in runs:
            for waiter in run.waiters:
                waiter.release()
        self._inflight.clear()


def _finished(service: Service, probe: Any, run: _Run) -> Served:
    """A run made or joined for this scrape, as served (age 0: it ended during the scrape), or
    ``timeout`` when it is still running at the scrape's deadline."""
    if run.result is not None:
        return Served(service, probe, run.result, 0.0)
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
