"""What a restore test leaves behind: its outcome (:class:`RunRecord`), kept per backup set in a
small JSON state file so it survives restarts, and a short Markdown report per run.

The state file is shared by the exporter's background runs and ``redline restore-test``: every
update is a read-modify-write under an exclusive lock on ``FILE.lock``, written atomically (a
temporary file, fsync, rename, directory fsync), so a crash leaves the old file or the new one.
A run also holds a per-set lock for its whole length, so two runs of one set never overlap.

Besides outcomes the file keeps the scratch databases a run created and has not dropped yet
(``pending_drop``): a process killed mid-restore leaves that name behind, and the next run
drops exactly it, never any other database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exporter.atomicfile import write_atomic

FORMAT_VERSION = 1
PHASES: tuple[str, ...] = ("inspect", "create", "restore", "checks", "drop")
CHECK_STATUSES: tuple[str, ...] = ("ok", "failed", "error", "skipped")


@dataclass
class CheckRecord:
    name: str  # tables, row_count:<table>, query:<name>, newest_row, database
    status: str  # one of CHECK_STATUSES
    detail: str = ""


@dataclass
class RunRecord:
    """One run of a restore test, as recorded and reported."""

    backup: str
    started_at: float
    finished_at: float = 0.0
    success: bool = False
    reason: str | None = None  # one of restore.REASONS when not a success
    message: str = ""
    file: str | None = None
    size: int | None = None
    file_mtime: float | None = None
    format: str | None = None  # custom | plain | plain.gz
    dump_database: str | None = None  # the database a custom-format dump names
    server: str = ""  # user@host:port of the scratch server (no password)
    scratch: str | None = None  # the scratch database's name
    dropped: bool = False  # the scratch database was dropped (or never created)
    phases: dict[str, float] = field(default_factory=dict)  # seconds by PHASES entry
    checks: list[CheckRecord] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # restored rows by table
    reference: str = ""  # where the expected counts came from: sidecar, previous restore
    newest_row_at: float | None = None  # Unix time of the newest restored row
    skipped: list[str] = field(default_factory=list)  # archive entries left out (extensions)
    report: str | None = None  # path of the Markdown report

    @property
    def rto(self) -> float:
        """The measured RTO: from nothing to a database holding the restored data."""
        return sum(self.phases.get(p, 0.0) for p in ("inspect", "create", "restore"))

    @property
    def newest_row_age(self) -> float | None:
        """The measured RPO: how old the newest restored row was when the test ran, i.e. the
        data a restore of this backup would have lost at that moment."""
        if self.newest_row_at is None:
            return None
        return max(0.0, self.started_at - self.newest_row_at)


@dataclass
class TestState:
    last: RunRecord | None = None
    last_success_at: float | None = None
    success_counts: dict[str, int] = field(default_factory=dict)  # of the last success
    scheduled_since: float | None = None  # when the test was first scheduled
    pending_drop: list[str] = field(default_factory=list)


def _record(raw: Any) -> RunRecord:
    if not isinstance(raw, dict):
        raise ValueError("a run is not an object")
    known = {f.name for f in fields(RunRecord)}
    values = {k: v for k, v in raw.items() if k in known}
    values["checks"] = [CheckRecord(**c) for c in values.get("checks", [])]
    return RunRecord(**values)


def decode(data: bytes) -> dict[str, TestState]:
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} restore state file")
    out: dict[str, TestState] = {}
    for name, raw in (doc.get("tests") or {}).items():
        if not isinstance(raw, dict):
            raise ValueError(f"test {name!r} is not an object")
        out[str(name)] = TestState(
            last=_record(raw["last"]) if raw.get("last") else None,
            last_success_at=raw.get("last_success_at"),
            success_counts={str(k): int(v) for k, v in (raw.get("success_counts") or {}).items()},
            scheduled_since=raw.get("scheduled_since"),
            pending_drop=[str(x) for x in raw.get("pending_drop") or []],
        )
    return out


def encode(states: dict[str, TestState]) -> bytes:
    doc = {"version": FORMAT_VERSION, "tests": {n: asdict(s) for n, s in sorted(states.items())}}
    return json.dumps(doc, indent=1, sort_keys=True).encode("utf-8") + b"\n"


class StateError(Exception):
    """The state file cannot be read or written; the message names it and why."""


class Busy(Exception):
    """Another run of the same set holds its lock."""


class StateFile:
    """The restore tests' state file. Synchronous (callers use a thread)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def load(self) -> dict[str, TestState]:
        """The saved states; empty when there is no file yet. A corrupt file is moved aside
        (``FILE.corrupt``) and reported, so a bad file never blocks the tests."""
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise StateError(f"{self.path} cannot be read: {e.strerror}") from None
        try:
            return decode(data)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
            with contextlib.suppress(OSError):
                os.replace(self.path, self.path + ".corrupt")
            raise StateError(
                f"{self.path} is not a valid restore state file ({e}); moved to {self.path}.corrupt"
            ) from None

    def mtime_ns(self) -> int | None:
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    @contextlib.contextmanager
    def _locked(self, suffix: str, blocking: bool) -> Iterator[None]:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(self.path + suffix, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise StateError(f"{self.path}{suffix} cannot be opened: {e.strerror}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                raise Busy from None
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def run_lock(self, backup: str) -> contextlib.AbstractContextManager[None]:
        """Held for a whole run of ``backup``; raises :class:`Busy` when another has it."""
        return self._locked(f".{backup}.lock", blocking=False)

    def update(self, backup: str, change: Callable[[TestState], None]) -> TestState:
        """Apply ``change`` to ``backup``'s state and save, under the file's lock."""
        with self._locked(".lock", blocking=True):
            try:
                states = self.load()
            except StateError:
                states = {}  # moved aside: start afresh rather than never record again
            state = states.setdefault(backup, TestState())
            change(state)
            self._write(encode(states))
            return state

    def _write(self, data: bytes) -> None:
        try:
            write_atomic(self.path, data, ".restore-state-")
        except OSError as e:
            raise StateError(f"{self.path} cannot be written: {e.strerror}") from None


# --- the report ----------------------------------------------------------------------------------


def _utc(t: float | None) -> str:
    if t is None:
        return "—"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report(run: RunRecord) -> str:
    """The run as a short Markdown report. Every text in it already went through the redactor;
    it names the scratch server as user@host:port, never with a password."""
    verdict = "PASS" if run.success else f"FAIL ({run.reason})"
    lines = [
        f"# Restore test of {run.backup}: {verdict}",
        "",
        f"- started {_utc(run.started_at)}, finished {_utc(run.finished_at)}",
        f"- backup: `{run.file or 'none'}`"
        + (f", {run.size:,} bytes" if run.size is not None else "")
        + (f", written {_utc(run.file_mtime)}" if run.file_mtime is not None else "")
        + (f", format {run.format}" if run.format else "")
        + (f", dump of database `{run.dump_database}`" if run.dump_database else ""),
        f"- restored into `{run.scratch or '—'}` on {run.server or '—'}; scratch database "
        + ("dropped" if run.dropped else "**NOT dropped** (the next run drops it)"),
        f"- measured RTO (inspect + create + restore): {run.rto:.2f} s",
    ]
    if run.newest_row_at is not None:
        age = run.newest_row_age or 0.0
        lines.append(
            f"- newest restored row: {_utc(run.newest_row_at)}, {age:.0f} s before the test "
            "(the measured RPO)"
        )
    if run.skipped:
        lines.append(f"- left out of the restore (need a superuser): {', '.join(run.skipped)}")
    if not run.success:
        lines += ["", f"**Why it failed:** {run.message}"]
    lines += ["", "| phase | seconds |", "|---|---:|"]
    lines += [f"| {p} | {run.phases[p]:.3f} |" for p in PHASES if p in run.phases]
    if run.checks:
        lines += ["", "| check | result | detail |", "|---|---|---|"]
        lines += [f"| {_cell(c.name)} | {c.status} | {_cell(c.detail)} |" for c in run.checks]
    if run.reference:
        lines += ["", f"Row counts compared with {run.reference}."]
    return "\n".join(lines) + "\n"


def write_report(directory: str, run: RunRecord, keep: int) -> str:
    """Write ``run``'s report as DIR/<backup>/<UTC time>.md, keep the newest ``keep`` of the
    set; the path written."""
    where = Path(directory) / run.backup
    where.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(run.started_at, UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = where / f"{stamp}.md"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report(run), encoding="utf-8")
    os.replace(tmp, path)
    for old in sorted(where.glob("*.md"))[:-keep]:
        old.unlink(missing_ok=True)
    return str(path)
