"""The ``databases:`` config, the DSN handling and the pieces of the Postgres source that need no
server: custom-result evaluation, the password scrub, the registry, the docs and shipped config.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from pathlib import Path
from typing import Any

import pytest

from exporter import metrics as m
from exporter.config import Config, ConfigError, load_config, parse_config
from exporter.postgres.base import Down
from exporter.postgres.config import OPTIONAL_COLLECTORS, CustomQuery
from exporter.postgres.custom import evaluate
from exporter.postgres.source import COLLECTORS, ConnectParams, connect_params, server_settings
from exporter.postgres.statements import scrub, top_sql
from exporter.secrets import Redactor, SecretSource

ROOT = Path(__file__).resolve().parents[1]


def config(text: str) -> Config:
    return parse_config(text, "redline.yml")


def issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        config(text)
    return [str(i) for i in e.value.issues]


def test_defaults() -> None:
    db = config("databases:\n  - name: main\n    dsn: ${DATABASE_URL}\n").databases[0]
    assert (db.pool.min_size, db.pool.max_size) == (1, 2)
    assert db.collectors == OPTIONAL_COLLECTORS
    assert (db.statements.top, db.statements.query_length, db.tables.top) == (20, 200, 20)
    assert db.timeout == 5.0 and not db.transaction_pooler
    assert db.dsn == "${DATABASE_URL}"  # kept as written: resolved only when connecting


def test_full_database_entry() -> None:
    db = config(
        """
databases:
  - name: supabase-pooler
    dsn_file: /run/secrets/pooler_url
    password: ${PGPASSWORD}
    transaction_pooler: true
    pool: {min_size: 0, max_size: 1}
    timeout: 2s
    collectors: [activity]
    queries:
      - name: errors
        sql: "SELECT level, count(*) AS n FROM logs GROUP BY level;"
        labels: [level]
        timeout: 8s
        min_interval: 1m
        metrics:
          - {name: log_rows, column: n, help: Rows per level}
          - {name: log_rows_total, column: n, type: counter}
"""
    ).databases[0]
    assert db.pool.max_size == 1 and db.collectors == ("activity",)
    query = db.queries[0]
    assert query.sql.endswith("GROUP BY level")  # the trailing semicolon is gone
    assert (query.timeout, query.min_interval) == (8.0, 60.0)
    assert db.server_timeout == 8.0  # the longest query sets the session's statement_timeout


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "  - {name: a, dsn: '${A}'}\n  - {name: a, dsn: '${B}'}\n",
            "redline.yml:2: databases: database name 'a' is used twice",
        ),
        (
            "  - {name: a, dsn: '${A}', dsn_file: /x}\n",
            "redline.yml:2: databases[0]: set exactly one of dsn and dsn_file",
        ),
        ("  - {name: a}\n", "redline.yml:2: databases[0]: set exactly one of dsn and dsn_file"),
        (
            "  - {name: a, dsn: 'mysql://u:hunter22@h/db'}\n",
            "redline.yml:2: databases[0].dsn: expected a postgresql:// URL or a ${VARIABLE} "
            "holding one",
        ),
        (
            "  - {name: a, dsn: '${A}', collectors: [activity, locks]}\n",
            "redline.yml:2: databases[0].collectors[1]: Input should be 'activity', 'database', "
            "'tables', 'replication' or 'statements'",
        ),
        (
            "  - name: a\n    dsn: ${A}\n    queries:\n      - name: q\n        sql: SELECT 1\n"
            "        metrics: [{name: things, column: n, type: counter}]\n",
            "redline.yml:7: databases[0].queries[0].metrics[0]: counter 'things' must end in "
            "_total",
        ),
        (
            "  - name: a\n    dsn: ${A}\n    queries:\n      - name: q\n        sql: SELECT 1\n"
            "        labels: [database]\n        metrics: [{name: n, column: n}]\n",
            "redline.yml:5: databases[0].queries[0]: label 'database' is reserved (every "
            "series carries it)",
        ),
        (
            "  - name: a\n    dsn: ${A}\n    queries:\n"
            "      - {name: q, sql: SELECT 1, metrics: [{name: n, column: n}]}\n"
            "      - {name: r, sql: SELECT 1, metrics: [{name: n, column: n}]}\n",
            "redline.yml:2: databases[0]: metric 'n' is defined by queries 'q' and 'r'",
        ),
        (
            "  - name: a\n    dsn: ${A}\n    queries:\n"
            "      - {name: q, sql: SELECT 1, metrics: [{name: n, column: n}]}\n"
            "  - name: b\n    dsn: ${B}\n    queries:\n"
            "      - {name: q, sql: SELECT 1, labels: [x], metrics: [{name: n, column: n}]}\n",
            "redline.yml:2: databases: custom metric 'n' has another type or other labels in "
            "database 'a' than in 'b'",
        ),
        (
            "  - {name: a, dsn: '${A}', pool: {min_size: 3, max_size: 2}}\n",
            "redline.yml:2: databases[0].pool: min_size 3 is more than max_size 2",
        ),
        (
            "  - name: a\n    dsn: ${A}\n    queries:\n      - name: q\n        sql: ';'\n"
            "        metrics: [{name: n, column: n}]\n",
            "redline.yml:6: databases[0].queries[0].sql: the query is empty",
        ),
    ],
)
def test_errors_name_file_line_and_path(body: str, expected: str) -> None:
    found = issues("databases:\n" + body)
    assert expected in found, found
    assert not any("hunter22" in i for i in found)  # a literal DSN's password is never echoed


def test_registry_matches_the_config() -> None:
    # the explicit registry and the names the config accepts must not drift apart
    assert list(COLLECTORS) == ["availability", *OPTIONAL_COLLECTORS, "custom"]


# --- the DSN ----------------------------------------------------------------------------------


def resolve(dsn: str, **env: str) -> tuple[ConnectParams, Redactor]:
    redactor = Redactor()
    db = config(f"databases:\n  - name: a\n    dsn: '{dsn}'\n").databases[0]
    return connect_params(db, SecretSource(redactor, env=env)), redactor


def test_prisma_url_means_transaction_mode_and_loses_its_parameters() -> None:
    url = (
        "postgresql://redline.abcd:p%40ss%2Fw0rd@aws-0-us-east-1.pooler.supabase.com:6543/"
        "postgres?pgbouncer=true&connection_limit=1&sslmode=require&schema=public"
    )
    params, redactor = resolve("${DATABASE_URL}", DATABASE_URL=url)
    assert params.transaction_pooler
    assert params.dsn.endswith("/postgres?sslmode=require")
    assert params.target == ("redline.abcd@aws-0-us-east-1.pooler.supabase.com:6543/postgres")
    # both spellings of the password are scrubbed from anything redline shows
    text = redactor.redact("p%40ss%2Fw0rd and p@ss/w0rd")
    assert "w0rd" not in text


def test_session_settings_only_when_direct() -> None:
    db = config("databases:\n  - {name: a, dsn: '${A}', timeout: 3s}\n").databases[0]
    assert server_settings(db, False) == {
        "application_name": "redline",
        "default_transaction_read_only": "on",
        "statement_timeout": "3000",
        "lock_timeout": "500",  # a quarter of the timeout, at most 0.5 s
    }
    # a transaction-mode pooler refuses (or would not keep) other startup parameters
    assert server_settings(db, True) == {"application_name": "redline"}


@pytest.mark.parametrize(
    ("dsn", "env", "reason", "shown"),
    [
        ("${NOT_SET_ANYWHERE}", {}, "secret", "environment variable NOT_SET_ANYWHERE is not set"),
        ("${U}", {"U": "mysql://root:sekr1t-pw@h/db"}, "dsn", "must start with postgresql://"),
    ],
)
def test_dsn_failures(dsn: str, env: dict[str, str], reason: str, shown: str) -> None:
    with pytest.raises(Down) as e:
        resolve(dsn, **env)
    assert e.value.reason == reason
    assert shown in e.value.message and "sekr1t" not in e.value.message


# --- custom results ---------------------------------------------------------------------------


class Row(dict[str, Any]):
    """Stands in for asyncpg's Record (keys() and [])."""


QUERY = CustomQuery.model_validate(
    {
        "name": "q",
        "sql": "SELECT 1",
        "labels": ["level"],
        "max_rows": 3,
        "metrics": [{"name": "n", "column": "n"}],
    }
)


def test_evaluate_values() -> None:
    rows = [
        Row(level="error", n=3),
        Row(level="info", n=decimal.Decimal("2.5")),
        Row(level=None, n=True),
    ]
    result = evaluate(QUERY, rows, 0.1, 0.0)
    assert result.status == "ok"
    assert [(s[1]["level"], s[2]) for s in result.samples] == [
        ("error", 3.0),
        ("info", 2.5),
        ("", 1.0),
    ]
    assert evaluate(QUERY, [Row(level="x", n=None)], 0, 0).samples == []  # NULL: no sample
    assert evaluate(QUERY, [], 0, 0).status == "ok"


@pytest.mark.parametrize(
    ("rows", "status", "message"),
    [
        ([Row(level="a", n="twelve")], "bad_result", "column n is str 'twelve', not a number"),
        (
            [Row(level="a", n=dt.timedelta(seconds=3))],
            "bad_result",
            "an interval (use extract(epoch FROM ...) for seconds)",
        ),
        ([Row(level="a", count=1)], "bad_result", "column(s) n not in the result"),
        ([Row(level="a", n=1), Row(level="a", n=2)], "bad_result", "two rows with the same"),
        ([Row(level=str(i), n=i) for i in range(5)], "too_many_rows", "5 rows, more than"),
    ],
)
def test_evaluate_bad_results(rows: list[Row], status: str, message: str) -> None:
    result = evaluate(QUERY, rows, 0, 0)
    assert result.status == status
    assert message in result.message
    # good rows are kept even when others are bad
    assert len(result.samples) <= QUERY.max_rows


def test_statement_text_scrub() -> None:
    assert scrub("ALTER ROLE x WITH PASSWORD 'a''b c'") == "ALTER ROLE x WITH PASSWORD '<redacted>'"
    assert scrub("create role y password 'cut short") == "create role y password '<redacted>'"
    assert scrub("SELECT password FROM t WHERE id = $1") == "SELECT password FROM t WHERE id = $1"


def test_statements_column_names_by_version() -> None:
    assert "sum(total_exec_time)" in top_sql(130000, "extensions")
    assert "sum(total_exec_time)" in top_sql(170002, "extensions")
    assert "sum(total_time)" in top_sql(120010, "public")
    assert '"extensions".pg_stat_statements(false)' in top_sql(150000, "extensions")


# --- docs and the shipped config --------------------------------------------------------------


def test_docs_list_every_postgres_metric() -> None:
    text = (ROOT / "docs" / "postgres.md").read_text()
    for metric in m.PG_METRICS:
        assert f"`{metric.name}`" in text, metric.name
    assert m.SQL_METRIC_PREFIX in text


def test_hotrod_config_has_supabase_pooler_and_direct() -> None:
    config_, _ = load_config(ROOT / "config" / "hotrod.yml")
    by_name = {db.name: db for db in config_.databases}
    assert set(by_name) >= {"supabase", "supabase-pooler"}
    for db in by_name.values():
        # secrets are referenced, never written
        assert db.dsn is not None and re.fullmatch(r"\$\{[A-Z_]+\}", db.dsn)
    assert by_name["supabase-pooler"].transaction_pooler
    assert not by_name["supabase"].transaction_pooler
    queries = {q.name for q in by_name["supabase"].queries}
    assert {"observability_logs", "decision_sync", "freshness"} <= queries
