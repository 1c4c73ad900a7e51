"""Every notification text of the generated alertmanager.yml, rendered by Alertmanager's own
template engine (``amtool template render``, the real Debian amtool), for the groups an on-call
actually gets: one alert, several alerts whose summaries differ (two probes of a service down),
and a resolved group.

PagerDuty refuses an event without a summary (HTTP 400, not retried): a page with an empty
description is a page lost. A group of differing alerts has no common summary, which is what
``{{ .CommonAnnotations.summary }}`` alone rendered, empty. Fails (never skips) when amtool is
missing: ``make test`` installs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.rules.spec import ROOT

CONFIG = ROOT / "alertmanager" / "alertmanager.yml"


def _alert(status: str, probe: str, summary: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": "ServiceDown",
            "service": "agent-service",
            "probe": probe,
            "severity": "page",
        },
        "annotations": {
            "summary": summary,
            "description": f"The {probe} probe of agent-service has failed every scrape.",
            "runbook_url": "https://git.example/redline/blob/main/docs/runbooks/ServiceDown.md",
            "dashboard": "http://localhost:3000/d/redline-services",
        },
        "startsAt": "2026-12-07T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": probe,
    }


def _data(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Alertmanager's template data for a group: common labels and annotations are those every
    alert has with the same value (notify.go's computation)."""

    def common(key: str) -> dict[str, str]:
        first = alerts[0][key]
        return {k: v for k, v in first.items() if all(a[key].get(k) == v for a in alerts)}

    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "oncall",
        "status": "firing" if firing else "resolved",
        "alerts": alerts,
        "groupLabels": {"alertname": "ServiceDown", "service": "agent-service"},
        "commonLabels": common("labels"),
        "commonAnnotations": common("annotations"),
        "externalURL": "http://alertmanager:9093",
    }


GROUPS = {
    "one alert": [_alert("firing", "health", "agent-service is down (health probe failing)")],
    "differing alerts": [
        _alert("firing", "health", "agent-service is down (health probe failing)"),
        _alert("firing", "queue", "agent-service is down (queue probe failing)"),
    ],
    "resolved": [
        _alert("resolved", "health", "agent-service is down (health probe failing)"),
        _alert("resolved", "queue", "agent-service is down (queue probe failing)"),
    ],
}


def _texts(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every templated string of the receivers, by its path in the config."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _texts(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _texts(v, f"{path}[{i}]")
    elif isinstance(node, str) and "{{" in node:
        yield path, node


def render(template: str, data: dict[str, Any], tmp: Path) -> str:
    amtool = shutil.which("amtool")
    assert amtool, "amtool is missing: run scripts/install-system.sh"
    (tmp / "data.json").write_text(json.dumps(data))
    result = subprocess.run(
        [
            amtool,
            "template",
            "render",
            "--template.glob=/dev/null",
            f"--template.data={tmp / 'data.json'}",
            f"--template.text={template}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, f"{template!r}: {result.stderr}"
    return result.stdout


def _receiver_texts() -> list[tuple[str, str]]:
    config = yaml.safe_load(CONFIG.read_text())
    return [t for r in config["receivers"] for t in _texts(r, r["name"])]


def test_there_are_texts_to_check() -> None:
    paths = [p for p, _ in _receiver_texts()]
    assert any(p.endswith(".description") for p in paths), paths  # PagerDuty's summary
    assert any(p.endswith(".title") for p in paths), paths  # Slack's


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_notification_text_renders_non_empty(group: str, tmp_path: Path) -> None:
    data = _data(GROUPS[group])
    for path, template in _receiver_texts():
        out = render(template, data, tmp_path).strip()
        assert out, f"{path} renders empty for a group of {group}: {template!r}"
        assert "<no value>" not in out, f"{path}: {out!r}"


def test_the_pagerduty_summary_of_a_grouped_page_says_what_is_down(tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    (oncall,) = [r for r in config["receivers"] if r["name"] == "oncall"]
    (pd,) = oncall["pagerduty_configs"]
    out = render(pd["description"], _data(GROUPS["differing alerts"]), tmp_path)
    assert out.startswith("ServiceDown (agent-service): agent-service is down"), out
    assert "2 alerts" in out, out
    one = render(pd["description"], _data(GROUPS["one alert"]), tmp_path)
    assert one == "ServiceDown (agent-service): agent-service is down (health probe failing)"
    for link in pd["links"]:
        assert render(link["href"], _data(GROUPS["differing alerts"]), tmp_path).startswith(
            "http"
        ), link
