"""The MCP probe against fake MCP servers on loopback: llamaindex-mcp's plain HTTP+JSON flavour
and standard Streamable HTTP (JSON and server-sent-event answers, sessions, pagination).

Every fake server records each request it sees, so the tests can check the probe never calls
anything but POST (and, for a session, DELETE) on the configured URL."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from exporter import metrics as m
from exporter.config import McpProbe, TLSConfig
from exporter.probes import mcp
from exporter.probes.base import ProbeContext, ProbeResult, run_probe

TOOLS = [
    "query_support",
    "refresh_index",
    "insight_report",
    "query_knowledge_base",
    "knowledge_base_stats",
]

Handler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]
Serve = Callable[..., Awaitable[str]]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class Target:
    """An aiohttp app that records every request (any method, any path) and passes those to
    /mcp on to ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.seen.append(Seen(request.method, request.path, dict(request.headers), body))
        if request.path != "/mcp":
            return web.Response(status=404)
        return await self.handler(request, body)

    def calls(self) -> list[tuple[str, str]]:
        return [(s.method, s.path) for s in self.seen]

    def rpc_methods(self) -> list[str]:
        return [s.body["method"] if s.body else s.method for s in self.seen]


async def _start(serve: Serve, handler: Handler, ssl_context: Any = None) -> tuple[str, Target]:
    target = Target(handler)
    base = await serve(target.app(), ssl_context=ssl_context)
    return f"{base}/mcp", target


def _answer(make: Callable[[], web.StreamResponse]) -> Handler:
    async def handler(request: web.Request, body: Any) -> web.StreamResponse:
        return make()

    return handler


async def _run(cfg: McpProbe, ctx: ProbeContext, seconds: float = 3.0) -> ProbeResult:
    deadline = asyncio.get_running_loop().time() + seconds
    return await run_probe(mcp.probe, cfg, ctx, deadline)


def _value(result: ProbeResult, metric: m.Metric) -> float:
    (value,) = [s.value for s in result.samples if s.metric is metric]
    return value


def _listed(result: ProbeResult) -> dict[str, float]:
    return {s.labels["tool"]: s.value for s in result.samples if s.metric is m.MCP_TOOL_LISTED}


def _plain(url: str, **kwargs: Any) -> McpProbe:
    return McpProbe(name="mcp", url=url, flavor="plain", min_interval=0, **kwargs)


def _streamable(url: str, **kwargs: Any) -> McpProbe:
    return McpProbe(name="mcp", url=url, flavor="streamable", min_interval=0, **kwargs)


# --- plain (llamaindex-mcp) -------------------------------------------------------------------


async def test_plain_lists_tools(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, target = await _start(serve, _answer(lambda: web.json_response({"tools": TOOLS})))
    result = await _run(_plain(url, tools=("query_support", "refresh_index")), probe_ctx)
    assert (result.status, result.reason, result.message) == ("up", None, "")
    assert _value(result, m.MCP_TOOLS) == 5
    assert _listed(result) == {"query_support": 1, "refresh_index": 1}
    assert _value(result, m.HTTP_STATUS_CODE) == 200
    assert _value(result, m.HTTP_RETRY_AFTER) == 0
    # only POST /mcp, never anything else (llamaindex-mcp's reset endpoint above all)
    assert target.calls() == [("POST", "/mcp")]
    assert target.seen[0].body == {"method": "tools/list"}
    assert target.seen[0].headers["Content-Type"] == "application/json"
    assert result.trace[0].startswith("POST tools/list: HTTP 200 application/json, ")
    assert result.trace[1] == "5 tools listed, all 2 configured present"


async def test_plain_result_wrapper_and_tool_objects(serve: Serve, probe_ctx: ProbeContext) -> None:
    tools = [{"name": name, "description": "..."} for name in TOOLS]
    url, _ = await _start(serve, _answer(lambda: web.json_response({"result": {"tools": tools}})))
    result = await _run(_plain(url, tools=("knowledge_base_stats",)), probe_ctx)
    assert result.reason is None
    assert _value(result, m.MCP_TOOLS) == 5


async def test_plain_missing_tool(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, _ = await _start(serve, _answer(lambda: web.json_response({"tools": TOOLS[:2]})))
    cfg = _plain(url, tools=("query_support", "insight_report", "knowledge_base_stats"))
    result = await _run(cfg, probe_ctx)
    assert (result.reason, result.message) == (
        "answer",
        "tools not listed: insight_report, knowledge_base_stats (2 tools listed)",
    )
    # one series per configured tool, never one per tool the server sent
    assert _listed(result) == {"query_support": 1, "insight_report": 0, "knowledge_base_stats": 0}
    assert _value(result, m.MCP_TOOLS) == 2


async def test_rate_limited(serve: Serve, probe_ctx: ProbeContext) -> None:
    def limited() -> web.Response:
        return web.json_response(
            {"error": "Too many requests"}, status=429, headers={"Retry-After": "30"}
        )

    url, _ = await _start(serve, _answer(limited))
    result = await _run(_plain(url), probe_ctx)
    assert (result.reason, result.message) == (
        "rate_limited",
        "tools/list: HTTP 429 Too Many Requests, Retry-After 30s",
    )
    assert result.retry_after == 30.0
    assert _value(result, m.HTTP_STATUS_CODE) == 429
    assert _value(result, m.HTTP_RETRY_AFTER) == 30.0


async def test_status_not_2xx(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, _ = await _start(serve, _answer(lambda: web.Response(status=500, text="boom")))
    result = await _run(_plain(url), probe_ctx)
    assert (result.reason, result.message) == (
        "status",
        "tools/list: HTTP 500 Internal Server Error",
    )
    assert _value(result, m.HTTP_STATUS_CODE) == 500
    assert _value(result, m.MCP_TOOLS) == 0  # no tools seen: 0, not absent


async def test_redirect_is_not_followed(serve: Serve, probe_ctx: ProbeContext) -> None:
    def redirect() -> web.Response:
        return web.Response(status=307, headers={"Location": "/admin/metrics/reset"})

    url, target = await _start(serve, _answer(redirect))
    result = await _run(_plain(url), probe_ctx)
    assert (result.reason, result.message) == ("status", "tools/list: HTTP 307 Temporary Redirect")
    assert target.calls() == [("POST", "/mcp")]


async def test_not_json(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, _ = await _start(serve, _answer(lambda: web.Response(text="<html>hello</html>")))
    result = await _run(_plain(url), probe_ctx)
    assert (result.reason, result.message) == ("protocol", "tools/list: the answer is not JSON")


async def test_no_tools_list(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, _ = await _start(serve, _answer(lambda: web.json_response({"status": "ok"})))
    result = await _run(_plain(url), probe_ctx)
    assert (result.reason, result.message) == (
        "protocol",
        "tools/list: the answer has no tools list",
    )


@pytest.mark.parametrize("chunked", [False, True])
async def test_body_too_large(serve: Serve, probe_ctx: ProbeContext, chunked: bool) -> None:
    big = json.dumps({"tools": TOOLS, "padding": "x" * 5000}).encode()

    async def handler(request: web.Request, body: Any) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=big, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(big), 1000):
            await response.write(big[start : start + 1000])
        await response.write_eof()
        return response

    url, _ = await _start(serve, handler)
    result = await _run(_plain(url, max_body_bytes=2048), probe_ctx)
    assert (result.reason, result.message) == (
        "too_large",
        "tools/list: the answer exceeds max_body_bytes (2048 bytes)",
    )


async def test_connection_refused(probe_ctx: ProbeContext) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await _run(
        _plain(f"http://127.0.0.1:{port}/mcp", tools=["query_support", "refresh_index"]),
        probe_ctx,
    )
    assert (result.reason, result.message) == (
        "connect",
        f"tools/list: cannot connect to 127.0.0.1:{port}: Connection refused",
    )
    assert _value(result, m.HTTP_STATUS_CODE) == 0
    # 0, not absent: "== 0" alerts and dashboards see an unreachable server as no tools
    assert _value(result, m.MCP_TOOLS) == 0
    assert _listed(result) == {"query_support": 0, "refresh_index": 0}


async def test_peer_never_answers(probe_ctx: ProbeContext) -> None:
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads the request, then waits for the probe to hang up
        closed.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await _run(_plain(f"http://127.0.0.1:{port}/mcp"), probe_ctx, seconds=0.5)
        assert (result.reason, result.message) == ("timeout", "deadline exceeded")
        assert 0.45 < result.duration < 1.5
        await asyncio.wait_for(closed.wait(), 1)  # the connection did not outlive the probe
    finally:
        server.close()
        await server.wait_closed()


async def test_server_hangs_up(probe_ctx: ProbeContext) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request's head, then goodbye
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await _run(_plain(f"http://127.0.0.1:{port}/mcp"), probe_ctx)
    finally:
        server.close()
        await server.wait_closed()
    assert (result.reason, result.message) == (
        "protocol",
        "tools/list: the server closed the connection without answering",
    )


# --- secrets ----------------------------------------------------------------------------------


async def test_missing_secret(
    serve: Serve, probe_ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDLINE_TEST_MCP_TOKEN", raising=False)
    url, target = await _start(serve, _answer(lambda: web.json_response({"tools": TOOLS})))
    result = await _run(_plain(url, bearer_token="${REDLINE_TEST_MCP_TOKEN}"), probe_ctx)
    assert (result.reason, result.message) == (
        "secret",
        "environment variable REDLINE_TEST_MCP_TOKEN is not set",
    )
    assert target.seen == []


async def test_secret_is_sent_but_never_shown(
    serve: Serve, probe_ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "mcp-t0ken-value-123"
    monkeypatch.setenv("REDLINE_TEST_MCP_TOKEN", token)

    async def echo(request: web.Request, body: Any) -> web.StreamResponse:
        # a careless server that echoes the credential in its error
        return web.json_response({"error": f"invalid {request.headers['Authorization']}"})

    url, target = await _start(serve, echo)
    result = await _run(_plain(url, bearer_token="${REDLINE_TEST_MCP_TOKEN}"), probe_ctx)
    assert target.seen[0].headers["Authorization"] == f"Bearer {token}"
    assert (result.reason, result.message) == (
        "protocol",
        "tools/list: server error: invalid Bearer <redacted>",
    )
    assert not [line for line in result.trace if token in line]


async def test_token_file_and_header_templates(
    serve: Serve, probe_ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REDLINE_TEST_MCP_CLIENT", "ops")
    token_file = tmp_path / "token"
    token_file.write_text("file-token-456\n")
    url, target = await _start(serve, _answer(lambda: web.json_response({"tools": TOOLS})))
    cfg = _plain(
        url,
        bearer_token_file=str(token_file),
        headers={"X-Client": "redline-${REDLINE_TEST_MCP_CLIENT}"},
    )
    result = await _run(cfg, probe_ctx)
    assert result.reason is None
    assert target.seen[0].headers["Authorization"] == "Bearer file-token-456"
    assert target.seen[0].headers["X-Client"] == "redline-ops"


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


async def test_https(
    serve: Serve,
    probe_ctx: ProbeContext,
    ca: trustme.CA,
    server_tls: ssl.SSLContext,
    tmp_path: Path,
) -> None:
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    handler = _answer(lambda: web.json_response({"tools": TOOLS}))
    url, _ = await _start(serve, handler, ssl_context=server_tls)
    trusted = await _run(_plain(url, tls=TLSConfig(ca_file=str(ca_file))), probe_ctx)
    assert trusted.reason is None
    untrusted = await _run(_plain(url), probe_ctx)
    assert (untrusted.reason, untrusted.message) == (
        "tls",
        "tools/list: certificate verify failed: unable to get local issuer certificate",
    )


# --- streamable HTTP --------------------------------------------------------------------------


class Streamable:
    """A Streamable HTTP MCP server: initialize (with a session unless ``session_id`` is
    None), notifications, paginated tools/list, DELETE; answers as JSON or as an event stream."""

    def __init__(
        self,
        *,
        tools: list[str] = TOOLS,
        page_size: int = 0,
        endless: bool = False,
        sse: bool = False,
        session_id: str | None = "sess-42",
        version: str | None = None,
        errors: dict[str, dict[str, Any]] | None = None,
        delete_status: int = 204,
    ) -> None:
        self.tools = tools
        self.page_size = page_size or len(tools)
        self.endless = endless
        self.sse = sse
        self.session_id = session_id
        self.version = version
        self.errors = errors or {}
        self.delete_status = delete_status

    async def __call__(self, request: web.Request, body: Any) -> web.StreamResponse:
        if request.method == "DELETE":
            return web.Response(status=self.delete_status)
        if "id" not in body:  # a notification
            return web.Response(status=202)
        method, rpc_id = body["method"], body["id"]
        headers: dict[str, str] = {}
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": rpc_id}
        if method in self.errors:
            message["error"] = self.errors[method]
        elif method == "initialize":
            if self.session_id is not None:
                headers["Mcp-Session-Id"] = self.session_id
            message["result"] = {
                "protocolVersion": self.version or body["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake-mcp", "version": "9.9"},
            }
        elif method == "tools/list":
            start = int(body["params"].get("cursor", "0"))
            page = self.tools[start : start + self.page_size] if not self.endless else []
            result: dict[str, Any] = {"tools": [{"name": name} for name in page]}
            if self.endless or start + self.page_size < len(self.tools):
                result["nextCursor"] = str(start + self.page_size)
            message["result"] = result
        else:
            message["error"] = {"code": -32601, "message": "Method not found"}
        if self.sse:
            return await self._event_stream(request, message, headers)
        return web.json_response(message, headers=headers)

    async def _event_stream(
        self, request: web.Request, message: dict[str, Any], headers: dict[str, str]
    ) -> web.StreamResponse:
        """A comment, a notification, then the answer over several data lines; the stream
        stays open afterwards, so a client waiting for its end would time out."""
        response = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream"})
        await response.prepare(request)
        notification = {"jsonrpc": "2.0", "method": "notifications/message", "params": {}}
        await response.write(b": keep-alive\r\n\r\n")
        await response.write(f"event: message\ndata: {json.dumps(notification)}\n\n".encode())
        lines = json.dumps(message, indent=1).splitlines()
        await response.write(
            (
                "event: message\r\n" + "".join(f"data: {line}\r\n" for line in lines) + "\r\n"
            ).encode()
        )
        await asyncio.sleep(10)  # cancelled when the probe hangs up or the server stops
        return response


async def test_streamable_session(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, target = await _start(serve, Streamable())
    cfg = _streamable(url, tools=("query_support",), bearer_token="static-token")
    result = await _run(cfg, probe_ctx)
    assert (result.reason, result.message) == (None, "")
    assert _value(result, m.MCP_TOOLS) == 5
    assert _listed(result) == {"query_support": 1}
    assert _value(result, m.HTTP_STATUS_CODE) == 200

    assert target.calls() == [("POST", "/mcp")] * 3 + [("DELETE", "/mcp")]
    initialize, initialized, tools_list, delete = target.seen
    assert initialize.body == {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "redline", "version": "0.1.0"},
        },
    }
    assert initialized.body == {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert tools_list.body == {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    for seen in (initialize, initialized, tools_list):
        assert seen.headers["Accept"] == "application/json, text/event-stream"
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.headers["Authorization"] == "Bearer static-token"
    assert "Mcp-Session-Id" not in initialize.headers
    assert "MCP-Protocol-Version" not in initialize.headers
    for seen in (initialized, tools_list, delete):
        assert seen.headers["Mcp-Session-Id"] == "sess-42"
        assert seen.headers["MCP-Protocol-Version"] == "2025-06-18"
    assert result.trace[1] == "server fake-mcp 9.9, protocol 2025-06-18, session started"
    assert result.trace[2].startswith("POST notifications/initialized: HTTP 202 in ")
    assert result.trace[4].startswith("DELETE session: HTTP 204 in ")


async def test_streamable_event_stream(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, target = await _start(serve, Streamable(sse=True))
    result = await _run(_streamable(url, tools=("refresh_index",)), probe_ctx, seconds=2)
    assert (result.reason, result.message) == (None, "")
    assert _value(result, m.MCP_TOOLS) == 5
    assert target.rpc_methods() == [
        "initialize",
        "notifications/initialized",
        "tools/list",
        "DELETE",
    ]
    assert result.trace[0].startswith("POST initialize: HTTP 200 text/event-stream, ")


async def test_streamable_negotiated_version(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, target = await _start(serve, Streamable(version="2025-03-26"))
    result = await _run(_streamable(url), probe_ctx)
    assert result.reason is None
    assert [s.headers.get("MCP-Protocol-Version") for s in target.seen] == [
        None,
        "2025-03-26",
        "2025-03-26",
        "2025-03-26",
    ]


async def test_streamable_pagination(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, target = await _start(serve, Streamable(page_size=2))
    result = await _run(_streamable(url, tools=tuple(TOOLS)), probe_ctx)
    assert result.reason is None
    assert _value(result, m.MCP_TOOLS) == 5
    assert _listed(result) == dict.fromkeys(TOOLS, 1)
    pages = [s.body["params"] for s in target.seen if s.body and s.body["method"] == "tools/list"]
    assert pages == [{}, {"cursor": "2"}, {"cursor": "4"}]


async def test_streamable_pagination_is_bounded(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, target = await _start(serve, Streamable(endless=True))
    result = await _run(_streamable(url, tools=("query_support",)), probe_ctx)
    assert target.rpc_methods().count("tools/list") == mcp.MAX_PAGES == 10
    assert "tools/list: stopped after 10 pages" in result.trace
    assert (result.reason, result.message) == (
        "answer",
        "tools not listed: query_support (0 tools listed)",
    )
    assert target.calls()[-1] == ("DELETE", "/mcp")


async def test_streamable_jsonrpc_error(serve: Serve, probe_ctx: ProbeContext) -> None:
    errors = {"tools/list": {"code": -32603, "message": "index not loaded"}}
    url, target = await _start(serve, Streamable(errors=errors))
    result = await _run(_streamable(url), probe_ctx)
    assert (result.reason, result.message) == (
        "protocol",
        "tools/list: JSON-RPC error -32603: index not loaded",
    )
    assert target.calls()[-1] == ("DELETE", "/mcp")  # the session is still ended


async def test_streamable_initialize_error(serve: Serve, probe_ctx: ProbeContext) -> None:
    errors = {"initialize": {"code": -32602, "message": "Unsupported protocol version"}}
    url, target = await _start(serve, Streamable(errors=errors, sse=True))
    result = await _run(_streamable(url), probe_ctx)
    assert (result.reason, result.message) == (
        "protocol",
        "initialize: JSON-RPC error -32602: Unsupported protocol version",
    )
    assert target.calls() == [("POST", "/mcp")]


async def test_streamable_without_session(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, target = await _start(serve, Streamable(session_id=None))
    result = await _run(_streamable(url), probe_ctx)
    assert result.reason is None
    assert target.calls() == [("POST", "/mcp")] * 3  # no session, nothing to DELETE
    assert all("Mcp-Session-Id" not in s.headers for s in target.seen)


async def test_streamable_delete_refused_is_ignored(serve: Serve, probe_ctx: ProbeContext) -> None:
    url, _ = await _start(serve, Streamable(delete_status=405))
    result = await _run(_streamable(url), probe_ctx)
    assert (result.reason, result.message) == (None, "")
    assert _value(result, m.HTTP_STATUS_CODE) == 200  # the DELETE's status does not count


async def test_streamable_event_stream_without_answer(
    serve: Serve, probe_ctx: ProbeContext
) -> None:
    def stream() -> web.Response:
        notification = {"jsonrpc": "2.0", "method": "notifications/message", "params": {}}
        text = f"data: {json.dumps(notification)}\n\n"
        return web.Response(text=text, content_type="text/event-stream")

    url, _ = await _start(serve, _answer(stream))
    result = await _run(_streamable(url), probe_ctx)
    assert (result.reason, result.message) == (
        "protocol",
        "initialize: the event stream ended without an answer",
    )


# --- the event stream parser ------------------------------------------------------------------


def test_event_stream_parser_byte_by_byte() -> None:
    text = b': comment\r\nevent: message\r\ndata: {"a":\r\ndata:1}\r\n\r\ndata: last'
    parser = mcp._EventStream()
    events = [event for byte in text for event in parser.feed(bytes([byte]))]
    events += list(parser.close())
    assert events == ['{"a":\n1}', "last"]


async def test_the_default_flavour_speaks_standard_streamable_http(
    serve: Serve, probe_ctx: ProbeContext
) -> None:
    """A probe that names no flavour works against a standard Streamable-HTTP server (the
    official SDK's): initialize, a session, tools/list, with Accept: application/json,
    text/event-stream (before: the plain flavour, which such a server answers 406)."""
    url, target = await _start(serve, Streamable())
    result = await _run(McpProbe(name="mcp", url=url, min_interval=0), probe_ctx)
    assert (result.reason, result.message) == (None, "")
    assert _value(result, m.MCP_TOOLS) == 5
    assert all(
        seen.headers["Accept"] == "application/json, text/event-stream"
        for seen in target.seen
        if seen.method == "POST"
    )
