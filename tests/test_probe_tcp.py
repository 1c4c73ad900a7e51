"""The TCP probe against real servers on loopback: plain and TLS (certificates made by trustme),
names resolved by the system resolver (localhost only) or by a small DNS server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import re
import socket
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
import trustme
from cryptography import x509

from exporter import metrics as m
from exporter.config import TcpProbe, TLSConfig
from exporter.probes import tcp
from exporter.probes.base import ProbeContext, ProbeResult, run_probe

StartServer = Callable[..., Awaitable[int]]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1")


@pytest.fixture
def server_tls(server_cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


async def _run(cfg: TcpProbe, ctx: ProbeContext, seconds: float = 3.0) -> ProbeResult:
    deadline = asyncio.get_running_loop().time() + seconds
    return await run_probe(tcp.probe, cfg, ctx, deadline)


def _values(result: ProbeResult) -> dict[str, float]:
    return {s.metric.name: s.value for s in result.samples}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A tiny Redis-like server: answers +PONG to PING."""
    line = await reader.readline()
    writer.write(b"+PONG\r\n" if line == b"PING\r\n" else b"-ERR unknown command\r\n")
    await writer.drain()
    writer.close()


# --- plain TCP --------------------------------------------------------------------------------


async def test_send_and_expect(stream_server: StartServer, probe_ctx: ProbeContext) -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readline())
        writer.write(b"+PONG\r\n")
        await writer.drain()
        writer.close()

    port = await stream_server(handler)
    cfg = TcpProbe(
        name="redis", address=f"127.0.0.1:{port}", send="PING\r\n", expect=re.compile(r"^\+PONG")
    )
    result = await _run(cfg, probe_ctx)
    assert (result.status, result.reason, result.message) == ("up", None, "")
    assert received == [b"PING\r\n"]
    values = _values(result)
    assert set(values) == {"redline_probe_tcp_connect_seconds"}  # an IP: nothing to resolve
    assert 0 < values["redline_probe_tcp_connect_seconds"] < 1
    assert result.trace[0].startswith(f"connected to 127.0.0.1:{port} in ")
    assert result.trace[1] == "sent 6 bytes"
    assert result.trace[2].startswith(r"answer matched /^\+PONG/ after 7 bytes in ")


async def test_banner_split_across_reads(
    stream_server: StartServer, probe_ctx: ProbeContext
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b".test ESMTP ready\r\n")
        await writer.drain()
        await reader.read()  # until the probe closes

    port = await stream_server(handler)
    cfg = TcpProbe(
        name="smtp", address=f"127.0.0.1:{port}", expect=re.compile(r"^220 mail\.test ESMTP")
    )
    result = await _run(cfg, probe_ctx)
    assert result.reason is None
    assert any("after 27 bytes" in line for line in result.trace)


async def test_answer_does_not_match(stream_server: StartServer, probe_ctx: ProbeContext) -> None:
    port = await stream_server(_pong)
    cfg = TcpProbe(
        name="redis", address=f"127.0.0.1:{port}", send="PONG\r\n", expect=re.compile(r"^\+PONG")
    )
    result = await _run(cfg, probe_ctx)
    assert result.reason == "body"
    assert result.message == (
        r"the peer closed the connection after 22 bytes, without an answer matching /^\+PONG/"
    )


async def test_no_match_within_max_read_bytes(
    stream_server: StartServer, probe_ctx: ProbeContext
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"x" * 100)
        await writer.drain()
        await reader.read()

    port = await stream_server(handler)
    cfg = TcpProbe(name="t", address=f"127.0.0.1:{port}", expect=re.compile("y"), max_read_bytes=64)
    result = await _run(cfg, probe_ctx)
    assert (result.reason, result.message) == (
        "body",
        "no match for /y/ in the first 64 bytes of the answer",
    )


async def test_connection_refused(probe_ctx: ProbeContext) -> None:
    port = _closed_port()
    result = await _run(TcpProbe(name="t", address=f"127.0.0.1:{port}"), probe_ctx)
    assert (result.reason, result.message) == (
        "connect",
        f"connect to 127.0.0.1:{port}: Connection refused",
    )
    assert "redline_probe_tcp_connect_seconds" not in _values(result)


async def test_peer_never_answers_times_out_and_is_closed(
    stream_server: StartServer, probe_ctx: ProbeContext
) -> None:
    closed = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # returns when the probe closes its side
        closed.set()

    port = await stream_server(handler)
    cfg = TcpProbe(
        name="t", address=f"127.0.0.1:{port}", send="hello\n", expect=re.compile("never")
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        result = await _run(cfg, probe_ctx, seconds=0.5)
        await asyncio.wait_for(closed.wait(), 1)
        gc.collect()
    assert (result.reason, result.message) == ("timeout", "deadline exceeded")
    assert 0.45 < result.duration < 1.5
    assert "redline_probe_tcp_connect_seconds" in _values(result)  # phases done before it
    # closed by the probe itself, not by the garbage collector finding an unclosed writer
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []


async def test_ipv6_address(stream_server: StartServer, probe_ctx: ProbeContext) -> None:
    try:
        port = await stream_server(_pong, host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    cfg = TcpProbe(
        name="t", address=f"[::1]:{port}", send="PING\r\n", expect=re.compile(r"^\+PONG")
    )
    result = await _run(cfg, probe_ctx)
    assert result.reason is None
    assert result.trace[0].startswith(f"connected to [::1]:{port} in ")


# --- secrets ----------------------------------------------------------------------------------


async def test_missing_secret(
    stream_server: StartServer, probe_ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        writer.close()

    monkeypatch.delenv("REDLINE_TEST_TCP_PASSWORD", raising=False)
    port = await stream_server(handler)
    cfg = TcpProbe(
        name="t", address=f"127.0.0.1:{port}", send="AUTH ${REDLINE_TEST_TCP_PASSWORD}\r\n"
    )
    result = await _run(cfg, probe_ctx)
    assert (result.reason, result.message) == (
        "secret",
        "environment variable REDLINE_TEST_TCP_PASSWORD is not set",
    )
    assert connections == []  # nothing was sent anywhere


async def test_secret_is_sent_but_never_shown(
    stream_server: StartServer, probe_ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "tcp-s3cret-value"
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        received.append(line)
        writer.write(b"-ERR invalid password " + line)  # echoes the secret back
        await writer.drain()
        writer.close()

    monkeypatch.setenv("REDLINE_TEST_TCP_PASSWORD", secret)
    port = await stream_server(handler)
    cfg = TcpProbe(
        name="t",
        address=f"127.0.0.1:{port}",
        send="AUTH ${REDLINE_TEST_TCP_PASSWORD}\r\n",
        expect=re.compile(r"^\+OK"),
    )
    result = await _run(cfg, probe_ctx)
    assert received == [f"AUTH {secret}\r\n".encode()]
    assert result.reason == "body"
    assert secret not in result.message
    assert not [line for line in result.trace if secret in line]


# --- TLS --------------------------------------------------------------------------------------


async def test_tls_handshake_metrics(
    stream_server: StartServer,
    probe_ctx: ProbeContext,
    server_tls: ssl.SSLContext,
    server_cert: trustme.LeafCert,
    ca_file: str,
) -> None:
    port = await stream_server(_pong, ssl=server_tls)
    cfg = TcpProbe(
        name="redis-tls",
        address=f"localhost:{port}",  # system resolver, from /etc/hosts
        tls=True,
        tls_config=TLSConfig(ca_file=ca_file),
        send="PING\r\n",
        expect=re.compile(r"^\+PONG"),
    )
    result = await _run(cfg, probe_ctx)
    assert (result.reason, result.message) == (None, "")
    leaf = x509.load_pem_x509_certificate(server_cert.cert_chain_pems[0].bytes())
    values = _values(result)
    assert values["probe_ssl_earliest_cert_expiry"] == leaf.not_valid_after_utc.timestamp()
    assert 0 < values["redline_probe_tls_handshake_seconds"] < 1
    assert 0 < values["redline_probe_tcp_connect_seconds"] < 1
    assert 0 <= values["probe_dns_lookup_time_seconds"] < 1
    versions = [s.labels for s in result.samples if s.metric is m.TLS_VERSION_INFO]
    assert versions == [{"version": "TLS 1.3"}]
    assert any(
        line.startswith("TLS handshake (TLSv1.3, name localhost) in ") for line in result.trace
    )


async def test_tls_untrusted_certificate(
    stream_server: StartServer, probe_ctx: ProbeContext, server_tls: ssl.SSLContext
) -> None:
    port = await stream_server(_pong, ssl=server_tls)
    cfg = TcpProbe(name="t", address=f"127.0.0.1:{port}", tls=True)
    result = await _run(cfg, probe_ctx)
    assert (result.reason, result.message) == (
        "tls",
        "certificate verify failed: unable to get local issuer certificate",
    )
    assert "redline_probe_tls_handshake_seconds" not in _values(result)


async def test_tls_wrong_name(
    stream_server: StartServer, probe_ctx: ProbeContext, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    port = await stream_server(_pong, ssl=server_tls)
    cfg = TcpProbe(
        name="t",
        address=f"127.0.0.1:{port}",
        tls=True,
        tls_config=TLSConfig(ca_file=ca_file, server_name="other.test"),
    )
    result = await _run(cfg, probe_ctx)
    assert (result.reason, result.message) == (
        "tls",
        "certificate verify failed: Hostname mismatch, certificate is not valid for 'other.test'.",
    )


async def test_tls_peer_closes_during_handshake(
    stream_server: StartServer, probe_ctx: ProbeContext
) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # a plain-text server that hangs up on the ClientHello

    port = await stream_server(handler)
    result = await _run(TcpProbe(name="t", address=f"127.0.0.1:{port}", tls=True), probe_ctx)
    assert (result.reason, result.message) == (
        "tls",
        "TLS handshake failed: the peer closed the connection",
    )


async def test_tls_bad_ca_file(probe_ctx: ProbeContext, tmp_path: Path) -> None:
    cfg = TcpProbe(
        name="t",
        address=f"127.0.0.1:{_closed_port()}",
        tls=True,
        tls_config=TLSConfig(ca_file=str(tmp_path / "missing.pem")),
    )
    result = await _run(cfg, probe_ctx)
    assert result.reason == "tls"
    assert result.message.startswith("cannot load the TLS settings: ")


# --- a configured resolver --------------------------------------------------------------------


class _Dns(asyncio.DatagramProtocol):
    """A DNS server answering A questions from ``records`` (name -> addresses), else NXDOMAIN."""

    def __init__(self, records: dict[str, list[str]]) -> None:
        self.records = records
        self.questions: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        self.questions.append(question.name.to_text())
        response = dns.message.make_response(query)
        addresses = self.records.get(question.name.to_text())
        if addresses is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            response.answer.append(
                dns.rrset.from_text_list(question.name, 60, "IN", "A", addresses)
            )
        assert self.transport is not None
        # in the given order: dnspython shuffles records by default
        self.transport.sendto(response.to_wire(want_shuffle=False), addr)


@pytest.fixture
async def resolver() -> AsyncIterator[tuple[str, _Dns]]:
    protocol = _Dns({"svc.test.": ["127.0.0.1"], "two.test.": ["127.0.0.2", "127.0.0.1"]})
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: protocol, local_addr=("127.0.0.1", 0)
    )
    yield f"127.0.0.1:{transport.get_extra_info('sockname')[1]}", protocol
    transport.close()


async def test_resolver(
    stream_server: StartServer, probe_ctx: ProbeContext, resolver: tuple[str, _Dns]
) -> None:
    address, server = resolver
    port = await stream_server(_pong)
    cfg = TcpProbe(
        name="t",
        address=f"svc.test:{port}",
        resolver=address,
        send="PING\r\n",
        expect=re.compile("PONG"),
    )
    result = await _run(cfg, probe_ctx)
    assert result.reason is None
    assert server.questions == ["svc.test."]
    assert "probe_dns_lookup_time_seconds" in _values(result)
    assert result.trace[0].startswith(f"resolved svc.test via {address}: 127.0.0.1 in ")


async def test_resolver_tries_next_address(
    stream_server: StartServer, probe_ctx: ProbeContext, resolver: tuple[str, _Dns]
) -> None:
    address, _ = resolver
    port = await stream_server(_pong)
    cfg = TcpProbe(name="t", address=f"two.test:{port}", resolver=address)
    result = await _run(cfg, probe_ctx)
    assert result.reason is None
    assert f"connect to 127.0.0.2:{port}: Connection refused" in result.trace
    assert any(line.startswith(f"connected to 127.0.0.1:{port}") for line in result.trace)


async def test_resolver_nxdomain(probe_ctx: ProbeContext, resolver: tuple[str, _Dns]) -> None:
    address, _ = resolver
    result = await _run(TcpProbe(name="t", address="nx.test:80", resolver=address), probe_ctx)
    assert (result.reason, result.message) == (
        "dns",
        f"nx.test A at {address} (udp): NXDOMAIN",
    )
