"""The platform and backup drills on a demo stack of their own (tests/drill_stack.py, at a port
offset of the module's: tests/conftest.py): Chatwoot's worker OOM-killed and a backup that does
not restore; then `redline capacity` over this stack's whole life, which by then holds the
270 s of history it needs. What a drill checks is in
tests/test_drills.py's doc.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.demo import drills, layout
from exporter.ops import capacity
from exporter.ops.promapi import PromClient
from tests.drill_stack import (
    ROOT,
    DemoRun,
    checks,
    ops,
    run_drill,
    running,
)

pytestmark = pytest.mark.demo


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoRun]:
    yield from running()


def test_worker_oom_pages_once_with_its_runbook(
    stack: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    """Chatwoot's worker OOM-killed (Fly's Machines API, from the platform stand-in): exactly one
    page to on-call with FlyMachineOOMKilled's runbook, nothing for the other groups."""
    drill = run_drill(stack, "worker-oom", capsys)
    assert drill.passed, drill.report()
    (page,) = checks(drill, "notified")
    assert page.ok and page.seconds is not None and page.seconds <= drills.PAGE_TARGET
    assert "to oncall" in page.observed and "/FlyMachineOOMKilled.md" in page.observed
    (once,) = checks(drill, "exactly once")
    assert once.ok, once.observed
    silent = checks(drill, "silent")  # the web group, the restarts, Chatwoot's probes
    assert all(c.ok and c.observed == "none" for c in silent), [c.observed for c in silent]


def test_corrupt_dump_drill_tickets_once_and_resolves(
    stack: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    """The backup job writes dumps cut short, checksummed as cut (the integrity checks pass):
    only the restore test notices. Exactly one notification, BackupRestoreFailed's ticket to
    vendors-jobs with its runbook, no other backup or heartbeat alert, nothing paged, and the
    first good dump that restores resolves it."""
    drill = run_drill(stack, "backup-unrestorable", capsys)
    assert drill.passed, drill.report()
    (notified,) = checks(drill, "notified")
    assert notified.ok and "to vendors-jobs" in notified.observed, notified.observed
    assert "/BackupRestoreFailed.md" in notified.observed, notified.observed
    (silent,) = checks(drill, "silent")
    assert silent.ok and silent.observed == "none", silent.observed
    (resolved,) = checks(drill, "resolved")
    assert resolved.ok and resolved.seconds is not None, resolved.observed
    (once,) = checks(drill, "exactly once")
    assert once.ok, once.observed
    ticket = [
        n
        for n in drill.notifications
        if any(
            a["labels"].get("alertname") == "BackupRestoreFailed" for a in n["payload"]["alerts"]
        )
    ]
    # one firing notice and one resolved notice: the ticket is opened once and closed once
    assert sorted(n["payload"]["status"] for n in ticket) == ["firing", "resolved"], ticket
    # a ticket, not a page: the on-call's pager stays quiet, also after the healing
    log = drill.pager()
    assert log.pages == [] and log.resolved == [] and not log.still_open, drill.report()
    assert log.after_heal == [], drill.report()
    (after,) = checks(drill, "pages after heal")
    assert after.ok, after.observed


# every kind the demo produces (not vendor-driven): each must be fitted from the demo's life
DEMO_KINDS = (
    "Disk space",
    "Database size",
    "Database connections",
    "Host memory",
    "Host CPU",
    "Process group memory",
    "Request rate",
)
CAPACITY_HISTORY = 270.0  # seconds: 10 points of 15 s after a rate's first minute, and more


def test_capacity_over_the_demos_life(
    stack: DemoRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wait = stack.started + CAPACITY_HISTORY - time.time()
    if wait > 0:  # when this test runs alone: a bounded wait for enough history
        time.sleep(wait)
    window = round(time.time() - stack.started)
    args = ("--window", f"{window}s", "--horizon", "20m", "--growth", "10x")
    ops(capsys, "capacity", *args, "--out", str(tmp_path))
    report = (tmp_path / "capacity.md").read_text()
    charts = sorted(p.name for p in (tmp_path / "charts").glob("*.png"))
    assert any(name.startswith("capacity-connections-") for name in charts), charts
    assert "![" in report

    end = time.time()
    result = capacity.compute(
        PromClient(layout.PROMETHEUS_URL), end - window, end, 1200.0, 10.0, {}, ROOT / "alert_rules"
    )
    fitted = {r.kind.title for r in result.resources if r.fit is not None}
    missing = [k for k in DEMO_KINDS if k not in fitted]
    assert not missing, f"not fitted on the demo: {missing}; {result.gaps.items}"
    connections = next(r for r in result.resources if r.kind.title == "Database connections")
    assert connections.limit is not None and 0 < connections.current < connections.limit
