"""The Fly machines source's counters and what it has already counted, in a small JSON file, so
OOM kills, restarts and exits are counters that survive restarts of redline.

Per process group (``app/group``): exits, OOM kills, restarts, the newest exit's code and time.
Per machine: the time (ms) of the newest event already counted, so an event listed again by the
next poll is never counted twice. Saving is atomic (a temporary file, fsync, rename, directory
fsync), as the heartbeats' state is: a crash leaves the old file or the new one. A missing file,
a corrupt one (set aside as ``FILE.corrupt``) or a failed save is a status, never an exception.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from exporter.atomicfile import write_atomic

log = logging.getLogger("redline.platform")

FORMAT_VERSION = 1
FILE_STATUSES: tuple[str, ...] = ("ok", "missing", "corrupt", "unwritable", "disabled")


@dataclass
class GroupCounts:
    exits: int = 0
    oom_kills: int = 0
    restarts: int = 0
    last_exit_code: int | None = None
    last_exit_ms: int | None = None  # Unix time in milliseconds, as Fly's events have it


@dataclass
class Counts:
    groups: dict[str, GroupCounts] = field(default_factory=dict)  # "app/group" ->
    watermarks: dict[str, int] = field(default_factory=dict)  # machine id -> newest counted ms

    def group(self, app: str, group: str) -> GroupCounts:
        return self.groups.setdefault(f"{app}/{group}", GroupCounts())


def encode(counts: Counts) -> bytes:
    doc = {
        "version": FORMAT_VERSION,
        "groups": {k: asdict(v) for k, v in sorted(counts.groups.items())},
        "watermarks": dict(sorted(counts.watermarks.items())),
    }
    return json.dumps(doc, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def _int(value: Any, what: str, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < -(2**63):
        raise ValueError(f"{what} is not an integer")
    return value


def decode(data: bytes) -> Counts:
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        raise ValueError(f"not a version {FORMAT_VERSION} machine state file")
    groups, marks = doc.get("groups"), doc.get("watermarks")
    if not isinstance(groups, dict) or not isinstance(marks, dict):
        raise ValueError("no 'groups' and 'watermarks' objects")
    out = Counts()
    for key, raw in groups.items():
        if not isinstance(raw, dict) or set(raw) - set(GroupCounts.__dataclass_fields__):
            raise ValueError(f"group {key!r} is not an object of known keys")
        counts = GroupCounts()
        for name in ("exits", "oom_kills", "restarts"):
            value = _int(raw.get(name, 0), name)
            if value is None or value < 0:
                raise ValueError(f"{name} is not a count")
            setattr(counts, name, value)
        counts.last_exit_code = _int(raw.get("last_exit_code"), "last_exit_code", True)
        counts.last_exit_ms = _int(raw.get("last_exit_ms"), "last_exit_ms", True)
        out.groups[str(key)] = counts
    for machine, mark in marks.items():
        value = _int(mark, "a watermark")
        assert value is not None
        out.watermarks[str(machine)] = value
    return out


class StateStore:
    """The state file; synchronous (the source calls it in a thread)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.status = "disabled" if path is None else "missing"

    def load(self) -> Counts:
        if self.path is None:
            return Counts()
        try:
            with open(self.path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            self.status = "missing"
            return Counts()
        except OSError as e:
            self._fail("corrupt", f"{self.path} cannot be read: {e.strerror}")
            return Counts()
        try:
            counts = decode(data)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            aside = self.path + ".corrupt"
            try:
                os.replace(self.path, aside)
                where = f"moved to {aside}"
            except OSError as err:
                where = f"could not be moved aside ({err.strerror})"
            self._fail("corrupt", f"{self.path} is not a valid state file ({e}); {where}")
            return Counts()
        self.status = "ok"
        return counts

    def save(self, data: bytes) -> bool:
        if self.path is None:
            return True
        try:
            write_atomic(self.path, data, ".fly-machines-")
        except OSError as e:
            self._fail("unwritable", f"{self.path} cannot be written: {e.strerror}")
            return False
        self.status = "ok"
        return True

    def _fail(self, status: str, message: str) -> None:
        if status != self.status:
            log.error("fly machine state: %s", message)
        self.status = status
