"""Real servers for the platform tests: VictoriaMetrics (Debian's binary; the store behind Fly's
managed Prometheus) loaded with Fly-shaped series, and, in front of it, a tiny loopback auth
proxy that is a **test fixture**, not part of redline: VictoriaMetrics checks no bearer token
(its -httpAuth.* flags are basic auth only), so the proxy does what Fly's API gateway does for
``/prometheus/<org>/federate``: refuse a wrong token with 401 and pass the request on to
VictoriaMetrics' own ``/federate``. It can also cut its answer mid-body, as a broken connection
would. Besides, the platform stand-in (exporter/demo/platform.py) serves Supabase's metrics
shape behind basic auth. Everything runs on 127.0.0.1 with free ports; aiohttp runs in one
background thread so the tests (and the blocking Prometheus client) stay synchronous.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from exporter.demo.servers import ServerError, _binary, _Server, free_port


class VictoriaMetrics(_Server):
    name = "victoria-metrics"

    def argv(self) -> list[str]:
        return [
            _binary("victoria-metrics"),
            f"-storageDataPath={self.workdir / 'data'}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            "-retentionPeriod=1d",
            "-search.disableCache",
            # answer with what was just imported (the default hides the last 30 s)
            "-search.latencyOffset=0s",
            "-loggerLevel=ERROR",
        ]

    def start(self) -> None:
        # VictoriaMetrics answers /health, not Prometheus's /-/ready
        log = self.log_path.open("ab")
        import subprocess

        self.proc = subprocess.Popen(
            self.argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"victoria-metrics exited at start:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"victoria-metrics not ready; see {self.log_path}")

    def import_text(self, text: str) -> None:
        """Series in the text format, stamped now (/api/v1/import/prometheus), made searchable
        at once (/internal/force_flush)."""
        req = urllib.request.Request(
            f"{self.url}/api/v1/import/prometheus", data=text.encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 204, resp.status
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10).close()


class AuthProxy:
    """The test fixture in front of VictoriaMetrics (see the module docstring)."""

    def __init__(self, upstream: str, org: str, token: str) -> None:
        self.upstream = upstream
        self.org = org
        self.token = token
        self.cut = False
        self.seen: list[tuple[str, int]] = []  # (Authorization header, status answered)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/prometheus/{org}/federate", self.federate)
        return app

    async def federate(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if request.match_info["org"] != self.org or auth != f"Bearer {self.token}":
            self.seen.append((auth, 401))
            return web.Response(status=401, text="unauthorized\n")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.upstream}/federate", params=list(request.query.items())) as up,
        ):
            body = await up.read()
            status = up.status
        self.seen.append((auth, status))
        if self.cut:
            resp = web.StreamResponse(headers={"Content-Length": str(len(body))})
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()  # the rest never comes
            return resp
        return web.Response(body=body, status=status, content_type="text/plain")


class Loop:
    """An event loop in a background thread, serving aiohttp apps on loopback."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: list[web.AppRunner] = []

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)  # type: ignore[arg-type]

    def serve(self, app: web.Application) -> str:
        async def start() -> str:
            runner = web.AppRunner(app, shutdown_timeout=0.1)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)
            return f"http://127.0.0.1:{port}"

        return str(self.run(start()))

    def close(self) -> None:
        async def stop() -> None:
            for runner in self.runners:
                await runner.cleanup()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


@contextmanager
def background() -> Iterator[Loop]:
    loop = Loop()
    try:
        yield loop
    finally:
        loop.close()


def call_soon(loop: Loop, fn: Callable[[], None]) -> None:
    loop.loop.call_soon_threadsafe(fn)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
