"""The probes section of the bench (bench/blackbox.py, bench/report.py): the bare-client floor
of issue 19's rows, which a child process makes round by round (``Floor``), and the report's
rows and notes when a floor is missing. The bench's own figures are measured by ``make bench``,
never here: these tests check the harness, on a few loopback targets."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))  # after everything else: bench's module names shadow nothing

import blackbox  # noqa: E402
import report  # noqa: E402
from configs import target_urls  # noqa: E402
from procs import Children, HarnessError  # noqa: E402
from table import MISS  # noqa: E402


def saturated(floor_ms: float | None) -> report.Saturated:
    return report.Saturated(
        cpu_ms_per_probe=0.5,
        round_ms_per_probe=[0.5, 0.4, 0.9],  # median 0.5, mean 0.6,
        floor_ms=floor_ms,
        scrape_seconds=0.4,
        rss_mb=60.0,
        ok=10,
        reached=30,
        reasons=Counter(),
        other_cores=0.0,
        busiest=[],
    )


def paced(floor_ms: float | None) -> report.Paced:
    return report.Paced(
        exporter_ms_per_probe=0.6,
        prometheus_ms_per_probe=0.01,
        probes=40,
        expected=40,
        up=10.0,
        rss_peak_mb=60.0,
        slowest_scrape=0.4,
        other_cores=0.0,
        busiest=[],
        floor_ms=floor_ms,
    )


def results(floor_ms: float | None) -> report.Results:
    r = report.Results(targets=10, interval=5.0, window=20.0, rounds=3, concurrency=100)
    r.bare_ms_by_loop = {"asyncio": 0.321}
    r.redline_sat, r.blackbox_sat = saturated(floor_ms), saturated(None)
    r.redline_paced, r.blackbox_paced = paced(floor_ms), paced(None)
    return r


def floor_rows(section: report.Section) -> list[report.Row]:
    return [row for row in section.rows if "vs bare aiohttp GET" in row.name]


def test_report_without_a_floor_marks_its_rows_unmeasured_and_keeps_the_first_rounds() -> None:
    """A floor that was not taken (None) leaves its two rows without a figure and MISS (never
    PASS), and the note still gives the bare client's rounds at the start of the run, as
    docs/performance.md says it does."""
    section = report.section_of(results(None))
    rows = floor_rows(section)
    assert len(rows) == 2
    assert all((row.peer, row.ratio, row.result) == ("n/a", "n/a", MISS) for row in rows)
    assert any("asyncio 0.321 ms" in note for note in section.notes), section.notes


def test_report_with_floors_compares_medians_and_notes_both() -> None:
    section = report.section_of(results(0.5))
    saturated_row, paced_row = floor_rows(section)
    # saturated: the median of redline's rounds (0.5, not their mean) against the floor's
    assert (saturated_row.redline, saturated_row.peer, saturated_row.ratio) == (
        "0.500",
        "0.500",
        "1.000x",
    )
    assert (paced_row.redline, paced_row.ratio) == ("0.600", "1.200x")
    note = next(n for n in section.notes if "taken in the same minutes" in n)
    assert "saturated 0.500 ms against 0.500 ms" in note
    assert "paced 0.600 ms against 0.500 ms" in note
    assert any("asyncio 0.321 ms" in n for n in section.notes)


# --- the floor's child ---------------------------------------------------------------------


def start_floor(children: Children, tmp: Path) -> blackbox.Floor:
    _, ports = blackbox.start_targets(children, tmp, 1)
    return blackbox.Floor(children, tmp, target_urls(ports, 5), "asyncio")


def test_a_floor_that_died_is_named_with_its_log(tmp_path: Path) -> None:
    """A floor child gone midway (killed, crashed) gives the harness error naming it, not a
    bare BrokenPipeError from writing to its input, which the bench printed as all it knew."""
    with Children(tmp_path) as children:
        floor = start_floor(children, tmp_path)
        assert floor.round() > 0
        floor.child.popen.kill()
        floor.child.popen.wait(10)
        with pytest.raises(HarnessError, match="floor-asyncio exited with code -9"):
            floor.round()


def test_the_floor_is_stopped_when_the_bench_fails_midway(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="midway"), Children(tmp_path) as children:
        floor = start_floor(children, tmp_path)
        raise RuntimeError("the bench failed midway")
    assert floor.child.popen.poll() is not None


def test_stopping_a_child_closes_the_pipes_to_it(tmp_path: Path) -> None:
    """Children.stop closes the pipes of a child started with ``pipes=True``, also when a
    request is left in the buffer of one that died (its flush fails)."""
    with Children(tmp_path) as children:
        child = children.start("cat", ["cat"], pipes=True)
        stdin, stdout = child.popen.stdin, child.popen.stdout
        assert stdin is not None and stdout is not None
        child.popen.kill()
        child.popen.wait(10)
        stdin.write(b"left in the buffer\n")
        children.stop(child)
        assert stdin.closed and stdout.closed


class _Scripted:
    """A child whose CPU seconds grow only while time (since ``t0``) is in one of ``busy``."""

    def __init__(self, t0: float, busy: list[tuple[float, float]]) -> None:
        self.t0, self.busy = t0, busy

    def cpu_seconds(self) -> float:
        now = time.monotonic() - self.t0
        return sum(max(0.0, min(now, end) - start) for start, end in self.busy)


def test_a_paced_floor_round_starts_just_after_a_scrape_not_in_a_quiet_spell_before_one() -> None:
    """Quiet at first (the end of a pause), then a scrape (the exporter busy 0.3-0.6 s) and its
    ingestion (Prometheus busy 0.6-0.7 s): the round waits for both to end and 0.3 s more."""
    t0 = time.monotonic()
    exporter = _Scripted(t0, [(0.3, 0.6)])
    prometheus = _Scripted(t0, [(0.6, 0.7)])
    blackbox._between_scrapes(exporter, prometheus, interval=1.0)  # type: ignore[arg-type]
    waited = time.monotonic() - t0
    assert 0.7 + blackbox.QUIET_FOR <= waited < 0.7 + blackbox.QUIET_FOR + 0.3, waited


def test_a_paced_floor_round_is_not_held_forever_by_a_machine_that_never_settles() -> None:
    t0 = time.monotonic()
    never = _Scripted(t0, [])  # no scrape ever: the wait ends after two intervals
    blackbox._between_scrapes(never, never, interval=0.2)  # type: ignore[arg-type]
    assert 0.4 <= time.monotonic() - t0 < 1.0
