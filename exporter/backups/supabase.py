"""Supabase's managed backups, read through the Management API:
``GET {base_url}/v1/projects/{ref}/database/backups`` with ``Authorization: Bearer TOKEN``.

The answer (Supabase's OpenAPI ``V1BackupsResponse``)::

    {"region": "us-east-1", "walg_enabled": true, "pitr_enabled": false,
     "backups": [{"is_physical_backup": true, "status": "COMPLETED",
                  "inserted_at": "2025-10-14T03:01:12.345Z"}, ...],
     "physical_backup_data": {"earliest_physical_backup_date_unix": 1759...,
                              "latest_physical_backup_date_unix": 1760...}}

``physical_backup_data`` is ``{}`` or null without PITR. With PITR the newest restorable point
is ``latest_physical_backup_date_unix``; without it, the newest completed daily backup.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from exporter.backups.config import SupabaseBackup

# The statuses the API documents for a backup; anything else is exported as "unknown".
BACKUP_STATUSES: tuple[str, ...] = (
    "completed",
    "failed",
    "pending",
    "removed",
    "archived",
    "cancelled",
    "unknown",
)
# Why the last call failed: a closed set (label values).
REASONS: tuple[str, ...] = (
    "connect",  # no connection (DNS, refused, TLS)
    "timeout",  # no answer within `timeout`
    "auth",  # 401/403: the access token is wrong, expired or lacks the project
    "rate_limited",  # 429: waited as long as Retry-After asked
    "status",  # any other non-2xx answer
    "truncated",  # the connection closed before the whole answer arrived
    "json",  # not JSON, or not the documented shape
    "too_large",  # the answer exceeded max_body_bytes
    "secret",  # the access token's variable or file is not available
)


class FetchError(Exception):
    def __init__(self, reason: str, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Snapshot:
    """What one good answer said."""

    pitr_enabled: bool
    backups: int  # entries listed
    latest_status: str | None  # status of the most recent backup attempt, one of BACKUP_STATUSES
    newest_completed: float | None  # Unix time of the newest completed backup
    latest_restorable: float | None  # PITR: the newest point a restore can reach

    @property
    def newest(self) -> float | None:
        """The newest point the data can be restored to."""
        points = [p for p in (self.newest_completed, self.latest_restorable) if p is not None]
        return max(points) if points else None


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the API answers in UTC
    return parsed.timestamp()


def parse(doc: Any) -> Snapshot:
    """The snapshot of one answer; ValueError when the answer is not the documented shape."""
    if not isinstance(doc, dict):
        raise ValueError("the answer is not a JSON object")
    backups = doc.get("backups")
    if not isinstance(backups, list):
        raise ValueError("the answer has no 'backups' list")
    latest: tuple[float, str] | None = None
    newest_completed: float | None = None
    for item in backups:
        if not isinstance(item, dict):
            continue
        at = _timestamp(item.get("inserted_at"))
        if at is None:
            continue
        raw = item.get("status")
        status = raw.strip().lower() if isinstance(raw, str) else "unknown"
        if status not in BACKUP_STATUSES:
            status = "unknown"
        if latest is None or at > latest[0]:
            latest = (at, status)
        if status == "completed" and (newest_completed is None or at > newest_completed):
            newest_completed = at
    pitr = doc.get("pitr_enabled") is True
    restorable: float | None = None
    physical = doc.get("physical_backup_data")
    if pitr and isinstance(physical, dict):
        value = physical.get("latest_physical_backup_date_unix")
        if isinstance(value, bool) or not isinstance(value, int | float):
            value = None  # absent, or not a number: no restorable point known
        if value is not None and math.isfinite(value) and value > 0:
            restorable = float(value)
    return Snapshot(
        pitr_enabled=pitr,
        backups=len(backups),
        latest_status=latest[1] if latest else None,
        newest_completed=newest_completed,
        latest_restorable=restorable,
    )


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0  # the HTTP-date form: fall back to the configured interval


async def fetch(
    session: aiohttp.ClientSession, cfg: SupabaseBackup, project_ref: str, token: str
) -> Snapshot:
    """One call to the Management API; raises :class:`FetchError`."""
    # quoted: the ref comes from the environment and must stay one path segment
    url = f"{cfg.base_url}/v1/projects/{quote(project_ref, safe='')}/database/backups"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        async with session.get(
            url, headers=headers, timeout=aiohttp.ClientTimeout(total=cfg.timeout)
        ) as resp:
            if resp.status in (401, 403):
                raise FetchError("auth", f"HTTP {resp.status}: the access token was refused")
            if resp.status == 429:
                wait = _retry_after(resp.headers.get("Retry-After"))
                raise FetchError("rate_limited", "HTTP 429: rate limited", wait)
            if not 200 <= resp.status < 300:
                raise FetchError("status", f"HTTP {resp.status}")
            body = await resp.content.read(cfg.max_body_bytes + 1)
            expected = resp.content_length
            if expected is not None and len(body) < min(expected, cfg.max_body_bytes + 1):
                raise FetchError(
                    "truncated", f"the answer ends after {len(body)} of {expected} bytes"
                )
    except TimeoutError:
        raise FetchError("timeout", f"no answer within {cfg.timeout:g}s") from None
    except aiohttp.ClientError as e:
        raise FetchError("connect", f"{type(e).__name__}: {e}") from None
    if len(body) > cfg.max_body_bytes:
        raise FetchError("too_large", f"the answer exceeds {cfg.max_body_bytes} bytes")
    try:
        return parse(json.loads(body))
    except (ValueError, UnicodeDecodeError) as e:
        # json.JSONDecodeError is a ValueError; the message names the position, never the body
        raise FetchError("json", f"unexpected answer: {e}") from None
