"""MCP probe: list the tools of an MCP server and check the configured ones are there.

Two flavours (docs/architecture.md, "The shop redline watches"):

* ``plain`` -- llamaindex-mcp's HTTP+JSON dialect: ``POST {"method": "tools/list"}`` answered
  by ``{"tools": [...]}`` or ``{"result": {"tools": [...]}}``.
* ``streamable`` -- standard MCP over Streamable HTTP: JSON-RPC ``initialize``, the
  ``notifications/initialized`` notification, ``tools/list`` (following ``nextCursor``), then a
  best-effort DELETE ending the session. Answers come as JSON or as a server-sent event stream.

Only ``cfg.url`` is ever requested, and redirects are not followed: llamaindex-mcp has endpoints
(``/admin/metrics/reset``) that a monitor must never touch. Only configured tool names become
label values, so what a server lists cannot grow the cardinality.
"""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from exporter import __version__
from exporter import metrics as m
from exporter.config import McpProbe
from exporter.probes import tls
from exporter.probes.base import ProbeContext, ProbeFailure, Report
from exporter.probes.http import client_failure, retry_after_seconds

MAX_PAGES = 10  # tools/list pages followed; a server that pages forever must not hold us
DELETE_TIMEOUT = 1.0  # ending the session is a courtesy: never wait long for it
_ACCEPT_STREAMABLE = "application/json, text/event-stream"


async def probe(cfg: McpProbe, ctx: ProbeContext, report: Report) -> None:
    client = _Client.build(cfg, ctx, report)
    wanted = list(dict.fromkeys(cfg.tools))
    try:
        if cfg.flavor == "plain":
            tools = await _plain_tools(client)
        else:
            tools = await _streamable_tools(client, cfg)
    except ProbeFailure:
        # unreachable or unreadable: no tools seen, 0 rather than absent series (an alert on
        # "redline_mcp_tool_listed == 0" must fire on a dead server too)
        report.set(m.MCP_TOOLS, 0)
        for tool in wanted:
            report.set(m.MCP_TOOL_LISTED, 0, tool=tool)
        raise
    finally:
        # one series, the last meaningful response (0 if none): several exchanges, one status
        report.set(m.HTTP_STATUS_CODE, client.status)
        report.set(m.HTTP_RETRY_AFTER, report.retry_after)

    report.set(m.MCP_TOOLS, len(tools))
    for tool in wanted:
        report.set(m.MCP_TOOL_LISTED, 1 if tool in tools else 0, tool=tool)
    missing = [tool for tool in wanted if tool not in tools]
    if missing:
        raise ProbeFailure(
            "answer", f"tools not listed: {', '.join(missing)} ({len(tools)} tools listed)"
        )
    configured = f", all {len(wanted)} configured present" if wanted else ""
    report.note(f"{len(tools)} tools listed{configured}")


# --- the two flavours -------------------------------------------------------------------------


async def _plain_tools(client: _Client) -> set[str]:
    body = await client.post("tools/list", {"method": "tools/list"})
    if not isinstance(body, dict):
        raise ProbeFailure("protocol", "tools/list: the answer is not a JSON object")
    if "tools" in body:
        return _tool_names("tools/list", body)
    result = body.get("result")
    if isinstance(result, dict) and "tools" in result:
        return _tool_names("tools/list", result)
    if "error" in body:
        raise ProbeFailure("protocol", f"tools/list: server error: {_short(body['error'])}")
    raise ProbeFailure("protocol", "tools/list: the answer has no tools list")


async def _streamable_tools(client: _Client, cfg: McpProbe) -> set[str]:
    init = await client.call(
        "initialize",
        {
            "protocolVersion": cfg.protocol_version,
            "capabilities": {},
            "clientInfo": {"name": "redline", "version": __version__},
        },
    )
    # The server may answer with another version it supports; later requests carry that one.
    version = init.get("protocolVersion")
    client.protocol_version = version if isinstance(version, str) else cfg.protocol_version
    info = init.get("serverInfo")
    server = f"{info.get('name', '?')} {info.get('version', '')}" if isinstance(info, dict) else "?"
    session = "session started" if client.session_id else "no session"
    client.report.note(f"server {server.strip()}, protocol {client.protocol_version}, {session}")
    try:
        await client.notify("notifications/initialized")
        tools: set[str] = set()
        cursor: str | None = None
        for page in range(1, MAX_PAGES + 1):
            result = await client.call("tools/list", {"cursor": cursor} if cursor else {})
            tools |= _tool_names("tools/list", result)
            next_cursor = result.get("nextCursor")
            cursor = next_cursor if isinstance(next_cursor, str) and next_cursor else None
            if cursor is None:
                break
            if page == MAX_PAGES:
                client.report.note(f"tools/list: stopped after {MAX_PAGES} pages")
        return tools
    finally:
        # Not when the deadline cancelled us: the probe's time is up, and awaiting would only
        # delay the result.
        task = asyncio.current_task()
        if client.session_id is not None and not (task and task.cancelling()):
            await client.end_session()


def _tool_names(step: str, container: dict[str, Any]) -> set[str]:
    tools = container.get("tools")
    if not isinstance(tools, list):
        raise ProbeFailure("protocol", f"{step}: 'tools' is not a list")
    names: set[str] = set()
    for tool in tools:
        name = tool.get("name") if isinstance(tool, dict) else tool
        if not isinstance(name, str):
            raise ProbeFailure("protocol", f"{step}: a tool without a name: {_short(tool)}")
        names.add(name)
    return names


# --- HTTP and JSON-RPC ------------------------------------------------------------------------


@dataclass
class _Client:
    """The probe's exchanges with ``cfg.url``: sends, times, caps bodies, maps errors."""

    cfg: McpProbe
    ctx: ProbeContext
    report: Report
    url: str
    headers: dict[str, str]
    ssl_context: ssl.SSLContext | bool
    status: int = 0  # of the last response that counted
    session_id: str | None = None
    protocol_version: str | None = None
    _next_id: int = field(default=0)

    @classmethod
    def build(cls, cfg: McpProbe, ctx: ProbeContext, report: Report) -> _Client:
        # Secrets first: a missing one fails the probe before anything is sent.
        url = ctx.secret(cfg.url)
        accept = "application/json" if cfg.flavor == "plain" else _ACCEPT_STREAMABLE
        headers = {"Accept": accept}
        headers.update({name: ctx.secret(value) for name, value in cfg.headers.items()})
        token_source = cfg.bearer_token if cfg.bearer_token is not None else cfg.bearer_token_file
        if token_source is not None:
            headers["Authorization"] = f"Bearer {ctx.secret(token_source)}"
        context: ssl.SSLContext | bool = True
        if url.lower().startswith("https://"):
            try:
                context = tls.ssl_context(cfg.tls)
            except (OSError, ssl.SSLError) as e:  # a missing or bad ca_file
                raise ProbeFailure("tls", f"cannot load the TLS settings: {e}") from None
        return cls(cfg, ctx, report, url, headers, context)

    def _request_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version
        return headers

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A JSON-RPC request; returns its ``result`` object."""
        self._next_id += 1
        rpc_id = self._next_id
        payload = {"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}
        message = await self.post(method, payload, rpc_id=rpc_id)
        if isinstance(message, list):  # a batch: take our answer from it
            message = next((item for item in message if _is_response(item, rpc_id)), None)
        if not _is_response(message, rpc_id):
            raise ProbeFailure("protocol", f"{method}: no JSON-RPC response with id {rpc_id}")
        assert isinstance(message, dict)
        error = message.get("error")
        if error is not None:
            if isinstance(error, dict):
                code, text = error.get("code", "?"), error.get("message", "")
                raise ProbeFailure("protocol", f"{method}: JSON-RPC error {code}: {_short(text)}")
            raise ProbeFailure("protocol", f"{method}: JSON-RPC error {_short(error)}")
        result = message.get("result")
        if not isinstance(result, dict):
            raise ProbeFailure("protocol", f"{method}: the JSON-RPC result is not an object")
        return result

    async def notify(self, method: str) -> None:
        """A JSON-RPC notification: the server acknowledges it (202) without an answer."""
        await self.post(method, {"jsonrpc": "2.0", "method": method}, read=False)

    async def post(
        self, step: str, payload: dict[str, Any], *, rpc_id: int | None = None, read: bool = True
    ) -> Any:
        """POST ``payload`` to the URL and return the decoded JSON answer: the whole body, or
        from an event stream the message answering ``rpc_id`` (the first one when None)."""
        start = time.perf_counter()
        try:
            async with self.ctx.session.post(
                self.url,
                json=payload,
                headers=self._request_headers(),
                ssl=self.ssl_context,
                server_hostname=self.cfg.tls.server_name,
                allow_redirects=False,  # only ever cfg.url
            ) as resp:
                self.status = resp.status
                self._check_status(step, resp)
                if step == "initialize":  # the server assigns the session, if any, here
                    self.session_id = resp.headers.get("Mcp-Session-Id") or None
                if not read:
                    answer, size = None, 0
                elif resp.content_type == "text/event-stream":
                    answer, size = await self._read_event_stream(step, resp, rpc_id)
                else:
                    body = await self._read_body(step, resp)
                    answer, size = _parse_json(step, body), len(body)
        except TimeoutError:
            raise  # the wrapper owns the deadline (some aiohttp errors are TimeoutErrors too)
        except aiohttp.ClientError as e:
            raise client_failure(e, step) from None
        what = f" {resp.content_type}, {size} bytes" if read else ""
        self.report.note(f"POST {step}: HTTP {self.status}{what} in {_ms(start)}")
        return answer

    async def end_session(self) -> None:
        """DELETE the session (best effort: a server may refuse with 405, or be gone)."""
        start = time.perf_counter()
        try:
            async with (
                asyncio.timeout(DELETE_TIMEOUT),
                self.ctx.session.delete(
                    self.url,
                    headers=self._request_headers(),
                    ssl=self.ssl_context,
                    server_hostname=self.cfg.tls.server_name,
                    allow_redirects=False,
                ) as resp,
            ):
                self.report.note(f"DELETE session: HTTP {resp.status} in {_ms(start)}")
        except (aiohttp.ClientError, TimeoutError) as e:  # our own short timeout only
            self.report.note(f"DELETE session failed (ignored): {type(e).__name__}")

    def _check_status(self, step: str, resp: aiohttp.ClientResponse) -> None:
        if resp.status in (429, 503):
            self.report.retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        if resp.status == 429:
            wait = f", Retry-After {self.report.retry_after:g}s" if self.report.retry_after else ""
            raise ProbeFailure("rate_limited", f"{step}: HTTP 429 Too Many Requests{wait}")
        if not 200 <= resp.status < 300:
            raise ProbeFailure("status", f"{step}: HTTP {resp.status} {resp.reason or ''}".rstrip())

    async def _read_body(self, step: str, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.cfg.max_body_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise _too_large(step, limit)
        body = bytearray()
        async for chunk in resp.content.iter_any():
            body += chunk
            if len(body) > limit:
                raise _too_large(step, limit)
        return bytes(body)

    async def _read_event_stream(
        self, step: str, resp: aiohttp.ClientResponse, rpc_id: int | None
    ) -> tuple[Any, int]:
        """Read events until the one answering ``rpc_id``: the server may send requests and
        notifications first, and may keep the stream open after the answer."""
        limit = self.cfg.max_body_bytes
        parser = _EventStream()
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _too_large(step, limit)
            for data in parser.feed(chunk):
                message = _parse_json(step, data.encode("utf-8"))
                if rpc_id is None or _is_response(message, rpc_id):
                    return message, size
        for data in parser.close():
            message = _parse_json(step, data.encode("utf-8"))
            if rpc_id is None or _is_response(message, rpc_id):
                return message, size
        raise ProbeFailure("protocol", f"{step}: the event stream ended without an answer")


class _EventStream:
    """An incremental parser of text/event-stream (the WHATWG server-sent events format),
    yielding the ``data`` of each event; other fields (event, id, retry) are not needed."""

    _EOL = re.compile(rb"\r\n|\r|\n")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> Iterator[str]:
        self._buffer += chunk
        while match := self._EOL.search(self._buffer):
            # a "\r" at the end of the buffer may be the first half of "\r\n"
            if match.group() == b"\r" and match.end() == len(self._buffer):
                break
            line = self._buffer[: match.start()].decode("utf-8", errors="replace")
            self._buffer = self._buffer[match.end() :]
            event = self._line(line)
            if event is not None:
                yield event

    def close(self) -> Iterator[str]:
        """The stream ended: an event not closed by a blank line is taken as complete."""
        if self._buffer:
            event = self._line(self._buffer.decode("utf-8", errors="replace"))
            self._buffer = b""
            if event is not None:
                yield event
        if self._data:
            yield self._dispatch()

    def _line(self, line: str) -> str | None:
        if not line:
            return self._dispatch() if self._data else None
        if line.startswith(":"):  # a comment, often a keep-alive
            return None
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def _dispatch(self) -> str:
        data = "\n".join(self._data)
        self._data = []
        return data


def _is_response(message: Any, rpc_id: int) -> bool:
    return (
        isinstance(message, dict)
        and message.get("id") == rpc_id
        and ("result" in message or "error" in message)
    )


def _parse_json(step: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:  # also bad UTF-8
        raise ProbeFailure("protocol", f"{step}: the answer is not JSON") from None


def _too_large(step: str, limit: int) -> ProbeFailure:
    return ProbeFailure("too_large", f"{step}: the answer exceeds max_body_bytes ({limit} bytes)")


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."


def _ms(start: float) -> str:
    return f"{(time.perf_counter() - start) * 1000:.1f} ms"
