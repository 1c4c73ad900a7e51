"""Shared fixtures: a probe context as the exporter builds it, and loopback servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from exporter.probes.base import ProbeContext, new_session
from exporter.secrets import Redactor, SecretSource


@pytest.fixture
async def probe_ctx() -> AsyncIterator[ProbeContext]:
    redactor = Redactor()
    session = new_session()
    try:
        yield ProbeContext(session=session, secrets=SecretSource(redactor), redactor=redactor)
    finally:
        await session.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    """``await serve(app, ssl_context=None)`` starts an aiohttp app on 127.0.0.1 and returns
    its base URL; every server is stopped at the end of the test."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, ssl_context: Any = None) -> str:
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        scheme = "https" if ssl_context else "http"
        return f"{scheme}://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()
