"""The demo backup job's ``truncated`` fault (exporter/demo/backup_job.py ``cut_short``) on real
pg_dump archives of a real PostgreSQL: the cut dump must pass the integrity checks the demo
runs (``pg_restore --list``) and fail a restore, whatever share of the file its table of
contents takes. The backup-unrestorable drill relies on it: a cut that falls into the table of
contents fires BackupVerificationFailed too, and the drill's "only the restore test notices"
fails (a cut at a fixed 80 % did, on the demo's small dumps).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.demo.backup_job import cut_short, toc_end
from tests.pg import BIN, SUPERUSER, Cluster, shared_cluster

PG_RESTORE = str(BIN / "pg_restore")

# Many tables with a row each: the table of contents is most of the archive.
SMALL = "".join(
    f"CREATE TABLE t{i} (id int PRIMARY KEY, v text); INSERT INTO t{i} VALUES (1, 'x');"
    for i in range(40)
)
# One table of 20,000 rows: the data is most of the archive.
LARGE = (
    "CREATE TABLE orders (id int PRIMARY KEY, note text);"
    "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 20000) g;"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = shared_cluster()
    for db, sql in (("cut_small", SMALL), ("cut_large", LARGE)):
        c.psql(f"DROP DATABASE IF EXISTS {db}")
        c.psql(f"CREATE DATABASE {db}")
        c.psql(sql, db=db)
    yield c


def _dump(cluster: Cluster, db: str, path: Path) -> Path:
    subprocess.run(
        [str(BIN / "pg_dump"), "-U", SUPERUSER, "-d", db, "--format=custom", f"--file={path}"],
        env=cluster.env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    return path


def _lists(path: Path) -> bool:
    return subprocess.run([PG_RESTORE, "--list", str(path)], capture_output=True).returncode == 0


def _restores(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PG_RESTORE, "--file=/dev/null", str(path)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("db", ["cut_small", "cut_large"])
def test_cut_dump_lists_but_does_not_restore(cluster: Cluster, tmp_path: Path, db: str) -> None:
    dump = _dump(cluster, db, tmp_path / "shop.dump")
    whole = dump.read_bytes()
    assert _lists(dump) and _restores(dump).returncode == 0
    end = toc_end(whole, PG_RESTORE)
    assert end is not None and 0 < end < len(whole)

    size = cut_short(dump, PG_RESTORE)
    assert dump.stat().st_size == size and end < size < len(whole)
    assert dump.read_bytes() == whole[:size]
    assert _lists(dump), f"{db}: the cut fell into the table of contents"
    restored = _restores(dump)
    # "end of file", or a data block the cut left out ("could not find block ID")
    assert restored.returncode != 0 and "error" in restored.stderr, restored.stderr


def test_a_fixed_share_falls_into_a_large_table_of_contents(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Why cut_short looks for the table of contents: on a dump whose table of contents is
    most of the file, the 80 % cut the job used to make is not read by ``pg_restore --list``."""
    dump = _dump(cluster, "cut_small", tmp_path / "small.dump")
    whole = dump.read_bytes()
    end = toc_end(whole, PG_RESTORE)
    assert end is not None and end > 0.8 * len(whole), (end, len(whole))
    cut = tmp_path / "cut80.dump"
    cut.write_bytes(whole[: int(len(whole) * 0.8)])
    assert not _lists(cut)


def test_not_a_dump_has_no_table_of_contents(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dump"
    junk.write_bytes(b"not an archive at all\n" * 10)
    assert toc_end(junk.read_bytes(), PG_RESTORE) is None
    assert cut_short(junk, PG_RESTORE) == 110
