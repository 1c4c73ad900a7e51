"""Panels that answered the wrong question in review (issue 21), checked on the committed JSON:
the SLO burn rates draw every factor of the alerts, overspent SLOs come first, availability is
the SLI's, one measure per lock-wait panel, counts per interval rather than sliding windows,
variables that filter every panel, no "this month" over a rolling window, and the alerting
pipeline's own health on the redline dashboard.

The availability and per-interval queries are evaluated by the real promtool.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import style as s
from exporter import metrics as m
from exporter.rules import slo as slo_rules
from exporter.rules.spec import seconds

ROOT = Path(__file__).resolve().parent.parent
JSON_DIR = ROOT / "dashboards" / "json"
PATHS = sorted(JSON_DIR.glob("*.json"))


def _dashboard(key: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((JSON_DIR / f"{s.uid(key)}.json").read_text())
    return data


def _rows(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(title of the row it is in, panel) for every panel but rows."""
    out, row = [], ""
    for panel in data["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
            out += [(row, p) for p in panel.get("panels", [])]
        else:
            out.append((row, panel))
    return out


def _panel(key: str, title: str) -> dict[str, Any]:
    return next(p for _, p in _rows(_dashboard(key)) if p["title"] == title)


def _promtool(
    tmp_path: Path,
    series: dict[str, str],
    expr: str,
    expected: list[Any],
    at: tuple[str, ...] = ("10m",),
) -> None:
    """``expr`` evaluated at each time of ``at`` must give ``expected`` (a list per time when
    several are given)."""
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/install-system.sh"
    wanted = expected if len(at) > 1 else [expected]
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": k, "values": v} for k, v in series.items()],
                "promql_expr_test": [
                    {"expr": expr, "eval_time": when, "exp_samples": samples}
                    for when, samples in zip(at, wanted, strict=True)
                ],
            }
        ],
    }
    path = tmp_path / "panel-test.yml"
    path.write_text(yaml.safe_dump(test))
    done = subprocess.run(
        [binary, "test", "rules", str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


# --- SLOs --------------------------------------------------------------------------------------


def test_burn_rates_draw_every_factor_in_its_own_colour() -> None:
    panel = _panel("slos", "Burn rates")
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    spec = s.alerts_spec().alerts[slo_rules.ALERT]
    factors = sorted(float(p.factor) for lvl in spec.levels().values() for p in lvl.windows)
    assert [st["value"] for st in steps[1:]] == factors  # 1, 3, 6, 14.4: all four
    colours = [st["color"] for st in steps]
    assert len(set(colours)) == len(colours), colours
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
    assert panel["fieldConfig"]["defaults"]["unit"] == s.BURN_RATE


def test_slo_table_puts_overspent_slos_first_with_units() -> None:
    table = _panel("slos", "SLOs now")
    (sort,) = table["options"]["sortBy"]
    assert (sort["displayName"], sort["desc"]) == ("budget left", False)
    burn = next(o for o in table["fieldConfig"]["overrides"] if "burn" in o["matcher"]["options"])
    assert {"id": "unit", "value": s.BURN_RATE} in burn["properties"]


# --- Services: availability is the SLI's -------------------------------------------------------


def test_services_availability_counts_only_the_slis_probes(tmp_path: Path) -> None:
    (target,) = _panel("services", "Availability over the time range")["targets"]
    expr = target["expr"].replace("$__range", "10m").replace("$service", ".+")
    sli = {x.sli.probes.service: x.sli.probes.probes for x in s.slos_spec().slos if x.sli.probes}
    assert "tls" not in sli["hotdash-app"] and "health" in sli["hotdash-app"]
    job = 'job="redline", instance="r:9877"'
    series = {
        # the SLI's probes of the app: always up
        f'{m.PROBE_SUCCESS.name}{{{job}, service="hotdash-app", probe="{p}"}}': "1x10"
        for p in sli["hotdash-app"]
    }
    # a probe outside the SLI (the TLS handshake) failing all along does not lower it
    series[f'{m.PROBE_SUCCESS.name}{{{job}, service="hotdash-app", probe="tls"}}'] = "0x10"
    _promtool(tmp_path, series, expr, [{"labels": '{service="hotdash-app"}', "value": 1}])


# --- Database: one measure per panel -----------------------------------------------------------


def test_lock_waits_split_count_and_seconds() -> None:
    panels = [p for _, p in _rows(_dashboard("database")) if p["type"] == "timeseries"]
    waiting = [p for p in panels if m.PG_LOCK_WAITING.name in json.dumps(p["targets"])]
    longest = [p for p in panels if m.PG_LOCK_WAIT_MAX.name in json.dumps(p["targets"])]
    assert len(waiting) == len(longest) == 1 and waiting[0] is not longest[0]
    assert waiting[0]["fieldConfig"]["defaults"]["unit"] == s.COUNT
    assert longest[0]["fieldConfig"]["defaults"]["unit"] == s.SECONDS


# --- counts over time: fixed intervals, not sliding windows ------------------------------------


def _timeseries() -> list[tuple[str, dict[str, Any]]]:
    return [
        (json.loads(p.read_text())["uid"], panel)
        for p in PATHS
        for _, panel in _rows(json.loads(p.read_text()))
        if panel["type"] == "timeseries"
    ]


@pytest.mark.parametrize(("uid", "panel"), _timeseries(), ids=lambda x: x if isinstance(x, str) else x["title"])  # fmt: skip  # noqa: E501
def test_graphs_count_per_interval_not_over_sliding_windows(uid: str, panel: dict[str, Any]) -> None:  # fmt: skip  # noqa: E501
    """increase() over the whole range at every point of a graph, or over $__rate_interval
    (longer than the step) as bars, counts one event at several points: a graph of counts
    uses increase(...[$__interval]) with its min interval (one bar per interval), or a
    window its title names (the alert's)."""
    for t in panel["targets"]:
        expr = t["expr"]
        assert "[$__range]" not in expr, f"{uid} / {panel['title']}: {expr}"
        assert not re.search(r"increase\([^\[]*\[\$__rate_interval\]", expr), panel["title"]
        if "[$__interval]" in expr:
            assert seconds(panel["interval"]) >= 2 * seconds(s.stack().scrape_interval)
            assert panel["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars"


def test_pings_and_oom_lines_are_bars_per_interval(tmp_path: Path) -> None:
    """One ping between minutes 2 and 3 shows as 1 in the bar of its 2-minute interval
    (ending at 4m), and in no other: the bars add up to the pings (a sliding increase over the
    range showed it at every point for the whole range)."""
    (success, *_) = _panel("backups-vendors", "Pings")["targets"]
    expr = success["expr"].replace("$__interval", "2m")
    labels = '{heartbeat="nightly", instance="r", job="redline"}'
    name = f"{m.HEARTBEAT_SUCCESSES.name}{labels}"
    bars = [[{"labels": labels, "value": v}] for v in (0, 1, 0, 0, 0)]
    _promtool(tmp_path, {name: "0 0 0 1 1 1 1 1 1 1 1"}, expr, bars,
              at=("2m", "4m", "6m", "8m", "10m"))  # fmt: skip
    oom = _panel("launch", "Out-of-memory lines")
    assert "[$__interval]" in oom["targets"][0]["expr"]
    assert oom["fieldConfig"]["defaults"]["custom"]["drawStyle"] == "bars"


# --- variables and words -----------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_every_panel_honours_the_dashboards_variables(path: Path) -> None:
    """A panel under a variable's control that ignores it shows the wrong figures as if they
    were the selection's; a row (title) or panel (description) that cannot apply them says
    so: "... does not apply"."""
    data = json.loads(path.read_text())
    names = [v["name"] for v in data["templating"]["list"] if v["type"] == "query"]
    if not names:
        return
    for row, panel in _rows(data):
        if panel["type"] == "text" or "does not apply" in row + panel["description"]:
            continue
        exprs = " ".join(t["expr"] for t in panel["targets"])
        used = [n for n in names if re.search(rf"\${n}\b|\$\{{{n}\}}", exprs)]
        assert used, f"{panel['title']} ignores the variables {names}"


def test_no_month_over_a_rolling_window() -> None:
    """The SLO window is 30 rolling days: a panel calling it "this month" lies on the 1st."""
    for path in PATHS:
        data = json.loads(path.read_text())
        for _, panel in _rows(data):
            text = f"{panel['title']} {panel.get('description', '')}".lower()
            if "this month" in text:
                assert data["time"]["from"] == "now/M", f"{panel['title']}: {text}"


# --- the alerting pipeline's own health --------------------------------------------------------


def test_redline_dashboard_shows_the_alerting_pipeline() -> None:
    exprs = " ".join(
        t["expr"] for _, p in _rows(_dashboard("redline")) for t in p.get("targets", [])
    )
    for metric in (
        s.PROMETHEUS_RULE_FAILURES,
        s.ALERTMANAGER_NOTIFICATIONS_FAILED,
        s.PROMETHEUS_RELOAD_OK,
        s.ALERTMANAGER_RELOAD_OK,
    ):
        assert metric.name in exprs, metric.name
    assert f'alertname="{s.WATCHDOG}"' in exprs
    watchdog = _panel("redline", "Watchdog")
    special = [x for x in watchdog["fieldConfig"]["defaults"]["mappings"] if x["type"] == "special"]
    assert special[0]["options"]["result"] == {
        "text": "NOT FIRING",
        "color": s.CRITICAL,
        "index": 100,
    }
