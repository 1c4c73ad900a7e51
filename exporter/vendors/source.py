"""The vendors source: background fetches of status feeds and vendor API checks, each at its own
interval, and a ``collect`` that only renders what they last found.

Why in the background: feeds and vendor APIs are rate-limited and sometimes slow; a scrape must
never wait on them nor multiply their traffic by the number of Prometheus servers. Each feed and
check has one task that sleeps until its next due time, fetches under its own timeout, and stores
the outcome. A scrape renders that state with its age.

Feeds:

* Conditional requests: the ``ETag`` and ``Last-Modified`` of the last good answer are sent back
  (``If-None-Match``, ``If-Modified-Since``). A ``304 Not Modified`` is a success that confirms the
  copy held: the data age goes back to 0, as it would for a 200 with the same body (the age says
  how long ago the vendor last vouched for what is served, not when the page last changed).
* ``429`` (and ``503``) with ``Retry-After``: the next fetch waits at least that long (capped at
  an hour, as the HTTP probe does), else the interval.
* A failed fetch keeps the last good data: it is still served, its age growing, while up is 0
  and the reason says why.
* A feed configured with a status page's base URL and provider ``auto`` tries each provider's
  path until one answers with a document redline recognises, remembers it, and looks again when
  it stops answering (404/410) or answers another format: a page that moves keeps being read.

Series exist from a feed's or check's first finished attempt on (a restart does not report
every vendor down for the second the first fetches take).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.config import Config
from exporter.families import Families as _Families
from exporter.probes.base import Sample, new_session
from exporter.secrets import MissingSecret, Redactor, SecretSource
from exporter.sources import Source
from exporter.vendors.chatwoot import ChatwootRunner
from exporter.vendors.common import (
    COMPONENT_STATES,
    IMPACTS,
    INDICATORS,
    REASONS,
    CheckContext,
    Clock,
    Snapshot,
    SystemClock,
    VendorFailure,
    norm,
    parse_json,
    request,
)
from exporter.vendors.config import (
    ChatwootCheck,
    Feed,
    GoogleAnalyticsCheck,
    ShopifyCheck,
    check_kind,
)
from exporter.vendors.detect import DISCOVERY_ORDER, FORMATS, detect
from exporter.vendors.google_analytics import GoogleAnalyticsRunner
from exporter.vendors.shopify import ShopifyRunner

log = logging.getLogger("redline.vendors")

# Bodies larger than this are parsed in a worker thread: Google's incidents.json is megabytes,
# and json.loads of it would hold the event loop (and every scrape) for tens of milliseconds.
PARSE_IN_THREAD = 256 * 1024

AnyCheck = ShopifyCheck | ChatwootCheck | GoogleAnalyticsCheck


class Runner(Protocol):
    async def run(self, ctx: CheckContext) -> list[Sample]: ...


def make_runner(check: AnyCheck) -> Runner:
    """The runner of each check kind (one file per kind)."""
    if isinstance(check, ShopifyCheck):
        return ShopifyRunner(check)
    if isinstance(check, ChatwootCheck):
        return ChatwootRunner(check)
    return GoogleAnalyticsRunner(check)


@dataclass
class Outcome:
    """What the attempts of a feed or check found. ``*_at``: Unix time; ``*_mono``: monotonic."""

    attempted_at: float | None = None  # when the last attempt finished (None: none yet)
    duration: float = 0.0
    reason: str | None = None  # one of REASONS while down
    message: str = ""
    data_mono: float | None = None  # when the data served was last fetched or confirmed
    next_due: float = 0.0  # monotonic; 0: now


@dataclass
class FeedState(Outcome):
    snapshot: Snapshot | None = None
    url: str | None = None  # the URL the snapshot came from (resolved, never shown)
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class CheckState(Outcome):
    samples: list[Sample] = field(default_factory=list)


@dataclass
class FeedJob:
    cfg: Feed
    state: FeedState = field(default_factory=FeedState)

    @property
    def label(self) -> dict[str, str]:
        return {"feed": self.cfg.name}


@dataclass
class CheckJob:
    cfg: AnyCheck
    runner: Runner
    state: CheckState = field(default_factory=CheckState)

    @property
    def label(self) -> dict[str, str]:
        return {"check": self.cfg.name}


def _same_feed(a: Feed, b: Feed) -> bool:
    """Whether a reloaded feed still fetches the same document (its state then carries over;
    the component filter and the timings may change freely)."""
    return (a.url, a.provider) == (b.url, b.provider)


def _same_check(a: AnyCheck, b: AnyCheck) -> bool:
    timings = {"interval": 0.0, "timeout": 0.0}
    return type(a) is type(b) and a.model_copy(update=timings) == b.model_copy(update=timings)


class VendorSource(Source):
    """``clock`` and ``env`` are for tests (time moved by hand, secrets without the process
    environment); ``background=False`` starts no tasks, and a test calls :meth:`run_due`."""

    name = "vendors"

    def __init__(
        self,
        config: Config,
        redactor: Redactor,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        background: bool = True,
    ) -> None:
        super().__init__(config, redactor)
        self.clock: Clock = clock or SystemClock()
        self.secrets = SecretSource(redactor, env)
        self.background = background
        self.feeds: dict[str, FeedJob] = {}
        self.checks: dict[str, CheckJob] = {}
        # (kind, name) -> the job a task runs, and the task
        self._tasks: dict[tuple[str, str], tuple[FeedJob | CheckJob, asyncio.Task[None]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._logged_words: set[tuple[str, str]] = set()
        self._adopt(config)

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = new_session()
        self._spawn()

    async def reload(self, config: Config) -> None:
        self.config = config
        self._adopt(config)
        self._spawn()

    async def close(self) -> None:
        tasks = [task for _, task in self._tasks.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _adopt(self, config: Config) -> None:
        """Take the jobs of ``config``, keeping the state of those that fetch the same thing."""
        feeds: dict[str, FeedJob] = {}
        for cfg in config.vendors.feeds:
            old_feed = self.feeds.get(cfg.name)
            if old_feed is not None and _same_feed(old_feed.cfg, cfg):
                old_feed.cfg = cfg  # the running task reads cfg afresh each round
                feeds[cfg.name] = old_feed
            else:
                feeds[cfg.name] = FeedJob(cfg)
        checks: dict[str, CheckJob] = {}
        for check in config.vendors.checks.all():
            old_check = self.checks.get(check.name)
            if old_check is not None and _same_check(old_check.cfg, check):
                old_check.cfg = check
                checks[check.name] = old_check
            else:
                checks[check.name] = CheckJob(check, make_runner(check))
        self.feeds, self.checks = feeds, checks

    def _spawn(self) -> None:
        """One task per job; tasks of jobs no longer configured (or replaced) are cancelled."""
        if self._session is None or not self.background:
            return
        wanted: dict[tuple[str, str], FeedJob | CheckJob] = {
            **{("feed", name): job for name, job in self.feeds.items()},
            **{("check", name): job for name, job in self.checks.items()},
        }
        for key, (job, task) in list(self._tasks.items()):
            if wanted.get(key) is not job:
                task.cancel()
                del self._tasks[key]
        for key, job in wanted.items():
            if key not in self._tasks:
                task = asyncio.get_running_loop().create_task(
                    self._loop(job), name=f"redline vendors {key[0]} {key[1]}"
                )
                self._tasks[key] = (job, task)

    async def _loop(self, job: FeedJob | CheckJob) -> None:
        while True:
            delay = job.state.next_due - self.clock.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            await self._run(job)

    async def run_due(self) -> None:
        """Run every job that is due now, concurrently (what the tasks do, one round, for tests
        that move a fake clock)."""
        if self._session is None:
            raise RuntimeError("start() the source first")
        now = self.clock.monotonic()
        jobs: list[FeedJob | CheckJob] = [*self.feeds.values(), *self.checks.values()]
        due = [job for job in jobs if job.state.next_due <= now]
        await asyncio.gather(*(self._run(job) for job in due))

    # --- one attempt ----------------------------------------------------------------------------

    async def _run(self, job: FeedJob | CheckJob) -> None:
        cfg = job.cfg
        state = job.state
        started_mono = self.clock.monotonic()
        started = time.perf_counter()
        failure: VendorFailure | None = None
        try:
            async with asyncio.timeout(cfg.timeout):
                if isinstance(job, FeedJob):
                    await self._fetch_feed(job)
                else:
                    await self._run_check(job)
        except VendorFailure as e:
            failure = e
        except TimeoutError:
            failure = VendorFailure("timeout", f"no complete answer within {cfg.timeout:g}s")
        except MissingSecret as e:
            failure = VendorFailure("secret", str(e))
        except Exception as e:  # a bug in redline must not stop the task
            failure = VendorFailure("internal", f"internal error: {type(e).__name__}: {e}")
            log.error(
                "vendor %s raised unexpectedly: %s", cfg.name, self.redactor.redact(failure.message)
            )
        now_mono = self.clock.monotonic()
        retry_after = failure.retry_after if failure is not None else 0.0
        state.next_due = max(started_mono + cfg.interval, now_mono + retry_after)
        state.duration = time.perf_counter() - started
        state.attempted_at = self.clock.time()
        self._record(job, failure, now_mono)

    def _record(self, job: FeedJob | CheckJob, failure: VendorFailure | None, now: float) -> None:
        state = job.state
        what = "feed" if isinstance(job, FeedJob) else "check"
        before = state.reason
        if failure is None:
            state.reason, state.message = None, ""
            if before is not None:
                log.info("vendor %s %s is up again", what, job.cfg.name)
            return
        if isinstance(job, CheckJob) and failure.samples is not None:
            job.state.samples, job.state.data_mono = failure.samples, now
        state.reason = failure.reason
        state.message = self.redactor.redact(failure.message)
        if failure.reason != before:
            log.warning(
                "vendor %s %s is down (%s): %s", what, job.cfg.name, failure.reason, state.message
            )

    async def _run_check(self, job: CheckJob) -> None:
        assert self._session is not None
        ctx = CheckContext(self._session, self.secrets, self.redactor, self.clock)
        samples = await job.runner.run(ctx)
        job.state.samples, job.state.data_mono = samples, self.clock.monotonic()

    async def _fetch_feed(self, job: FeedJob) -> None:
        cfg, state = job.cfg, job.state
        base = self.secrets.resolve(cfg.url)
        candidates = self._candidates(cfg, base, state)
        for url, shown in candidates:
            try:
                await self._fetch_one(job, url, shown)
                return
            except VendorFailure as e:
                # Not this path (404, an HTML page, another format): the next one may be it.
                lost = e.reason == "unknown_format" or e.status in (404, 410)
                if state.url == url and lost:
                    state.url = None  # the page moved: look for it again next time
                if len(candidates) == 1 or not (lost or e.reason == "not_json"):
                    raise  # the site itself is in trouble: other paths will not do better
        tried = ", ".join(shown for _, shown in candidates)
        raise VendorFailure("unknown_format", f"no supported status feed found (tried {tried})")

    def _candidates(self, cfg: Feed, base: str, state: FeedState) -> list[tuple[str, str]]:
        """(URL to fetch, URL as shown) to try, in order."""
        if base.split("?", 1)[0].endswith(".json"):
            return [(base, cfg.url)]
        names = DISCOVERY_ORDER if cfg.provider == "auto" else (cfg.provider,)
        out = [
            (base.rstrip("/") + FORMATS[n].path, cfg.url.rstrip("/") + FORMATS[n].path)
            for n in names
        ]
        if state.url is not None:  # found before: ask there only
            out = [c for c in out if c[0] == state.url] or out
        return out

    async def _fetch_one(self, job: FeedJob, url: str, shown: str) -> None:
        assert self._session is not None
        cfg, state = job.cfg, job.state
        headers = {"Accept": "application/json"}
        conditional = state.snapshot is not None and state.url == url
        if conditional and state.etag:
            headers["If-None-Match"] = state.etag
        if conditional and state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        answer = await request(
            self._session,
            "GET",
            url,
            shown_url=shown,
            max_bytes=cfg.max_body_bytes,
            headers=headers,
        )
        if answer.status == 304:
            if not conditional:
                raise VendorFailure("http_status", f"{shown}: 304 Not Modified to a plain GET")
            state.data_mono = self.clock.monotonic()  # the vendor vouched for our copy
            return
        if answer.status == 429:
            raise VendorFailure(
                "rate_limited",
                f"{shown}: HTTP 429, Retry-After {answer.retry_after:g}s",
                status=429,
                retry_after=answer.retry_after,
            )
        if not 200 <= answer.status < 300:
            raise VendorFailure(
                "http_status",
                f"{shown}: HTTP {answer.status}",
                status=answer.status,
                retry_after=answer.retry_after,
            )
        now = self.clock.time()
        if len(answer.body) > PARSE_IN_THREAD:
            snapshot = await asyncio.to_thread(_read, answer.body, shown, cfg, now)
        else:
            snapshot = _read(answer.body, shown, cfg, now)
        for word in snapshot.unknown_words:
            if (cfg.name, word) not in self._logged_words and len(self._logged_words) < 1000:
                self._logged_words.add((cfg.name, word))
                log.warning(
                    "vendor feed %s uses a status word redline does not know: %r "
                    "(shown as unknown)",
                    cfg.name,
                    word,
                )
        state.snapshot, state.url = snapshot, url
        state.etag = answer.headers.get("ETag")
        state.last_modified = answer.headers.get("Last-Modified")
        state.data_mono = self.clock.monotonic()

    # --- rendering ------------------------------------------------------------------------------

    async def collect(self, deadline: float) -> list[Family]:
        return self.families()

    def families(self) -> list[Family]:
        out = _Families()
        now = self.clock.monotonic()
        for job in self.feeds.values():
            self._render_feed(out, job, now)
        for check in self.checks.values():
            self._render_check(out, check, now)
        return out.families()

    def _render_outcome(
        self,
        out: _Families,
        labels: dict[str, str],
        state: Outcome,
        now: float,
        metrics: tuple[m.Metric, m.Metric, m.Metric, m.Metric, m.Metric],
    ) -> None:
        up, reason_metric, age, last, duration = metrics
        out.add(up, labels, 0.0 if state.reason else 1.0)
        for reason in REASONS:
            out.add(
                reason_metric, {**labels, "reason": reason}, 1.0 if reason == state.reason else 0.0
            )
        if state.data_mono is not None:
            out.add(age, labels, round(max(0.0, now - state.data_mono), 3))
        out.add(last, labels, state.attempted_at or 0.0)
        out.add(duration, labels, state.duration)

    def _render_feed(self, out: _Families, job: FeedJob, now: float) -> None:
        state, labels = job.state, job.label
        if state.attempted_at is None:
            return
        self._render_outcome(
            out,
            labels,
            state,
            now,
            (
                m.VENDOR_FEED_UP,
                m.VENDOR_FEED_REASON,
                m.VENDOR_FEED_DATA_AGE,
                m.VENDOR_FEED_LAST_FETCH,
                m.VENDOR_FEED_FETCH_DURATION,
            ),
        )
        snap = state.snapshot
        if snap is None:
            return
        out.add(m.VENDOR_FEED_INFO, {**labels, "provider": snap.provider}, 1.0)
        if snap.indicator is not None:
            for word in INDICATORS:
                out.add(
                    m.VENDOR_PAGE_INDICATOR,
                    {**labels, "indicator": word},
                    1.0 if word == snap.indicator else 0.0,
                )
        configured = {norm(c): c for c in job.cfg.components}
        for component in job.cfg.components:
            current = snap.state_of(component)
            for word in COMPONENT_STATES:
                out.add(
                    m.VENDOR_COMPONENT_STATUS,
                    {**labels, "component": component, "status": word},
                    1.0 if word == current else 0.0,
                )
        incidents = snap.incidents
        if snap.incidents_scoped:
            incidents = tuple(i for i in incidents if i.components & configured.keys())
        for impact in IMPACTS:
            count = sum(1 for i in incidents if i.impact == impact)
            out.add(m.VENDOR_INCIDENTS_OPEN, {**labels, "impact": impact}, float(count))
        if snap.incidents_name_components:
            for key, component in configured.items():
                count = sum(1 for i in incidents if key in i.components)
                out.add(
                    m.VENDOR_COMPONENT_INCIDENTS_OPEN, {**labels, "component": component}, count
                )
        if snap.maintenances is not None:
            out.add(m.VENDOR_MAINTENANCES_ACTIVE, labels, float(snap.maintenances))

    def _render_check(self, out: _Families, job: CheckJob, now: float) -> None:
        state, labels = job.state, job.label
        out.add(m.VENDOR_CHECK_INFO, {**labels, "kind": check_kind(job.cfg)}, 1.0)
        if state.attempted_at is None:
            return
        self._render_outcome(
            out,
            labels,
            state,
            now,
            (
                m.VENDOR_CHECK_UP,
                m.VENDOR_CHECK_REASON,
                m.VENDOR_CHECK_DATA_AGE,
                m.VENDOR_CHECK_LAST_RUN,
                m.VENDOR_CHECK_DURATION,
            ),
        )
        for sample in state.samples:
            out.add(sample.metric, {**labels, **sample.labels}, sample.value)


def _read(body: bytes, shown: str, cfg: Feed, now: float) -> Snapshot:
    """Parse and read one feed document (run in a thread for large bodies)."""
    doc = parse_json(body, shown)
    provider = cfg.provider if cfg.provider != "auto" else detect(doc)
    if provider is None:
        raise VendorFailure("unknown_format", f"{shown}: not a status feed redline knows")
    return FORMATS[provider].parse(doc, now)
