"""Every query of every committed dashboard, sent to a real Prometheus that has scraped a running
exporter (tests/dashboard_stack.py: the demo config plus loopback stand-ins of what it leaves
out) and evaluated the rules of prometheus/rules. Each query must succeed, and each must return
series unless it is listed in EXPECTED_EMPTY with the reason the stack cannot produce them.

Grafana's variables are substituted as Grafana would at a short time range: $__rate_interval and
$__interval by a range four scrapes long at least, $__range by an hour, and every dashboard
variable (always matched with =~) by a regex of all values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.demo.servers import Prometheus, ServerError
from tests.dashboard_stack import ROOT, running

JSON_DIR = ROOT / "dashboards" / "json"
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
}
ALL_VALUES = ".+"

# (dashboard uid, panel title, refId): why the stack on loopback cannot make it return series.
# Anything else that returns nothing fails: a panel that measures nothing is a broken panel.
EXPECTED_EMPTY: dict[tuple[str, str, str], str] = {
    # The Google Analytics check needs a service account key and Google's token endpoint; the
    # stack has neither (tests/test_vendors_checks.py covers the check against stand-ins).
    ("redline-backups-vendors", "Google Analytics data", "A"): "no GA4 check configured",
    # the stack's restore test passes (a failure's reasons: tests/test_backups_restore.py)
    ("redline-backups-vendors", "Why the last restore test failed", "A"): "the restore passes",
}

# a real Prometheus scraping a real exporter and Postgres: make check leaves it out
pytestmark = pytest.mark.slow


def _targets() -> Iterator[tuple[str, str, str, str]]:
    """(uid, panel title, refId, expr) of every panel query, rows' panels included."""
    for path in sorted(JSON_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        panels = list(data["panels"])
        for panel in list(panels):
            panels.extend(panel.get("panels", []))
        for panel in panels:
            for target in panel.get("targets", []):
                yield data["uid"], panel["title"], target["refId"], target["expr"]


def _variables(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {v["name"]: ALL_VALUES for v in data["templating"]["list"] if v["type"] == "query"}


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Grafana's interpolation of ``$name``, ``${name}`` and ``[[name]]``."""
    values = {**BUILTINS, **variables}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise KeyError(f"undefined variable {name!r} in {expr!r}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", value, expr)


TARGETS = list(_targets())
VARIABLES = {
    json.loads(p.read_text())["uid"]: _variables(p) for p in sorted(JSON_DIR.glob("*.json"))
}


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    with running(tmp_path_factory.mktemp("dashboard-stack")) as server:
        yield server


def test_there_are_queries() -> None:
    assert len(TARGETS) > 100
    stale = set(EXPECTED_EMPTY) - {(u, t, r) for u, t, r, _ in TARGETS}
    assert not stale, f"EXPECTED_EMPTY names queries no dashboard has: {stale}"


@pytest.mark.parametrize(
    ("uid", "title", "ref", "expr"),
    TARGETS,
    ids=[f"{u}:{t}:{r}" for u, t, r, _ in TARGETS],
)
def test_panel_query_returns_series(
    prom: Prometheus, uid: str, title: str, ref: str, expr: str
) -> None:
    query = substitute(expr, VARIABLES[uid])
    try:
        result = prom.query(query)
    except ServerError as e:
        pytest.fail(f"{uid} / {title} / {ref}: the query fails:\n{query}\n{e}")
    reason = EXPECTED_EMPTY.get((uid, title, ref))
    if reason is None:
        assert result, f"{uid} / {title} / {ref} returns no series:\n{query}"
    else:
        assert not result, f"{uid} / {title} / {ref} has data now: drop it from EXPECTED_EMPTY"


def _annotations() -> Iterator[tuple[str, str]]:
    for path in sorted(JSON_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for a in data["annotations"]["list"]:
            yield data["uid"], a["expr"]


def test_annotation_queries_succeed(prom: Prometheus) -> None:
    """Alerts as annotations: every query must run (whether an alert fires depends on the day)."""
    for uid, expr in _annotations():
        prom.query(substitute(expr, VARIABLES[uid]))
    # and one of them shows the alert the stack makes fire
    fired = [expr for uid, expr in _annotations() if uid == "redline-backups-vendors"]
    assert prom.query(fired[0])


def _label_values(query: str) -> tuple[str, str]:
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
    assert match, f"not a label_values(metric, label) query: {query}"
    return match.group(1), match.group(2)


def test_variables_have_values(prom: Prometheus) -> None:
    """Each dashboard variable's label_values() query finds values (else its dashboard shows
    nothing at all)."""
    empty = []
    for path in sorted(JSON_DIR.glob("*.json")):
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        for v in data["templating"]["list"]:
            if v["type"] != "query":
                continue
            selector, label = _label_values(v["query"])
            if not prom.query(f"count by ({label}) ({selector})"):
                empty.append(f"{data['uid']}: ${v['name']}")
    assert not empty, f"variables without values: {empty}"
