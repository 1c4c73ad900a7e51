"""What every alert must carry, that its names exist, and that the specs refuse mistakes.

Every alert: a severity of page, ticket or info; a service; a summary and a description with the
live value; a runbook (docs/runbooks/<alert>.md, which must exist) and a dashboard of the list in
alert_rules/stack.yml; a test at the ``for`` boundary of each of its rules and a quiet test. Every
metric an expression reads is one exporter/metrics.py defines (or a JSON gauge the shipped config
reads, or a recording rule of the SLO stage).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from exporter import metrics as m
from exporter import rules
from exporter.config import JsonProbe, load_config
from exporter.rules import templates
from exporter.rules.alerts import monitoring
from exporter.rules.model import Alert
from exporter.rules.spec import ROOT, SpecError, load_alerts, load_stack

RUNBOOKS = ROOT / "docs" / "runbooks"


@pytest.fixture(scope="module")
def alerts() -> list[Alert]:
    catalogue, slo_alerts = rules.alert_list(ROOT)
    return catalogue + slo_alerts


def _generated_rules() -> list[dict[str, object]]:
    out = []
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def test_every_alert_has_severity_service_texts_and_links() -> None:
    stack = load_stack()
    uids = set(stack.dashboards.values())
    alerting = [r for r in _generated_rules() if "alert" in r]
    assert len(alerting) > 50
    for rule in alerting:
        name = rule["alert"]
        labels, notes = rule["labels"], rule["annotations"]
        assert isinstance(labels, dict) and isinstance(notes, dict)
        assert labels["severity"] in ("page", "ticket", "info"), name
        assert "{{ $value" in notes["description"], name
        assert notes["summary"], name
        assert notes["runbook_url"] == f"{stack.runbook_url}/{name}.md", name
        assert notes["dashboard"].rsplit("/d/", 1)[1] in uids, name


def test_every_alert_has_a_runbook_with_the_sections_on_call_needs(alerts: list[Alert]) -> None:
    for name in sorted({a.name for a in alerts}):
        path = RUNBOOKS / f"{name}.md"
        assert path.exists(), f"missing runbook {path.relative_to(ROOT)}"
        text = path.read_text()
        for section in (
            "## What it means for the shop",
            "## First five minutes",
            "## Diagnosis",
            "## Mitigation",
            "## Escalation",
        ):
            assert section in text, f"{path.name}: no {section!r}"
    orphans = {p.stem for p in RUNBOOKS.glob("*.md")} - {a.name for a in alerts} - {"README"}
    assert not orphans, f"runbooks of no alert: {orphans}"


def test_every_alert_carries_a_service_label(alerts: list[Alert]) -> None:
    for alert in alerts:
        for case in alert.cases:
            for exp in case.expect:
                rule = alert.rule(exp.severity, exp.family)
                assert "service" in {**case.labels, **rule.labels}, alert.name


def test_every_rule_is_tested_at_its_boundary_and_every_alert_when_quiet(
    alerts: list[Alert],
) -> None:
    for alert in alerts:
        tested = {(c.expect[0].severity, c.expect[0].family) for c in alert.cases}
        assert tested == {(r.severity, r.family) for r in alert.rules}, alert.name
        assert alert.quiet is not None or alert.name == "Watchdog"


def _known_names() -> set[str]:
    # redline's own series, and the platforms' that Prometheus scrapes from Fly and Supabase
    names = {metric.name for metric in (*m.ALL, *m.PLATFORM_SERIES)} | {"up", "ALERTS"}
    names |= {metric.name for metric in monitoring.METRICS}  # Prometheus's, Alertmanager's own
    for metric in (*m.ALL, *m.PLATFORM_SERIES):
        if metric.type == "histogram":
            names |= {metric.name + s for s in ("_bucket", "_count", "_sum")}
    config, _ = load_config(ROOT / "config" / "hotrod.yml")
    for service in config.services:
        for probe in service.probes:
            if isinstance(probe, JsonProbe):
                names |= {m.JSON_METRIC_PREFIX + spec.name for spec in probe.metrics}
    return names


PROMQL_WORDS = {
    "and", "or", "unless", "on", "ignoring", "by", "without", "bool", "offset",
    "sum", "avg", "max", "min", "count", "rate", "increase", "resets", "vector", "time",
    "avg_over_time", "max_over_time", "sum_over_time", "changes", "quantile_over_time",
    "histogram_quantile", "clamp_min", "count_over_time", "delta",
    "predict_linear", "label_replace", "label_join", "inf", "nan", "absent", "count_values",
}  # fmt: skip


def test_expressions_read_only_defined_metrics() -> None:
    known = _known_names()
    for rule in _generated_rules():
        expr = str(rule["expr"])
        expr = re.sub(r'"[^"]*"', '""', expr)  # label values and strings
        expr = re.sub(r"\{[^}]*\}", "", expr)  # matchers
        expr = re.sub(r"\[[^]]*\]", "", expr)  # ranges
        expr = re.sub(r"\(([a-z_, ]*)\)", "", expr)  # by (...) / on (...) label lists
        for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
            if word in PROMQL_WORDS or word.startswith("slo:"):
                continue
            assert word in known, f"{rule.get('alert') or rule.get('record')}: unknown {word}"


def test_template_rendering_matches_prometheus_humanize() -> None:
    # values and texts of Prometheus's template tests (template/template_test.go)
    assert templates.humanize(0) == "0"
    assert templates.humanize(1.2345e6) == "1.234M"
    assert templates.humanize(0.0012) == "1.2m"
    assert templates.humanize1024(1024) == "1ki"
    assert templates.humanize1024(1048576) == "1Mi"
    assert templates.humanize_duration(0) == "0s"
    assert templates.humanize_duration(1) == "1s"
    assert templates.humanize_duration(60) == "1m 0s"
    assert templates.humanize_duration(3600) == "1h 0m 0s"
    assert templates.humanize_duration(86400 * 2 + 1) == "2d 0h 0m 1s"
    assert templates.humanize_duration(0.25) == "250ms"
    assert templates.humanize_percentage(0.1234567) == "12.35%"
    assert (
        templates.render("{{ $labels.a }} at {{ $value | humanizePercentage }}", {"a": "x"}, 0.5)
        == "x at 50%"
    )
    with pytest.raises(ValueError, match="not supported"):
        templates.check("{{ $value | printf }}")


def _copy_specs(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "alert_rules", tmp_path / "alert_rules")
    return tmp_path / "alert_rules"


def test_a_bad_threshold_is_refused_with_its_path(tmp_path: Path) -> None:
    specs = _copy_specs(tmp_path)
    path = specs / "alerts.yml"
    path.write_text(path.read_text().replace("threshold: 14d", "threshold: fortnight"))
    with pytest.raises(SpecError, match=r"alerts\.yml: alerts\.TLSCertificateExpiring\.ticket"):
        load_alerts(specs)


def test_a_missing_or_unused_alert_spec_is_refused(tmp_path: Path) -> None:
    config, _ = load_config(ROOT / "config" / "hotrod.yml")
    specs = _copy_specs(tmp_path)
    path = specs / "alerts.yml"
    text = path.read_text()
    path.write_text(text.replace("  HostDiskUsageHigh:", "  HostDiskUsageHihg:"))
    with pytest.raises(SpecError, match="HostDiskUsageHigh"):
        rules.alerts.catalog(load_alerts(specs), config, ("SLOErrorBudgetBurn",))


def test_a_routing_typo_is_refused(tmp_path: Path) -> None:
    specs = _copy_specs(tmp_path)
    for d in ("config", "docs"):
        shutil.copytree(ROOT / d, tmp_path / d)
    path = specs / "routing.yml"
    path.write_text(path.read_text().replace('feed="shopify"', 'feed="shopfy"'))
    with pytest.raises(SpecError, match="shopfy"):
        rules.build(tmp_path)


@pytest.mark.parametrize(
    ("auth", "error"),
    [
        ("{scheme: http, tls_config: {ca_file: ca.crt}}", "tls_config needs scheme: https"),
        ("{tls_config: {cert_file: c.crt}}", "cert_file and key_file go together"),
        ("{basic_auth: {username: p, password: hunter2}}", "password"),
    ],
)
def test_a_bad_exporter_auth_is_refused(tmp_path: Path, auth: str, error: str) -> None:
    specs = _copy_specs(tmp_path)
    path = specs / "stack.yml"
    path.write_text(path.read_text() + f"exporter_auth: {auth}\n")
    with pytest.raises(SpecError, match=r"stack\.yml") as e:
        load_stack(specs)
    assert error in str(e.value)
    assert "hunter2" not in str(e.value)


def test_every_paging_alert_has_a_missing_data_companion_or_a_reason(alerts: list[Alert]) -> None:
    """An alert whose series never arrive never fires, and nobody is told: every paging alert
    names the alerts that fire when its input is missing (absent(), staleness, a source or the
    exporter down), or says why it needs none (exporter/rules/alerts/missing.py)."""
    from exporter.rules.alerts.missing import MISSING_DATA

    names = {a.name for a in alerts}
    paging = {a.name for a in alerts if any(r.severity == "page" for r in a.rules)}
    assert len(paging) > 10
    unlisted = sorted(paging - set(MISSING_DATA))
    assert not unlisted, f"paging alerts with no missing-data companion or exemption: {unlisted}"
    for name, (companions, why) in MISSING_DATA.items():
        assert name in names, f"{name} is no alert"
        assert len(why) > 20, f"{name}: say why"
        for companion in companions:
            assert companion in names and companion != name, f"{name}: {companion}?"
    # the companions that watch for absence do: absent() where there is nothing else to read
    generated = _generated_rules()
    for name in ("SLOIndicatorMissing", "RedlineTargetsVanished"):
        assert any("absent(" in str(r["expr"]) for r in generated if r.get("alert") == name)
