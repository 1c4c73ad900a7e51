"""Maintenance windows: the config's ``maintenance:`` section (refused with a clear error when
wrong), and the ``redline_maintenance_window`` series the MaintenanceWindow alert reads."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.app import initial_runtime, make_app
from exporter.cli import main
from exporter.config import ConfigError, parse_config
from exporter.demo.servers import Alertmanager, free_port
from exporter.maintenance.source import MaintenanceSource
from exporter.secrets import Redactor
from tests.promtool import promtool_problems

ROOT = Path(__file__).resolve().parent.parent
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


# --- redline maintenance, against a real Alertmanager -------------------------------------------


@pytest.fixture
def am(tmp_path: Path) -> Iterator[Alertmanager]:
    with Alertmanager(
        tmp_path / "am", (ROOT / "alertmanager" / "alertmanager.yml").read_text()
    ) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "redline.yml"
    path.write_text(
        BASE.replace("    dsn_file: /nonexistent/dsn\n", "    dsn: postgresql://u@127.0.0.1:1/d\n")
        + WEEKLY
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = main(["maintenance", *args])
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_and_end_a_silence(
    am: Alertmanager, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ("--config.file", str(config_file), "--alertmanager.url", am.url)
    code, out, err = run(
        capsys, *common, "add", "--service", "chatwoot", "--for", "45m", "--reason", "restart"
    )
    assert code == 0, err
    silence_id = out.split()[1]
    (made,) = [s for s in am.get_json("/api/v2/silences") if s["id"] == silence_id]
    assert made["matchers"] == [
        {"name": "service", "value": "chatwoot", "isRegex": False, "isEqual": True}
    ]
    assert made["createdBy"] == "redline maintenance" and made["comment"] == "maintenance: restart"
    # a database is matched by its name
    code, out, err = run(
        capsys, *common, "add", "--service", "supabase", "--for", "10m", "--reason", "vacuum"
    )
    assert code == 0, err
    db_id = out.split()[1]
    (db,) = [s for s in am.get_json("/api/v2/silences") if s["id"] == db_id]
    assert db["matchers"][0]["name"] == "database"
    # a second silence of the same service at the same time is refused, nothing is added
    code, _, err = run(
        capsys, *common, "add", "--service", "chatwoot", "--for", "5m", "--reason", "again"
    )
    assert code == 1 and f"silence {silence_id} already covers chatwoot" in err
    assert "nothing was changed" in err
    assert len(am.get_json("/api/v2/silences")) == 2
    code, out, _ = run(capsys, *common, "list")
    assert code == 0
    assert "patching: chatwoot, supabase; every sunday, 23:00 to 01:00 America/Chicago" in out
    assert f"{silence_id}: service=chatwoot" in out and "maintenance: restart" in out
    code, out, err = run(capsys, *common, "end", silence_id)
    assert code == 0, err
    (ended,) = [s for s in am.get_json("/api/v2/silences") if s["id"] == silence_id]
    assert ended["status"]["state"] == "expired"
    # ending it twice, or a silence someone else made, is refused
    code, _, err = run(capsys, *common, "end", silence_id)
    assert code == 1 and "no active silence" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--service", "chatwot", "--for", "1h", "--reason", "x"),
            "no service or database of the config",
        ),
        (
            (
                "--service",
                "chatwoot",
                "--start",
                "2030-01-02T10:00Z",
                "--end",
                "2030-01-02T09:00Z",
                "--reason",
                "x",
            ),
            "before it starts",
        ),
        (
            (
                "--service",
                "chatwoot",
                "--start",
                "2019-12-31T23:00Z",
                "--end",
                "2020-01-01T00:00Z",
                "--reason",
                "x",
            ),
            "in the past",
        ),
        (
            ("--service", "chatwoot", "--start", "tomorrow", "--for", "1h", "--reason", "x"),
            "is not a time",
        ),
        (("--service", "chatwoot", "--for", "1h", "--reason", "  "), "--reason is empty"),
    ],
)
def test_a_bad_silence_is_refused_and_nothing_is_written(
    am: Alertmanager,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    code, _, err = run(
        capsys, "--config.file", str(config_file), "--alertmanager.url", am.url, "add", *args
    )
    assert code == 1 and message in err and "nothing was changed" in err
    assert "Traceback" not in err
    assert am.get_json("/api/v2/silences") == []


def test_an_alertmanager_that_is_down_is_named_and_nothing_is_made(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    common = ("--config.file", str(config_file), "--alertmanager.url", url)
    code, _, err = run(
        capsys, *common, "add", "--service", "chatwoot", "--for", "1h", "--reason", "x"
    )
    assert (
        code == 2 and f"cannot reach Alertmanager at {url}" in err and "nothing was changed" in err
    )
    # list still shows the planned windows, and says what it cannot tell
    code, out, _ = run(capsys, *common, "list")
    assert code == 0 and "patching:" in out and "cannot tell: cannot reach Alertmanager" in out


# --- the status page and /metrics ------------------------------------------------------------


async def test_the_status_page_and_metrics_show_an_open_window(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    path = tmp_path / "redline.yml"
    start, end = f"{now:%Y-%m-%d} 00:00", f"{now + timedelta(days=1):%Y-%m-%d} 00:00"
    coming = f"{now + timedelta(days=3):%Y-%m-%d}"
    path.write_text(
        BASE
        + UPGRADE.replace("2026-12-10 22:00", start)
        .replace("2026-12-10 23:30", end)
        .replace("Chatwoot 4 upgrade", "<b>upgrade</b>")
        + UPGRADE.replace("name: upgrade", "name: later")
        .replace("[chatwoot]", "[agent-service]")
        .replace("2026-12-10 22:00", coming)
        .replace("2026-12-10 23:30", coming)
    )
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(initial_runtime(path))))
    await client.start_server()
    try:
        text = await (await client.get("/metrics")).text()
        assert promtool_problems(text) == []
        assert (
            'redline_maintenance_window{database="",service="chatwoot",window="upgrade"} 1.0'
            in text
        )
        assert (
            'redline_maintenance_window{database="",service="agent-service",window="later"} 0.0'
            in text
        )
        snap = await (await client.get("/status.json")).json()
        assert [(w["name"], w["state"]) for w in snap["maintenance"]] == [
            ("upgrade", "open"),
            ("later", "next"),
        ]
        page = await (await client.get("/status")).text()
        assert 'data-maintenance="upgrade" data-state="open"' in page
        assert "&lt;b&gt;upgrade&lt;/b&gt;" in page and "<b>upgrade</b>" not in page
        assert 'data-maintenance="later" data-state="next"' in page and "starts in" in page
    finally:
        await client.close()
