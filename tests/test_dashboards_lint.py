"""Dashboard lint: what every generated panel must say for an on-call to trust it, and the
overview's tiles read as the on-call needs them.

- every stat tile maps no data (null or NaN) to a grey "NO DATA"-like text, so a query that
  returns nothing (a target gone, the exporter dead) is never a green tile;
- every panel but rows and text states its unit (a state timeline says "none");
- the overview puts the paging verdict first, has an exporter-up tile, links each firing alert
  to its runbook, and its "Probes failing" tile reads no data, not 0, when the exporter cannot
  be scraped (its query evaluated by the real promtool).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

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
        assert result.get("text") and result.get("color") not in GREEN, panel["title"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_panel_states_its_unit(path: Path) -> None:
    for panel in _panels(path):
        if panel["type"] in ("row", "text"):
            continue
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        assert unit, f"{path.stem}: {panel['title']} ({panel['type']}) has no unit"


def _overview() -> list[dict[str, Any]]:
    return _panels(JSON_DIR / "redline-overview.json")


def test_the_overview_puts_the_paging_verdict_first() -> None:
    tiles = [p for p in _overview() if p["type"] == "stat"]
    first = min(tiles, key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"]))
    assert first["title"] == "Alerts paging"
    assert first["gridPos"]["w"] == max(p["gridPos"]["w"] for p in tiles if p["gridPos"]["y"] == 1)


def test_the_overview_shows_whether_the_exporter_is_up() -> None:
    (tile,) = [p for p in _overview() if p["title"] == "Exporter"]
    assert 'up{job="redline"}' in tile["targets"][0]["expr"]


def test_firing_alerts_link_to_their_runbooks() -> None:
    (table,) = [p for p in _overview() if p["title"] == "Firing alerts"]
    links = [
        v
        for o in table["fieldConfig"]["overrides"]
        if o["matcher"]["options"] == "alertname"
        for prop in o["properties"]
        if prop["id"] == "links"
        for v in prop["value"]
    ]
    assert links and links[0]["url"].endswith("/${__value.raw}.md"), links


def _promtool_expr(tmp: Path, expr: str, series: dict[str, str], expected: list[dict]) -> str:
    """Evaluate ``expr`` at 5 min over ``series`` with promtool; its output ('' when as
    expected)."""
    test = {
        "rule_files": [],
        "evaluation_interval": "30s",
        "tests": [
            {
                "interval": "30s",
                "input_series": [{"series": k, "values": v} for k, v in series.items()],
                "promql_expr_test": [{"expr": expr, "eval_time": "5m", "exp_samples": expected}],
            }
        ],
    }
    (tmp / "t.yml").write_text(yaml.safe_dump(test))
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/install-system.sh"
    result = subprocess.run(
        [binary, "test", "rules", str(tmp / "t.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_probes_failing_is_unknown_not_zero_when_the_exporter_is_dead(tmp_path: Path) -> None:
    (tile,) = [p for p in _overview() if p["title"] == "Probes failing"]
    expr = tile["targets"][0]["expr"]
    target = 'job="redline", instance="localhost:9877"'
    probe = f'probe_success{{service="chatwoot", probe="health", {target}}}'
    up = f"up{{{target}}}"
    # the exporter dead: up 0, its probe series stale: no data (the tile's grey UNKNOWN)
    dead = {up: "1x4 0x10", probe: "1x4 _x10"}
    assert _promtool_expr(tmp_path, expr, dead, []) == ""
    # alive with one probe failing: 1; alive and all well: 0, not no data
    assert _promtool_expr(tmp_path, expr, {up: "1x12", probe: "0x12"}, [{"value": 1}]) == ""
    assert _promtool_expr(tmp_path, expr, {up: "1x12", probe: "1x12"}, [{"value": 0}]) == ""


def _slos() -> list[dict[str, Any]]:
    return _panels(JSON_DIR / "redline-slos.json")


def test_the_slo_dashboard_draws_every_burn_factor_with_a_unit() -> None:
    (burn,) = [p for p in _slos() if p["title"] == "Burn rates"]
    exprs = [t["expr"] for t in burn["targets"]]
    factors = {e for e in exprs if e.startswith("vector(")}
    assert factors == {"vector(14.4)", "vector(6)", "vector(3)", "vector(1)"}, exprs
    assert burn["fieldConfig"]["defaults"]["unit"] == "suffix:x"


def test_the_slo_table_lists_overspent_slos_first_and_burn_rates_with_a_unit() -> None:
    (table,) = [p for p in _slos() if p["title"] == "SLOs now"]
    (sort,) = table["options"]["sortBy"]
    assert sort == {"displayName": "budget left", "desc": False}
    burn = [o for o in table["fieldConfig"]["overrides"] if "burn" in o["matcher"]["options"]]
    assert {"id": "unit", "value": "suffix:x"} in burn[0]["properties"]
