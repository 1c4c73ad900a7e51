"""Integrity checks of one backup file. They read whole files (gigabytes for a real dump), so
the source runs them in the background at their own interval, never inside a scrape: the
file-reading checks in a worker thread, ``pg_restore`` as a child process.

Each check returns an :class:`Outcome`: ``ok``; ``failed`` (a verdict on the file, with a
reason from :data:`REASONS`); or ``error`` (the check could not judge the file: the tool is
missing, an I/O error, the time ran out). Messages are for operators' logs; the metrics carry
only the closed set of reasons.
"""

from __future__ import annotations

import asyncio
import glob
import hashlib
import os
import re
import shutil
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Literal

from exporter.backups.config import CheckKind, VerifyConfig

# Why a check failed or could not run: a closed set, as these are label values.
REASONS: tuple[str, ...] = (
    "empty",  # the file has no bytes
    "truncated",  # the data ends before the format says it should
    "corrupt",  # the data is damaged (bad gzip block, CRC mismatch, bad archive)
    "not_a_dump",  # not a pg_dump custom-format archive at all
    "unsupported_version",  # an archive made by a newer pg_dump than the pg_restore here
    "incomplete",  # a plain-format dump without pg_dump's closing line
    "mismatch",  # the SHA-256 differs from the sidecar's
    "no_checksum",  # the sidecar FILE.sha256 is missing or holds no SHA-256
    "tool_missing",  # pg_restore is not installed
    "timeout",  # the check ran longer than verify.timeout
    "io_error",  # the file could not be read
)
# The reasons each check can report, so a check exposes only its own reason series.
CHECK_REASONS: dict[str, tuple[str, ...]] = {
    "gzip": ("empty", "truncated", "corrupt", "timeout", "io_error"),
    "pg_restore": (
        "empty",
        "truncated",
        "corrupt",
        "not_a_dump",
        "unsupported_version",
        "tool_missing",
        "timeout",
        "io_error",
    ),
    "sha256": ("empty", "mismatch", "no_checksum", "timeout", "io_error"),
    "sql_complete": ("empty", "truncated", "corrupt", "incomplete", "timeout", "io_error"),
}
CHECK_REASONS["pg_restore_full"] = CHECK_REASONS["pg_restore"]

GZIP_MAGIC = b"\x1f\x8b"
# The closing comment pg_dump writes after the last object of a plain-format dump. Since the
# August 2025 minor releases a "\unrestrict KEY" line follows it, so it is searched in the
# tail rather than expected as the last line.
DUMP_COMPLETE = b"-- PostgreSQL database dump complete"
TAIL_BYTES = 8192
CHUNK = 1 << 20  # read and decompress 1 MiB at a time: bounded memory, frequent budget checks

Status = Literal["ok", "failed", "error"]


@dataclass(frozen=True)
class Outcome:
    status: Status
    reason: str | None = None  # one of REASONS unless ok
    message: str = ""

    @property
    def retry(self) -> bool:
        """Worth running again on the same file: no verdict yet, or the sidecar may still come
        (jobs often write it right after the dump)."""
        return self.status == "error" or self.reason == "no_checksum"


OK = Outcome("ok")


def failed(reason: str, message: str) -> Outcome:
    return Outcome("failed", reason, message)


def error(reason: str, message: str) -> Outcome:
    return Outcome("error", reason, message)


class Interrupted(Exception):
    """The exporter is stopping (or the set was reloaded): drop the check, record nothing."""


class _TimedOut(Exception):
    pass


class Budget:
    """Lets a check in a thread notice, between chunks, a stop request or its time limit
    (a thread cannot be cancelled from outside)."""

    def __init__(self, timeout: float, stop: threading.Event) -> None:
        self.deadline = time.monotonic() + timeout
        self.stop = stop

    def check(self) -> None:
        if self.stop.is_set():
            raise Interrupted
        if time.monotonic() > self.deadline:
            raise _TimedOut


def _timeout_message(path: str) -> Outcome:
    return error("timeout", f"{path}: the check did not finish within verify.timeout")


# --- gzip ---------------------------------------------------------------------------------------


def gzip_stream(path: str, budget: Budget, keep_tail: int = 0) -> tuple[Outcome, bytes]:
    """Decompress the whole file, as ``gzip -t`` does: every member of a multi-member file
    (``cat a.gz b.gz``), each member's CRC-32 and length trailer. Returns the outcome and, when
    asked, the last ``keep_tail`` bytes of the decompressed data."""
    tail = bytearray()
    offset = 0
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            if not head:
                return failed("empty", f"{path} is empty"), b""
            if head != GZIP_MAGIC:
                return failed("corrupt", f"{path} is not gzip data (no gzip header)"), b""
            data = head
            member: zlib._Decompress | None = None
            while True:
                budget.check()
                chunk = f.read(CHUNK)
                data = data + chunk if data else chunk
                if not data:
                    break
                offset += len(chunk)
                while data:
                    if member is None:
                        member = zlib.decompressobj(wbits=31)  # 31: gzip wrapper, checked
                    # output bounded per call, so a small chunk that expands a thousand-fold
                    # (a highly compressible dump, or a gzip bomb) never fills memory
                    out = member.decompress(data, CHUNK)
                    if keep_tail:
                        tail += out
                        del tail[:-keep_tail]
                    if member.eof:
                        data = member.unused_data  # the next member, if any
                        member = None
                    else:
                        data = member.unconsumed_tail
                        if data:
                            budget.check()
            if member is not None:
                out = member.flush()
                if keep_tail:
                    tail += out
                    del tail[:-keep_tail]
                if not member.eof:
                    return (
                        failed(
                            "truncated",
                            f"{path}: the gzip stream ends early (file cut at byte {offset + 2})",
                        ),
                        b"",
                    )
    except zlib.error as e:
        return failed("corrupt", f"{path}: damaged gzip data ({e})"), b""
    except _TimedOut:
        return _timeout_message(path), b""
    except OSError as e:
        return error("io_error", f"{path} cannot be read: {e.strerror}"), b""
    return OK, bytes(tail)


def check_gzip(path: str, budget: Budget) -> Outcome:
    return gzip_stream(path, budget)[0]


# --- plain-format dump complete ---------------------------------------------------------------


def check_sql_complete(path: str, budget: Budget, tail: bytes | None = None) -> Outcome:
    """A plain-format dump, gzipped or not, ends with pg_dump's closing line. ``tail`` is the
    decompressed end when the gzip check already read the stream."""
    if tail is None:
        try:
            with open(path, "rb") as f:
                head = f.read(2)
                if not head:
                    return failed("empty", f"{path} is empty")
                if head != GZIP_MAGIC:
                    f.seek(max(0, os.fstat(f.fileno()).st_size - TAIL_BYTES))
                    tail = f.read(TAIL_BYTES)
        except OSError as e:
            return error("io_error", f"{path} cannot be read: {e.strerror}")
        if tail is None:
            outcome, tail = gzip_stream(path, budget, keep_tail=TAIL_BYTES)
            if outcome.status != "ok":
                return outcome
    if DUMP_COMPLETE in tail:
        return OK
    return failed(
        "incomplete",
        f"{path} does not end with pg_dump's 'dump complete' line: the dump stopped early "
        "(or this is not a plain-format dump)",
    )


# --- SHA-256 sidecar ------------------------------------------------------------------------------

_SHA256_LINE = re.compile(rb"^\s*([0-9a-fA-F]{64})(?:\s|$)")


def check_sha256(path: str, budget: Budget) -> Outcome:
    """The file's SHA-256 equals the one in ``FILE.sha256``, written by ``sha256sum FILE``
    (``HEX  NAME``) or holding the bare hex digest."""
    sidecar = path + ".sha256"
    try:
        with open(sidecar, "rb") as f:
            text = f.read(4096)
    except FileNotFoundError:
        return failed("no_checksum", f"no checksum file {sidecar}")
    except OSError as e:
        return error("io_error", f"{sidecar} cannot be read: {e.strerror}")
    match = _SHA256_LINE.match(text)
    if match is None:
        return failed("no_checksum", f"{sidecar} holds no SHA-256 (64 hex digits)")
    expected = match.group(1).decode("ascii").lower()
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                budget.check()
                digest.update(chunk)
    except _TimedOut:
        return _timeout_message(path)
    except OSError as e:
        return error("io_error", f"{path} cannot be read: {e.strerror}")
    actual = digest.hexdigest()
    if actual != expected:
        return failed("mismatch", f"{path}: SHA-256 {actual}, but {sidecar} says {expected}")
    return OK


# --- pg_restore -----------------------------------------------------------------------------------


def find_pg_restore(configured: str | None) -> str | None:
    """The pg_restore to run (see :func:`find_tool`)."""
    return find_tool("pg_restore", configured)


def find_tool(name: str, configured: str | None = None) -> str | None:
    """A PostgreSQL client program: the configured one, else PATH's, else the newest of
    Debian's versioned installs (which need not be on PATH): a newer pg_restore reads every
    older archive version."""
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    found = shutil.which(name)
    if found:
        return found
    versions: list[tuple[int, str]] = []
    for candidate in glob.glob(f"/usr/lib/postgresql/*/bin/{name}"):
        version = candidate.split("/")[4]
        if version.isdigit() and os.access(candidate, os.X_OK):
            versions.append((int(version), candidate))
    return max(versions)[1] if versions else None


def classify_pg_restore(stderr: str) -> tuple[str, str]:
    """(reason, message) from pg_restore's error output (run with LC_ALL=C, so in English)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line] or lines or ["exited with an error"]
    message = errors[0].removeprefix("pg_restore: ").removeprefix("error: ")
    text = stderr.lower()
    if "unsupported version" in text:
        # the archive's header version is newer than this pg_restore knows
        reason = "unsupported_version"
    elif "too short (read 0" in text:
        reason = "empty"
    elif "does not appear to be a valid archive" in text:
        reason = "not_a_dump"
    elif "end of file" in text:
        reason = "truncated"
    elif "could not open input file" in text:
        reason = "io_error"
    else:
        reason = "corrupt"
    return reason, message


async def check_pg_restore(path: str, binary: str | None, *, full: bool, timeout: float) -> Outcome:
    """``pg_restore --list`` (header and table of contents), or with ``full`` a restore into
    /dev/null, which reads and decompresses every data block. Nothing connects to a database."""
    if binary is None:
        return error(
            "tool_missing", "pg_restore is not installed (install it or set verify.pg_restore_path)"
        )
    args = [binary, "--file", os.devnull, path] if full else [binary, "--list", path]
    env = {**os.environ, "LC_ALL": "C", "LANGUAGE": "C"}  # English messages, to classify them
    try:
        proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
    except OSError as e:
        return error("tool_missing", f"{binary} cannot be run: {e.strerror}")
    try:
        async with asyncio.timeout(timeout):
            _, err = await proc.communicate()
    except (TimeoutError, asyncio.CancelledError) as e:
        proc.kill()
        await asyncio.shield(proc.wait())
        if isinstance(e, asyncio.CancelledError):
            raise
        return _timeout_message(path)
    if proc.returncode == 0:
        return OK
    reason, message = classify_pg_restore(err.decode("utf-8", "replace"))
    status: Status = "error" if reason == "io_error" else "failed"
    return Outcome(status, reason, f"{path}: pg_restore: {message}")


# --- running the configured checks ------------------------------------------------------------


@dataclass(frozen=True)
class CheckResult:
    check: str
    outcome: Outcome
    file_key: tuple[str, int, int]  # which version of which file was checked
    finished_at: float  # Unix time
    duration: float


async def run_checks(
    path: str,
    file_key: tuple[str, int, int],
    cfg: VerifyConfig,
    checks: tuple[CheckKind, ...],
    stop: threading.Event,
    pg_restore: str | None,
) -> list[CheckResult]:
    """Run ``checks`` on one file, one after the other (a dump is read once per check, never
    in parallel, so a large file does not starve the disk). Raises :class:`Interrupted` when
    ``stop`` is set."""
    results: list[CheckResult] = []
    tail: bytes | None = None  # the gzip check's decompressed end, reused by sql_complete
    for check in checks:
        start = time.perf_counter()
        budget = Budget(cfg.timeout, stop)
        if file_key[1] == 0:
            outcome = failed("empty", f"{path} is empty")
        elif check == "gzip":
            keep = TAIL_BYTES if "sql_complete" in checks else 0
            outcome, tail_bytes = await asyncio.to_thread(gzip_stream, path, budget, keep)
            tail = tail_bytes if outcome.status == "ok" and keep else None
        elif check == "sql_complete":
            outcome = await asyncio.to_thread(check_sql_complete, path, budget, tail)
        elif check == "sha256":
            outcome = await asyncio.to_thread(check_sha256, path, budget)
        else:
            outcome = await check_pg_restore(
                path, pg_restore, full=check == "pg_restore_full", timeout=cfg.timeout
            )
        if stop.is_set():
            raise Interrupted
        results.append(
            CheckResult(check, outcome, file_key, time.time(), time.perf_counter() - start)
        )
    return results
