"""The restore tests inside the exporter: a background task per test runs it on its own
schedule (never in a scrape), and a scrape serves the outcome recorded in the state file.

The state file is the one source of truth: what the background runs record, and what
``redline restore-test`` records when an operator runs a test by hand, shows on ``/metrics`` and
the status page alike. A scrape re-reads it only when it changed (its mtime), in a thread.

Schedule: the first run comes ``delay`` after start-up, unless the state file says the last run
started less than ``interval`` ago (a restart does not restart the clock); then every
``interval`` from the previous run's start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from exporter import metrics as m
from exporter.backups.config import RestoreTest
from exporter.backups.restore_state import (
    CHECK_STATUSES,
    PHASES,
    Busy,
    StateError,
    StateFile,
    TestState,
)
from exporter.config import Config
from exporter.families import Families
from exporter.secrets import Redactor

if TYPE_CHECKING:
    # exporter/backups/restore.py brings asyncpg: imported once a restore test is configured
    # (redline run without one never loads it; docs/performance.md)
    from exporter.backups.restore import RestoreTester

log = logging.getLogger("redline.backups.restore")


@dataclass(frozen=True)
class RestoreView:
    """A restore test as the status page shows it."""

    backup: str
    state: TestState | None  # None before any run was recorded
    running: bool
    interval: float
    rto_budget: float
    rpo_budget: float


class RestoreSchedule:
    def __init__(
        self,
        redactor: Redactor,
        *,
        clock: Callable[[], float] = time.time,
        background: bool = True,
    ) -> None:
        self.redactor = redactor
        self.clock = clock
        self.background = background
        self.tester: RestoreTester | None = None
        self.tests: dict[str, RestoreTest] = {}
        self._key: object = None  # what the tester was built from
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: set[str] = set()
        self._states: dict[str, TestState] = {}
        self._mtime: int | None = None
        self._file_ok = True

    # --- lifecycle -------------------------------------------------------------------------------

    async def adopt(self, config: Config, running: bool) -> None:
        """Start, keep or restart the background runs for ``config``: unchanged tests keep
        their task; any change to the tests, the sets or the databases restarts them (a run in
        progress is cancelled, which drops its scratch database)."""
        restore = config.backups.restore
        key = (restore, config.backups.files, config.databases)
        if key == self._key:
            return
        await self.close()
        self._key = key
        self.tests = {t.backup: t for t in restore.tests}
        self.tester = None
        if restore.tests:
            from exporter.backups.restore import restore_tester

            self.tester = restore_tester(config, self.redactor, self.clock)
        if self.tester is None or not running or not self.background:
            return
        for name in self.tests:
            self._tasks[name] = asyncio.create_task(self._loop(name), name=f"restore test {name}")

    async def close(self) -> None:
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._key = None

    # --- background ------------------------------------------------------------------------------

    async def _loop(self, name: str) -> None:
        assert self.tester is not None
        test = self.tests[name]
        started = self.clock()
        try:
            state = await asyncio.to_thread(self._schedule, name, started)
        except StateError as e:
            log.error("restore test %s: %s", name, e)
            state = TestState()
        last = state.last.started_at if state.last is not None else None
        due = max(started + test.delay, (last + test.interval) if last else 0.0)
        while True:
            await asyncio.sleep(max(0.0, due - self.clock()))
            due = self.clock() + test.interval
            await self.run(name)

    def _schedule(self, name: str, now: float) -> TestState:
        """Record when the test was first scheduled (kept across restarts)."""
        assert self.tester is not None

        def change(state: TestState) -> None:
            if state.scheduled_since is None:
                state.scheduled_since = now

        return self.tester.state.update(name, change)

    async def run(self, name: str) -> None:
        """One run now (the background loop's, or a test's)."""
        assert self.tester is not None
        self._running.add(name)
        try:
            await self.tester.run(name)
        except Busy:
            log.warning("restore test %s: another run of this set is in progress; skipped", name)
        except StateError as e:
            log.error("restore test %s: %s", name, e)
        except Exception:
            log.exception("restore test %s: run failed", name)
        finally:
            self._running.discard(name)

    # --- scrape ----------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Re-read the state file if it changed since the last scrape."""
        if self.tester is None:
            return
        store: StateFile = self.tester.state
        mtime = await asyncio.to_thread(store.mtime_ns)
        if mtime == self._mtime and self._file_ok:
            return
        try:
            self._states = await asyncio.to_thread(store.load)
            self._file_ok = True
        except StateError as e:
            if self._file_ok:
                log.error("restore tests: %s", e)
            self._file_ok = False
        self._mtime = mtime

    def views(self) -> list[RestoreView]:
        return [
            RestoreView(
                name,
                self._states.get(name),
                name in self._running,
                test.interval,
                test.rto_budget,
                test.rpo_budget,
            )
            for name, test in self.tests.items()
        ]

    def families(self, out: Families) -> None:
        if self.tester is None:
            return
        out.set(m.BACKUP_RESTORE_STATE_OK, 1.0 if self._file_ok else 0.0)
        for view in self.views():
            labels = {"backup": view.backup}
            out.set(m.BACKUP_RESTORE_INTERVAL, view.interval, **labels)
            out.set(m.BACKUP_RESTORE_RTO_BUDGET, view.rto_budget, **labels)
            out.set(m.BACKUP_RESTORE_RPO_BUDGET, view.rpo_budget, **labels)
            out.set(m.BACKUP_RESTORE_RUNNING, 1.0 if view.running else 0.0, **labels)
            state = view.state
            if state is None:
                continue
            if state.scheduled_since is not None:
                out.set(m.BACKUP_RESTORE_SCHEDULED_SINCE, state.scheduled_since, **labels)
            if state.last_success_at is not None:
                out.set(m.BACKUP_RESTORE_LAST_SUCCESS, state.last_success_at, **labels)
            out.set(m.BACKUP_RESTORE_SCRATCH_LEFT, len(state.pending_drop), **labels)
            run = state.last
            if run is None:
                continue
            out.set(m.BACKUP_RESTORE_SUCCESS, 1.0 if run.success else 0.0, **labels)
            from exporter.backups.restore import REASONS  # loaded: a test has run

            reason = run.reason if run.reason in REASONS else None
            out.states(m.BACKUP_RESTORE_REASON, REASONS, reason, **labels)
            out.set(m.BACKUP_RESTORE_LAST_RUN, run.finished_at, **labels)
            for phase in PHASES:
                if phase in run.phases:
                    out.set(m.BACKUP_RESTORE_DURATION, run.phases[phase], **labels, phase=phase)
            if run.size is not None:
                out.set(m.BACKUP_RESTORE_BACKUP_SIZE, run.size, **labels)
            if run.newest_row_age is not None:
                out.set(m.BACKUP_RESTORE_NEWEST_ROW_AGE, run.newest_row_age, **labels)
            for check in run.checks:
                if check.status in CHECK_STATUSES:
                    out.states(
                        m.BACKUP_RESTORE_CHECK_STATUS,
                        CHECK_STATUSES,
                        check.status,
                        **labels,
                        check=check.name,
                    )
