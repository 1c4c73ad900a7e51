"""The dashboard lint: rules every panel of dashboards/json/*.json keeps, so the defects review
found (a tile green on no data, a number without a unit, a count and seconds on one axis, a
panel nobody can read the question of) cannot come back in a new panel.

- every stat maps "no data" (a special null/NaN mapping: grey unknown, or said otherwise);
- every panel but rows and text has a unit (``none`` for mapped states and plain numbers);
- every panel but rows has a description (the question it answers);
- one question per panel: a series given another unit (an override) goes on its own axis, so
  no axis mixes units; a panel's queries of the same unit share it.

(Every panel's query returning data against the real Prometheus: tests/test_dashboards_queries.py.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATHS = sorted((ROOT / "dashboards" / "json").glob("*.json"))


def _panels(path: Path) -> list[dict[str, Any]]:
    out = []
    for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def lint(panel: dict[str, Any]) -> list[str]:
    """What is wrong with one panel (empty: nothing)."""
    kind, title = panel["type"], panel["title"]
    if kind == "row":
        return []
    problems = []
    if not (panel.get("description") or "").strip():
        problems.append(f"{title}: no description")
    if kind == "text":
        return problems
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    if not defaults.get("unit"):
        problems.append(f"{title}: no unit")
    if kind == "stat":
        special = [m for m in defaults.get("mappings", []) if m["type"] == "special"]
        matches = {m["options"]["match"] for m in special}
        if not matches & {"null", "null+nan"}:
            problems.append(f"{title}: no mapping for no data")
    if kind == "timeseries":
        base_axis = defaults.get("custom", {}).get("axisPlacement", "auto")
        for override in panel.get("fieldConfig", {}).get("overrides", []):
            props = {p["id"]: p["value"] for p in override["properties"]}
            if "unit" in props and props["unit"] != defaults.get("unit"):
                axis = props.get("custom.axisPlacement", base_axis)
                if axis in (base_axis, "auto") or (base_axis == "auto" and axis == "left"):
                    problems.append(
                        f"{title}: {override['matcher']['options']} in {props['unit']} shares "
                        f"the axis of {defaults.get('unit')}"
                    )
    return problems


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_dashboard_lint(path: Path) -> None:
    problems = [problem for panel in _panels(path) for problem in lint(panel)]
    assert not problems, "\n".join(problems)


def _stat(**defaults: Any) -> dict[str, Any]:
    return {"type": "stat", "title": "t", "description": "d", "fieldConfig": {"defaults": defaults}}


def test_the_lint_has_teeth() -> None:
    """Each rule fails the panel that breaks it (and passes the one that keeps it)."""
    null = {"type": "special", "options": {"match": "null+nan", "result": {"text": "unknown"}}}
    assert lint(_stat(unit="short", mappings=[null])) == []
    assert lint(_stat(unit="short", mappings=[])) == ["t: no mapping for no data"]
    assert lint(_stat(mappings=[null])) == ["t: no unit"]
    assert lint({**_stat(unit="s", mappings=[null]), "description": ""}) == ["t: no description"]
    mixed = {
        "type": "timeseries",
        "title": "Lock waits",
        "description": "d",
        "fieldConfig": {
            "defaults": {"unit": "short", "custom": {}},
            "overrides": [
                {
                    "matcher": {"id": "byRegexp", "options": ".*wait"},
                    "properties": [{"id": "unit", "value": "s"}],
                }
            ],
        },
    }
    assert lint(mixed) == ["Lock waits: .*wait in s shares the axis of short"]
    mixed["fieldConfig"]["overrides"][0]["properties"].append(  # type: ignore[index]
        {"id": "custom.axisPlacement", "value": "right"}
    )
    assert lint(mixed) == []
