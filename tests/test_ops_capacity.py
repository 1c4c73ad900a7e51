"""`redline capacity` against the real Prometheus holding ten days of known shapes
(tests/ops_history.py): each crossing date must be the one the shape implies."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.demo.servers import Prometheus
from exporter.ops import capacity
from exporter.ops.common import UsageError, iso
from exporter.ops.promapi import PromClient
from tests.ops_history import (
    CAP_END,
    CAP_START,
    DAY,
    DB_START,
    GIB,
    MEM_TOTAL,
    history_prom,  # noqa: F401 (fixture)
)

HORIZON = 90 * DAY
TOLERANCE = 3600.0  # a crossing date within an hour of the truth


def _compute(prom: Prometheus, window: float = 10 * DAY, end: float = CAP_END) -> capacity.Capacity:
    return capacity.compute(
        PromClient(prom.url),
        end - window,
        end,
        HORIZON,
        10.0,
        {"database-size": 8 * GIB, "requests": 50.0},
        Path(__file__).resolve().parent.parent / "alert_rules",
    )


def _resource(c: capacity.Capacity, kind: str, name: str) -> capacity.Resource:
    found = [r for r in c.resources if r.kind.key == kind and r.name == name]
    assert len(found) == 1, [(r.kind.key, r.name) for r in c.resources]
    return found[0]


def _at(days: float) -> float:
    return CAP_END + days * DAY


def _close(crossing: capacity.Crossing, days: float) -> None:
    assert crossing.status == "date", crossing
    assert crossing.when is not None
    assert abs(crossing.when - _at(days)) < TOLERANCE, (crossing.when - CAP_END) / DAY


def test_crossing_dates_match_the_known_shapes(
    history_prom: Prometheus,  # noqa: F811
) -> None:
    c = _compute(history_prom)
    assert c.unreachable is None

    disk = _resource(c, "disk", "h1 /data")
    assert disk.fit is not None and disk.limit == 100 * GIB
    assert disk.fit.slope * DAY == pytest.approx(GIB, rel=1e-3)
    assert disk.fit.at(0) == pytest.approx(60 * GIB, rel=1e-4)
    _close(disk.trend, 40)  # 60 GiB + 1 GiB/day reaches 100 GiB in 40 days
    _close(disk.warn, 20)  # HostDiskUsageHigh's 80% line
    # growth: 60 + t + 9 t^2 / (2 x 90) = 100  ->  t^2 + 20 t - 800 = 0  ->  t = 20
    _close(disk.growth, 20)
    assert disk.coverage < 0.97  # the 12-hour gap
    assert disk.longest_gap >= 11 * 3600
    assert not any(r.name == "h1 /run" for r in c.resources)  # tmpfs left out

    db = _resource(c, "database-size", "supabase postgres")
    assert db.fit is not None and db.fit.at(0) == pytest.approx(DB_START + 5 * GIB, rel=1e-4)
    _close(db.trend, 2)  # 7 GiB + 0.5 GiB/day reaches 8 GiB in 2 days
    _close(db.growth, -10 + math.sqrt(140))  # t^2 + 20 t - 40 = 0

    conn = _resource(c, "connections", "supabase")
    assert conn.limit == 97 and conn.current == pytest.approx(40)
    assert conn.trend.status == "never"  # flat
    _close(conn.growth, 14.25)  # 40 (1 + 0.1 t) = 97

    mem = _resource(c, "memory", "h1")
    assert mem.limit == MEM_TOTAL
    _close(mem.trend, 50)  # 6 GiB + 0.2 GiB/day reaches 16 GiB
    _close(mem.warn, 26)  # 70% = 11.2 GiB
    assert mem.growth == mem.trend  # memory is not scaled

    cpu = _resource(c, "cpu", "h1")
    assert cpu.limit == 4 and cpu.current == pytest.approx(1.0, rel=1e-6)
    assert cpu.resets == 4  # one restart, four CPU counters
    assert cpu.trend.status == "never"
    _close(cpu.growth, 30)  # 1 x (1 + 0.1 t) = 4

    group = _resource(c, "process-cpu", "h1 sidekiq")
    _close(group.growth, 70)  # 0.5 x (1 + 0.1 t) = 4

    req = _resource(c, "requests", "hotdash-app")
    assert req.resets == 1
    assert req.fit is not None and req.fit.slope * DAY == pytest.approx(1.0, rel=1e-3)
    _close(req.trend, 30)  # 20 + t = 50
    _close(req.growth, -15 + math.sqrt(525))  # (20 + t)(1 + 0.1 t) = 50

    # where the shop runs, against the platforms' own limits
    vol = _resource(c, "fly-volume", "hotdash-chatwoot vol_1")
    assert vol.limit == 10 * GIB and vol.current == pytest.approx(6 * GIB, rel=1e-3)
    _close(vol.trend, 40)  # 60% + 1%/day reaches 100% in 40 days
    _close(vol.warn, 20)  # FlyVolumeFull's 80% line
    data = _resource(c, "supabase-disk", "ref")
    assert data.limit == 8 * GIB
    _close(data.trend, 10)  # 5.5 GiB + 0.25 GiB/day reaches 8 GiB in 10 days
    _close(data.warn, 3.6)  # SupabaseDiskFull's 80%: 6.4 GiB
    supa = _resource(c, "supabase-connections", "ref")
    assert supa.limit == 60 and supa.current == pytest.approx(30)
    _close(supa.growth, 10)  # 30 (1 + 0.1 t) = 60
    machine = _resource(c, "fly-memory", "hotdash-chatwoot e784079b449483")
    assert machine.limit == GIB and machine.trend.status == "never"


def test_report_and_charts(history_prom: Prometheus, tmp_path: Path) -> None:  # noqa: F811
    code = main(
        [
            "capacity",
            "--prometheus",
            history_prom.url,
            "--at",
            iso(CAP_END),
            "--window",
            "10d",
            "--limit",
            "database-size=8GiB",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    report = (tmp_path / "capacity.md").read_text()
    assert "## At a glance" in report and "## Charts" in report
    assert "Disk space h1 /data" in report
    assert "(in 40.0 d)" in report  # the disk is full 40 days after the end
    assert "no limit known: give one with --limit requests=VALUE" in report
    charts = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert "capacity-disk-h1-data.png" in charts
    png = (tmp_path / "charts" / "capacity-disk-h1-data.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_short_window_and_empty_range_say_what_is_missing(
    history_prom: Prometheus,  # noqa: F811
) -> None:
    short = _compute(history_prom, window=2 * DAY)
    disk = _resource(short, "disk", "h1 /data")
    assert disk.fit is None and disk.trend.status == "na"
    assert "a trend needs at least 10 points over 9d" in disk.not_fitted
    assert any("not fitted" in g for g in short.gaps.items)
    assert "full at the trend" in capacity.to_markdown(short)

    empty = _compute(history_prom, end=CAP_START - 100 * DAY)
    assert empty.resources == []
    assert len(empty.missing_kinds) == len(capacity.KINDS)
    assert any("Disk space: no series in the window" in g for g in empty.gaps.items)


def test_unreachable_prometheus_writes_a_report_that_says_so(tmp_path: Path, capsys) -> None:
    code = main(["capacity", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot reach Prometheus at http://127.0.0.1:9" in err
    assert "Traceback" not in err
    assert "nothing was read" in (tmp_path / "capacity.md").read_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("database-size=8GiB", ("database-size", 8 * GIB)), ("requests=50", ("requests", 50.0))],
)
def test_parse_limit(text: str, expected: tuple[str, float]) -> None:
    assert capacity.parse_limit(text) == expected


@pytest.mark.parametrize("text", ["disk=1", "requests=-1", "database-size=lots", "requests"])
def test_parse_limit_refuses(text: str) -> None:
    with pytest.raises(UsageError):
        capacity.parse_limit(text)


def test_bad_flags_exit_2(capsys) -> None:
    assert main(["capacity", "--prometheus", "http://x", "--growth", "half"]) == 2
    assert "not a growth factor" in capsys.readouterr().err
    assert main(["capacity", "--prometheus", "ftp://x"]) == 2


def test_fit_line_is_least_squares() -> None:
    points = [(float(t), 2.0 * t + 1.0) for t in range(10)]
    fit = capacity.fit_line(points, 9.0)
    assert fit.slope == pytest.approx(2.0)
    assert fit.at(0) == pytest.approx(19.0)
    assert fit.r2 == pytest.approx(1.0)


def test_crossing_text_by_distance() -> None:
    """Hours for a crossing within a day, days beyond, and no date decades out (a nearly flat
    line over a short window would otherwise 'forecast' the year 2061)."""
    from exporter.ops.capacity import DAY, YEAR, Crossing

    now = 1_764_000_000.0  # 2025-11-24 16:00 UTC
    assert Crossing("date", now + 5400).text(now) == "2025-11-24 17:30:00 UTC (in 1h 30m)"
    assert Crossing("beyond", now + 40 * DAY).text(now) == (
        "2026-01-03 (in 40.0 d) beyond the horizon"
    )
    assert Crossing("beyond", now + 30 * YEAR).text(now) == "not within 10 years at this trend"
