"""The stand-ins serve the shapes of docs/architecture.md, switch fault modes, rate-limit like
llamaindex-mcp and count calls of its reset route. Everything runs on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from exporter.demo import standins as s

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TOOLS = [
    "query_support",
    "refresh_index",
    "insight_report",
    "query_knowledge_base",
    "knowledge_base_stats",
]
QUEUE_STATES = ("pending", "processing", "completed", "failed")


class FakeClock:
    """The stand-ins' clock, moved by hand: simulated figures and rate-limit windows follow it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


Serve = Callable[..., Any]


async def get(http: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any]:
    async with http.get(url, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def set_fault(http: aiohttp.ClientSession, base: str, **body: Any) -> tuple[int, Any]:
    async with http.post(f"{base}/_standin/fault", json=body) as resp:
        return resp.status, await resp.json()


# --- running them -------------------------------------------------------------------------------


async def test_run_standins_serves_every_service_on_loopback(
    http: aiohttp.ClientSession,
) -> None:
    async with s.run_standins(ports={}) as running:
        assert set(running.urls) == set(s.DEFAULT_PORTS)
        for name, url in running.urls.items():
            assert url.startswith("http://127.0.0.1:")
            status, state = await get(http, f"{url}/_standin/state")
            assert status == 200
            assert state["service"] == name
            assert state["fault"] == {"mode": "ok", "delay": s.DEFAULT_SLOW_DELAY}
        ports = [int(url.rsplit(":", 1)[1]) for url in running.urls.values()]
    for port in ports:  # all closed on exit
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


async def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(s.StandInError, match=rf"agent-service: cannot listen on .*:{port}"):
            async with s.run_standins(ports={"agent-service": port}):
                pass


# --- HotDash app --------------------------------------------------------------------------------


async def test_hotdash_app_shapes(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = await serve(s.HotDashApp().app())
    status, body = await get(http, f"{base}/health")
    assert status == 200
    assert body["status"] == "ok"
    assert ISO_UTC.match(body["timestamp"])
    datetime.fromisoformat(body["timestamp"])
    for check in ("database", "shopify"):
        assert body["checks"][check]["status"] == "ok"
        assert isinstance(body["checks"][check]["responseTime"], int)

    status, body = await get(http, f"{base}/api/monitoring/health")
    assert status == 200
    assert body["status"] == "healthy"
    assert isinstance(body["metrics"], dict) and body["metrics"]

    for page in ("/", "/app"):
        status, text = await get(http, f"{base}{page}")
        assert status == 200 and "HotDash" in text


async def test_hotdash_app_failing_is_503_degraded(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    app = s.HotDashApp()
    base = await serve(app.app())
    app.fault.set("failing")
    status, body = await get(http, f"{base}/health")
    assert status == 503
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "error"
    status, body = await get(http, f"{base}/api/monitoring/health")
    assert (status, body["status"]) == (503, "unhealthy")
    status, _ = await get(http, f"{base}/app")
    assert status == 500


async def test_hotdash_app_degraded_answers_200(serve: Serve, http: aiohttp.ClientSession) -> None:
    app = s.HotDashApp()
    base = await serve(app.app())
    app.fault.set("degraded")
    status, body = await get(http, f"{base}/health")
    assert (status, body["status"]) == (200, "degraded")
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["shopify"]["status"] != "ok"
    status, body = await get(http, f"{base}/api/monitoring/health")
    assert (status, body["status"]) == (200, "degraded")


# --- agent-service ------------------------------------------------------------------------------


async def test_agent_service_health(serve: Serve, http: aiohttp.ClientSession) -> None:
    agent = s.AgentService()
    base = await serve(agent.app())
    status, body = await get(http, f"{base}/health")
    assert status == 200
    assert set(body) == {"status", "service", "version", "timestamp"}
    assert (body["status"], body["service"], body["version"]) == ("ok", "agent-service", "1.4.2")
    assert ISO_UTC.match(body["timestamp"])

    agent.fault.set("wrong_version")
    _, body = await get(http, f"{base}/health")
    assert body["version"] == s.AgentService.WRONG_VERSION != "1.4.2"


async def test_queue_stats_move_and_stay_bounded(
    serve: Serve, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    agent = s.AgentService(clock=clock, seed=7)
    base = await serve(agent.app())
    seen = []
    for _ in range(50):
        clock.advance(10)
        status, stats = await get(http, f"{base}/queue/stats")
        assert status == 200
        assert set(stats) == {*QUEUE_STATES, "total", "processedCount"}
        assert all(isinstance(v, int) and v >= 0 for v in stats.values())
        assert stats["total"] == sum(stats[state] for state in QUEUE_STATES)
        assert stats["processedCount"] == stats["completed"] + stats["failed"]
        low, high = s.AgentService.PENDING_OK
        assert low <= stats["pending"] <= high
        seen.append(stats)
    assert len({st["pending"] for st in seen}) > 1, "pending never moved"
    assert seen[-1]["completed"] > seen[0]["completed"]
    assert all(a["completed"] <= b["completed"] for a, b in itertools.pairwise(seen))

    # however long it sat idle, one request simulates at most MAX_STEPS seconds
    before = seen[-1]["processedCount"]
    clock.advance(86400 * 365)
    _, stats = await get(http, f"{base}/queue/stats")
    assert stats["processedCount"] - before <= s.AgentService.JOBS_PER_SECOND[1] * s.MAX_STEPS


async def test_queue_backlog_when_degraded(
    serve: Serve, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    agent = s.AgentService(clock=clock, seed=1)
    base = await serve(agent.app())
    agent.fault.set("degraded")
    low, high = s.AgentService.PENDING_BACKLOG
    for _ in range(5):  # at once, and for as long as it lasts
        _, stats = await get(http, f"{base}/queue/stats")
        assert low <= stats["pending"] <= high
        clock.advance(30)
    agent.fault.set("ok")
    _, stats = await get(http, f"{base}/queue/stats")
    assert stats["pending"] <= s.AgentService.PENDING_OK[1]


# --- llamaindex-mcp -----------------------------------------------------------------------------


async def test_mcp_health_shape(
    serve: Serve, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    mcp = s.LlamaIndexMcp(clock=clock, seed=3)
    base = await serve(mcp.app())
    clock.advance(42)
    status, body = await get(http, f"{base}/health")
    assert status == 200
    assert body["status"] == "ok"
    assert body["service"] == "llamaindex-mcp"
    assert body["version"] == s.LlamaIndexMcp.VERSION
    assert body["uptime"] == "42s"
    assert body["tools"] == TOOLS
    assert set(body["metrics"]) == set(TOOLS)
    for figures in body["metrics"].values():
        assert set(figures) == {"calls", "errors", "errorRate", "avgLatencyMs", "p95LatencyMs"}
        assert re.match(r"^\d+\.\d\d%$", figures["errorRate"])
        for key in ("calls", "errors", "avgLatencyMs", "p95LatencyMs"):
            assert isinstance(figures[key], int) and figures[key] >= 0
        assert figures["errors"] <= figures["calls"]
    assert body["metrics"]["query_support"]["calls"] > 0  # warmed up: figures exist at once

    mcp.fault.set("wrong_version")
    _, body = await get(http, f"{base}/health")
    assert body["version"] == s.LlamaIndexMcp.WRONG_VERSION


async def test_mcp_degraded_slows_queries_past_the_target(
    serve: Serve, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    mcp = s.LlamaIndexMcp(clock=clock, seed=5)
    base = await serve(mcp.app())
    _, body = await get(http, f"{base}/health")
    assert body["metrics"]["query_support"]["p95LatencyMs"] < 500  # MCP query p95 target
    mcp.fault.set("degraded")
    for _ in range(3):
        clock.advance(s.MAX_STEPS)
        _, body = await get(http, f"{base}/health")
    assert body["metrics"]["query_support"]["p95LatencyMs"] > 500
    assert body["metrics"]["query_knowledge_base"]["p95LatencyMs"] > 500


async def test_mcp_tools_list_and_call(serve: Serve, http: aiohttp.ClientSession) -> None:
    mcp = s.LlamaIndexMcp()
    base = await serve(mcp.app())
    async with http.post(f"{base}/mcp", json={"method": "tools/list"}) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert [t["name"] for t in body["tools"]] == TOOLS
    assert all(isinstance(t["description"], str) and t["description"] for t in body["tools"])

    calls = mcp.tools["knowledge_base_stats"].calls
    call = {"method": "tools/call", "params": {"name": "knowledge_base_stats", "arguments": {}}}
    async with http.post(f"{base}/mcp", json=call) as resp:
        assert resp.status == 200
        assert (await resp.json())["content"][0]["type"] == "text"
    assert mcp.tools["knowledge_base_stats"].calls == calls + 1

    for bad, status in (({"method": "nope"}, 400), ({"method": "tools/call"}, 404)):
        async with http.post(f"{base}/mcp", json=bad) as resp:
            assert resp.status == status
    async with http.post(f"{base}/mcp", data=b"{not json") as resp:
        assert resp.status == 400


async def test_mcp_rate_limit_gives_429_with_retry_after(
    serve: Serve, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    mcp = s.LlamaIndexMcp(clock=clock)  # the real limit: 100 requests per 60 s per client
    base = await serve(mcp.app())
    for i in range(100):
        status, _ = await get(http, f"{base}/health")
        assert status == 200, f"request {i + 1} was refused"
    async with http.get(f"{base}/health") as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "60"
    # POST /mcp shares the budget; the control routes are outside it
    async with http.post(f"{base}/mcp", json={"method": "tools/list"}) as resp:
        assert resp.status == 429
    status, state = await get(http, f"{base}/_standin/state")
    assert status == 200
    assert state["rate_limited"] == 2

    clock.advance(45)  # the window slides: still full, but sooner free
    async with http.get(f"{base}/health") as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "15"
    clock.advance(15)
    status, _ = await get(http, f"{base}/health")
    assert status == 200


async def test_mcp_reset_wipes_counters_and_is_counted(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    mcp = s.LlamaIndexMcp()
    base = await serve(mcp.app())
    _, state = await get(http, f"{base}/_standin/state")
    assert state["resets"] == 0
    _, body = await get(http, f"{base}/health")
    assert body["metrics"]["query_support"]["calls"] > 0

    status, _ = await get(http, f"{base}/admin/metrics/reset")
    assert status == 200
    _, body = await get(http, f"{base}/health")
    for figures in body["metrics"].values():
        zeroed = {"calls": 0, "errors": 0, "errorRate": "0.00%", "avgLatencyMs": 0}
        assert figures == {**zeroed, "p95LatencyMs": 0}
    _, state = await get(http, f"{base}/_standin/state")
    assert state["resets"] == 1
    assert mcp.resets == 1


# --- Chatwoot -----------------------------------------------------------------------------------


async def test_chatwoot_shapes(serve: Serve, http: aiohttp.ClientSession) -> None:
    chatwoot = s.Chatwoot()
    base = await serve(chatwoot.app())
    assert await get(http, f"{base}/rails/health") == (200, "ok")
    status, body = await get(http, f"{base}/api")
    assert status == 200
    assert set(body) == {"version", "timestamp", "queue_services", "data_services"}
    assert body["version"] == "4.6.0"
    assert (body["queue_services"], body["data_services"]) == ("ok", "ok")

    chatwoot.fault.set("wrong_version")
    _, body = await get(http, f"{base}/api")
    assert body["version"] == s.Chatwoot.WRONG_VERSION
    chatwoot.fault.set("degraded")
    _, body = await get(http, f"{base}/api")
    assert (body["version"], body["queue_services"]) == ("4.6.0", "failing")


async def test_chatwoot_profile_needs_the_token(serve: Serve, http: aiohttp.ClientSession) -> None:
    base = await serve(s.Chatwoot(api_token="t0ken").app())
    assert (await get(http, f"{base}/api/v1/profile"))[0] == 401
    headers = {"api_access_token": "wrong"}
    assert (await get(http, f"{base}/api/v1/profile", headers=headers))[0] == 401
    status, body = await get(http, f"{base}/api/v1/profile", headers={"api_access_token": "t0ken"})
    assert status == 200
    assert body["id"] == 1


# --- fault modes --------------------------------------------------------------------------------


async def test_fault_modes_switch_through_the_control_route(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    agent = s.AgentService()
    base = await serve(agent.app())

    status, state = await set_fault(http, base, mode="failing")
    assert status == 200
    assert state["fault"]["mode"] == "failing"
    assert agent.fault.mode == "failing"
    assert (await get(http, f"{base}/health"))[0] == 500
    assert (await get(http, f"{base}/queue/stats"))[0] == 500

    await set_fault(http, base, mode="slow", delay=0.3)
    started = time.monotonic()
    assert (await get(http, f"{base}/health"))[0] == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await get(http, f"{base}/_standin/state")  # the control routes are never slowed
    assert time.monotonic() - started < 0.3

    await set_fault(http, base, mode="down")
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(http, f"{base}/health")
    assert (await get(http, f"{base}/_standin/state"))[0] == 200

    await set_fault(http, base, mode="ok")
    assert (await get(http, f"{base}/health"))[0] == 200


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "broken"},
        {"delay": 2},
        {"mode": "slow", "delay": -1},
        {"mode": "slow", "delay": "2"},
        [1],
    ],
)
async def test_bad_fault_requests_are_refused(
    serve: Serve, http: aiohttp.ClientSession, body: Any
) -> None:
    agent = s.AgentService()
    base = await serve(agent.app())
    async with http.post(f"{base}/_standin/fault", json=body) as resp:
        assert resp.status == 400
        assert "error" in await resp.json()
    assert agent.fault.mode == "ok"


async def test_fault_control_accepts_curl_style_bodies_and_caps_delay(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    agent = s.AgentService()
    base = await serve(agent.app())
    # curl -d sends application/x-www-form-urlencoded; the body is still read as JSON
    body = b'{"mode": "slow", "delay": 9999}'
    async with http.post(f"{base}/_standin/fault", data=body) as resp:
        assert resp.status == 200
        assert (await resp.json())["fault"] == {"mode": "slow", "delay": s.MAX_DELAY}
    async with http.post(f"{base}/_standin/fault", data=b"not json") as resp:
        assert resp.status == 400


def test_fault_from_python() -> None:
    fault = s.Fault()
    fault.set("slow", 2)
    assert fault.as_dict() == {"mode": "slow", "delay": 2.0}
    fault.set("ok")
    assert fault.as_dict() == {"mode": "ok", "delay": 2.0}  # the delay is kept for next time
    with pytest.raises(ValueError, match="unknown fault mode"):
        fault.set("exploded")
    with pytest.raises(ValueError):
        fault.set("slow", float("inf"))
    assert fault.mode == "ok"


async def test_every_mode_is_accepted_by_every_standin(http: aiohttp.ClientSession) -> None:
    async with s.run_standins(ports={}) as running:
        for name, url in running.urls.items():
            for mode in s.FAULT_MODES:
                status, _ = await set_fault(http, url, mode=mode, delay=0)
                assert status == 200, (name, mode)
                assert running[name].fault.mode == mode


async def test_slow_requests_do_not_hold_up_shutdown(http: aiohttp.ClientSession) -> None:
    async with s.run_standins(ports={}) as running:
        running["chatwoot"].fault.set("slow", s.MAX_DELAY)
        request = asyncio.ensure_future(get(http, f"{running.urls['chatwoot']}/api"))
        await asyncio.sleep(0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 5
    with pytest.raises(aiohttp.ClientError):
        await request
