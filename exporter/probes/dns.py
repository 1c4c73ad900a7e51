"""DNS probe: look one name up and check the answer.

With ``resolver`` (HOST:PORT) the question goes to that server through dnspython, for any record
type, over UDP or TCP. Without it the system resolver answers through ``getaddrinfo``, which only
knows addresses (A/AAAA; the config enforces that).

The TCP probe shares :func:`query` (to resolve its target through a configured resolver) and the
small address helpers at the end of this file.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.rdata
import dns.rdatatype
import dns.resolver

from exporter import metrics as m
from exporter.config import DnsProbe
from exporter.probes.base import ProbeContext, ProbeFailure, Report, socket_error_text


async def probe(cfg: DnsProbe, ctx: ProbeContext, report: Report) -> None:
    start = time.perf_counter()
    try:
        if cfg.resolver is None:
            answers = await _system_lookup(cfg, report)
        else:
            answers = await _server_lookup(cfg, report)
    except ProbeFailure:
        # no answer section (NXDOMAIN, SERVFAIL, no reply): 0 records, as blackbox_exporter
        # reports, so "probe_dns_answer_rrs == 0" holds there too
        report.set(m.DNS_ANSWER_RRS, 0)
        raise
    finally:
        # also on failure: how long a NXDOMAIN or a dead server took is worth seeing
        report.set(m.DNS_LOOKUP_TIME, time.perf_counter() - start)
    _check_answers(cfg, answers)


# --- lookups ----------------------------------------------------------------------------------


async def _server_lookup(cfg: DnsProbe, report: Report) -> list[tuple[str, ...]]:
    """Ask the configured server; return the text forms of each record of the asked type."""
    assert cfg.resolver is not None
    start = time.perf_counter()
    answer = await query(
        cfg.resolver, cfg.query, cfg.record_type, tcp=cfg.transport == "tcp", lifetime=cfg.timeout
    )
    # probe_dns_answer_rrs counts the whole answer section (CNAME chain included), as
    # blackbox_exporter does; the checks below look at the records of the asked type only.
    report.set(m.DNS_ANSWER_RRS, sum(len(rrset) for rrset in answer.response.answer))
    records = list(answer.rrset) if answer.rrset is not None else []
    report.note(
        f"{cfg.query} {cfg.record_type} at {cfg.resolver} ({cfg.transport}): "
        f"{len(records)} record(s) in {_ms(start)}"
    )
    return [_text_forms(record) for record in records]


async def _system_lookup(cfg: DnsProbe, report: Report) -> list[tuple[str, ...]]:
    family = socket.AF_INET if cfg.record_type == "A" else socket.AF_INET6
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    try:
        # SOCK_STREAM: one entry per address instead of one per socket type
        infos = await loop.getaddrinfo(cfg.query, None, family=family, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        detail = e.strerror if isinstance(e, socket.gaierror) else str(e)
        raise ProbeFailure(
            "dns", f"{cfg.query} {cfg.record_type} (system resolver): {detail}"
        ) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    report.set(m.DNS_ANSWER_RRS, len(addresses))
    report.note(
        f"{cfg.query} {cfg.record_type} (system resolver): {', '.join(addresses)} in {_ms(start)}"
    )
    return [(address,) for address in addresses]


async def query(
    server: str, name: str, record_type: str, *, tcp: bool, lifetime: float
) -> dns.resolver.Answer:
    """Ask ``server`` (HOST:PORT) for ``name``/``record_type``. An empty answer (NOERROR, no
    records) is returned as such (``answer.rrset is None``); every DNS error is raised as a
    ProbeFailure whose message says what the server answered."""
    host, port = split_host_port(server)
    resolver = dns.asyncresolver.Resolver(configure=False)  # never read /etc/resolv.conf
    resolver.nameservers = [await _server_ip(host)]
    resolver.port = port
    resolver.cache = None
    resolver.retry_servfail = False
    transport = "tcp" if tcp else "udp"
    where = f"{name} {record_type} at {server} ({transport})"
    try:
        # No search domains: the name is looked up exactly as configured. The lifetime is the
        # probe's own timeout; a scrape deadline that comes first cancels the query anyway.
        return await resolver.resolve(
            name,
            record_type,
            tcp=tcp,
            search=False,
            raise_on_no_answer=False,
            lifetime=lifetime,
        )
    except dns.resolver.NXDOMAIN:
        raise ProbeFailure("dns", f"{where}: NXDOMAIN") from None
    except dns.resolver.NoNameservers as e:
        raise ProbeFailure("dns", f"{where}: {_server_errors(e)}") from None
    except dns.resolver.LifetimeTimeout:
        raise ProbeFailure("timeout", f"{where}: no answer within {lifetime:g}s") from None
    except dns.exception.DNSException as e:  # bad name, YXDOMAIN, malformed answer, ...
        raise ProbeFailure("dns", f"{where}: {e}") from None


async def _server_ip(host: str) -> str:
    """The resolver's own address: an IP literal as is, a name through the system resolver."""
    if is_ip(host):
        return host
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        raise ProbeFailure("dns", f"resolver {host} does not resolve: {e}") from None
    return str(infos[0][4][0])


def _server_errors(err: dns.resolver.NoNameservers) -> str:
    """What the server said: an rcode (SERVFAIL, REFUSED, ...) or the transport error."""
    texts: list[str] = []
    for error in err.kwargs.get("errors", []):
        detail: Any = error[3]
        if isinstance(detail, str):  # dnspython records an unhappy rcode as its text
            text = detail
        elif isinstance(detail, OSError) and detail.errno:
            text = socket_error_text(detail)
        else:
            text = str(detail) or type(detail).__name__
        if text not in texts:
            texts.append(text)
    return "; ".join(texts) or "no usable answer"


# --- checks -----------------------------------------------------------------------------------


def _check_answers(cfg: DnsProbe, answers: list[tuple[str, ...]]) -> None:
    if not answers and cfg.min_answers > 0:
        raise ProbeFailure("dns", f"{cfg.query}: no {cfg.record_type} records (empty answer)")
    if len(answers) < cfg.min_answers:
        raise ProbeFailure(
            "answer",
            f"{cfg.query}: {len(answers)} {cfg.record_type} record(s), "
            f"expected at least {cfg.min_answers}",
        )
    have = {_normalize(cfg.record_type, form) for forms in answers for form in forms}
    missing = [want for want in cfg.expect if _normalize(cfg.record_type, want) not in have]
    if missing:
        raise ProbeFailure(
            "answer",
            f"{cfg.query} {cfg.record_type}: expected {', '.join(missing)} among the answers",
        )


def _text_forms(record: dns.rdata.Rdata) -> tuple[str, ...]:
    """The forms an ``expect`` entry may take for one record: the zone-file text, and for TXT
    also the unquoted content (``v=spf1 -all`` rather than ``"v=spf1 -all"``)."""
    forms = [record.to_text()]
    strings = getattr(record, "strings", None)
    if record.rdtype == dns.rdatatype.TXT and strings is not None:
        forms.append(b"".join(strings).decode("utf-8", errors="replace"))
    return tuple(forms)


def _normalize(record_type: str, text: str) -> str:
    text = text.strip()
    if record_type in ("A", "AAAA"):
        try:  # "::0001" and "::1" are the same address
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    if record_type == "TXT":
        return text
    # Records holding names (CNAME, MX, NS, SOA, SRV, CAA): names compare without case and
    # without their trailing dot, so "mail.example.com" matches "mail.example.com.".
    return " ".join(token.rstrip(".") for token in text.lower().split())


# --- helpers shared with the TCP probe --------------------------------------------------------


def split_host_port(address: str) -> tuple[str, int]:
    """'host:53' or '[::1]:53' (validated by the config) -> (host, port)."""
    host, _, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _ms(start: float) -> str:
    return f"{(time.perf_counter() - start) * 1000:.1f} ms"
