"""The launch window: the ``launch:`` section, its bounds in its time zone, its Alertmanager form
(which must agree with alert_rules/routing.yml's ``launch-window``), and the
``redline_launch_window`` series."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import zoneinfo
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from exporter import rules
from exporter.app import initial_runtime, make_app
from exporter.config import ConfigError, load_config, parse_config
from exporter.launch.config import LaunchConfig, alertmanager_intervals
from exporter.launch.source import LaunchSource
from exporter.rules.spec import TimeInterval, load_routing
from exporter.secrets import Redactor
from tests.promtool import promtool_problems

ROOT = Path(__file__).resolve().parents[1]


def launch(text: str) -> LaunchConfig:
    return parse_config(text, "test.yml").launch


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


OCTOBER = "launch: {start: 2025-10-13, end: 2025-10-15}\n"  # the zone defaults to Chicago's


def test_no_launch_is_planned_unless_the_config_says_so() -> None:
    assert parse_config("", "empty.yml").launch is None
    assert alertmanager_intervals(None) == []
    # a window needs both ends: no date is built in
    with pytest.raises(ConfigError, match=r"launch\.end"):
        parse_config("launch: {start: 2026-12-01}\n", "t.yml")


def test_october_13_to_15_in_chicago() -> None:
    cfg = launch(OCTOBER)
    assert (cfg.start, cfg.end, cfg.timezone) == (
        date(2025, 10, 13),
        date(2025, 10, 15),
        "America/Chicago",
    )
    # CDT is UTC-5 in October; the end is inclusive: midnight after the 15th
    assert cfg.bounds() == (ts(2025, 10, 13, 5), ts(2025, 10, 16, 5))
    assert cfg.describe() == "2025-10-13 00:00 to 2025-10-15 24:00 America/Chicago"
    assert cfg.contains(ts(2025, 10, 13, 5)) and cfg.contains(ts(2025, 10, 16, 4, 59))
    assert not cfg.contains(ts(2025, 10, 13, 4, 59)) and not cfg.contains(ts(2025, 10, 16, 5))


def test_local_times_and_zones() -> None:
    cfg = launch(
        "launch: {start: '2026-03-28 08:00', end: 2026-03-30T20:30, timezone: Europe/Paris}"
    )
    # the clocks go forward on March 29: CET (UTC+1) before, CEST (UTC+2) after
    assert cfg.bounds() == (ts(2026, 3, 28, 7), ts(2026, 3, 30, 18, 30))
    assert cfg.describe() == "2026-03-28 08:00 to 2026-03-30 20:30 Europe/Paris"
    # a date given as YAML's own date type, and a one-day window
    one = launch("launch: {start: 2026-01-02, end: 2026-01-02, timezone: UTC}")
    assert one.bounds() == (ts(2026, 1, 2), ts(2026, 1, 3))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{start: 2025-10-15, end: 2025-10-13}", "the window ends (2025-10-13) before it starts"),
        ("{start: '2025-10-13 10:00', end: '2025-10-13 09:00'}", "before it starts"),
        ("{timezone: Mars/Olympus}", "unknown time zone 'Mars/Olympus'"),
        ("{start: '2025-10-13 08:00:30'}", "is not a date"),
        ("{start: 2025-10-13 08:00:30}", "to the minute"),
        ("{start: 2025-10-13T08:00:00Z}", "without a UTC offset"),
        ("{start: '2025-02-30'}", "day is out of range"),
        ("{start: tomorrow}", "is not a date (2025-10-13) or a local time"),
        ("{stat: 2025-10-13}", "unknown key 'stat'"),
    ],
)
def test_a_bad_window_is_refused_with_its_path(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"launch: {text}\n", "test.yml")
    issues = [str(i) for i in info.value.issues]
    assert any(i.startswith("test.yml:1: launch") and message in i for i in issues), issues


# --- the Alertmanager time interval --------------------------------------------------------------


def test_whole_days_are_one_interval() -> None:
    assert alertmanager_intervals(launch(OCTOBER)) == [
        {
            "years": ["2025"],
            "months": ["october"],
            "days_of_month": ["13:15"],
            "location": "America/Chicago",
        }
    ]


def test_partial_days_get_their_times() -> None:
    cfg = launch("launch: {start: '2026-05-04 08:00', end: '2026-05-06 20:30', timezone: UTC}")
    base = {"years": ["2026"], "months": ["may"], "location": "UTC"}
    assert alertmanager_intervals(cfg) == [
        {**base, "days_of_month": ["4"], "times": [{"start_time": "08:00", "end_time": "24:00"}]},
        {**base, "days_of_month": ["5"]},
        {**base, "days_of_month": ["6"], "times": [{"start_time": "00:00", "end_time": "20:30"}]},
    ]
    inside = launch("launch: {start: '2026-05-04 08:00', end: '2026-05-04 18:00', timezone: UTC}")
    assert alertmanager_intervals(inside) == [
        {**base, "days_of_month": ["4"], "times": [{"start_time": "08:00", "end_time": "18:00"}]}
    ]


def test_a_window_across_months_and_years() -> None:
    cfg = launch("launch: {start: 2026-12-30, end: 2027-01-02, timezone: UTC}")
    assert [(e["years"], e["months"], e["days_of_month"]) for e in alertmanager_intervals(cfg)] == [
        (["2026"], ["december"], ["30:31"]),
        (["2027"], ["january"], ["1:2"]),
    ]


def _routing_window() -> list[TimeInterval]:
    """The launch-window the routing spec is generated with (from config/hotrod.yml's launch)."""
    from exporter.rules import stackmodel

    return list(stackmodel.load(ROOT).routing.time_intervals["launch-window"])


def test_the_routing_spec_holds_no_launch_date() -> None:
    """The next launch is the operator's data: routing.yml names the interval, never its dates."""
    assert "launch-window" not in load_routing(ROOT / "alert_rules").time_intervals
    assert not re.search(r"years:|20\d\d", (ROOT / "alert_rules" / "routing.yml").read_text())


def test_the_routing_spec_and_the_shipped_configs_agree_on_the_window() -> None:
    """alert_rules/routing.yml's launch-window (warnings page on-call) is the window of
    config/hotrod.yml and of the embedded demo config: change them together."""
    routing = _routing_window()
    for path in (ROOT / "config" / "hotrod.yml", None):
        cfg = load_config(path)[0].launch
        assert [TimeInterval.model_validate(e) for e in alertmanager_intervals(cfg)] == routing


def test_the_generated_alertmanager_config_has_the_same_window() -> None:
    doc = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    generated = {t["name"]: t["time_intervals"] for t in doc["time_intervals"]}["launch-window"]
    cfg = load_config(ROOT / "config" / "hotrod.yml")[0].launch
    assert generated == alertmanager_intervals(cfg)


# --- the series ----------------------------------------------------------------------------------


async def _collect(source: LaunchSource) -> dict[str, float]:
    families = await source.collect(asyncio.get_running_loop().time() + 1)
    return {s.name: s.value for f in families for s in f.samples}


@pytest.mark.parametrize(
    ("now", "inside"),
    [
        (ts(2025, 10, 13, 4, 59, 59), 0.0),
        (ts(2025, 10, 13, 5), 1.0),
        (ts(2025, 10, 16, 4, 59, 59), 1.0),
        (ts(2025, 10, 16, 5), 0.0),
    ],
)
async def test_the_launch_window_series(now: float, inside: float) -> None:
    source = LaunchSource(parse_config(OCTOBER, "t.yml"), Redactor(), clock=lambda: now)
    assert await _collect(source) == {
        "redline_launch_window": inside,
        "redline_launch_window_start_timestamp_seconds": ts(2025, 10, 13, 5),
        "redline_launch_window_end_timestamp_seconds": ts(2025, 10, 16, 5),
    }


async def test_metrics_carry_the_window_and_follow_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "redline.yml"
    today = datetime.now(UTC).date()
    path.write_text(f"launch: {{start: {today}, end: {today}, timezone: UTC}}\n")
    client: TestClient[Any, Any] = TestClient(TestServer(make_app(initial_runtime(path))))
    await client.start_server()
    try:
        text = await (await client.get("/metrics")).text()
        assert "\nredline_launch_window 1.0\n" in text
        assert 'redline_source_up{source="launch"} 1.0' in text
        assert promtool_problems(text) == []
        path.write_text("launch: {start: 2030-01-01, end: 2030-01-02, timezone: UTC}\n")
        assert (await client.post("/-/reload")).status == 200
        text = await (await client.get("/metrics")).text()
        assert "\nredline_launch_window 0.0\n" in text
        values = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
        assert values["redline_launch_window_start_timestamp_seconds"] == ts(2030, 1, 1)
        assert values["redline_launch_window_end_timestamp_seconds"] == ts(2030, 1, 3)
    finally:
        await client.close()


async def test_no_launch_planned_is_never_inside_and_has_no_bounds() -> None:
    source = LaunchSource(parse_config("", "t.yml"), Redactor(), clock=lambda: ts(2026, 12, 7))
    assert await _collect(source) == {"redline_launch_window": 0.0}


def test_no_launch_planned_gives_an_interval_alertmanager_accepts(tmp_path: Path) -> None:
    """Without launch:, launch-window has no entry: Alertmanager accepts it and the routes
    that name it never apply."""
    for d in ("config", "alert_rules", "docs"):
        shutil.copytree(ROOT / d, tmp_path / d)
    operator = tmp_path / "config" / "hotrod.yml"
    text = operator.read_text()
    planned = re.search(r"^launch:\n(?:  .*\n)+", text, re.M)
    assert planned, "config/hotrod.yml plans a launch"
    about = re.search(r"^  - path: launch\.timezone\n(?:    .*\n)+", text, re.M)
    assert about, "config/hotrod.yml lists the launch zone as an assumption"
    operator.write_text(text.replace(planned.group(0), "").replace(about.group(0), ""))
    am_text = rules.build(tmp_path)["alertmanager/alertmanager.yml"]
    intervals = {t["name"]: t["time_intervals"] for t in yaml.safe_load(am_text)["time_intervals"]}
    assert intervals["launch-window"] == []
    (tmp_path / "alertmanager.yml").write_text(am_text)
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: run scripts/install-system.sh"
    checked = subprocess.run(
        [amtool, "check-config", str(tmp_path / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_drills_read_the_launch_interval_as_alertmanager_does() -> None:
    """The drills' reading of routing.yml's launch-window (to expect a warning to page inside
    it): its bounds are those of the config's window, to the minute."""
    from exporter.demo.drills import interval_active

    zone = zoneinfo.ZoneInfo("America/Chicago")
    inside = [datetime(2025, 10, 13, 0, 0), datetime(2025, 10, 15, 23, 59)]
    outside = [datetime(2025, 10, 12, 23, 59), datetime(2025, 10, 16, 0, 0)]
    for moment in inside:
        assert interval_active("launch-window", moment.replace(tzinfo=zone).timestamp())
    for moment in outside:
        assert not interval_active("launch-window", moment.replace(tzinfo=zone).timestamp())
