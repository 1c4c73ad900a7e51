"""The ``backups:`` section of redline.yml: backup sets made of files (a directory and a glob),
with their integrity checks, and Supabase's managed backups.

Two lists rather than one list with a ``kind``: each kind has its own required keys, and a
config error then names them plainly (``backups.files[0].directory``). Names are unique across
both lists, since every series carries the set's name as the ``backup`` label.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from exporter.configtypes import Duration, Model, Name, SecretFile, Size, Template, unique_names

# The integrity checks, a closed set (they are label values):
# gzip            the whole gzip stream decompresses, CRC and length trailers match (gzip -t)
# pg_restore      `pg_restore --list` reads the custom-format archive's header and table of
#                 contents (fast: the TOC sits at the start of the file)
# pg_restore_full `pg_restore --file=/dev/null` reads and decompresses every data block too,
#                 so a dump cut short after its TOC is caught (reads the whole file)
# sha256          the file's SHA-256 matches its sidecar FILE.sha256 (sha256sum's format)
# sql_complete    a plain-format dump (gzipped or not) ends with pg_dump's "dump complete"
#                 line: `pg_dump | gzip` without `set -o pipefail` leaves a valid gzip of a
#                 partial dump when pg_dump dies, which only this check notices
CheckKind = Literal["gzip", "pg_restore", "pg_restore_full", "sha256", "sql_complete"]
CHECK_KINDS: tuple[CheckKind, ...] = (
    "gzip",
    "pg_restore",
    "pg_restore_full",
    "sha256",
    "sql_complete",
)


class VerifyConfig(Model):
    """Integrity checks of the newest file, run in the background, never in a scrape."""

    checks: tuple[CheckKind, ...] = Field(min_length=1)
    # How often to look for a new newest file. Each version of a file (path, size, mtime) is
    # verified once; a check that could not run (tool missing, I/O error, timeout) or found no
    # sidecar yet is tried again at the next round.
    interval: Duration = Field(default=300.0, gt=0)
    # A file modified less than this long ago may still be being written: it is verified at a
    # later round, so a dump in progress is never reported corrupt.
    settle: Duration = 60.0
    # The limit of one check of one file; a large dump on a slow disk needs minutes.
    timeout: Duration = Field(default=1800.0, gt=0)
    # pg_restore to use; by default the one on PATH, else the newest of Debian's
    # /usr/lib/postgresql/*/bin (a newer pg_restore reads every older archive version).
    pg_restore_path: str | None = None

    @field_validator("checks")
    @classmethod
    def _unique(cls, checks: tuple[CheckKind, ...]) -> tuple[CheckKind, ...]:
        unique_names(list(checks), "check")
        return checks


class FileBackup(Model):
    name: Name
    directory: str = Field(min_length=1)
    # A shell-style pattern matched against the names of the directory's entries (not
    # recursive), e.g. "agent-tables-*.dump".
    glob: str = Field(min_length=1)
    # Names never counted as backups: checksum sidecars, files still being written under a
    # temporary name, hidden files.
    exclude: tuple[str, ...] = ("*.sha256", "*.tmp", "*.part", "*.partial", ".*")
    # The RPO: a newest file older than this makes the set "stale".
    max_age: Duration = Field(gt=0)
    # A newest file smaller than this makes the set "too_small"; the default (1 byte) catches
    # the empty dump a failed job leaves behind.
    min_size: Size = 1
    # Listing the directory runs in a thread; on a hung network mount it is abandoned after
    # this long and the set reported unreadable, so the scrape still answers in time.
    scan_timeout: Duration = Field(default=2.0, gt=0)
    verify: VerifyConfig | None = None

    @field_validator("glob", "exclude")
    @classmethod
    def _pattern(cls, value: str | tuple[str, ...]) -> str | tuple[str, ...]:
        for pattern in (value,) if isinstance(value, str) else value:
            if "/" in pattern:
                raise ValueError(
                    f"{pattern!r}: a pattern matches names inside `directory`; put the path "
                    "in `directory`"
                )
        return value


class SupabaseBackup(Model):
    """Supabase's managed backups of one project, read through the Management API
    (``GET /v1/projects/{ref}/database/backups``) in the background."""

    name: Name
    project_ref: Template  # the project's reference id (the subdomain of its URL)
    # A personal access token or an OAuth token of the Management API.
    access_token: Template | None = None
    access_token_file: SecretFile | None = None
    base_url: str = "https://api.supabase.com"
    # The RPO: daily backups need about a day plus the backup's own run time; with PITR the
    # newest restorable point is minutes old.
    max_age: Duration = Field(gt=0)
    # The Management API allows 120 requests a minute per user; one call per set every few
    # minutes leaves that to people and tools. The newest backup's age is computed at every
    # scrape from the cached answer, so it stays exact between calls.
    interval: Duration = Field(default=300.0, ge=10)
    timeout: Duration = Field(default=30.0, gt=0)
    max_body_bytes: Size = 4 * 1024 * 1024

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_token(self) -> SupabaseBackup:
        if (self.access_token is None) == (self.access_token_file is None):
            raise ValueError("set access_token or access_token_file (exactly one)")
        return self


# --- restore tests (exporter/backups/restore.py) ------------------------------------------------

# schema.table or table: plain identifiers only, so a check never needs quoting rules of its own
TABLE_RE = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$"
Table = Annotated[str, Field(pattern=TABLE_RE)]
# Every scratch database is named with this prefix (and the set and the time): redline creates
# and drops only databases with such a name, and only the one it created in the run.
SCRATCH_PREFIX = "redline_restore_"


def _fraction(value: Any) -> float:
    """'10%' or 0.1."""
    if isinstance(value, bool):
        raise ValueError("a fraction such as 0.1 or 10%")
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            value = float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage such as 10%") from None
    if not isinstance(value, int | float) or not 0 <= value <= 10:
        raise ValueError(f"{value!r} is not a fraction between 0 and 10 (or 0% to 1000%)")
    return float(value)


Fraction = Annotated[float, BeforeValidator(_fraction)]


class ScratchServer(Model):
    """Where the scratch database is created: a server (or at least a database) that is not
    the source, reached as a role that may CREATE DATABASE and nothing more (docs/backups.md)."""

    # postgresql://restore_tester@restore-host:5432/postgres: the database in the URL is the
    # one connected to for CREATE/DROP DATABASE; the restore goes into a new database.
    dsn: Template | None = None
    dsn_file: SecretFile | None = None
    password: Template | None = None
    password_file: SecretFile | None = None
    connect_timeout: Duration = Field(default=10.0, gt=0)
    # CREATE DATABASE ... TABLESPACE: put scratch databases on a volume of their own, so a
    # restore that fills it cannot fill the server's main disk.
    tablespace: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None

    @field_validator("dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^(postgres(ql)?://|\$\{)", value):
            raise ValueError("expected a postgresql:// URL or a ${VARIABLE} holding one")
        return value

    @model_validator(mode="after")
    def _one_dsn(self) -> ScratchServer:
        if (self.dsn is None) == (self.dsn_file is None):
            raise ValueError("set exactly one of dsn and dsn_file")
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        return self


class RowCounts(Model):
    tables: tuple[Table, ...] = Field(min_length=1)
    # How far a restored count may be from its reference: the counts the backup job recorded
    # next to the dump (FILE.counts.json), else those of the previous successful restore.
    tolerance: Fraction = 0.1


class QueryCheck(Model):
    name: Name
    sql: str = Field(min_length=1)  # must return at least one row

    @field_validator("sql")
    @classmethod
    def _sql(cls, value: str) -> str:
        text = value.strip().rstrip(";").strip()
        if not text:
            raise ValueError("the query is empty")
        return text


class NewestRow(Model):
    """The newest timestamp in a table: its age at the test is the measured RPO."""

    table: Table
    column: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_$]*$")]


class RestoreChecks(Model):
    tables: tuple[Table, ...] = ()  # must exist after the restore
    row_counts: RowCounts | None = None
    queries: tuple[QueryCheck, ...] = ()
    newest_row: NewestRow | None = None
    # The database the dump must come from (a custom-format dump names it in its header): a
    # dump of another database fails here, before anything is restored.
    database: str | None = None
    timeout: Duration = Field(default=60.0, gt=0)  # of each check query

    @field_validator("queries")
    @classmethod
    def _unique(cls, queries: tuple[QueryCheck, ...]) -> tuple[QueryCheck, ...]:
        unique_names([q.name for q in queries], "query")
        return queries


class RestoreTest(Model):
    # The backup set whose newest file is restored (a `files` set): the `backup` label.
    backup: Name
    # How often the exporter runs the test in the background (never in a scrape). The first
    # run comes one `delay` after start-up, then every `interval` from the previous start.
    interval: Duration = Field(default=86400.0, ge=10)
    delay: Duration = 60.0
    # The whole run's limit (restore and checks): past it pg_restore/psql is killed, the
    # scratch database dropped, and the test failed with reason timeout.
    timeout: Duration = Field(default=3600.0, gt=0)
    server: ScratchServer
    # The databases entry the dump is taken from (its `name` in `databases:`): the scratch
    # target is refused when it is that database. Never connected to.
    source: Name | None = None
    # Bounds: the address space of pg_restore/psql, and the server memory of the restore
    # session (index builds use maintenance_work_mem).
    max_memory: Size = 1024**3
    maintenance_work_mem: Size = 64 * 1024**2
    # The business targets this test measures against (exported for the alerts): a restore
    # (inspect + create + restore) longer than rto_budget, or a newest restored row older than
    # rpo_budget when the test ran, does not meet them.
    rto_budget: Duration = Field(default=1800.0, gt=0)
    rpo_budget: Duration = Field(default=3600.0, gt=0)
    checks: RestoreChecks = RestoreChecks()


class RestoreConfig(Model):
    # Where each test's last outcome is kept, so it survives restarts (and `redline
    # restore-test` runs show on /metrics and the status page).
    state_file: str | None = None
    # A Markdown report per run; the newest `keep_reports` per set are kept.
    report_dir: str | None = None
    keep_reports: Annotated[int, Field(ge=1, le=10000)] = 30
    tests: tuple[RestoreTest, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> RestoreConfig:
        unique_names([t.backup for t in self.tests], "restore test")
        if self.tests and self.state_file is None:
            raise ValueError("restore tests need a state_file (their outcome survives restarts)")
        return self


class BackupsConfig(Model):
    files: tuple[FileBackup, ...] = ()
    supabase: tuple[SupabaseBackup, ...] = ()
    restore: RestoreConfig = RestoreConfig()

    @model_validator(mode="after")
    def _unique(self) -> BackupsConfig:
        names = [b.name for b in self.files] + [b.name for b in self.supabase]
        unique_names(names, "backup")
        files = {b.name for b in self.files}
        for test in self.restore.tests:
            if test.backup not in files:
                known = ", ".join(sorted(files)) or "none"
                raise ValueError(
                    f"restore test of {test.backup!r}: no files backup set of that name "
                    f"(files sets: {known})"
                )
        return self
