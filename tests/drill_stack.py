"""What the drill modules (tests/test_drills*.py) share: the demo stack of a module, started once
with `make demo`'s command and stopped at the end, and the checks of what the on-call lives.

Each drill module is marked ``demo``: tests/conftest.py gives it a port offset, a state
directory and a machine-wide lock of its own before the stack starts, so the modules run side by
side in their xdist workers, each on its own stack. Nothing here may read a port or a path of the
demo when it is imported (they follow the module's offset): ``layout.X`` is read when used.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.cli import main
from exporter.demo import drills, layout, standins

ROOT = Path(__file__).resolve().parent.parent
DEMO = [sys.executable, "-m", "exporter.demo.run"]


@dataclass
class DemoRun:
    """The module's stack: when `make demo` was called and what it said, and the drills run on
    it so far, by scenario (the operator's commands read their outages)."""

    began: float  # when `make demo` was called: what happened since is this stack's
    started: float  # when it had started (Prometheus up): the history the capacity test counts
    start: subprocess.CompletedProcess[str]
    done: dict[str, drills.Drill] = field(default_factory=dict)


def demo(action: str) -> subprocess.CompletedProcess[str]:
    """``python -m exporter.demo.run ACTION``, what `make demo` and `make demo-stop` run, at
    this module's offset (the environment tests/conftest.py set)."""
    return subprocess.run(
        [*DEMO, action], capture_output=True, text=True, timeout=180, cwd=ROOT, check=False
    )


def running() -> Iterator[DemoRun]:
    """A drill module's ``stack`` fixture (module scope) yields from this: one stack for the
    whole module (a start and a stop take about half a minute), so its tests run in file order;
    each also runs alone (``-k``), starting the stack it needs."""
    began = time.time()
    started = demo("start")
    run = DemoRun(began, time.time(), started)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield run
    finally:
        demo("stop")  # safe when test_demo_stop_ends_everything stopped it already


def ops(capsys: pytest.CaptureFixture[str], command: str, *args: str) -> None:
    """``redline COMMAND --prometheus <the demo's> ARGS``: exit 0, or fail with what it said."""
    code = main([command, "--prometheus", layout.PROMETHEUS_URL, *args])
    said = capsys.readouterr()
    assert code == 0, said.out + said.err


def ports() -> list[int]:
    """Every port the demo listens on, at this module's offset."""
    return [
        layout.EXPORTER_PORT,
        layout.PROMETHEUS_PORT,
        layout.RECEIVER_PORT,
        layout.POSTGRES_PORT,
        *(p.port for p in layout.ALERTMANAGERS),
        *standins.DEFAULT_PORTS.values(),
        layout.PLATFORM_PORT,
    ]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def scrape() -> str:
    request = urllib.request.Request(
        f"{layout.EXPORTER_URL}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"}
    )
    with urllib.request.urlopen(request, timeout=15) as resp:
        return str(resp.read().decode())


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def run_drill(stack: DemoRun, name: str, capsys: pytest.CaptureFixture[str]) -> drills.Drill:
    """Run the scenario on the module's stack, write its report, print its summary."""
    drill = drills.run_scenario(name, log=lambda _: None)
    stack.done[name] = drill
    path = drills.write_report(drill)
    with capsys.disabled():
        print(f"\n{drills.summary(drill)} (report {path.relative_to(ROOT)})")
    return drill


def drill_of(stack: DemoRun, name: str, capsys: pytest.CaptureFixture[str]) -> drills.Drill:
    """The drill's run from this module, or a new run when the test runs alone."""
    return stack.done.get(name) or run_drill(stack, name, capsys)


def checks(drill: drills.Drill, kind: str) -> list[drills.Check]:
    found = [c for c in drill.checks if c.check == kind]
    assert found, f"no {kind} check\n{drill.report()}"
    return found


def one_page_per_incident(drill: drills.Drill, pages: int = 1) -> None:
    """What the on-call lives: exactly ``pages`` pages, each resolved once, none after healing."""
    log = drill.pager()
    assert len(log.pages) == pages, drill.report()
    assert len(log.resolved) == pages and not log.still_open, drill.report()
    assert log.after_heal == [], drill.report()
    (after,) = checks(drill, "pages after heal")
    assert after.ok, after.observed
    # watched for a repeat or a recovering dependent well past the last resolved notice
    assert drill.t_end is not None and drill.t_end - max(t for t, _ in log.resolved) >= 40
