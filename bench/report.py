"""What the blackbox_exporter comparison measured (bench/blackbox.py), and its rows of the table:
one row per measurement, with the ratio redline / blackbox_exporter and the issue's target.

A side whose probes did not succeed is marked INVALID rather than PASS: an exporter that fails
every probe at once is cheap, and its numbers say nothing about probing.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from table import INVALID, Row, Section, judge, num, ratio, within

# Measured on this machine beforehand (the issue); shown next to this run's numbers so that a
# reader sees whether the machine behaves as it did then.
ISSUE_REFERENCE = (
    "measured beforehand (issue 2): blackbox_exporter 0.65 ms CPU per probe saturated, "
    "1.55 ms paced; Prometheus 0.65 ms per probe scrape; bare aiohttp client 0.28 ms per GET"
)
# Issue 19: resident memory at 1,000 targets, after warm-up, saturated and paced (issue 2 had
# 100 MB; blackbox_exporter measured 41.8 and 23.9 MB).
MEMORY_TARGET_MB = 55
PACE_TOLERANCE = 0.10  # the paced window must see this close to the probes the pace asks for
FLOOR_RATIO = 1.15  # issue 19: redline's CPU per probe at most this times the bare client's


@dataclass
class Saturated:
    cpu_ms_per_probe: float  # over all measured scrapes
    round_ms_per_probe: list[float]  # each measured scrape's
    floor_ms: float | None  # the bare client's, median of its rounds between the scrapes
    scrape_seconds: float  # median wall time of one full scrape
    rss_mb: float  # highest resident memory seen after warm-up
    ok: int  # probes that succeeded in the last scrape
    reached: int  # probes that reached a target in the measured rounds
    reasons: Counter[str]  # why the failed probes of the last scrape failed
    other_cores: float  # cores other processes of the machine used meanwhile
    busiest: list[tuple[str, float]]  # the other processes that used the most, (name, cores)

    @property
    def median_ms_per_probe(self) -> float:
        """The median of the measured scrapes', as the floor's is a median of its rounds."""
        return statistics.median(self.round_ms_per_probe)


@dataclass
class Paced:
    exporter_ms_per_probe: float | None  # None when no probe reached a target
    prometheus_ms_per_probe: float | None
    probes: int  # probes that reached a target during the window
    expected: int  # what the pace asks for in the window
    up: float | None  # sum(probe_success) in Prometheus at the end
    rss_peak_mb: float  # highest resident memory of the exporter, read every second
    slowest_scrape: float | None  # slowest scrape Prometheus saw (redline: all targets at once)
    other_cores: float  # cores other processes of the machine used meanwhile
    busiest: list[tuple[str, float]]  # the other processes that used the most, (name, cores)
    floor_ms: float | None = None  # the bare client's, median of rounds around the window

    @property
    def total_ms_per_probe(self) -> float | None:
        if self.exporter_ms_per_probe is None or self.prometheus_ms_per_probe is None:
            return None
        return self.exporter_ms_per_probe + self.prometheus_ms_per_probe


@dataclass
class Results:
    targets: int
    interval: float
    window: float
    rounds: int
    concurrency: int
    loop: str = "asyncio"  # the event loop redline ran on (exporter/eventloop.py)
    # CPU ms per GET of the bare aiohttp client alone at the start of the run, by event loop
    # (issue 19's rows take their floor in Saturated.floor_ms and Paced.floor_ms instead)
    bare_ms_by_loop: dict[str, float] = field(default_factory=dict)
    redline_sat: Saturated | None = None
    blackbox_sat: Saturated | None = None
    redline_paced: Paced | None = None
    blackbox_paced: Paced | None = None

    @property
    def bare_ms(self) -> float | None:
        """The bare client's CPU per GET at the start of the run, on the loop redline ran on."""
        return self.bare_ms_by_loop.get(self.loop)


def _rows(r: Results) -> list[Row]:
    rs, bs, rp, bp = r.redline_sat, r.blackbox_sat, r.redline_paced, r.blackbox_paced
    assert rs and bs and rp and bp
    n = r.targets
    valid = rs.ok == n and rp.up == n
    sat_ms = rs.median_ms_per_probe

    def target(passed: bool | None) -> str:
        # a cheap failing probe proves nothing: redline's figures count only if its probes work
        return judge(passed) if valid else INVALID

    return [
        Row(
            "CPU per probe, saturated (ms)",
            num(rs.cpu_ms_per_probe, 3),
            num(bs.cpu_ms_per_probe, 3),
            ratio(rs.cpu_ms_per_probe, bs.cpu_ms_per_probe),
        ),
        Row(
            f"exporter CPU per probe, paced {n}/{r.interval:g} s (ms)",
            num(rp.exporter_ms_per_probe, 3),
            num(bp.exporter_ms_per_probe, 3),
            ratio(rp.exporter_ms_per_probe, bp.exporter_ms_per_probe),
            "ratio <= 1",
            target(within(rp.exporter_ms_per_probe, bp.exporter_ms_per_probe, 1.0)),
        ),
        Row(
            "Prometheus CPU per probe, paced (ms)",
            num(rp.prometheus_ms_per_probe, 3),
            num(bp.prometheus_ms_per_probe, 3),
            ratio(rp.prometheus_ms_per_probe, bp.prometheus_ms_per_probe),
        ),
        Row(
            "pipeline CPU per probe, paced (ms)",
            num(rp.total_ms_per_probe, 3),
            num(bp.total_ms_per_probe, 3),
            ratio(rp.total_ms_per_probe, bp.total_ms_per_probe),
            "ratio <= 0.5",
            target(within(rp.total_ms_per_probe, bp.total_ms_per_probe, 0.5)),
        ),
        Row(
            f"one full scrape of {n} targets, median (s)",
            num(rs.scrape_seconds, 3),
            num(bs.scrape_seconds, 3),
            ratio(rs.scrape_seconds, bs.scrape_seconds),
            "redline < 1 s",
            target(rs.scrape_seconds < 1.0),
        ),
        Row(
            "slowest scrape Prometheus saw, paced (s)",
            num(rp.slowest_scrape, 3),
            "-",  # blackbox has no full scrape: Prometheus scrapes each target on its own
            target="redline < 1 s",
            result=target(None if rp.slowest_scrape is None else rp.slowest_scrape < 1.0),
        ),
        Row(
            "resident memory after warm-up, saturated, max (MB)",
            num(rs.rss_mb, 1),
            num(bs.rss_mb, 1),
            ratio(rs.rss_mb, bs.rss_mb),
            f"redline <= {MEMORY_TARGET_MB} MB",
            target(rs.rss_mb <= MEMORY_TARGET_MB),
        ),
        Row(
            "resident memory, paced, peak (MB)",
            num(rp.rss_peak_mb, 1),
            num(bp.rss_peak_mb, 1),
            ratio(rp.rss_peak_mb, bp.rss_peak_mb),
            f"redline <= {MEMORY_TARGET_MB} MB",
            target(rp.rss_peak_mb <= MEMORY_TARGET_MB),
        ),
        # Issue 19: redline's CPU per probe against the floor of any aiohttp probe, a bare
        # client's fresh-connection GET on the same event loop, taken in the same minutes:
        # saturated, a round between each two scrapes, medians of both; paced, rounds just
        # before and after the window.
        Row(
            f"exporter CPU per probe, saturated, vs bare aiohttp GET on {r.loop} (ms)",
            num(sat_ms, 3),
            num(rs.floor_ms, 3),
            ratio(sat_ms, rs.floor_ms),
            f"ratio <= {FLOOR_RATIO:g}",
            target(within(sat_ms, rs.floor_ms, FLOOR_RATIO)),
        ),
        Row(
            f"exporter CPU per probe, paced, vs bare aiohttp GET on {r.loop} (ms)",
            num(rp.exporter_ms_per_probe, 3),
            num(rp.floor_ms, 3),
            ratio(rp.exporter_ms_per_probe, rp.floor_ms),
            f"ratio <= {FLOOR_RATIO:g}",
            target(within(rp.exporter_ms_per_probe, rp.floor_ms, FLOOR_RATIO)),
        ),
        *_loop_rows(r),
        # Validity rows: the numbers above mean something only if these hold.
        Row(
            "probes OK in one scrape",
            f"{rs.ok}/{n}",
            f"{bs.ok}/{n}",
            target="all",
            result=judge(all(x.ok == n and x.reached == r.rounds * n for x in (rs, bs))),
        ),
        Row(
            "probes up in Prometheus, paced",
            f"{num(rp.up, 0)}/{n}",
            f"{num(bp.up, 0)}/{n}",
            target="all",
            result=judge(rp.up == n and bp.up == n),
        ),
        Row(
            f"probes in the {r.window:g} s paced window",
            str(rp.probes),
            str(bp.probes),
            target=f"{bp.expected} +-{PACE_TOLERANCE:.0%}",
            result=judge(
                all(abs(p.probes - p.expected) <= PACE_TOLERANCE * p.expected for p in (rp, bp))
            ),
        ),
    ]


def _loop_rows(r: Results) -> list[Row]:
    """What the event loop gives: the bare client on redline's loop against asyncio's own."""
    mine, plain = r.bare_ms, r.bare_ms_by_loop.get("asyncio")
    if r.loop == "asyncio" or mine is None or plain is None:
        return []
    return [
        Row(
            f"bare aiohttp GET CPU, {r.loop} vs asyncio's loop (ms)",
            num(mine, 3),
            num(plain, 3),
            ratio(mine, plain),
        )
    ]


def _notes(r: Results) -> list[str]:
    rs, rp = r.redline_sat, r.redline_paced
    assert rs and rp
    notes = [
        f"{r.targets} targets; saturated: {r.rounds} measured scrape(s) after 1 warm-up "
        f"(blackbox: {r.concurrency} /probe at once); paced: Prometheus every {r.interval:g} s, "
        f"{r.window:g} s window after a warm-up"
    ]
    if not (rs.ok == r.targets and rp.up == r.targets):
        reasons = ", ".join(f"{k} x{n}" for k, n in rs.reasons.most_common()) or "unknown"
        notes.append(
            f"redline's probes failed ({reasons}): its numbers measure failing probes, not "
            "probing, and are marked INVALID"
        )
    floors = [
        f"{label} {value:.3f} ms against {floor:.3f} ms ({value - floor:+.3f} ms)"
        for label, value, floor in (
            ("saturated", rs.median_ms_per_probe, rs.floor_ms),
            ("paced", rp.exporter_ms_per_probe, rp.floor_ms),
        )
        if value is not None and floor is not None
    ]
    if floors:
        notes.append(
            f"redline's CPU per probe against the bare aiohttp client's per fresh-connection GET "
            f"on {r.loop} (the floor for an aiohttp probe), taken in the same minutes: "
            f"{'; '.join(floors)}"
        )
    # A note of its own: with no floor taken, these are the only figures of the bare client.
    if r.bare_ms_by_loop:
        notes.append(
            "the bare aiohttp client's rounds alone at the start of the run, CPU per GET: "
            + ", ".join(f"{loop} {ms:.3f} ms" for loop, ms in r.bare_ms_by_loop.items())
        )
    notes.append(ISSUE_REFERENCE)
    return notes


def section_of(r: Results) -> Section:
    """The rows and notes of this comparison; the busiest of its four measurements decides
    whether the machine was quiet."""
    phases = [p for p in (r.redline_sat, r.blackbox_sat, r.redline_paced, r.blackbox_paced) if p]
    worst = max(phases, key=lambda p: p.other_cores)
    return Section(
        title="",  # set by the caller, which knows the peer's version
        rows=_rows(r),
        notes=_notes(r),
        other_cores=worst.other_cores,
        busiest=worst.busiest,
    )
