"""Restore tests end to end on real PostgreSQL 15 servers (a source and a scratch server, both
tests/pg.py clusters) with the real pg_dump, pg_restore and psql: good dumps restore with their
phases measured and their checks run; every bad input (truncated or corrupt dump, a dump of
another database, a scratch server refusing connections, a role without CREATEDB, a full disk, a
hanging restore, a check with a syntax error, a scratch target that is the source, a plain dump
running shell commands) fails with its reason, the scratch database is always dropped, the
source is never touched, and no password reaches a report, the state file or a log line."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.backups.restore import Busy, RestoreTester, restore_tester
from exporter.backups.restore_state import StateFile
from exporter.config import parse_config
from exporter.secrets import Redactor
from tests.pg import BIN, SUPERUSER, Cluster, Scrape, new_cluster, render
from tests.promtool import promtool_problems

RESTORE_USER = "restore_tester"
RESTORE_PASSWORD = "Rest0re-s3cret-pw"
SOURCE_PASSWORD = "Src-db-s3cret-pw"
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    total_cents integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (email) SELECT 'c' || g || '@example.invalid' FROM generate_series(1, 50) g;
INSERT INTO orders (customer_id, total_cents, created_at)
SELECT 1 + g % 50, g * 10, now() - (300 - g) * interval '1 second'
FROM generate_series(1, 300) g;
"""


@dataclass
class Servers:
    source: Cluster
    scratch: Cluster


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    source = new_cluster()
    scratch = new_cluster()
    try:
        source.start()
        scratch.start()
        source.psql("CREATE DATABASE shop")
        source.psql(SCHEMA, db="shop")
        source.psql(f"ALTER ROLE {SUPERUSER} PASSWORD '{SOURCE_PASSWORD}'")
        source.psql("CREATE DATABASE other")
        source.psql("CREATE TABLE unrelated (x int); INSERT INTO unrelated VALUES (1)", db="other")
        # the least-privilege role of docs/backups.md: CREATEDB and nothing more
        scratch.psql(f"CREATE ROLE {RESTORE_USER} LOGIN CREATEDB PASSWORD '{RESTORE_PASSWORD}'")
        scratch.psql(f"CREATE ROLE no_createdb LOGIN PASSWORD '{RESTORE_PASSWORD}'")
        yield Servers(source, scratch)
    finally:
        source.destroy()
        scratch.destroy()


def pg_dump(cluster: Cluster, db: str, path: Path, *extra: str) -> Path:
    subprocess.run(
        [str(BIN / "pg_dump"), "-U", SUPERUSER, "-d", db, f"--file={path}", *extra],
        env=cluster.env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    return path


def fingerprint(cluster: Cluster) -> str:
    """The source's data and catalog of databases: what "never touched" means."""
    data = cluster.psql(
        "SELECT md5(string_agg(o::text, ',' ORDER BY o.id)) FROM orders o", db="shop"
    )
    counts = cluster.psql(
        "SELECT (SELECT count(*) FROM orders) || '/' || (SELECT count(*) FROM customers)", db="shop"
    )
    dbs = cluster.psql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
    return f"{data} {counts} {dbs}"


def scratch_databases(cluster: Cluster) -> list[str]:
    out = cluster.psql("SELECT datname FROM pg_database WHERE datname LIKE 'redline_restore_%'")
    return [line for line in out.splitlines() if line]


CHECKS = """
      checks:
        database: shop
        tables: [customers, public.orders]
        row_counts: {tables: [orders, customers], tolerance: 5%}
        queries:
          - {name: big_orders, sql: "SELECT id FROM orders WHERE total_cents > 100"}
        newest_row: {table: orders, column: created_at}
"""


def config_text(
    servers: Servers,
    directory: Path,
    glob: str,
    *,
    user: str = RESTORE_USER,
    port: int | None = None,
    extra: str = "",
    checks: str = CHECKS,
    timeout: str = "60s",
    dsn: str | None = None,
) -> str:
    port = port or servers.scratch.port
    dsn = dsn or f"postgresql://{user}@127.0.0.1:{port}/postgres?sslmode=disable"
    return f"""
databases:
  - name: source
    dsn: postgresql://{SUPERUSER}:{SOURCE_PASSWORD}@127.0.0.1:{servers.source.port}/shop?sslmode=disable
backups:
  files:
    - name: shop
      directory: {directory}
      glob: "{glob}"
      max_age: 1h
  restore:
    state_file: {directory}/state/restore.json
    report_dir: {directory}/reports
    tests:
    - backup: shop
      source: source
      timeout: {timeout}
      server:
        dsn: {dsn}
        password: {RESTORE_PASSWORD}
        connect_timeout: 3s
{extra}{checks}"""


def make_tester(text: str) -> tuple[RestoreTester, Redactor]:
    redactor = Redactor()
    made = restore_tester(parse_config(text, "test.yml"), redactor)
    assert made is not None
    return made, redactor


async def run(text: str) -> tuple[object, RestoreTester]:
    t, _ = make_tester(text)
    return await t.run("shop"), t


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="redline-restore-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (RESTORE_PASSWORD, SOURCE_PASSWORD):
            assert secret not in text


def state_and_report(workdir: Path) -> tuple[dict[str, object], str]:
    state = json.loads((workdir / "state" / "restore.json").read_text())
    reports = sorted((workdir / "reports" / "shop").glob("*.md"))
    return state, reports[-1].read_text() if reports else ""


# --- good dumps ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["custom", "plain", "plain.gz"])
async def test_good_dump_restores_with_phases_and_checks(
    servers: Servers, workdir: Path, fmt: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = fingerprint(servers.source)
    if fmt == "custom":
        pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    else:
        plain = pg_dump(servers.source, "shop", workdir / "plain.sql")
        data = plain.read_bytes()
        plain.unlink()
        if fmt == "plain":
            (workdir / "shop-1.dump").write_bytes(data)
        else:
            (workdir / "shop-1.dump").write_bytes(gzip.compress(data))
    caplog.set_level(logging.INFO)
    result, _ = await run(config_text(servers, workdir, "shop-*.dump"))
    r = result  # type: ignore[assignment]
    assert r.success, r.message  # type: ignore[attr-defined]
    assert r.format == fmt  # type: ignore[attr-defined]
    assert r.dropped and scratch_databases(servers.scratch) == []  # type: ignore[attr-defined]
    assert set(r.phases) == {"inspect", "create", "restore", "checks", "drop"}  # type: ignore[attr-defined]
    assert 0 < r.rto < 30  # type: ignore[attr-defined]
    statuses = {c.name: c.status for c in r.checks}  # type: ignore[attr-defined]
    assert statuses["tables"] == "ok"
    assert statuses["query:big_orders"] == "ok"
    assert statuses["newest_row:public.orders.created_at"] == "ok"
    # the first restore has no reference yet: it says so instead of passing
    assert statuses["row_count:public.orders"] == "skipped"
    assert r.counts == {"public.orders": 300, "public.customers": 50}  # type: ignore[attr-defined]
    # the newest order is about 0 s older than the seed time; the test ran seconds later
    assert r.newest_row_age is not None and 0 <= r.newest_row_age < 600  # type: ignore[attr-defined]
    assert "extension pg_stat_statements" in r.skipped  # type: ignore[attr-defined]
    state, report = state_and_report(workdir)
    assert "PASS" in report and "measured RTO" in report and "shop-1.dump" in report
    no_secret(report, json.dumps(state), caplog.text)
    assert fingerprint(servers.source) == before


async def test_password_and_dsn_from_files(servers: Servers, workdir: Path) -> None:
    """The way production configures it: the DSN and the password in secret files."""
    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    (workdir / "dsn").write_text(
        f"postgresql://{RESTORE_USER}@127.0.0.1:{servers.scratch.port}/postgres?sslmode=disable\n"
    )
    (workdir / "password").write_text(RESTORE_PASSWORD + "\n")
    text = config_text(servers, workdir, "shop-*.dump").replace(
        f"        dsn: postgresql://{RESTORE_USER}@127.0.0.1:{servers.scratch.port}/postgres"
        f"?sslmode=disable\n        password: {RESTORE_PASSWORD}\n",
        f"        dsn_file: {workdir / 'dsn'}\n        password_file: {workdir / 'password'}\n",
    )
    assert "password_file" in text
    result, _ = await run(text)
    assert result.success, result.message  # type: ignore[attr-defined]
    assert result.server == f"{RESTORE_USER}@127.0.0.1:{servers.scratch.port}"  # type: ignore[attr-defined]


async def test_second_run_compares_counts_with_the_previous_restore(
    servers: Servers, workdir: Path
) -> None:
    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    text = config_text(servers, workdir, "shop-*.dump")
    first, t = await run(text)
    assert first.success  # type: ignore[attr-defined]
    second = await t.run("shop")
    assert second.success, second.message
    statuses = {c.name: c for c in second.checks}
    assert statuses["row_count:public.orders"].status == "ok"
    assert "expected 300" in statuses["row_count:public.orders"].detail
    assert second.reference == "the previous successful restore"


async def test_counts_recorded_with_the_dump_are_the_reference(
    servers: Servers, workdir: Path
) -> None:
    dump = pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    # the job recorded 1000 orders when it dumped: 300 restored is a loss past 5 %
    Path(str(dump) + ".counts.json").write_text('{"public.orders": 1000, "customers": 50}')
    result, _ = await run(config_text(servers, workdir, "shop-*.dump"))
    assert not result.success  # type: ignore[attr-defined]
    assert result.reason == "check_failed"  # type: ignore[attr-defined]
    assert "row_count:public.orders" in result.message  # type: ignore[attr-defined]
    assert "300 rows, expected 1000" in result.message  # type: ignore[attr-defined]
    assert result.reference == "the counts recorded with the dump"  # type: ignore[attr-defined]
    assert scratch_databases(servers.scratch) == []


# --- bad input: a clear reason, the scratch database dropped, the source untouched ----------


async def failed_run(servers: Servers, text: str, reason: str) -> object:
    before = fingerprint(servers.source)
    result, _ = await run(text)
    assert not result.success  # type: ignore[attr-defined]
    assert result.reason == reason, result.message  # type: ignore[attr-defined]
    assert result.dropped  # type: ignore[attr-defined]
    assert scratch_databases(servers.scratch) == []
    assert scratch_databases(servers.source) == []
    assert fingerprint(servers.source) == before
    no_secret(result.message, Path(result.report).read_text())  # type: ignore[attr-defined]
    return result


async def test_truncated_custom_dump(servers: Servers, workdir: Path) -> None:
    """Cut after the table of contents: `pg_restore --list` still reads it, the restore does
    not (what the integrity check `pg_restore` cannot see)."""
    dump = pg_dump(servers.source, "shop", workdir / "full.dump", "-Fc", "-Z0")
    data = dump.read_bytes()
    dump.unlink()
    (workdir / "shop-1.dump").write_bytes(data[: int(len(data) * 0.8)])
    r = await failed_run(servers, config_text(servers, workdir, "shop-*.dump"), "corrupt")
    assert r.scratch is not None  # type: ignore[attr-defined]  # it got as far as restoring
    assert "pg_restore" in r.message  # type: ignore[attr-defined]


async def test_truncated_plain_dump_is_not_half_restored(servers: Servers, workdir: Path) -> None:
    plain = pg_dump(servers.source, "shop", workdir / "plain.sql").read_bytes()
    (workdir / "plain.sql").unlink()
    # cut in the middle of the orders' COPY data: psql would commit what it got
    cut = plain.index(b"COPY public.orders") + 2000
    (workdir / "shop-1.dump").write_bytes(plain[:cut])
    r = await failed_run(servers, config_text(servers, workdir, "shop-*.dump"), "corrupt")
    assert "dump complete" in r.message  # type: ignore[attr-defined]


async def test_garbage_is_not_a_dump(servers: Servers, workdir: Path) -> None:
    (workdir / "shop-1.dump").write_bytes(b"PGDMP" + os.urandom(4000))
    r = await failed_run(servers, config_text(servers, workdir, "shop-*.dump"), "corrupt")
    assert r.scratch is None  # type: ignore[attr-defined]  # stopped at inspect
    (workdir / "shop-1.dump").write_bytes(b"\x00\x01" + os.urandom(4000))
    await failed_run(servers, config_text(servers, workdir, "shop-*.dump"), "corrupt")


async def test_dump_of_another_database(servers: Servers, workdir: Path) -> None:
    pg_dump(servers.source, "other", workdir / "shop-1.dump", "-Fc")
    r = await failed_run(servers, config_text(servers, workdir, "shop-*.dump"), "wrong_database")
    assert "'other', not 'shop'" in r.message  # type: ignore[attr-defined]
    # without `database:` the declared tables catch it after the restore
    checks = CHECKS.replace("        database: shop\n", "")
    text = config_text(servers, workdir, "shop-*.dump", checks=checks)
    r = await failed_run(servers, text, "check_failed")
    assert "missing after the restore: public.customers, public.orders" in r.message  # type: ignore[attr-defined]


async def test_scratch_server_refusing_connections(servers: Servers, workdir: Path) -> None:
    from tests.pg import free_port

    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    text = config_text(servers, workdir, "shop-*.dump", port=free_port())
    r = await failed_run(servers, text, "connect")
    assert "cannot connect to the scratch server restore_tester@127.0.0.1" in r.message  # type: ignore[attr-defined]


async def test_role_without_createdb(servers: Servers, workdir: Path) -> None:
    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    text = config_text(servers, workdir, "shop-*.dump", user="no_createdb")
    r = await failed_run(servers, text, "create")
    assert "CREATEDB" in r.message  # type: ignore[attr-defined]


async def test_check_query_with_a_syntax_error(servers: Servers, workdir: Path) -> None:
    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    checks = CHECKS.replace("SELECT id FROM orders", "SELEC id FROM orders")
    text = config_text(servers, workdir, "shop-*.dump", checks=checks)
    r = await failed_run(servers, text, "check_error")
    assert 'check query:big_orders could not run: syntax error at or near "SELEC"' in r.message  # type: ignore[attr-defined]


def hanging_dump(servers: Servers, workdir: Path) -> None:
    """A plain dump whose restore blocks (as a lock wait or a huge index build would)."""
    plain = pg_dump(servers.source, "shop", workdir / "plain.sql").read_bytes()
    (workdir / "plain.sql").unlink()
    at = plain.index(b"COPY public.orders")
    (workdir / "shop-1.dump").write_bytes(plain[:at] + b"SELECT pg_sleep(600);\n" + plain[at:])


async def test_hanging_restore_is_cancelled_at_its_limit(servers: Servers, workdir: Path) -> None:
    hanging_dump(servers, workdir)
    text = config_text(servers, workdir, "shop-*.dump", timeout="3s")
    started = asyncio.get_running_loop().time()
    r = await failed_run(servers, text, "timeout")
    assert asyncio.get_running_loop().time() - started < 20
    # the sleeping session went with its database (DROP ... WITH (FORCE))
    assert (
        servers.scratch.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
        )
        == "0"
    )
    assert r.phases["restore"] < 10  # type: ignore[attr-defined]


async def test_cancelled_run_drops_its_database_and_records_no_verdict(
    servers: Servers, workdir: Path
) -> None:
    hanging_dump(servers, workdir)
    t, _ = make_tester(config_text(servers, workdir, "shop-*.dump"))
    task = asyncio.create_task(t.run("shop"))
    for _ in range(100):
        await asyncio.sleep(0.1)
        if scratch_databases(servers.scratch):
            break
    assert scratch_databases(servers.scratch), "the restore never started"
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert scratch_databases(servers.scratch) == []
    state = StateFile(str(workdir / "state" / "restore.json")).load()["shop"]
    assert state.last is None and state.pending_drop == []


async def test_scratch_target_that_is_the_source_is_refused(
    servers: Servers, workdir: Path
) -> None:
    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    dsn = f"postgresql://{SUPERUSER}@127.0.0.1:{servers.source.port}/shop?sslmode=disable"
    text = config_text(servers, workdir, "shop-*.dump", dsn=dsn).replace(
        f"password: {RESTORE_PASSWORD}", f"password: {SOURCE_PASSWORD}"
    )
    r = await failed_run(servers, text, "refused")
    assert r.scratch is None  # type: ignore[attr-defined]
    assert "is the source database 'shop'" in r.message  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b"\\! touch {marker}\n", "psql meta-command \\! is not part of a pg_dump"),
        (b"\\connect other\n", "switches database (\\connect)"),
        (b"CREATE DATABASE evil;\n", "CREATE DATABASE"),
    ],
)
async def test_plain_dump_that_leaves_the_scratch_database_is_refused(
    servers: Servers, workdir: Path, line: bytes, words: str
) -> None:
    marker = workdir / "pwned"
    plain = pg_dump(servers.source, "shop", workdir / "plain.sql").read_bytes()
    (workdir / "plain.sql").unlink()
    at = plain.index(b"CREATE TABLE")
    bad = line.replace(b"{marker}", str(marker).encode())
    (workdir / "shop-1.dump").write_bytes(plain[:at] + bad + plain[at:])
    r = await failed_run(servers, config_text(servers, workdir, "shop-*.dump"), "refused")
    assert words in r.message  # type: ignore[attr-defined]
    assert not marker.exists()
    assert "other" in servers.source.psql("SELECT datname FROM pg_database")


async def test_leftover_of_a_killed_run_is_dropped_and_nothing_else(
    servers: Servers, workdir: Path
) -> None:
    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    servers.scratch.psql(f"CREATE DATABASE redline_restore_shop_killed OWNER {RESTORE_USER}")
    servers.scratch.psql(f"CREATE DATABASE redline_restore_someone_elses OWNER {RESTORE_USER}")
    try:
        store = StateFile(str(workdir / "state" / "restore.json"))
        store.update("shop", lambda s: s.pending_drop.append("redline_restore_shop_killed"))
        result, _ = await run(config_text(servers, workdir, "shop-*.dump"))
        assert result.success, result.message  # type: ignore[attr-defined]
        assert scratch_databases(servers.scratch) == ["redline_restore_someone_elses"]
        assert store.load()["shop"].pending_drop == []
    finally:
        servers.scratch.psql("DROP DATABASE IF EXISTS redline_restore_someone_elses")
        servers.scratch.psql("DROP DATABASE IF EXISTS redline_restore_shop_killed")


async def test_a_second_run_of_the_same_set_waits_its_turn(servers: Servers, workdir: Path) -> None:
    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    t, _ = make_tester(config_text(servers, workdir, "shop-*.dump"))
    (workdir / "state").mkdir()
    with t.state.run_lock("shop"), pytest.raises(Busy):
        await t.run("shop")


async def test_no_backup(servers: Servers, workdir: Path) -> None:
    r = await failed_run(servers, config_text(servers, workdir, "shop-*.dump"), "no_backup")
    assert "no file matches shop-*.dump" in r.message  # type: ignore[attr-defined]


@pytest.fixture
def tiny_tablespace(servers: Servers) -> Iterator[str]:
    """A tablespace on a 12 MiB tmpfs: room for an empty database (about 7.5 MiB copied from
    template0), not for the restored data."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="redline-tiny-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        shutil.rmtree(where, ignore_errors=True)
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        import pwd

        pg = pwd.getpwnam("postgres")
        os.chown(where, pg.pw_uid, pg.pw_gid)
        servers.scratch.psql(f"CREATE TABLESPACE tiny LOCATION '{where}'")
        servers.scratch.psql(f"GRANT CREATE ON TABLESPACE tiny TO {RESTORE_USER}")
        yield "tiny"
    finally:
        servers.scratch.psql("DROP TABLESPACE IF EXISTS tiny")
        subprocess.run(["umount", str(where)], capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


async def test_scratch_server_out_of_disk(
    servers: Servers, workdir: Path, tiny_tablespace: str
) -> None:
    servers.source.psql("CREATE DATABASE big")
    try:
        servers.source.psql(
            "CREATE TABLE customers (id int, email text); CREATE TABLE orders (id int, note text);"
            "INSERT INTO orders SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 60000) g",
            db="big",
        )
        pg_dump(servers.source, "big", workdir / "shop-1.dump", "-Fc")
    finally:
        servers.source.psql("DROP DATABASE big")
    extra = f"        tablespace: {tiny_tablespace}\n"
    text = config_text(servers, workdir, "shop-*.dump", extra=extra, checks="")
    r = await failed_run(servers, text, "disk_full")
    assert "No space left on device" in r.message or "could not extend" in r.message  # type: ignore[attr-defined]


def test_cli_runs_now_prints_and_exits_by_verdict(
    servers: Servers, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from exporter.cli import main

    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    config = workdir / "redline.yml"
    config.write_text(config_text(servers, workdir, "shop-*.dump"))
    assert main(["restore-test", "--config.file", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PASS shop: ") and "measured RTO" in out and "report: " in out
    assert "phases: inspect" in out and "ok      tables: 2 present" in out
    no_secret(out)
    assert main(["restore-test", "nope", "--config.file", str(config)]) == 2
    assert "no restore test of 'nope'; configured: shop" in capsys.readouterr().err
    (workdir / "shop-1.dump").write_bytes(b"PGDMP garbage")
    assert main(["restore-test", "shop", "--config.file", str(config)]) == 1
    assert capsys.readouterr().out.startswith("FAIL (corrupt) shop: ")
    # both runs are in the state file, the failure last
    state = StateFile(str(workdir / "state" / "restore.json")).load()["shop"]
    assert state.last is not None and state.last.reason == "corrupt"
    assert state.last_success_at is not None


# --- in the exporter: background runs, /metrics, the status page -----------------------------


async def scrape_source(src: object) -> Scrape:
    loop = asyncio.get_running_loop()
    return Scrape(render(await src.collect(loop.time() + 5)))  # type: ignore[attr-defined]


async def test_source_serves_the_recorded_outcome(servers: Servers, workdir: Path) -> None:
    from exporter.backups.source import BackupSource

    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    text = config_text(servers, workdir, "shop-*.dump")
    src = BackupSource(parse_config(text, "t.yml"), Redactor(), background=False)
    await src.start()
    try:
        s = await scrape_source(src)
        # scheduled, never run: the budgets and schedule, no verdict (no false alarm)
        assert s.value("redline_backup_restore_interval_seconds", backup="shop") == 86400
        assert s.value("redline_backup_restore_rto_budget_seconds", backup="shop") == 1800
        assert s.series("redline_backup_restore_success") == []
        await src.restore.run("shop")
        s = await scrape_source(src)
        assert s.value("redline_backup_restore_success", backup="shop") == 1
        phases = {lbl["phase"]: v for lbl, v in s.series("redline_backup_restore_duration_seconds")}
        assert set(phases) == {"inspect", "create", "restore", "checks", "drop"}
        assert all(v > 0 for v in phases.values())
        assert 0 <= s.value("redline_backup_restore_newest_row_age_seconds", backup="shop") < 600
        assert s.value("redline_backup_restore_last_success_timestamp_seconds", backup="shop") > 0
        assert (
            s.value(
                "redline_backup_restore_check_status", backup="shop", check="tables", status="ok"
            )
            == 1
        )
        assert s.value("redline_backup_restore_scratch_databases_left", backup="shop") == 0
        assert promtool_problems(s.text) == []
        no_secret(s.text)
        # a corrupt newest dump: the verdict changes, the last success stays
        (workdir / "shop-2.dump").write_bytes(b"PGDMP" + os.urandom(3000))
        await src.restore.run("shop")
        s = await scrape_source(src)
        assert s.value("redline_backup_restore_success", backup="shop") == 0
        reasons = s.series("redline_backup_restore_failure_reason", backup="shop")
        assert [lbl["reason"] for lbl, v in reasons if v == 1] == ["corrupt"]
        assert s.value("redline_backup_restore_last_success_timestamp_seconds", backup="shop") > 0
    finally:
        await src.close()


async def test_scheduled_in_the_background_and_not_rerun_at_restart(
    servers: Servers, workdir: Path
) -> None:
    from exporter.backups.source import BackupSource

    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    text = config_text(servers, workdir, "shop-*.dump").replace(
        "      timeout: 60s\n", "      timeout: 60s\n      delay: 0s\n      interval: 1h\n"
    )
    store = StateFile(str(workdir / "state" / "restore.json"))
    src = BackupSource(parse_config(text, "t.yml"), Redactor())
    await src.start()
    try:
        for _ in range(300):  # no scrape: the exporter's own task runs it
            await asyncio.sleep(0.1)
            state = store.load().get("shop")
            if state is not None and state.last is not None:
                break
        assert state is not None and state.last is not None and state.last.success
        first = state.last.started_at
        since = state.scheduled_since
    finally:
        await src.close()
    # a restart within the interval does not run it again
    src = BackupSource(parse_config(text, "t.yml"), Redactor())
    await src.start()
    try:
        await asyncio.sleep(3)
        state = store.load()["shop"]
        assert state.last is not None and state.last.started_at == first
        assert state.scheduled_since == since
        s = await scrape_source(src)
        assert s.value("redline_backup_restore_success", backup="shop") == 1
    finally:
        await src.close()


async def test_status_page_shows_the_latest_result(servers: Servers, workdir: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from exporter.app import initial_runtime, make_app

    pg_dump(servers.source, "shop", workdir / "shop-1.dump", "-Fc")
    path = workdir / "redline.yml"
    path.write_text(
        config_text(servers, workdir, "shop-*.dump").replace(
            "      timeout: 60s\n", "      timeout: 60s\n      delay: 0s\n"
        )
    )
    client = TestClient(TestServer(make_app(initial_runtime(path))))
    await client.start_server()
    try:
        for _ in range(300):
            await client.get("/metrics")
            snap = await (await client.get("/status.json")).json()
            (test,) = snap["restore_tests"]
            if test["state"] != "unknown":
                break
            await asyncio.sleep(0.1)
        assert test["state"] == "up", test
        assert test["rto_seconds"] > 0 and test["file"].endswith("shop-1.dump")
        assert set(test["phases"]) == {"inspect", "create", "restore", "checks", "drop"}
        assert test["report"] and Path(test["report"]).exists()
        page = await (await client.get("/status")).text()
        assert '<tr data-restore="shop" data-state="up">' in page
        assert "Measured RTO" in page and "restored" in page
        no_secret(page, json.dumps(snap))
    finally:
        await client.close()
