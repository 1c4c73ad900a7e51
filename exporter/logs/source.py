"""The ``logs`` source: one background task per file source (polling its follower in a worker
thread), the ingest endpoint, and the counters they feed.

Reloads adopt the new config in place: a file source that is still configured keeps its open
files, positions and counters (its follower takes the new settings at its next poll); a source
that is gone is stopped and its series dropped; a new one starts like at startup. Counters live
in one :class:`LogState` for the life of the process, keyed by source name, so they stay
monotonic across reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiohttp import web
from prometheus_client.metrics_core import Metric as Family

from exporter.config import Config
from exporter.logs.config import LogsConfig
from exporter.logs.counters import LogState
from exporter.logs.ingest import IngestEndpoint, IngestTarget
from exporter.logs.pipeline import Pipeline
from exporter.logs.tail import FileFollower, TailSettings
from exporter.secrets import Redactor, SecretSource
from exporter.sources import Source

log = logging.getLogger("redline.logs")


@dataclass
class _Follow:
    follower: FileFollower
    interval: float
    stop: asyncio.Event
    task: asyncio.Task[None] | None = None


class LogsSource(Source):
    name = "logs"

    def __init__(self, config: Config, redactor: Redactor) -> None:
        super().__init__(config, redactor)
        self.state = LogState()
        self.ingest = IngestEndpoint(self.state, SecretSource(redactor))
        self._follows: dict[str, _Follow] = {}
        self._started = False
        # Routes exist before start (aiohttp freezes its router when the app starts), so the
        # ingest targets are set now; file sources start with the app.
        self._configure_ingest(config.logs)
        self._declare(config.logs)

    def routes(self) -> list[web.RouteDef]:
        return self.ingest.routes()

    async def start(self) -> None:
        self._started = True
        await self._apply(self.config)

    async def reload(self, config: Config) -> None:
        self.config = config
        if self._started:
            await self._apply(config)
        else:
            self._configure_ingest(config.logs)
            self._declare(config.logs)

    async def collect(self, deadline: float) -> list[Family]:
        return self.state.families()

    async def close(self) -> None:
        follows, self._follows = self._follows, {}
        await asyncio.gather(*(self._stop(f) for f in follows.values()))

    # --- applying a config ------------------------------------------------------------------

    def _configure_ingest(self, logs: LogsConfig) -> None:
        if not self.state.set_buckets(logs.buckets):
            log.warning(
                "logs.buckets changed: the request-duration histograms keep their buckets until "
                "redline restarts, so they stay monotonic"
            )
        self.ingest.targets = {
            spec.name: IngestTarget(spec, Pipeline(spec, logs, self.state))
            for spec in logs.sources
            if spec.kind == "ingest"
        }

    def _declare(self, logs: LogsConfig) -> None:
        for spec in logs.sources:
            self.state.declare(spec.name, spec.kind, tuple(p.name for p in logs.patterns))

    async def _apply(self, config: Config) -> None:
        logs = config.logs
        self._configure_ingest(logs)
        wanted = {s.name: s for s in logs.sources if s.kind == "file"}
        for name in [n for n in self._follows if n not in wanted]:
            await self._stop(self._follows.pop(name))
        # after the stops, which write their last figures
        self.state.forget({s.name: s.kind for s in logs.sources}, {p.name for p in logs.patterns})
        for name, spec in wanted.items():
            pipeline = Pipeline(spec, logs, self.state)
            follow = self._follows.get(name)
            if follow is not None:
                follow.follower.update(TailSettings.of(spec), pipeline.feed)
                follow.interval = spec.poll_interval
                continue
            follower = FileFollower(name, TailSettings.of(spec), pipeline.feed, self.state)
            # The first scan now, not in the task: "start at the end" then means the end as of
            # start() (or the reload), so every line written after it returns is counted.
            try:
                await asyncio.to_thread(follower.poll)
            except Exception:
                log.exception("log source %s: first poll failed; the task will try again", name)
            follow = _Follow(follower, spec.poll_interval, asyncio.Event())
            follow.task = asyncio.create_task(self._run(name, follow), name=f"logs:{name}")
            self._follows[name] = follow
        self._declare(logs)

    async def _run(self, name: str, follow: _Follow) -> None:
        try:
            while not follow.stop.is_set():
                try:
                    more = await asyncio.to_thread(follow.follower.poll)
                except Exception:
                    log.exception("log source %s: poll failed; trying again", name)
                    more = False
                if more:
                    await asyncio.sleep(0)  # a burst: read on at once, letting others run
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(follow.stop.wait(), follow.interval)
        finally:
            # close() waits for a poll running in its thread (the follower's lock), so no fd is
            # closed under a read
            await asyncio.to_thread(follow.follower.close)

    @staticmethod
    async def _stop(follow: _Follow) -> None:
        follow.stop.set()
        if follow.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await follow.task
