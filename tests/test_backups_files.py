"""File backup sets as a scrape sees them: the directory listing (newest file, size, count), the
status that follows (ok, missing, unreadable, empty, stale, too_small), the config's errors,
and a listing that hangs. Real files in a temp dir; times come from an injected clock."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from exporter.backups import files
from exporter.backups.config import FileBackup
from exporter.backups.source import STATUSES, BackupSource
from exporter.config import ConfigError, parse_config
from exporter.secrets import Redactor
from tests.pg import Scrape, render
from tests.promtool import promtool_problems

NOW = 1_760_000_000.0  # a fixed "now" for the injected clock
HOUR = 3600.0


def touch(path: Path, size: int, age: float) -> Path:
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age, NOW - age))
    return path


def backups_yaml(directory: Path | str, extra: str = "", glob: str = "hotrod-*.dump") -> str:
    return f"""
backups:
  files:
    - name: agent-tables
      directory: {directory}
      glob: "{glob}"
      max_age: 25h
      min_size: 1KiB
{extra}"""


@pytest.fixture
async def source() -> AsyncIterator[Callable[..., Any]]:
    made: list[BackupSource] = []

    async def make(text: str, clock: Callable[[], float] = lambda: NOW) -> BackupSource:
        src = BackupSource(parse_config(text, "test.yml"), Redactor(), clock=clock)
        await src.start()
        made.append(src)
        return src

    yield make
    for src in made:
        await src.close()


async def scrape(src: BackupSource) -> Scrape:
    loop = asyncio.get_running_loop()
    return Scrape(render(await src.collect(loop.time() + 5)))


def status(s: Scrape, backup: str = "agent-tables") -> str:
    on = [st for st in STATUSES if s.value("redline_backup_status", backup=backup, status=st)]
    assert len(on) == 1, on
    return on[0]


async def test_newest_file_size_and_count(tmp_path: Path, source: Any) -> None:
    touch(tmp_path / "hotrod-2025-10-12.dump", 5000, 50 * HOUR)
    touch(tmp_path / "hotrod-2025-10-13.dump", 7000, 26 * HOUR)
    newest = touch(tmp_path / "hotrod-2025-10-14.dump", 6000, 2 * HOUR)
    # neither a sidecar, nor a file being written, nor another job's file counts
    touch(tmp_path / "hotrod-2025-10-14.dump.sha256", 80, HOUR)
    touch(tmp_path / "hotrod-2025-10-15.dump.tmp", 10, 0)
    touch(tmp_path / "other-2025-10-15.dump", 10, 0)
    (tmp_path / "hotrod-dir.dump").mkdir()  # a directory matching the glob is no backup

    s = await scrape(await source(backups_yaml(tmp_path)))
    assert status(s) == "ok"
    assert s.value("redline_backup_files", backup="agent-tables") == 3
    assert s.value("redline_backup_total_size_bytes", backup="agent-tables") == 18000
    assert s.value("redline_backup_newest_size_bytes", backup="agent-tables") == 6000
    assert s.value("redline_backup_newest_timestamp_seconds", backup="agent-tables") == (
        os.stat(newest).st_mtime
    )
    assert s.value("redline_backup_newest_age_seconds", backup="agent-tables") == 2 * HOUR
    assert s.value("redline_backup_max_age_seconds", backup="agent-tables") == 25 * HOUR
    assert s.value("redline_backup_min_size_bytes", backup="agent-tables") == 1024
    assert promtool_problems(s.text) == []


async def test_symlinked_dump_counts_and_dangling_link_does_not(
    tmp_path: Path, source: Any
) -> None:
    real = touch(tmp_path / "store.bin", 4096, HOUR)
    (tmp_path / "hotrod-latest.dump").symlink_to(real)
    (tmp_path / "hotrod-gone.dump").symlink_to(tmp_path / "nothing")
    s = await scrape(await source(backups_yaml(tmp_path)))
    assert s.value("redline_backup_files", backup="agent-tables") == 1
    assert status(s) == "ok"


async def test_stale_when_older_than_max_age(tmp_path: Path, source: Any) -> None:
    touch(tmp_path / "hotrod-1.dump", 5000, 2 * HOUR)
    clock = [NOW]
    src = await source(backups_yaml(tmp_path), clock=lambda: clock[0])
    assert status(await scrape(src)) == "ok"
    clock[0] = NOW + 23 * HOUR  # the newest is 25 h old: the RPO exactly, still fine
    assert status(await scrape(src)) == "ok"
    clock[0] += 1
    s = await scrape(src)
    assert status(s) == "stale"
    assert s.value("redline_backup_newest_age_seconds", backup="agent-tables") == 25 * HOUR + 1


@pytest.mark.parametrize("size", [0, 1023])
async def test_too_small(tmp_path: Path, source: Any, size: int) -> None:
    touch(tmp_path / "hotrod-1.dump", 5000, 26 * HOUR)
    touch(tmp_path / "hotrod-2.dump", size, HOUR)  # last night's job left an empty/short dump
    s = await scrape(await source(backups_yaml(tmp_path)))
    assert status(s) == "too_small"
    assert s.value("redline_backup_newest_size_bytes", backup="agent-tables") == size


async def test_empty_when_nothing_matches(tmp_path: Path, source: Any) -> None:
    touch(tmp_path / "hotrod-1.dump.tmp", 5000, HOUR)
    s = await scrape(await source(backups_yaml(tmp_path)))
    assert status(s) == "empty"
    assert s.value("redline_backup_files", backup="agent-tables") == 0
    assert s.series("redline_backup_newest_age_seconds") == []


async def test_missing_directory(tmp_path: Path, source: Any) -> None:
    s = await scrape(await source(backups_yaml(tmp_path / "not-there")))
    assert status(s) == "missing"
    assert s.series("redline_backup_files") == []  # unknown, not zero


async def test_path_that_is_a_file(tmp_path: Path, source: Any) -> None:
    target = touch(tmp_path / "backups", 10, 0)
    s = await scrape(await source(backups_yaml(target)))
    assert status(s) == "unreadable"
    assert files.scan(parse_config(backups_yaml(target), "t").backups.files[0]).message == (
        f"{target} is not a directory"
    )


def scan_as_nobody(cfg: FileBackup) -> tuple[str | None, str, int]:
    """Run the scan in a child process that dropped root (root reads every directory): the
    child is a fork, so it runs the very code under test without starting Python again.
    Returns the scan's error, message and file count."""
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, scan, report, exit without cleanup
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            result = files.scan(cfg)
            os.write(write, f"{result.error}\n{result.files}\n{result.message}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        error, count, message = f.read().decode().split("\n", 2)
    os.waitpid(pid, 0)
    return (None if error == "None" else error), message, int(count)


def scan_as_self(cfg: FileBackup) -> tuple[str | None, str, int]:
    result = files.scan(cfg)
    return result.error, result.message, result.files


def test_permission_denied() -> None:
    scan = scan_as_nobody if os.geteuid() == 0 else scan_as_self
    base = Path(tempfile.mkdtemp(prefix="redline-backups-"))
    try:
        base.chmod(0o755)  # every user may reach what is inside
        for name in ("open", "locked"):
            (base / name).mkdir()
            touch(base / name / "hotrod-1.dump", 5000, HOUR)
        (base / "locked").chmod(0o000)
        open_cfg = parse_config(backups_yaml(base / "open"), "t").backups.files[0]
        locked_cfg = parse_config(backups_yaml(base / "locked"), "t").backups.files[0]
        assert scan(open_cfg) == (None, "", 1)  # the scanning user reads what it may
        assert scan(locked_cfg) == (
            "unreadable",
            f"directory {base / 'locked'}: permission denied",
            0,
        )
    finally:
        (base / "locked").chmod(0o700)
        shutil.rmtree(base)


async def test_hung_listing_is_abandoned_and_not_repeated(
    tmp_path: Path, source: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory on a dead network mount blocks the listing thread: the scrape answers
    within scan_timeout, and later scrapes wait for that same listing instead of piling up
    threads."""
    release = threading.Event()
    calls: list[str] = []

    def hanging_scan(cfg: FileBackup) -> files.Scan:
        calls.append(cfg.name)
        release.wait(10)
        return files.Scan(None, "", 0, 0, None)

    monkeypatch.setattr(files, "scan", hanging_scan)
    src = await source(backups_yaml(tmp_path, "      scan_timeout: 200ms\n"))
    loop = asyncio.get_running_loop()
    for _ in range(3):
        start = loop.time()
        s = await scrape(src)
        assert loop.time() - start < 1.0
        assert status(s) == "unreadable"
    assert calls == ["agent-tables"]
    release.set()
    await asyncio.sleep(0.1)
    assert status(await scrape(src)) == "empty"
    assert len(calls) == 2  # once the hung listing ended, a scrape lists afresh


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            backups_yaml("/var/backups", glob="sub/*.dump"),
            "backups.files[0].glob: 'sub/*.dump': a pattern matches names inside `directory`",
        ),
        (
            "backups:\n  files:\n    - {name: a, directory: /x, glob: '*'}\n",
            "backups.files[0].max_age: missing required key 'max_age'",
        ),
        (
            "backups:\n  files:\n    - {name: a, directory: /x, glob: '*', max_age: 1h,"
            " verify: {checks: [gzip, gzip]}}\n",
            "check name 'gzip' is used twice",
        ),
        (
            "backups:\n  files:\n    - {name: a, directory: /x, glob: '*', max_age: 1h}\n"
            "  supabase:\n    - {name: a, project_ref: x, access_token: y, max_age: 1h}\n",
            "backup name 'a' is used twice",
        ),
        (
            "backups:\n  supabase:\n    - {name: s, project_ref: x, max_age: 1h}\n",
            "set access_token or access_token_file (exactly one)",
        ),
        (
            "backups:\n  supabase:\n    - {name: s, project_ref: x, access_token: y,"
            " access_token_file: /z, max_age: 1h}\n",
            "set access_token or access_token_file (exactly one)",
        ),
        (
            "backups:\n  files:\n    - {name: a, directory: /x, glob: '*', max_age: 1h,"
            " verify: {checks: [zip]}}\n",
            "backups.files[0].verify.checks[0]: Input should be 'gzip'",
        ),
    ],
)
def test_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "redline.yml")
    assert message in str(raised.value)
