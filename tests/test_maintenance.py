"""Maintenance windows: the config's ``maintenance:`` section (refused with a clear error when
wrong), and the ``redline_maintenance_window`` series the MaintenanceWindow alert reads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from exporter.config import ConfigError, parse_config
from exporter.maintenance.source import MaintenanceSource
from exporter.secrets import Redactor

BASE = """
services:
  - name: chatwoot
    probes: [{name: health, kind: http, url: "http://127.0.0.1:1/"}]
  - name: agent-service
    probes: [{name: health, kind: http, url: "http://127.0.0.1:2/"}]
databases:
  - name: supabase
    dsn_file: /nonexistent/dsn
maintenance:
"""
UPGRADE = """  - name: upgrade
    services: [chatwoot]
    reason: Chatwoot 4 upgrade
    start: 2026-12-10 22:00
    end: 2026-12-10 23:30
    timezone: UTC
"""
WEEKLY = """  - name: patching
    services: [chatwoot, supabase]
    reason: host patching
    weekly: {days: [sunday], start: "23:00", end: "01:00"}
    timezone: America/Chicago
"""


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def windows(text: str):  # type: ignore[no-untyped-def]
    return parse_config(BASE + text, "redline.yml").maintenance


def test_a_one_off_and_a_weekly_window() -> None:
    upgrade, patching = windows(UPGRADE + WEEKLY)
    assert upgrade.describe() == "2026-12-10 22:00 to 2026-12-10 23:30 UTC"
    assert upgrade.current_or_next(ts(2026, 12, 7)) == (
        ts(2026, 12, 10, 22),
        ts(2026, 12, 10, 23, 30),
    )
    assert upgrade.current_or_next(ts(2026, 12, 11)) is None  # over
    assert patching.describe() == "every sunday, 23:00 to 01:00 America/Chicago"
    # Sunday 2026-12-06 23:00 CST is Monday 05:00 UTC; it runs past midnight, two hours
    assert patching.current_or_next(ts(2026, 12, 7)) == (ts(2026, 12, 7, 5), ts(2026, 12, 7, 7))
    # open at Monday 00:30 local: the occurrence that began on Sunday
    assert patching.current_or_next(ts(2026, 12, 14, 6, 30)) == (
        ts(2026, 12, 14, 5),
        ts(2026, 12, 14, 7),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (UPGRADE.replace("end: 2026-12-10 23:30", "end: 2026-12-10 21:00"), "before it starts"),
        (UPGRADE.replace("[chatwoot]", "[chatwot]"), "no service or database named 'chatwot'"),
        (UPGRADE.replace("    end: 2026-12-10 23:30\n", ""), "needs both start and end"),
        (
            UPGRADE.replace(
                "    timezone: UTC\n",
                "    weekly: {days: [monday], start: '01:00', end: '02:00'}\n",
            ),
            "not both",
        ),
        (WEEKLY.replace('start: "23:00"', "start: 23:00"), "quote the time of day"),
        (WEEKLY.replace("[sunday]", "[sundae]"), "maintenance[0].weekly.days[0]"),
        (WEEKLY.replace('end: "01:00"', 'end: "23:00"'), "empty"),
        (WEEKLY.replace("America/Chicago", "Mars/Olympus"), "timezone"),
        (UPGRADE + UPGRADE, "maintenance window"),
        # the one-off upgrade falls on the weekly window: both cover chatwoot at once
        (
            UPGRADE.replace("2026-12-10", "2026-12-14")
            .replace("22:00", "05:30")
            .replace("23:30", "06:00")
            + WEEKLY,
            "windows 'upgrade' and 'patching' both cover 'chatwoot' at 2026-12-14 05:30 UTC",
        ),
    ],
)
def test_a_wrong_window_is_refused_with_what_and_where(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(BASE + text, "redline.yml")
    assert message in str(raised.value)
    assert "redline.yml" in str(raised.value)


def test_windows_on_different_services_may_overlap() -> None:
    other = UPGRADE.replace("name: upgrade", "name: agent").replace("[chatwoot]", "[agent-service]")
    assert len(windows(UPGRADE + other)) == 2


async def _series(text: str, now: float) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    source = MaintenanceSource(parse_config(BASE + text, "t.yml"), Redactor(), clock=lambda: now)
    families = await source.collect(asyncio.get_running_loop().time() + 1)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


async def test_the_series_is_1_inside_a_window_for_each_service_and_database() -> None:
    inside = await _series(WEEKLY, ts(2026, 12, 14, 6))
    svc = (("database", ""), ("service", "chatwoot"), ("window", "patching"))
    db = (("database", "supabase"), ("service", "database"), ("window", "patching"))
    assert inside[("redline_maintenance_window", svc)] == 1.0
    assert inside[("redline_maintenance_window", db)] == 1.0
    start = ("redline_maintenance_window_start_timestamp_seconds", (("window", "patching"),))
    assert inside[start] == ts(2026, 12, 14, 5)
    outside = await _series(WEEKLY, ts(2026, 12, 14, 7))  # 01:00 local: closed (end exclusive)
    assert outside[("redline_maintenance_window", svc)] == 0.0
    assert outside[start] == ts(2026, 12, 21, 5)  # the next Sunday's


async def test_a_window_that_is_over_keeps_its_zero_and_loses_its_bounds() -> None:
    over = await _series(UPGRADE, ts(2026, 12, 11))
    labels = (("database", ""), ("service", "chatwoot"), ("window", "upgrade"))
    assert over == {("redline_maintenance_window", labels): 0.0}
