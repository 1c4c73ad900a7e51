"""``POST /ingest/{source}``: NDJSON batches from log shippers (Vector's ``http`` sink, the Fly log
shipper), one JSON record a line.

Order of checks, so that nothing is counted from a request that is refused:

1. ``Authorization: Bearer <token>`` must match the token of a configured ``kind: ingest``
   source of that name, compared in constant time (else 401). An unknown name gets the very
   same 401, after a comparison of the same cost, and is counted nowhere (the name in the URL
   is not trusted to become a label): names cannot be found by trying them. A token that
   cannot be resolved (variable unset, file unreadable) is a 503;
2. the body (after any ``Content-Encoding``, which aiohttp undoes) must fit ``max_body``
   (else 413): it is read whole, up to that limit, before any line is counted;
3. a body that is not what its ``Content-Encoding`` says (plain text sent as gzip) is a 400
   naming the encoding, not a 5xx a shipper would retry for ever;
4. every line is then counted: a line that is not a JSON object is a parse error (``format``).

The answer is 200 with ``{"lines": N, "parse_errors": N, "dropped": N}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass

from aiohttp import web

from exporter.logs.config import LogSource
from exporter.logs.counters import LogState
from exporter.logs.pipeline import Pipeline
from exporter.logs.tail import LineSplitter
from exporter.secrets import MissingSecret, SecretSource
from exporter.websecurity import bearer_authenticated

log = logging.getLogger("redline.logs.ingest")

# Bodies up to this size are counted on the event loop; larger ones in a thread, so a 10 MB
# batch does not hold up scrapes for the 100 ms its parsing takes.
INLINE_BYTES = 64 * 1024
# What a request to an unknown source is compared with (it matches no token anyone can send).
_UNKNOWN = "\x00unknown ingest source"


@dataclass(frozen=True)
class IngestTarget:
    spec: LogSource
    pipeline: Pipeline


def _unauthorized() -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text="a valid bearer token is required\n",
        headers={"WWW-Authenticate": 'Bearer realm="redline ingest"'},
    )


def _digest(token: str) -> bytes:
    # Comparing digests, not the tokens, keeps compare_digest's time independent of the
    # token's length too.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class IngestEndpoint:
    def __init__(self, state: LogState, secrets: SecretSource) -> None:
        self.state = state
        self.secrets = secrets
        self.targets: dict[str, IngestTarget] = {}  # replaced whole on reload

    def routes(self) -> list[web.RouteDef]:
        return [web.post("/ingest/{source}", self.handle)]

    def _authorized(self, request: web.Request, expected: str) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        given = token.strip() if scheme.lower() == "bearer" else ""
        # always compare, so a missing header takes as long as a wrong one
        same = hmac.compare_digest(_digest(given), _digest(expected))
        return same and bool(given)

    @bearer_authenticated
    async def handle(self, request: web.Request) -> web.Response:
        name = request.match_info["source"]
        target = self.targets.get(name)
        if target is None:
            self._authorized(request, _UNKNOWN)  # the same work as for a known name
            raise _unauthorized()
        spec = target.spec
        try:
            expected = self.secrets.resolve(spec.bearer_token or spec.bearer_token_file)
        except MissingSecret as e:
            self.state.add("ingest", (name, "503"))
            log.error("ingest source %s: its token is unavailable: %s", name, e)
            raise web.HTTPServiceUnavailable(text="the ingest token is not available\n") from None
        if not expected or not self._authorized(request, expected):
            self.state.add("ingest", (name, "401"))
            raise _unauthorized()

        limit = spec.max_body
        if request.content_length is not None and request.content_length > limit:
            return self._too_large(name, limit)
        body = bytearray()
        try:
            async for chunk in request.content.iter_any():
                body += chunk
                if len(body) > limit:
                    return self._too_large(name, limit)
        except web.RequestPayloadError as e:
            # aiohttp could not undo the Content-Encoding: the shipper's setting is wrong
            encoding = request.headers.get("Content-Encoding", "")
            self.state.add("ingest", (name, "400"))
            log.warning(
                "ingest source %s: a body sent as Content-Encoding %s is not (%s)",
                name,
                encoding,
                e.__cause__ or e,
            )
            response = web.Response(
                status=400,
                text=f"the body is not valid {encoding} data, yet its Content-Encoding "
                f"{encoding} says it is: send it uncompressed, or compress it\n",
            )
            # The rest of a broken stream is not read: the connection closes after the answer,
            # and the body counts as ended so aiohttp does not try to drain it (and fail).
            response.force_close()
            request.content.feed_eof()
            return response

        if len(body) > INLINE_BYTES:
            lines, dropped, parse_errors = await asyncio.to_thread(self._count, target, bytes(body))
        else:
            lines, dropped, parse_errors = self._count(target, bytes(body))
        self.state.add("bytes_read", name, len(body))
        self.state.add("ingest", (name, "200"))
        return web.json_response({"lines": lines, "parse_errors": parse_errors, "dropped": dropped})

    def _too_large(self, name: str, limit: int) -> web.Response:
        self.state.add("ingest", (name, "413"))
        # The unread rest of the body is not drained: the connection is closed instead.
        response = web.Response(
            status=413, text=f"the body is over this source's max_body of {limit} bytes\n"
        )
        response.force_close()
        return response

    @staticmethod
    def _count(target: IngestTarget, body: bytes) -> tuple[int, int, int]:
        splitter = LineSplitter(target.spec.max_line)
        lines, too_long = splitter.push(body)
        last, _ = splitter.finish()  # a body is complete: its last line needs no newline
        lines.extend(last)
        tally = target.pipeline.feed(lines)
        if too_long:
            target.pipeline.state.add("dropped", (target.spec.name, "too_long"), too_long)
        return tally.total, too_long, sum(tally.parse_errors.values())
