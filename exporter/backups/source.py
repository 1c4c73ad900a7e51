"""The backups source: file backup sets and Supabase managed backups.

A scrape only reads what is cheap: it lists each set's directory and stats the matches (in a
thread, bounded by ``scan_timeout``), and reads the cached results of the background work.
Background tasks, one per set, do the rest at their own interval: the integrity checks of the
newest file (:mod:`exporter.backups.verify`) and the Management API calls
(:mod:`exporter.backups.supabase`), whose last good answer is kept and served while calls fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.backups import files, supabase, verify
from exporter.backups.config import BackupsConfig, FileBackup, SupabaseBackup
from exporter.backups.restore_schedule import RestoreSchedule, RestoreView
from exporter.config import Config
from exporter.families import Families as _Families
from exporter.secrets import MissingSecret, Redactor, SecretSource
from exporter.sources import ClockedSource

log = logging.getLogger("redline.backups")

# The states of a backup set (redline_backup_status): a closed set, checked in this order.
STATUSES: tuple[str, ...] = (
    "ok",
    "missing",
    "unreadable",
    "empty",
    "stale",
    "too_small",
    "corrupt",
    "failed",
)
VERIFY_STATUSES: tuple[str, ...] = ("ok", "failed", "error", "pending")


@dataclass(frozen=True)
class BackupView:
    """What the last scrape found about one set, for the status page."""

    name: str
    kind: str  # files | supabase
    status: str  # one of STATUSES
    message: str
    newest: float | None  # Unix time of the newest file or backup, None when there is none
    max_age: float
    checked_at: float  # Unix time of that scrape


@dataclass
class _FileSet:
    cfg: FileBackup
    stop: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[None] | None = None
    # the latest result of each check, whichever file it was about
    results: dict[str, verify.CheckResult] = field(default_factory=dict)
    # a directory listing still running in its thread (a hung mount): reused, never doubled
    scanning: asyncio.Future[files.Scan] | None = None
    logged: tuple[str, str] | None = None  # the status last logged, to log changes only


@dataclass
class _SupabaseSet:
    cfg: SupabaseBackup
    task: asyncio.Task[None] | None = None
    attempted: bool = False  # before the first call ends, the set exports no state
    snapshot: supabase.Snapshot | None = None
    fetched_at: float | None = None  # when the snapshot was received
    reason: str | None = None  # of the last call, None when it succeeded
    message: str = ""
    logged: tuple[str, str] | None = None


class BackupSource(ClockedSource):
    name = "backups"

    def __init__(
        self,
        config: Config,
        redactor: Redactor,
        *,
        clock: Callable[[], float] = time.time,
        background: bool = True,
    ) -> None:
        super().__init__(config, redactor, clock=clock)
        # False: no background tasks; tests run rounds themselves (verify_round, supabase_round)
        self.background = background
        self.secrets = SecretSource(redactor)
        self._files: dict[str, _FileSet] = {}
        self._supabase: dict[str, _SupabaseSet] = {}
        self._session: aiohttp.ClientSession | None = None
        self._running = False
        self._views: dict[str, BackupView] = {}  # by set name, from the last scrape
        # restore tests: run in the background, their recorded outcome served at each scrape
        self.restore = RestoreSchedule(redactor, clock=clock, background=background)

    def views(self) -> list[BackupView]:
        """Each configured set as the last scrape found it (sets not scraped yet are absent);
        reading it lists no directory and calls no API."""
        cfg = self.config.backups
        names = [c.name for c in cfg.files] + [c.name for c in cfg.supabase]
        return [self._views[n] for n in names if n in self._views]

    def restore_views(self) -> list[RestoreView]:
        """Each restore test's recorded outcome, as of the last scrape."""
        return self.restore.views()

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._running = True
        await self._adopt(self.config.backups)
        await self.restore.adopt(self.config, running=True)

    async def reload(self, config: Config) -> None:
        self.config = config
        if self._running:
            await self._adopt(config.backups)
            await self.restore.adopt(config, running=True)

    async def close(self) -> None:
        self._running = False
        await self._adopt(BackupsConfig())
        await self.restore.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _adopt(self, cfg: BackupsConfig) -> None:
        """Start, keep or stop each set's background work. A set whose config is unchanged keeps
        its task and results; a changed one starts afresh."""
        for name in list(self._files):
            old = self._files[name]
            if next((c for c in cfg.files if c.name == name), None) != old.cfg:
                await self._stop_files(self._files.pop(name))
        for name in list(self._supabase):
            old_s = self._supabase[name]
            if next((c for c in cfg.supabase if c.name == name), None) != old_s.cfg:
                await _cancel(self._supabase.pop(name).task)
        for file_cfg in cfg.files:
            if file_cfg.name not in self._files:
                fileset = self._files[file_cfg.name] = _FileSet(file_cfg)
                if file_cfg.verify is not None and self._running and self.background:
                    fileset.task = asyncio.create_task(
                        self._verify_loop(fileset), name=f"backups verify {file_cfg.name}"
                    )
        for api_cfg in cfg.supabase:
            if api_cfg.name not in self._supabase:
                apiset = self._supabase[api_cfg.name] = _SupabaseSet(api_cfg)
                if self._running and self.background:
                    apiset.task = asyncio.create_task(
                        self._supabase_loop(apiset), name=f"backups supabase {api_cfg.name}"
                    )

    async def _stop_files(self, fileset: _FileSet) -> None:
        fileset.stop.set()  # a check running in a thread sees it at its next chunk
        await _cancel(fileset.task)
        if fileset.scanning is not None and not fileset.scanning.done():
            fileset.scanning.cancel()  # its thread ends on its own; nobody waits for it now

    # --- background: integrity checks ----------------------------------------------------------

    async def _verify_loop(self, fileset: _FileSet) -> None:
        assert fileset.cfg.verify is not None
        while True:
            try:
                await self._verify(fileset)
            except verify.Interrupted:
                return
            except Exception:
                log.exception("backup set %s: verification round failed", fileset.cfg.name)
            await asyncio.sleep(fileset.cfg.verify.interval)

    async def verify_round(self, name: str) -> None:
        """One round of set ``name`` now, for tests (and tools) that cannot wait the interval."""
        await self._verify(self._files[name])

    async def _verify(self, fileset: _FileSet) -> None:
        """Check the newest file if it is new, or if its last check could not judge it."""
        cfg = fileset.cfg
        name = cfg.name
        assert cfg.verify is not None
        scan = await asyncio.to_thread(files.scan, cfg)
        newest = scan.newest
        if newest is None:
            return
        if self.clock() - newest.mtime < cfg.verify.settle:
            return  # perhaps still being written: the next round takes it
        todo = tuple(
            check
            for check in cfg.verify.checks
            if (done := fileset.results.get(check)) is None
            or done.file_key != newest.key
            or done.outcome.retry
        )
        if not todo:
            return
        pg_restore = None
        if any(check.startswith("pg_restore") for check in todo):
            pg_restore = verify.find_pg_restore(cfg.verify.pg_restore_path)
        results = await verify.run_checks(
            newest.path, newest.key, cfg.verify, todo, fileset.stop, pg_restore
        )
        for result in results:
            previous = fileset.results.get(result.check)
            fileset.results[result.check] = result
            outcome = result.outcome
            if outcome.status != "ok":
                log.warning(
                    "backup set %s: %s check %s: %s",
                    name,
                    result.check,
                    outcome.status,
                    self.redactor.redact(outcome.message),
                )
            elif previous is None or previous.outcome.status != "ok":
                log.info("backup set %s: %s check ok on %s", name, result.check, newest.path)

    # --- background: Supabase --------------------------------------------------------------------

    async def _supabase_loop(self, apiset: _SupabaseSet) -> None:
        while True:
            wait = apiset.cfg.interval
            try:
                wait = max(wait, await self._call_api(apiset))
            except Exception:
                log.exception("backup set %s: Management API round failed", apiset.cfg.name)
            await asyncio.sleep(wait)

    async def supabase_round(self, name: str) -> float:
        """One Management API call for set ``name`` now, for tests that cannot wait."""
        return await self._call_api(self._supabase[name])

    async def _call_api(self, apiset: _SupabaseSet) -> float:
        """One Management API call; returns how long the API asked us to wait (Retry-After),
        0 if it did not."""
        cfg = apiset.cfg
        name = cfg.name
        retry_after = 0.0
        try:
            token = self.secrets.resolve(cfg.access_token or cfg.access_token_file)
            ref = self.secrets.resolve(cfg.project_ref)
            if self._session is None:
                self._session = aiohttp.ClientSession(
                    cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
                )
            snapshot = await supabase.fetch(self._session, cfg, ref, token)
        except MissingSecret as e:
            apiset.reason, apiset.message = "secret", str(e)
        except supabase.FetchError as e:
            apiset.reason, apiset.message = e.reason, self.redactor.redact(e.message)
            retry_after = e.retry_after
        else:
            apiset.snapshot, apiset.fetched_at = snapshot, self.clock()
            apiset.reason, apiset.message = None, ""
        apiset.attempted = True
        if apiset.reason is not None:
            log.warning("backup set %s: Management API: %s", name, apiset.message)
        return retry_after

    # --- scrape ---------------------------------------------------------------------------------

    async def collect(self, deadline: float) -> list[Family]:
        out = _Families()
        now = self.clock()
        filesets = list(self._files.values())
        scans = await asyncio.gather(*(self._scan(s, deadline) for s in filesets))
        for fileset, scan in zip(filesets, scans, strict=True):
            self._file_families(out, fileset, scan, now)
        for apiset in self._supabase.values():
            self._supabase_families(out, apiset, now)
        await self.restore.refresh()
        self.restore.families(out)
        return out.families()

    async def _scan(self, fileset: _FileSet, deadline: float) -> files.Scan:
        cfg = fileset.cfg
        if fileset.scanning is None or fileset.scanning.done():
            fileset.scanning = asyncio.ensure_future(asyncio.to_thread(files.scan, cfg))
        loop = asyncio.get_running_loop()
        limit = max(0.0, min(cfg.scan_timeout, deadline - loop.time()))
        try:
            # shielded: on timeout the listing goes on in its thread and the next scrape
            # waits for that one instead of starting another
            return await asyncio.wait_for(asyncio.shield(fileset.scanning), limit)
        except TimeoutError:
            return files.Scan(
                "unreadable",
                f"listing directory {cfg.directory} took longer than {cfg.scan_timeout:g}s "
                "(a hung mount?)",
            )

    def _file_families(
        self, out: _Families, fileset: _FileSet, scan: files.Scan, now: float
    ) -> None:
        cfg = fileset.cfg
        labels = {"backup": cfg.name}
        newest = scan.newest
        verify_cfg = cfg.verify
        current = {  # the results that are about the newest file
            check: result
            for check, result in fileset.results.items()
            if newest is not None and result.file_key == newest.key
        }
        corrupt = [r for r in current.values() if r.outcome.status == "failed"]
        status, message = self._file_status(cfg, scan, now, corrupt)
        self._views[cfg.name] = BackupView(
            cfg.name, "files", status, message, newest.mtime if newest else None, cfg.max_age, now
        )
        self._log_status(cfg.name, fileset, status, message)
        out.states(m.BACKUP_STATUS, STATUSES, status, **labels)
        out.set(m.BACKUP_MAX_AGE, cfg.max_age, **labels)
        out.set(m.BACKUP_MIN_SIZE, cfg.min_size, **labels)
        if scan.error is None:
            out.set(m.BACKUP_FILES, scan.files, **labels)
            out.set(m.BACKUP_TOTAL_SIZE, scan.total_size, **labels)
        if newest is not None:
            out.set(m.BACKUP_NEWEST_TIMESTAMP, newest.mtime, **labels)
            out.set(m.BACKUP_NEWEST_AGE, max(0.0, now - newest.mtime), **labels)
            out.set(m.BACKUP_NEWEST_SIZE, newest.size, **labels)
        if verify_cfg is None:
            return
        for check in verify_cfg.checks:
            check_labels = {**labels, "check": check}
            result = current.get(check)
            state = result.outcome.status if result is not None else "pending"
            reason = result.outcome.reason if result is not None else None
            out.states(m.BACKUP_VERIFY_STATUS, VERIFY_STATUSES, state, **check_labels)
            out.states(m.BACKUP_VERIFY_REASON, verify.CHECK_REASONS[check], reason, **check_labels)
            last = fileset.results.get(check)
            if last is not None:
                out.set(m.BACKUP_VERIFY_TIMESTAMP, last.finished_at, **check_labels)
                out.set(m.BACKUP_VERIFY_DURATION, last.duration, **check_labels)

    @staticmethod
    def _file_status(
        cfg: FileBackup, scan: files.Scan, now: float, corrupt: list[verify.CheckResult]
    ) -> tuple[str, str]:
        newest = scan.newest
        if scan.error is not None:
            return scan.error, scan.message
        if newest is None:
            return "empty", f"no file matches {cfg.glob} in {cfg.directory}"
        age = now - newest.mtime
        if age > cfg.max_age:
            return (
                "stale",
                f"newest file {newest.path} is {age:.0f}s old (max_age {cfg.max_age:g}s)",
            )
        if newest.size < cfg.min_size:
            return (
                "too_small",
                f"newest file {newest.path} has {newest.size} bytes (min_size {cfg.min_size})",
            )
        if corrupt:
            return "corrupt", f"{newest.path}: {corrupt[0].outcome.message}"
        return "ok", ""

    def _supabase_families(self, out: _Families, apiset: _SupabaseSet, now: float) -> None:
        cfg = apiset.cfg
        labels = {"backup": cfg.name}
        out.set(m.BACKUP_MAX_AGE, cfg.max_age, **labels)
        if not apiset.attempted:
            return  # no answer yet: no state rather than a false "unreadable" at start-up
        snap = apiset.snapshot
        out.set(m.BACKUP_SUPABASE_UP, 1.0 if apiset.reason is None else 0.0, **labels)
        out.states(m.BACKUP_SUPABASE_REASON, supabase.REASONS, apiset.reason, **labels)
        if snap is None:
            status, message = "unreadable", apiset.message
        else:
            assert apiset.fetched_at is not None
            out.set(m.BACKUP_SUPABASE_DATA_AGE, max(0.0, now - apiset.fetched_at), **labels)
            out.set(m.BACKUP_SUPABASE_PITR, 1.0 if snap.pitr_enabled else 0.0, **labels)
            out.set(m.BACKUP_SUPABASE_BACKUPS, snap.backups, **labels)
            out.states(
                m.BACKUP_SUPABASE_LATEST_STATUS,
                supabase.BACKUP_STATUSES,
                snap.latest_status,
                **labels,
            )
            newest = snap.newest
            if newest is not None:
                out.set(m.BACKUP_NEWEST_TIMESTAMP, newest, **labels)
                out.set(m.BACKUP_NEWEST_AGE, max(0.0, now - newest), **labels)
            if snap.latest_status == "failed":
                status, message = "failed", "the most recent backup attempt failed"
            elif newest is None:
                status, message = "empty", "the project lists no completed backup"
            elif now - newest > cfg.max_age:
                status = "stale"
                message = f"newest backup is {now - newest:.0f}s old (max_age {cfg.max_age:g}s)"
            else:
                status, message = "ok", ""
        out.states(m.BACKUP_STATUS, STATUSES, status, **labels)
        self._log_status(cfg.name, apiset, status, message)
        newest_at = snap.newest if snap is not None else None
        self._views[cfg.name] = BackupView(
            cfg.name, "supabase", status, message, newest_at, cfg.max_age, now
        )

    def _log_status(
        self, name: str, item: _FileSet | _SupabaseSet, status: str, message: str
    ) -> None:
        """Log each change of a set's status once, with the reason, not at every scrape."""
        if item.logged is not None and item.logged[0] == status:
            return
        item.logged = (status, message)
        if status == "ok":
            log.info("backup set %s: ok", name)
        else:
            log.warning("backup set %s: %s: %s", name, status, self.redactor.redact(message))


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
