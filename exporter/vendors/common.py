"""What the vendor feeds and checks share: the closed sets of reasons and states, the failure
they raise, the normalised snapshot every feed format is read into, and the bounded HTTP request.

Closed sets keep the state sets' cardinality fixed by the code, and the snapshot keeps the page's
own words out of labels: a feed is read into states from these sets, and anything else it says
becomes ``unknown``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import aiohttp
from multidict import CIMultiDictProxy

from exporter.probes.base import Sample
from exporter.probes.http import MAX_RETRY_AFTER, _read_capped, client_failure, retry_after_seconds
from exporter.secrets import FileSecret, MissingSecret, Redactor, SecretSource

# Why a feed or a check is down. Exactly one is set while down; none while up.
REASONS: tuple[str, ...] = (
    "dns",  # the vendor's name did not resolve
    "connect",  # connection refused, reset or unreachable
    "tls",  # TLS handshake failed (untrusted, expired, wrong name)
    "timeout",  # no complete answer within the configured timeout
    "protocol",  # not a valid HTTP answer (the server closed the connection, bad headers)
    "http_status",  # an HTTP status that is neither success, 304, 401/403 nor 429
    "rate_limited",  # 429 (or Shopify's THROTTLED): the vendor is up but refused us for now
    "auth",  # 401/403: the token or service account was refused
    "not_json",  # the answer is HTML (an error or login page), not JSON
    "invalid_json",  # the answer is not valid JSON
    "truncated",  # the body ended early (connection cut, or a JSON document that stops short)
    "too_large",  # the body is larger than max_body_bytes
    "unknown_format",  # valid JSON, but not the provider's documented shape
    "api_error",  # the API answered with an error of its own (GraphQL errors, ...)
    "secret",  # a referenced environment variable or file is not available
    "credentials",  # the service account key file is not a usable key
    "dependency_missing",  # an optional library the check needs is not installed
    "internal",  # a bug in redline; logged
)

# A component's state: Statuspage's five words (every provider is mapped onto them), plus
# unknown (a word redline does not know) and missing (a configured component the page does
# not list: a renamed component must show, not pass as operational).
COMPONENT_STATES: tuple[str, ...] = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
    "unknown",
    "missing",
)
# The page's overall indicator (Statuspage's words) and an incident's impact share one scale.
INDICATORS: tuple[str, ...] = ("none", "minor", "major", "critical", "maintenance", "unknown")
IMPACTS: tuple[str, ...] = INDICATORS

# Worst last; used when two components share a name (under different groups) or several
# incidents touch one product. unknown ranks above operational: not knowing is no all-clear.
_COMPONENT_RANK = {
    s: i
    for i, s in enumerate(
        (
            "operational",
            "under_maintenance",
            "unknown",
            "degraded_performance",
            "partial_outage",
            "major_outage",
        )
    )
}
_IMPACT_RANK = {
    s: i for i, s in enumerate(("none", "maintenance", "unknown", "minor", "major", "critical"))
}
# The component state an open incident of each impact stands for (Google's feeds have no
# component states of their own, only incidents).
IMPACT_TO_STATE = {
    "none": "operational",
    "maintenance": "under_maintenance",
    "minor": "degraded_performance",
    "major": "partial_outage",
    "critical": "major_outage",
    "unknown": "unknown",
}


class VendorFailure(Exception):
    """A feed or check failed, with one of :data:`REASONS`. ``message`` is for operators (logs,
    ``redline`` traces): it never holds a secret, and is redacted again before it is shown.
    ``samples``, when set, are values the run still measured (Chatwoot's service states when the
    token is refused), served instead of the previous ones. ``retry_after`` is how long the
    vendor asked us to wait (429/503)."""

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        status: int = 0,
        retry_after: float = 0.0,
        samples: list[Sample] | None = None,
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown vendor failure reason {reason!r}")
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.samples = samples


class Clock(Protocol):
    """Wall time for timestamps, monotonic time for ages and intervals. Tests pass a fake to
    move time without waiting."""

    def time(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def norm(name: str) -> str:
    """How names are compared: stray whitespace trimmed (and runs of it collapsed), case ignored.
    Feeds are edited by hand: "Google Analytics " must still match."""
    return " ".join(name.split()).casefold()


def worse_state(a: str | None, b: str) -> str:
    if a is None:
        return b
    return a if _COMPONENT_RANK.get(a, 0) >= _COMPONENT_RANK.get(b, 0) else b


def worse_impact(a: str, b: str) -> str:
    return a if _IMPACT_RANK[a] >= _IMPACT_RANK[b] else b


@dataclass(frozen=True)
class Incident:
    impact: str  # one of IMPACTS
    # Normalised names of the components (products) it affects; empty when the feed does not say.
    components: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Snapshot:
    """One feed document, read into closed sets. Everything a scrape needs, and nothing else:
    no names of incidents, no free text."""

    provider: str
    indicator: str | None  # page-wide INDICATORS word; None when the format has none (Google)
    components: Mapping[str, str]  # normalised name -> COMPONENT_STATES word
    # The state of a configured component the document does not list: missing for pages that
    # list all their components, operational for incident feeds (no incident, no trouble).
    default_state: str = "missing"
    incidents: tuple[Incident, ...] = ()
    # The format says which components an incident affects (per-component counts make sense).
    incidents_name_components: bool = False
    # Only incidents touching a configured component count (Google's dashboards cover hundreds
    # of products that are not ours).
    incidents_scoped: bool = False
    maintenances: int | None = None  # active maintenances; None when the format has none
    unknown_words: frozenset[str] = frozenset()  # status words redline did not recognise

    def state_of(self, name: str) -> str:
        return self.components.get(norm(name), self.default_state)


class Reader:
    """Collects the words a format reader did not recognise, so they are logged (once each)
    instead of crashing or passing silently."""

    def __init__(self) -> None:
        self.unknown: set[str] = set()

    def word(self, value: Any, table: Mapping[str, str], fallback: str = "unknown") -> str:
        if isinstance(value, str) and value in table:
            return table[value]
        # bounded: a feed cannot grow the set (and the log) without limit
        if len(self.unknown) < 20:
            self.unknown.add(str(value)[:60] if value is not None else "null")
        return fallback


class FeedFormat(NamedTuple):
    """One feed format: where its document lives under a status page's base URL, whether a
    document is one of its own, and how to read it (``now`` is Unix time, for windows)."""

    name: str
    path: str
    looks_like: Callable[[Any], bool]
    parse: Callable[[Any, float], Snapshot]


def shape_error(provider: str, what: str) -> VendorFailure:
    return VendorFailure("unknown_format", f"not a {provider} document: {what}")


def items(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON array (anything else in it is skipped; a missing array is empty)."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    retry_after: float = 0.0  # seconds, from Retry-After on a 429/503


def parse_retry_after(value: str | None) -> float:
    """Retry-After as seconds, as the HTTP probe reads it, plus fractional delta-seconds:
    Shopify writes "2.0", which RFC 9110 does not allow but a vendor sends anyway."""
    try:
        seconds = float((value or "").strip())
    except ValueError:
        return retry_after_seconds(value)  # an HTTP date, or nothing
    return min(max(seconds, 0.0), MAX_RETRY_AFTER) if math.isfinite(seconds) else 0.0


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    shown_url: str,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    data: bytes | str | None = None,
    follow_redirects: bool = True,
) -> Answer:
    """One request, its body read under ``max_bytes`` (after decompression). Transport trouble
    raises :class:`VendorFailure`; any HTTP status is returned. ``shown_url`` is the URL as
    configured (``${VAR}`` unresolved): the only form of it a message may hold. The caller owns
    the timeout. Calls with credentials pass ``follow_redirects=False``: aiohttp would send a
    custom token header (X-Shopify-Access-Token, api_access_token) on to wherever a redirect
    points, and an API that redirects is answering wrongly anyway (http_status)."""
    try:
        async with session.request(
            method,
            url,
            headers=headers,
            data=data,
            allow_redirects=follow_redirects,
            max_redirects=5,
        ) as resp:
            retry_after = 0.0
            if resp.status in (429, 503):
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            declared = resp.content_length
            if declared is not None and declared > max_bytes:
                raise VendorFailure(
                    "too_large", f"{shown_url}: Content-Length {declared} > {max_bytes} bytes"
                )
            body = await _read_capped(resp.content, max_bytes + 1)
            if len(body) > max_bytes:
                raise VendorFailure("too_large", f"{shown_url}: body larger than {max_bytes} bytes")
            return Answer(resp.status, resp.headers, body, retry_after)
    except aiohttp.ClientError as e:
        raise _transport_failure(e, shown_url) from None


# The HTTP probe's reasons for what kept an answer from arriving, in the vendors' vocabulary.
_PROBE_REASON = {"dns": "dns", "connect": "connect", "tls": "tls", "redirect": "http_status"}


def _transport_failure(err: aiohttp.ClientError, shown_url: str) -> VendorFailure:
    if isinstance(err, aiohttp.ClientPayloadError):
        # Content-Length not reached, or a chunked body cut: the vendor's answer stopped short.
        return VendorFailure("truncated", f"{shown_url}: the body ended early")
    failure = client_failure(err, url=shown_url)  # the probes' mapping (aiohttp's classes nest)
    return VendorFailure(
        _PROBE_REASON.get(failure.reason, "protocol"), f"{shown_url}: {failure.message}"
    )


def parse_json(body: bytes, where: str) -> Any:
    """The body as JSON, telling HTML, a document cut short and other invalid JSON apart."""
    stripped = body.strip()
    if not stripped:
        raise VendorFailure("invalid_json", f"{where}: the body is empty")
    if stripped[:1] == b"<":
        # An error page, a login wall or a captcha from a CDN: the vendor's edge answered, the
        # feed did not.
        raise VendorFailure("not_json", f"{where}: the answer is HTML, not JSON")
    try:
        text = stripped.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise VendorFailure("invalid_json", f"{where}: the body is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text):
            raise VendorFailure(
                "truncated", f"{where}: the JSON document stops short ({e.msg} at the end)"
            ) from None
        # the position only: the body itself may hold anything
        raise VendorFailure(
            "invalid_json", f"{where}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except (RecursionError, ValueError) as e:
        raise VendorFailure(
            "invalid_json", f"{where}: not valid JSON ({type(e).__name__})"
        ) from None


def short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- checks -------------------------------------------------------------------------------------


@dataclass
class CheckContext:
    """What a check may use: the source's HTTP session, secrets, the redactor and the clock."""

    session: aiohttp.ClientSession
    secrets: SecretSource
    redactor: Redactor
    clock: Clock

    async def secret(self, value: str | FileSecret) -> str:
        """Resolve a template or secret file (read off the event loop); a missing one fails the
        check with reason secret."""
        try:
            if isinstance(value, FileSecret):
                return await asyncio.to_thread(self.secrets.resolve, value)
            return self.secrets.resolve(value)
        except MissingSecret as e:
            raise VendorFailure("secret", str(e)) from None


def raise_for_status(answer: Answer, shown_url: str) -> None:
    """The failure an API's non-success status stands for."""
    status = answer.status
    if 200 <= status < 300:
        return
    if status in (401, 403):
        raise VendorFailure("auth", f"{shown_url}: HTTP {status}: the credentials were refused")
    if status == 429:
        raise VendorFailure(
            "rate_limited",
            f"{shown_url}: HTTP 429, Retry-After {answer.retry_after:g}s",
            status=status,
            retry_after=answer.retry_after,
        )
    raise VendorFailure(
        "http_status", f"{shown_url}: HTTP {status}", status=status, retry_after=answer.retry_after
    )
