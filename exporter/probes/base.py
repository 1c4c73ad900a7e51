"""What every probe shares: the failure reasons, the report a probe fills, and the one wrapper
that owns the deadline, the timing, ``probe_success`` and error capture.

A probe is ``async def probe(cfg, ctx, report) -> None``: it measures, records its own series
on ``report``, and raises :class:`ProbeFailure` with a reason from :data:`REASONS` when the
target is wrong. It never catches the deadline itself: the wrapper cancels it and reports
``timeout``. Anything else it raises is a bug in redline, reported as reason ``internal``
without crashing the exporter.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.helpers import is_ip_address

from exporter import __version__
from exporter import metrics as m
from exporter.secrets import MissingSecret, Redactor, SecretSource

log = logging.getLogger("redline.probe")

# The failure reasons, a closed set so the state set has bounded cardinality. Each probe raises
# only the ones that apply to it; the wrapper adds timeout, secret and internal.
REASONS: tuple[str, ...] = (
    "dns",  # the name did not resolve
    "connect",  # TCP connection refused / unreachable / reset
    "tls",  # handshake failed: untrusted, expired, wrong name
    "timeout",  # the deadline passed (scrape timeout or the probe's own timeout)
    "status",  # HTTP status not in valid_status
    "rate_limited",  # the target answered 429: it is up, but refused us
    "redirect",  # too many redirects (or a loop)
    "body",  # body regex did (not) match, or expected TCP answer missing
    "json",  # body is not JSON, or a JSON assertion failed
    "header",  # a header assertion failed
    "too_large",  # the body exceeded max_body_bytes
    "protocol",  # the target broke the protocol (bad HTTP, bad MCP/JSON-RPC answer)
    "answer",  # DNS answer did not match / MCP tools missing
    "secret",  # a secret the probe needs is not available (env var / file missing)
    "degraded",  # succeeded, but slower than degraded_after
    "internal",  # a bug in redline; logged
)

STATUSES: tuple[str, ...] = ("up", "degraded", "down")


class ProbeFailure(Exception):
    """The target failed the probe. ``message`` is shown to operators: keep it free of secrets
    (the wrapper redacts known secret values as a second line of defence)."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown probe failure reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message


# slots: a scrape of 1,000 targets holds some 12,000 samples and 1,000 results between scrapes;
# without a __dict__ each is about 100 bytes smaller.
@dataclass(slots=True)
class Sample:
    metric: m.Metric
    value: float
    labels: dict[str, str] = field(default_factory=dict)


# The label dicts of samples, shared between the samples that have the same labels: the results
# of every target are kept between scrapes, and an HTTP probe's 11 samples have 6 label sets
# between them (none, and one per phase), the same for every target: some 11,000 dicts at 1,000
# targets, 1.3 MB, where a few suffice. A sample's labels are never changed once set. Bounded,
# as a probe may label a sample with what a target answered (a TLS version).
_NO_LABELS: dict[str, str] = {}
_LABEL_SETS: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
_LABEL_SETS_MAX = 1024


def _shared_labels(labels: dict[str, str]) -> dict[str, str]:
    if not labels:
        return _NO_LABELS
    key = tuple(labels.items())
    shared = _LABEL_SETS.get(key)
    if shared is None:
        if len(_LABEL_SETS) >= _LABEL_SETS_MAX:
            _LABEL_SETS.clear()
        shared = _LABEL_SETS[key] = labels
    return shared


@dataclass
class Report:
    """What one probe run measured. Probes add series with :meth:`set` and trace lines with
    :meth:`note` (shown by ``redline probe``). With ``tracing`` off, as for the results served
    to scrapes, trace lines are not kept: no scrape shows them, and at 1,000 targets they were
    some 23,000 strings held between scrapes."""

    samples: list[Sample] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)
    tracing: bool = True
    degraded: bool = False
    degraded_message: str = ""  # why the probe set ``degraded`` (shown as the result message)
    # Set by HTTP-based probes when the target asked us to wait (429/503 Retry-After).
    retry_after: float = 0.0

    def set(self, metric: m.Metric, value: float, **labels: str) -> None:
        self.samples.append(Sample(metric, float(value), _shared_labels(labels)))

    def note(self, line: str) -> None:
        if self.tracing:
            self.trace.append(line)


@dataclass
class ProbeContext:
    """Shared resources a probe may use. ``session`` is one aiohttp session for the whole
    exporter, its connector set to open a fresh connection per request (as blackbox_exporter
    does), so a probe measures connect and TLS every time."""

    session: aiohttp.ClientSession
    secrets: SecretSource
    redactor: Redactor
    # A JSON probe with per_machine -> the ids of the machines it reads (None: not known here);
    # exporter/platform/fly_machines.py's MachineDirectory in a running exporter.
    machines: Callable[[Any], tuple[str, ...] | None] | None = None

    def secret(self, value: Any) -> str:
        """Resolve a templated/secret config value; a missing one fails the probe."""
        try:
            resolved = self.secrets.resolve(value)
        except MissingSecret as e:
            raise ProbeFailure("secret", str(e)) from None
        return resolved


@dataclass(slots=True)
class ProbeResult:
    success: bool
    status: str  # one of STATUSES
    reason: str | None  # one of REASONS, None when up
    message: str
    duration: float
    finished_at: float  # time.time()
    samples: list[Sample]
    trace: list[str]
    retry_after: float = 0.0


class RequestTimer:
    """Phase durations of one HTTP request, in seconds, filled by the session's connector and
    response class while the request is made under :func:`timing`. Phases add up over
    redirects, as blackbox_exporter's do. ``connect`` is TCP only and ``tls`` the TLS handshake
    (0 over plain HTTP), as in blackbox_exporter: aiohttp resolves the name, connects and shakes
    hands inside one connection step, so the resolve time is taken out of it and
    :class:`_TimedConnector` marks where the handshake starts."""

    __slots__ = (
        "_conn",
        "_conn_resolve",
        "_dns",
        "_sent",
        "_tls",
        "connect",
        "processing",
        "resolve",
        "tls",
    )

    def __init__(self) -> None:
        self.resolve = self.connect = self.tls = self.processing = 0.0
        # start of the phase running, 0 when none
        self._dns = self._conn = self._tls = self._sent = 0.0
        self._conn_resolve = 0.0

    def tls_started(self, now: float) -> None:
        """The TCP connection is up and the TLS handshake begins (on a retry with the next
        address, the last one's: the time before it was spent connecting)."""
        if self._conn:
            self._tls = now

    def _connection_done(self, now: float) -> None:
        tcp_end = self._tls or now
        self.connect += tcp_end - self._conn - (self.resolve - self._conn_resolve)
        if self._tls:
            self.tls += now - self._tls
        self._conn = self._tls = 0.0

    def finish(self, now: float) -> None:
        """Count the phases still running when the probe stopped (deadline, error) up to now:
        a handshake that failed or hung is TLS time."""
        if self._dns:
            self.resolve += now - self._dns
        if self._conn:
            self._connection_done(now)
        if self._sent:
            self.processing += now - self._sent
        self._dns = self._sent = 0.0


# The timer of the request this task is making: set by the probe around the request (a probe
# run is a task of its own), read by the connector and the response class, which aiohttp calls
# in the task that sends the request. Hooks of our own classes rather than aiohttp's trace
# signals: with a trace config, aiohttp builds a parameters object and awaits a signal at every
# step of every request, whether or not anything listens to it; that cost about 0.02-0.03 ms of
# CPU per probe (docs/performance.md).
_TIMER: contextvars.ContextVar[RequestTimer | None] = contextvars.ContextVar(
    "redline_request_timer", default=None
)


class timing:  # lower case: used as a function, ``with timing(timer):``
    """Time the requests made in this block, in this task, with ``timer``. A class rather than
    a generator with contextlib's decorator: it is entered once per probe, and the generator's
    machinery cost more than the two context-variable calls it wraps."""

    __slots__ = ("_timer", "_token")

    def __init__(self, timer: RequestTimer) -> None:
        self._timer = timer

    def __enter__(self) -> RequestTimer:
        self._token = _TIMER.set(self._timer)
        return self._timer

    def __exit__(self, *exc: object) -> None:
        _TIMER.reset(self._token)


class _TimedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, timing name resolution and the connection on the request's timer:
    resolution around the resolver's call (never for an IP address, which aiohttp does not
    resolve), the connection around aiohttp's connection step, and the start of each TLS
    handshake. aiohttp connects the socket first (happy eyeballs) and hands it to the event
    loop's create_connection with the TLS context; the loop makes the protocol (our factory
    call) once the socket is connected and before the handshake, so that call is the boundary
    between blackbox_exporter's connect and tls phases. A step that fails leaves its phase
    running, for :meth:`RequestTimer.finish` to count up to the end of the probe."""

    async def _resolve_host(self, host: str, port: int, traces: Any = None) -> list[ResolveResult]:
        timer = _TIMER.get()
        if timer is None or is_ip_address(host):
            return await super()._resolve_host(host, port, traces)
        timer._dns = time.perf_counter()
        resolved = await super()._resolve_host(host, port, traces)
        timer.resolve += time.perf_counter() - timer._dns
        timer._dns = 0.0
        return resolved

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        timer = _TIMER.get()
        if timer is None:
            return await super()._create_connection(req, traces, timeout)
        timer._conn = time.perf_counter()
        timer._conn_resolve = timer.resolve
        protocol = await super()._create_connection(req, traces, timeout)
        timer._connection_done(time.perf_counter())
        return protocol

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        timer = _TIMER.get()
        if timer is None or not kwargs.get("ssl"):
            return await super()._wrap_create_connection(*args, **kwargs)
        factory, *rest = args  # aiohttp passes the protocol factory first

        def protocol() -> Any:
            timer.tls_started(time.perf_counter())
            return factory()

        return await super()._wrap_create_connection(protocol, *rest, **kwargs)


class TLSAwareResponse(aiohttp.ClientResponse):
    """A response that keeps its connection's TLS object, and times the wait for its head on
    the request's timer (``processing``: from the request written to the response's head read,
    each redirect's added). aiohttp releases the connection (and, with force_close, closes it)
    as soon as a small body is fully buffered, usually before the caller sees the response, so
    ``resp.connection`` cannot be relied on to read the peer certificate; the SSLObject itself
    still answers after the close."""

    ssl_object: Any = None

    async def start(self, connection: Any) -> TLSAwareResponse:
        transport = connection.transport
        if transport is not None:
            self.ssl_object = transport.get_extra_info("ssl_object")
        timer = _TIMER.get()
        if timer is None:
            await super().start(connection)
            return self
        # aiohttp calls start() as soon as the request is written (its head handed to the
        # transport, its body being sent)
        timer._sent = time.perf_counter()
        await super().start(connection)
        timer.processing += time.perf_counter() - timer._sent
        timer._sent = 0.0
        return self


# Every request redline sends says who it is, so the shop's own logs and access lines can tell
# redline's requests from the users' (docs/slos.md); a probe's configured headers may override it.
USER_AGENT = f"redline/{__version__}"


def new_session(resolver: aiohttp.abc.AbstractResolver | None = None) -> aiohttp.ClientSession:
    """The exporter's one HTTP client session. Fresh connection per request (force_close) and
    no DNS cache, as blackbox_exporter does, so every probe measures resolve, connect and TLS;
    no cookies, no proxy from the environment, no total timeout (the wrapper owns deadlines).
    Time a request's phases by making it under :func:`timing` with a :class:`RequestTimer`.
    ``resolver`` is for one-off sessions of probes that ask their own DNS server."""
    connector = _TimedConnector(force_close=True, limit=0, use_dns_cache=False, resolver=resolver)
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=True,
        response_class=TLSAwareResponse,
        headers={"User-Agent": USER_AGENT},
    )


ProbeFn = Callable[[Any, ProbeContext, Report], Awaitable[None]]


async def run_probe(
    fn: ProbeFn,
    cfg: Any,
    ctx: ProbeContext,
    deadline: float,
    *,
    degraded_after: float | None = None,
    trace: bool = True,
) -> ProbeResult:
    """Run one probe under ``deadline`` (a ``loop.time()`` value) and turn whatever happens into
    a :class:`ProbeResult`. Never raises, except for cancellation of the caller. ``trace=False``
    leaves the result's trace empty (the scheduler's runs for scrapes)."""
    report = Report(tracing=trace)
    start = time.perf_counter()
    reason: str | None = None
    message = ""
    try:
        async with asyncio.timeout_at(deadline):
            await fn(cfg, ctx, report)
    except ProbeFailure as e:
        reason, message = e.reason, e.message
    except TimeoutError:
        reason, message = "timeout", "deadline exceeded"
    except asyncio.CancelledError:
        raise
    except Exception as e:  # a bug in a probe must not take the exporter down
        reason = "internal"
        message = f"internal error: {type(e).__name__}: {e}"
        log.error("probe raised unexpectedly", extra={"detail": ctx.redactor.redact(message)})
    duration = time.perf_counter() - start
    if reason is None and report.degraded:
        reason = "degraded"
        message = report.degraded_message or "the target reported itself degraded"
    elif reason is None and degraded_after and duration > degraded_after:
        reason = "degraded"
        message = f"took {duration:.3f}s, more than degraded_after"
    success = reason in (None, "degraded")
    status = "up" if reason is None else ("degraded" if reason == "degraded" else "down")
    message = ctx.redactor.redact(message)
    if not report.tracing:
        pass  # scrapes keep no trace: build no line
    elif message:
        report.note(f"result: {status} ({reason}): {message}")
    else:
        report.note(f"result: {status}")
    return ProbeResult(
        success=success,
        status=status,
        reason=reason,
        message=message,
        duration=duration,
        finished_at=time.time(),
        samples=report.samples,
        trace=[ctx.redactor.redact(t) for t in report.trace],
        retry_after=report.retry_after,
    )


def socket_error_text(err: OSError) -> str:
    """'Connection refused' rather than asyncio's 'Connect call failed (...)'."""
    if err.errno and err.errno > 0:  # negative ones are resolver (EAI_*) codes with own text
        return os.strerror(err.errno)
    if err.strerror:
        return err.strerror
    if str(err):
        return str(err)
    if isinstance(err, ConnectionError):  # asyncio raises these without a text
        return "the peer closed the connection"
    return type(err).__name__
