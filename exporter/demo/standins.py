"""Stand-ins of the Hot Rod AN services on loopback, for the demo and the tests.

Each stand-in is one small aiohttp app on its own port of 127.0.0.1, answering the routes and
JSON shapes of the real service (docs/architecture.md, "The shop redline watches"), so
redline's default config can probe a realistic stack without the network:

====================  =====  ====================================================================
stand-in              port   routes
====================  =====  ====================================================================
hotdash-app           13000  GET /health, GET /api/monitoring/health, GET /, GET /app
agent-service         18787  GET /health, GET /queue/stats
llamaindex-mcp        18080  GET /health, POST /mcp, GET /admin/metrics/reset (rate limited:
                             100 requests per 60 s per client, then 429 with Retry-After)
chatwoot              13001  GET /rails/health, GET /api, GET /api/v1/profile (api_access_token)
shopify               13002  GET /admin/api/2025-10/shop.json, POST .../graphql.json
                             (X-Shopify-Access-Token; the GraphQL answer carries throttleStatus)
vendor-status         13003  GET /shopify/api/v2/summary.json (Statuspage format),
                             GET /google/incidents.json (Google's status dashboards);
                             POST /_standin/outage opens or closes an incident
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

Two things make the demo realistic, both optional (tests leave them off):

* ``database``: hotdash-app's ``/health`` database check and Chatwoot's ``data_services`` really
  connect to a PostgreSQL (the demo's, ``--database-dsn``): stopping it makes them fail, as the
  real services do when Supabase is down.
* ``log_dir``: the four Hot Rod AN services write an access line per request as Fly's log
  shipper delivers them to files (``<fly app>.ndjson``: ``{message, fly.app.name, log.level,
  timestamp}``), each in its service's own format: the app's JSON logger, agent-service's and
  llamaindex-mcp's ``[GET] /health - 200 (12ms) [req-...]``, Chatwoot's Rails lines.

``python -m exporter.demo.standins`` starts them all on their default ports until SIGTERM or
SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
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
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web
from aiohttp.typedefs import Handler

from exporter.demo import layout

HOST = "127.0.0.1"  # loopback only: the stand-ins are never reachable from another machine
# the demo's ports (the table above plus REDLINE_DEMO_PORT_OFFSET, exporter/demo/layout.py)
DEFAULT_PORTS: dict[str, int] = layout.STANDIN_PORTS
FAULT_MODES = ("ok", "slow", "failing", "down", "wrong_version", "degraded")
DEFAULT_SLOW_DELAY = 1.5  # above the /health p95 target (500 ms), below the probe timeouts
MAX_DELAY = 30.0  # longer than any scrape timeout, so timeouts can be shown, but still bounded
MAX_STEPS = 60  # simulated seconds caught up per request, however long the stand-in sat idle
MAX_LOG_BYTES = 20 * 1024 * 1024  # an access log is rotated to FILE.1 beyond this
DATABASE_TIMEOUT = 1.0  # seconds for the database check (connect and SELECT 1)

Clock = Callable[[], float]
log = logging.getLogger("redline.standins")


def _now_iso() -> str:
    """A timestamp as the Node.js services write it (``new Date().toISOString()``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


class AccessLog:
    """One service's log file as Fly's log shipper writes it (NDJSON records around the line
    the service printed), rotated to ``FILE.1`` past :data:`MAX_LOG_BYTES`."""

    def __init__(self, path: Path, fly_app: str, max_bytes: int = MAX_LOG_BYTES) -> None:
        self.path = path
        self.fly_app = fly_app
        self.max_bytes = max_bytes
        self._file: TextIO | None = None

    def write(self, line: str, level: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        record = {
            "message": line,
            "fly": {"app": {"name": self.fly_app}, "region": "ord"},
            "log": {"level": level},
            "timestamp": _now_iso(),
        }
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if self._file.tell() > self.max_bytes:
            self._file.close()
            self._file = None
            self.path.replace(self.path.with_name(self.path.name + ".1"))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class DatabaseCheck:
    """A real dependency on a PostgreSQL: connect and ``SELECT 1``, as a service's health check
    does. The result is kept for a second, so a scrape's several requests share one check."""

    def __init__(self, dsn: str, timeout: float = DATABASE_TIMEOUT) -> None:
        self.dsn = dsn
        self.timeout = timeout
        self._last: tuple[float, bool, int] | None = None  # (when, up, milliseconds)

    async def check(self) -> tuple[bool, int]:
        now = time.monotonic()
        if self._last is not None and now - self._last[0] < 1.0:
            return self._last[1], self._last[2]
        import asyncpg  # the exporter's own Postgres driver

        up = False
        try:
            conn = await asyncio.wait_for(
                asyncpg.connect(self.dsn, timeout=self.timeout), self.timeout
            )
            try:
                await conn.fetchval("SELECT 1", timeout=self.timeout)
                up = True
            finally:
                await conn.close(timeout=self.timeout)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            log.info("database check failed: %s", e)
        took = int((time.monotonic() - now) * 1000)
        self._last = (time.monotonic(), up, took)
        return up, took


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
    fly_app = ""  # the Fly app it stands for; "" for a vendor (it writes no log)

    def __init__(self, *, clock: Clock = time.monotonic, seed: int | None = None) -> None:
        self.fault = Fault()
        self.clock = clock
        self.rng = random.Random(seed)
        self.started = clock()
        self.requests = 0  # requests to the service's own routes (not the control routes)
        self._last_step = self.started
        self.access_log: AccessLog | None = None  # set by make_standins(log_dir=...)
        self._request_ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._log_access, self._apply_fault, *self.middlewares()]
        )
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

    def log_lines(self, method: str, path: str, status: int, ms: int, rid: str) -> list[str]:
        """The lines the service prints for one request (agent-service's and llamaindex-mcp's
        access format; subclasses print their own)."""
        return [f"[{method}] {path} - {status} ({ms}ms) [{rid}]"]

    @web.middleware
    async def _log_access(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.access_log is None or self.is_control(request):
            return await handler(request)
        start = time.monotonic()
        try:
            response = await handler(request)
        except web.HTTPException as e:
            # mode down drops the connection: the service printed nothing
            if request.transport is not None and not request.transport.is_closing():
                self._write_access(request, e.status, start)
            raise
        self._write_access(request, response.status, start)
        return response

    def _write_access(self, request: web.Request, status: int, start: float) -> None:
        if self.access_log is None:
            return
        ms = int((time.monotonic() - start) * 1000)
        rid = f"req-{next(self._request_ids):06d}"
        level = "error" if status >= 500 else "warn" if status >= 400 else "info"
        for line in self.log_lines(request.method, request.path, status, ms, rid):
            self.access_log.write(line, level)

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
    fly_app = "hotdash-staging"

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        seed: int | None = None,
        database: DatabaseCheck | None = None,
    ) -> None:
        super().__init__(clock=clock, seed=seed)
        self.database = database
        self.database_state: tuple[bool, int] | None = None  # (up, ms) of the last real check

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/health", self._health)
        router.add_get("/api/monitoring/health", self._monitoring)
        router.add_get("/", self._page)
        router.add_get("/app", self._page)
        # what the admin app's pages read (exporter/demo/traffic.py asks for them): the request
        # logs then carry the api and tiles routes the latency SLOs count
        router.add_get("/api/{resource}", self._api)
        router.add_get("/app/tiles/{tile}", self._tile)

    def log_lines(self, method: str, path: str, status: int, ms: int, rid: str) -> list[str]:
        # the app's JSON logger: {timestamp, level, message, service, ...}
        level = "error" if status >= 500 else "warn" if status >= 400 else "info"
        record = {
            "timestamp": _now_iso(),
            "level": level,
            "message": f"{method} {path} {status}",
            "service": self.name,
            "method": method,
            "path": path,
            "status": status,
            "duration": ms,
            "requestId": rid,
        }
        return [json.dumps(record)]

    async def _refresh_database(self) -> None:
        if self.database is not None:
            self.database_state = await self.database.check()

    def _failing(self) -> bool:
        """Mode failing, or the real database down (the app's /health then fails the same)."""
        database_down = self.database_state is not None and not self.database_state[0]
        return self.fault.mode == "failing" or database_down

    def _checks(self) -> dict[str, Any]:
        mode = self.fault.mode
        took = self.database_state[1] if self.database_state else self.rng.randint(5, 25)
        database = {"status": "ok", "responseTime": took}
        shopify = {"status": "ok", "responseTime": self.rng.randint(60, 160)}
        if self._failing():
            database = {"status": "error", "responseTime": max(took, 1000)}
        if mode == "degraded":
            shopify = {"status": "slow", "responseTime": self.rng.randint(2200, 2900)}
        return {"database": database, "shopify": shopify}

    async def _health(self, request: web.Request) -> web.Response:
        await self._refresh_database()
        return self._health_response()

    def _health_response(self) -> web.Response:
        ok = not self._failing() and self.fault.mode != "degraded"
        body = {
            "status": "ok" if ok else "degraded",
            "timestamp": _now_iso(),
            "checks": self._checks(),
        }
        # The real app answers 503 when a check fails; a slow but working check stays 200.
        return web.json_response(body, status=503 if self._failing() else 200)

    async def _monitoring(self, request: web.Request) -> web.Response:
        await self._refresh_database()
        return self._monitoring_response()

    def _monitoring_response(self) -> web.Response:
        mode = "failing" if self._failing() else self.fault.mode
        status, error_rate, p95 = {
            "failing": ("unhealthy", 0.12, 5000),
            "degraded": ("degraded", 0.02, 1400),
        }.get(mode, ("healthy", 0.002, self.rng.randint(120, 320)))
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

    # milliseconds a healthy answer takes: API reads well inside the 1 s p95 target, tiles
    # (several queries each) inside the 3 s one (docs/targets.md)
    API_MS = (5, 120)
    TILE_MS = (40, 600)

    async def _api(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.rng.randint(*self.API_MS) / 1000)
        resource = request.match_info["resource"]
        return web.json_response({"resource": resource, "items": self.rng.randint(0, 50)})

    async def _tile(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.rng.randint(*self.TILE_MS) / 1000)
        return web.json_response({"tile": request.match_info["tile"], "ok": True})

    async def _page(self, request: web.Request) -> web.Response:
        title = "HotDash admin" if request.path == "/app" else "HotDash"
        html = f"<!doctype html><html><head><title>{title}</title></head>"
        html += f"<body><h1>{title}</h1><p>redline stand-in</p></body></html>"
        return web.Response(text=html, content_type="text/html")


# --- agent-service ------------------------------------------------------------------------------


class AgentService(StandIn):
    """The customer-support agent service (Fly app hotdash-agent-service)."""

    name = "agent-service"
    fly_app = "hotdash-agent-service"
    VERSION = "1.4.2"
    WRONG_VERSION = "1.3.0"
    PENDING_OK = (0, 20)
    PENDING_BACKLOG = (150, 250)  # mode degraded: the agents fall behind
    # Share of jobs that fail: healthy below the 0.5% error target (docs/targets.md), degraded past
    # the 5% at which AgentJobsFailing pages.
    FAILURE_OK = 0.003
    FAILURE_DEGRADED = 0.08
    JOBS_PER_SECOND = (5, 15)

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
        degraded = self.fault.mode == "degraded"
        low, high = self.PENDING_BACKLOG if degraded else self.PENDING_OK
        failure = self.FAILURE_DEGRADED if degraded else self.FAILURE_OK
        for _ in range(self.steps()):
            self.pending = _clamp(self.pending + self.rng.randint(-3, 3), low, high)
            self.processing = self.rng.randint(0, 3)
            # JOBS_PER_SECOND jobs finish each second, each failing with the mode's share: the
            # demo's 90 s alert window then holds ~900 jobs, as production's 15 min at 1/s
            finished = self.rng.randint(*self.JOBS_PER_SECOND)
            failed = sum(self.rng.random() < failure for _ in range(finished))
            self.failed += failed
            self.completed += finished - failed
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
    fly_app = "hotdash-llamaindex-mcp"
    VERSION = "1.0.0"
    WRONG_VERSION = "0.9.0"
    # name -> (description, typical latency in ms, calls per second). Busy enough that the
    # demo's 90 s error-rate window holds hundreds of query calls, so one error in a healthy
    # minute stays below the 1% alert (as production's 15 min window at a tenth of the rate).
    TOOLS: dict[str, tuple[str, float, float]] = {
        "query_support": ("Answer a support question from the knowledge base", 180, 5.0),
        "refresh_index": ("Rebuild the knowledge-base index from its sources", 1500, 0.02),
        "insight_report": ("Summarise recent support conversations", 900, 0.5),
        "query_knowledge_base": ("Free-text query of the knowledge base", 150, 5.0),
        "knowledge_base_stats": ("Document and chunk counts of the knowledge base", 15, 1.0),
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
            # int(rate) calls, and one more with the fraction's probability
            for _ in range(int(rate) + (self.rng.random() < rate % 1)):
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
    fly_app = "hotdash-chatwoot"
    VERSION = "4.6.0"
    WRONG_VERSION = "4.5.2"
    API_TOKEN = "standin-chatwoot-token"  # the stand-in's fixed token; not a secret

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        seed: int | None = None,
        api_token: str = API_TOKEN,
        database: DatabaseCheck | None = None,
    ) -> None:
        super().__init__(clock=clock, seed=seed)
        self.api_token = api_token
        self.database = database

    def log_lines(self, method: str, path: str, status: int, ms: int, rid: str) -> list[str]:
        # Rails' default logger with the request id tag (Chatwoot's web process)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        prefix = f"I, [{stamp} #1]  INFO -- : [{rid}] "
        phrase = {200: "OK", 401: "Unauthorized", 404: "Not Found", 500: "Internal Server Error"}
        return [
            f'{prefix}Started {method} "{path}" for 127.0.0.1 at {stamp}',
            f"{prefix}Completed {status} {phrase.get(status, '')} in {ms}ms",
        ]

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/rails/health", self._rails_health)
        router.add_get("/api", self._api)
        router.add_get("/api/v1/profile", self._profile)

    async def _rails_health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        version = self.WRONG_VERSION if self.fault.mode == "wrong_version" else self.VERSION
        queues = "failing" if self.fault.mode == "degraded" else "ok"
        data = "ok"
        if self.database is not None and not (await self.database.check())[0]:
            data = "failing"  # Chatwoot's data_services is its Postgres
        return web.json_response(
            {
                "version": version,
                "timestamp": _now_iso(),
                "queue_services": queues,
                "data_services": data,
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


# --- Shopify and the vendors' status pages ------------------------------------------------------


class Shopify(StandIn):
    """The store's Admin API (``https://{shop}.myshopify.com/admin/api/2025-10/...``)."""

    name = "shopify"
    API_VERSION = "2025-10"
    API_TOKEN = "standin-shopify-token"  # the stand-in's fixed token; not a secret
    BUCKET = 2000.0  # GraphQL cost points of a standard plan's bucket
    RESTORE_RATE = 100.0

    def __init__(self, *, clock: Clock = time.monotonic, seed: int | None = None) -> None:
        super().__init__(clock=clock, seed=seed)
        self.available = self.BUCKET

    def add_routes(self, router: web.UrlDispatcher) -> None:
        base = f"/admin/api/{self.API_VERSION}"
        router.add_get(f"{base}/shop.json", self._shop)
        router.add_post(f"{base}/graphql.json", self._graphql)

    def failing_response(self, request: web.Request) -> web.StreamResponse:
        # what Shopify's edge answers while the platform is down
        return web.json_response({"errors": "Service Unavailable"}, status=503)

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if request.headers.get("X-Shopify-Access-Token") != self.API_TOKEN:
            return web.json_response(
                {"errors": "[API] Invalid API key or access token (unrecognized login or "
                 "wrong password)"},
                status=401,
            )  # fmt: skip
        return None

    def _shop_body(self) -> dict[str, Any]:
        return {
            "id": 81234567890,
            "name": "Hot Rod AN (stand-in)",
            "myshopify_domain": "hotrodan.myshopify.com",
        }

    async def _shop(self, request: web.Request) -> web.Response:
        return self._unauthorized(request) or web.json_response({"shop": self._shop_body()})

    async def _graphql(self, request: web.Request) -> web.Response:
        refused = self._unauthorized(request)
        if refused is not None:
            return refused
        # the app's own calls draw on the bucket too; it refills at the restore rate
        steps = self.steps()
        spent = self.rng.uniform(0, 150)
        self.available = min(self.BUCKET, self.available + steps * self.RESTORE_RATE) - spent
        self.available = max(self.available, 0.0)
        shop = self._shop_body()
        body = {
            "data": {"shop": {"id": f"gid://shopify/Shop/{shop['id']}", "name": shop["name"]}},
            "extensions": {
                "cost": {
                    "requestedQueryCost": 1,
                    "actualQueryCost": 1,
                    "throttleStatus": {
                        "maximumAvailable": self.BUCKET,
                        "currentlyAvailable": round(self.available),
                        "restoreRate": self.RESTORE_RATE,
                    },
                }
            },
        }
        return web.json_response(body)


@dataclass
class Outage:
    """An incident a vendor's status page shows: open from ``since`` until ``until`` (None: until
    it is closed). Wall-clock times, as the page shows them."""

    since: float
    until: float | None = None

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


class VendorStatus(StandIn):
    """The vendors' status pages: Shopify's Statuspage feed and the Google Ads status dashboard
    (where Google Analytics incidents appear), in their own formats. ``POST /_standin/outage
    {"feed": "shopify"|"google", "active": true}`` opens an outage; ``"active": false`` closes
    it, after ``"lag"`` seconds if given: a status page declares recovery later than it
    happens."""

    name = "vendor-status"
    FEEDS = ("shopify", "google")
    SHOPIFY_COMPONENTS = ("Admin", "Checkout", "Storefront", "API & Mobile")
    SHOPIFY_OUTAGE = ("Admin", "API & Mobile")  # what an Admin API outage takes down
    GOOGLE_PRODUCT = "Google Analytics"
    MAX_LAG = 600.0

    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        seed: int | None = None,
        wall: Clock = time.time,
    ) -> None:
        super().__init__(clock=clock, seed=seed)
        self.wall = wall
        self.outages: dict[str, Outage] = {}

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/shopify/api/v2/summary.json", self._shopify)
        router.add_get("/google/incidents.json", self._google)
        router.add_post("/_standin/outage", self._post_outage)

    def outage(self, feed: str) -> Outage | None:
        found = self.outages.get(feed)
        return found if found is not None and found.active(self.wall()) else None

    def set_outage(self, feed: str, active: bool, lag: float = 0.0) -> None:
        if feed not in self.FEEDS:
            raise ValueError(f"unknown feed {feed!r}; one of {', '.join(self.FEEDS)}")
        now = self.wall()
        current = self.outage(feed)
        if active:
            self.outages[feed] = Outage(current.since if current else now)
        elif current is not None:
            current.until = now + min(max(lag, 0.0), self.MAX_LAG)

    def state(self) -> dict[str, Any]:
        outages = {}
        for feed in self.FEEDS:
            o = self.outage(feed)
            outages[feed] = (
                {"active": True, "since": _iso(o.since), "until": o.until and _iso(o.until)}
                if o
                else {"active": False}
            )
        return {**super().state(), "outages": outages}

    async def _post_outage(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
            if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
                raise ValueError('expected {"feed": "shopify", "active": true, "lag": 0}')
            lag = body.get("lag", 0)
            if isinstance(lag, bool) or not isinstance(lag, int | float) or not math.isfinite(lag):
                raise ValueError("lag is a number of seconds")
            self.set_outage(str(body.get("feed")), body["active"], float(lag))
        except ValueError as e:
            return web.json_response({"error": str(e), "feeds": list(self.FEEDS)}, status=400)
        log.info("%s: outages %s", self.name, self.state()["outages"])
        return web.json_response(self.state())

    def shopify_summary(self) -> dict[str, Any]:
        outage = self.outage("shopify")
        updated = _iso(self.wall())
        components = [
            {
                "id": f"cmp{i:09d}",
                "name": name,
                "status": "major_outage"
                if outage and name in self.SHOPIFY_OUTAGE
                else "operational",
                "created_at": "2017-02-01T15:21:16.154-05:00",
                "updated_at": updated,
                "position": i,
                "description": None,
                "showcase": True,
                "start_date": None,
                "group_id": None,
                "page_id": "standin0page",
                "group": False,
                "only_show_if_degraded": False,
            }
            for i, name in enumerate(self.SHOPIFY_COMPONENTS, 1)
        ]
        incidents = []
        if outage:
            incidents.append(
                {
                    "id": f"inc{int(outage.since)}",
                    "name": "Admin and Admin API unavailable",
                    "status": "investigating",
                    "created_at": _iso(outage.since),
                    "updated_at": updated,
                    "monitoring_at": None,
                    "resolved_at": None,
                    "impact": "major",
                    "shortlink": "https://stspg.io/standin",
                    "started_at": _iso(outage.since),
                    "page_id": "standin0page",
                    "incident_updates": [],
                    "components": [c for c in components if c["name"] in self.SHOPIFY_OUTAGE],
                }
            )
        return {
            "page": {
                "id": "standin0page",
                "name": "Shopify (stand-in)",
                "url": f"http://{HOST}:{DEFAULT_PORTS[self.name]}/shopify",
                "time_zone": "America/Toronto",
                "updated_at": updated,
            },
            "components": components,
            "incidents": incidents,
            "scheduled_maintenances": [],
            "status": (
                {"indicator": "major", "description": "Partial System Outage"}
                if outage
                else {"indicator": "none", "description": "All Systems Operational"}
            ),
        }

    def google_incidents(self) -> list[dict[str, Any]]:
        product = {"title": self.GOOGLE_PRODUCT, "id": "standinGA4"}

        def incident(ident: str, begin: float, end: float | None, text: str) -> dict[str, Any]:
            at = _iso(begin)
            update = {"created": at, "modified": at, "when": at, "text": text,
                      "status": "SERVICE_OUTAGE", "affected_locations": []}  # fmt: skip
            out = {
                "id": ident,
                "number": ident,
                "begin": _iso(begin),
                "created": _iso(begin),
                "modified": _iso(end or begin),
                "external_desc": text,
                "updates": [update],
                "most_recent_update": update,
                "status_impact": "SERVICE_OUTAGE",
                "severity": "high",
                "service_key": "standin",
                "service_name": self.GOOGLE_PRODUCT,
                "affected_products": [product],
                "uri": f"incidents/{ident}",
                "currently_affected_locations": [],
                "previously_affected_locations": [],
            }
            if end is not None:
                out["end"] = _iso(end)
            return out

        # the dashboard's history: one incident long closed; an outage is a new open one on top
        history = [incident("standinOld", 1760000000.0, 1760003600.0, "Delayed reports")]
        outage = self.outage("google")
        if outage:
            history.insert(
                0, incident(f"standin{int(outage.since)}", outage.since, None, "GA4 unavailable")
            )
        return history

    async def _shopify(self, request: web.Request) -> web.Response:
        return web.json_response(self.shopify_summary())

    async def _google(self, request: web.Request) -> web.Response:
        return web.json_response(self.google_incidents())


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="seconds")


# --- running them -------------------------------------------------------------------------------


def make_standins(
    *,
    clock: Clock = time.monotonic,
    seed: int | None = None,
    log_dir: Path | None = None,
    database_dsn: str | None = None,
) -> dict[str, StandIn]:
    """One stand-in of each service, by service name. ``log_dir``: the Hot Rod AN services write
    their access logs there; ``database_dsn``: hotdash-app and Chatwoot check that database."""
    database = DatabaseCheck(database_dsn) if database_dsn else None
    standins: list[StandIn] = [
        HotDashApp(clock=clock, seed=seed, database=database),
        AgentService(clock=clock, seed=seed),
        LlamaIndexMcp(clock=clock, seed=seed),
        Chatwoot(clock=clock, seed=seed, database=database),
        Shopify(clock=clock, seed=seed),
        VendorStatus(clock=clock, seed=seed),
    ]
    if log_dir is not None:
        for s in standins:
            if s.fly_app:
                s.access_log = AccessLog(log_dir / f"{s.fly_app}.ndjson", s.fly_app)
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
        for standin in standins.values():
            if standin.access_log is not None:
                standin.access_log.close()


async def _serve_until_signalled(
    log_dir: Path | None = None, database_dsn: str | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    made = make_standins(log_dir=log_dir, database_dsn=database_dsn)
    async with run_standins(standins=made) as running:
        for name, url in running.urls.items():
            print(f"{name:<16} {url}", flush=True)
        print("stand-ins ready; stop with SIGTERM or Ctrl-C", flush=True)
        await stop.wait()
    print("stand-ins stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.demo.standins",
        description="Serve stand-ins of the Hot Rod AN services on 127.0.0.1 "
        f"({', '.join(f'{n} :{p}' for n, p in DEFAULT_PORTS.items())}) until SIGTERM/SIGINT.",
    )
    parser.add_argument(
        "--log-dir", type=Path, default=None, help="write the services' Fly-style access logs here"
    )
    parser.add_argument(
        "--database-dsn",
        default=None,
        help="hotdash-app's and Chatwoot's health checks connect to this PostgreSQL",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.log_dir is not None:
        # the services write their own access logs there: aiohttp's would say it all again
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    try:
        asyncio.run(_serve_until_signalled(args.log_dir, args.database_dsn))
    except StandInError as e:
        print(f"error: {e} (is the demo already running? make demo-stop)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
