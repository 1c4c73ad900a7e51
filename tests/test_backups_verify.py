"""Integrity checks on real dumps made by the real pg_dump (PostgreSQL 15, tests/pg.py), and on
the ways a backup goes bad: a corrupt or truncated gzip, an empty dump, a plain dump cut short
inside a valid gzip, a custom-format dump "made by a newer pg_dump" (its header's version
patched, as a newer archive format would read to this pg_restore), a truncated archive, a
wrong or missing checksum, a missing pg_restore, and checks that run out of time."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.backups import verify
from exporter.backups.config import VerifyConfig
from tests.pg import BIN, SUPERUSER, shared_cluster

PG_RESTORE = str(BIN / "pg_restore")


@dataclass(frozen=True)
class Dumps:
    custom: Path  # pg_dump -Fc
    plain: Path  # pg_dump (plain SQL)
    plain_gz: Path  # pg_dump | gzip


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> Dumps:
    cluster = shared_cluster()
    cluster.psql(
        "CREATE TABLE IF NOT EXISTS agent_queries (id serial PRIMARY KEY, query text, "
        "created_at timestamptz DEFAULT now()); "
        "INSERT INTO agent_queries (query) SELECT 'where is order ' || g FROM "
        "generate_series(1, 5000) g;"
    )
    out = tmp_path_factory.mktemp("dumps")
    custom, plain, plain_gz = out / "hotrod.dump", out / "hotrod.sql", out / "hotrod.sql.gz"
    # pg_dump runs as root here, connecting over the cluster's unix socket (trust)
    base = [str(BIN / "pg_dump"), "-U", SUPERUSER, "-d", "postgres"]
    subprocess.run([*base, "-Fc", "-f", str(custom)], env=cluster.env, check=True, timeout=60)
    subprocess.run([*base, "-f", str(plain)], env=cluster.env, check=True, timeout=60)
    plain_gz.write_bytes(gzip.compress(plain.read_bytes()))
    return Dumps(custom, plain, plain_gz)


def budget(timeout: float = 60.0) -> verify.Budget:
    return verify.Budget(timeout, threading.Event())


def copy(src: Path, dst: Path, data: bytes | None = None) -> Path:
    dst.write_bytes(src.read_bytes() if data is None else data)
    return dst


# --- gzip -----------------------------------------------------------------------------------------


def test_gzip_of_a_real_dump(dumps: Dumps) -> None:
    assert verify.check_gzip(str(dumps.plain_gz), budget()) == verify.OK


def test_multi_member_gzip(dumps: Dumps, tmp_path: Path) -> None:
    """`cat a.gz b.gz` is valid gzip (gzip -t accepts it); both members are checked."""
    two = gzip.compress(b"first\n") + dumps.plain_gz.read_bytes()
    outcome, tail = verify.gzip_stream(
        str(copy(dumps.plain_gz, tmp_path / "x.gz", two)), budget(), 8192
    )
    assert outcome == verify.OK
    assert verify.DUMP_COMPLETE in tail


def test_corrupt_gzip(dumps: Dumps, tmp_path: Path) -> None:
    data = bytearray(dumps.plain_gz.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    outcome = verify.check_gzip(
        str(copy(dumps.plain_gz, tmp_path / "bad.gz", bytes(data))), budget()
    )
    assert (outcome.status, outcome.reason) == ("failed", "corrupt")
    assert "damaged gzip data" in outcome.message


def test_gzip_crc_mismatch(dumps: Dumps, tmp_path: Path) -> None:
    data = bytearray(dumps.plain_gz.read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 in the trailer: the data decompresses but does not match
    outcome = verify.check_gzip(
        str(copy(dumps.plain_gz, tmp_path / "crc.gz", bytes(data))), budget()
    )
    assert (outcome.status, outcome.reason) == ("failed", "corrupt")
    assert "incorrect data check" in outcome.message


def test_truncated_gzip(dumps: Dumps, tmp_path: Path) -> None:
    data = dumps.plain_gz.read_bytes()
    outcome = verify.check_gzip(
        str(copy(dumps.plain_gz, tmp_path / "cut.gz", data[: len(data) // 2])), budget()
    )
    assert (outcome.status, outcome.reason) == ("failed", "truncated")


@pytest.mark.parametrize(
    ("data", "reason"), [(b"", "empty"), (b"-- plain SQL, not gzip\n", "corrupt")]
)
def test_gzip_empty_and_not_gzip(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "f.gz"
    path.write_bytes(data)
    assert verify.check_gzip(str(path), budget()).reason == reason


def test_gzip_bomb_is_bounded_by_its_budget(tmp_path: Path) -> None:
    """A small file that expands a thousand-fold is decompressed in bounded steps, so the time
    limit applies within it."""
    path = tmp_path / "bomb.gz"
    with gzip.open(path, "wb", compresslevel=9) as f:
        for _ in range(64):
            f.write(bytes(1 << 20))  # 64 MiB of zeros: about 64 KiB compressed
    outcome = verify.check_gzip(str(path), verify.Budget(-1, threading.Event()))
    assert (outcome.status, outcome.reason) == ("error", "timeout")


def test_a_stop_request_interrupts_a_check(dumps: Dumps) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(verify.Interrupted):
        verify.check_gzip(str(dumps.plain_gz), verify.Budget(60, stop))


# --- plain dumps: complete? -----------------------------------------------------------------------


def test_plain_dumps_are_complete(dumps: Dumps) -> None:
    assert verify.check_sql_complete(str(dumps.plain), budget()) == verify.OK
    assert verify.check_sql_complete(str(dumps.plain_gz), budget()) == verify.OK


def test_partial_dump_in_a_valid_gzip(dumps: Dumps, tmp_path: Path) -> None:
    """`pg_dump | gzip > f.gz` without pipefail: pg_dump dies, gzip still closes its stream. The
    gzip check passes; only the dump-complete check sees the dump stopped early."""
    plain = dumps.plain.read_bytes()
    path = copy(
        dumps.plain_gz, tmp_path / "partial.sql.gz", gzip.compress(plain[: len(plain) // 2])
    )
    assert verify.check_gzip(str(path), budget()) == verify.OK
    outcome = verify.check_sql_complete(str(path), budget())
    assert (outcome.status, outcome.reason) == ("failed", "incomplete")


def test_custom_dump_is_not_a_complete_plain_dump(dumps: Dumps) -> None:
    assert verify.check_sql_complete(str(dumps.custom), budget()).reason == "incomplete"


# --- pg_restore -----------------------------------------------------------------------------------


async def restore(
    path: Path, full: bool = False, binary: str | None = PG_RESTORE
) -> verify.Outcome:
    return await verify.check_pg_restore(str(path), binary, full=full, timeout=30)


async def test_pg_restore_lists_a_real_dump(dumps: Dumps) -> None:
    assert await restore(dumps.custom) == verify.OK
    assert await restore(dumps.custom, full=True) == verify.OK


async def test_dump_from_a_newer_pg_dump(dumps: Dumps, tmp_path: Path) -> None:
    """The archive header is "PGDMP", then the format version's major, minor and revision
    bytes. A pg_dump newer than this pg_restore writes a version it does not know; patching
    the minor version to 32 (1.32) makes the same refusal."""
    data = bytearray(dumps.custom.read_bytes())
    assert data[:5] == b"PGDMP" and data[5] == 1
    data[6] = 32
    outcome = await restore(copy(dumps.custom, tmp_path / "newer.dump", bytes(data)))
    assert (outcome.status, outcome.reason) == ("failed", "unsupported_version")
    assert "unsupported version (1.32) in file header" in outcome.message


async def test_empty_dump(tmp_path: Path) -> None:
    path = tmp_path / "empty.dump"
    path.write_bytes(b"")
    outcome = await restore(path)
    assert (outcome.status, outcome.reason) == ("failed", "empty")


async def test_plain_gzip_is_not_a_custom_dump(dumps: Dumps) -> None:
    outcome = await restore(dumps.plain_gz)
    assert (outcome.status, outcome.reason) == ("failed", "not_a_dump")


async def test_archive_cut_after_its_table_of_contents(dumps: Dumps, tmp_path: Path) -> None:
    """--list reads only the header and the TOC, so a dump cut inside its data passes it;
    pg_restore_full reads every block and catches it."""
    data = dumps.custom.read_bytes()
    assert len(data) > 100_000  # pgbench's tables and agent_queries: data well past the TOC
    path = copy(dumps.custom, tmp_path / "cut.dump", data[: len(data) // 2])
    assert await restore(path) == verify.OK
    outcome = await restore(path, full=True)
    assert (outcome.status, outcome.reason) == ("failed", "truncated")


async def test_archive_cut_inside_its_header(dumps: Dumps, tmp_path: Path) -> None:
    path = copy(dumps.custom, tmp_path / "head.dump", dumps.custom.read_bytes()[:300])
    outcome = await restore(path)
    assert outcome.status == "failed" and outcome.reason in ("truncated", "not_a_dump")


async def test_pg_restore_missing(dumps: Dumps) -> None:
    assert verify.find_pg_restore("/nonexistent/pg_restore") is None
    outcome = await restore(dumps.custom, binary=None)
    assert (outcome.status, outcome.reason) == ("error", "tool_missing")


def test_pg_restore_is_found_without_configuration() -> None:
    found = verify.find_pg_restore(None)
    assert found is not None and found.endswith("pg_restore")


async def test_pg_restore_that_hangs_is_killed(dumps: Dumps, tmp_path: Path) -> None:
    fake = tmp_path / "pg_restore"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    loop = asyncio.get_running_loop()
    start = loop.time()
    outcome = await verify.check_pg_restore(str(dumps.custom), str(fake), full=False, timeout=0.3)
    assert (outcome.status, outcome.reason) == ("error", "timeout")
    assert loop.time() - start < 5


# --- sha256 sidecar -------------------------------------------------------------------------------


def sidecar(path: Path, text: str) -> None:
    Path(str(path) + ".sha256").write_text(text)


def test_sha256_sidecar(dumps: Dumps, tmp_path: Path) -> None:
    path = copy(dumps.custom, tmp_path / "hotrod.dump")
    # sha256sum's own output, as a backup job writes it
    made = subprocess.run(
        ["sha256sum", path.name], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    sidecar(path, made.stdout)
    assert verify.check_sha256(str(path), budget()) == verify.OK
    sidecar(path, hashlib.sha256(path.read_bytes()).hexdigest().upper())  # bare hex, any case
    assert verify.check_sha256(str(path), budget()) == verify.OK


def test_sha256_mismatch_missing_and_malformed(dumps: Dumps, tmp_path: Path) -> None:
    path = copy(dumps.custom, tmp_path / "hotrod.dump")
    outcome = verify.check_sha256(str(path), budget())
    assert (outcome.status, outcome.reason, outcome.retry) == ("failed", "no_checksum", True)
    sidecar(path, "0" * 64 + "  hotrod.dump\n")
    outcome = verify.check_sha256(str(path), budget())
    assert (outcome.status, outcome.reason, outcome.retry) == ("failed", "mismatch", False)
    sidecar(path, "not a checksum\n")
    assert verify.check_sha256(str(path), budget()).reason == "no_checksum"


# --- several checks on one file -------------------------------------------------------------------


async def test_run_checks_reads_a_gzip_once_for_two_checks(
    dumps: Dumps, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes: list[str] = []
    real = verify.gzip_stream

    def counting(path: str, b: verify.Budget, keep_tail: int = 0) -> tuple[verify.Outcome, bytes]:
        passes.append(path)
        return real(path, b, keep_tail)

    monkeypatch.setattr(verify, "gzip_stream", counting)
    cfg = VerifyConfig(checks=("gzip", "sql_complete"))
    path = str(dumps.plain_gz)
    key = (path, dumps.plain_gz.stat().st_size, 0)
    results = await verify.run_checks(path, key, cfg, cfg.checks, threading.Event(), None)
    assert [(r.check, r.outcome) for r in results] == [
        ("gzip", verify.OK),
        ("sql_complete", verify.OK),
    ]
    assert passes == [path]
    assert all(r.file_key == key and r.duration >= 0 for r in results)


async def test_run_checks_on_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.dump"
    path.write_bytes(b"")
    cfg = VerifyConfig(checks=("pg_restore", "sha256"))
    results = await verify.run_checks(
        str(path), (str(path), 0, 0), cfg, cfg.checks, threading.Event(), PG_RESTORE
    )
    assert [(r.check, r.outcome.reason) for r in results] == [
        ("pg_restore", "empty"),
        ("sha256", "empty"),
    ]
