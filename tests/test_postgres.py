"""The Postgres source against a real PostgreSQL 15 (tests/pg.py) after a pgbench workload:
values against what direct SQL says, the pgbench statements in the top N, the statements one
scrape issues, read-only and transaction-pooler modes, pgbouncer, custom SQL, the app's
/metrics, reloads, and promtool on the rendered families.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.app import initial_runtime, make_app
from exporter.config import Config, load_config, parse_config
from exporter.postgres.source import PostgresSource
from exporter.postgres.statements import top_sql
from exporter.secrets import Redactor
from tests.pg import (
    MONITOR_PASSWORD,
    MONITOR_USER,
    Cluster,
    Scrape,
    free_port,
    scrape,
    shared_cluster,
    wait_until,
)
from tests.promtool import promtool_problems

BUILTIN = ("availability", "activity", "database", "tables", "replication", "statements")


@pytest.fixture(scope="session")
def pg() -> Cluster:
    return shared_cluster()


def make_config(pg: Cluster, extra: str = "", name: str = "main", dsn: str | None = None) -> Config:
    text = f"databases:\n  - name: {name}\n    dsn: '{dsn or pg.dsn()}'\n" + extra
    return parse_config(text, "redline.yml")


@pytest.fixture
async def source() -> AsyncIterator[Callable[[Config], Any]]:
    made: list[PostgresSource] = []

    async def start(config: Config) -> PostgresSource:
        src = PostgresSource(config, Redactor())
        await src.start()
        made.append(src)
        return src

    yield start
    for src in made:
        await src.close()


def redline_calls(pg: Cluster) -> tuple[int, float]:
    """Statements the monitoring role has run, and their execution time in ms, so far."""
    out = pg.psql(
        "SELECT coalesce(sum(calls), 0), coalesce(sum(total_exec_time), 0) "
        f"FROM pg_stat_statements WHERE userid = '{MONITOR_USER}'::regrole"
    )
    calls, ms = out.split("|")
    return int(calls), float(ms)


async def test_every_area_matches_direct_sql(pg: Cluster, source: Any) -> None:
    src = await source(make_config(pg, "    tables: {top: 3}\n"))
    before = int(pg.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"))
    s = await scrape(src)
    after = int(pg.psql("SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'"))

    assert s.value("pg_up", database="main") == 1
    assert s.value("redline_pg_failure_reason", database="main", reason="connect") == 0
    for name in BUILTIN:
        assert s.value("pg_scrape_collector_success", database="main", collector=name) == 1, name
    assert s.value("redline_pg_canary_duration_seconds") < 1
    assert s.series("redline_pg_server_info", version=pg.psql("SHOW server_version").split()[0])
    started = float(pg.psql("SELECT extract(epoch FROM pg_postmaster_start_time())"))
    assert s.value("pg_postmaster_start_time_seconds") == pytest.approx(started)

    # activity and settings
    assert s.value("pg_settings_max_connections") == int(pg.psql("SHOW max_connections")) == 40
    assert s.value("pg_settings_superuser_reserved_connections") == 3
    assert not s.series("pg_settings_reserved_connections")  # PostgreSQL 16+ only
    clients = sum(v for _, v in s.series("pg_stat_activity_count"))
    assert clients >= 1 and s.series("pg_stat_activity_count", state="active", wait_event_type="")
    assert s.value("redline_pg_connections_usage_ratio") == pytest.approx(clients / (40 - 3))
    assert s.value("redline_pg_idle_in_transaction_connections") == 0
    assert s.value("redline_pg_lock_waiting_connections") == 0
    assert s.value("redline_pg_lock_wait_max_seconds") == 0

    # per database: counters between the values read before and after the scrape
    commits = s.value("pg_stat_database_xact_commit_total", datname="postgres")
    assert before <= commits <= after
    size = int(pg.psql("SELECT pg_database_size('postgres')"))
    assert s.value("pg_database_size_bytes", datname="postgres") == pytest.approx(size, rel=0.02)
    assert not s.series("pg_stat_database_numbackends", datname="template0")

    # tables: the three largest, pgbench_accounts first, values as the server has them
    tables = {lbls["relname"] for lbls, _ in s.series("pg_stat_user_tables_n_live_tup")}
    assert len(tables) == 3 and "pgbench_accounts" in tables
    row = pg.psql(
        "SELECT n_live_tup, pg_table_size(relid), pg_indexes_size(relid), "
        "extract(epoch FROM now() - last_vacuum) FROM pg_stat_user_tables "
        "WHERE relname = 'pgbench_accounts'"
    ).split("|")
    acc = {"relname": "pgbench_accounts", "schemaname": "public"}
    assert s.value("pg_stat_user_tables_n_live_tup", **acc) == int(row[0]) == 100000
    assert s.value("pg_stat_user_tables_table_size_bytes", **acc) == int(row[1])
    assert s.value("pg_stat_user_tables_index_size_bytes", **acc) == int(row[2])
    vacuum_age = s.value("redline_pg_table_maintenance_age_seconds", **acc, operation="vacuum")
    assert vacuum_age == pytest.approx(float(row[3]), abs=5)  # pgbench -i vacuums
    assert 0 <= s.value("redline_pg_table_dead_tuple_ratio", **acc) < 1

    # replication: a primary, and a slot with the WAL it retains
    assert s.value("pg_replication_is_replica") == 0
    assert s.value("pg_replication_lag_seconds") == 0

    # the connection is redline's own, as the server sees it
    apps = pg.psql(
        f"SELECT DISTINCT application_name FROM pg_stat_activity WHERE usename = '{MONITOR_USER}'"
    )
    assert apps == "redline"
    assert 1 <= s.value("redline_pg_pool_connections") <= 2


async def test_replication_slot(pg: Cluster, source: Any) -> None:
    pg.psql("SELECT pg_create_physical_replication_slot('redline_test_slot', true)")
    try:
        s = await scrape(await source(make_config(pg, "    collectors: [replication]\n")))
        slot = {"slot_name": "redline_test_slot", "slot_type": "physical"}
        assert s.value("pg_replication_slots_active", **slot) == 0
        retained = float(
            pg.psql(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) "
                "FROM pg_replication_slots WHERE slot_name = 'redline_test_slot'"
            )
        )
        assert s.value("pg_replication_slots_pg_wal_lsn_diff", **slot) == pytest.approx(
            retained, abs=1024 * 1024
        )
    finally:
        pg.psql("SELECT pg_drop_replication_slot('redline_test_slot')")


async def test_top_statements_include_pgbench(pg: Cluster, source: Any) -> None:
    config = make_config(
        pg, "    collectors: [statements]\n    statements: {top: 10, query_length: 40}\n"
    )
    s = await scrape(await source(config))
    assert s.value("pg_scrape_collector_success", collector="statements") == 1
    infos = s.series("pg_stat_statements_query_info")
    assert 1 <= len(infos) <= 10
    assert all(len(lbls["query"]) <= 40 for lbls, _ in infos)
    # pgbench's UPDATE, with its figures: from a scrape that keeps every statement, since the
    # cluster is shared with this worker's other modules (a restore test's COPY can outrank it)
    every = make_config(
        pg, "    collectors: [statements]\n    statements: {top: 1000, query_length: 40}\n"
    )
    everything = await scrape(await source(every))
    updates = [
        lbls
        for lbls, _ in everything.series("pg_stat_statements_query_info")
        if lbls["query"].startswith("UPDATE pgbench_accounts")
    ]
    assert updates, [lbls["query"] for lbls, _ in infos]
    queryid = updates[0]["queryid"]
    assert updates[0]["user"] == "postgres" and updates[0]["datname"] == "postgres"
    calls, total_ms = pg.psql(
        f"SELECT sum(calls), sum(total_exec_time) FROM pg_stat_statements WHERE queryid = {queryid}"
    ).split("|")
    calls_seen = everything.value("pg_stat_statements_calls_total", queryid=queryid)
    assert calls_seen == int(calls) == 600
    seconds = everything.value("pg_stat_statements_seconds_total", queryid=queryid)
    assert seconds == pytest.approx(float(total_ms) / 1000)
    assert everything.value("pg_stat_statements_mean_seconds", queryid=queryid) == pytest.approx(
        seconds / int(calls)
    )
    # ranked by total time: no statement outside the top N has more than the last one in it
    ranked = sorted((v for _, v in s.series("pg_stat_statements_seconds_total")), reverse=True)
    outside = float(
        pg.psql(
            "SELECT coalesce(max(t), 0) FROM (SELECT sum(total_exec_time) / 1000 AS t "
            "FROM pg_stat_statements GROUP BY userid, dbid, queryid ORDER BY 1 DESC OFFSET 10) x"
        )
    )
    assert outside <= ranked[-1] + 0.01


async def test_statement_texts_never_show_passwords(pg: Cluster, source: Any) -> None:
    # tests/pg.py created the role with CREATE ROLE ... PASSWORD '<literal>': pg_stat_statements
    # keeps utility statements verbatim
    assert MONITOR_PASSWORD in pg.psql("SELECT string_agg(query, ' ') FROM pg_stat_statements")
    config = make_config(pg, "    collectors: [statements]\n    statements: {top: 1000}\n")
    s = await scrape(await source(config))
    assert MONITOR_PASSWORD not in s.text
    assert any(
        "PASSWORD '<redacted>'" in lbls["query"]
        for lbls, _ in s.series("pg_stat_statements_query_info")
    )


async def test_statements_sql_fits_pg12_and_pg17_columns(pg: Cluster) -> None:
    """pg_stat_statements of PostgreSQL 12 (total_time) and 17 (total_exec_time, renamed block
    timings) faked as functions of the same shape; the ranking query must run on both."""
    common = "rows int8, shared_blks_hit int8, shared_blks_read int8"
    shapes = {
        "fake12": (120000, "", f"calls int8, total_time float8, mean_time float8, {common}, "
                   "blk_read_time float8"),
        "fake17": (170000, "toplevel bool, ", f"calls int8, total_exec_time float8, "
                   f"mean_exec_time float8, {common}, shared_blk_read_time float8"),
    }  # fmt: skip
    conn = await asyncpg.connect(pg.dsn(user="postgres", password="postgres-superuser-pw"))
    try:
        for schema, (version, toplevel, columns) in shapes.items():
            value = "true, " if toplevel else ""
            await conn.execute(
                f"""
                DROP SCHEMA IF EXISTS {schema} CASCADE;
                CREATE SCHEMA {schema};
                CREATE TABLE {schema}.rows (userid oid, dbid oid, {toplevel}queryid int8,
                                            query text, {columns});
                INSERT INTO {schema}.rows VALUES
                    (10, 5, {value}42, 'SELECT $1', 3, 1500.0, 500.0, 3, 7, 1, 0),
                    (10, 5, {value}42, 'SELECT $1', 1, 500.0, 500.0, 1, 1, 1, 0);
                CREATE FUNCTION {schema}.pg_stat_statements(showtext boolean)
                RETURNS SETOF {schema}.rows LANGUAGE sql AS 'SELECT * FROM {schema}.rows';
                """
            )
            rows = await conn.fetch(top_sql(version, schema), 5)
            assert [(r["queryid"], r["calls"], r["seconds"]) for r in rows] == [("42", 4.0, 2.0)]
    finally:
        await conn.execute(
            "DROP SCHEMA IF EXISTS fake12 CASCADE; DROP SCHEMA IF EXISTS fake17 CASCADE"
        )
        await conn.close()


_NEWCOMERS = itertools.count(1)


def enter_top(pg: Cluster, top: int) -> str:
    """Run, as the superuser, a statement pg_stat_statements has not seen, slow enough to enter
    the top ``top`` by total time; its normalised text's start. The queryid comes from the
    parse tree, in which constants and comments do not count but the number of columns does."""
    nth = float(
        pg.psql(
            "SELECT coalesce(min(t), 0) FROM (SELECT sum(total_exec_time) AS t "
            "FROM pg_stat_statements GROUP BY userid, dbid, queryid "
            f"ORDER BY 1 DESC LIMIT {top}) x"
        )
    )
    pg.psql(f"SELECT pg_sleep({(nth + 50) / 1000:.3f}){', 0' * next(_NEWCOMERS)}")
    return "SELECT pg_sleep($1), $2"


def top_keys(s: Scrape) -> set[tuple[str, str, str]]:
    """The statements in a scrape's top N, as (datname, user, queryid)."""
    return {
        (lbls["datname"], lbls["user"], lbls["queryid"])
        for lbls, _ in s.series("pg_stat_statements_calls_total")
    }


@pytest.mark.parametrize(("pooler", "per_query"), [(False, 1), (True, 4)])
async def test_statements_per_scrape(
    pg: Cluster, source: Any, pooler: bool, per_query: int
) -> None:
    """Direct: one statement per area, nothing else (no BEGIN/SET, no reset, no type lookups).
    Transaction mode: BEGIN READ ONLY, set_config, the query, COMMIT per area. And one query
    more, for the texts, in a scrape whose top N holds statements the last scrape's did not:
    one forced in below, and any that climbed in on their own (redline's own statements do:
    the database area's query overtook pgbench's after about 20 scrapes of a fresh cluster,
    and a CI run counted one such text fetch in this test)."""
    top = 5
    extra = f"    transaction_pooler: {str(pooler).lower()}\n    statements: {{top: {top}}}\n"
    src = await source(make_config(pg, extra))
    last = top_keys(await scrape(src))  # warm-up: connecting, the extension's schema, texts
    calls0, _ = redline_calls(pg)
    rounds, newcomer_rounds, forced = 3, 0, ""
    for i in range(rounds):
        if i == 1:
            forced = enter_top(pg, top)
        s = await scrape(src)
        assert all(s.value("pg_scrape_collector_success", collector=c) == 1 for c in BUILTIN)
        keys = top_keys(s)
        newcomer_rounds += bool(keys - last)
        last = keys
        if i == 1:  # the forced newcomer is in, with its text
            texts = [lbls["query"] for lbls, _ in s.series("pg_stat_statements_query_info")]
            assert any(t.startswith(forced) for t in texts), texts
            assert len(texts) == top
    calls1, _ = redline_calls(pg)
    assert calls1 - calls0 == (rounds * len(BUILTIN) + newcomer_rounds) * per_query


async def test_queries_are_read_only(pg: Cluster, source: Any) -> None:
    history = "SELECT count(*) FROM pgbench_history"
    rows = pg.psql(history)
    write = (
        "WITH w AS (INSERT INTO pgbench_history (tid, bid, aid, delta) VALUES (1, 1, 1, 1) "
        "RETURNING 1) SELECT count(*) AS n FROM w"
    )
    for pooler in ("false", "true"):
        extra = (
            f"    transaction_pooler: {pooler}\n    collectors: []\n    queries:\n"
            f"      - {{name: write, sql: '{write}', metrics: [{{name: written, column: n}}]}}\n"
        )
        s = await scrape(await source(make_config(pg, extra, name=f"ro{pooler}")))
        assert s.value("redline_pg_query_status", query="write", status="error") == 1
        assert s.value("pg_scrape_collector_success", collector="custom") == 0
        assert s.value("pg_up") == 1
    assert pg.psql(history) == rows


CUSTOM = """    collectors: [activity]
    queries:
      - name: levels
        sql: >-
          SELECT * FROM (VALUES ('error', 3, 10), ('info', 5, NULL)) AS v(level, n, total)
        labels: [level]
        metrics:
          - {name: log_rows, column: n, help: Rows per level}
          - {name: log_rows_seen_total, column: total, type: counter}
      - name: syntax
        sql: SELEC 1
        metrics: [{name: never, column: n}]
      - name: text
        sql: SELECT 'twelve' AS n
        metrics: [{name: texty, column: n}]
      - name: cached
        sql: SELECT extract(epoch FROM clock_timestamp()) AS t
        min_interval: 1h
        metrics: [{name: clock_seconds, column: t}]
      - name: many
        sql: SELECT g AS k, g AS v FROM generate_series(1, 10) g
        labels: [k]
        max_rows: 4
        metrics: [{name: many_v, column: v}]
"""


async def test_custom_queries(pg: Cluster, source: Any, caplog: pytest.LogCaptureFixture) -> None:
    src = await source(make_config(pg, CUSTOM))
    s = await scrape(src)

    def status(s: Scrape, query: str) -> str:
        states = [
            lbls["status"] for lbls, v in s.series("redline_pg_query_status", query=query) if v == 1
        ]
        assert len(states) == 1
        return states[0]

    assert status(s, "levels") == "ok"
    assert s.value("redline_sql_log_rows", level="error") == 3
    assert s.value("redline_sql_log_rows", level="info") == 5
    assert s.value("redline_sql_log_rows_seen_total", level="error") == 10
    assert not s.series("redline_sql_log_rows_seen_total", level="info")  # NULL: no sample
    assert status(s, "syntax") == "error"
    assert status(s, "text") == "bad_result" and not s.series("redline_sql_texty")
    assert status(s, "many") == "too_many_rows" and len(s.series("redline_sql_many_v")) == 4
    # a broken query fails only its own status (and the custom sub-collector), never the rest
    assert s.value("pg_scrape_collector_success", collector="custom") == 0
    assert s.value("pg_scrape_collector_success", collector="activity") == 1
    assert "syntax error" in caplog.text and "twelve" in caplog.text

    # min_interval: the next scrape serves the same result, older
    clock = s.value("redline_sql_clock_seconds")
    await asyncio.sleep(0.05)
    caplog.clear()
    s2 = await scrape(src)
    assert s2.value("redline_sql_clock_seconds") == clock
    assert s2.value("redline_pg_query_result_age_seconds", query="cached") > 0
    assert s2.value("redline_pg_query_result_age_seconds", query="levels") == 0
    assert "syntax error" not in caplog.text  # logged when it appears, not at every scrape
    assert promtool_problems(s.text) == []


async def test_promtool_accepts_everything_rendered(pg: Cluster, source: Any) -> None:
    second = pg.dsn(db="postgres")
    text = (
        "databases:\n"
        f"  - name: main\n    dsn: '{pg.dsn()}'\n"
        + CUSTOM.replace("[activity]", "[activity, database, tables, replication, statements]")
        + f"  - name: other\n    dsn: '{second}'\n    transaction_pooler: true\n"
    )
    s = await scrape(await source(parse_config(text, "redline.yml")))
    assert s.value("pg_up", database="main") == s.value("pg_up", database="other") == 1
    assert promtool_problems(s.text) == []


async def test_app_serves_postgres_and_reloads(pg: Cluster, tmp_path: Path) -> None:
    path = tmp_path / "redline.yml"
    path.write_text(f"databases:\n  - name: main\n    dsn: '{pg.dsn()}'\n")
    runtime = initial_runtime(path)
    client = TestClient(TestServer(make_app(runtime)))
    await client.start_server()
    try:
        s = Scrape(await (await client.get("/metrics")).text())
        assert s.value("pg_up", database="main") == 1
        assert s.value("redline_source_up", source="postgres") == 1
        (deferred,) = (x for x in runtime.sources if x.name == "postgres")
        src = deferred.source  # loaded: the config has a database
        assert isinstance(src, PostgresSource)
        pool = src.monitors["main"].connector.pool

        # a new custom query: the pool stays open
        path.write_text(
            path.read_text()
            + "    queries:\n"
            + "      - {name: one, sql: SELECT 1 AS n, metrics: [{name: one, column: n}]}\n"
        )
        assert (await client.post("/-/reload")).status == 200
        assert src.monitors["main"].connector.pool is pool
        s = Scrape(await (await client.get("/metrics")).text())
        assert s.value("redline_sql_one", database="main") == 1

        # the database removed: its pool is closed (the only database: a reload must be forced)
        path.write_text("databases: []\n")
        assert (await client.post("/-/reload")).status == 409
        assert (await client.post("/-/reload?force=1")).status == 200
        assert src.monitors == {}
        s = Scrape(await (await client.get("/metrics")).text())
        assert not s.series("pg_up")
        wait_until(
            lambda: (
                pg.psql(f"SELECT count(*) FROM pg_stat_activity WHERE usename = '{MONITOR_USER}'")
                == "0"
            ),
            timeout=5,
        )
    finally:
        await client.close()


# --- through a real pgbouncer in transaction mode ----------------------------------------------


@pytest.fixture(scope="module")
def pgbouncer(pg: Cluster) -> Iterator[int]:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    assert os.path.exists(binary), "pgbouncer is missing: run scripts/install-system.sh"
    port = free_port()
    base = pg.base / f"pgbouncer-{port}"
    base.mkdir()
    (base / "userlist.txt").write_text(f'"{MONITOR_USER}" "{MONITOR_PASSWORD}"\n')
    # one server connection for redline's two client connections: any state kept across
    # transactions, or a statement split across them, would break here
    (base / "pgbouncer.ini").write_text(
        f"""[databases]
postgres = host=127.0.0.1 port={pg.port} dbname=postgres pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {base}/userlist.txt
pool_mode = transaction
logfile = {base}/pgbouncer.log
pidfile = {base}/pgbouncer.pid
"""
    )
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        for f in base.iterdir():
            shutil.chown(f, "postgres", "postgres")
    proc = subprocess.Popen([binary, str(base / "pgbouncer.ini")], **pg.as_user)
    try:
        wait_until(lambda: _accepts(port), timeout=10)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def test_through_pgbouncer_transaction_mode(
    pg: Cluster, pgbouncer: int, source: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # a Prisma-style URL: pgbouncer=true turns transaction mode on, connection_limit is dropped
    dsn = (
        f"postgresql://{MONITOR_USER}:{MONITOR_PASSWORD}@127.0.0.1:{pgbouncer}/postgres"
        "?sslmode=disable&pgbouncer=true&connection_limit=1"
    )
    src = await source(
        make_config(
            pg,
            CUSTOM.replace("[activity]", "[activity, database, tables, replication, statements]"),
            dsn=dsn,
        )
    )
    for _ in range(3):
        s = await scrape(src)
        assert s.value("pg_up") == 1
        for name in BUILTIN:
            assert s.value("pg_scrape_collector_success", collector=name) == 1, name
        assert s.value("redline_sql_log_rows", level="error") == 3

    # without transaction mode, the startup settings are refused, with a hint
    plain = dsn.replace("&pgbouncer=true", "")
    s = await scrape(await source(make_config(pg, dsn=plain, name="plain")))
    assert s.value("pg_up", database="plain") == 0
    assert "set transaction_pooler: true" in caplog.text
    assert MONITOR_PASSWORD not in caplog.text


async def test_monitoring_role_is_least_privilege(pg: Cluster) -> None:
    """What the tests connect as is the docs' role: pg_monitor, no superuser."""
    conn = await asyncpg.connect(pg.dsn())
    try:
        assert await conn.fetchval("SELECT pg_has_role('pg_monitor', 'MEMBER')")
        assert not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()


async def test_hotrod_custom_queries_run_on_the_hotrod_schema(pg: Cluster, source: Any) -> None:
    """config/hotrod.yml's custom SQL against the Hot Rod AN tables it reads (docs/architecture.md
    and the decision_sync_events view's migration), with rows of known ages."""
    if pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'hotrod'") == "0":
        pg.psql("CREATE DATABASE hotrod")
    pg.psql(
        """
        DROP TABLE IF EXISTS observability_logs, decision_sync_event_logs CASCADE;
        CREATE TABLE observability_logs (id bigserial, level text, message text, metadata jsonb,
                                         created_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO observability_logs (level, message, created_at) VALUES
            ('ERROR', 'a', now() - interval '1 minute'), ('ERROR', 'b', now()),
            ('INFO', 'c', now() - interval '30 seconds'), ('TRACE', 'd', now()),
            ('ERROR', 'old', now() - interval '1 hour');
        CREATE TABLE decision_sync_event_logs (id bigserial PRIMARY KEY, decision_id int NOT NULL,
            status text NOT NULL, duration_ms numeric(10,2), error_code text,
            attempt int NOT NULL DEFAULT 1, scope text NOT NULL DEFAULT 'ops',
            created_at timestamptz NOT NULL DEFAULT now());
        CREATE VIEW decision_sync_events AS SELECT decision_id AS "decisionId", status,
            duration_ms AS "durationMs", error_code AS "errorCode", attempt,
            created_at AS "timestamp", scope FROM decision_sync_event_logs ORDER BY created_at DESC;
        INSERT INTO decision_sync_event_logs (decision_id, status, duration_ms, created_at)
        SELECT i, CASE WHEN i % 4 = 0 THEN 'failed' ELSE 'success' END, i * 10,
               now() - interval '2 minutes'
        FROM generate_series(1, 100) i;
        GRANT SELECT ON observability_logs, decision_sync_events TO redline;
        """,
        db="hotrod",
    )
    hotrod, _ = load_config(Path(__file__).resolve().parents[1] / "config" / "hotrod.yml")
    supabase = next(d for d in hotrod.databases if d.name == "supabase")
    local = supabase.model_copy(update={"dsn": pg.dsn(db="hotrod"), "collectors": ()})
    s = await scrape(await source(Config(databases=(local,))))
    for query in ("observability_logs", "decision_sync", "freshness"):
        assert s.value("redline_pg_query_status", query=query, status="ok") == 1, s.text
    assert s.value("redline_sql_observability_log_rows_5m", level="error") == 2
    assert s.value("redline_sql_observability_log_rows_5m", level="other") == 1
    assert s.value("redline_sql_decision_sync_events_1h") == 100
    assert s.value("redline_sql_decision_sync_failure_ratio_1h") == 0.25
    assert s.value("redline_sql_decision_sync_duration_p95_1h_seconds") == pytest.approx(
        0.9505
    )  # 10..1000 ms
    age = s.value("redline_sql_table_newest_row_age_seconds", table="decision_sync_events")
    assert 110 < age < 180
