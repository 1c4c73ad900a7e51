"""What the bench measured, and the table it prints: one row per measurement, with the ratio
redline / blackbox_exporter and the issue's target for that row.

A side whose probes did not succeed is marked INVALID rather than PASS: an exporter that fails
every probe at once is cheap, and its numbers say nothing about probing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

# Measured on this machine beforehand (the issue); shown next to this run's numbers so that a
# reader sees whether the machine behaves as it did then.
ISSUE_REFERENCE = (
    "measured beforehand (issue): blackbox_exporter 0.65 ms CPU per probe saturated, "
    "1.55 ms paced; Prometheus 0.65 ms per probe scrape; bare aiohttp client 0.28 ms per GET"
)
PACE_TOLERANCE = 0.10  # the paced window must see this close to the probes the pace asks for
BUSY_MACHINE = 0.25  # cores used by other processes above which the numbers are not trusted


@dataclass
class Saturated:
    cpu_ms_per_probe: float
    scrape_seconds: float  # median wall time of one full scrape
    rss_mb: float  # highest resident memory seen after warm-up
    ok: int  # probes that succeeded in the last scrape
    reached: int  # probes that reached a target in the measured rounds
    reasons: Counter[str]  # why the failed probes of the last scrape failed
    other_cores: float  # cores other processes of the machine used meanwhile
    busiest: list[tuple[str, float]]  # the other processes that used the most, (name, cores)


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
    bare_ms: float | None = None
    redline_sat: Saturated | None = None
    blackbox_sat: Saturated | None = None
    redline_paced: Paced | None = None
    blackbox_paced: Paced | None = None


@dataclass
class Row:
    name: str
    redline: str
    blackbox: str
    ratio: str = ""
    target: str = ""
    result: str = "info"


@dataclass
class _Verdicts:
    """The result column: PASS/MISS for a target, INVALID when redline's probes failed."""

    redline_valid: bool
    missed: list[str] = field(default_factory=list)

    def judge(self, name: str, passed: bool | None, needs_valid: bool = True) -> str:
        if needs_valid and not self.redline_valid:
            self.missed.append(f"{name} (redline's probes failed)")
            return "INVALID"
        if passed is None:
            self.missed.append(f"{name} (not measured)")
            return "MISS"
        if not passed:
            self.missed.append(name)
            return "MISS"
        return "PASS"


def _num(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ratio(redline: float | None, blackbox: float | None) -> str:
    if redline is None or blackbox is None or blackbox == 0:
        return "n/a"
    ratio = redline / blackbox
    # Three digits, so that a ratio just over a limit (0.504) does not print as the limit.
    return f"{ratio:.3f}x" if ratio < 10 else f"{ratio:.1f}x"


def _within(a: float | None, b: float | None, limit: float) -> bool | None:
    """redline/blackbox <= limit, None when either is unknown."""
    if a is None or b is None or b == 0:
        return None
    return a / b <= limit


def build_rows(r: Results) -> tuple[list[Row], _Verdicts]:
    rs, bs, rp, bp = r.redline_sat, r.blackbox_sat, r.redline_paced, r.blackbox_paced
    assert rs and bs and rp and bp
    n = r.targets
    valid = rs.ok == n and rp.up == n
    v = _Verdicts(redline_valid=valid)
    rows = [
        Row(
            "CPU per probe, saturated (ms)",
            _num(rs.cpu_ms_per_probe, 3),
            _num(bs.cpu_ms_per_probe, 3),
            _ratio(rs.cpu_ms_per_probe, bs.cpu_ms_per_probe),
        ),
        Row(
            f"exporter CPU per probe, paced {n}/{r.interval:g}s (ms)",
            _num(rp.exporter_ms_per_probe, 3),
            _num(bp.exporter_ms_per_probe, 3),
            _ratio(rp.exporter_ms_per_probe, bp.exporter_ms_per_probe),
            "ratio <= 1.00",
            v.judge(
                "exporter CPU per probe, paced",
                _within(rp.exporter_ms_per_probe, bp.exporter_ms_per_probe, 1.0),
            ),
        ),
        Row(
            "Prometheus CPU per probe, paced (ms)",
            _num(rp.prometheus_ms_per_probe, 3),
            _num(bp.prometheus_ms_per_probe, 3),
            _ratio(rp.prometheus_ms_per_probe, bp.prometheus_ms_per_probe),
        ),
        Row(
            "pipeline CPU per probe, paced (ms)",
            _num(rp.total_ms_per_probe, 3),
            _num(bp.total_ms_per_probe, 3),
            _ratio(rp.total_ms_per_probe, bp.total_ms_per_probe),
            "ratio <= 0.50",
            v.judge(
                "pipeline CPU per probe, paced",
                _within(rp.total_ms_per_probe, bp.total_ms_per_probe, 0.5),
            ),
        ),
        Row(
            f"one full scrape of {n} targets, median (s)",
            _num(rs.scrape_seconds, 3),
            _num(bs.scrape_seconds, 3),
            _ratio(rs.scrape_seconds, bs.scrape_seconds),
            "redline < 1 s",
            v.judge("one full scrape under 1 s", rs.scrape_seconds < 1.0),
        ),
        Row(
            "slowest scrape Prometheus saw, paced (s)",
            _num(rp.slowest_scrape, 3),
            "-",  # blackbox has no full scrape: Prometheus scrapes each target on its own
            target="redline < 1 s",
            result=v.judge(
                "slowest paced scrape under 1 s",
                None if rp.slowest_scrape is None else rp.slowest_scrape < 1.0,
            ),
        ),
        Row(
            "resident memory after warm-up, saturated (MB)",
            _num(rs.rss_mb, 1),
            _num(bs.rss_mb, 1),
            _ratio(rs.rss_mb, bs.rss_mb),
            "redline < 100 MB",
            v.judge("resident memory under 100 MB, saturated", rs.rss_mb < 100),
        ),
        Row(
            "resident memory, paced, peak (MB)",
            _num(rp.rss_peak_mb, 1),
            _num(bp.rss_peak_mb, 1),
            _ratio(rp.rss_peak_mb, bp.rss_peak_mb),
            "redline < 100 MB",
            v.judge("resident memory under 100 MB, paced", rp.rss_peak_mb < 100),
        ),
        # Validity rows: the numbers above mean something only if these hold.
        Row(
            "probes OK in one scrape",
            f"{rs.ok}/{n}",
            f"{bs.ok}/{n}",
            target="all",
            result=v.judge(
                "probes OK in one scrape",
                all(x.ok == n and x.reached == r.rounds * n for x in (rs, bs)),
                False,
            ),
        ),
        Row(
            "probes up in Prometheus, paced",
            f"{_num(rp.up, 0)}/{n}",
            f"{_num(bp.up, 0)}/{n}",
            target="all",
            result=v.judge("probes up in Prometheus, paced", rp.up == n and bp.up == n, False),
        ),
        Row(
            f"probes in the {r.window:g} s paced window",
            str(rp.probes),
            str(bp.probes),
            target=f"{bp.expected} +-{PACE_TOLERANCE:.0%}",
            result=v.judge(
                "pace kept in the paced window",
                all(abs(p.probes - p.expected) <= PACE_TOLERANCE * p.expected for p in (rp, bp)),
                False,
            ),
        ),
    ]
    return rows, v


def _table(rows: list[Row]) -> list[str]:
    header = Row("measurement", "redline", "blackbox", "ratio", "target", "result")
    cells = [[x.name, x.redline, x.blackbox, x.ratio, x.target, x.result] for x in (header, *rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header.__dict__))]
    # the name column left-aligned, the numbers right-aligned, as a reader scans them
    lines = []
    for c in cells:
        parts = [c[0].ljust(widths[0])] + [c[i].rjust(widths[i]) for i in range(1, 4)]
        parts += [c[4].ljust(widths[4]), c[5]]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return lines


def _notes(r: Results, v: _Verdicts) -> list[str]:
    rs, rp = r.redline_sat, r.redline_paced
    assert rs and rp
    notes = []
    if v.missed:
        notes.append("TARGETS MISSED:\n" + "\n".join(f"  - {m}" for m in v.missed))
    else:
        notes.append("All targets met.")
    if not v.redline_valid:
        reasons = ", ".join(f"{k} x{n}" for k, n in rs.reasons.most_common()) or "unknown"
        notes.append(
            f"redline's probes failed ({reasons}): its numbers measure failing probes, not "
            "probing (is exporter/probes/http.py still the placeholder?)"
        )
    if r.bare_ms is not None:
        over = [
            f"{label} {value - r.bare_ms:+.3f} ms"
            for label, value in (
                ("saturated", rs.cpu_ms_per_probe),
                ("paced", rp.exporter_ms_per_probe),
            )
            if value is not None
        ]
        notes.append(
            f"bare aiohttp client: {r.bare_ms:.3f} ms CPU per fresh-connection GET (the floor for "
            f"an aiohttp probe); redline per probe above it: {', '.join(over)}"
        )
    notes.append(ISSUE_REFERENCE)
    notes.append(_other_load(r))
    return notes


def _other_load(r: Results) -> str:
    phases = {
        "redline saturated": r.redline_sat,
        "blackbox saturated": r.blackbox_sat,
        "redline paced": r.redline_paced,
        "blackbox paced": r.blackbox_paced,
    }
    measured = {name: p for name, p in phases.items() if p is not None}
    text = ", ".join(f"{name} {p.other_cores:.2f}" for name, p in measured.items())
    busy = [(name, p) for name, p in measured.items() if p.other_cores > BUSY_MACHINE]
    if not busy:
        return f"other processes on the machine while measuring, cores used: {text}"
    culprits = "; ".join(f"{name}: {_culprits(p)}" for name, p in busy)
    return (
        f"WARNING: other processes kept the machine busy while the bench measured (cores "
        f"used: {text}; busiest: {culprits}); the numbers are disturbed: run again when the "
        "machine is quiet"
    )


def _culprits(phase: Saturated | Paced) -> str:
    named = [f"{proc} {cores:.2f}" for proc, cores in phase.busiest]
    # processes born and gone within the measurement are in the total but have no name
    rest = phase.other_cores - sum(cores for _, cores in phase.busiest)
    if rest >= 0.05:
        named.append(f"short-lived processes {rest:.2f}")
    return ", ".join(named)


def render(r: Results, machine: str, elapsed: float) -> str:
    rows, verdicts = build_rows(r)
    head = [
        f"redline vs blackbox_exporter, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        machine,
        f"{r.targets} targets; saturated: {r.rounds} measured scrape(s) after 1 warm-up "
        f"(blackbox {r.concurrency} /probe at once); paced: Prometheus every {r.interval:g} s, "
        f"{r.window:g} s window; bench took {elapsed:.0f} s",
        "",
    ]
    return "\n".join([*head, *_table(rows), "", *_notes(r, verdicts)]) + "\n"
