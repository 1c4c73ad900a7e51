"""The dashboards as Grafana reads them, without a Grafana: every committed JSON is a valid
dashboard model (unique uid, unique panel ids, no overlapping grid positions, every datasource
and variable reference resolvable), generation is byte-for-byte reproducible and equals the
committed files, names and thresholds come from their single sources, and docker-compose.yml
is a valid Compose file whose mounts exist. (tests/test_dashboards_queries.py runs every query.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from dashboards import build
from dashboards import style as s
from exporter import metrics as m
from exporter.config import JsonProbe, load_config
from exporter.rules.alerts import monitoring

ROOT = Path(__file__).resolve().parent.parent
JSON_DIR = ROOT / "dashboards" / "json"
PATHS = sorted(JSON_DIR.glob("*.json"))
# The Compose specification's JSON schema, vendored: compose/config/compose_spec.json of Docker's
# docker-compose 1.29.2 (PyPI; the compose-spec project's schema of that release, Apache-2.0).
COMPOSE_SCHEMA = ROOT / "tests" / "fixtures" / "compose" / "compose-spec.json"
PANEL_TYPES = {"row", "stat", "timeseries", "table", "state-timeline", "text"}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def datasource_refs(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "datasource":
                yield v
            yield from datasource_refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from datasource_refs(v)


# --- generation -------------------------------------------------------------------------------


def test_generation_is_reproducible_and_committed() -> None:
    first, second = build.build(), build.build()
    assert first == second
    assert build.stale() == [], "run `make dashboards` and commit dashboards/"
    assert len(PATHS) == len(s.TITLES)
    for text in first.values():
        assert text.endswith("\n") and not text.endswith("\n\n")


@pytest.mark.parametrize("seed", ["0", "1"])
def test_a_fresh_process_builds_the_same_bytes(seed: str) -> None:
    """``make dashboards`` in a new interpreter (another hash seed: no set order leaks into the
    output) finds nothing to change."""
    env = {**os.environ, "PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-m", "dashboards.build", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_json_is_sorted_and_indented() -> None:
    for path in PATHS:
        text = path.read_text(encoding="utf-8")
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2) + "\n", path.name


def test_every_dashboard_alerts_link_to_exists() -> None:
    sources = {p.name[: -len(build.SUFFIX)] for p in build.sources()}
    assert sources == set(s.TITLES)
    assert set(s.stack().dashboards) <= sources
    uids = {load(p)["uid"] for p in PATHS}
    assert set(s.stack().dashboards.values()) <= uids


# --- the dashboard model ------------------------------------------------------------------------


def test_uids_are_unique_and_fixed() -> None:
    uids = [load(p)["uid"] for p in PATHS]
    assert len(uids) == len(set(uids))
    for path in PATHS:
        data = load(path)
        assert path.name == f"{data['uid']}.json"
        key = next(k for k in s.TITLES if s.uid(k) == data["uid"])
        assert data["title"] == s.TITLES[key]
        assert re.fullmatch(r"[a-z0-9-]{1,40}", data["uid"])


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_panel_ids_unique_and_types_known(path: Path) -> None:
    data = load(path)
    ids = [p["id"] for p in panels(data)]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, int) and i > 0 for i in ids)
    titles = [p["title"] for p in panels(data)]
    assert len(titles) == len(set(titles))
    for p in panels(data):
        assert p["type"] in PANEL_TYPES, p["title"]
        assert p["type"] in ("row", "text") or p["description"], f"{p['title']}: no description"
        refs = [t["refId"] for t in p.get("targets", [])]
        assert len(refs) == len(set(refs))
        for t in p.get("targets", []):
            assert t["expr"].strip(), p["title"]
        if p["type"] not in ("row", "text"):
            assert p["targets"], f"{p['title']}: no query"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_grid_positions_do_not_overlap(path: Path) -> None:
    data = load(path)
    cells: dict[tuple[int, int], str] = {}
    for p in data["panels"]:
        g = p["gridPos"]
        assert g["w"] >= 1 and g["h"] >= 1 and g["x"] >= 0 and g["y"] >= 0, p["title"]
        assert g["x"] + g["w"] <= 24, f"{p['title']} is wider than the grid"
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_datasource_references_resolve(path: Path) -> None:
    data = load(path)
    variables = {v["name"]: v for v in data["templating"]["list"]}
    ds_var = variables[s.DATASOURCE_VARIABLE]
    assert ds_var["type"] == "datasource" and ds_var["query"] == "prometheus"
    provisioned = yaml.safe_load(
        (ROOT / build.PROVISIONING_DIR / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    assert ds_var["current"]["value"] in {d["uid"] for d in provisioned}
    for ref in datasource_refs({k: v for k, v in data.items() if k != "templating"}):
        if ref is None:
            continue  # text panels; every panel with a query has a datasource (below)
        assert ref == {"type": "prometheus", "uid": "${datasource}"}, ref
    for v in data["templating"]["list"]:
        if v["type"] == "query":
            assert v["datasource"] == s.DATASOURCE
    for p in panels(data):
        if p.get("targets"):
            assert p["datasource"] == s.DATASOURCE, p["title"]
            for t in p["targets"]:
                assert t["datasource"] == s.DATASOURCE, p["title"]
    for a in data["annotations"]["list"]:
        assert a["datasource"] == s.DATASOURCE


VARIABLE_USE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_every_variable_used_is_defined(path: Path) -> None:
    data = load(path)
    defined = {v["name"] for v in data["templating"]["list"]}
    used = set()
    for text in strings({k: v for k, v in data.items() if k != "templating"}):
        for match in VARIABLE_USE.finditer(text):
            name = match.group(1) or match.group(2) or match.group(3)
            if not name.startswith("__"):  # Grafana's own: $__rate_interval, ${__url_time_range}
                used.add(name)
    assert used <= defined, f"undefined variables: {used - defined}"
    # and each defined variable is used somewhere (else it is a control that does nothing)
    assert defined - {s.DATASOURCE_VARIABLE} <= used


def test_links_resolve() -> None:
    uids = {load(p)["uid"] for p in PATHS}
    runbooks = s.stack().runbook_url.rstrip("/")
    for path in PATHS:
        for p in panels(load(path)):
            for link in p.get("links", []):
                url = link["url"]
                if link["title"].startswith("Runbook: "):
                    alert = link["title"][len("Runbook: ") :]
                    assert alert in s.alerts_spec().alerts
                    assert url == f"{runbooks}/{alert}.md"
                else:
                    target = re.match(r"^/d/([a-z0-9-]+)\?\$\{__url_time_range\}", url)
                    assert target and target.group(1) in uids, url


def test_every_alert_has_its_runbook_on_its_dashboard() -> None:
    """Each alert of alert_rules/alerts.yml links (annotation dashboard) to a dashboard on which
    some panel links to its runbook, and that dashboard shows it as an annotation."""
    by_uid = {load(p)["uid"]: load(p) for p in PATHS}
    for name, spec in s.alerts_spec().alerts.items():
        data = by_uid[s.uid(spec.dashboard)]
        titles = [link["title"] for p in panels(data) for link in p.get("links", [])]
        assert f"Runbook: {name}" in titles, f"{name}: no panel of {data['uid']} links its runbook"
        if name != "Watchdog":  # always firing: an annotation would be noise
            annotation = data["annotations"]["list"][0]["expr"]
            # by name, or every alert but Watchdog (the overview's all_alerts)
            every = annotation.endswith(f'alertname!="{s.WATCHDOG}"}}')
            assert every or re.search(rf"[|\"]{name}[|\"]", annotation), name


# --- single sources: names and thresholds ---------------------------------------------------------

PROMQL_WORDS = {
    "abs", "absent", "and", "avg", "avg_over_time", "bool", "bottomk", "by", "ceil", "changes",
    "clamp", "clamp_max", "clamp_min", "count", "count_over_time", "delta", "deriv",
    "group_left", "group_right", "histogram_quantile", "ignoring", "increase", "inf",
    "irate", "label_replace", "max", "max_over_time", "min", "min_over_time", "nan", "offset",
    "on", "or", "predict_linear", "quantile", "quantile_over_time", "rate", "resets", "scalar",
    "sort", "sort_desc", "sum", "time", "topk", "unless", "vector", "without",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (strings, matchers, ranges, grouping
    labels and numbers removed; what is left that is not a PromQL word is a name)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\b\d+(\.\d+)?(e[+-]?\d+)?\b", "", text)
    return {t for t in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text) if t not in PROMQL_WORDS}


def known_names() -> set[str]:
    names = set()
    for metric in (*m.ALL, *m.PLATFORM_SERIES):
        names.add(metric.name)
        if metric.type == "histogram":
            names.update(metric.name + suffix for suffix in ("_bucket", "_count", "_sum"))
    config, _ = load_config(ROOT / "config" / "hotrod.yml")
    for service in config.services:
        for probe in service.probes:
            if isinstance(probe, JsonProbe):
                names.update(m.JSON_METRIC_PREFIX + spec.name for spec in probe.metrics)
    third_party = (
        s.ALERTS,
        s.PROMETHEUS_UP,
        s.SCRAPE_DURATION,
        s.PROCESS_CPU,
        s.PROCESS_OPEN_FDS,
        s.PROCESS_RESIDENT_MEMORY,
        *s.PIPELINE_METRICS,
    )
    names.update(x.name for x in third_party)
    names.update(x.name for x in monitoring.METRICS)  # Prometheus's and Alertmanager's own
    names.update(x.name for x in s.recorded_slo_metrics())
    return names


def test_metric_names_in_promql_parsing() -> None:
    expr = (
        'sum by (service, le) (rate(redline_http_request_duration_seconds_bucket{route="a|b"}'
        "[$__rate_interval])) / on (slo) group_left (query) slo:error_budget:ratio * 1e-06"
    )
    assert metric_names(expr) == {
        "redline_http_request_duration_seconds_bucket",
        "slo:error_budget:ratio",
    }


def test_queries_use_only_defined_names() -> None:
    """No dashboard spells a name that exporter/metrics.py (or the config's JSON metrics, or the
    few series redline does not define, in dashboards/style.py) does not define."""
    known = known_names()
    unknown = {}
    for path in PATHS:
        data = load(path)
        exprs = [t["expr"] for p in panels(data) for t in p.get("targets", [])]
        exprs += [a["expr"] for a in data["annotations"]["list"]]
        exprs += [
            re.fullmatch(r"label_values\((.+), \w+\)", v["query"]).group(1)  # type: ignore[union-attr]
            for v in data["templating"]["list"]
            if v["type"] == "query"
        ]
        for expr in exprs:
            for name in metric_names(expr) - known:
                unknown[name] = f"{path.name}: {expr}"
    assert not unknown, unknown


def test_slo_recording_rules_exist() -> None:
    """The SLO series the dashboards read are recorded in prometheus/rules (exporter/rules)."""
    recorded: set[str] = set()
    for rules in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(rules.read_text())["groups"]:
            recorded.update(r["record"] for r in group["rules"] if "record" in r)
    wanted = {x.name for x in s.recorded_slo_metrics()}
    assert wanted <= recorded, wanted - recorded


def _panel(uid: str, title: str) -> dict[str, Any]:
    data = load(JSON_DIR / f"{uid}.json")
    return next(p for p in panels(data) if p["title"] == title)


def _steps(panel: dict[str, Any]) -> list[tuple[Any, str]]:
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(step["value"], step["color"]) for step in steps]


def test_thresholds_come_from_the_alert_spec() -> None:
    alerts = s.alerts_spec().alerts

    def value(alert: str, severity: str) -> float:
        threshold = alerts[alert].level(severity).threshold  # type: ignore[arg-type]
        assert isinstance(threshold, Decimal)
        return float(threshold)

    assert _steps(_panel("redline-hosts", "CPU busy")) == [
        (None, s.OK),
        (value("HostCPUHigh", "ticket"), s.WARNING),
        (value("HostCPUHigh", "page"), s.CRITICAL),
    ]
    assert _steps(_panel("redline-database", "Cache hit ratio")) == [
        (None, s.WARNING),
        (value("PostgresCacheHitRatioLow", "ticket"), s.OK),
    ]
    assert _steps(_panel("redline-services", "Certificate expires in")) == [
        (None, s.CRITICAL),
        (value("TLSCertificateExpiring", "page"), s.WARNING),
        (value("TLSCertificateExpiring", "ticket"), s.OK),
    ]
    budget = next(b for b in alerts["ServiceLatencyHigh"].budgets if b.probe == "health")
    tile = _panel("redline-overview", "App latency against its budget")
    assert _steps(tile) == [
        (None, s.OK),
        (float(budget.ticket), s.WARNING),
        (float(budget.page or 0), s.CRITICAL),
    ]


# --- provisioning and docker-compose.yml -------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_file_is_valid_against_the_compose_schema() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/")
    jsonschema.Draft201909Validator.check_schema(schema)
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_schema_rejects_a_broken_file() -> None:
    """The schema check has teeth: an unknown key and a wrong type are errors."""
    validator = jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    broken = compose()
    broken["services"]["grafana"]["volumez"] = []
    broken["services"]["prometheus"]["restart"] = 3
    assert len(list(validator.iter_errors(broken))) >= 2


def _binds(service: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            yield source, target


def test_compose_mounts_exist_and_match_the_provisioning() -> None:
    data = compose()
    named = set(data.get("volumes", {}))
    for name, service in data["services"].items():
        assert ":" in service["image"] and not service["image"].endswith(":latest"), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, not in the repository"
            else:
                assert source in named, f"{name} mounts an undeclared volume {source}"
        for dep in service.get("depends_on", []):
            assert dep in data["services"], f"{name} depends on unknown {dep}"
    grafana = dict(_binds(data["services"]["grafana"]))
    assert grafana["./dashboards/json"] == build.CONTAINER_DASHBOARDS
    assert grafana["./dashboards/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load(
        (ROOT / build.PROVISIONING_DIR / "dashboards" / "redline.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == build.CONTAINER_DASHBOARDS
    home = data["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{build.CONTAINER_DASHBOARDS}/{s.uid('overview')}.json"
    prometheus = dict(_binds(data["services"]["prometheus"]))
    assert prometheus["./prometheus"] == "/etc/prometheus"
    assert (
        "--config.file=/etc/prometheus/prometheus.yml" in data["services"]["prometheus"]["command"]
    )
    alertmanager = dict(_binds(data["services"]["alertmanager"]))
    assert alertmanager["./alertmanager/alertmanager.yml"] == "/etc/alertmanager/alertmanager.yml"


def test_compose_passes_every_variable_the_config_needs() -> None:
    needed = set(re.findall(r"\$\{([A-Z_]+)\}", (ROOT / "config" / "hotrod.yml").read_text()))
    passed = {e.split("=")[0] for e in compose()["services"]["exporter"]["environment"]}
    assert needed <= passed, needed - passed


def test_compose_addresses_match_the_stack() -> None:
    """Host networking: the addresses of alert_rules/stack.yml are where the containers listen."""
    data = compose()
    stack = s.stack()
    for service in data["services"].values():
        assert service["network_mode"] == "host"
    port = lambda address: address.rsplit(":", 1)[1]  # noqa: E731
    assert f"127.0.0.1:{port(stack.prometheus[0])}" in " ".join(
        data["services"]["prometheus"]["command"]
    )
    assert f"127.0.0.1:{port(stack.alertmanagers[0])}" in " ".join(
        data["services"]["alertmanager"]["command"]
    )
    assert f"127.0.0.1:{port(stack.exporters[0].address)}" in " ".join(
        data["services"]["exporter"]["command"]
    )
    assert stack.grafana_url.endswith(
        data["services"]["grafana"]["environment"]["GF_SERVER_HTTP_PORT"]
    )
    datasource = yaml.safe_load(
        (ROOT / build.PROVISIONING_DIR / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == f"http://{stack.prometheus[0]}"
    assert datasource["uid"] == s.PROVISIONED_DATASOURCE["uid"]
    assert datasource["jsonData"]["timeInterval"] == stack.scrape_interval
