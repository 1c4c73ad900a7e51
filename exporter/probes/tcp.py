"""TCP probe: resolve, connect, optionally handshake TLS, send a line and expect an answer.

Each phase is timed on its own (lookup, connect, TLS handshake), so a slow target shows where it
is slow. The connection is always closed, also when the deadline cancels the probe midway.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import time

from exporter import metrics as m
from exporter.config import TcpProbe
from exporter.probes import dns as dns_probe
from exporter.probes import tls
from exporter.probes.base import ProbeContext, ProbeFailure, Report, socket_error_text

_READ_CHUNK = 4096


async def probe(cfg: TcpProbe, ctx: ProbeContext, report: Report) -> None:
    # Secrets and the TLS context first: a missing secret or a bad CA file fails the probe
    # before anything is sent anywhere.
    payload = ctx.secret(cfg.send).encode("utf-8") if cfg.send is not None else None
    context = _tls_context(cfg) if cfg.tls else None

    host, port = dns_probe.split_host_port(cfg.address)
    addresses = await _resolve(cfg, host, port, report)
    reader, writer = await _connect(addresses, port, report)
    try:
        if context is not None:
            await _handshake(cfg, host, context, writer, report)
        if payload is not None:
            try:
                writer.write(payload)
                await writer.drain()
            except OSError as e:
                raise _io_failure("sending", e) from None
            report.note(f"sent {len(payload)} bytes")
        if cfg.expect is not None:
            await _expect(cfg, reader, report)
    finally:
        # close() does not wait: a graceful TLS close waits for the peer's close_notify, which
        # must not eat into the deadline (the transport finishes closing in the background).
        writer.close()


async def _resolve(cfg: TcpProbe, host: str, port: int, report: Report) -> list[str]:
    if dns_probe.is_ip(host):
        return [host]
    start = time.perf_counter()
    try:
        if cfg.resolver is not None:
            addresses = await _ask_resolver(cfg.resolver, host, cfg.timeout)
        else:
            addresses = await _ask_system(host, port)
    finally:
        report.set(m.DNS_LOOKUP_TIME, time.perf_counter() - start)
    via = cfg.resolver or "system resolver"
    report.note(f"resolved {host} via {via}: {', '.join(addresses)} in {_ms(start)}")
    return addresses


async def _ask_resolver(resolver: str, host: str, lifetime: float) -> list[str]:
    """A records, else AAAA records, from the configured DNS server."""
    for record_type in ("A", "AAAA"):
        answer = await dns_probe.query(resolver, host, record_type, tcp=False, lifetime=lifetime)
        if answer.rrset is not None:
            return [record.to_text() for record in answer.rrset]
    raise ProbeFailure("dns", f"{host} at {resolver}: no A or AAAA records")


async def _ask_system(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        detail = e.strerror if isinstance(e, socket.gaierror) else str(e)
        raise ProbeFailure("dns", f"{host} (system resolver): {detail}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _connect(
    addresses: list[str], port: int, report: Report
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the first address that accepts, in the resolver's order (as ordinary
    clients do, so a name with an unreachable AAAA besides a working A is not down)."""
    start = time.perf_counter()
    errors: list[str] = []
    for address in addresses:
        try:
            reader, writer = await asyncio.open_connection(address, port)
        except OSError as e:
            errors.append(f"{_join(address, port)}: {socket_error_text(e)}")
            report.note(f"connect to {errors[-1]}")
            continue
        report.set(m.TCP_CONNECT_DURATION, time.perf_counter() - start)
        report.note(f"connected to {_join(address, port)} in {_ms(start)}")
        return reader, writer
    raise ProbeFailure("connect", "connect to " + "; ".join(errors))


def _tls_context(cfg: TcpProbe) -> ssl.SSLContext:
    try:
        return tls.ssl_context(cfg.tls_config)
    except (OSError, ssl.SSLError) as e:  # a missing or bad ca_file
        raise ProbeFailure("tls", f"cannot load the TLS settings: {e}") from None


async def _handshake(
    cfg: TcpProbe,
    host: str,
    context: ssl.SSLContext,
    writer: asyncio.StreamWriter,
    report: Report,
) -> None:
    server_name = cfg.tls_config.server_name or host
    start = time.perf_counter()
    try:
        await writer.start_tls(context, server_hostname=server_name)
    except ssl.SSLError as e:  # also ssl.CertificateError, a subclass
        raise ProbeFailure("tls", tls.describe_ssl_error(e)) from None
    except OSError as e:  # the peer closed or reset during the handshake
        raise ProbeFailure("tls", f"TLS handshake failed: {socket_error_text(e)}") from None
    report.set(m.TLS_HANDSHAKE_DURATION, time.perf_counter() - start)
    ssl_object = writer.get_extra_info("ssl_object")
    version = tls.tls_version(ssl_object)
    if version:
        # blackbox_exporter's spelling ("TLS 1.3"), as the HTTP probe writes it
        report.set(m.TLS_VERSION_INFO, 1, version=version.replace("TLSv", "TLS "))
    expiry = tls.peer_cert_expiry(ssl_object)
    expires = ""
    if expiry is not None:
        report.set(m.SSL_EARLIEST_CERT_EXPIRY, expiry)
        expires = f", certificate expires {dt.datetime.fromtimestamp(expiry, dt.UTC):%Y-%m-%d}"
    report.note(f"TLS handshake ({version}, name {server_name}) in {_ms(start)}{expires}")


async def _expect(cfg: TcpProbe, reader: asyncio.StreamReader, report: Report) -> None:
    """Read until the answer matches ``expect``, the peer closes, or max_read_bytes is read."""
    assert cfg.expect is not None
    pattern = cfg.expect.pattern
    start = time.perf_counter()
    answer = bytearray()
    while len(answer) < cfg.max_read_bytes:
        try:
            chunk = await reader.read(min(_READ_CHUNK, cfg.max_read_bytes - len(answer)))
        except ssl.SSLError as e:
            raise ProbeFailure("tls", tls.describe_ssl_error(e)) from None
        except OSError as e:
            raise _io_failure("reading the answer", e) from None
        if not chunk:
            raise ProbeFailure(
                "body",
                f"the peer closed the connection after {len(answer)} bytes, "
                f"without an answer matching /{pattern}/",
            )
        answer += chunk
        # The whole answer is searched again each time: a match may span two chunks.
        if cfg.expect.search(answer.decode("utf-8", errors="replace")):
            report.note(f"answer matched /{pattern}/ after {len(answer)} bytes in {_ms(start)}")
            return
    raise ProbeFailure(
        "body", f"no match for /{pattern}/ in the first {cfg.max_read_bytes} bytes of the answer"
    )


def _io_failure(doing: str, err: OSError) -> ProbeFailure:
    return ProbeFailure("connect", f"connection lost while {doing}: {socket_error_text(err)}")


def _join(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _ms(start: float) -> str:
    return f"{(time.perf_counter() - start) * 1000:.1f} ms"
