"""Stand-ins of the Hot Rod AN services on loopback, for the demo and the tests.

Each stand-in is one small aiohttp app on its own port of 127.0.0.1, answering the routes and
JSON shapes of the real service (DESIGN.md section 1), so redline's default config can probe a
realistic stack without the network:

====================  =====  ====================================================================
stand-in              port   routes
====================  =====  ====================================================================
hotdash-app           13000  GET /health, GET /api/monitoring/health, GET /, GET /app
agent-service         18787  GET /health, GET /queue/stats
llamaindex-mcp        18080  GET /health, POST /mcp, GET /admin/metrics/reset (rate limited:
                             100 requests per 60 s per client, then 429 with Retry-After)
chatwoot              13001  GET /rails/health, GET /api, GET /api/v1/profile (api_access_token)
====================  =====  ====================================================================

Every stand-in also has two control routes, exempt from faults and rate limits:
``GET /_standin/state`` and ``POST /_standin/fault {"mode": ..., "delay": seconds}``. The same
switch is ``standin.fault.set(mode, delay)`` from Python. The modes:

* ``ok``: healthy.
* ``slow``: every answer comes ``delay`` seconds late (default 1.5 s, at most 30 s).
* ``failing``: HTTP 500; hotdash-app answers its health routes with 503 and a failed database
  check instead, as the real app does.
* ``down``: the connection is dropped without an answer, as when the machine dies mid-request.
* ``wrong_version``: another version string (hotdash-app serves no version: same as ``ok``).
* ``degraded``: up but unwell: hotdash-app reports ``status: "degraded"`` (slow Shopify check),
  agent-service has a queue backlog, llamaindex-mcp's tools err and slow down (query p95 above
  500 ms), chatwoot reports ``queue_services: "failing"``.

Figures that move over time (queue sizes, tool calls) are simulated one step per elapsed second
of the stand-in's clock, at most :data:`MAX_STEPS` per request, so they stay bounded and tests
can drive them with a fake clock.

``python -m exporter.demo.standins`` starts all four on their default ports until SIGTERM or
SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

HOST = "127.0.0.1"  # loopback only: the stand-ins are never reachable from another machine
DEFAULT_PORTS: dict[str, int] = {
    "hotdash-app": 13000,
    "agent-service": 18787,
    "llamaindex-mcp": 18080,
    "chatwoot": 13001,
}
FAULT_MODES = ("ok", "slow", "failing", "down", "wrong_version", "degraded")
DEFAULT_SLOW_DELAY = 1.5  # above the /health p95 target (500 ms), below the probe timeouts
MAX_DELAY = 30.0  # longer than any scrape timeout, so timeouts can be shown, but still bounded
MAX_STEPS = 60  # simulated seconds caught up per request, however long the stand-in sat idle

Clock = Callable[[], float]
log = logging.getLogger("redline.standins")


def _now_iso() -> str:
    """A timestamp as the Node.js services write it (``new Date().toISOString()``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


@dataclass
class Fault:
    """The fault switch of one stand-in."""

    mode: str = "ok"
    delay: float = DEFAULT_SLOW_DELAY  # used by mode "slow"

    def set(self, mode: str, delay: float | None = None) -> None:
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; one of {', '.join(FAULT_MODES)}")
        if delay is not None:
            if isinstance(delay, bool) or not isinstance(delay, int | float):
                raise ValueError("delay is a number of seconds")
            if not math.isfinite(delay) or delay < 0:
                raise ValueError("delay must be a finite number of seconds, 0 or more")
            self.delay = min(float(delay), MAX_DELAY)
        self.mode = mode

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "delay": self.delay}


class StandIn:
    """One service's stand-in: its routes, its fault switch and its control routes.

    Subclasses set :attr:`name`, add their routes in :meth:`add_routes` and may extend
    :meth:`state` and :meth:`failing_response`.
    """

    name = ""

    def __init__(self, *, clock: Clock = time.monotonic, seed: int | None = None) -> None:
        self.fault = Fault()
        self.clock = clock
        self.rng = random.Random(seed)
        self.started = clock()
        self.requests = 0  # requests to the service's own routes (not the control routes)
        self._last_step = self.started

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._apply_fault, *self.middlewares()])
        app.router.add_get("/_standin/state", self._get_state)
        app.router.add_post("/_standin/fault", self._post_fault)
        self.add_routes(app.router)
        return app

    def add_routes(self, router: web.UrlDispatcher) -> None:
        raise NotImplementedError

    def middlewares(self) -> list[Any]:
        return []

    def state(self) -> dict[str, Any]:
        return {"service": self.name, "fault": self.fault.as_dict(), "requests": self.requests}

    def failing_response(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": "Internal Server Error"}, status=500)

    def steps(self) -> int:
        """Whole seconds of the clock since the last call, at most MAX_STEPS."""
        elapsed = int(self.clock() - self._last_step)
        if elapsed <= 0:
            return 0
        self._last_step += elapsed
        return min(elapsed, MAX_STEPS)

    @staticmethod
    def is_control(request: web.Request) -> bool:
        return request.path.startswith("/_standin/")

    @web.middleware
    async def _apply_fault(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.is_control(request):
            return await handler(request)
        self.requests += 1
        mode = self.fault.mode
        if mode == "down":
            log.info(
                "%s: %s %s: connection dropped (mode down)", self.name, request.method, request.path
            )
            if request.transport is not None:
                request.transport.abort()
            # Never reaches the client, whose connection is gone; it only ends the handler.
            raise web.HTTPServiceUnavailable()
        if mode == "slow":
            await asyncio.sleep(self.fault.delay)
        if mode == "failing":
            return self.failing_response(request)
        return await handler(request)

    async def _get_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _post_fault(self, request: web.Request) -> web.Response:
        # Parsed by hand so `curl -d '{...}'` works without a Content-Type header.
        try:
            body = json.loads(await request.text())
            if not isinstance(body, dict):
                raise ValueError('expected a JSON object such as {"mode": "slow", "delay": 2}')
            mode = body.get("mode")
            if not isinstance(mode, str):
                raise ValueError(f'"mode" is required: one of {", ".join(FAULT_MODES)}')
            self.fault.set(mode, body.get("delay"))
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            return web.json_response({"error": str(e), "modes": list(FAULT_MODES)}, status=400)
        log.info("%s: fault mode %s, delay %ss", self.name, self.fault.mode, self.fault.delay)
        return web.json_response(self.state())


# --- HotDash app --------------------------------------------------------------------------------


class HotDashApp(StandIn):
    """The operator's Shopify admin app (Fly app hotdash-staging)."""

    name = "hotdash-app"

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/health", self._health)
        router.add_get("/api/monitoring/health", self._monitoring)
        router.add_get("/", self._page)
        router.add_get("/app", self._page)

    def _checks(self) -> dict[str, Any]:
        mode = self.fault.mode
        database = {"status": "ok", "responseTime": self.rng.randint(5, 25)}
        shopify = {"status": "ok", "responseTime": self.rng.randint(60, 160)}
        if mode == "failing":
            database = {"status": "error", "responseTime": 5000}
        if mode == "degraded":
            shopify = {"status": "slow", "responseTime": self.rng.randint(2200, 2900)}
        return {"database": database, "shopify": shopify}

    async def _health(self, request: web.Request) -> web.Response:
        return self._health_response()

    def _health_response(self) -> web.Response:
        ok = self.fault.mode not in ("failing", "degraded")
        body = {
            "status": "ok" if ok else "degraded",
            "timestamp": _now_iso(),
            "checks": self._checks(),
        }
        # The real app answers 503 when a check fails; a slow but working check stays 200.
        return web.json_response(body, status=503 if self.fault.mode == "failing" else 200)

    async def _monitoring(self, request: web.Request) -> web.Response:
        return self._monitoring_response()

    def _monitoring_response(self) -> web.Response:
        status, error_rate, p95 = {
            "failing": ("unhealthy", 0.12, 5000),
            "degraded": ("degraded", 0.02, 1400),
        }.get(self.fault.mode, ("healthy", 0.002, self.rng.randint(120, 320)))
        body = {
            "status": status,
            "metrics": {
                "uptimeSeconds": int(self.clock() - self.started),
                "requestsPerMinute": self.rng.randint(30, 90),
                "errorRate": error_rate,
                "p95ResponseTimeMs": p95,
                "memoryUsagePercent": self.rng.randint(35, 55),
            },
        }
        return web.json_response(body, status=503 if status == "unhealthy" else 200)

    def failing_response(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/health":
            return self._health_response()
        if request.path == "/api/monitoring/health":
            return self._monitoring_response()
        return super().failing_response(request)

    async def _page(self, request: web.Request) -> web.Response:
        title = "HotDash admin" if request.path == "/app" else "HotDash"
        html = f"<!doctype html><html><head><title>{title}</title></head>"
        html += f"<body><h1>{title}</h1><p>redline stand-in</p></body></html>"
        return web.Response(text=html, content_type="text/html")


# --- agent-service ------------------------------------------------------------------------------


class AgentService(StandIn):
    """The customer-support agent service (Fly app hotdash-agent-service)."""

    name = "agent-service"
    VERSION = "1.4.2"
    WRONG_VERSION = "1.3.0"
    PENDING_OK = (0, 20)
    PENDING_BACKLOG = (150, 250)  # mode degraded: the agents fall behind

    def __init__(self, *, clock: Clock = time.monotonic, seed: int | None = None) -> None:
        super().__init__(clock=clock, seed=seed)
        self.pending, self.processing, self.completed, self.failed = 4, 1, 120, 2

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/health", self._health)
        router.add_get("/queue/stats", self._queue_stats)

    async def _health(self, request: web.Request) -> web.Response:
        version = self.WRONG_VERSION if self.fault.mode == "wrong_version" else self.VERSION
        return web.json_response(
            {"status": "ok", "service": self.name, "version": version, "timestamp": _now_iso()}
        )

    def _advance(self) -> None:
        low, high = self.PENDING_BACKLOG if self.fault.mode == "degraded" else self.PENDING_OK
        for _ in range(self.steps()):
            self.pending = _clamp(self.pending + self.rng.randint(-3, 3), low, high)
            self.processing = self.rng.randint(0, 3)
            if self.rng.random() < 0.02:
                self.failed += 1
            else:
                self.completed += self.rng.randint(0, 2)
        # a mode switch shows at once, not after the random walk gets there
        self.pending = _clamp(self.pending, low, high)

    def queue_stats(self) -> dict[str, int]:
        self._advance()
        return {
            "total": self.pending + self.processing + self.completed + self.failed,
            "pending": self.pending,
            "processing": self.processing,
            "completed": self.completed,
            "failed": self.failed,
            "processedCount": self.completed + self.failed,
        }

    async def _queue_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.queue_stats())


# --- llamaindex-mcp -----------------------------------------------------------------------------


@dataclass
class ToolStats:
    """A tool's counters as llamaindex-mcp keeps them: calls, errors, recent latencies."""

    calls: int = 0
    errors: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=50))

    def record(self, latency_ms: float, error: bool) -> None:
        self.calls += 1
        self.errors += int(error)
        self.latencies_ms.append(latency_ms)

    def as_json(self) -> dict[str, Any]:
        recent = sorted(self.latencies_ms)
        p95 = recent[math.ceil(0.95 * len(recent)) - 1] if recent else 0
        return {
            "calls": self.calls,
            "errors": self.errors,
            "errorRate": f"{(self.errors / self.calls if self.calls else 0) * 100:.2f}%",
            "avgLatencyMs": round(sum(recent) / len(recent)) if recent else 0,
            "p95LatencyMs": round(p95),
        }


class LlamaIndexMcp(StandIn):
    """The knowledge-base RAG server, plain HTTP+JSON MCP (Fly app hotdash-llamaindex-mcp)."""

    name = "llamaindex-mcp"
    VERSION = "1.0.0"
    WRONG_VERSION = "0.9.0"
    # name -> (description, typical latency in ms, calls per second)
    TOOLS: dict[str, tuple[str, float, float]] = {
        "query_support": ("Answer a support question from the knowledge base", 180, 0.5),
        "refresh_index": ("Rebuild the knowledge-base index from its sources", 1500, 0.02),
        "insight_report": ("Summarise recent support conversations", 900, 0.05),
        "query_knowledge_base": ("Free-text query of the knowledge base", 150, 0.5),
        "knowledge_base_stats": ("Document and chunk counts of the knowledge base", 15, 0.1),
    }
    WARMUP_STEPS = 120  # simulated seconds of traffic before the first request, so figures exist

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        seed: int | None = None,
        rate_limit: int = 100,
        rate_window: float = 60.0,
    ) -> None:
        super().__init__(clock=clock, seed=seed)
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.resets = 0  # calls of /admin/metrics/reset: redline must never make one
        self.rate_limited = 0
        self._hits: dict[str, deque[float]] = {}  # client -> times of its requests in the window
        self.tools = {name: ToolStats() for name in self.TOOLS}
        for _ in range(self.WARMUP_STEPS):
            self._simulate_second()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/health", self._health)
        router.add_post("/mcp", self._mcp)
        router.add_get("/admin/metrics/reset", self._reset)

    def middlewares(self) -> list[Any]:
        return [self._rate_limit]

    def state(self) -> dict[str, Any]:
        return {**super().state(), "resets": self.resets, "rate_limited": self.rate_limited}

    def _call(self, tool: str) -> None:
        _, latency, _ = self.TOOLS[tool]
        degraded = self.fault.mode == "degraded"
        latency_ms = latency * self.rng.uniform(0.6, 1.6) * (4 if degraded else 1)
        error = self.rng.random() < (0.08 if degraded else 0.002)
        self.tools[tool].record(latency_ms, error)

    def _simulate_second(self) -> None:
        for tool, (_, _, rate) in self.TOOLS.items():
            if self.rng.random() < rate:
                self._call(tool)

    @web.middleware
    async def _rate_limit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A sliding window per client address, as the real server's limiter: 429 once a
        client made ``rate_limit`` requests in the last ``rate_window`` seconds."""
        if self.is_control(request):
            return await handler(request)
        now = self.clock()
        client = request.remote or "unknown"
        hits = self._hits.setdefault(client, deque())
        while hits and hits[0] <= now - self.rate_window:
            hits.popleft()
        if len(hits) >= self.rate_limit:
            self.rate_limited += 1
            retry_after = max(1, math.ceil(hits[0] + self.rate_window - now))
            return web.json_response(
                {"error": "Too many requests, please try again later."},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        hits.append(now)  # at most rate_limit entries per client: memory stays bounded
        return await handler(request)

    async def _health(self, request: web.Request) -> web.Response:
        for _ in range(self.steps()):
            self._simulate_second()
        version = self.WRONG_VERSION if self.fault.mode == "wrong_version" else self.VERSION
        return web.json_response(
            {
                "status": "ok",
                "service": self.name,
                "version": version,
                "uptime": f"{int(self.clock() - self.started)}s",
                "tools": list(self.TOOLS),
                "metrics": {name: stats.as_json() for name, stats in self.tools.items()},
            }
        )

    async def _mcp(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"error": "Invalid JSON body"}, status=400)
        method = body.get("method") if isinstance(body, dict) else None
        if method == "tools/list":
            tools = [{"name": n, "description": d} for n, (d, _, _) in self.TOOLS.items()]
            return web.json_response({"tools": tools})
        if method == "tools/call":
            params = body.get("params")
            tool = params.get("name") if isinstance(params, dict) else None
            if tool not in self.TOOLS:
                return web.json_response({"error": f"Unknown tool: {tool}"}, status=404)
            self._call(tool)
            return web.json_response(
                {"content": [{"type": "text", "text": f"stand-in answer from {tool}"}]}
            )
        return web.json_response({"error": f"Unknown method: {method}"}, status=400)

    async def _reset(self, request: web.Request) -> web.Response:
        self.resets += 1
        self.tools = {name: ToolStats() for name in self.TOOLS}
        return web.json_response({"status": "ok", "message": "Metrics reset"})


# --- Chatwoot -----------------------------------------------------------------------------------


class Chatwoot(StandIn):
    """The self-hosted support desk, v4.6 (Fly app hotdash-chatwoot)."""

    name = "chatwoot"
    VERSION = "4.6.0"
    WRONG_VERSION = "4.5.2"
    API_TOKEN = "standin-chatwoot-token"  # the stand-in's fixed token; not a secret

    def __init__(
        self, *, clock: Clock = time.monotonic, seed: int | None = None, api_token: str = API_TOKEN
    ) -> None:
        super().__init__(clock=clock, seed=seed)
        self.api_token = api_token

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/rails/health", self._rails_health)
        router.add_get("/api", self._api)
        router.add_get("/api/v1/profile", self._profile)

    async def _rails_health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        version = self.WRONG_VERSION if self.fault.mode == "wrong_version" else self.VERSION
        queues = "failing" if self.fault.mode == "degraded" else "ok"
        return web.json_response(
            {
                "version": version,
                "timestamp": _now_iso(),
                "queue_services": queues,
                "data_services": "ok",
            }
        )

    async def _profile(self, request: web.Request) -> web.Response:
        if request.headers.get("api_access_token") != self.api_token:
            return web.json_response({"error": "Invalid Access Token"}, status=401)
        return web.json_response(
            {
                "id": 1,
                "name": "Stand-in Agent",
                "email": "agent@example.invalid",
                "account_id": 1,
                "role": "administrator",
                "availability_status": "online",
            }
        )


# --- running them -------------------------------------------------------------------------------


def make_standins(*, clock: Clock = time.monotonic, seed: int | None = None) -> dict[str, StandIn]:
    """One stand-in of each service, by service name."""
    standins: list[StandIn] = [
        HotDashApp(clock=clock, seed=seed),
        AgentService(clock=clock, seed=seed),
        LlamaIndexMcp(clock=clock, seed=seed),
        Chatwoot(clock=clock, seed=seed),
    ]
    return {s.name: s for s in standins}


class StandInError(Exception):
    """A stand-in could not start (its port is taken)."""


@dataclass
class RunningStandIns:
    standins: dict[str, StandIn]
    urls: dict[str, str]  # service name -> base URL, http://127.0.0.1:PORT

    def __getitem__(self, name: str) -> StandIn:
        return self.standins[name]


@asynccontextmanager
async def run_standins(
    ports: Mapping[str, int] | None = None, standins: Mapping[str, StandIn] | None = None
) -> AsyncIterator[RunningStandIns]:
    """Serve the stand-ins on 127.0.0.1 for the duration of the ``async with``.

    ``ports`` maps a service name to its port; a name it lacks gets a free port, so ``ports={}``
    is what tests use. ``None`` means :data:`DEFAULT_PORTS`, as the default config expects.
    """
    ports = DEFAULT_PORTS if ports is None else ports
    standins = make_standins() if standins is None else standins
    runners: list[web.AppRunner] = []
    urls: dict[str, str] = {}
    try:
        for name, standin in standins.items():
            # a short shutdown timeout: a request held by mode "slow" must not hold up the exit
            runner = web.AppRunner(standin.app(), shutdown_timeout=0.5)
            await runner.setup()
            runners.append(runner)
            port = ports.get(name, 0)
            try:
                await web.TCPSite(runner, HOST, port).start()
            except OSError as e:
                raise StandInError(
                    f"{name}: cannot listen on {HOST}:{port}: {e.strerror or e}"
                ) from None
            urls[name] = f"http://{HOST}:{runner.addresses[0][1]}"
        yield RunningStandIns(dict(standins), urls)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


async def _serve_until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with run_standins() as running:
        for name, url in running.urls.items():
            print(f"{name:<16} {url}", flush=True)
        print("stand-ins ready; stop with SIGTERM or Ctrl-C", flush=True)
        await stop.wait()
    print("stand-ins stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m exporter.demo.standins",
        description="Serve stand-ins of the Hot Rod AN services on 127.0.0.1 "
        f"({', '.join(f'{n} :{p}' for n, p in DEFAULT_PORTS.items())}) until SIGTERM/SIGINT.",
    ).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(_serve_until_signalled())
    except StandInError as e:
        print(f"error: {e} (is the demo already running? make demo-stop)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
