"""Each job's state, how a ping changes it, and its persistence in a small JSON file.

Saving is atomic: the state is written to a temporary file in the same directory, flushed to
disk (fsync), then renamed over the old file (``os.replace``), and the directory is synced, so
a crash leaves either the old file or the new one, never half of one. A missing file (first
start), a corrupt one (set aside as ``FILE.corrupt`` for inspection) or a failed save is
reported by :attr:`StateStore.status`; none of them raises, and the state in memory is kept.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from exporter.atomicfile import write_atomic

log = logging.getLogger("redline.heartbeats")

FORMAT_VERSION = 1
Kind = Literal["success", "failure", "start"]
FILE_STATUSES: tuple[str, ...] = ("ok", "missing", "corrupt", "unwritable", "disabled")


@dataclass
class JobState:
    # how the last finished run ended: never (none yet), up (success) or down (failure)
    status: str = "never"
    last_ping: float | None = None  # Unix time of the last success or failure ping
    last_start: float | None = None  # Unix time of the /start of the run in progress
    last_success: float | None = None
    last_failure: float | None = None
    last_duration: float | None = None  # start to finish of the last timed run, in seconds
    successes: int = 0
    failures: int = 0

    def apply(self, kind: Kind, now: float) -> None:
        """A ping of ``kind`` received at ``now``."""
        if kind == "start":
            self.last_start = now  # the schedule is not moved by a start, only by a finish
            return
        if self.last_start is not None:
            self.last_duration = max(0.0, now - self.last_start)
            self.last_start = None
        self.last_ping = now
        if kind == "success":
            self.status = "up"
            self.last_success = now
            self.successes += 1
        else:
            self.status = "down"
            self.last_failure = now
            self.failures += 1


_FLOAT_FIELDS = {f.name for f in fields(JobState) if f.name.startswith("last_")}


def _job_from(raw: Any) -> JobState:
    """A JobState from its JSON form; ValueError when the form is wrong."""
    if not isinstance(raw, dict) or set(raw) - {f.name for f in fields(JobState)}:
        raise ValueError("a job entry is not an object of known keys")
    state = JobState()
    if raw.get("status", "never") not in ("never", "up", "down"):
        raise ValueError(f"unknown status {raw.get('status')!r}")
    state.status = raw.get("status", "never")
    for key in _FLOAT_FIELDS:
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"{key} is not a number")
        setattr(state, key, None if value is None else float(value))
    for key in ("successes", "failures"):
        value = raw.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{key} is not a count")
        setattr(state, key, value)
    return state


def encode(states: dict[str, JobState]) -> bytes:
    doc = {"version": FORMAT_VERSION, "jobs": {n: asdict(s) for n, s in sorted(states.items())}}
    return json.dumps(doc, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def decode(data: bytes) -> dict[str, JobState]:
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} heartbeat state file")
    jobs = doc.get("jobs")
    if not isinstance(jobs, dict):
        raise ValueError("no 'jobs' object")
    return {str(name): _job_from(raw) for name, raw in jobs.items()}


class StateStore:
    """The state file of the heartbeats. Synchronous: the source calls it in a thread."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.status = "disabled" if path is None else "missing"
        self.message = ""
        self.last_save: float | None = None  # Unix time of the last successful save
        self.saves = 0  # successful saves, for tests and to tell a flood was coalesced

    def load(self) -> dict[str, JobState]:
        """The saved state; empty (with :attr:`status` telling why) when there is none."""
        if self.path is None:
            return {}
        try:
            with open(self.path, "rb") as f:
                data = f.read()
                saved_at = os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            self._set("missing", f"{self.path} does not exist yet")
            return {}
        except OSError as e:
            # e.g. a directory in its place: keep running in memory, saves will say more
            self._set("corrupt", f"{self.path} cannot be read: {e.strerror}")
            return {}
        try:
            states = decode(data)
        except (ValueError, UnicodeDecodeError) as e:
            aside = self.path + ".corrupt"
            try:
                os.replace(self.path, aside)
                where = f"moved to {aside}"
            except OSError as err:
                where = f"could not be moved aside ({err.strerror})"
            self._set("corrupt", f"{self.path} is not a valid state file ({e}); {where}")
            return {}
        self.last_save = saved_at  # saved by the previous process
        self._set("ok", "")
        return states

    def save(self, data: bytes, now: float) -> bool:
        """Write ``data`` atomically; True on success. Never raises for an OS error."""
        if self.path is None:
            return True
        try:
            write_atomic(self.path, data, ".heartbeats-")
        except OSError as e:
            self._set("unwritable", f"{self.path} cannot be written: {e.strerror}")
            return False
        self.saves += 1
        self.last_save = now
        self._set("ok", "")
        return True

    def _set(self, status: str, message: str) -> None:
        if status != self.status or message != self.message:
            if status in ("corrupt", "unwritable"):
                log.error("heartbeat state: %s", message)
            elif message:
                log.info("heartbeat state: %s", message)
        self.status, self.message = status, message
