"""The host source: runs the enabled host collectors at every scrape in a worker thread (psutil
calls and /proc reads block), under the scrape deadline.

The collectors of one scrape run one after the other in a single worker thread, in registry
order (cheap /proc reads first; statvfs and the walk over every process last). They read small
files and compute in Python, so threads of their own would only contend for the GIL: measured,
one thread per collector made a scrape slower and less steady than one thread for all.

Each collector reports ``node_scrape_collector_success`` and
``node_scrape_collector_duration_seconds``. One that raises (a permission error, a format it
cannot read) reports success 0 while the others are served as usual. At the deadline the source
stops waiting: the collectors that finished are served, the one still running and those not
started report success 0, and the worker starts no further collector.

A collector never runs twice at once (its state, e.g. the process-group counters, is updated by
one run at a time): each holds a lock while it runs. A scrape that finds the lock held by a run
younger than HUNG_AFTER (a concurrent scrape, e.g. the other Prometheus of a pair) waits for it
and then runs the collector itself; held by an older run (a read hung in the kernel), it reports
success 0 and how long that run has lasted, without waiting, so hung reads neither pile up
threads nor slow every later scrape.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.config import Config
from exporter.host.common import Families
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
        batch = _Batch([name for name in COLLECTORS if name in host.collectors], start + budget)
        work = asyncio.ensure_future(asyncio.to_thread(self._run_batch, batch, host))
        try:
            await asyncio.wait([work], timeout=budget)
        finally:
            batch.abandoned = True  # also when this scrape is cancelled
        results = dict(batch.results)
        families: list[Family] = []
        status = Families()
        for name in batch.names:
            run = results.get(name)
            if run is None:
                error = "did not finish before the scrape deadline"
                run = _Run([], error, time.perf_counter() - start)
            self._report(name, run.error)
            families.extend(run.families)
            status.values(m.NODE_SCRAPE_COLLECTOR_SUCCESS, 1.0 if run.error is None else 0.0, name)
            status.values(m.NODE_SCRAPE_COLLECTOR_DURATION, run.seconds, name)
        return [*families, *status.families()]

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
                self._since[name] = begin = time.perf_counter()
                try:
                    run = _Run(self._collectors[name](host), None, time.perf_counter() - begin)
                except Exception as e:
                    run = _Run([], f"{type(e).__name__}: {e}", time.perf_counter() - begin)
                batch.results[name] = run
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
