"""The Prometheus API client's errors are sentences an operator can act on, never tracebacks;
long range queries are split under Prometheus's 11,000-point limit and joined."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from exporter.demo.servers import Prometheus
from exporter.ops.promapi import AlertmanagerClient, ApiError, PromClient
from tests.ops_history import (
    BASE_END,
    BASE_START,
    history_prom,  # noqa: F401 (fixture)
)


async def _error(client: PromClient, call: Callable[[PromClient], Any]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await asyncio.to_thread(call, client)
    return caught.value


async def test_errors_say_what_is_wrong(serve: Callable[..., Any]) -> None:
    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>login</html>", content_type="text/html")

    async def broken(_: web.Request) -> web.Response:
        return web.Response(status=502, text="bad gateway")

    async def refused(_: web.Request) -> web.Response:
        body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}
        return web.json_response(body, status=400)

    async def not_prometheus(_: web.Request) -> web.Response:
        return web.json_response({"hello": "world"})

    app = web.Application()
    app.router.add_route("*", "/html/{tail:.*}", html)
    app.router.add_route("*", "/broken/{tail:.*}", broken)
    app.router.add_route("*", "/refused/{tail:.*}", refused)
    app.router.add_route("*", "/other/{tail:.*}", not_prometheus)
    url = await serve(app)

    e = await _error(PromClient(f"{url}/html"), lambda c: c.query("up", 0))
    assert e.kind == "bad_json" and "not JSON (text/html)" in e.message
    assert "is this the Prometheus address?" in e.message
    e = await _error(PromClient(f"{url}/broken"), lambda c: c.query("up", 0))
    assert e.kind == "http" and "answered HTTP 502" in e.message and "bad gateway" in e.message
    e = await _error(PromClient(f"{url}/refused"), lambda c: c.query("up(", 0))
    assert e.kind == "query" and "parse error at char 3" in e.message
    e = await _error(PromClient(f"{url}/other"), lambda c: c.check())
    assert e.kind == "bad_json" and "not as Prometheus does" in e.message
    e = await _error(PromClient("http://127.0.0.1:9"), lambda c: c.check())
    assert e.kind == "unreachable" and "cannot reach Prometheus at http://127.0.0.1:9" in e.message
    with pytest.raises(ApiError, match="not http://HOST:PORT"):
        PromClient("localhost:9090")
    e = await _error(AlertmanagerClient(f"{url}/other"), lambda c: c.alerts())  # type: ignore
    assert "no list: wrong URL?" in e.message


async def test_timeout(serve: Callable[..., Any]) -> None:
    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/api/v1/status/buildinfo", slow)
    url = await serve(app)
    e = await _error(PromClient(url, timeout=0.3), lambda c: c.check())
    assert e.kind == "timeout" and "did not answer within 0.3 s" in e.message


def test_long_range_queries_are_split_and_joined(history_prom: Prometheus) -> None:  # noqa: F811
    client = PromClient(history_prom.url)
    # a day every 5 s: 17,281 points, more than one query may return
    series = client.query_range(
        'probe_success{service="agent-service", probe="health"}', BASE_START + 60, BASE_END, 5
    )
    assert len(series) == 1
    times = [t for t, _ in series[0].points]
    assert len(times) == (BASE_END - BASE_START - 60) / 5 + 1
    assert times == sorted(set(times))
