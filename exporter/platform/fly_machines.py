"""The Fly machines source: polls Fly's Machines API (``GET /v1/apps/{app}/machines``) for every
app of the config in a background task, on ``platform.fly.poll_interval`` (never per scrape),
and serves per app and process group what it last found:

- the machines by state (a closed set; a state redline does not know is ``unknown`` and logged);
- exit events as counters that survive restarts of redline (``platform.fly.state_file``): exits,
  OOM kills (``request.exit_event.oom_killed``), restarts (``exit_event.restarting``: the restart
  policy brings the machine back), and the newest exit's code and time;
- the poll's health per app: up, a reason from the vendors' closed set (auth for a refused token,
  rate_limited for 429, http_status for 5xx, truncated/invalid_json/unknown_format for a cut or
  malformed answer, secret when the token file cannot be read), the cache age.

A failed poll keeps the last machines and counters and says why; nothing here raises into a
scrape, and the token is sent only in the Authorization header (the redactor scrubs it from any
message). An event is counted once: each machine's newest counted event time is kept. A machine
seen for the first time has its events of the last two poll intervals counted, not its whole
history (an OOM kill of last week is no news).

The API documents each machine's ``state``, ``region``, ``config.metadata.fly_process_group`` and
``events`` (``type``, ``timestamp`` in ms, ``request.exit_event.{exit_code, oom_killed,
restarting}``). ASSUMPTION: the list answer carries each machine's recent events, as a single
machine's does; where it has none, a machine's events are read from
``/v1/apps/{app}/machines/{id}/events`` when its ``updated_at`` changed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.config import Config, JsonProbe, Service
from exporter.families import Families
from exporter.platform import state
from exporter.probes.base import new_session
from exporter.secrets import MissingSecret, Redactor, SecretSource
from exporter.sources import Source
from exporter.vendors.common import (
    REASONS,
    Clock,
    SystemClock,
    VendorFailure,
    parse_json,
    raise_for_status,
    request,
)

log = logging.getLogger("redline.platform")

# The Machines API's machine states (Fly's docs, "Machine states"); anything else is unknown.
STATES: tuple[str, ...] = (
    "created",
    "starting",
    "started",
    "stopping",
    "stopped",
    "suspending",
    "suspended",
    "replacing",
    "destroying",
    "destroyed",
    "failed",
    "unknown",
)
DEFAULT_GROUP = "app"  # a machine without fly_process_group runs the app's only group
OTHER_GROUP = "other"  # a group the config does not list: one bounded label value for them all
MAX_MACHINES = 1000  # per app and poll: a runaway answer costs at most this much work
# A machine id as the Machines API writes it (14 hex digits today): it becomes a request header
# and a label value of the per-machine reads, so anything else is never used as one.
_MACHINE_ID = re.compile(r"[0-9a-z]{1,40}")


class MachineDirectory:
    """The machines a per-machine JSON probe reads (``per_machine``: a process group): the
    started machines of that group of the probe's service's app, from the Fly machines source of
    this exporter. None when there is no such source (``redline probe``; a shard other than
    the first, which runs no Fly source) or it has not yet polled the app."""

    def __init__(
        self, config: Callable[[], Config], source: Callable[[], FlyMachinesSource | None]
    ) -> None:
        self._config, self._source = config, source
        self._seen: Config | None = None
        self._where: dict[int, tuple[str, str]] = {}  # id(probe) -> (app, group)

    def __call__(self, probe: Any) -> tuple[str, ...] | None:
        source = self._source()
        if source is None:
            return None
        config = self._config()
        if config is not self._seen:  # a reload: the probes are new objects
            self._where = {
                id(p): (s.fly.app, p.per_machine)
                for s in config.services
                if s.fly is not None
                for p in s.probes
                if isinstance(p, JsonProbe) and p.per_machine is not None
            }
            self._seen = config
        where = self._where.get(id(probe))
        return source.started(*where) if where is not None else None


@dataclass
class AppState:
    """What the polls of one app found."""

    machines: dict[str, dict[str, int]] = field(default_factory=dict)  # group -> state -> n
    started: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group -> machine ids
    updated: dict[str, str] = field(default_factory=dict)  # machine id -> updated_at
    attempted_at: float | None = None
    reason: str | None = None
    message: str = ""
    data_mono: float | None = None
    next_due: float = 0.0
    unknown_states: int = 0


class FlyMachinesSource(Source):
    """``clock`` and ``env`` for tests; ``background=False`` starts no task (tests call
    :meth:`poll_all`)."""

    name = "fly"

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
        self.apps: dict[str, AppState] = {}
        self.store = state.StateStore(self._state_path(config))
        self.counts = state.Counts()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._logged_states: set[str] = set()

    @staticmethod
    def _state_path(config: Config) -> str | None:
        fly = config.platform.fly
        return fly.state_file if fly is not None else None

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.counts = await asyncio.to_thread(self.store.load)
        self._session = new_session()
        if self.background and self.config.platform.fly is not None:
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="redline fly machines"
            )

    async def reload(self, config: Config) -> None:
        self.config = config
        path = self._state_path(config)
        if path != self.store.path:
            self.store = state.StateStore(path)
            await self._save()
        if (
            self._session is not None
            and self.background
            and self._task is None
            and config.platform.fly is not None
        ):
            self._task = asyncio.get_running_loop().create_task(
                self._loop(), name="redline fly machines"
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _loop(self) -> None:
        while True:
            fly = self.config.platform.fly
            if fly is None:
                await asyncio.sleep(5.0)
                continue
            due = min((a.next_due for a in self.apps.values()), default=0.0)
            delay = due - self.clock.monotonic()
            if delay > 0 and len(self.apps) == len(self.config.fly_apps()):
                await asyncio.sleep(min(delay, fly.poll_interval))
                continue
            await self.poll_all(due_only=True)

    # --- polling --------------------------------------------------------------------------------

    async def poll_all(self, due_only: bool = False) -> None:
        """Poll every configured app (those due now, with ``due_only``), concurrently, then save
        the counters once."""
        if self._session is None:
            raise RuntimeError("start() the source first")
        now = self.clock.monotonic()
        apps = self.config.fly_apps()
        for gone in set(self.apps) - set(apps):
            del self.apps[gone]
        due = [
            (app, service)
            for app, service in apps.items()
            if not due_only or self.apps.setdefault(app, AppState()).next_due <= now
        ]
        changed = await asyncio.gather(*(self._poll(app, svc) for app, svc in due))
        if any(changed):
            await self._save()

    async def _save(self) -> None:
        await asyncio.to_thread(self.store.save, state.encode(self.counts))

    async def _poll(self, app: str, service: Service) -> bool:
        fly = self.config.platform.fly
        assert fly is not None
        st = self.apps.setdefault(app, AppState())
        started = self.clock.monotonic()
        failure: VendorFailure | None = None
        changed = False
        try:
            async with asyncio.timeout(fly.timeout):
                changed = await self._fetch(app, service, st)
        except VendorFailure as e:
            failure = e
        except TimeoutError:
            failure = VendorFailure("timeout", f"no complete answer within {fly.timeout:g}s")
        except MissingSecret as e:
            failure = VendorFailure("secret", str(e))
        except Exception as e:  # a bug in redline must not stop the task
            failure = VendorFailure("internal", f"internal error: {type(e).__name__}: {e}")
        retry_after = failure.retry_after if failure is not None else 0.0
        st.next_due = max(started + fly.poll_interval, self.clock.monotonic() + retry_after)
        st.attempted_at = self.clock.time()
        before = st.reason
        if failure is None:
            st.reason, st.message = None, ""
            if before is not None:
                log.info("fly machines of %s: polling works again", app)
        else:
            st.reason = failure.reason
            st.message = self.redactor.redact(failure.message)
            if failure.reason != before:
                log.warning("fly machines of %s: %s: %s", app, failure.reason, st.message)
        return changed

    async def _get(self, url: str, shown: str) -> Any:
        fly = self.config.platform.fly
        assert fly is not None and self._session is not None
        token = await asyncio.to_thread(self.secrets.resolve, fly.token_file)
        if not token:
            raise MissingSecret(f"secret file {fly.token_file.path} is empty")
        answer = await request(
            self._session,
            "GET",
            url,
            shown_url=shown,
            max_bytes=fly.max_body_bytes,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            follow_redirects=False,  # never carry the token elsewhere
        )
        raise_for_status(answer, shown)
        return parse_json(answer.body, shown)

    async def _fetch(self, app: str, service: Service, st: AppState) -> bool:
        fly = self.config.platform.fly
        assert fly is not None and service.fly is not None
        base = fly.machines_api.rstrip("/")
        shown = f"{base}/v1/apps/{app}/machines"
        listed = await self._get(shown, shown)
        if not isinstance(listed, list):
            raise VendorFailure("unknown_format", f"{shown}: not a list of machines")
        groups = {g.name for g in service.fly.groups}
        by_group: dict[str, dict[str, int]] = {g: dict.fromkeys(STATES, 0) for g in groups}
        unknown = 0
        changed = False
        now_ms = int(self.clock.time() * 1000)
        first_seen_window = int(2 * fly.poll_interval * 1000)
        updated: dict[str, str] = {}
        started: dict[str, list[str]] = {}
        for machine in listed[:MAX_MACHINES]:
            mid = machine.get("id") if isinstance(machine, dict) else None
            if not isinstance(mid, str) or not mid:
                unknown += 1
                continue
            group = _group(machine)
            label = group if group in groups else OTHER_GROUP
            counts = by_group.setdefault(label, dict.fromkeys(STATES, 0))
            word = machine.get("state")
            if word not in STATES or word == "unknown":
                unknown += 1
                self._log_state(app, word)
                word = "unknown"
            counts[word] += 1
            if word == "started" and _MACHINE_ID.fullmatch(mid):
                started.setdefault(label, []).append(mid)
            events = machine.get("events")
            stamp = str(machine.get("updated_at", ""))
            updated[mid] = stamp
            if events is None and st.updated.get(mid) != stamp:
                url = f"{base}/v1/apps/{app}/machines/{mid}/events"
                events = await self._get(url, f"{base}/v1/apps/{app}/machines/<id>/events")
            if isinstance(events, list):
                mark = self.counts.watermarks.get(mid, now_ms - first_seen_window)
                changed |= self._count(app, label, mid, events, mark)
        st.machines, st.updated, st.unknown_states = by_group, updated, st.unknown_states + unknown
        st.started = {g: tuple(sorted(ids)) for g, ids in started.items()}
        st.data_mono = self.clock.monotonic()
        return changed

    def _count(self, app: str, group: str, mid: str, events: list[Any], mark: int) -> bool:
        """Count the exit events of one machine newer than ``mark``; True if any."""
        newest = mark
        found = []
        for event in events:
            if not isinstance(event, dict) or event.get("type") != "exit":
                continue
            stamp = event.get("timestamp")
            if isinstance(stamp, bool) or not isinstance(stamp, int) or stamp <= mark:
                continue
            found.append((stamp, event))
            newest = max(newest, stamp)
        if newest == mark and mid in self.counts.watermarks:
            return False
        self.counts.watermarks[mid] = newest
        counts = self.counts.group(app, group)
        for stamp, event in sorted(found, key=lambda pair: pair[0]):
            request_ = event.get("request")
            exit_ = request_.get("exit_event") if isinstance(request_, dict) else None
            exit_ = exit_ if isinstance(exit_, dict) else {}
            counts.exits += 1
            if exit_.get("oom_killed") is True:
                counts.oom_kills += 1
                log.warning("fly machine %s of %s (%s) was OOM-killed", mid, app, group)
            if exit_.get("restarting") is True:
                counts.restarts += 1
            code = exit_.get("exit_code")
            if isinstance(code, int) and not isinstance(code, bool):
                counts.last_exit_code = code
            elif counts.last_exit_code is None:
                counts.last_exit_code = 0  # Fly omits exit_code when it is 0 (omitempty)
            counts.last_exit_ms = stamp
        return True

    def started(self, app: str, group: str) -> tuple[str, ...] | None:
        """The ids of ``group``'s started machines at the last good poll of ``app`` (None
        before any): the machines a per-machine JSON probe reads (json_metrics.py). A failed
        poll keeps the last answer, as for every series here."""
        st = self.apps.get(app)
        if st is None or st.data_mono is None:
            return None
        return st.started.get(group, ())

    def _log_state(self, app: str, word: Any) -> None:
        text = str(word)[:40]
        if text not in self._logged_states and len(self._logged_states) < 100:
            self._logged_states.add(text)
            log.warning("fly machines of %s: unknown state %r (shown as unknown)", app, text)

    # --- rendering ------------------------------------------------------------------------------

    async def collect(self, deadline: float) -> list[Family]:
        return self.families()

    def families(self) -> list[Family]:
        out = Families()
        fly = self.config.platform.fly
        apps = self.config.fly_apps()
        if fly is None or not apps:
            return []
        now = self.clock.monotonic()
        for app, service in apps.items():
            assert service.fly is not None
            base = {"service": service.name, "app": app}
            for group in service.fly.groups:
                labels = {**base, "group": group.name}
                out.set(m.FLY_MACHINES_WANTED, group.machines, **labels)
                out.set(m.FLY_MACHINE_MEMORY, group.memory, **labels)
            for group_name in [g.name for g in service.fly.groups] + [OTHER_GROUP]:
                labels = {**base, "group": group_name}
                counts = self.counts.groups.get(f"{app}/{group_name}")
                if group_name == OTHER_GROUP and counts is None:
                    continue
                counts = counts or state.GroupCounts()
                out.set(m.FLY_EXITS, counts.exits, **labels)
                out.set(m.FLY_OOM_KILLS, counts.oom_kills, **labels)
                out.set(m.FLY_RESTARTS, counts.restarts, **labels)
                if counts.last_exit_code is not None:
                    out.set(m.FLY_LAST_EXIT_CODE, counts.last_exit_code, **labels)
                if counts.last_exit_ms is not None:
                    out.set(m.FLY_LAST_EXIT, counts.last_exit_ms / 1000, **labels)
            st = self.apps.get(app)
            if st is None or st.attempted_at is None:
                continue
            for group_name, by_state in sorted(st.machines.items()):
                for word in STATES:
                    out.set(
                        m.FLY_MACHINES, by_state.get(word, 0), **base, group=group_name, state=word
                    )
            out.set(m.FLY_API_UP, 0.0 if st.reason else 1.0, app=app)
            out.states(m.FLY_API_REASON, REASONS, st.reason, app=app)
            if st.data_mono is not None:
                out.set(m.FLY_API_DATA_AGE, round(max(0.0, now - st.data_mono), 3), app=app)
            out.set(m.FLY_API_LAST_POLL, st.attempted_at, app=app)
            out.set(m.FLY_API_UNKNOWN_STATES, st.unknown_states, app=app)
        out.states(m.FLY_STATE_FILE_STATUS, state.FILE_STATUSES, self.store.status)
        return out.families()


def _group(machine: dict[str, Any]) -> str:
    config = machine.get("config")
    metadata = config.get("metadata") if isinstance(config, dict) else None
    group = metadata.get("fly_process_group") if isinstance(metadata, dict) else None
    return group if isinstance(group, str) and group else DEFAULT_GROUP
