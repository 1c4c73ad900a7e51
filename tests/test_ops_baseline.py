"""`redline baseline` against the real Prometheus holding a day of known shapes
(tests/ops_history.py): availability, quantiles, error ratios and the hourly profile must be the
truth the data was built from, and the threshold verdicts must follow."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter.cli import main
from exporter.config import parse_config
from exporter.demo.servers import Prometheus
from exporter.ops import baseline
from exporter.ops.common import iso, nice_up
from exporter.ops.promapi import PromClient
from tests.ops_history import (
    BASE_END,
    BASE_MINUTES,
    BASE_START,
    OUTAGE,
    agent_duration,
    health_duration,
    history_prom,  # noqa: F401 (fixture)
    page_duration,
    quantile,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """
services:
  - name: hotdash-app
    probes:
      - {name: health, kind: http, url: "http://127.0.0.1:1/health", degraded_after: 250ms,
         timeout: 2s}
      - {name: page, kind: http, url: "http://127.0.0.1:1/app", degraded_after: 800ms,
         timeout: 1s}
  - name: agent-service
    probes:
      - {name: health, kind: http, url: "http://127.0.0.1:1/health", degraded_after: 2s,
         timeout: 2500ms}
  - name: chatwoot
    probes:
      - {name: health, kind: http, url: "http://127.0.0.1:1/rails/health"}
"""


@pytest.fixture(scope="module")
def result(history_prom: Prometheus) -> baseline.Baseline:  # noqa: F811
    config = parse_config(CONFIG, "test.yml")
    return baseline.compute(
        PromClient(history_prom.url), config, "test.yml", BASE_START, BASE_END, ROOT / "alert_rules"
    )


def _probe(b: baseline.Baseline, target: str) -> baseline.ProbeStats:
    return next(p for p in b.probes if f"{p.service}/{p.probe}" == target)


def _verdict(b: baseline.Baseline, threshold: str, subject: str) -> baseline.Verdict:
    found = [v for v in b.verdicts if v.threshold == threshold and v.subject == subject]
    assert len(found) == 1, [(v.threshold, v.subject) for v in b.verdicts]
    return found[0]


def test_probe_availability_and_latency(result: baseline.Baseline) -> None:
    health = _probe(result, "hotdash-app/health")
    assert health.runs == BASE_MINUTES
    assert health.availability == pytest.approx(1 - len(OUTAGE) / BASE_MINUTES, abs=1e-9)
    values = [health_duration(k) for k in range(1, BASE_MINUTES + 1)]
    assert health.latency.p50 == pytest.approx(quantile(values, 0.5), rel=1e-9)
    assert health.latency.p95 == pytest.approx(0.28341, rel=1e-9)
    assert health.latency.p99 == pytest.approx(0.294922, rel=1e-9)
    assert health.latency.max == pytest.approx(max(values))
    assert health.phases["connect"].p95 == pytest.approx(0.004)
    assert set(health.phases) == {"resolve", "connect", "processing", "transfer"}
    assert _probe(result, "agent-service/health").availability == 1.0
    chatwoot = _probe(result, "chatwoot/health")
    assert chatwoot.runs == 0 and chatwoot.availability is None
    assert any("chatwoot/health: no probe_success" in g for g in result.gaps.items)


def test_requests_from_logs(result: baseline.Baseline) -> None:
    app = next(s for s in result.requests if s.service == "hotdash-app")
    assert app.ratio_5xx == pytest.approx(0.02, rel=1e-9)
    assert app.ratio_4xx == pytest.approx(0.02, rel=1e-9)
    # the histogram's counts put p50, p95 and p99 exactly on bucket bounds
    assert (app.latency.p50, app.latency.p95, app.latency.p99) == pytest.approx((0.1, 0.5, 1.0))
    # 100 x (h + 1) requests a minute in hour h
    for hour, rate in enumerate(app.by_hour):
        assert rate == pytest.approx(100 * (hour + 1) / 60, rel=1e-6), hour
    queue = next(s for s in result.requests if s.service == "agent-service")
    assert queue.ratio_5xx == 0.0
    assert queue.latency.p99 == float("inf")  # beyond the largest bucket: shown, not invented
    assert "above the largest bucket" in baseline.to_markdown(result)


def test_threshold_verdicts(result: baseline.Baseline) -> None:
    noisy = _verdict(result, "degraded_after", "hotdash-app/health")
    assert noisy.verdict == "noisy"
    assert noisy.suggested == nice_up(0.294922 * 1.2) == 0.4
    blind = _verdict(result, "degraded_after", "agent-service/health")
    assert blind.verdict == "blind"
    assert blind.suggested == nice_up(2 * max(agent_duration(k) for k in range(1, 12)))
    assert _verdict(result, "degraded_after", "hotdash-app/page").verdict == "noisy"
    page_p99 = quantile([page_duration(k) for k in range(1, BASE_MINUTES + 1)], 0.99)
    timeout = _verdict(result, "timeout", "hotdash-app/page")
    assert timeout.verdict == "noisy" and timeout.suggested == nice_up(2 * page_p99)
    assert _verdict(result, "timeout", "agent-service/health").verdict == "ok"

    # alert thresholds of alert_rules/alerts.yml
    errors = _verdict(result, "LogErrorRateHigh (ticket)", "hotdash-app")
    assert errors.verdict == "noisy" and errors.suggested == pytest.approx(0.025)
    assert _verdict(result, "LogErrorRateHigh (page)", "hotdash-app").verdict == "ok"
    cpu = _verdict(result, "HostCPUHigh (ticket)", "h1")
    assert cpu.verdict == "noisy" and cpu.suggested is None  # 75% busy: add capacity
    assert "add capacity" in cpu.why
    assert _verdict(result, "HostCPUHigh (page)", "h1").verdict == "ok"
    assert _verdict(result, "HostMemoryHigh (ticket)", "h1").verdict == "ok"
    page = _verdict(result, "ServiceLatencyHigh (ticket)", "service=hotdash-app, probe=page")
    assert page.verdict == "noisy"
    agent = _verdict(result, "ServiceLatencyHigh (ticket)", "service=agent-service, probe=health")
    assert agent.verdict == "blind" and "business target" in agent.why
    assert _verdict(result, "PostgresConnectionsHigh (ticket)", "all").verdict == "no data"
    mcp = "llamaindex-mcp / tools"
    assert _verdict(result, "ServiceLatencyHigh (ticket)", mcp).verdict == "no data"


def test_command_writes_yaml_and_markdown(history_prom: Prometheus, tmp_path: Path) -> None:  # noqa: F811
    config = tmp_path / "redline.yml"
    config.write_text(CONFIG)
    code = main(
        [
            "baseline",
            "--prometheus",
            history_prom.url,
            "--window",
            "1d",
            "--at",
            iso(BASE_END),
            "--config.file",
            str(config),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    doc = yaml.safe_load((tmp_path / "out" / "baseline.yml").read_text())
    assert doc["window"]["seconds"] == 86400
    app = doc["services"]["hotdash-app"]
    assert app["probes"]["health"]["availability"] == pytest.approx(0.975)
    assert app["requests"]["ratio_5xx"] == pytest.approx(0.02)
    assert len(app["requests"]["rate_per_second_by_hour_UTC"]) == 24
    verdicts = {(t["threshold"], t["subject"]): t for t in doc["thresholds"]}
    assert verdicts[("degraded_after", "hotdash-app/health")]["suggested"] == 0.4
    assert any("chatwoot/health" in g for g in doc["not_computed"])
    report = (tmp_path / "out" / "baseline.md").read_text()
    assert "| hotdash-app | 98.75% | 945 ms | 1800000 | 2% | 500 ms |" in report
    for section in (
        "## Services",
        "## Probes",
        "## Requests from logs",
        "### Request rate by hour of day",
        "## Thresholds against the baseline",
        "## Could not compute",
    ):
        assert section in report


def test_empty_range_reports_what_is_missing(history_prom: Prometheus) -> None:  # noqa: F811
    config = parse_config(CONFIG, "test.yml")
    empty = baseline.compute(
        PromClient(history_prom.url),
        config,
        "t",
        BASE_START - 400 * 86400,
        BASE_START - 399 * 86400,
        ROOT / "alert_rules",
    )
    assert all(p.availability is None for p in empty.probes)
    assert empty.requests == []
    assert any("no redline_http_requests_total in the window" in g for g in empty.gaps.items)
    assert {v.verdict for v in empty.verdicts} == {"no data"}
    text = baseline.to_markdown(empty)
    assert "n/a" in text and "Traceback" not in text


def test_unreachable_prometheus(tmp_path: Path, capsys) -> None:
    code = main(["baseline", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path)])
    assert code == 1
    assert "cannot reach Prometheus" in capsys.readouterr().err
    assert "nothing was read" in (tmp_path / "baseline.md").read_text()


def test_baseline_judges_the_rules_own_quantity_and_threshold(tmp_path: Path) -> None:
    """The checks come from the catalogue's measures: a threshold changed in alerts.yml is the
    one judged, and the quantity is the rule's own expression (not a copy of it)."""
    import shutil

    from exporter.ops.common import Gaps
    from exporter.rules import alert_list
    from exporter.rules.spec import ROOT

    for d in ("config", "alert_rules"):
        shutil.copytree(ROOT / d, tmp_path / d)
    specs = tmp_path / "alert_rules" / "alerts.yml"
    specs.write_text(specs.read_text().replace("threshold: 70%}", "threshold: 65%}"))
    gaps = Gaps()
    checks = baseline.alert_checks(tmp_path / "alert_rules", gaps)
    cpu = next(c for c in checks if c.alert == "HostCPUHigh" and c.severity == "ticket")
    assert cpu.threshold == 0.65
    catalogue, _ = alert_list(ROOT)
    rule = next(r for a in catalogue if a.name == "HostCPUHigh" for r in a.rules)
    assert rule.measure is not None and rule.measure.quantity in cpu.expr
    assert rule.expr.startswith(rule.measure.quantity)
    assert {c.alert for c in checks} >= {
        "ServiceLatencyHigh",
        "MCPQueryLatencyHigh",
        "LogErrorRateHigh",
        "HostCPUHigh",
        "HostMemoryHigh",
        "HostDiskUsageHigh",
        "PostgresConnectionsHigh",
        "AgentQueueBacklog",
    }
