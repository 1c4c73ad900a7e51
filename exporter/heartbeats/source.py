"""The heartbeats source: ``POST /heartbeat/NAME`` (success), ``/heartbeat/NAME/start``,
``/heartbeat/NAME/fail`` and ``/heartbeat/NAME/EXIT_CODE`` (0 success, 1-255 failure), as
healthchecks.io's ping URLs, each with ``Authorization: Bearer TOKEN``.

A refused ping changes nothing: a wrong or missing token is a 401 (compared in constant time),
and so is an unknown name unless the caller holds the shared token (then a 404, as an unknown
action with a valid token is), so names cannot be enumerated; a body over ``max_body`` a 413, a
token whose secret cannot be read a 503. An accepted ping updates the state in memory at once
and is answered once that state is on disk (or after :data:`ACK_WAIT` if the disk is slow or the
save fails: the ping still counts). Saves are coalesced: pings arriving while a save runs share
the next one, and saves are at least :data:`MIN_SAVE_INTERVAL` apart, so a flood of pings costs
a few writes a second, never one per ping.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.config import Config
from exporter.families import Families as _Families
from exporter.heartbeats import schedule, state
from exporter.heartbeats.config import Heartbeat
from exporter.secrets import MissingSecret, Redactor, SecretSource
from exporter.sources import ClockedSource
from exporter.websecurity import bearer_authenticated

log = logging.getLogger("redline.heartbeats")

MIN_SAVE_INTERVAL = 0.25  # seconds between two saves: bounds the writes of a flood
ACK_WAIT = 5.0  # longest a ping waits for its save before it is answered anyway
RETRY_SAVE = 30.0  # how often a failed save is tried again with no new ping
CLOSE_WAIT = 10.0  # longest shutdown waits for a save in progress
REJECT_REASONS: tuple[str, ...] = ("unknown", "unauthorized", "too_large", "unavailable")


def ping_kind(action: str) -> state.Kind | None:
    """The kind of ping an URL's last segment means, None when it means nothing."""
    if action in ("", "success"):
        return "success"
    if action == "start":
        return "start"
    if action == "fail":
        return "failure"
    # an exit code, as `cmd; curl .../$?` sends it; 0-255 as a shell reports it
    if action.isdigit() and len(action) <= 3 and int(action) <= 255:
        return "success" if int(action) == 0 else "failure"
    return None


# What a ping to an unknown name is compared with when no shared token is available.
_NO_TOKEN = "\x00no heartbeat token"


def _same(given: str, expected: str) -> bool:
    """compare_digest takes as long whatever the difference, so timing reveals no prefix;
    comparing SHA-256 digests hides the token's length too, and surrogatepass encodes any
    header (aiohttp keeps bytes that are not UTF-8 as surrogates: no 500 for them)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(expected.encode("utf-8", "surrogatepass")).digest(),
    )


def _wrong_token() -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text="wrong or missing token\n", headers={"WWW-Authenticate": 'Bearer realm="redline"'}
    )


class HeartbeatSource(ClockedSource):
    name = "heartbeats"

    def __init__(
        self, config: Config, redactor: Redactor, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(config, redactor, clock=clock)
        self.secrets = SecretSource(redactor)
        self.states: dict[str, state.JobState] = {}
        self.store = state.StateStore(config.heartbeats.state_file)
        self.rejected = dict.fromkeys(REJECT_REASONS, 0)
        self._wake = asyncio.Event()
        self._saved: asyncio.Future[bool] | None = None  # resolved by the save that is next
        self._writer: asyncio.Task[None] | None = None
        self._dirty = False
        self._closing = False
        self.min_save_interval = MIN_SAVE_INTERVAL  # tests shorten it

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/heartbeat/{name}", self.handle_ping),
            web.post("/heartbeat/{name}/{action}", self.handle_ping),
        ]

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        loaded = await asyncio.to_thread(self.store.load)
        # pings taken before start (none in the app; possible in tests) win over the file
        self.states = {**loaded, **self.states}
        for name in self.states.keys() - {job.name for job in self.config.heartbeats.jobs}:
            log.info("heartbeat state: %s is no longer configured; its state is kept", name)
        self._writer = asyncio.create_task(self._write_loop(), name="heartbeats writer")

    async def reload(self, config: Config) -> None:
        self.config = config
        path = config.heartbeats.state_file
        if path != self.store.path:
            # the state in memory is the truth: it goes to the new file at once
            self.store = state.StateStore(path)
            self._request_save()

    async def close(self) -> None:
        # The writer is asked to stop rather than cancelled: a save cancelled in the loop
        # would go on in its thread and could land after the final one, older over newer.
        self._closing = True
        self._wake.set()
        if self._writer is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_WAIT)
            except TimeoutError:
                log.error("heartbeat state: a save is hanging; the last pings may be unsaved")
                return
            self._writer = None
        if self._dirty:
            await self._save_now()

    # --- pings ------------------------------------------------------------------------------------

    def _job(self, name: str) -> Heartbeat | None:
        for job in self.config.heartbeats.jobs:
            if job.name == name:
                return job
        return None

    def _token(self, job: Heartbeat) -> str:
        section = self.config.heartbeats
        if job.token is not None or job.token_file is not None:
            return self.secrets.resolve(job.token or job.token_file)
        return self.secrets.resolve(section.token or section.token_file)

    def _shared_token(self) -> str:
        section = self.config.heartbeats
        return self.secrets.resolve(section.token or section.token_file)

    def _reject(self, reason: str, error: web.HTTPException) -> web.HTTPException:
        """Count a refused ping; return the answer to raise."""
        self.rejected[reason] += 1
        return error

    @bearer_authenticated
    async def handle_ping(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        kind = ping_kind(request.match_info.get("action", ""))
        job = self._job(name)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        given = given.strip() if scheme.lower() == "bearer" else ""
        if job is None:
            # The token is checked before the name is judged: only a caller holding the shared
            # token learns that a name is unknown; anyone else gets the wrong-token answer,
            # after the same comparison, so names cannot be found by trying them.
            try:
                shared = self._shared_token()
            except MissingSecret:
                shared = ""
            if _same(given, shared or _NO_TOKEN) and shared:
                raise self._reject(
                    "unknown", web.HTTPNotFound(text=f"unknown heartbeat {name!r}\n")
                )
            raise self._reject("unauthorized", _wrong_token())
        try:
            expected = self._token(job)
            if not expected:
                # an empty variable or file would let an empty "Bearer " through
                raise MissingSecret("the token is empty")
        except MissingSecret as e:
            log.error("heartbeat %s: its token is not available: %s", name, e)
            raise self._reject(
                "unavailable",
                web.HTTPServiceUnavailable(text="the heartbeat's token is not available\n"),
            ) from None
        if not _same(given, expected) or not given:
            raise self._reject("unauthorized", _wrong_token())
        if kind is None:
            raise self._reject("unknown", web.HTTPNotFound(text="unknown action\n"))
        limit = self.config.heartbeats.max_body
        size = request.content_length
        if size is None or size <= limit:
            # a chunked body has no length: read until its end or one byte past the limit
            size = 0
            while size <= limit and (chunk := await request.content.read(limit + 1 - size)):
                size += len(chunk)
        if size > limit:
            raise self._reject(
                "too_large",
                web.HTTPRequestEntityTooLarge(
                    max_size=limit, actual_size=size, text=f"body over {limit} bytes\n"
                ),
            )
        self.ping(name, kind)
        saved = self._request_save()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(saved), ACK_WAIT)
        return web.Response(text="OK\n")

    def ping(self, name: str, kind: state.Kind) -> None:
        """Apply an accepted ping (the HTTP handler's last step; tests call it directly)."""
        self.states.setdefault(name, state.JobState()).apply(kind, self.clock())

    # --- saving -----------------------------------------------------------------------------------

    def _request_save(self) -> asyncio.Future[bool]:
        self._dirty = True
        if self._saved is None or self._saved.done():
            self._saved = asyncio.get_running_loop().create_future()
        self._wake.set()
        return self._saved

    async def _save_now(self) -> bool:
        saved, self._saved = self._saved, None
        self._dirty = False
        data = state.encode(self.states)  # taken now, in the loop: no ping lands half-way
        ok = await asyncio.to_thread(self.store.save, data, self.clock())
        if not ok:
            self._dirty = True  # kept in memory; the writer tries again
        if saved is not None and not saved.done():
            saved.set_result(ok)
        return ok

    async def _write_loop(self) -> None:
        while not self._closing:
            if self._dirty and self.store.status == "unwritable":
                # retry a failed save now and then, so fixing the disk needs no new ping
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), RETRY_SAVE)
            else:
                await self._wake.wait()
            self._wake.clear()
            if self._dirty:
                try:
                    await self._save_now()
                except Exception:
                    log.exception("heartbeat state: save failed unexpectedly")
            if not self._closing:
                await asyncio.sleep(self.min_save_interval)

    # --- scrape -----------------------------------------------------------------------------------

    def verdicts(self) -> list[tuple[Heartbeat, state.JobState, schedule.Verdict]]:
        """Each configured job, a copy of its state, and its status now (for the status page;
        computed from the state in memory, no I/O)."""
        now = self.clock()
        out = []
        for job in self.config.heartbeats.jobs:
            st = dataclasses.replace(self.states.get(job.name) or state.JobState())
            out.append((job, st, schedule.evaluate(job, st, now)))
        return out

    async def collect(self, deadline: float) -> list[Family]:
        out = _Families()
        now = self.clock()
        if not self.config.heartbeats.jobs:
            return []  # heartbeats unused: no series about a state file nobody configured
        for job in self.config.heartbeats.jobs:
            labels = {"heartbeat": job.name}
            st = self.states.get(job.name) or state.JobState()
            verdict = schedule.evaluate(job, st, now)
            for status in schedule.STATUSES:
                out.set(
                    m.HEARTBEAT_STATUS,
                    1.0 if status == verdict.status else 0.0,
                    **labels,
                    status=status,
                )
            out.set(m.HEARTBEAT_GRACE, job.grace, **labels)
            if verdict.due is not None:
                out.set(m.HEARTBEAT_NEXT_DUE, verdict.due, **labels)
            if st.last_success is not None:
                out.set(m.HEARTBEAT_LAST_SUCCESS, st.last_success, **labels)
            if st.last_failure is not None:
                out.set(m.HEARTBEAT_LAST_FAILURE, st.last_failure, **labels)
            if st.last_duration is not None:
                out.set(m.HEARTBEAT_LAST_DURATION, st.last_duration, **labels)
            out.set(m.HEARTBEAT_SUCCESSES, st.successes, **labels)
            out.set(m.HEARTBEAT_FAILURES, st.failures, **labels)
        for reason, count in self.rejected.items():
            out.set(m.HEARTBEAT_REJECTED, count, reason=reason)
        for status in state.FILE_STATUSES:
            out.set(
                m.HEARTBEAT_STATE_FILE_STATUS,
                1.0 if status == self.store.status else 0.0,
                status=status,
            )
        if self.store.last_save is not None:
            out.set(m.HEARTBEAT_STATE_LAST_SAVE, self.store.last_save)
        return out.families()
