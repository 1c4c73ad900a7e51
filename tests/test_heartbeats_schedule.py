"""Heartbeat statuses over time, healthchecks.io's semantics, with the clock in the test's hands:
period and cron jobs (in a time zone, across a daylight-saving change), late and down at their
boundaries, runs that start and never finish, failures that stay down until a success."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from exporter.config import ConfigError, parse_config
from exporter.heartbeats.config import Heartbeat
from exporter.heartbeats.schedule import evaluate, next_due
from exporter.heartbeats.source import ping_kind
from exporter.heartbeats.state import JobState

HOUR = 3600.0
DAY = 86400.0
T0 = 1_760_000_000.0


def job(**kwargs: object) -> Heartbeat:
    return Heartbeat.model_validate({"name": "job", "token": "t", **kwargs})


def utc(text: str, zone: str = "UTC") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def status(j: Heartbeat, st: JobState, now: float) -> str:
    return evaluate(j, st, now).status


def test_period_job_goes_up_late_down() -> None:
    j = job(period="1d", grace="1h")
    st = JobState()
    assert status(j, st, T0) == "never"
    assert evaluate(j, st, T0).due is None
    st.apply("success", T0)
    assert status(j, st, T0) == "up"
    assert evaluate(j, st, T0).due == T0 + DAY
    assert status(j, st, T0 + DAY - 1) == "up"
    assert status(j, st, T0 + DAY) == "late"  # due now: late, within grace
    assert status(j, st, T0 + DAY + HOUR - 1) == "late"
    assert status(j, st, T0 + DAY + HOUR) == "down"  # the grace time is over
    st.apply("success", T0 + DAY + 2 * HOUR)  # it ran after all
    assert status(j, st, T0 + DAY + 2 * HOUR) == "up"
    assert (st.successes, st.failures) == (2, 0)


def test_a_started_run_must_finish_within_grace() -> None:
    j = job(period="1d", grace="30m")
    st = JobState()
    st.apply("success", T0)
    st.apply("start", T0 + DAY - 60)
    assert status(j, st, T0 + DAY - 30) == "started"
    # due time passes while running: still started (it is running), until grace after start
    assert status(j, st, T0 + DAY + 60) == "started"
    assert status(j, st, T0 + DAY - 60 + 1800 - 1) == "started"
    assert status(j, st, T0 + DAY - 60 + 1800) == "down"  # ran too long, or died silently
    st.apply("success", T0 + DAY + 1900)
    assert status(j, st, T0 + DAY + 1900) == "up"
    assert st.last_duration == pytest.approx(1960)
    assert st.last_start is None


def test_first_ever_start_shows_started_then_down() -> None:
    j = job(period="1d", grace="1h")
    st = JobState()
    st.apply("start", T0)
    assert status(j, st, T0) == "started"
    assert status(j, st, T0 + HOUR) == "down"


def test_failure_is_down_until_a_success() -> None:
    j = job(period="1h", grace="5m")
    st = JobState()
    st.apply("start", T0)
    st.apply("failure", T0 + 42)
    assert st.last_duration == 42
    assert status(j, st, T0 + 42) == "down"
    st.apply("start", T0 + 100)  # a retry begins: still down (healthchecks.io keeps it down)
    assert status(j, st, T0 + 100) == "down"
    st.apply("success", T0 + 160)
    assert status(j, st, T0 + 160) == "up"
    assert (st.successes, st.failures, st.last_duration) == (1, 1, 60)
    assert (st.last_success, st.last_failure) == (T0 + 160, T0 + 42)


def test_cron_job_in_utc() -> None:
    """Metric rollups at 02:00 UTC: a ping at 02:03 is due again at 02:00 the next day."""
    j = job(schedule="0 2 * * *", grace="30m")
    st = JobState()
    st.apply("success", utc("2025-10-13T02:03:00"))
    assert evaluate(j, st, utc("2025-10-13T12:00:00")).due == utc("2025-10-14T02:00:00")
    assert status(j, st, utc("2025-10-14T01:59:59")) == "up"
    assert status(j, st, utc("2025-10-14T02:00:00")) == "late"
    assert status(j, st, utc("2025-10-14T02:29:59")) == "late"
    assert status(j, st, utc("2025-10-14T02:30:00")) == "down"


def test_cron_job_in_a_time_zone_across_dst() -> None:
    """03:00 in New York is 07:00 UTC in summer and 08:00 UTC after the clocks go back on
    2025-11-02: the due time follows local time, as cron on that host would."""
    j = job(schedule="0 3 * * *", timezone="America/New_York", grace="1h")
    st = JobState()
    st.apply("success", utc("2025-11-01T03:05:00", "America/New_York"))
    assert evaluate(j, st, 0).due == utc("2025-11-02T08:00:00")
    st.apply("success", utc("2025-11-02T03:01:00", "America/New_York"))
    assert evaluate(j, st, 0).due == utc("2025-11-03T08:00:00")


def test_weekday_cron() -> None:
    j = job(schedule="30 4 * * 1-5", grace="1h")  # weekdays only
    friday = utc("2025-10-17T04:31:00")
    assert next_due(j, friday) == utc("2025-10-20T04:30:00")  # Monday


def test_ping_kinds_from_the_url() -> None:
    assert [
        ping_kind(a) for a in ("", "start", "fail", "0", "1", "255", "256", "-1", "x", "00")
    ] == [
        "success",
        "start",
        "failure",
        "success",
        "failure",
        "failure",
        None,
        None,
        None,
        "success",
    ]


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ("[{name: a}]", "set period (e.g. 1d) or schedule (a cron expression), exactly one"),
        ("[{name: a, period: 1d, schedule: '0 2 * * *'}]", "exactly one"),
        ("[{name: a, schedule: '0 25 * * *'}]", "bad cron expression '0 25 * * *'"),
        ("[{name: a, schedule: '0 2 * * *', timezone: Mars/Olympus}]", "unknown time zone"),
        ("[{name: a, period: 1d, timezone: UTC}]", "timezone goes with schedule"),
        ("[{name: a, period: 0s}]", "greater than 0"),
        ("[{name: a, period: 1d}, {name: a, period: 2d}]", "heartbeat name 'a' is used twice"),
        ("[{name: 'A b', period: 1d}]", "a name is lowercase letters"),
        ("[{name: a, period: 1d, token: x, token_file: /y}]", "set token or token_file, not both"),
    ],
)
def test_config_errors(jobs: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(f"heartbeats:\n  token: t\n  jobs: {jobs}\n", "redline.yml")
    assert message in str(raised.value)


def test_every_job_needs_a_token() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(
            "heartbeats:\n  jobs: [{name: a, period: 1d}, {name: b, period: 1d, token: x}]\n", "r"
        )
    assert "heartbeat(s) a have no token" in str(raised.value)
