"""The ``databases:`` section of the config: typed, frozen models validated at load.

A database is reached through a DSN that stays as written (``${DATABASE_URL}`` or ``dsn_file``)
until the source connects, so the password never sits in a model, an error or a log line.
docs/postgres.md is the reference for these keys; keep the two in step.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, field_validator, model_validator

from exporter.configtypes import (
    METRIC_NAME_RE,
    Duration,
    Model,
    Name,
    SecretFile,
    Template,
    unique_names,
)
from exporter.sloconfig import DatabaseSLO

# The sub-collectors a database can turn on or off ("availability" always runs: it is pg_up).
# The registry in exporter/postgres/source.py must have exactly these keys (a test checks).
CollectorName = Literal["activity", "database", "tables", "replication", "statements"]
OPTIONAL_COLLECTORS: tuple[str, ...] = get_args(CollectorName)

LABEL_RE = r"^[a-z_][a-z0-9_]*$"
# Custom metrics carry ``database`` (the configured name) on every series.
RESERVED_LABELS = frozenset({"database"})


class CustomMetric(Model):
    """One value column of a custom query, exposed as ``redline_sql_<name>``."""

    name: Annotated[str, Field(pattern=METRIC_NAME_RE)]
    column: str  # the result column holding the value (a number, a bool, or NULL: skipped)
    type: Literal["gauge", "counter"] = "gauge"
    help: str = ""

    @model_validator(mode="after")
    def _suffix(self) -> CustomMetric:
        # Prometheus naming: counters, and only counters, end in _total (promtool checks it).
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name!r} must end in _total")
        if self.type == "gauge" and self.name.endswith("_total"):
            raise ValueError(f"gauge {self.name!r} must not end in _total (a counter does)")
        return self


class CustomQuery(Model):
    """sql_exporter-style custom metrics: one SQL query, its label and value columns."""

    name: Name  # the ``query`` label of redline_pg_query_* series
    sql: str
    labels: tuple[Annotated[str, Field(pattern=LABEL_RE)], ...] = ()  # label columns
    metrics: tuple[CustomMetric, ...] = Field(min_length=1)
    timeout: Duration = 5.0
    # Run at most this often; scrapes in between serve the last result (and its age), so an
    # expensive query over a big table does not run at every scrape.
    min_interval: Duration = 0.0
    # Rows beyond this are dropped and the status is too_many_rows: the label values come from
    # the data, so this bounds the cardinality (group or bucket in SQL to stay under it).
    max_rows: Annotated[int, Field(ge=1, le=10000)] = 100

    @field_validator("sql")
    @classmethod
    def _sql(cls, value: str) -> str:
        # A trailing semicolon is harmless in psql but not in a prepared statement.
        text = value.strip().rstrip(";").strip()
        if not text:
            raise ValueError("the query is empty")
        return text

    @model_validator(mode="after")
    def _check(self) -> CustomQuery:
        unique_names(list(self.labels), "label column")
        unique_names([m.name for m in self.metrics], "metric")
        for label in self.labels:
            if label in RESERVED_LABELS:
                raise ValueError(f"label {label!r} is reserved (every series carries it)")
        if self.timeout <= 0:
            raise ValueError("timeout must be more than 0")
        return self


class PoolSettings(Model):
    # One connection stays open (the canary needs no connect); a second lets the sub-collectors
    # run two at a time. Never more: a slow database is not piled on.
    min_size: Annotated[int, Field(ge=0, le=10)] = 1
    max_size: Annotated[int, Field(ge=1, le=10)] = 2

    @model_validator(mode="after")
    def _order(self) -> PoolSettings:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size {self.min_size} is more than max_size {self.max_size}")
        return self


class TablesSettings(Model):
    top: Annotated[int, Field(ge=1, le=1000)] = 20  # the N largest tables of the database


class StatementsSettings(Model):
    top: Annotated[int, Field(ge=1, le=1000)] = 20  # the N statements with most total time
    query_length: Annotated[int, Field(ge=16, le=10000)] = 200  # characters of query text kept


class Database(Model):
    name: Name  # the ``database`` label of every series
    # postgresql://user:password@host:port/dbname?sslmode=require, usually ${SOME_URL}.
    # Prisma's parameters (pgbouncer=true, connection_limit, ...) are understood or dropped.
    dsn: Template | None = None
    dsn_file: SecretFile | None = None
    # Overrides the DSN's password (handy when the URL is shared and the password is a file).
    password: Template | None = None
    password_file: SecretFile | None = None
    # True when the DSN points at a pooler in transaction mode (pgbouncer, Supabase's port
    # 6543): settings are then made per transaction (BEGIN READ ONLY; SET LOCAL ...) instead of
    # once per connection, which such a pooler would not keep or would refuse.
    transaction_pooler: bool = False
    pool: PoolSettings = PoolSettings()
    connect_timeout: Duration = 5.0
    timeout: Duration = 5.0  # each built-in sub-collector's query (the scrape deadline also cuts)
    collectors: tuple[CollectorName, ...] = OPTIONAL_COLLECTORS  # type: ignore[assignment]
    tables: TablesSettings = TablesSettings()
    statements: StatementsSettings = StatementsSettings()
    queries: tuple[CustomQuery, ...] = ()
    # The availability SLOs of this database (exporter/sloconfig.py): database-<name>.
    slos: tuple[DatabaseSLO, ...] = ()

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(postgres(ql)?://|\$\{)", value):
            # Never echo the value: it may hold a password.
            raise ValueError("expected a postgresql:// URL or a ${VARIABLE} holding one")
        return value

    @model_validator(mode="after")
    def _check(self) -> Database:
        if (self.dsn is None) == (self.dsn_file is None):
            raise ValueError("set exactly one of dsn and dsn_file")
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeout and connect_timeout must be more than 0")
        unique_names(list(self.collectors), "collector")
        unique_names([q.name for q in self.queries], "query")
        seen: dict[str, str] = {}
        for query in self.queries:
            for metric in query.metrics:
                if metric.name in seen:
                    raise ValueError(
                        f"metric {metric.name!r} is defined by queries {seen[metric.name]!r} "
                        f"and {query.name!r}"
                    )
                seen[metric.name] = query.name
        return self

    @property
    def server_timeout(self) -> float:
        """The server-side statement_timeout of a session: the longest query this database may
        run. Each query is also cut on the client side at its own timeout."""
        return max([self.timeout, *(q.timeout for q in self.queries)])


def _check_databases(databases: tuple[Database, ...]) -> tuple[Database, ...]:
    unique_names([d.name for d in databases], "database")
    # One metric family per name in the exposition: the same custom metric in two databases
    # must agree on its type and labels.
    shapes: dict[str, tuple[str, tuple[str, ...], str]] = {}
    for db in databases:
        for query in db.queries:
            for metric in query.metrics:
                shape = (metric.type, tuple(sorted(query.labels)), db.name)
                known = shapes.setdefault(metric.name, shape)
                if known[:2] != shape[:2]:
                    raise ValueError(
                        f"custom metric {metric.name!r} has another type or other labels in "
                        f"database {known[2]!r} than in {db.name!r}"
                    )
    return databases


Databases = Annotated[tuple[Database, ...], AfterValidator(_check_databases)]
