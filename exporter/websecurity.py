"""What keeps the exporter's web server safe on an open network: basic auth on every endpoint,
TLS, and bounds on how long a client may take to send its request.

**Basic auth** (``basic_auth_users`` of the web config, see exporter/webconfig.py) guards every
endpoint, as the exporter-toolkit does: ``/metrics``, ``/probe``, ``/status``, ``/-/reload``,
``/-/healthy``, ``/-/ready``, the landing page and unknown paths alike (an unauthenticated client
learns nothing, not even which paths exist). A request without valid credentials is answered
401 with ``WWW-Authenticate: Basic``. One exception: the push endpoints that check a bearer token
of their own (heartbeats, log ingest, marked with :func:`bearer_authenticated`) take that token
instead, because a client can send only one ``Authorization`` header; a request to them without
a bearer token still needs basic credentials.

Verifying a bcrypt hash costs tens to hundreds of milliseconds of CPU, so, as the
exporter-toolkit does, verified credentials are cached (keyed by an HMAC of the user, hash and
password under a per-process random key, so the cache holds no password) and Prometheus's scrapes
pay bcrypt once. Only successes are cached: wrong passwords cannot evict Prometheus's entry, so
a flood of them never sends its scrapes back to bcrypt. A check that misses the cache runs on a
pool of one thread per core, never on the event loop, and is rationed: each client address gets
a burst of ``CLIENT_BURST`` checks, then ``CLIENT_RATE`` per second, and no more than
``PENDING_PER_WORKER`` checks per thread wait at once; a request over either limit is answered
``429`` without a check, after ``RATIONED_DELAY`` (so a guessing connection cannot make the
event loop refuse requests as fast as it can). A flood therefore costs the pool its share of one
address at most, while another client (Prometheus) is checked at once, and a client already
verified is never slowed. Every refusal is counted in
``redline_web_auth_failures_total{reason}`` and summed up in one warning line per ``LOG_EVERY``
seconds at most.

Timing tells nothing about users: names are compared in constant time, an unknown user is
checked against a dummy hash of the highest cost in use, and every check that misses the cache
answers no sooner than a check at that highest cost took at start, so users whose hashes have
different costs answer alike.

**Slow clients.** aiohttp's keep-alive timer starts when a connection opens and again after each
answer, and is not pushed back by incoming bytes: a client that has not sent a complete request
head within the read timeout is disconnected, however slowly it trickles bytes. A request body
must likewise have arrived within the read timeout of the handler starting; otherwise the
connection is closed. Request heads are bounded by aiohttp (8 KiB lines and fields, 128 headers),
bodies by each endpoint's own limit.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import ssl
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import bcrypt
from aiohttp import hdrs, web

from exporter import selfmetrics
from exporter.webconfig import LoadedWebConfig

log = logging.getLogger("redline.websecurity")

DEFAULT_READ_TIMEOUT = 30.0  # seconds; --web.read-timeout
CACHE_SIZE = 100  # verified credentials remembered (the exporter-toolkit keeps 100 too)
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; Go's bcrypt and htpasswd ignore the rest too
CHALLENGE = 'Basic realm="redline", charset="UTF-8"'
TOKEN_AUTH_ATTR = "redline_bearer_authenticated"
# Password checks a client address may have run at once, then per second. A person mistyping
# a password, or Prometheus after a restart, needs one or two; a guesser needs thousands.
CLIENT_BURST = 5
CLIENT_RATE = 1.0
CLIENTS_TRACKED = 4096  # addresses remembered by the rationing (the least recent are forgotten)
PENDING_PER_WORKER = 4  # checks waiting per pool thread before new ones are refused
LOG_EVERY = 10.0  # seconds between two warning lines about failed attempts
# A rationed request is answered after this long, on its kept-alive connection: a guesser's
# connection then sends one request per RATIONED_DELAY instead of as many as the event loop
# can refuse, which would slow every other client's answers. Waiting costs a sleeping task.
RATIONED_DELAY = 2.0
REASONS = ("missing", "malformed", "unknown_user", "wrong_password", "rate_limited")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Any])


def bearer_authenticated(handler: H) -> H:
    """Mark a handler that checks a bearer token itself, in constant time: with basic auth on,
    a request carrying ``Authorization: Bearer ...`` reaches it without basic credentials."""
    setattr(handler, TOKEN_AUTH_ATTR, True)
    return handler


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header, None if it is not one."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password[:BCRYPT_MAX_BYTES], hashed)
    except ValueError:  # a hash bcrypt cannot read (the web config checks their form)
        return False


@dataclass(frozen=True)
class AuthResult:
    ok: bool
    reason: str = ""  # one of REASONS when not ok
    user: str | None = None  # the configured user named, if one was (never an unknown name)


class ClientLimiter:
    """A token bucket per client address: ``burst`` checks, refilled at ``rate`` per second.
    Bounded in memory: beyond ``max_clients`` addresses the least recently seen are forgotten
    (a forgotten address starts again with a full bucket, which costs the pool little)."""

    def __init__(
        self,
        burst: float = CLIENT_BURST,
        rate: float = CLIENT_RATE,
        max_clients: int = CLIENTS_TRACKED,
    ) -> None:
        self.burst, self.rate, self.max_clients = burst, rate, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when

    def take(self, client: str, now: float) -> bool:
        tokens, then = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return allowed

    def give_back(self, client: str) -> None:
        """A check that succeeded costs its client nothing."""
        if client in self._buckets:
            tokens, then = self._buckets[client]
            self._buckets[client] = (min(self.burst, tokens + 1), then)


class _FailureLog:
    """One warning line per ``LOG_EVERY`` seconds at most, summing up the refusals since the
    previous line (a flood must not flood the log as well). Missing credentials are a
    client's normal first try and are counted in the metric only."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._last = float("-inf")
        self._since = 0.0

    def note(self, result: AuthResult, client: str, now: float) -> None:
        if result.reason == "missing":
            return
        if not self._counts:
            self._since = now
        self._counts[result.reason] += 1
        if now - self._last < LOG_EVERY:
            return
        total = sum(self._counts.values())
        by_reason = ", ".join(f"{r} {self._counts[r]}" for r in REASONS if self._counts[r])
        who = f"user {result.user!r}" if result.user else "no configured user"
        log.warning(
            "failed basic auth: %d attempt(s) in the last %.0fs (%s); the last from %s, %s",
            total,
            now - self._since,
            by_reason,
            client or "an unknown address",
            who,
        )
        self._counts.clear()
        self._last = now


class BasicAuth:
    """Checks basic credentials against bcrypt hashes: a bounded cache of successes, a pool of
    one thread per core, per-client rationing of the checks that miss the cache."""

    def __init__(
        self,
        users: Mapping[str, bytes],
        cache_size: int = CACHE_SIZE,
        *,
        workers: int | None = None,
        limiter: ClientLimiter | None = None,
    ) -> None:
        if not users:
            raise ValueError("no users")
        self._users = [(hashlib.sha256(_bytes(u)).digest(), u, h) for u, h in users.items()]
        # An unknown user is checked against this hash, at the highest cost in use, so it takes
        # as long as a known one. Its password is random and thrown away: nothing matches it.
        cost = max(int(h[4:6]) for h in users.values())
        started = time.perf_counter()
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
        first = time.perf_counter() - started
        started = time.perf_counter()
        _checkpw(b"", self._dummy)
        # Every check that misses the cache answers no sooner than this: a cheaper hash (or an
        # unknown user) is not told apart by its time. The faster of two runs, in case the
        # machine was busy for one.
        self._floor = min(first, time.perf_counter() - started)
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, None] = OrderedDict()  # successes only
        self._cache_size = cache_size
        workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="redline-bcrypt")
        self._max_pending = workers * PENDING_PER_WORKER
        self._pending = 0
        self._inflight: dict[bytes, asyncio.Future[bool]] = {}
        self.limiter = limiter or ClientLimiter()
        self._failures = _FailureLog()
        self.bcrypt_checks = 0  # for tests: how many times bcrypt actually ran

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _lookup(self, user: str) -> tuple[bytes, str | None]:
        given = hashlib.sha256(_bytes(user)).digest()
        found: tuple[bytes, str] | None = None
        for digest, name, hashed in self._users:
            # every user is compared, found or not, so the time does not depend on which matched
            if hmac.compare_digest(given, digest) and found is None:
                found = (hashed, name)
        return found if found is not None else (self._dummy, None)

    def _cache_key(self, user: str, hashed: bytes, password: str) -> bytes:
        # JSON keeps the parts apart whatever they contain; the HMAC keeps the password out.
        parts = json.dumps([user, hashed.decode("ascii"), password]).encode("ascii")
        return hmac.new(self._key, parts, hashlib.sha256).digest()

    def _remember(self, key: bytes) -> None:
        self._cache[key] = None
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def check(self, header: str | None, client: str = "") -> AuthResult:
        """Whether ``header`` carries the credentials of a configured user; ``client`` (the
        peer's address) is what the rationing of checks is kept by."""
        result = await self._check(header, client)
        if not result.ok:
            selfmetrics.WEB_AUTH_FAILURES.labels(result.reason).inc()
            self._failures.note(result, client, time.monotonic())
        return result

    async def _check(self, header: str | None, client: str) -> AuthResult:
        credentials = parse_basic(header)
        if credentials is None:
            return AuthResult(False, "malformed" if header else "missing")
        user, password = credentials
        hashed, known = self._lookup(user)
        key = self._cache_key(user, hashed, password)
        if key in self._cache:
            self._cache.move_to_end(key)
            return AuthResult(True, user=known)
        if self._pending >= self._max_pending or not self.limiter.take(client, time.monotonic()):
            return AuthResult(False, "rate_limited", known)
        ok = await self._verify(key, _bytes(password), hashed)
        if known is None:
            return AuthResult(False, "unknown_user")
        if not ok:
            return AuthResult(False, "wrong_password", known)
        self._remember(key)
        self.limiter.give_back(client)
        return AuthResult(True, user=known)

    async def _verify(self, key: bytes, password: bytes, hashed: bytes) -> bool:
        running = self._inflight.get(key)  # the same credentials being checked: share it
        if running is None:
            running = asyncio.ensure_future(self._run(password, hashed))
            self._inflight[key] = running
            running.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(running)

    async def _run(self, password: bytes, hashed: bytes) -> bool:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self._pending += 1
        try:
            self.bcrypt_checks += 1
            ok = await loop.run_in_executor(self._pool, _checkpw, password, hashed)
        finally:
            self._pending -= 1
        rest = self._floor - (loop.time() - started)
        if rest > 0:
            await asyncio.sleep(rest)  # waits without a thread or a pending slot
        return ok


class WebSecurity:
    """The web server's security settings: basic auth, TLS, response headers, read timeout.
    ``WebSecurity()`` (no web config) has no auth and no TLS but still bounds slow clients."""

    def __init__(
        self,
        web_config: LoadedWebConfig | None = None,
        *,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        if read_timeout <= 0:
            raise ValueError("read_timeout must be more than 0")
        self.web_config = web_config
        self.read_timeout = read_timeout
        self.ssl_context: ssl.SSLContext | None = None
        self.auth: BasicAuth | None = None
        self.headers: dict[str, str] = {}
        if web_config is not None:
            self.ssl_context = web_config.ssl_context
            if web_config.users:
                self.auth = BasicAuth(web_config.users)
            self.headers = dict(web_config.config.http_server_config.headers)

    def install(self, app: web.Application) -> None:
        """Put the guard first among the app's middlewares and add the configured headers."""
        app[SECURITY] = self
        app.middlewares.insert(0, self._middleware())
        if self.auth is not None:
            auth = self.auth

            async def close_pool(app: web.Application) -> None:
                auth.close()

            app.on_cleanup.append(close_pool)
        if self.headers:
            app.on_response_prepare.append(self._add_headers)

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)

    def _middleware(self) -> Any:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if self.auth is not None and not _presents_own_token(request):
                result = await self.auth.check(
                    request.headers.get(hdrs.AUTHORIZATION), request.remote or ""
                )
                if result.reason == "rate_limited":
                    await asyncio.sleep(RATIONED_DELAY)
                    raise web.HTTPTooManyRequests(
                        text="Too many password checks from this address: retry later\n",
                        headers={hdrs.RETRY_AFTER: str(int(1 / CLIENT_RATE) or 1)},
                    )
                if not result.ok:
                    raise web.HTTPUnauthorized(
                        text="Unauthorized\n", headers={hdrs.WWW_AUTHENTICATE: CHALLENGE}
                    )
            if not request.body_exists:
                return await handler(request)
            # The body must have arrived within the read timeout: a client trickling it
            # byte by byte is disconnected (the handler's read then fails).
            timer = asyncio.get_running_loop().call_later(
                self.read_timeout, _body_overdue, request, self.read_timeout
            )
            try:
                return await handler(request)
            except ConnectionResetError:
                if request.transport is None or request.transport.is_closing():
                    # answered to nobody: the connection is gone (overdue, or the client left)
                    raise web.HTTPRequestTimeout() from None
                raise
            finally:
                timer.cancel()

        return guard


SECURITY = web.AppKey("web_security", WebSecurity)


def _presents_own_token(request: web.Request) -> bool:
    handler = request.match_info.handler
    if not getattr(handler, TOKEN_AUTH_ATTR, False):
        return False
    scheme = request.headers.get(hdrs.AUTHORIZATION, "").strip().partition(" ")[0]
    return scheme.lower() == "bearer"


def _body_overdue(request: web.Request, timeout: float) -> None:
    if request.content.is_eof():
        return  # the body arrived; the handler is merely slow (a reload, a disk write)
    log.debug("closing a connection whose request body did not arrive within %gs", timeout)
    transport = request.transport
    if transport is not None:
        transport.close()
