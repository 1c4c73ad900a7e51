"""The DNS probe against a real DNS server on loopback (UDP and TCP, answers built with
dnspython), and the system resolver with ``localhost`` only (answered from /etc/hosts). No query
ever leaves 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any, cast

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from exporter.config import DnsProbe
from exporter.probes import dns as dns_probe
from exporter.probes.base import ProbeContext, ProbeResult, run_probe

# name -> what the server answers: records as (owner, type, text), or an rcode name
ZONE: dict[str, Any] = {
    "ok.test.": [("ok.test.", "A", "127.0.0.1"), ("ok.test.", "A", "127.0.0.2")],
    "one.test.": [("one.test.", "A", "127.0.0.1")],
    "alias.test.": [("alias.test.", "CNAME", "one.test."), ("one.test.", "A", "127.0.0.1")],
    "mail.test.": [("mail.test.", "MX", "10 mx1.test."), ("mail.test.", "MX", "20 MX2.test.")],
    "text.test.": [("text.test.", "TXT", '"v=spf1 -all"')],
    "v6.test.": [("v6.test.", "AAAA", "::1")],
    "empty.test.": [],
    "nx.test.": "NXDOMAIN",
    "fail.test.": "SERVFAIL",
    "refused.test.": "REFUSED",
}


class FakeDns:
    """A DNS server on 127.0.0.1 answering from ZONE over UDP and TCP (same port), recording
    every question as (transport, name, type)."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, str, str]] = []
        self.port = 0

    def answer(self, wire: bytes, transport: str) -> bytes:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name, rdtype = question.name.to_text(), dns.rdatatype.to_text(question.rdtype)
        self.queries.append((transport, name, rdtype))
        response = dns.message.make_response(query)
        entry = ZONE.get(name, "NXDOMAIN")
        if isinstance(entry, str):
            response.set_rcode(dns.rcode.from_text(entry))
            return response.to_wire()
        for owner, record_type, text in entry:
            # a CNAME is part of the answer whatever the type asked for
            if record_type in (rdtype, "CNAME"):
                response.answer.append(dns.rrset.from_text(owner, 60, "IN", record_type, text))
        return response.to_wire()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: FakeDns) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.server.answer(data, "udp"), addr)


class _Silent(asyncio.DatagramProtocol):
    """Takes queries and never answers."""


@pytest.fixture
async def fake_dns() -> AsyncIterator[FakeDns]:
    server = FakeDns()
    loop = asyncio.get_running_loop()

    async def handle_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            wire = server.answer(await reader.readexactly(length), "tcp")
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
        finally:
            writer.close()

    tcp = await asyncio.start_server(handle_tcp, "127.0.0.1", 0)
    server.port = tcp.sockets[0].getsockname()[1]
    udp, _ = await loop.create_datagram_endpoint(
        lambda: _Udp(server), local_addr=("127.0.0.1", server.port)
    )
    yield server
    udp.close()
    tcp.close()
    await tcp.wait_closed()


@pytest.fixture
async def silent_dns() -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(_Silent, local_addr=("127.0.0.1", 0))
    yield udp.get_extra_info("sockname")[1]
    udp.close()


def _cfg(fake: FakeDns | None = None, **kwargs: Any) -> DnsProbe:
    if fake is not None:
        kwargs.setdefault("resolver", f"127.0.0.1:{fake.port}")
    return DnsProbe(name="dns", **kwargs)


async def _run(cfg: DnsProbe, ctx: ProbeContext, seconds: float = 3.0) -> ProbeResult:
    deadline = asyncio.get_running_loop().time() + seconds
    return await run_probe(dns_probe.probe, cfg, ctx, deadline)


def _values(result: ProbeResult) -> dict[str, float]:
    return {s.metric.name: s.value for s in result.samples}


async def test_a_records_over_udp(fake_dns: FakeDns, probe_ctx: ProbeContext) -> None:
    cfg = _cfg(fake_dns, query="ok.test", expect=("127.0.0.2", "127.0.0.1"), min_answers=2)
    result = await _run(cfg, probe_ctx)
    assert (result.status, result.reason, result.message) == ("up", None, "")
    values = _values(result)
    assert values["probe_dns_answer_rrs"] == 2
    assert 0 < values["probe_dns_lookup_time_seconds"] < 1
    assert fake_dns.queries == [("udp", "ok.test.", "A")]
    assert any("2 record(s)" in line for line in result.trace)


async def test_tcp_transport(fake_dns: FakeDns, probe_ctx: ProbeContext) -> None:
    cfg = _cfg(fake_dns, query="one.test", transport="tcp", expect=("127.0.0.1",))
    result = await _run(cfg, probe_ctx)
    assert result.reason is None
    assert _values(result)["probe_dns_answer_rrs"] == 1
    assert fake_dns.queries == [("tcp", "one.test.", "A")]


@pytest.mark.parametrize(
    ("name", "detail"),
    [("nx.test", "NXDOMAIN"), ("fail.test", "SERVFAIL"), ("refused.test", "REFUSED")],
)
async def test_error_rcodes(
    fake_dns: FakeDns, probe_ctx: ProbeContext, name: str, detail: str
) -> None:
    result = await _run(_cfg(fake_dns, query=name), probe_ctx)
    assert result.reason == "dns"
    assert result.message == f"{name} A at 127.0.0.1:{fake_dns.port} (udp): {detail}"
    assert "probe_dns_lookup_time_seconds" in _values(result)
    # as blackbox_exporter: no answer records is 0, so "== 0" alerts fire on NXDOMAIN too
    assert _values(result)["probe_dns_answer_rrs"] == 0


async def test_empty_answer(fake_dns: FakeDns, probe_ctx: ProbeContext) -> None:
    result = await _run(_cfg(fake_dns, query="empty.test"), probe_ctx)
    assert (result.reason, result.message) == ("dns", "empty.test: no A records (empty answer)")
    assert _values(result)["probe_dns_answer_rrs"] == 0


async def test_empty_answer_allowed_with_min_answers_zero(
    fake_dns: FakeDns, probe_ctx: ProbeContext
) -> None:
    result = await _run(_cfg(fake_dns, query="empty.test", min_answers=0), probe_ctx)
    assert result.reason is None


async def test_fewer_answers_than_min_answers(fake_dns: FakeDns, probe_ctx: ProbeContext) -> None:
    result = await _run(_cfg(fake_dns, query="ok.test", min_answers=3), probe_ctx)
    assert result.reason == "answer"
    assert result.message == "ok.test: 2 A record(s), expected at least 3"


async def test_expected_record_missing(fake_dns: FakeDns, probe_ctx: ProbeContext) -> None:
    cfg = _cfg(fake_dns, query="ok.test", expect=("127.0.0.1", "127.0.0.9"))
    result = await _run(cfg, probe_ctx)
    assert result.reason == "answer"
    assert result.message == "ok.test A: expected 127.0.0.9 among the answers"


async def test_names_compare_without_trailing_dot_or_case(
    fake_dns: FakeDns, probe_ctx: ProbeContext
) -> None:
    cfg = _cfg(
        fake_dns, query="mail.test", record_type="MX", expect=("10 mx1.test", "20 mx2.test.")
    )
    result = await _run(cfg, probe_ctx)
    assert result.reason is None
    assert _values(result)["probe_dns_answer_rrs"] == 2


async def test_cname_chain(fake_dns: FakeDns, probe_ctx: ProbeContext) -> None:
    cfg = _cfg(fake_dns, query="alias.test", expect=("127.0.0.1",))
    result = await _run(cfg, probe_ctx)
    assert result.reason is None
    # the answer section holds the CNAME and the A record; one A record matched
    assert _values(result)["probe_dns_answer_rrs"] == 2
    cname = _cfg(fake_dns, query="alias.test", record_type="CNAME", expect=("one.test",))
    assert (await _run(cname, probe_ctx)).reason is None


async def test_txt_unquoted_and_aaaa(fake_dns: FakeDns, probe_ctx: ProbeContext) -> None:
    txt = _cfg(fake_dns, query="text.test", record_type="TXT", expect=("v=spf1 -all",))
    assert (await _run(txt, probe_ctx)).reason is None
    aaaa = _cfg(fake_dns, query="v6.test", record_type="AAAA", expect=("0:0::0001",))
    assert (await _run(aaaa, probe_ctx)).reason is None


async def test_server_never_answers_scrape_deadline(
    silent_dns: int, probe_ctx: ProbeContext
) -> None:
    cfg = DnsProbe(name="dns", query="ok.test", resolver=f"127.0.0.1:{silent_dns}", timeout=10)
    result = await _run(cfg, probe_ctx, seconds=0.5)
    assert (result.reason, result.message) == ("timeout", "deadline exceeded")
    assert 0.45 < result.duration < 1.5


async def test_server_never_answers_probe_timeout(silent_dns: int, probe_ctx: ProbeContext) -> None:
    # the probe's own timeout is shorter than the deadline: dnspython's lifetime ends it
    cfg = DnsProbe(name="dns", query="ok.test", resolver=f"127.0.0.1:{silent_dns}", timeout=0.3)
    result = await _run(cfg, probe_ctx, seconds=3)
    assert result.reason == "timeout"
    assert result.message == f"ok.test A at 127.0.0.1:{silent_dns} (udp): no answer within 0.3s"
    assert result.duration < 1.5


async def test_tcp_connection_refused(probe_ctx: ProbeContext) -> None:
    port = _closed_port()
    cfg = DnsProbe(name="dns", query="ok.test", resolver=f"127.0.0.1:{port}", transport="tcp")
    result = await _run(cfg, probe_ctx)
    assert result.reason == "dns"
    assert result.message == f"ok.test A at 127.0.0.1:{port} (tcp): Connection refused"


async def test_system_resolver_localhost(probe_ctx: ProbeContext) -> None:
    result = await _run(DnsProbe(name="dns", query="localhost", expect=("127.0.0.1",)), probe_ctx)
    assert result.reason is None
    assert _values(result)["probe_dns_answer_rrs"] >= 1
    assert any("(system resolver): 127.0.0.1" in line for line in result.trace)


async def test_system_resolver_expectation_fails(probe_ctx: ProbeContext) -> None:
    cfg = DnsProbe(name="dns", query="localhost", expect=("127.0.0.7",))
    result = await _run(cfg, probe_ctx)
    assert (result.reason, result.message) == (
        "answer",
        "localhost A: expected 127.0.0.7 among the answers",
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
