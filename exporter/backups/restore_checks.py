"""The checks a restore test runs on the restored scratch database: tables that must exist, row
counts against a reference, queries that must return rows, and the newest timestamp of a table
(whose age is the measured RPO).

Every check runs in a read-only transaction with a statement timeout, on a connection to the
scratch database only. A check that finds wrong data is ``failed``; one whose query cannot run
(a syntax error, a missing column) is ``error``, with the server's message: both fail the test,
with different reasons, so "the backup is bad" and "the check is wrong" read differently.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from exporter.backups.config import RestoreChecks
from exporter.backups.restore_state import CheckRecord

SIDECAR_SUFFIX = ".counts.json"  # FILE.counts.json: the row counts the backup job recorded
MAX_SIDECAR = 1024 * 1024


def qualified(table: str) -> str:
    """``schema.table`` for a configured name (``public`` when it names no schema)."""
    return table if "." in table else f"public.{table}"


def quote(table: str) -> str:
    """The quoted identifier of a configured (validated: plain identifiers) table name."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in qualified(table).split("."))


def read_sidecar(path: str) -> tuple[dict[str, int] | None, str]:
    """The counts of ``FILE.counts.json`` (``{"public.orders": 123, ...}``) and a note; None
    when there is none or it is unusable (the note says why)."""
    sidecar = path + SIDECAR_SUFFIX
    try:
        with open(sidecar, "rb") as f:
            data = f.read(MAX_SIDECAR + 1)
    except FileNotFoundError:
        return None, ""
    except OSError as e:
        return None, f"{sidecar} cannot be read: {e.strerror}"
    try:
        if len(data) > MAX_SIDECAR:
            raise ValueError("larger than 1 MiB")
        doc = json.loads(data)
        counts = doc.get("tables", doc) if isinstance(doc, dict) else None
        if not isinstance(counts, dict):
            raise ValueError("not an object of table: count")
        out = {}
        for k, v in counts.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{k}: {v!r} is not a row count")
            out[qualified(str(k))] = v
    except (ValueError, UnicodeDecodeError) as e:
        return None, f"{os.path.basename(sidecar)} is unusable ({e})"
    return out, ""


@dataclass
class CheckRun:
    records: list[CheckRecord] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    reference: str = ""
    newest_row_at: float | None = None

    def add(self, name: str, status: str, detail: str = "") -> None:
        self.records.append(CheckRecord(name, status, detail))

    @property
    def failed(self) -> list[CheckRecord]:
        return [c for c in self.records if c.status == "failed"]

    @property
    def errors(self) -> list[CheckRecord]:
        return [c for c in self.records if c.status == "error"]


def _message(error: BaseException) -> str:
    if isinstance(error, TimeoutError | asyncpg.QueryCanceledError):
        return "the query did not finish within checks.timeout"
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text


def _timestamp(value: Any) -> float | None:
    """A column value as Unix time: timestamptz; timestamp without a zone as UTC; a date as its
    midnight UTC. None for NULL; ValueError for anything else."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    raise ValueError(f"a {type(value).__name__}, not a timestamp")


async def _one(conn: Any, sql: str, timeout: float, *args: Any) -> list[Any]:
    """One statement in its own read-only transaction, cut at ``timeout`` on both sides."""
    async with conn.transaction(readonly=True):
        await conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
        rows: list[Any] = await conn.fetch(sql, *args, timeout=timeout + 1.0)
        return rows


async def run_checks(
    conn: Any,
    cfg: RestoreChecks,
    sidecar: dict[str, int] | None,
    previous: dict[str, int],
) -> CheckRun:
    """Run the configured checks on ``conn`` (the scratch database). ``sidecar``: the counts
    recorded with the dump; ``previous``: those of the last successful restore."""
    out = CheckRun()
    timeout = cfg.timeout
    if cfg.tables:
        missing = []
        for table in cfg.tables:
            rows = await _one(conn, "SELECT to_regclass($1) IS NOT NULL", timeout, quote(table))
            if not rows[0][0]:
                missing.append(qualified(table))
        if missing:
            out.add("tables", "failed", f"missing after the restore: {', '.join(missing)}")
        else:
            out.add("tables", "ok", f"{len(cfg.tables)} present")
    if cfg.row_counts is not None:
        reference, out.reference = (
            (sidecar, "the counts recorded with the dump")
            if sidecar is not None
            else (previous, "the previous successful restore")
            if previous
            else ({}, "")
        )
        tolerance = cfg.row_counts.tolerance
        for table in cfg.row_counts.tables:
            name = f"row_count:{qualified(table)}"
            try:
                rows = await _one(conn, f"SELECT count(*) FROM {quote(table)}", timeout)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
                out.add(name, "error", _message(e))
                continue
            n = int(rows[0][0])
            out.counts[qualified(table)] = n
            expected = reference.get(qualified(table))
            if expected is None:
                out.add(name, "skipped", f"{n} rows; no reference count yet (kept for next time)")
            elif abs(n - expected) <= tolerance * expected:
                out.add(name, "ok", f"{n} rows, expected {expected} ± {tolerance:.0%}")
            else:
                out.add(name, "failed", f"{n} rows, expected {expected} ± {tolerance:.0%}")
    for query in cfg.queries:
        name = f"query:{query.name}"
        try:
            rows = await _one(conn, query.sql, timeout)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
            out.add(name, "error", _message(e))
            continue
        if rows:
            out.add(name, "ok", f"{len(rows)} row(s)")
        else:
            out.add(name, "failed", "returned no row")
    if cfg.newest_row is not None:
        newest = cfg.newest_row
        name = f"newest_row:{qualified(newest.table)}.{newest.column}"
        column = '"' + newest.column.replace('"', '""') + '"'
        try:
            rows = await _one(conn, f"SELECT max({column}) FROM {quote(newest.table)}", timeout)
            at = _timestamp(rows[0][0])
        except (asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
            out.add(name, "error", _message(e))
        except ValueError as e:
            out.add(name, "error", f"{newest.column} holds {e}")
        else:
            if at is None:
                out.add(name, "failed", "the table is empty: no newest row")
            else:
                out.newest_row_at = at
                stamp = dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
                out.add(name, "ok", f"newest {stamp}")
    return out
