"""Dashboard lint: what every generated panel must say for an on-call to trust it (the
overview's and the SLOs dashboard's own questions: tests/test_dashboards_overview.py and
tests/test_dashboards_panels.py).

- every stat tile maps no data (null or NaN) to a text that says what it means, never green
  unless that meaning is "none" (no alert series: none firing), so a query that returns nothing
  (a target gone, the exporter dead) is never a silent green tile;
- every panel but rows and text states its unit (a state timeline says "none").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
JSON_DIR = ROOT / "dashboards" / "json"
PATHS = sorted(JSON_DIR.glob("*.json"))
GREEN = {"green", "#73BF69", "semi-dark-green", "dark-green"}


def _panels(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    panels = list(data["panels"])
    for panel in list(panels):
        panels.extend(panel.get("panels", []))
    return panels


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_stat_tile_maps_no_data_away_from_green(path: Path) -> None:
    for panel in _panels(path):
        if panel["type"] != "stat":
            continue
        mappings = panel["fieldConfig"]["defaults"].get("mappings", [])
        special = [
            m
            for m in mappings
            if m.get("type") == "special" and m["options"].get("match") in ("null", "null+nan")
        ]
        assert special, f"{path.stem}: {panel['title']}: no mapping for no data"
        result = special[0]["options"]["result"]
        assert result.get("text"), panel["title"]
        # green only where no data has a stated meaning (no alert series: none firing)
        if result.get("color") in GREEN:
            assert "none" in result["text"].lower(), f"{panel['title']}: {result}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_panel_states_its_unit(path: Path) -> None:
    for panel in _panels(path):
        if panel["type"] in ("row", "text"):
            continue
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert unit, f"{path.stem}: {panel['title']} ({panel['type']}) has no unit"
