"""Following files by glob, as ``tail -F`` does, with bounded memory.

:class:`LineSplitter` cuts bytes into complete lines: a line is only handed on once its newline
is read, and an unfinished line is held only up to ``max_line`` bytes; past that it is counted as
too long and skipped up to its newline without being kept (a 100 MB line costs one read buffer).

:class:`FileFollower` runs one *poll* at a time, in a worker thread (the source's background
task calls it through ``asyncio.to_thread``, so the event loop never waits on a disk):

- it globs the patterns and identifies files by device and inode, not by name, so a file
  renamed to a name the globs still match is not read twice;
- files present at the first scan start at their end (``from_start`` reads them whole); files
  that appear later (the new file after a rotation, a file deleted and created again) are read
  from their beginning;
- a followed file whose name no longer leads to it (renamed away or deleted) is read on until it
  has been quiet for ``rotate_wait``, since a writer keeps writing to it until it reopens its
  log; then it is closed;
- every file has a *fingerprint*, its first ``FINGERPRINT`` bytes, taken once it is that long
  (as Vector's and Filebeat's checksum fingerprints): a file that shrank below the position
  read, or whose first bytes are no longer its fingerprint (truncated and refilled past the
  position read between two polls), was truncated (copytruncate) and is read again from its
  start;
- a file that appears with the fingerprint of a followed file is a *copy* of it (copytruncate's
  copy, matched by a glob such as ``app.log*``): it is not read as a new file; when the
  original is then found truncated, the copy is read from the position the original had been
  read to, with the original's unfinished line, so the lines written before the copy but not
  read yet are read once, from the copy, and nothing is read twice;
- reads are positional (``pread``), in chunks, with a byte budget per poll so one poll holds its
  thread (and a shutdown waits) for a bounded time; a poll that used its budget says so, and
  the caller polls again at once.

A new file too short to have a fingerprint may be a copy that ``cp`` created and has not
filled yet: it is held, unread, until it has a fingerprint or for ``rotate_wait`` at most. The
original of a copy is a file at its name, followed since before the copy appeared, never a
renamed one: so numbered copies (``app.log.1`` moved to ``app.log.2`` before the new copy takes
``app.log.1``) and rename rotations of a log of identical lines are not mistaken for copies.

Known limits: with copytruncate, lines written between the copy and the truncation are in
neither file and are lost by the rotation itself (as for every follower); when no glob matches
the copy, the lines written after the last poll and before the truncation are lost too; a file
shorter than ``FINGERPRINT`` bytes has no fingerprint, so its copy is read as a new file and its
truncation is seen only by its shrinking.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from exporter.logs.config import LogSource
from exporter.logs.counters import LogState

log = logging.getLogger("redline.logs.tail")

Ident = tuple[int, int]  # (st_dev, st_ino)
# Bytes at the start of a file that identify its content (Vector's default checksum reads a
# line up to 256 bytes; Filebeat's fingerprint 1,024): two log files rarely share as many.
FINGERPRINT = 256
TRUNCATIONS_KEPT = 4  # per file: truncations remembered for a copy seen only afterwards
Sink = Callable[[list[str]], object]


def _decode(raw: bytes) -> str:
    # Invalid UTF-8 becomes U+FFFD: the line is still counted and parsed; a log with a stray
    # Latin-1 byte loses that character, not the line.
    text = raw.decode("utf-8", "replace")
    return text[:-1] if text.endswith("\r") else text


class LineSplitter:
    """Complete lines out of a stream of byte chunks, holding at most ``max_line`` bytes."""

    __slots__ = ("_partial", "max_line", "skipping")

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self._partial = b""
        # Inside a line that is not to be emitted (counted too long already, or begun before
        # reading started): bytes are dropped up to the next newline.
        self.skipping = False

    def reset(self) -> bool:
        """Forget the unfinished line; True when one was held (a partial line dropped)."""
        held = bool(self._partial)
        self._partial = b""
        self.skipping = False
        return held

    def finish(self) -> tuple[list[str], int]:
        """The end of a stream that is complete (an ingest body): its last line needs no
        newline."""
        if self.skipping or not self._partial:
            self.reset()
            return [], 0
        line = self._partial
        self._partial = b""
        return [_decode(line)], 0

    def push(self, data: bytes) -> tuple[list[str], int]:
        """The lines ``data`` completes, and how many lines were found too long."""
        max_line = self.max_line
        first = data.find(b"\n")
        if first < 0:
            if self.skipping:
                return [], 0
            if len(self._partial) + len(data) > max_line:
                self._partial = b""
                self.skipping = True
                return [], 1
            self._partial += data
            return [], 0

        too_long = 0
        out: list[str] = []
        if self.skipping:
            self.skipping = False
        else:
            head = self._partial + data[:first] if self._partial else data[:first]
            if len(head) > max_line:
                too_long += 1
            else:
                out.append(_decode(head))
        self._partial = b""

        last = data.rfind(b"\n")
        if last > first:
            block = data[first + 1 : last]
            parts = block.split(b"\n")
            if len(block) <= max_line or max(map(len, parts)) <= max_line:
                # one decode for the whole block: newlines never occur inside a UTF-8 sequence
                text = block.decode("utf-8", "replace")
                lines = text.split("\n")
                if "\r" in text:
                    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
                out.extend(lines)
            else:
                for part in parts:
                    if len(part) > max_line:
                        too_long += 1
                    else:
                        out.append(_decode(part))

        tail = data[last + 1 :]
        if len(tail) > max_line:
            self.skipping = True
            too_long += 1
        else:
            self._partial = tail
        return out, too_long


@dataclass(frozen=True)
class TailSettings:
    paths: tuple[str, ...]
    from_start: bool = False
    rotate_wait: float = 5.0
    max_line: int = 64 * 1024
    max_files: int = 1024

    @classmethod
    def of(cls, spec: LogSource) -> TailSettings:
        return cls(
            paths=spec.paths,
            from_start=spec.from_start,
            rotate_wait=spec.rotate_wait,
            max_line=spec.max_line,
            max_files=spec.max_files,
        )


class _File:
    __slots__ = (
        "copy_of",
        "failing",
        "fd",
        "fingerprint",
        "former_path",
        "found_scan",
        "ident",
        "last_data",
        "last_truncated",
        "looks_rotated",
        "offset",
        "orphan_since",
        "path",
        "splitter",
        "undecided_since",
    )

    def __init__(self, ident: Ident, path: str, fd: int, offset: int, max_line: int, now: float):
        self.ident = ident
        self.path = path
        self.fd = fd
        self.offset = offset
        self.splitter = LineSplitter(max_line)
        self.last_data = now
        self.orphan_since: float | None = None  # when its name stopped leading to it
        self.failing = False  # a read failed and was counted; counted again only after success
        self.fingerprint: bytes | None = None  # its first FINGERPRINT bytes, once it has them
        # A copy of that followed file (copytruncate): not read until the original is found
        # truncated, then read from where the original was.
        self.copy_of: Ident | None = None
        self.former_path: str | None = None  # the name it had before a rename
        self.found_scan = 0  # the scan that found it (a copy is of a file found before it)
        # First seen with the first bytes of a renamed file: a file of a rename rotation
        # renamed before any scan saw it at the log's name. Like a renamed file, it is never
        # taken for the original of a copy.
        self.looks_rotated = False
        # (fingerprint, position read) of its content before its last truncations, when no
        # copy was followed then: a copy found later (the scan that found the truncation ran
        # before the copy existed) is read from that position. A few, for rotations faster
        # than polls.
        self.last_truncated: deque[tuple[bytes, int]] = deque(maxlen=TRUNCATIONS_KEPT)
        # Appeared too short to have a fingerprint: perhaps a copy that cp has created and not
        # filled yet. Not read until it has one (then it is matched like any new file) or it
        # has been there for rotate_wait (then it is a new log).
        self.undecided_since: float | None = None


class FileFollower:
    CHUNK = 256 * 1024
    # Bytes one poll reads at most (shared by the source's files): bounds how long a poll
    # holds its thread, and so how long a reload or shutdown waits for it.
    BUDGET = 16 * 1024 * 1024

    def __init__(
        self,
        source: str,
        settings: TailSettings,
        sink: Sink,
        state: LogState,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.settings = settings
        self.sink = sink
        self.state = state
        self.clock = clock
        self._files: dict[Ident, _File] = {}
        self._pending: tuple[TailSettings, Sink] | None = None
        self._initial = True  # the next scan is a first one: files found start at their end
        # Files seen at a first scan that could not be opened then: when they can, they start
        # at their end too, as their content predates redline.
        self._present_at_start: set[Ident] = set()
        self._open_failed: set[Ident] = set()  # counted once until opened or gone
        self._too_many_warned = False
        self._lock = threading.Lock()  # a poll and close never overlap
        self._closed = False
        self._scans = 0

    def update(self, settings: TailSettings, sink: Sink) -> None:
        """Adopt new settings at the next poll (called from the event loop while a poll may be
        running in a thread). Open files and their positions are kept."""
        self._pending = (settings, sink)

    @property
    def files(self) -> list[tuple[str, int]]:
        """The followed files: (path, offset read so far), for tests and debugging. A renamed or
        deleted file still being read shows its last known name."""
        return [(f.path, f.offset) for f in list(self._files.values())]

    def poll(self) -> bool:
        """Scan, then read what is new. True when the budget ran out with data left."""
        with self._lock:
            if self._closed:
                return False
            pending, self._pending = self._pending, None
            if pending is not None:
                settings, self.sink = pending
                if settings.paths != self.settings.paths:
                    self._initial = True  # files newly matched by a reload existed before it
                if settings.max_line != self.settings.max_line:
                    for f in self._files.values():
                        f.splitter.max_line = settings.max_line
                self.settings = settings
            return self._poll()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for f in self._files.values():
                self._close_fd(f)
            self._files.clear()
            self.state.set_files(self.source, 0)

    # --- one poll ---------------------------------------------------------------------------

    def _scan(self) -> dict[Ident, str]:
        found: dict[Ident, str] = {}
        for pattern in self.settings.paths:
            for path in sorted(glob.glob(pattern, recursive=True)):
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # gone since the glob, or a dangling symlink
                if stat.S_ISREG(st.st_mode):  # never a FIFO (would block) or a directory
                    found.setdefault((st.st_dev, st.st_ino), path)
        return found

    def _poll(self) -> bool:
        now = self.clock()
        settings = self.settings
        found = self._scan()
        self._scans += 1
        initial, self._initial = self._initial, False

        for ident, f in self._files.items():
            path = found.get(ident)
            if path is not None:
                if path != f.path:  # renamed to a name the globs match too: same file
                    self.state.add("rotations", (self.source, "rename"))
                    f.former_path, f.path = f.path, path
                f.orphan_since = None
            elif f.orphan_since is None:
                f.orphan_since = now
                try:
                    deleted = os.fstat(f.fd).st_nlink == 0
                except OSError:
                    deleted = True
                self.state.add("rotations", (self.source, "delete" if deleted else "rename"))

        for ident, path in found.items():
            if ident in self._files:
                continue
            if len(self._files) >= settings.max_files:
                if not self._too_many_warned:
                    log.warning(
                        "log source %s: more than max_files=%d files match; the others are "
                        "not followed",
                        self.source,
                        settings.max_files,
                    )
                    self._too_many_warned = True
                if initial:  # followed later, once others close: from their end then
                    self._present_at_start.add(ident)
                continue
            at_end = not settings.from_start and (initial or ident in self._present_at_start)
            opened = self._open(ident, path, at_end, now)
            if opened is None:
                if initial:
                    self._present_at_start.add(ident)
                continue
            opened.found_scan = self._scans
            if not initial:
                self._match_copy(opened, now)
            self._files[ident] = opened
            self._present_at_start.discard(ident)
        self._present_at_start &= found.keys()
        self._open_failed &= found.keys()

        more = False
        share = max(self.CHUNK, self.BUDGET // max(1, len(self._files)))
        read_total = 0
        too_long = 0
        for f in list(self._files.values()):
            used, long_lines = self._read(f, share, now)
            read_total += used
            too_long += long_lines
            if used >= share:
                more = True
            elif (
                f.orphan_since is not None
                and used == 0
                and now - max(f.orphan_since, f.last_data) >= settings.rotate_wait
            ):
                if f.splitter.reset():
                    self.state.add("dropped", (self.source, "partial"))
                self._close_fd(f)
                del self._files[f.ident]
        if read_total:
            self.state.add("bytes_read", self.source, read_total)
        if too_long:
            self.state.add("dropped", (self.source, "too_long"), too_long)
        self.state.set_files(self.source, len(self._files))
        return more

    def _open(self, ident: Ident, path: str, at_end: bool, now: float) -> _File | None:
        try:
            # O_NONBLOCK: should the name now be a FIFO, opening it must not hang the thread
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if ident not in self._open_failed:
                self._open_failed.add(ident)
                self.state.add("file_errors", self.source)
                log.warning("log source %s: cannot open %s: %s", self.source, path, e.strerror)
            return None
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != ident or not stat.S_ISREG(st.st_mode):
                os.close(fd)  # replaced since the scan: the next scan sees what is there now
                return None
            offset = st.st_size if at_end else 0
            f = _File(ident, path, fd, offset, self.settings.max_line, now)
            # Starting at the end in the middle of a line: its rest is not a line.
            if offset and os.pread(fd, 1, offset - 1) != b"\n":
                f.splitter.skipping = True
        except OSError as e:
            os.close(fd)
            self.state.add("file_errors", self.source)
            log.warning("log source %s: cannot read %s: %s", self.source, path, e.strerror)
            return None
        self._open_failed.discard(ident)
        log.info("log source %s: following %s from byte %d", self.source, path, offset)
        return f

    def _fingerprint(self, f: _File, size: int) -> None:
        if f.fingerprint is None and size >= FINGERPRINT:
            with contextlib.suppress(OSError):
                head = os.pread(f.fd, FINGERPRINT, 0)
                if len(head) == FINGERPRINT:
                    f.fingerprint = head

    def _match_copy(self, new: _File, now: float) -> None:
        """A file that appeared with a followed file's fingerprint is copytruncate's copy of
        it: it is skipped (its position set to its end) until the original is found truncated
        (:meth:`_truncated`)."""
        try:
            size = os.fstat(new.fd).st_size
        except OSError:
            return
        self._fingerprint(new, size)
        if new.fingerprint is None:
            if self.settings.rotate_wait > 0 and not any(
                f.path == new.path for f in self._files.values()
            ):
                # cp creates the copy before it writes it. A file at the name of one still
                # being drained (deleted, or renamed to a name no glob matches) replaced it: it
                # is a new log, not held. A new log at the former name of a file renamed to a
                # matched name (app.log -> app.log.1 under app.log*) cannot be told from a
                # numbered copy (app.log.1 -> app.log.2, then cp app.log app.log.1): held.
                new.undecided_since = now
            return
        for f in self._files.values():
            if f is new:
                continue  # a file held undecided is matched from among the followed ones
            if f.former_path == new.path:
                # rename rotation: the new file at this file's old name is a new log, even
                # when it starts like it (a log of identical lines). A copy is of a file still
                # at its name; with numbered copies (app.log.1 moved to app.log.2 first), the
                # copy at app.log.1 is of app.log, not of the file that moved.
                continue
            before = next((t for t in f.last_truncated if t[0] == new.fingerprint), None)
            if before is not None:
                # the copy of content truncated before the copy was seen: read its unread rest
                read_to = min(before[1], size)
                f.last_truncated.remove(before)
                new.offset = read_to
                with contextlib.suppress(OSError):
                    new.splitter.skipping = (
                        bool(read_to) and os.pread(new.fd, 1, read_to - 1) != b"\n"
                    )
                log.info(
                    "log source %s: %s is a copy of %s before its truncation; read from byte %d",
                    self.source,
                    new.path,
                    f.path,
                    read_to,
                )
                return
            if f.fingerprint == new.fingerprint and self._may_be_copied(f):
                new.copy_of = f.ident
                new.offset = size
                new.splitter.skipping = False
                log.info(
                    "log source %s: %s is a copy of %s (same first %d bytes); read only for "
                    "what %s had not been read to",
                    self.source,
                    new.path,
                    f.path,
                    FINGERPRINT,
                    f.path,
                )
                return
        if any(
            f.fingerprint == new.fingerprint and (f.former_path is not None or f.looks_rotated)
            for f in self._files.values()
            if f is not new
        ):
            new.looks_rotated = True

    def _may_be_copied(self, f: _File) -> bool:
        """Whether ``f`` can be the original of a copy that appeared in this scan:
        copytruncate copies the file being written, at its name, followed since before the
        copy appeared (an original and copy both new in one scan were never read: each is
        read whole, which is right). A renamed file is not the one being written; a file that
        is itself a copy, held, or gone from its name is not either."""
        return (
            f.former_path is None
            and not f.looks_rotated
            and f.orphan_since is None
            and f.copy_of is None
            and f.undecided_since is None
            and f.found_scan < self._scans
        )

    def _truncated(self, f: _File) -> None:
        """``f`` was truncated: read on from its copy, if one is followed, else from its
        start."""
        self.state.add("rotations", (self.source, "truncate"))
        copies = [c for c in self._files.values() if c.copy_of == f.ident]
        if copies:
            copy = copies[-1]  # the latest copy holds the most
            for c in copies:
                c.copy_of = None
            try:
                size = os.fstat(copy.fd).st_size
            except OSError:
                size = 0
            if size >= f.offset:
                # read on in the copy where the original was, its unfinished line included
                copy.offset = f.offset
                copy.splitter, f.splitter = f.splitter, LineSplitter(self.settings.max_line)
            else:
                # the original was read past the copy (a poll came between the two): the
                # copy holds nothing unread
                copy.offset = size
                copy.splitter.reset()
                if f.splitter.reset():
                    self.state.add("dropped", (self.source, "partial"))
        else:
            if f.fingerprint is not None:
                f.last_truncated.append((f.fingerprint, f.offset))
            if f.splitter.reset():
                self.state.add("dropped", (self.source, "partial"))
        f.offset = 0
        f.fingerprint = None

    def _read(self, f: _File, budget: int, now: float) -> tuple[int, int]:
        try:
            size = os.fstat(f.fd).st_size
        except OSError:
            return 0, 0
        if size < f.offset:
            self._truncated(f)
        elif size > f.offset and f.fingerprint is not None:
            # Grown, or truncated and refilled past the position: the first bytes tell.
            try:
                head = os.pread(f.fd, FINGERPRINT, 0)
            except OSError:
                head = f.fingerprint
            if head != f.fingerprint:
                self._truncated(f)
        if f.undecided_since is not None:
            if f.former_path is not None:
                # renamed while held: the active log of a rename rotation (a copy is not
                # renamed before cp has filled it), whatever its first bytes match
                f.undecided_since = None
            elif size >= FINGERPRINT:
                f.undecided_since = None
                self._match_copy(f, now)
            elif now - f.undecided_since >= self.settings.rotate_wait:
                f.undecided_since = None  # short and still there: a new log, read whole
            else:
                return 0, 0
        if f.copy_of is not None:
            return 0, 0  # a copy waiting for its original's truncation
        self._fingerprint(f, size)
        used = too_long = 0
        chunk = self.CHUNK
        push = f.splitter.push
        sink = self.sink
        while used < budget:
            try:
                data = os.pread(f.fd, min(chunk, budget - used), f.offset)
            except OSError as e:
                if not f.failing:
                    f.failing = True
                    self.state.add("file_errors", self.source)
                    log.warning("log source %s: reading %s: %s", self.source, f.path, e.strerror)
                break
            if not data:
                break
            f.failing = False
            f.offset += len(data)
            used += len(data)
            lines, long_lines = push(data)
            too_long += long_lines
            if lines:
                sink(lines)
        if used:
            f.last_data = now
        return used, too_long

    @staticmethod
    def _close_fd(f: _File) -> None:
        with contextlib.suppress(OSError):
            os.close(f.fd)
