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
pay bcrypt once. bcrypt runs in a thread, one at a time, so a flood of wrong passwords uses one
core at most and never blocks the event loop. User names are compared in constant time and an
unknown user costs a bcrypt check like a known one, so timing does not tell which users exist.

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
import secrets
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import bcrypt
from aiohttp import hdrs, web

from exporter.webconfig import LoadedWebConfig

log = logging.getLogger("redline.websecurity")

DEFAULT_READ_TIMEOUT = 30.0  # seconds; --web.read-timeout
CACHE_SIZE = 100  # verified credentials remembered (the exporter-toolkit keeps 100 too)
BCRYPT_MAX_BYTES = 72  # bcrypt reads no further; Go's bcrypt and htpasswd ignore the rest too
CHALLENGE = 'Basic realm="redline", charset="UTF-8"'
TOKEN_AUTH_ATTR = "redline_bearer_authenticated"

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


class BasicAuth:
    """Checks basic credentials against bcrypt hashes, with a bounded cache of outcomes."""

    def __init__(self, users: Mapping[str, bytes], cache_size: int = CACHE_SIZE) -> None:
        if not users:
            raise ValueError("no users")
        self._users = [(hashlib.sha256(_bytes(u)).digest(), h) for u, h in users.items()]
        # An unknown user is checked against this hash, at the highest cost in use, so it takes
        # as long as a known one. Its password is random and thrown away: nothing matches it.
        cost = max(int(h[4:6]) for h in users.values())
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(cost))
        self._key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, bool] = OrderedDict()
        self._cache_size = cache_size
        self._lock = asyncio.Lock()  # one bcrypt check at a time
        self.bcrypt_checks = 0  # for tests: how many times bcrypt actually ran

    def _lookup(self, user: str) -> tuple[bytes, bool]:
        given = hashlib.sha256(_bytes(user)).digest()
        found: bytes | None = None
        for digest, hashed in self._users:
            # every user is compared, found or not, so the time does not depend on which matched
            if hmac.compare_digest(given, digest) and found is None:
                found = hashed
        return (found, True) if found is not None else (self._dummy, False)

    def _cache_key(self, user: str, hashed: bytes, password: str) -> bytes:
        # JSON keeps the parts apart whatever they contain; the HMAC keeps the password out.
        parts = json.dumps([user, hashed.decode("ascii"), password]).encode("ascii")
        return hmac.new(self._key, parts, hashlib.sha256).digest()

    def _remember(self, key: bytes, ok: bool) -> None:
        self._cache[key] = ok
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def check(self, header: str | None) -> bool:
        """True if ``header`` carries the credentials of a configured user."""
        credentials = parse_basic(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed, known = self._lookup(user)
        key = self._cache_key(user, hashed, password)
        ok = self._cache.get(key)
        if ok is None:
            async with self._lock:
                ok = self._cache.get(key)  # a concurrent request may have checked it meanwhile
                if ok is None:
                    self.bcrypt_checks += 1
                    ok = await asyncio.to_thread(_checkpw, _bytes(password), hashed)
                    ok = ok and known
                    self._remember(key, ok)
        else:
            self._cache.move_to_end(key)
        return ok and known


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
        if self.headers:
            app.on_response_prepare.append(self._add_headers)

    async def _add_headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)

    def _middleware(self) -> Any:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            if (
                self.auth is not None
                and not _presents_own_token(request)
                and not await self.auth.check(request.headers.get(hdrs.AUTHORIZATION))
            ):
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
