"""The Postgres source when things go wrong: the database down at start (and coming up), a
restart in the middle of a scrape, queries past their timeout (cancelled, never more in flight
than the pool allows), pg_stat_statements missing, a wrong password, missing secrets.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from exporter.config import Config, parse_config
from exporter.postgres.source import PostgresSource
from exporter.secrets import Redactor
from tests.pg import (
    MONITOR_PASSWORD,
    MONITOR_USER,
    Cluster,
    free_port,
    new_cluster,
    scrape,
    shared_cluster,
)

BUILTIN = ("availability", "activity", "database", "tables", "replication", "statements")


@pytest.fixture(scope="session")
def pg() -> Cluster:
    return shared_cluster()


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own (not started), for tests that stop or restart it."""
    cluster = new_cluster(free_port())
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
async def source() -> AsyncIterator[Callable[[str], Any]]:
    made: list[PostgresSource] = []

    async def start(text: str) -> PostgresSource:
        src = PostgresSource(parse_config(text, "redline.yml"), Redactor())
        await src.start()
        made.append(src)
        return src

    yield start
    for src in made:
        await src.close()


def db(dsn: str, extra: str = "", name: str = "main") -> str:
    return f"databases:\n  - name: {name}\n    dsn: '{dsn}'\n{extra}"


def reason(s: Any, database: str = "main") -> str:
    found = [
        lbls["reason"]
        for lbls, v in s.series("redline_pg_failure_reason", database=database)
        if v == 1
    ]
    return found[0] if found else ""


async def test_down_at_start_then_recovers(own_cluster: Cluster, source: Any) -> None:
    t0 = time.perf_counter()
    src = await source(db(own_cluster.dsn()))
    assert time.perf_counter() - t0 < 0.5  # start never waits for the database

    s = await scrape(src, timeout=2)
    assert s.value("pg_up") == 0 and reason(s) == "connect"
    for name in BUILTIN:  # nothing ran: every area is reported, as failed
        assert s.value("pg_scrape_collector_success", collector=name) == 0
    assert s.value("redline_pg_pool_connections") == 0

    await asyncio.to_thread(own_cluster.start)
    deadline = time.monotonic() + 15
    while True:  # the backoff is at most 10 s: recovery needs no restart of redline
        s = await scrape(src, timeout=2)
        if s.value("pg_up") == 1 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert s.value("pg_up") == 1 and reason(s) == ""
    for name in BUILTIN:
        assert s.value("pg_scrape_collector_success", collector=name) == 1, name


async def test_restart_in_the_middle_of_a_scrape(own_cluster: Cluster, source: Any) -> None:
    own_cluster.start()
    extra = (
        "    queries:\n"
        "      - {name: slow, sql: 'SELECT 1 AS n FROM pg_sleep(1)', "
        "metrics: [{name: slow_one, column: n}]}\n"
    )
    src = await source(db(own_cluster.dsn(), extra))
    assert (await scrape(src)).value("pg_up") == 1

    restart = threading.Timer(0.3, own_cluster.stop)
    restart.start()
    s = await scrape(src, timeout=5)  # the server goes away under the slow query
    restart.join()
    assert s.value("redline_pg_query_status", query="slow", status="ok") == 0
    assert s.value("pg_scrape_collector_success", collector="custom") == 0

    await asyncio.to_thread(own_cluster.start)
    deadline = time.monotonic() + 15
    while True:  # broken pooled connections are replaced on the next acquire
        s = await scrape(src, timeout=5)
        ok = s.value("pg_up") == 1 and all(
            s.value("pg_scrape_collector_success", collector=c) == 1 for c in BUILTIN
        )
        if ok or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert ok, s.text
    assert s.value("redline_pg_query_status", query="slow", status="ok") == 1


def _watch(pg: Cluster, stop: threading.Event, seen: list[tuple[int, int]]) -> None:
    """Poll the server: (redline's connections, redline's running queries)."""
    while not stop.is_set():
        out = pg.psql(
            "SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity "
            f"WHERE usename = '{MONITOR_USER}' AND application_name = 'redline'"
        )
        connections, active = out.split("|")
        seen.append((int(connections), int(active)))
        time.sleep(0.03)


def sleeping(pg: Cluster) -> int:
    return int(
        pg.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            f"AND usename = '{MONITOR_USER}' AND query LIKE '%pg_sleep%'"
        )
    )


async def test_timeouts_cancel_and_the_pool_bounds_queries(pg: Cluster, source: Any) -> None:
    queries = "".join(
        f"      - {{name: slow{i}, sql: 'SELECT 1 AS n FROM pg_sleep(5)', timeout: 400ms, "
        f"metrics: [{{name: slow{i}_n, column: n}}]}}\n"
        for i in range(4)
    )
    src = await source(db(pg.dsn(), "    queries:\n" + queries))
    stop, seen = threading.Event(), list[tuple[int, int]]()
    watcher = threading.Thread(target=_watch, args=(pg, stop, seen))
    watcher.start()
    try:
        t0 = time.perf_counter()
        s = await scrape(src, timeout=6)
        took = time.perf_counter() - t0
    finally:
        stop.set()
        watcher.join()
    for i in range(4):
        assert s.value("redline_pg_query_status", query=f"slow{i}", status="timeout") == 1
    # four 0.4 s timeouts two at a time, and the built-in areas, far from 4 x 5 s
    assert took < 3, took
    assert seen and max(c for c, _ in seen) <= 2 and max(a for _, a in seen) <= 2, seen
    assert all(s.value("pg_scrape_collector_success", collector=c) == 1 for c in BUILTIN)
    # cancelled on the server, not just abandoned by the client
    deadline = time.monotonic() + 2
    while sleeping(pg) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sleeping(pg) == 0


async def test_the_scrape_deadline_cuts_a_long_query(pg: Cluster, source: Any) -> None:
    extra = (
        "    collectors: [activity]\n    queries:\n"
        "      - {name: long, sql: 'SELECT 1 AS n FROM pg_sleep(10)', timeout: 30s, "
        "metrics: [{name: long_n, column: n}]}\n"
    )
    src = await source(db(pg.dsn(), extra))
    t0 = time.perf_counter()
    s = await scrape(src, timeout=1.0)
    assert time.perf_counter() - t0 < 1.3
    assert s.value("pg_up") == 1
    assert s.value("pg_scrape_collector_success", collector="activity") == 1
    assert s.value("pg_scrape_collector_success", collector="custom") == 0
    deadline = time.monotonic() + 2
    while sleeping(pg) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sleeping(pg) == 0


async def test_without_pg_stat_statements_only_that_area_fails(
    pg: Cluster, source: Any, caplog: pytest.LogCaptureFixture
) -> None:
    if pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'nostats'") == "0":
        pg.psql("CREATE DATABASE nostats")
    s = await scrape(await source(db(pg.dsn(db="nostats"))))
    assert s.value("pg_up") == 1
    assert s.value("pg_scrape_collector_success", collector="statements") == 0
    for name in BUILTIN:
        if name != "statements":
            assert s.value("pg_scrape_collector_success", collector=name) == 1, name
    assert "pg_stat_statements extension is not installed" in caplog.text


async def test_wrong_password(pg: Cluster, source: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-Passw0rd-xyz"
    src = await source(db(pg.dsn(password=wrong)))
    s = await scrape(src)
    assert s.value("pg_up") == 0 and reason(s) == "auth"
    assert f'password authentication failed for user "{MONITOR_USER}"' in caplog.text
    for text in (s.text, caplog.text):
        assert wrong not in text and MONITOR_PASSWORD not in text
    # logged once, not at every scrape
    await asyncio.sleep(0.6)  # past the first backoff
    s = await scrape(src)
    assert reason(s) == "auth"
    assert caplog.text.count("password authentication failed") == 1


async def test_password_from_a_file_overrides_the_dsn(
    pg: Cluster, source: Any, tmp_path: Any
) -> None:
    secret = tmp_path / "pw"
    secret.write_text(MONITOR_PASSWORD + "\n")
    dsn = pg.dsn(password="not-the-password")
    s = await scrape(await source(db(dsn, f"    password_file: {secret}\n")))
    assert s.value("pg_up") == 1


async def test_missing_secret(source: Any, caplog: pytest.LogCaptureFixture) -> None:
    s = await scrape(await source(db("${REDLINE_TEST_NO_SUCH_VARIABLE}")))
    assert s.value("pg_up") == 0 and reason(s) == "secret"
    assert "environment variable REDLINE_TEST_NO_SUCH_VARIABLE is not set" in caplog.text


def test_config_loads_without_a_database(pg: Cluster) -> None:
    # a config with databases is valid while every database is down: nothing connects at load
    config: Config = parse_config(db("postgresql://u@127.0.0.1:1/x"), "redline.yml")
    assert config.databases[0].name == "main"


async def test_no_time_left_is_a_timeout_not_a_crash(pg: Cluster, source: Any) -> None:
    src = await source(db(pg.dsn()))
    assert (await scrape(src)).value("pg_up") == 1
    s = await scrape(src, timeout=0.0)  # the deadline has passed before anything could run
    assert s.value("pg_up") == 0 and reason(s) == "timeout"
    assert all(s.value("pg_scrape_collector_success", collector=c) == 0 for c in BUILTIN)
    assert (await scrape(src)).value("pg_up") == 1  # and the next scrape is fine


async def test_a_table_locked_by_another_session_does_not_stall_the_scrape(
    pg: Cluster, source: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A migration holds ACCESS EXCLUSIVE on a user table: the tables area (pg_table_size needs
    a lock on each table) gives up at its lock_timeout with a reason that says so, the other
    areas answer, and the scrape stays fast instead of waiting the 5 s query timeout."""
    if pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'locked'") == "0":
        pg.psql("CREATE DATABASE locked")
        pg.psql("CREATE TABLE orders (id int); GRANT SELECT ON orders TO PUBLIC", db="locked")
    holder = threading.Thread(
        target=pg.psql,
        args=("BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(6); COMMIT",),
        kwargs={"db": "locked"},
    )
    holder.start()
    try:
        deadline = time.monotonic() + 5
        while (
            pg.psql(
                "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND granted "
                "AND relation = 'orders'::regclass",
                db="locked",
            )
            != "1"
        ):
            assert time.monotonic() < deadline, "the lock was never taken"
            await asyncio.sleep(0.05)
        src = await source(db(pg.dsn(db="locked")))  # timeout: the default 5 s
        with caplog.at_level(logging.WARNING):
            t0 = time.perf_counter()
            s = await scrape(src, timeout=10)
            took = time.perf_counter() - t0
    finally:
        holder.join()
    assert s.value("pg_up") == 1
    assert s.value("pg_scrape_collector_success", collector="tables") == 0
    for name in ("availability", "activity", "database"):
        assert s.value("pg_scrape_collector_success", collector=name) == 1, name
    assert took < 2.0, took  # before: the whole 5 s timeout
    assert "collector tables failed (lock)" in caplog.text, caplog.text
    assert "locked by another session" in caplog.text
