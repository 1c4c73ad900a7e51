"""The HTTP probe against real targets on loopback: aiohttp and raw asyncio servers, real TLS,
a loopback DNS server. Every probe runs through ``run_probe`` with a real deadline, as in
production."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import ipaddress
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from exporter import __version__
from exporter import metrics as m
from exporter.config import HttpProbe
from exporter.probes import http
from exporter.probes.base import ProbeContext, ProbeResult, run_probe

Serve = Callable[..., Awaitable[str]]
PHASES = ("resolve", "connect", "tls", "processing", "transfer")  # blackbox_exporter's
# uvloop (libuv) keeps the loop's time in whole milliseconds, so a sleep or a deadline may end
# up to a millisecond before its time on the perf_counter clock the probe measures with.
TIMER_SLACK = 0.001


# pytest-asyncio 1.5 (pinned) still takes this fixture; its replacement, a conftest hook, would
# put every async test of the suite on a loop parameter. Revisit with the next upgrade.
pytestmark = pytest.mark.filterwarnings(
    'ignore:Overriding the "event_loop_policy" fixture is deprecated'
)


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    """Every test on both event loops: `redline run` uses uvloop (exporter/eventloop.py) and
    the phase timings hang on when the loop calls the connector and the response class."""
    if request.param == "uvloop":
        import uvloop

        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()


# --- helpers --------------------------------------------------------------------------------------


def probe_cfg(url: str, **kw: Any) -> HttpProbe:
    """A probe config as the loader builds it (validators run: regexes, assertions, sizes)."""
    return HttpProbe.model_validate({"name": "t", "url": url, **kw})


async def run(cfg: HttpProbe, ctx: ProbeContext, seconds: float = 3.0, **kw: Any) -> ProbeResult:
    deadline = asyncio.get_running_loop().time() + seconds
    return await run_probe(http.probe, cfg, ctx, deadline, **kw)


def value(result: ProbeResult, metric: m.Metric, **labels: str) -> float:
    found = [s.value for s in result.samples if s.metric == metric and s.labels == labels]
    assert len(found) == 1, f"{metric.name}{labels}: {len(found)} samples"
    return found[0]


def series(result: ProbeResult, metric: m.Metric) -> list[dict[str, str]]:
    return [s.labels for s in result.samples if s.metric == metric]


def app_with(routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]) -> Any:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    return app


def text(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, status=status, headers=headers)

    return handler


def as_json(doc: Any, status: int = 200) -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(doc, status=status)

    return handler


async def read_head(reader: asyncio.StreamReader) -> None:
    await reader.readuntil(b"\r\n\r\n")


async def until_closed(reader: asyncio.StreamReader) -> None:
    # Hold the connection until the client gives up (it closes when the deadline cancels it).
    while await reader.read(65536):
        pass


# --- certificates ---------------------------------------------------------------------------------


def server_ssl(cert_pem: bytes, key_pem: bytes, tmp_path: Path) -> ssl.SSLContext:
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def make_cert(
    *,
    not_after: dt.datetime,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    ca: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate for 127.0.0.1, self-signed unless ``issuer`` is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "redline test CA" if ca else "leaf")])
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256()), key


def pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[bytes, bytes]:
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# --- a DNS server on loopback ---------------------------------------------------------------------


class DnsServer(asyncio.DatagramProtocol):
    """Answers A queries for the names it knows and NXDOMAIN for every other name."""

    def __init__(self, records: dict[str, str]) -> None:
        self.records = records
        self.queries: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        query = dns.message.from_wire(data)
        answer = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".")
        self.queries.append(name)
        if name not in self.records:
            answer.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            answer.answer.append(
                dns.rrset.from_text(question.name, 60, "IN", "A", self.records[name])
            )
        assert self.transport is not None
        self.transport.sendto(answer.to_wire(), addr)


@pytest.fixture
async def dns_server() -> AsyncIterator[tuple[DnsServer, str]]:
    loop = asyncio.get_running_loop()
    server = DnsServer({"svc.redline.test": "127.0.0.1"})
    transport, _ = await loop.create_datagram_endpoint(lambda: server, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    yield server, f"127.0.0.1:{port}"
    transport.close()


# --- healthy, status, phases ----------------------------------------------------------------------


async def test_healthy_target(probe_ctx: ProbeContext, serve: Serve) -> None:
    base = await serve(app_with({"/health": as_json({"status": "ok"})}))
    result = await run(probe_cfg(f"{base}/health", expect_json=['status == "ok"']), probe_ctx)

    assert (result.success, result.status, result.reason) == (True, "up", None)
    assert value(result, m.HTTP_STATUS_CODE) == 200
    assert value(result, m.HTTP_CONTENT_LENGTH) == len(b'{"status": "ok"}')  # the header
    assert value(result, m.HTTP_UNCOMPRESSED_BODY_LENGTH) == len(b'{"status": "ok"}')
    assert value(result, m.HTTP_REDIRECTS) == 0
    assert value(result, m.HTTP_SSL) == 0
    assert value(result, m.HTTP_RETRY_AFTER) == 0
    assert series(result, m.SSL_EARLIEST_CERT_EXPIRY) == []
    assert result.trace[0] == f"GET {base}/health"
    assert "status 200 OK" in result.trace


async def test_every_phase_is_measured(probe_ctx: ProbeContext, serve: Serve) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)  # the server "thinks": that is the processing phase
        return web.Response(text="ok")

    base = await serve(app_with({"/": slow}))
    result = await run(probe_cfg(f"{base}/"), probe_ctx)

    phases = {p: value(result, m.HTTP_DURATION, phase=p) for p in PHASES}
    assert phases["resolve"] == 0  # an IP literal is not resolved
    assert 0 < phases["connect"] < 0.05
    assert phases["tls"] == 0  # plain HTTP: no handshake
    assert 0.05 - TIMER_SLACK <= phases["processing"] < 0.5
    assert phases["transfer"] > 0
    assert any(line.startswith("resolve 0.00 ms, connect ") for line in result.trace)


async def test_status_500_fails_with_reason_status(probe_ctx: ProbeContext, serve: Serve) -> None:
    base = await serve(app_with({"/": text("boom", status=500)}))
    result = await run(probe_cfg(f"{base}/"), probe_ctx)

    assert (result.success, result.reason) == (False, "status")
    assert result.message == "status 500 is not in valid_status (2xx)"
    assert value(result, m.HTTP_STATUS_CODE) == 500


@pytest.mark.parametrize(
    ("status", "valid", "follow", "reason"),
    [
        (404, ["404"], True, None),
        (404, ["2xx"], True, "status"),
        (204, ["200-299"], True, None),
        (299, ["200-298"], True, "status"),
        (503, ["2xx", "5xx"], True, None),
        (302, ["3xx"], False, None),  # a redirect not followed is the final answer
        (302, ["2xx"], False, "status"),
    ],
)
async def test_valid_status_codes_ranges_and_classes(
    probe_ctx: ProbeContext,
    serve: Serve,
    status: int,
    valid: list[str],
    follow: bool,
    reason: str | None,
) -> None:
    base = await serve(app_with({"/": text("", status, {"Location": "/elsewhere"})}))
    cfg = probe_cfg(f"{base}/", valid_status=valid, follow_redirects=follow)
    result = await run(cfg, probe_ctx)

    assert result.reason == reason
    assert value(result, m.HTTP_STATUS_CODE) == status


# --- the body -------------------------------------------------------------------------------------


async def test_wrong_json_value_fails_with_reason_json(
    probe_ctx: ProbeContext, serve: Serve
) -> None:
    base = await serve(app_with({"/": as_json({"status": "down", "checks": {"db": "ok"}})}))
    cfg = probe_cfg(f"{base}/", expect_json=['checks.db == "ok"', 'status == "ok"'])
    result = await run(cfg, probe_ctx)

    assert (result.reason, result.message) == (
        "json",
        'assertion failed: status == "ok": found "down"',
    )


async def test_invalid_json_fails_with_reason_json(probe_ctx: ProbeContext, serve: Serve) -> None:
    base = await serve(app_with({"/": text("<html>oops</html>")}))
    result = await run(probe_cfg(f"{base}/", expect_json=["status exists"]), probe_ctx)

    assert result.reason == "json"
    assert result.message == "body is not valid JSON: Expecting value at line 1 column 1"


@pytest.mark.parametrize(
    ("must", "must_not", "reason", "message"),
    [
        (["all (good|fine)"], ["error"], None, ""),
        (["^healthy"], [], "body", "body does not match '^healthy'"),
        ([], ["fine"], "body", "body matches 'fine', which it must not"),
    ],
)
async def test_body_regexes(
    probe_ctx: ProbeContext,
    serve: Serve,
    must: list[str],
    must_not: list[str],
    reason: str | None,
    message: str,
) -> None:
    base = await serve(app_with({"/": text("all fine here")}))
    cfg = probe_cfg(f"{base}/", body_must_match=must, body_must_not_match=must_not)
    result = await run(cfg, probe_ctx)

    assert (result.reason, result.message) == (reason, message)


@pytest.mark.parametrize(
    ("expect", "reason", "message"),
    [
        ({"Content-Type": "^text/plain", "X-Version": r"^1\.4"}, None, ""),
        ({"X-Missing": "."}, "header", "header X-Missing is missing"),
        ({"x-version": "^2"}, "header", "header x-version '1.4.2' does not match '^2'"),
    ],
)
async def test_header_assertions(
    probe_ctx: ProbeContext,
    serve: Serve,
    expect: dict[str, str],
    reason: str | None,
    message: str,
) -> None:
    base = await serve(app_with({"/": text("ok", headers={"X-Version": "1.4.2"})}))
    result = await run(probe_cfg(f"{base}/", expect_headers=expect), probe_ctx)

    assert (result.reason, result.message) == (reason, message)


async def test_body_over_the_cap_is_not_read_whole(probe_ctx: ProbeContext, serve: Serve) -> None:
    """50 MiB streamed (chunked, no Content-Length): the probe stops after the cap and hangs
    up; the server sees its writes fail long before it sent it all."""
    total = 50 * 1024 * 1024
    chunk = b"x" * 65536
    sent = 0
    finished = asyncio.Event()

    async def huge(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            while sent < total:
                await resp.write(chunk)
                sent += len(chunk)
        except ConnectionError:
            pass  # the probe hung up: what we want
        finally:
            finished.set()
        return resp

    base = await serve(app_with({"/": huge}))
    result = await run(probe_cfg(f"{base}/", max_body_bytes="256KiB"), probe_ctx)
    await asyncio.wait_for(finished.wait(), 2)

    assert (result.reason, result.message) == (
        "too_large",
        "body larger than max_body_bytes (262144 bytes)",
    )
    assert value(result, m.HTTP_UNCOMPRESSED_BODY_LENGTH) == 262144 + 1  # the cap plus one
    assert value(result, m.HTTP_CONTENT_LENGTH) == -1  # chunked: no Content-Length
    assert sent < total / 4  # bounded by the socket buffers, not by what the server had


async def test_declared_content_length_over_the_cap_fails_before_reading(
    probe_ctx: ProbeContext, stream_server: Callable[..., Awaitable[int]]
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        # Headers announce 50 MiB, then nothing comes: reading would only end at the deadline.
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")
        await until_closed(reader)
        writer.close()

    port = await stream_server(handler)
    start = time.perf_counter()
    result = await run(probe_cfg(f"http://127.0.0.1:{port}/"), probe_ctx, seconds=2)

    assert result.reason == "too_large"
    assert time.perf_counter() - start < 0.5
    assert value(result, m.HTTP_UNCOMPRESSED_BODY_LENGTH) == 0
    assert value(result, m.HTTP_CONTENT_LENGTH) == 52428800  # what the header says
    assert "Content-Length 52428800 > max_body_bytes 1048576" in result.trace


# --- timeouts, connection and protocol failures ---------------------------------------------------


async def test_server_that_never_answers_times_out_at_the_deadline(
    probe_ctx: ProbeContext, stream_server: Callable[..., Awaitable[int]]
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await until_closed(reader)
        writer.close()

    port = await stream_server(silent)
    result = await run(probe_cfg(f"http://127.0.0.1:{port}/"), probe_ctx, seconds=0.3)

    assert (result.reason, result.message) == ("timeout", "deadline exceeded")
    assert 0.3 - TIMER_SLACK <= result.duration < 0.45
    assert value(result, m.HTTP_STATUS_CODE) == 0
    # the time went into waiting for the answer, and the series are all there
    assert 0.25 < value(result, m.HTTP_DURATION, phase="processing") < 0.45
    assert value(result, m.HTTP_DURATION, phase="transfer") == 0


async def test_headers_then_stalled_body_times_out(
    probe_ctx: ProbeContext, stream_server: Callable[..., Awaitable[int]]
) -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await until_closed(reader)
        writer.close()

    port = await stream_server(stall)
    result = await run(probe_cfg(f"http://127.0.0.1:{port}/"), probe_ctx, seconds=0.3)

    assert result.reason == "timeout"
    assert result.duration < 0.45
    assert value(result, m.HTTP_STATUS_CODE) == 200
    assert 0.2 < value(result, m.HTTP_DURATION, phase="transfer") < 0.45


async def test_connection_refused(probe_ctx: ProbeContext) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, then released
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await run(probe_cfg(f"http://127.0.0.1:{port}/"), probe_ctx)

    assert result.reason == "connect"
    assert result.message.startswith(f"cannot connect to 127.0.0.1:{port}: ")
    assert value(result, m.HTTP_STATUS_CODE) == 0
    assert sorted(labels["phase"] for labels in series(result, m.HTTP_DURATION)) == sorted(PHASES)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"garbage\r\n\r\n", "invalid HTTP response: Bad status line"),
        (b"", "the server closed the connection without answering"),
    ],
)
async def test_invalid_http_is_a_protocol_failure(
    probe_ctx: ProbeContext,
    stream_server: Callable[..., Awaitable[int]],
    answer: bytes,
    message: str,
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(answer)
        await writer.drain()
        writer.close()

    port = await stream_server(handler)
    result = await run(probe_cfg(f"http://127.0.0.1:{port}/"), probe_ctx)

    assert result.reason == "protocol"
    assert result.message.startswith(message)


async def test_unresolvable_name_through_loopback_dns_server(
    probe_ctx: ProbeContext, dns_server: tuple[DnsServer, str]
) -> None:
    server, address = dns_server
    cfg = probe_cfg("http://nosuch.redline.test:8080/", resolver=address)
    result = await run(cfg, probe_ctx)

    assert result.reason == "dns"
    assert result.message == (
        f"cannot resolve nosuch.redline.test: no such name (NXDOMAIN from {address})"
    )
    assert server.queries == ["nosuch.redline.test"]  # asked there, and only there


async def test_name_resolved_through_the_configured_resolver(
    probe_ctx: ProbeContext, serve: Serve, dns_server: tuple[DnsServer, str]
) -> None:
    server, address = dns_server
    port = (await serve(app_with({"/": text("ok")}))).rsplit(":", 1)[1]
    cfg = probe_cfg(f"http://svc.redline.test:{port}/", resolver=address)
    result = await run(cfg, probe_ctx)

    assert result.status == "up"
    assert "svc.redline.test" in server.queries
    assert 0 < value(result, m.HTTP_DURATION, phase="resolve") < 0.5


# --- redirects and rate limits --------------------------------------------------------------------


def redirect_to(location: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPFound(location)

    return handler


async def test_redirect_loop(probe_ctx: ProbeContext, serve: Serve) -> None:
    base = await serve(app_with({"/a": redirect_to("/b"), "/b": redirect_to("/a")}))
    result = await run(probe_cfg(f"{base}/a"), probe_ctx)

    assert (result.reason, result.message) == ("redirect", "redirect loop: /a -> /b -> /a")
    assert value(result, m.HTTP_STATUS_CODE) == 302


@pytest.mark.parametrize(("max_redirects", "reason"), [(3, None), (2, "redirect"), (0, "redirect")])
async def test_redirects_followed_up_to_max_redirects(
    probe_ctx: ProbeContext, serve: Serve, max_redirects: int, reason: str | None
) -> None:
    routes = {"/r1": redirect_to("/r2"), "/r2": redirect_to("/r3"), "/r3": redirect_to("/end")}
    base = await serve(app_with({**routes, "/end": text("here")}))
    result = await run(probe_cfg(f"{base}/r1", max_redirects=max_redirects), probe_ctx)

    assert result.reason == reason
    if reason is None:
        assert value(result, m.HTTP_REDIRECTS) == 3
        assert "redirect 3: 302 -> /end" in result.trace
    else:
        assert result.message == f"more than {max_redirects} redirects (max_redirects)"
        assert value(result, m.HTTP_REDIRECTS) == max_redirects


async def test_429_is_rate_limited_with_retry_after(probe_ctx: ProbeContext, serve: Serve) -> None:
    base = await serve(app_with({"/": text("slow down", 429, {"Retry-After": "120"})}))
    result = await run(probe_cfg(f"{base}/"), probe_ctx)

    assert (result.reason, result.message) == (
        "rate_limited",
        "429 Too Many Requests, Retry-After 120s",
    )
    assert result.retry_after == 120
    assert value(result, m.HTTP_RETRY_AFTER) == 120


async def test_503_retry_after_as_a_date_is_kept_and_capped(
    probe_ctx: ProbeContext, serve: Serve
) -> None:
    in_two_hours = email.utils.formatdate(time.time() + 7200, usegmt=True)
    base = await serve(app_with({"/": text("", 503, {"Retry-After": in_two_hours})}))
    result = await run(probe_cfg(f"{base}/"), probe_ctx)

    assert result.reason == "status"  # a 503 stays a status failure
    assert result.retry_after == http.MAX_RETRY_AFTER == 3600
    assert value(result, m.HTTP_RETRY_AFTER) == 3600


# --- degraded -------------------------------------------------------------------------------------


async def test_degraded_when_assertion_holds(probe_ctx: ProbeContext, serve: Serve) -> None:
    base = await serve(app_with({"/": as_json({"status": "degraded"}, status=503)}))
    cfg = probe_cfg(
        f"{base}/",
        valid_status=["200", "503"],
        expect_json=["status exists"],
        degraded_when=['status == "unhealthy"', 'status == "degraded"'],
    )
    result = await run(cfg, probe_ctx)

    assert (result.success, result.status, result.reason) == (True, "degraded", "degraded")
    assert result.message == 'degraded_when holds: status == "degraded"'


async def test_degraded_after(probe_ctx: ProbeContext, serve: Serve) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.1)
        return web.Response(text="ok")

    base = await serve(app_with({"/": slow}))
    result = await run(probe_cfg(f"{base}/"), probe_ctx, degraded_after=0.05)

    assert (result.success, result.status, result.reason) == (True, "degraded", "degraded")
    assert result.message.endswith("more than degraded_after")


# --- TLS ------------------------------------------------------------------------------------------


async def test_tls_trusted_through_ca_file(
    probe_ctx: ProbeContext, serve: Serve, tmp_path: Path
) -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    expiry = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).not_valid_after_utc
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    base = await serve(app_with({"/": text("ok")}), ssl_context=ctx)
    result = await run(probe_cfg(f"{base}/", tls={"ca_file": str(tmp_path / "ca.pem")}), probe_ctx)

    assert result.status == "up"
    assert value(result, m.HTTP_SSL) == 1
    assert value(result, m.SSL_EARLIEST_CERT_EXPIRY) == expiry.timestamp()
    assert value(result, m.TLS_VERSION_INFO, version="TLS 1.3") == 1
    assert value(result, m.HTTP_DURATION, phase="connect") > 0


HANDSHAKE_DELAY = 0.2  # s the slow server's TLS handshake takes beyond its usual


def slow_handshake(ca: trustme.CA) -> ssl.SSLContext:
    """A server TLS context for 127.0.0.1 whose handshake takes HANDSHAKE_DELAY longer: the SNI
    callback runs inside the handshake (with no name, as a client of an IP address sends none)
    and blocks like a server busy with its key."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ctx.sni_callback = lambda *_: time.sleep(HANDSHAKE_DELAY)  # type: ignore[assignment]
    return ctx


async def test_tls_handshake_is_its_own_phase(
    probe_ctx: ProbeContext, serve: Serve, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    base = await serve(app_with({"/": text("ok")}), ssl_context=slow_handshake(ca))
    result = await run(probe_cfg(f"{base}/", tls={"ca_file": str(tmp_path / "ca.pem")}), probe_ctx)

    assert result.status == "up", result.message
    phases = {p: value(result, m.HTTP_DURATION, phase=p) for p in PHASES}
    # the handshake's time is tls, not connect (TCP on loopback) nor processing
    assert HANDSHAKE_DELAY <= phases["tls"] < HANDSHAKE_DELAY + 0.5, phases
    assert 0 < phases["connect"] < HANDSHAKE_DELAY / 2, phases
    assert phases["processing"] < HANDSHAKE_DELAY / 2, phases
    assert any(f", tls {phases['tls'] * 1000:.2f} ms," in line for line in result.trace)


async def test_a_handshake_that_never_ends_is_tls_time(
    probe_ctx: ProbeContext, stream_server: Callable[..., Awaitable[int]]
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await until_closed(reader)  # accepts TCP, never answers the ClientHello

    port = await stream_server(silent)
    result = await run(probe_cfg(f"https://127.0.0.1:{port}/"), probe_ctx, seconds=0.5)

    assert result.reason == "timeout", result.message
    assert 0.4 < value(result, m.HTTP_DURATION, phase="tls") <= 0.6
    assert value(result, m.HTTP_DURATION, phase="connect") < 0.1
    assert value(result, m.HTTP_DURATION, phase="processing") == 0


async def test_tls_server_name_differs_from_url_host(
    probe_ctx: ProbeContext, serve: Serve, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("api.internal").configure_cert(ctx)
    base = await serve(app_with({"/": text("ok")}), ssl_context=ctx)
    trust = {"ca_file": str(tmp_path / "ca.pem")}

    named = await run(probe_cfg(base, tls={**trust, "server_name": "api.internal"}), probe_ctx)
    unnamed = await run(probe_cfg(base, tls=trust), probe_ctx)

    assert named.status == "up"
    assert (unnamed.reason, unnamed.message) == (
        "tls",
        "certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'.",
    )


async def test_self_signed_certificate(
    probe_ctx: ProbeContext, serve: Serve, tmp_path: Path
) -> None:
    not_after = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
    ctx = server_ssl(*pem(*make_cert(not_after=not_after)), tmp_path)
    base = await serve(app_with({"/": text("ok")}), ssl_context=ctx)

    verified = await run(probe_cfg(f"{base}/"), probe_ctx)
    unverified = await run(probe_cfg(f"{base}/", tls={"verify": False}), probe_ctx)

    assert (verified.reason, verified.message) == (
        "tls",
        "certificate verify failed: self-signed certificate",
    )
    assert value(verified, m.HTTP_SSL) == 0
    assert unverified.status == "up"
    assert value(unverified, m.SSL_EARLIEST_CERT_EXPIRY) == not_after.timestamp()
    assert value(unverified, m.HTTP_SSL) == 1


async def test_expired_certificate(probe_ctx: ProbeContext, serve: Serve, tmp_path: Path) -> None:
    ca = make_cert(not_after=dt.datetime(2100, 1, 1, tzinfo=dt.UTC), ca=True)
    leaf = make_cert(not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC), issuer=ca)
    (tmp_path / "ca.pem").write_bytes(pem(*ca)[0])
    ctx = server_ssl(*pem(*leaf), tmp_path)
    base = await serve(app_with({"/": text("ok")}), ssl_context=ctx)
    result = await run(probe_cfg(f"{base}/", tls={"ca_file": str(tmp_path / "ca.pem")}), probe_ctx)

    assert (result.reason, result.message) == (
        "tls",
        "certificate verify failed: certificate has expired",
    )


# --- credentials and secrets ----------------------------------------------------------------------


def requires_auth(expected: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="who are you?")
        return web.Response(text="welcome")

    return handler


def in_dir(obj: Any, directory: str) -> Any:
    """``obj`` with "{dir}" in its strings replaced by ``directory``."""
    if isinstance(obj, dict):
        return {k: in_dir(v, directory) for k, v in obj.items()}
    return obj.replace("{dir}", directory) if isinstance(obj, str) else obj


# base64 of "redline:s3cret-basic-pw"
BASIC = "Basic cmVkbGluZTpzM2NyZXQtYmFzaWMtcHc="


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({"basic_auth": {"username": "redline", "password": "${T_BASIC_PW}"}}, BASIC),
        ({"basic_auth": {"username": "redline", "password_file": "{dir}/pw"}}, BASIC),
        ({"bearer_token": "${T_TOKEN}"}, "Bearer tok-from-env-1234"),
        ({"bearer_token_file": "{dir}/token"}, "Bearer tok-from-file-5678"),
        ({"headers": {"Authorization": "Token ${T_TOKEN}"}}, "Token tok-from-env-1234"),
    ],
)
async def test_credentials_from_env_and_files(
    probe_ctx: ProbeContext,
    serve: Serve,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    auth: dict[str, Any],
    expected: str,
) -> None:
    monkeypatch.setenv("T_BASIC_PW", "s3cret-basic-pw")
    monkeypatch.setenv("T_TOKEN", "tok-from-env-1234")
    (tmp_path / "pw").write_text("s3cret-basic-pw\n")
    (tmp_path / "token").write_text("tok-from-file-5678\n")
    auth = in_dir(auth, str(tmp_path))
    base = await serve(app_with({"/": requires_auth(expected)}))

    good = await run(probe_cfg(f"{base}/", **auth), probe_ctx)
    assert good.status == "up", good.message
    secret = expected.split(" ", 1)[1]
    assert not any(secret in line for line in good.trace)


async def test_missing_env_var_fails_with_reason_secret(
    probe_ctx: ProbeContext, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T_NOT_SET", raising=False)
    base = await serve(app_with({"/": text("ok")}))
    result = await run(probe_cfg(f"{base}/", bearer_token="${T_NOT_SET}"), probe_ctx)

    assert (result.reason, result.message) == (
        "secret",
        "environment variable T_NOT_SET is not set",
    )
    assert value(result, m.HTTP_STATUS_CODE) == 0  # series stay, even when nothing was sent


async def test_secret_values_never_shown(
    probe_ctx: ProbeContext, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_API_KEY", "key-0123456789")
    monkeypatch.setenv("T_TOKEN", "tok-from-env-1234")
    base = await serve(app_with({"/": requires_auth("Bearer something else")}))
    cfg = probe_cfg(f"{base}/?key=${{T_API_KEY}}", bearer_token="${T_TOKEN}")
    result = await run(cfg, probe_ctx)

    assert result.reason == "status"
    assert result.trace[0] == f"GET {base}/?key=${{T_API_KEY}}"  # the template, as configured
    shown = [result.message, *result.trace]
    assert not any("key-0123456789" in s or "tok-from-env-1234" in s for s in shown)


# --- the request as configured --------------------------------------------------------------------


async def test_method_headers_and_body_are_sent_resolved(
    probe_ctx: ProbeContext, serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TENANT", "acme")
    seen: dict[str, str] = {}

    async def echo(request: web.Request) -> web.Response:
        seen.update(
            method=request.method,
            tenant=request.headers["X-Tenant"],
            body=await request.text(),
            path=request.path_qs,
            agent=request.headers.get("User-Agent", ""),
        )
        return web.Response(text="ok")

    base = await serve(app_with({"/mcp": echo}))
    cfg = probe_cfg(
        f"{base}/mcp?t=${{T_TENANT}}",
        method="POST",
        headers={"X-Tenant": "${T_TENANT}", "Content-Type": "application/json"},
        body='{"method": "tools/list", "tenant": "${T_TENANT}"}',
    )
    result = await run(cfg, probe_ctx)

    assert result.status == "up"
    assert seen == {
        "method": "POST",
        "tenant": "acme",
        "body": '{"method": "tools/list", "tenant": "acme"}',
        "path": "/mcp?t=acme",
        # redline says who it is: the shop's logs can tell its requests from the users'
        "agent": f"redline/{__version__}",
    }


async def test_head_is_not_judged_by_the_length_it_announces(
    probe_ctx: ProbeContext, serve: Serve
) -> None:
    base = await serve(app_with({"/": text("x" * 5000)}))
    result = await run(probe_cfg(f"{base}/", method="HEAD", max_body_bytes=100), probe_ctx)

    assert result.status == "up"
    assert value(result, m.HTTP_UNCOMPRESSED_BODY_LENGTH) == 0
    assert value(result, m.HTTP_CONTENT_LENGTH) == 5000  # announced, not read (HEAD)


async def test_unreadable_ca_file_is_a_tls_failure(probe_ctx: ProbeContext, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    result = await run(probe_cfg("https://127.0.0.1:1/", tls={"ca_file": str(missing)}), probe_ctx)

    assert (result.reason, result.message) == (
        "tls",
        f"cannot load tls.ca_file {missing}: No such file or directory",
    )


async def test_url_from_env_that_is_not_http(
    probe_ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_URL", "ftp://127.0.0.1/file")
    result = await run(probe_cfg("${T_URL}"), probe_ctx)

    assert (result.reason, result.message) == (
        "connect",
        "${T_URL} is not a valid http(s) URL once resolved",
    )
