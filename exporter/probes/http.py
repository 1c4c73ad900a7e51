"""The HTTP probe: one request (following redirects), timed per phase, then checked.

Two steps, shared with the JSON probe (probes/json_metrics.py):

* :func:`fetch` sends the request and reads the body under a hard cap. It records the transport
  series (status code, phase durations, redirects, TLS, Retry-After) and fails only for what
  kept a response from arriving: ``dns``, ``connect``, ``tls``, ``redirect``, ``protocol``.
* :func:`check` applies the configured checks to the response, in the order an operator reads
  them: status, size, headers, body regexes, JSON assertions, then ``degraded_when``.

Secrets: the URL, headers, body and credentials are resolved here, per run, and never shown.
Trace lines and messages name the URL as configured (``cfg.url``, ``${VAR}`` unresolved).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import socket
import time
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDictProxy

from exporter import assertions
from exporter import metrics as m
from exporter.config import HttpProbe, status_matches
from exporter.probes import tls
from exporter.probes.base import (
    ProbeContext,
    ProbeFailure,
    Report,
    RequestTimer,
    new_session,
    socket_error_text,
    timing,
)
from exporter.secrets import FileSecret

# A target asking us to stay away longer than this is probed again after this long anyway, so
# a bogus header cannot silence a target for days.
MAX_RETRY_AFTER = 3600.0

_UNPARSED = object()


class Response:
    """What :func:`fetch` got back. ``body`` holds at most ``max_body_bytes + 1`` bytes; when
    the body was larger, ``too_large`` is set and ``body`` is what was read (possibly nothing,
    when Content-Length alone told)."""

    __slots__ = ("_doc", "body", "charset", "headers", "status", "too_large")

    def __init__(
        self,
        status: int,
        headers: CIMultiDictProxy[str],
        body: bytes,
        charset: str | None,
        too_large: bool,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.charset = charset
        self.too_large = too_large
        self._doc: Any = _UNPARSED

    def text(self) -> str:
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, parsed once; reason ``json`` when it is not JSON."""
        if self._doc is _UNPARSED:
            self._doc = _parse_json(self.body)
        return self._doc


def _parse_json(body: bytes) -> Any:
    if not body.strip():
        raise ProbeFailure("json", "body is empty, not JSON")
    try:
        return json.loads(body)
    except json.JSONDecodeError as e:
        # position only: the body itself may hold anything
        raise ProbeFailure(
            "json", f"body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except UnicodeDecodeError:
        raise ProbeFailure("json", "body is not valid JSON: not UTF-8/16/32 text") from None
    except RecursionError:
        raise ProbeFailure("json", "body is not valid JSON: nested too deeply") from None
    except ValueError as e:  # e.g. an integer longer than Python's digit limit
        raise ProbeFailure("json", f"body is not valid JSON: {e}") from None


# --- the request ----------------------------------------------------------------------------------


async def fetch(cfg: HttpProbe, ctx: ProbeContext, report: Report) -> Response:
    """Send the request and read the response under ``cfg.max_body_bytes``.

    Every transport series is recorded, whatever happens (zeros for what was not reached), so
    series do not come and go with the target's health. Deadline cancellation passes through.
    """
    tracing = report.tracing  # trace lines are built only when kept (never for scrapes)
    if tracing:
        report.note(f"{cfg.method} {cfg.url}")
    timer = RequestTimer()
    status = length = redirects = content_length = 0
    over_tls = False
    retry_after = 0.0
    read_start = 0.0
    own_session: aiohttp.ClientSession | None = None
    try:
        url = ctx.secret(cfg.url)
        headers = await _request_headers(cfg, ctx)
        data = ctx.secret(cfg.body).encode() if cfg.body is not None else None
        try:
            ssl_ctx = tls.ssl_context(cfg.tls)
        except OSError as e:  # ssl.SSLError is an OSError too
            raise ProbeFailure(
                "tls", f"cannot load tls.ca_file {cfg.tls.ca_file}: {e.strerror or e}"
            ) from None
        session = ctx.session
        if cfg.resolver is not None:
            # The shared session's connector uses the system resolver; a resolver is fixed per
            # connector, so asking another DNS server takes a session of its own.
            own_session = session = new_session(resolver=ServerResolver(cfg.resolver))
        with timing(timer):  # the session's connector and responses fill it
            async with session.request(
                cfg.method,
                url,
                headers=headers,
                data=data,
                allow_redirects=cfg.follow_redirects,
                # aiohttp fails when the number of redirect responses reaches max_redirects, so
                # following max_redirects of them takes one more.
                max_redirects=cfg.max_redirects + 1,
                ssl=ssl_ctx,
                server_hostname=cfg.tls.server_name,
            ) as resp:
                status = resp.status
                redirects = len(resp.history)
                if tracing:
                    for i, hop in enumerate(resp.history, 1):
                        report.note(f"redirect {i}: {hop.status} -> {_location(hop)}")
                    report.note(f"status {status} {resp.reason or ''}".rstrip())
                ssl_object = getattr(resp, "ssl_object", None)  # set by base.TLSAwareResponse
                if ssl_object is not None:
                    over_tls = True
                    _record_tls(ssl_object, report)
                if status in (429, 503):
                    retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
                    report.retry_after = retry_after
                declared = resp.content_length
                content_length = -1 if declared is None else declared
                if cfg.method != "HEAD" and declared is not None and declared > cfg.max_body_bytes:
                    # Content-Length alone says it: do not read a byte of it.
                    report.note(f"Content-Length {declared} > max_body_bytes {cfg.max_body_bytes}")
                    return Response(status, resp.headers, b"", resp.charset, True)
                read_start = time.perf_counter()
                body = await _read_capped(resp.content, cfg.max_body_bytes + 1)
                length = len(body)
                return Response(
                    status, resp.headers, body, resp.charset, length > cfg.max_body_bytes
                )
    except TimeoutError:
        raise  # the wrapper owns the deadline (some aiohttp errors are TimeoutErrors too)
    except aiohttp.TooManyRedirects as e:
        redirects = len(e.history) - 1
        status = e.history[-1].status
        raise ProbeFailure("redirect", _redirect_message(e.history, cfg.max_redirects)) from None
    except aiohttp.ClientError as e:
        raise client_failure(e, url=cfg.url) from None
    finally:
        now = time.perf_counter()
        timer.finish(now)
        transfer = now - read_start if read_start else 0.0
        report.set(m.HTTP_STATUS_CODE, status)
        report.set(m.HTTP_CONTENT_LENGTH, content_length)
        report.set(m.HTTP_UNCOMPRESSED_BODY_LENGTH, length)
        report.set(m.HTTP_REDIRECTS, redirects)
        report.set(m.HTTP_SSL, 1 if over_tls else 0)
        report.set(m.HTTP_RETRY_AFTER, retry_after)
        report.set(m.HTTP_DURATION, timer.resolve, phase="resolve")
        report.set(m.HTTP_DURATION, timer.connect, phase="connect")
        report.set(m.HTTP_DURATION, timer.tls, phase="tls")
        report.set(m.HTTP_DURATION, timer.processing, phase="processing")
        report.set(m.HTTP_DURATION, transfer, phase="transfer")
        if tracing:
            report.note(
                f"resolve {timer.resolve * 1000:.2f} ms, connect {timer.connect * 1000:.2f} ms, "
                f"tls {timer.tls * 1000:.2f} ms, processing {timer.processing * 1000:.2f} ms, "
                f"transfer {transfer * 1000:.2f} ms, {length} bytes"
            )
        if own_session is not None:  # last: the series above are recorded whatever it does
            await own_session.close()


async def _request_headers(cfg: HttpProbe, ctx: ProbeContext) -> dict[str, str] | None:
    auth = cfg.basic_auth
    token = cfg.bearer_token if cfg.bearer_token is not None else cfg.bearer_token_file
    if not cfg.headers and auth is None and token is None:
        return None  # the common case: nothing to resolve, nothing to allocate
    headers = {name: ctx.secret(value) for name, value in cfg.headers.items()}
    if auth is not None:
        user = ctx.secret(auth.username)
        secret = auth.password if auth.password is not None else auth.password_file
        password = await _secret(ctx, secret) if secret is not None else ""
        # Encoded here, not with aiohttp.BasicAuth, which refuses a ':' in the user name with
        # an exception; RFC 7617 user-pass is UTF-8.
        pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {pair}"
    elif token is not None:
        headers["Authorization"] = f"Bearer {await _secret(ctx, token)}"
    return headers


async def _secret(ctx: ProbeContext, value: str | FileSecret) -> str:
    # A secret file is a file read: keep it off the event loop.
    if isinstance(value, FileSecret):
        return await asyncio.to_thread(ctx.secret, value)
    return ctx.secret(value)


async def _read_capped(content: aiohttp.StreamReader, limit: int) -> bytes:
    """Read up to ``limit`` bytes of the body, never more, whatever the server sends."""
    first = await content.read(limit)
    if not first or len(first) >= limit:
        return first  # the usual case: the whole (small) body was already buffered
    chunks = [first]
    size = len(first)
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _record_tls(ssl_object: Any, report: Report) -> None:
    expiry = tls.peer_cert_expiry(ssl_object)
    version = tls.tls_version(ssl_object)
    if expiry is not None:
        report.set(m.SSL_EARLIEST_CERT_EXPIRY, expiry)
    if version:
        # blackbox_exporter's spelling ("TLS 1.3"), so its dashboards work unchanged
        report.set(m.TLS_VERSION_INFO, 1, version=version.replace("TLSv", "TLS "))
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)) if expiry else "unknown"
    report.note(f"{version}, certificate expires {expires}")


def retry_after_seconds(value: str | None) -> float:
    """Retry-After in seconds (delta-seconds or an HTTP date), within 0..MAX_RETRY_AFTER."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return 0.0
        seconds = when.timestamp() - time.time()  # a date without zone is read as UTC
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _location(resp: aiohttp.ClientResponse) -> str:
    # Without the query string: a redirect may carry a token along.
    return resp.headers.get("Location", "?").split("?", 1)[0]


def _redirect_message(history: tuple[aiohttp.ClientResponse, ...], limit: int) -> str:
    seen: dict[str, int] = {}
    for i, hop in enumerate(history):
        key = str(hop.url.with_query(None))
        if key in seen:
            cycle = [h.url.path for h in history[seen[key] : i + 1]]
            return "redirect loop: " + " -> ".join(cycle)
        seen[key] = i
    return f"more than {limit} redirects (max_redirects)"


def client_failure(err: aiohttp.ClientError, step: str = "", url: str = "") -> ProbeFailure:
    """Map aiohttp's error to a failure reason (shared with the MCP probe; ``step`` names the
    request in a multi-request probe). Order matters: the classes nest (a certificate error is
    a ClientSSLError is a ClientConnectorError ...)."""
    failure = _failure(err, url or "the URL")
    if step:
        failure = ProbeFailure(failure.reason, f"{step}: {failure.message}")
    return failure


def _failure(err: aiohttp.ClientError, url: str) -> ProbeFailure:
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return ProbeFailure("dns", f"cannot resolve {err.host}: {_os_text(err.os_error)}")
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        return ProbeFailure("tls", tls.describe_ssl_error(err.certificate_error))
    if isinstance(err, aiohttp.ClientSSLError):
        return ProbeFailure("tls", tls.describe_ssl_error(err.os_error))
    if isinstance(err, aiohttp.ClientConnectorError):
        return ProbeFailure(
            "connect", f"cannot connect to {err.host}:{err.port}: {_os_text(err.os_error)}"
        )
    if isinstance(err, aiohttp.RedirectClientError):
        return ProbeFailure("redirect", f"bad redirect target: {_short(str(err))}")
    if isinstance(err, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        # the configured template, never the resolved URL (it may hold a secret)
        return ProbeFailure("connect", f"{url} is not a valid http(s) URL once resolved")
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return ProbeFailure("protocol", "the server closed the connection without answering")
    if isinstance(err, aiohttp.ClientResponseError):
        return ProbeFailure("protocol", f"invalid HTTP response: {_short(err.message)}")
    if isinstance(err, aiohttp.ClientPayloadError):
        return ProbeFailure("protocol", f"invalid response body: {_short(str(err))}")
    if isinstance(err, aiohttp.ClientOSError):
        return ProbeFailure("connect", f"connection failed: {_os_text(err)}")
    return ProbeFailure("protocol", f"{type(err).__name__}: {_short(str(err))}")


def _os_text(err: OSError) -> str:
    return socket_error_text(err)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- name resolution through a configured DNS server ----------------------------------------------


class ServerResolver(AbstractResolver):
    """aiohttp resolver asking one DNS server (``resolver: HOST:PORT``) with dnspython, never
    the system resolver, so a probe sees what that server answers."""

    def __init__(self, server: str) -> None:
        # dnspython only for a probe with its own resolver (most have none)
        import dns.asyncresolver

        host, _, port = server.rpartition(":")
        self.server = server
        self._resolver = dns.asyncresolver.Resolver(configure=False)  # no /etc/resolv.conf
        try:
            self._resolver.nameservers = [host.strip("[]")]
        except ValueError:
            raise ProbeFailure("dns", f"resolver {server}: HOST must be an IP address") from None
        self._resolver.port = int(port)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        import dns.exception
        import dns.resolver

        wanted: tuple[tuple[str, socket.AddressFamily], ...]
        if family == socket.AF_INET:
            wanted = (("A", socket.AF_INET),)
        elif family == socket.AF_INET6:
            wanted = (("AAAA", socket.AF_INET6),)
        else:
            wanted = (("A", socket.AF_INET), ("AAAA", socket.AF_INET6))
        out: list[ResolveResult] = []
        for rdtype, fam in wanted:
            try:
                answer = await self._resolver.resolve(
                    host, rdtype, search=False, raise_on_no_answer=False
                )
            except dns.resolver.NXDOMAIN:
                # aiohttp turns an OSError from the resolver into ClientConnectorDNSError
                raise socket.gaierror(
                    socket.EAI_NONAME, f"no such name (NXDOMAIN from {self.server})"
                ) from None
            except dns.exception.DNSException as e:
                raise socket.gaierror(socket.EAI_FAIL, f"{e} (asking {self.server})") from None
            out.extend(
                ResolveResult(
                    hostname=host,
                    host=rr.address,
                    port=port,
                    family=fam,
                    proto=0,
                    flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                )
                for rr in answer
            )
        if not out:
            raise socket.gaierror(socket.EAI_NONAME, f"no address record at {self.server}")
        return out

    async def close(self) -> None:
        pass


# --- the checks -----------------------------------------------------------------------------------


def check(cfg: HttpProbe, resp: Response, report: Report) -> None:
    """Apply the configured checks; raise the first that fails. Marks ``report.degraded`` when
    a ``degraded_when`` assertion holds."""
    code = resp.status
    if not status_matches(cfg.valid_status, code):
        if code == 429:
            raise ProbeFailure(
                "rate_limited", f"429 Too Many Requests, Retry-After {report.retry_after:g}s"
            )
        raise ProbeFailure(
            "status", f"status {code} is not in valid_status ({', '.join(cfg.valid_status)})"
        )
    if resp.too_large:
        raise ProbeFailure(
            "too_large", f"body larger than max_body_bytes ({cfg.max_body_bytes} bytes)"
        )
    for name, pattern in cfg.expect_headers.items():
        values = resp.headers.getall(name, ())
        if not values:
            raise ProbeFailure("header", f"header {name} is missing")
        if not any(pattern.search(v) for v in values):
            raise ProbeFailure(
                "header",
                f"header {name} {_short(values[0], 80)!r} does not match {pattern.pattern!r}",
            )
    if cfg.body_must_match or cfg.body_must_not_match:
        text = resp.text()
        for pattern in cfg.body_must_match:
            if pattern.search(text) is None:
                raise ProbeFailure("body", f"body does not match {pattern.pattern!r}")
        for pattern in cfg.body_must_not_match:
            if pattern.search(text) is not None:
                raise ProbeFailure("body", f"body matches {pattern.pattern!r}, which it must not")
    if cfg.expect_json or cfg.degraded_when:
        doc = resp.json()
        for assertion in cfg.expect_json:
            why = assertions.evaluate(assertion, doc)
            if why is not None:
                raise ProbeFailure("json", f"assertion failed: {why}")
        for assertion in cfg.degraded_when:
            if assertions.evaluate(assertion, doc) is None:
                report.degraded = True
                report.degraded_message = f"degraded_when holds: {assertion.text}"
                report.note(report.degraded_message)
                break


async def probe(cfg: HttpProbe, ctx: ProbeContext, report: Report) -> None:
    check(cfg, await fetch(cfg, ctx, report), report)
