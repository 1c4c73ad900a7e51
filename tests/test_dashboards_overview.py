"""The overview dashboard as the on-call reads it: the committed tiles' queries evaluated by the
real promtool on the situations that matter (exporter dead, nothing paging, rules not
evaluated), where each tile sits, and what a click on a firing alert opens.

Each case is a ``promql_expr_test`` of ``promtool test rules`` with no rule file: the input
series are what Prometheus would hold (``stale`` is the marker it writes when a scrape fails),
the expected samples what the tile must receive; no series at all is what the tile's no-data
mapping turns into its text (tests/test_dashboards_lint.py checks every stat has one).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from dashboards import style as s
from exporter import metrics as m

ROOT = Path(__file__).resolve().parent.parent
OVERVIEW = ROOT / "dashboards" / "json" / f"{s.uid('overview')}.json"

UP = 'up{job="redline", instance="redline:9877"}'
PROBE = (
    f'{m.PROBE_SUCCESS.name}{{job="redline", instance="redline:9877", service="hotdash-app", '
    'probe="health"}'
)
WATCHDOG = 'ALERTS{alertname="Watchdog", alertstate="firing", severity="none"}'
PAGE = 'ALERTS{alertname="ServiceDown", alertstate="firing", severity="page", service="chatwoot"}'
TICKET = 'ALERTS{alertname="BackupTooOld", alertstate="firing", severity="ticket"}'


def _panels() -> dict[str, dict[str, Any]]:
    data = json.loads(OVERVIEW.read_text(encoding="utf-8"))
    out = {}
    for panel in data["panels"]:
        for p in [panel, *panel.get("panels", [])]:
            out[p["title"]] = p
    return out


def _expr(title: str) -> str:
    (target,) = _panels()[title]["targets"]
    return str(target["expr"])


def _case(
    title: str, series: dict[str, str], expected: list[float], labels: str = "{}"
) -> dict[str, Any]:
    """The tile ``title`` at 2m, after the input ``series`` (one value a minute from 0)."""
    return {
        "interval": "1m",
        "input_series": [{"series": k, "values": v} for k, v in series.items()],
        "promql_expr_test": [
            {
                "expr": _expr(title),
                "eval_time": "2m",
                "exp_samples": [{"labels": labels, "value": v} for v in expected],
            }
        ],
    }


def _run(tmp_path: Path, cases: list[dict[str, Any]]) -> None:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/install-system.sh"
    path = tmp_path / "overview-test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m",
                                    "tests": cases}))  # fmt: skip
    done = subprocess.run(
        [binary, "test", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_probes_failing_is_not_zero_when_the_exporter_is_dead(tmp_path: Path) -> None:
    _run(
        tmp_path,
        [
            # the exporter answers, its probe fails: 1
            _case("Probes failing", {UP: "1 1 1", PROBE: "1 0 0"}, [1]),
            # the exporter answers, every probe succeeds: 0, not "no data"
            _case("Probes failing", {UP: "1 1 1", PROBE: "1 1 1"}, [0]),
            # the scrape fails: its series go stale; the tile gets nothing ("exporter down")
            _case("Probes failing", {UP: "1 1 0", PROBE: "0 0 stale"}, []),
            # no exporter scraped at all: nothing either, never a reassuring 0
            _case("Probes failing", {PROBE: "1 1 1"}, []),
        ],
    )
    tile = _panels()["Probes failing"]
    (special,) = [x for x in tile["fieldConfig"]["defaults"]["mappings"] if x["type"] == "special"]
    assert special["options"]["result"]["text"] == "exporter down"
    assert special["options"]["result"]["color"] == s.CRITICAL


def test_exporter_up_tile_reads_down_when_the_exporter_fails_or_vanishes(tmp_path: Path) -> None:
    _run(
        tmp_path,
        [
            _case("Exporter up", {UP: "1 1 1"}, [1]),
            _case("Exporter up", {UP: "1 1 0"}, [0]),
            # the target left the config (or service discovery): absent reads as down
            _case("Exporter up", {PROBE: "1 1 1"}, [0], labels='{job="redline"}'),
        ],
    )
    mapping = _panels()["Exporter up"]["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert (mapping["0"]["text"], mapping["1"]["text"]) == ("down", "up")


def test_paging_verdict_is_green_only_while_the_rules_are_evaluated(tmp_path: Path) -> None:
    _run(
        tmp_path,
        [
            # Watchdog fires, nothing pages: 0 ("nothing paging", green)
            _case("Paging now", {WATCHDOG: "1 1 1", TICKET: "1 1 1"}, [0]),
            # one page firing
            _case("Paging now", {WATCHDOG: "1 1 1", PAGE: "1 1 1"}, [1]),
            # no Watchdog: Prometheus evaluates no rule, so "nothing paging" would be a lie
            _case("Paging now", {TICKET: "1 1 1"}, []),
            _case("Alerts with a ticket", {WATCHDOG: "1 1 1", TICKET: "1 1 1"}, [1]),
            _case("Alerts with a ticket", {WATCHDOG: "1 1 1"}, [0]),
        ],
    )
    tile = _panels()["Paging now"]
    mappings = tile["fieldConfig"]["defaults"]["mappings"]
    zero = next(x["options"]["0"] for x in mappings if x["type"] == "value")
    assert (zero["text"], zero["color"]) == ("nothing paging", s.OK)
    unknown = next(x["options"]["result"] for x in mappings if x["type"] == "special")
    assert unknown["color"] == s.UNMEASURED


def test_paging_verdict_is_top_left_and_prominent() -> None:
    data = json.loads(OVERVIEW.read_text(encoding="utf-8"))
    first = next(p for p in data["panels"] if p["type"] != "row")
    assert first["title"] == "Paging now"
    assert (first["gridPos"]["x"], first["gridPos"]["y"]) == (0, 1)  # under the first row title
    assert first["gridPos"]["w"] >= max(
        p["gridPos"]["w"] for p in data["panels"] if p["type"] == "stat"
    )


def test_firing_alerts_rows_link_to_their_runbooks() -> None:
    table = _panels()["Firing alerts"]
    (override,) = [
        o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "alertname"
    ]
    (links,) = [p["value"] for p in override["properties"] if p["id"] == "links"]
    (link,) = links
    template = link["url"]
    assert template == f"{s.stack().runbook_url.rstrip('/')}/${{__value.raw}}.md"
    # the template gives the runbook_url annotation of every alert (exporter/rules/model.py)
    for name in s.alerts_spec().alerts:
        url = template.replace("${__value.raw}", name)
        assert url.endswith(f"/{name}.md")
        assert (ROOT / "docs" / "runbooks" / f"{name}.md").is_file(), name
