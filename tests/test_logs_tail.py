"""Following files: start at the end, rotation by rename and by truncation, delete and recreate,
new files, over-long lines with bounded memory, binary garbage, unreadable files, a burst of a
million lines. Every count is compared with one computed independently from what was written.

Polls are driven by hand (``follower.poll()``) so each step is deterministic; one test runs a
writer thread against a polling thread to show the same exactness under real concurrency.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from exporter.config import parse_config
from exporter.logs.counters import LogState
from exporter.logs.pipeline import Pipeline
from exporter.logs.tail import FileFollower, LineSplitter, TailSettings

REQUEST = "[GET] /health - 200 (12ms) [req-abc]\n"


class Rig:
    """A follower on ``paths`` feeding a pipeline with the shipped hotrod_access parser."""

    def __init__(
        self, tmp: Path, paths: list[str], clock: Any = time.monotonic, **settings: Any
    ) -> None:
        config = parse_config(
            f"""
logs:
  sources:
    - name: app
      kind: file
      paths: {[str(tmp / p) for p in paths]}
      parsers: [hotrod_access]
""",
            "test.yml",
        )
        self.state = LogState()
        self.state.set_buckets(config.logs.buckets)
        spec = config.logs.sources[0]
        self.state.declare("app", "file", ())
        self.pipeline = Pipeline(spec, config.logs, self.state)
        merged = {"rotate_wait": 0.0, "max_line": 1024, **settings}
        self.follower = FileFollower(
            "app",
            TailSettings(paths=spec.paths, **merged),
            self.pipeline.feed,
            self.state,
            clock=clock,
        )

    def poll(self) -> None:
        """Poll until everything available has been read."""
        while self.follower.poll():
            pass

    @property
    def lines(self) -> int:
        return int(sum(v for (s, _), v in self.state.lines.items() if s == "app"))

    @property
    def requests(self) -> int:
        return int(sum(self.state.requests.values()))

    def get(self, table: str, key: Any) -> float:
        values: dict[Any, float] = getattr(self.state, table)
        return values.get(key, 0.0)


def write(path: Path, text: str | bytes, mode: str = "a") -> None:
    data = text.encode() if isinstance(text, str) else text
    with open(path, mode + "b") as f:
        f.write(data)


def test_starts_at_end_and_holds_partial_lines(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, REQUEST * 5 + "[GET] /half-written")  # before start: not counted
    rig = Rig(tmp_path, ["app.log"])
    rig.poll()
    assert rig.lines == 0
    write(log, " - 200 (1ms)\n")  # the end of a line begun before start is not a line
    rig.poll()
    assert rig.lines == 0
    write(log, REQUEST * 3 + "[POST] /api - 201")  # a partial line is never a line...
    rig.poll()
    assert (rig.lines, rig.requests) == (3, 3)
    write(log, " (5ms)\n")  # ...until its newline arrives
    rig.poll()
    assert (rig.lines, rig.requests) == (4, 4)
    written = [" - 200 (1ms)\n", REQUEST * 3, "[POST] /api - 201", " (5ms)\n"]
    assert rig.get("bytes_read", "app") == sum(len(w) for w in written)


def test_from_start_reads_existing_content(tmp_path: Path) -> None:
    write(tmp_path / "app.log", REQUEST * 7)
    rig = Rig(tmp_path, ["app.log"], from_start=True)
    rig.poll()
    assert rig.lines == 7


def test_rotation_by_rename_while_a_line_is_half_written(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log"], rotate_wait=60.0)
    rig.poll()
    writer = open(log, "ab", buffering=0)  # noqa: SIM115 (the writer outlives the rename)
    writer.write((REQUEST * 10 + "[GET] /a - 200").encode())
    rig.poll()
    assert rig.lines == 10
    os.rename(log, tmp_path / "app.log.1")  # logrotate's rename; the app still writes to it
    rig.poll()
    writer.write((" (3ms)\n" + REQUEST * 4).encode())  # finishes the line, then 4 more
    new = open(log, "ab", buffering=0)  # noqa: SIM115 (the app reopens its log)
    new.write((REQUEST * 6).encode())
    rig.poll()
    writer.close()
    new.close()
    assert (rig.lines, rig.requests) == (21, 21)
    assert rig.get("rotations", ("app", "rename")) == 1
    assert len(rig.follower.files) == 2  # the old file is still read for rotate_wait


def test_rotated_file_is_closed_after_rotate_wait(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "")
    now = [1000.0]
    rig = Rig(tmp_path, ["app.log"], rotate_wait=5.0)
    rig.follower.clock = lambda: now[0]
    rig.poll()
    write(log, REQUEST * 2 + "[GET] /never-finished")
    rig.poll()
    os.rename(log, tmp_path / "old.log")
    rig.poll()
    now[0] += 4.9
    rig.poll()
    assert len(rig.follower.files) == 1  # still open, though renamed
    now[0] += 0.2
    rig.poll()
    assert rig.follower.files == []
    assert rig.lines == 2
    # the unfinished line is dropped, counted, never emitted
    assert rig.get("dropped", ("app", "partial")) == 1
    assert rig.get("files", "app") == 0


def test_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log"])
    rig.poll()
    write(log, REQUEST * 100 + "[GET] /cut - 2")
    rig.poll()
    assert rig.lines == 100
    shutil.copy(log, tmp_path / "app.log.1")  # copytruncate: copy, then truncate in place
    os.truncate(log, 0)
    write(log, REQUEST * 30)  # fewer bytes than were read: the shrink is seen
    rig.poll()
    assert rig.lines == 130
    assert rig.get("rotations", ("app", "truncate")) == 1
    assert rig.get("dropped", ("app", "partial")) == 1


def test_delete_and_recreate(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "")
    rig = Rig(tmp_path, ["app.log"])
    rig.poll()
    write(log, REQUEST * 10)
    rig.poll()
    os.unlink(log)
    rig.poll()  # rotate_wait 0: drained and closed, so the inode may be reused at once
    assert rig.follower.files == []
    write(log, REQUEST * 5)  # a new file, read from its start
    rig.poll()
    write(log, REQUEST * 2)
    rig.poll()
    assert (rig.lines, rig.requests) == (17, 17)
    assert rig.get("rotations", ("app", "delete")) == 1


def test_new_files_matching_the_glob(tmp_path: Path) -> None:
    write(tmp_path / "a.log", REQUEST * 3)
    rig = Rig(tmp_path, ["*.log"])
    rig.poll()
    write(tmp_path / "b.log", REQUEST * 4)  # appeared after start: read whole
    write(tmp_path / "a.log", REQUEST)
    (tmp_path / "dir.log").mkdir()  # not a file: ignored
    os.mkfifo(tmp_path / "fifo.log")  # would block a reader: ignored
    os.symlink(tmp_path / "missing", tmp_path / "dangling.log")
    rig.poll()
    assert rig.lines == 5
    assert sorted(Path(p).name for p, _ in rig.follower.files) == ["a.log", "b.log"]
    assert rig.get("files", "app") == 2


def test_a_100_mb_line_is_never_held(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    with open(log, "wb") as f:
        f.write(REQUEST.encode() * 2)
        block = b"x" * (1024 * 1024)
        for _ in range(100):  # one 100 MiB line
            f.write(block)
        f.write(b"\n")
        f.write(REQUEST.encode() * 3)
        f.write(b"y" * 2000 + b"\n")  # over max_line (1024) inside one chunk
        f.write(REQUEST.encode())
    rig = Rig(tmp_path, ["app.log"], from_start=True)
    tracemalloc.start()
    try:
        rig.poll()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (rig.lines, rig.requests) == (6, 6)
    assert rig.get("dropped", ("app", "too_long")) == 2
    assert rig.get("bytes_read", "app") == log.stat().st_size
    # a few read chunks (256 KiB) at most, never the line
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes while reading a 100 MiB line"


def test_binary_garbage_counts_exactly(tmp_path: Path) -> None:
    rng = random.Random(4)
    garbage = bytes(rng.getrandbits(8) for _ in range(300_000))
    garbage += b"\xff\xfe" + REQUEST.encode() + b"\x00\x80\n"  # a request among garbage
    data = garbage + REQUEST.encode() * 3
    write(tmp_path / "app.log", data)
    rig = Rig(tmp_path, ["app.log"], from_start=True, max_line=1024)
    rig.poll()
    # independently: complete lines, one trailing \r removed, empty ones skipped
    complete = data.split(b"\n")[:-1]
    long = [p for p in complete if len(p) > 1024]
    counted = [p for p in complete if len(p) <= 1024 and p.removesuffix(b"\r")]
    assert rig.lines == len(counted)
    assert rig.get("dropped", ("app", "too_long")) == len(long)
    requests = sum(1 for p in counted if b"[GET] /health - 200 (12ms)" in p)
    assert rig.requests == requests == 4
    assert rig.get("parse_errors", ("app", "format")) == len(counted) - requests


def test_unreadable_files_are_survived(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "locked.log", REQUEST * 9)
    write(tmp_path / "ok.log", "")
    real_open = os.open

    def deny(path: str, flags: int, *args: Any) -> int:
        if str(path).endswith("locked.log"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args)

    # the tests run as root, which no file mode stops: refuse the open as the kernel would
    monkeypatch.setattr("exporter.logs.tail.os.open", deny)
    rig = Rig(tmp_path, ["*.log"])
    rig.poll()
    write(tmp_path / "ok.log", REQUEST)
    rig.poll()
    rig.poll()
    assert rig.lines == 1
    assert rig.get("file_errors", "app") == 1  # counted once, not at every poll
    monkeypatch.setattr("exporter.logs.tail.os.open", real_open)
    rig.poll()  # readable now: it was there at start, so it starts at its end
    write(tmp_path / "locked.log", REQUEST * 2)
    rig.poll()
    assert rig.lines == 3

    real_pread = os.pread
    failures = [2]

    def flaky(fd: int, n: int, offset: int) -> bytes:
        if failures[0]:
            failures[0] -= 1
            raise OSError(5, "Input/output error")
        return real_pread(fd, n, offset)

    monkeypatch.setattr("exporter.logs.tail.os.pread", flaky)
    write(tmp_path / "ok.log", REQUEST * 4)
    rig.poll()
    rig.poll()
    assert rig.lines == 7  # read once the errors stop, nothing lost or doubled
    assert rig.get("file_errors", "app") == 3


def test_crlf_and_empty_lines(tmp_path: Path) -> None:
    write(tmp_path / "app.log", "")
    rig = Rig(tmp_path, ["app.log"])
    rig.poll()
    write(tmp_path / "app.log", REQUEST.replace("\n", "\r\n") * 3 + "\n\r\n\n")
    rig.poll()
    assert (rig.lines, rig.requests) == (3, 3)


def test_splitter_bounds_and_exactness() -> None:
    splitter = LineSplitter(max_line=10)
    out: list[str] = []
    long = 0
    for piece in (b"abc", b"de\nfg", b"h" * 20, b"i\nshort\n", b"\xe2\x82", b"\xac\n"):
        lines, too_long = splitter.push(piece)
        out += lines
        long += too_long
    assert out == ["abcde", "short", "€"]  # a character split across reads is whole
    assert long == 1
    assert splitter.push(b"0123456789\n01234567890\n") == (["0123456789"], 1)
    assert splitter.push(b"tail") == ([], 0)
    assert splitter.finish() == (["tail"], 0)


@pytest.mark.slow
def test_a_burst_of_a_million_lines(tmp_path: Path) -> None:
    block = (REQUEST * 8 + "not a request line\n" + "[POST] /api/x - 503 (250ms) [r]\n").encode()
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log"])
    rig.poll()
    write(log, block * 100_000)  # 1,000,000 lines at once
    started = time.perf_counter()
    rig.poll()
    elapsed = time.perf_counter() - started
    assert rig.lines == 1_000_000
    assert rig.requests == 900_000
    assert rig.state.requests[("app", "other", "POST", "5xx")] == 100_000
    assert rig.get("parse_errors", ("app", "format")) == 100_000
    assert rig.state.durations[("app", "other")][-1] == pytest.approx(
        800_000 * 0.012 + 100_000 * 0.25
    )
    assert elapsed < 12, f"a million lines took {elapsed:.1f}s"


def test_rotation_under_a_concurrent_writer(tmp_path: Path) -> None:
    """A writer rotating by rename (numbered files the glob still matches) while the follower
    polls from another thread: every line is counted exactly once."""
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log*"], rotate_wait=0.2)
    rig.poll()
    done = threading.Event()
    written = 0

    def writer() -> None:
        nonlocal written
        f = open(log, "ab")  # noqa: SIM115
        for rotation in range(1, 11):
            for _ in range(20):
                f.write(REQUEST.encode() * 100)
                f.write(b"[GET] /health - 200 (1")  # a line split across writes
                f.flush()
                f.write(b"ms)\n")
                written += 101
                time.sleep(0.001)  # let polls interleave with the writes
            f.flush()
            os.rename(log, tmp_path / f"app.log.{rotation}")
            f.write(REQUEST.encode() * 5)  # still writing to the renamed file
            written += 5
            f.close()
            f = open(log, "ab")  # noqa: SIM115
        f.close()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    polls = 0
    while not done.is_set():
        rig.follower.poll()
        polls += 1
    thread.join()
    assert polls > 20
    rig.poll()
    assert written == 20_250
    assert (rig.lines, rig.requests) == (written, written)
    assert rig.get("dropped", ("app", "partial")) == 0


def numbered(start: int, count: int) -> str:
    """Distinct lines (as real logs are: a timestamp or an id differs from line to line)."""
    return "".join(
        f"[GET] /health?n={n} - 200 (12ms) [req-{n}]\n" for n in range(start, start + count)
    )


def test_copytruncate_with_a_glob_reads_the_copy_once_and_its_unread_rest(tmp_path: Path) -> None:
    """`app.log*` matches the copy copytruncate makes: the copy is known by its first bytes to
    be the followed file, so only what had not been read yet is read from it (before: the
    whole copy again)."""
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log*"])
    rig.poll()
    write(log, numbered(0, 100))
    rig.poll()
    assert rig.lines == 100
    write(log, numbered(100, 50))  # written, not yet read, when the rotation comes
    shutil.copy(log, tmp_path / "app.log.1")
    os.truncate(log, 0)
    write(log, numbered(150, 30))
    rig.poll()
    assert rig.lines == 180  # each line once: 100, the 50 from the copy, the 30 new ones
    assert rig.get("rotations", ("app", "truncate")) == 1
    write(log, numbered(180, 5))
    rig.poll()
    assert rig.lines == 185


def test_copytruncate_seen_by_a_poll_between_the_copy_and_the_truncation(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log*"])
    rig.poll()
    write(log, numbered(0, 100))
    rig.poll()
    shutil.copy(log, tmp_path / "app.log.1")
    write(log, numbered(100, 20))  # still in the original, which is read on
    rig.poll()
    assert rig.lines == 120  # the copy holds nothing unread: skipped
    write(log, numbered(120, 10))
    os.truncate(log, 0)  # those 10 are lost with the truncation: the copy predates them
    write(log, numbered(130, 7))
    rig.poll()
    assert rig.lines == 127


def test_a_file_truncated_and_refilled_past_the_position_read_is_read_from_its_start(
    tmp_path: Path,
) -> None:
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log"])
    rig.poll()
    write(log, numbered(0, 10))
    rig.poll()
    os.truncate(log, 0)
    write(log, numbered(10, 40))  # larger than what was read: the size alone does not tell
    rig.poll()
    assert rig.lines == 50
    assert rig.get("rotations", ("app", "truncate")) == 1
    assert rig.get("dropped", ("app", "partial")) == 0


def test_a_copy_seen_before_it_is_filled_is_read_once(tmp_path: Path) -> None:
    """copytruncate's copy is created empty and filled afterwards (cp opens, then writes): a
    poll that comes in between sees a file with no fingerprint yet. It is held, not read as a
    new log, until its first bytes tell what it is (before: the whole copy was read again)."""
    log = tmp_path / "app.log"
    log.touch()
    now = [0.0]
    rig = Rig(tmp_path, ["app.log*"], clock=lambda: now[0], rotate_wait=5.0)
    rig.poll()
    write(log, numbered(0, 100))
    rig.poll()
    copy = tmp_path / "app.log.1"
    copy.touch()  # cp has created the copy, not written it yet
    rig.poll()
    write(copy, log.read_bytes())  # then it copies, and the original is truncated
    os.truncate(log, 0)
    write(log, numbered(120, 30))
    now[0] += 1.0
    rig.poll()
    assert rig.lines == 130  # 100, then the 30 new ones; nothing twice
    assert rig.get("rotations", ("app", "truncate")) == 1


def test_a_short_new_file_is_read_after_rotate_wait_at_the_latest(tmp_path: Path) -> None:
    """A new file shorter than a fingerprint may still be a copy being written: it is read once
    it is long enough to tell, or once it has been there for rotate_wait."""
    (tmp_path / "a.log").touch()
    now = [0.0]
    rig = Rig(tmp_path, ["*.log"], clock=lambda: now[0], rotate_wait=5.0)
    rig.poll()
    write(tmp_path / "b.log", REQUEST * 2)
    rig.poll()
    assert rig.lines == 0
    now[0] += 5.0
    rig.poll()
    assert rig.lines == 2
    write(tmp_path / "c.log", REQUEST * 10)  # long enough to tell: not a copy, read at once
    rig.poll()
    assert rig.lines == 12


def test_a_new_log_after_a_rename_rotation_is_read_at_once_or_within_rotate_wait(
    tmp_path: Path,
) -> None:
    """Rotation by rename creates the new log at the old name, short. When the old file is
    still being drained at that name (no glob matches its new name), the new one replaced it
    and is read at once. When the glob matches the new name too, a short file at a former name
    may be a numbered copy being written: it is read once its first bytes tell, or within
    rotate_wait."""
    for glob_ in ("app.log", "app.log*"):
        tmp = tmp_path / glob_.replace("*", "-star")
        tmp.mkdir()
        log = tmp / "app.log"
        write(log, "")
        now = [0.0]
        rig = Rig(tmp, [glob_], clock=lambda now=now: now[0], rotate_wait=5.0)
        rig.poll()
        write(log, REQUEST * 10)
        rig.poll()
        os.rename(log, tmp / "app.log.1")
        write(log, REQUEST)
        rig.poll()
        if glob_ == "app.log":
            assert rig.lines == 11
        else:
            assert rig.lines == 10
            write(log, REQUEST * 10)  # long enough to tell: it is no copy (not of itself either)
            rig.poll()
            assert rig.lines == 21


def test_a_log_of_identical_lines_rotated_between_two_polls_is_read(tmp_path: Path) -> None:
    """Rotation by rename, twice between polls: a rotated file is first seen at its rotated
    name, with the first bytes of the files rotated before it (identical lines). It is not a
    copy of them (they were renamed; copytruncate's original stays at its name) nor of the new
    log found in the same scan (before: taken for a copy and never read)."""
    log = tmp_path / "app.log"
    write(log, "")
    rig = Rig(tmp_path, ["app.log*"], rotate_wait=5.0)
    rig.poll()
    write(log, REQUEST * 10)
    rig.poll()
    os.rename(log, tmp_path / "app.log.1")
    rig.poll()  # app.log.1 is known as renamed
    written = 10
    for rotation in (2, 3):
        write(log, REQUEST * 10)
        os.rename(log, tmp_path / f"app.log.{rotation}")
        write(log, REQUEST * 10)
        written += 20
        rig.poll()
    os.rename(log, tmp_path / "app.log.4")
    rig.poll()
    assert rig.lines == written


def test_numbered_copytruncate_reads_each_copy_once(tmp_path: Path) -> None:
    """logrotate's default naming with copytruncate: the old copies move up (app.log.1 becomes
    app.log.2), then the new copy takes app.log.1. The new copy is at a renamed file's former
    name, and it is still a copy of app.log, not a new log."""
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log*"], rotate_wait=5.0)
    rig.poll()
    written = 0
    for _ in range(3):
        write(log, numbered(written, 100))
        written += 100
        rig.poll()
        for n in (2, 1):
            if (tmp_path / f"app.log.{n}").exists():
                os.rename(tmp_path / f"app.log.{n}", tmp_path / f"app.log.{n + 1}")
        rig.poll()
        (tmp_path / "app.log.1").touch()  # cp created it; a poll comes before it is filled
        rig.poll()
        shutil.copy(log, tmp_path / "app.log.1")
        os.truncate(log, 0)
        write(log, numbered(written, 10))
        written += 10
        rig.poll()
    assert rig.lines == written


def test_copytruncate_under_a_concurrent_writer_counts_each_line_once(tmp_path: Path) -> None:
    """A writer appending distinct lines and rotating by copytruncate (cp, then truncate, with
    nothing written between) while the follower polls from another thread, the glob matching
    the copies: every line is counted exactly once."""
    log = tmp_path / "app.log"
    log.touch()
    rig = Rig(tmp_path, ["app.log*"], rotate_wait=0.2)
    seen: list[str] = []
    feed = rig.pipeline.feed

    def sink(lines: list[str]) -> object:
        seen.extend(lines)
        return feed(lines)

    rig.follower.sink = sink
    rig.poll()
    done = threading.Event()
    written = 0

    def writer() -> None:
        nonlocal written
        with open(log, "ab") as f:  # O_APPEND, as copytruncate needs
            for rotation in range(1, 9):
                for _ in range(25):
                    f.write(numbered(written, 40).encode())
                    f.flush()
                    written += 40
                    time.sleep(0.001)
                shutil.copy(log, tmp_path / f"app.log.{rotation}")
                os.truncate(log, 0)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        rig.follower.poll()
    thread.join()
    rig.poll()
    assert written == 8000
    assert len(seen) == len(set(seen)), "a line was read twice"
    assert len(seen) == written, written - len(seen)
