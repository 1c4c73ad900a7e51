"""The ``backups:`` section of redline.yml: backup sets made of files (a directory and a glob),
with their integrity checks, and Supabase's managed backups.

Two lists rather than one list with a ``kind``: each kind has its own required keys, and a
config error then names them plainly (``backups.files[0].directory``). Names are unique across
both lists, since every series carries the set's name as the ``backup`` label.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

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


class BackupsConfig(Model):
    files: tuple[FileBackup, ...] = ()
    supabase: tuple[SupabaseBackup, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> BackupsConfig:
        names = [b.name for b in self.files] + [b.name for b in self.supabase]
        unique_names(names, "backup")
        return self
