"""End to end, as `make demo` runs it: the whole stack on loopback (stand-ins, PostgreSQL with its
workload, the backup job, the exporter, two Alertmanager peers gossiping, Prometheus with the
demo profile of the generated rules, the webhook receiver), then the service-down and
database-down drills (exporter/demo/drills.py) against it, with the demo's short intervals.

Each drill breaks something real and checks what reached the receiver: the page at the right
receiver with its runbook link within 90 s, the resolved notification within 2 min of healing,
each notification exactly once across the two peers, and for the database the dependent
services' alerts inhibited and never notified. The measured times are printed; the Markdown
reports land in .demo/drills/.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.demo import drills

ROOT = Path(__file__).resolve().parent.parent
DEMO = [sys.executable, "-m", "exporter.demo.run"]


@pytest.fixture(scope="module")
def stack() -> Iterator[None]:
    started = subprocess.run(
        [*DEMO, "start"], capture_output=True, text=True, timeout=180, cwd=ROOT, check=False
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield
    finally:
        subprocess.run([*DEMO, "stop"], capture_output=True, timeout=120, cwd=ROOT, check=False)


def _run(name: str, capsys: pytest.CaptureFixture[str]) -> drills.Drill:
    drill = drills.run_scenario(name, log=lambda _: None)
    path = drills.write_report(drill)
    with capsys.disabled():
        print(f"\n{drills.summary(drill)} (report {path.relative_to(ROOT)})")
    return drill


def _checks(drill: drills.Drill, kind: str) -> list[drills.Check]:
    found = [c for c in drill.checks if c.check == kind]
    assert found, f"no {kind} check\n{drill.report()}"
    return found


def test_service_down_pages_once_with_its_runbook_and_resolves(
    stack: None, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = _run("service-down", capsys)
    assert drill.passed, drill.report()
    (page,) = _checks(drill, "notified")
    assert page.ok and page.seconds is not None and page.seconds <= drills.PAGE_TARGET
    assert "to oncall" in page.observed
    assert "runbook https://" in page.observed and "/ServiceDown.md" in page.observed
    (resolved,) = _checks(drill, "resolved")
    assert resolved.seconds is not None and resolved.seconds <= drills.RESOLVE_TARGET
    (once,) = _checks(drill, "exactly once")
    assert once.ok, once.observed


def test_database_down_pages_once_and_silences_the_services_on_it(
    stack: None, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = _run("database-down", capsys)
    assert drill.passed, drill.report()
    (page,) = _checks(drill, "notified")
    assert page.seconds is not None and page.seconds <= drills.PAGE_TARGET
    assert "/PostgresDown.md" in page.observed
    (inhibited,) = _checks(drill, "inhibited")
    # hotdash-app's /health fails with the database: ServiceDown fired, was held back
    assert "hotdash-app" in inhibited.observed and "0 notification(s)" in inhibited.observed
    (silent,) = _checks(drill, "silent")
    assert silent.ok and silent.observed == "none"
    (resolved,) = _checks(drill, "resolved")
    assert resolved.seconds is not None and resolved.seconds <= drills.RESOLVE_TARGET
    (once,) = _checks(drill, "exactly once")
    assert once.ok, once.observed
