"""The database drills on a demo stack of their own (tests/drill_stack.py, at a port offset of
the module's: tests/conftest.py), next to tests/test_drills.py's: PostgreSQL down (one page, the
services on it inhibited, also as they recover with the operator's traffic on) and two
unrelated services down at once (two pages, each resolved on its own). What each checks is in
tests/test_drills.py's doc.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from exporter.demo import drills
from tests.drill_stack import (
    DemoRun,
    checks,
    one_page_per_incident,
    run_drill,
    running,
)

pytestmark = pytest.mark.demo


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoRun]:
    yield from running()


def test_database_down_pages_once_and_silences_the_services_on_it(
    stack: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = run_drill(stack, "database-down", capsys)
    assert drill.passed, drill.report()
    (page,) = checks(drill, "notified")
    assert page.seconds is not None and page.seconds <= drills.PAGE_TARGET
    assert "/PostgresDown.md" in page.observed
    service, direct = checks(drill, "inhibited")
    # hotdash-app's /health fails with the database: ServiceDown fired, was held back
    assert "hotdash-app" in service.observed and "0 notification(s)" in service.observed
    # the direct connection's PostgresDown is a ticket, explained by the pooler's outage
    assert 'database="supabase"' in direct.observed and direct.ok, direct.observed
    (silent,) = checks(drill, "silent")
    assert silent.ok and silent.observed == "none"
    (resolved,) = checks(drill, "resolved")
    assert resolved.seconds is not None and resolved.seconds <= drills.RESOLVE_TARGET
    (once,) = checks(drill, "exactly once")
    assert once.ok, once.observed
    # with the operator's traffic on, hotdash-app's error rate and burns hold the outage after
    # the database is back: still the one page, nothing as it recovers
    one_page_per_incident(drill)


def test_two_unrelated_faults_page_twice_and_resolve_each_on_its_own(
    stack: DemoRun, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = run_drill(stack, "two-faults", capsys)
    assert drill.passed, drill.report()
    one_page_per_incident(drill, pages=2)
    own = checks(drill, "resolved on its own")
    assert len(own) == 2 and all(c.ok for c in own), drill.report()
    first, second = (drill.t_healed[t] for t in ("agent-service", "llamaindex-mcp"))
    resolved = [t for t, _ in drill.pager().resolved]
    assert first < resolved[0] < second < resolved[1], drill.report()
