"""The one table ``make bench`` prints: a section per peer, a row per measurement with redline's
figure, the peer's, the ratio redline / peer, the issue's target and whether it is met.

Every section module (blackbox.py, postgres.py, host.py, logs.py) turns its measurements into
:class:`Section` rows with the helpers here, so the columns mean the same thing everywhere.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

BUSY_MACHINE = 0.25  # cores other processes used, above which a section's numbers are suspect

# result column
PASS, MISS, INFO = "PASS", "MISS", "info"
INVALID = "INVALID"  # the measurement ran, but what it measured is not what it should be
ERROR = "ERROR"  # the section's harness failed: no number


@dataclass
class Row:
    name: str
    redline: str
    peer: str = "-"
    ratio: str = ""
    target: str = ""
    result: str = INFO


@dataclass
class Section:
    title: str  # e.g. "HTTP probes vs blackbox_exporter 0.23.0 (issue 2)"
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # printed under the table
    detail: str = ""  # the section's own longer report, for bench/results/latest.md
    other_cores: float | None = None  # cores other processes used while it measured
    busiest: list[tuple[str, float]] = field(default_factory=list)
    seconds: float = 0.0  # how long the section took
    error: str = ""  # the harness failed: why


def num(value: float | None, digits: int, *, thousands: bool = False) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:,.{digits}f}" if thousands else f"{value:.{digits}f}"


def ratio(redline: float | None, peer: float | None) -> str:
    """redline / peer, three digits so that a ratio just over a limit (0.504) does not print as
    the limit."""
    if redline is None or peer is None or peer == 0 or redline != redline or peer != peer:
        return "n/a"
    value = redline / peer
    return f"{value:.3f}x" if value < 10 else f"{value:.1f}x"


def judge(passed: bool | None) -> str:
    """PASS/MISS; a target that could not be measured is a MISS, never a PASS."""
    return PASS if passed else MISS


def within(redline: float | None, peer: float | None, limit: float) -> bool | None:
    """redline / peer <= limit; None when either is unknown."""
    if redline is None or peer is None or peer == 0:
        return None
    return redline / peer <= limit


# --- the machine ------------------------------------------------------------------------------


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return f"{os.path.basename(argv[0])}: missing"
    text = (out.stdout or out.stderr).strip()
    return text.split("\n", 1)[0] if text else f"{os.path.basename(argv[0])}: ?"


def peer_version(argv: list[str]) -> str:
    """``name version`` from a Prometheus-style ``--version`` line ("blackbox_exporter, version
    0.23.0 (branch...)" -> "blackbox_exporter 0.23.0"); the line itself when it is not one."""
    line = _first_line(argv)
    match = re.match(r"^(\S+?),? version (\S+)", line)
    if match:
        return f"{match.group(1)} {match.group(2)}"
    match = re.match(r"^\S+ \((\w+)\) (\S+)", line)  # postgres (PostgreSQL) 15.18 (Debian...)
    return f"{match.group(1)} {match.group(2)}" if match else line


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def machine_lines(peers: dict[str, list[str]]) -> list[str]:
    """What the numbers were measured on: the hardware, the software, each peer's version
    (``peers``: a name -> the argv printing its version)."""
    import aiohttp

    cores = len(os.sched_getaffinity(0))
    memory = psutil.virtual_memory().total / 2**30
    lines = [
        f"machine: {cpu_model()}, {cores} cores, {memory:.1f} GiB memory; {os_name()}, "
        f"kernel {platform.release()}; {platform.node()}",
        f"redline: Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"psutil {psutil.__version__}",
        "peers: " + ", ".join(peer_version(argv) for argv in peers.values()),
    ]
    return lines


# --- the table --------------------------------------------------------------------------------

_HEADER = Row("measurement", "redline", "peer", "ratio", "target", "result")


def _cells(row: Row, indent: str) -> list[str]:
    return [indent + row.name, row.redline, row.peer, row.ratio, row.target, row.result]


def table(sections: list[Section]) -> list[str]:
    """The aligned table: a title line per section, its rows indented under it."""
    rows = [_cells(_HEADER, "")]
    for section in sections:
        for row in section.rows:
            rows.append(_cells(row, "  "))
    widths = [max(len(c[i]) for c in rows) for i in range(6)]
    widths[0] = max(widths[0], *(len(s.title) for s in sections)) if sections else widths[0]

    def line(c: list[str]) -> str:
        # the name left-aligned, the numbers right-aligned, as a reader scans them
        parts = [c[0].ljust(widths[0])] + [c[i].rjust(widths[i]) for i in range(1, 4)]
        parts += [c[4].ljust(widths[4]), c[5]]
        return "  ".join(parts).rstrip()

    out = [line(_cells(_HEADER, ""))]
    out.append("-" * len(out[0]))
    for section in sections:
        out.append(section.title)
        out.extend(line(_cells(row, "  ")) for row in section.rows)
    return out


def load_note(section: Section) -> str | None:
    if section.other_cores is None:
        return None
    if section.other_cores <= BUSY_MACHINE:
        return f"other processes used {section.other_cores:.2f} cores while it measured"
    named = [f"{name} {cores:.2f}" for name, cores in section.busiest]
    rest = section.other_cores - sum(cores for _, cores in section.busiest)
    if rest >= 0.05:  # born and gone within the measurement: in the total, without a name
        named.append(f"short-lived processes {rest:.2f}")
    return (
        f"WARNING: other processes used {section.other_cores:.2f} cores while it measured "
        f"({', '.join(named)}): its numbers are disturbed; run again when the machine is quiet"
    )


def render(sections: list[Section], head: list[str]) -> str:
    """The whole report as printed: ``head`` lines, the table, the targets missed, then each
    section's notes."""
    out = [*head, "", *table(sections), ""]
    missed = [
        f"  - {section.title.split(' (')[0]}: {row.name} ({row.result})"
        for section in sections
        for row in section.rows
        if row.result in (MISS, INVALID, ERROR)
    ]
    targets = sum(1 for s in sections for r in s.rows if r.result != INFO)
    if missed:
        out.append(f"TARGETS MISSED ({len(missed)} of {targets}):")
        out.extend(missed)
    else:
        out.append(f"All {targets} targets met.")
    for section in sections:
        notes = list(section.notes)
        if section.error:
            notes.insert(0, f"HARNESS FAILED: {section.error}")
        load = load_note(section)
        if load:
            notes.append(load)
        out.append("")
        out.append(f"{section.title} [{section.seconds:.0f} s]:")
        out.extend(f"  {note}" for note in notes)
    return "\n".join(out) + "\n"


def markdown(text: str, sections: list[Section]) -> str:
    """bench/results/latest.md: the report as printed, then each section's own detail."""
    out = [
        f"# redline bench, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        "",
        "```",
        text.rstrip("\n"),
        "```",
    ]
    for section in sections:
        if section.detail:
            out += ["", f"## {section.title}", "", section.detail.rstrip("\n")]
    return "\n".join(out) + "\n"
