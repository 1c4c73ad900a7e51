"""The scheduler (exporter/scheduler.py) against real HTTP probes of loopback targets: at most
``max_concurrent`` runs at once, taken in the order asked, a run's timer started when it runs,
no task left once the runs are done, shared runs, runs queued past their deadline, close."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from exporter.config import parse_config
from exporter.probes.base import ProbeContext, new_session
from exporter.scheduler import Scheduler
from exporter.secrets import Redactor, SecretSource


class Target:
    """Answers ``GET /t/<i>`` after ``delay`` seconds; records how many requests it holds at
    once, at most, and the order the requests came in."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.now = 0
        self.most = 0
        self.order: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.order.append(int(request.match_info["i"]))
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.now -= 1
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/t/{i}", self.handle)
        return app


def targets(url: str, count: int, timeout: str = "5s") -> dict[str, Any]:
    probes = ", ".join(
        f'{{name: t{i:03d}, kind: http, url: "{url}/t/{i}", timeout: {timeout}}}'
        for i in range(count)
    )
    return parse_config(f"services: [{{name: app, probes: [{probes}]}}]", "test.yml").targets()


def scheduler_tasks() -> list[asyncio.Task[Any]]:
    """Tasks running the scheduler's code (the targets' handlers share the loop)."""
    return [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "").startswith("Scheduler.")
    ]


@pytest.fixture
async def scheduler() -> AsyncIterator[Callable[[int], Scheduler]]:
    made: list[tuple[Scheduler, ProbeContext]] = []

    def make(max_concurrent: int) -> Scheduler:
        redactor = Redactor()
        ctx = ProbeContext(new_session(), SecretSource(redactor), redactor)
        made.append((Scheduler(ctx, max_concurrent), ctx))
        return made[-1][0]

    yield make
    for s, ctx in made:
        await s.close()
        await ctx.session.close()


async def test_at_most_max_concurrent_runs_in_the_order_asked_and_no_task_left(
    serve: Callable[..., Any], scheduler: Callable[[int], Scheduler]
) -> None:
    target = Target(delay=0.2)
    url = await serve(target.app())
    chosen = targets(url, 40)
    s = scheduler(8)
    assert scheduler_tasks() == []
    loop = asyncio.get_running_loop()
    served = await s.serve_all(chosen, loop.time() + 10)
    assert [f"app/{x.probe.name}" for x in served] == list(chosen)
    assert all(x.result.success for x in served), [x.result.message for x in served]
    assert target.most == 8
    # runs start in the order the scrape listed them: run i is taken only once runs up to
    # i - 8 are, and have reached the target long before (a run ends first); within a wave
    # of 8 connecting at once, the target may see them in any order
    assert sorted(target.order) == list(range(40))
    assert all(i <= k + 7 for k, i in enumerate(target.order)), target.order
    # a run's timer starts when it runs, not when it was queued: the last of 5 waves took
    # about one target's delay (0.2 s), not five
    assert max(x.result.duration for x in served) < 0.2 * 3
    await asyncio.sleep(0)  # the workers' done callbacks
    assert scheduler_tasks() == []  # every worker ended with the queue empty


async def test_scrapes_asking_at_once_share_the_runs(
    serve: Callable[..., Any], scheduler: Callable[[int], Scheduler]
) -> None:
    target = Target(delay=0.1)
    url = await serve(target.app())
    chosen = targets(url, 5)
    s = scheduler(2)
    loop = asyncio.get_running_loop()
    first, second = await asyncio.gather(
        s.serve_all(chosen, loop.time() + 10),
        s.serve_all(dict(list(chosen.items())[2:]), loop.time() + 10),
    )
    assert len(target.order) == 5
    assert [x.result for x in first[2:]] == [x.result for x in second]
    assert all(x.result.success for x in first)


async def test_runs_past_the_scrape_deadline_are_served_as_timeout_and_end_on_their_own(
    serve: Callable[..., Any], scheduler: Callable[[int], Scheduler]
) -> None:
    """One slot, three targets of 0.4 s, a scrape of 0.6 s: the first run ends in time, the
    second is still running and the third still queued at the deadline; both are served as
    ``timeout``, and the queued one, whose own deadline is the scrape's, times out at once
    when it gets the slot rather than reaching the target."""
    target = Target(delay=0.4)
    url = await serve(target.app())
    chosen = targets(url, 3)
    s = scheduler(1)
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    served = await s.serve_all(chosen, loop.time() + 0.6)
    assert 0.6 <= time.monotonic() - started < 0.9
    assert [x.result.reason for x in served] == [None, "timeout", "timeout"]
    assert served[1].result.message == served[2].result.message
    for _ in range(40):  # the second run ends at its own deadline, the third right after
        if not s._inflight:
            break
        await asyncio.sleep(0.05)
    assert not s._inflight
    assert target.order == [0, 1]
    assert s.latest()["app/t002"].reason == "timeout"
    assert s.latest()["app/t002"].message == "deadline exceeded"


async def test_a_scrape_gone_leaves_its_runs_to_finish_for_the_next(
    serve: Callable[..., Any], scheduler: Callable[[int], Scheduler]
) -> None:
    target = Target(delay=0.3)
    url = await serve(target.app())
    chosen = targets(url, 2)
    s = scheduler(4)
    loop = asyncio.get_running_loop()
    scrape = asyncio.ensure_future(s.serve_all(chosen, loop.time() + 10))
    await asyncio.sleep(0.1)
    scrape.cancel()  # Prometheus hung up
    with pytest.raises(asyncio.CancelledError):
        await scrape
    served = await s.serve_all(chosen, loop.time() + 10)  # joins the runs in flight
    assert all(x.result.success for x in served)
    assert len(target.order) == 2


async def test_close_cancels_the_runs_and_releases_a_waiting_scrape(
    serve: Callable[..., Any], scheduler: Callable[[int], Scheduler]
) -> None:
    target = Target(delay=30)
    url = await serve(target.app())
    chosen = targets(url, 3, timeout="60s")
    s = scheduler(1)
    loop = asyncio.get_running_loop()
    scrape = asyncio.ensure_future(s.serve_all(chosen, loop.time() + 60))
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await s.close()
    served = await asyncio.wait_for(scrape, 5)
    assert time.monotonic() - started < 2
    assert [x.result.reason for x in served] == ["timeout"] * 3
    assert not s._inflight
    await asyncio.sleep(0)
    assert scheduler_tasks() == []


async def test_every_run_counts_once_in_probe_runs_total_and_a_removed_targets_series_go(
    serve: Callable[..., Any], scheduler: Callable[[int], Scheduler]
) -> None:
    """redline_probe_runs_total counts each run made (a shared one once); the scheduler keeps
    each target's counter child, and after a reload drops it with the target, and the
    target's series of redline_probe_runs_total and redline_probe_errors_total."""
    from exporter import selfmetrics

    def runs(probe: str) -> float:
        value = selfmetrics.REGISTRY.get_sample_value(
            "redline_probe_runs_total", {"service": "app", "probe": probe}
        )
        return value or 0.0

    target = Target(delay=0.05)
    url = await serve(target.app())
    chosen = targets(url, 3)
    before = {name: runs(name.split("/")[1]) for name in chosen}
    s = scheduler(4)
    loop = asyncio.get_running_loop()
    await asyncio.gather(  # two scrapes at once share their runs: one run per target
        s.serve_all(chosen, loop.time() + 10), s.serve_all(chosen, loop.time() + 10)
    )
    await s.serve_all(chosen, loop.time() + 10)
    assert {name: runs(name.split("/")[1]) - before[name] for name in chosen} == {
        name: 2.0 for name in chosen
    }
    assert len(target.order) == 6
    kept = set(list(chosen)[:1])
    gone = list(chosen)[1]
    selfmetrics.PROBE_ERRORS.labels("app", gone.split("/")[1], "timeout").inc()
    s.forget_missing(kept)
    assert set(s._runs_total) == kept
    # a removed target's counters are no longer served (they would stay frozen until a
    # restart); the kept target's are
    for name in chosen:
        probe = name.split("/")[1]
        assert (runs(probe) > 0) == (name in kept), name
    assert (
        selfmetrics.REGISTRY.get_sample_value(
            "redline_probe_errors_total",
            {"service": "app", "probe": gone.split("/")[1], "reason": "timeout"},
        )
        is None
    )
