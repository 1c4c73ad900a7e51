"""Heartbeat pings through the real exporter app on loopback: success, start, fail and exit
codes; a bad token, an unknown name, a huge body, a missing secret (each refused, nothing
changed); a flood of pings (all counted, few writes); an unwritable state file (pings still
count); and the exposition checked by ``promtool check metrics``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.app import RUNTIME, initial_runtime, make_app
from exporter.heartbeats import state
from exporter.heartbeats.source import HeartbeatSource
from tests.pg import Scrape, render
from tests.promtool import promtool_problems

TOKEN = "hb-shared-t0ken-for-tests"
PURGE_TOKEN = "hb-purge-only-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def config(tmp: Path, state_file: Path | None = None) -> str:
    (tmp / "purge.token").write_text(PURGE_TOKEN + "\n")
    return f"""
heartbeats:
  state_file: {state_file or tmp / "heartbeats.json"}
  token: ${{REDLINE_TEST_HEARTBEAT_TOKEN}}
  max_body: 1KiB
  jobs:
    - {{name: metric-rollups, schedule: "0 2 * * *", grace: 30m}}
    - {{name: agent-table-backup, schedule: "0 3 * * *", grace: 1h}}
    - {{name: retention-purge, period: 1d, token_file: {tmp / "purge.token"}}}
"""


@pytest.fixture
async def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Callable[..., Any]]:
    monkeypatch.setenv("REDLINE_TEST_HEARTBEAT_TOKEN", TOKEN)
    clients: list[TestClient[Any, Any]] = []

    async def start(text: str | None = None) -> tuple[TestClient[Any, Any], HeartbeatSource]:
        path = tmp_path / "redline.yml"
        path.write_text(text or config(tmp_path))
        application = make_app(initial_runtime(path))
        client = TestClient(TestServer(application))
        await client.start_server()
        clients.append(client)
        source = next(s for s in application[RUNTIME].sources if isinstance(s, HeartbeatSource))
        source.min_save_interval = 0.01
        return client, source

    yield start
    for client in clients:
        await client.close()


async def metrics(client: TestClient[Any, Any]) -> Scrape:
    resp = await client.get("/metrics")
    assert resp.status == 200
    return Scrape(await resp.text())


def status(s: Scrape, name: str) -> str:
    on = [
        st
        for st in ("up", "started", "late", "down", "never")
        if s.value("redline_heartbeat_status", heartbeat=name, status=st)
    ]
    assert len(on) == 1
    return on[0]


async def test_success_start_fail_and_exit_codes(app: Any, tmp_path: Path) -> None:
    client, source = await app()
    s = await metrics(client)
    assert status(s, "metric-rollups") == "never"
    assert s.value("redline_source_up", source="heartbeats") == 1

    resp = await client.post("/heartbeat/metric-rollups/start", headers=AUTH)
    assert (resp.status, await resp.text()) == (200, "OK\n")
    assert status(await metrics(client), "metric-rollups") == "started"
    await asyncio.sleep(0.05)
    resp = await client.post("/heartbeat/metric-rollups", headers=AUTH, data=b"rolled up 1234 rows")
    assert resp.status == 200
    s = await metrics(client)
    assert status(s, "metric-rollups") == "up"
    assert s.value("redline_heartbeat_last_duration_seconds", heartbeat="metric-rollups") >= 0.05
    assert s.value("redline_heartbeat_successes_total", heartbeat="metric-rollups") == 1
    assert s.value("redline_heartbeat_grace_seconds", heartbeat="metric-rollups") == 1800
    assert s.series("redline_heartbeat_next_due_timestamp_seconds", heartbeat="metric-rollups")

    # `pg_dump ...; curl .../$?`: the exit code tells how it went
    assert (await client.post("/heartbeat/agent-table-backup/1", headers=AUTH)).status == 200
    s = await metrics(client)
    assert status(s, "agent-table-backup") == "down"
    assert s.value("redline_heartbeat_failures_total", heartbeat="agent-table-backup") == 1
    assert s.series(
        "redline_heartbeat_last_failure_timestamp_seconds", heartbeat="agent-table-backup"
    )
    assert (await client.post("/heartbeat/agent-table-backup/0", headers=AUTH)).status == 200
    assert status(await metrics(client), "agent-table-backup") == "up"
    assert (await client.post("/heartbeat/agent-table-backup/fail", headers=AUTH)).status == 200
    assert status(await metrics(client), "agent-table-backup") == "down"

    # everything above reached the state file before each ping was answered
    saved = state.StateStore(str(tmp_path / "heartbeats.json")).load()
    assert saved["agent-table-backup"].failures == 2
    assert saved["metric-rollups"].successes == 1
    # promtool on this source's families alone: the app's full scrape is other tests' concern
    own = render(await source.collect(asyncio.get_running_loop().time() + 5))
    assert "redline_heartbeat_last_duration_seconds" in own
    assert promtool_problems(own) == []


async def test_refused_pings_change_nothing(app: Any) -> None:
    client, source = await app()
    before = {k: v for k, v in source.states.items()}
    cases = [
        ("/heartbeat/metric-rollups", {"Authorization": "Bearer wrong"}, b"", 401, "unauthorized"),
        ("/heartbeat/metric-rollups", {}, b"", 401, "unauthorized"),
        ("/heartbeat/metric-rollups", {"Authorization": TOKEN}, b"", 401, "unauthorized"),
        ("/heartbeat/retention-purge", AUTH, b"", 401, "unauthorized"),  # it has its own token
        # with the shared token a wrong name is told as such (a cron line to fix); without it,
        # an unknown name answers exactly as a wrong token does: names cannot be enumerated
        ("/heartbeat/no-such-job", AUTH, b"", 404, "unknown"),
        ("/heartbeat/no-such-job", {"Authorization": "Bearer wrong"}, b"", 401, "unauthorized"),
        ("/heartbeat/no-such-job", {}, b"", 401, "unauthorized"),
        ("/heartbeat/metric-rollups/restart", {}, b"", 401, "unauthorized"),
        ("/heartbeat/metric-rollups/restart", AUTH, b"", 404, "unknown"),
        ("/heartbeat/metric-rollups/256", AUTH, b"", 404, "unknown"),
        ("/heartbeat/metric-rollups", AUTH, b"x" * 1025, 413, "too_large"),
    ]
    for path, headers, body, code, _ in cases:
        resp = await client.post(path, headers=headers, data=body)
        assert resp.status == code, (path, headers)
        if code == 401:
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert await resp.text() == "wrong or missing token\n"
    assert source.states == before == {}
    s = await metrics(client)
    assert status(s, "metric-rollups") == "never"
    for reason, count in {
        "unauthorized": 7,
        "unknown": 3,
        "too_large": 1,
        "unavailable": 0,
    }.items():
        assert s.value("redline_heartbeat_rejected_pings_total", reason=reason) == count
    assert (await client.get("/heartbeat/metric-rollups", headers=AUTH)).status == 405


async def test_huge_chunked_body_is_refused(app: Any) -> None:
    client, source = await app()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"y" * 512
            await asyncio.sleep(0.001)  # separate chunks on the wire: no single read sees them all

    resp = await client.post("/heartbeat/metric-rollups", headers=AUTH, data=chunks())
    assert resp.status == 413
    assert source.states == {}
    # a body at the limit is fine
    resp = await client.post("/heartbeat/metric-rollups", headers=AUTH, data=b"z" * 1024)
    assert resp.status == 200


async def test_token_per_job_from_a_file(app: Any) -> None:
    client, source = await app()
    resp = await client.post(
        "/heartbeat/retention-purge", headers={"Authorization": f"Bearer {PURGE_TOKEN}"}
    )
    assert resp.status == 200
    assert source.states["retention-purge"].successes == 1


async def test_token_secret_missing_or_empty(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, source = await app()
    monkeypatch.delenv("REDLINE_TEST_HEARTBEAT_TOKEN")
    resp = await client.post("/heartbeat/metric-rollups", headers=AUTH)
    assert resp.status == 503
    # an empty token must not let an empty bearer in
    monkeypatch.setenv("REDLINE_TEST_HEARTBEAT_TOKEN", "")
    resp = await client.post("/heartbeat/metric-rollups", headers={"Authorization": "Bearer "})
    assert resp.status == 503
    assert source.states == {}
    s = await metrics(client)
    assert s.value("redline_heartbeat_rejected_pings_total", reason="unavailable") == 2


async def test_a_flood_of_pings(app: Any, tmp_path: Path) -> None:
    """A job stuck in a loop pinging: 400 pings, 40 at a time. Every one is counted and
    answered; the state file is written a few times, not 400 times."""
    client, source = await app()
    source.min_save_interval = 0.25  # the shipped value
    saves_before = source.store.saves
    semaphore = asyncio.Semaphore(40)

    async def ping() -> int:
        async with semaphore:
            resp = await client.post("/heartbeat/metric-rollups", headers=AUTH)
            await resp.read()
            return resp.status

    loop = asyncio.get_running_loop()
    start = loop.time()
    codes = await asyncio.gather(*(ping() for _ in range(400)))
    elapsed = loop.time() - start
    assert codes == [200] * 400
    assert source.states["metric-rollups"].successes == 400
    saves = source.store.saves - saves_before
    assert 1 <= saves <= 4 * elapsed + 2, (saves, elapsed)
    assert (
        state.StateStore(str(tmp_path / "heartbeats.json")).load()["metric-rollups"].successes
        == 400
    )


async def test_unwritable_state_file(app: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the state directory should be")
    client, _ = await app(config(tmp_path, blocker / "heartbeats.json"))
    resp = await client.post("/heartbeat/metric-rollups", headers=AUTH)
    assert resp.status == 200  # the ping counts: it is kept in memory
    s = await metrics(client)
    assert s.value("redline_heartbeat_state_file_status", status="unwritable") == 1
    assert s.value("redline_heartbeat_successes_total", heartbeat="metric-rollups") == 1
    assert status(s, "metric-rollups") == "up"
    # the disk is fixed: the next ping saves everything, the earlier one included
    blocker.unlink()
    blocker.mkdir()
    assert (await client.post("/heartbeat/metric-rollups", headers=AUTH)).status == 200
    s = await metrics(client)
    assert s.value("redline_heartbeat_state_file_status", status="ok") == 1
    saved = state.StateStore(str(blocker / "heartbeats.json")).load()
    assert saved["metric-rollups"].successes == 2


async def test_restart_of_the_exporter(app: Any, tmp_path: Path) -> None:
    client, _ = await app()
    assert (await client.post("/heartbeat/metric-rollups/start", headers=AUTH)).status == 200
    assert (await client.post("/heartbeat/metric-rollups/0", headers=AUTH)).status == 200
    assert (
        await client.post(
            "/heartbeat/retention-purge/3", headers={"Authorization": f"Bearer {PURGE_TOKEN}"}
        )
    ).status == 200
    before = await metrics(client)
    await client.close()
    client, _ = await app()  # a new process would do the same: a new app on the same config
    after = await metrics(client)
    for name in ("metric-rollups", "retention-purge"):
        for metric in (
            "redline_heartbeat_successes_total",
            "redline_heartbeat_failures_total",
            "redline_heartbeat_last_success_timestamp_seconds",
            "redline_heartbeat_last_duration_seconds",
            "redline_heartbeat_next_due_timestamp_seconds",
        ):
            assert before.series(metric, heartbeat=name) == after.series(metric, heartbeat=name)
        assert status(before, name) == status(after, name)
