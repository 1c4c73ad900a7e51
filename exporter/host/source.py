"""The host source: runs the enabled host collectors at every scrape under the scrape deadline,
those that read kernel-generated /proc files on the event loop and the others (statvfs of every
mount, a walk over every process) in a worker thread.

The collectors marked ``on_loop`` (exporter/host/registry.py: cpu, memory, system, pressure,
diskio, network) read files the kernel generates from memory when they are read and compute:
tens of microseconds each, never waiting on a disk, a network or another process. Handing them
to a thread cost more than running them: two thread wake-ups per scrape, each up to a few
hundred microseconds on a busy machine (docs/performance.md). They run on the loop one after the
other, while the worker thread runs the others; the worker is started first, so that its
wake-up overlaps them.

The worker's collectors run one after the other in a single thread, in registry order (statvfs
and the walk over every process last). They read small files and compute in Python, so threads
of their own would only contend for the GIL: measured, one thread per collector made a scrape
slower and less steady than one thread for all.

Each collector reports ``node_scrape_collector_success`` and
``node_scrape_collector_duration_seconds``. One that raises (a permission error, a format it
cannot read) reports success 0 while the others are served as usual. At the deadline the source
stops waiting: the collectors that finished are served, the one still running and those not
started report success 0, and neither the loop nor the worker starts a further collector.

A collector in the worker never runs twice at once (its state, e.g. the process-group counters,
is updated by one run at a time): each holds a lock while it runs. A scrape that finds the lock
held by a run younger than HUNG_AFTER (a concurrent scrape, e.g. the other Prometheus of a
pair) waits for it and then runs the collector itself; held by an older run (a read hung in the
kernel), it reports success 0 and how long that run has lasted, without waiting, so hung reads
neither pile up threads nor slow every later scrape. A collector on the loop needs no lock: the
loop runs one thing at a time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.config import Config
from exporter.host.common import AsyncCollect, Collect, Families, runs_on_loop
from exporter.host.config import CollectorName, HostConfig
from exporter.host.registry import COLLECTORS
from exporter.secrets import Redactor
from exporter.sources import Source

log = logging.getLogger("redline.host")

# Stop waiting this long before the scrape deadline, so the collectors that finished are served
# rather than the whole source being cut off by the deadline.
DEADLINE_MARGIN = 0.01
# A run older than this is taken for hung rather than for a concurrent scrape's. A run takes
# milliseconds; the slowest legitimate one is a statvfs reaching its time limit (1 s default).
HUNG_AFTER = 1.0


@dataclass(frozen=True)
class _Run:
    families: list[Family]
    error: str | None
    seconds: float


@dataclass
class _Batch:
    """The collectors of one scrape, and what the worker thread has made of them so far."""

    names: list[CollectorName]
    deadline: float  # time.perf_counter() by which the scrape stops waiting
    results: dict[CollectorName, _Run] = field(default_factory=dict)
    abandoned: bool = False  # set when the scrape stops waiting: start no further collector


def _async_of(collect: Collect) -> AsyncCollect | None:
    """The collector's run that waits on the event loop (``collect_async``), if it has one."""
    run = getattr(collect, "collect_async", None)
    return run if callable(run) else None


class HostSource(Source):
    name = "host"

    def __init__(self, config: Config, redactor: Redactor) -> None:
        super().__init__(config, redactor)
        # Made once, so their state (CPU counter clamp, hung mounts, process-group counters)
        # survives reloads; a collector left out of the config keeps its state too.
        self._collectors = {name: make() for name, make in COLLECTORS.items()}
        self._locks = {name: threading.Lock() for name in COLLECTORS}
        self._since: dict[CollectorName, float] = {}  # perf_counter() of each run in progress
        self._failing: dict[CollectorName, str] = {}  # collector -> error last logged

    @property
    def enabled(self) -> bool:
        return self.config.host.enabled

    async def collect(self, deadline: float) -> list[Family]:
        host = self.config.host
        if not host.enabled:
            return []
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        budget = max(0.0, deadline - loop.time() - DEADLINE_MARGIN)
        # registry order, whatever order the config lists them in
        names = [name for name in COLLECTORS if name in host.collectors]
        batch = _Batch([], start + budget)
        results: dict[CollectorName, _Run] = {}
        awaited: dict[CollectorName, asyncio.Task[_Run]] = {}
        try:
            # a collector on the loop takes its lock without waiting; held (a run of an
            # earlier or concurrent scrape), it goes to the worker, which knows how to wait
            on_loop = []
            for name in names:
                collector = self._collectors[name]
                now = runs_on_loop(collector, host)
                if not (now or _async_of(collector)) or not self._locks[name].acquire(False):
                    batch.names.append(name)
                elif now:
                    on_loop.append(name)
                else:
                    awaited[name] = asyncio.ensure_future(self._run_async(name, host))
            for i, name in enumerate(on_loop):
                if time.perf_counter() >= batch.deadline:
                    for late in on_loop[i:]:  # reported below as not finished in time
                        self._locks[late].release()
                    break
                try:
                    self._since[name] = time.perf_counter()
                    results[name] = self._run(name, host)
                finally:
                    del self._since[name]
                    self._locks[name].release()
            waits: list[asyncio.Future[Any]] = [*awaited.values()]
            if batch.names:
                batch.names.sort(key=names.index)
                waits.append(asyncio.ensure_future(asyncio.to_thread(self._run_batch, batch, host)))
            if waits:
                await asyncio.wait(waits, timeout=max(0.0, batch.deadline - time.perf_counter()))
        finally:
            batch.abandoned = True  # also when this scrape is cancelled
        for name, task in awaited.items():
            if task.done() and not task.cancelled():  # cancelled: only by the loop closing
                results[name] = task.result()
        results.update(batch.results)
        families: list[Family] = []
        status = Families()
        for name in names:
            run = results.get(name)
            if run is None:
                error = "did not finish before the scrape deadline"
                run = _Run([], error, time.perf_counter() - start)
            self._report(name, run.error)
            families.extend(run.families)
            status.values(m.NODE_SCRAPE_COLLECTOR_SUCCESS, 1.0 if run.error is None else 0.0, name)
            status.values(m.NODE_SCRAPE_COLLECTOR_DURATION, run.seconds, name)
        return [*families, *status.families()]

    def _run(self, name: CollectorName, host: HostConfig) -> _Run:
        """One run of a collector, timed; an exception is its error."""
        begin = time.perf_counter()
        try:
            return _Run(self._collectors[name](host), None, time.perf_counter() - begin)
        except Exception as e:
            return _Run([], f"{type(e).__name__}: {e}", time.perf_counter() - begin)

    async def _run_async(self, name: CollectorName, host: HostConfig) -> _Run:
        """One run of a collector that waits on the loop, its lock taken by the caller and
        released here. A task of its own: a scrape that stops waiting (deadline, cancel)
        leaves it to finish, as it leaves the worker thread, so that what it waits for (a
        hung mount) is still noted."""
        collect = _async_of(self._collectors[name])
        assert collect is not None
        self._since[name] = begin = time.perf_counter()
        try:
            return _Run(await collect(host), None, time.perf_counter() - begin)
        except Exception as e:
            return _Run([], f"{type(e).__name__}: {e}", time.perf_counter() - begin)
        finally:
            del self._since[name]
            self._locks[name].release()

    def _run_batch(self, batch: _Batch, host: HostConfig) -> None:
        """The worker thread: each collector in turn until done or abandoned."""
        for name in batch.names:
            if batch.abandoned:
                return
            if not self._acquire(name, batch.deadline):
                age = self._age(name)
                batch.results[name] = _Run([], "still running since an earlier scrape", age)
                continue
            if batch.abandoned:
                # the scrape gave up while this thread waited for the lock (the earlier run
                # ended just then): nobody would read this run, and it would hold the lock
                # against the next scrape's
                self._locks[name].release()
                return
            try:
                self._since[name] = time.perf_counter()
                batch.results[name] = self._run(name, host)
            finally:
                del self._since[name]
                self._locks[name].release()

    def _age(self, name: CollectorName) -> float:
        """How long the current run of a collector has lasted; 0 when it has only just taken
        its lock (its start time is set right after) or has just ended."""
        since = self._since.get(name)
        return 0.0 if since is None else time.perf_counter() - since

    def _acquire(self, name: CollectorName, deadline: float) -> bool:
        lock = self._locks[name]
        if lock.acquire(blocking=False):
            return True
        wait = min(HUNG_AFTER - self._age(name), deadline - time.perf_counter())
        return wait > 0 and lock.acquire(timeout=wait)

    def _report(self, name: CollectorName, error: str | None) -> None:
        """Log a collector's failure when it starts or changes, and its recovery, rather than
        at every scrape."""
        if error is None:
            if self._failing.pop(name, None) is not None:
                log.info("host collector %s works again", name)
        elif self._failing.get(name) != error:
            self._failing[name] = error
            log.error("host collector %s failed: %s", name, self.redactor.redact(error))
