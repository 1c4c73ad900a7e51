"""The generated Prometheus config and rules, checked and unit-tested by the real promtool.

``promtool test rules`` runs once over every test file: each alert at its ``for`` boundary (not
firing one evaluation before, firing at it, with its exact labels and annotations), each alert on
a quiet input, and the SLO burn-rate alerts on simulated outages. Fails (never skips) when
promtool is missing: ``make test`` installs it (scripts/install-system.sh).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter.rules.spec import ROOT

PROM = ROOT / "prometheus"

# promtool's rule tests are the suite's largest CPU cost (about 85 s for every test file), much
# of it Go's garbage collector: collecting at 4x the live heap instead of 2x, on one thread,
# took 59 s of CPU instead of 86 s for the same run (peak memory 420 MB instead of 70 MB).
# What promtool evaluates and checks is the same.
PROMTOOL_ENV = {"GOGC": "400", "GOMAXPROCS": "1"}


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: run scripts/install-system.sh"
    return subprocess.run(
        [binary, *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        check=False,
        env={**os.environ, **PROMTOOL_ENV},
    )


def test_prometheus_config_and_its_rule_files_check(tmp_path: Path) -> None:
    # promtool checks that the platforms' token and key files exist: the operator's live in
    # /etc/redline/; here the same config points at stand-in files beside a link to the rules
    text = (PROM / "prometheus.yml").read_text(encoding="utf-8")
    for i, secret in enumerate(re.findall(r"(?:credentials_file|password_file): (\S+)", text)):
        stand_in = tmp_path / f"secret-{i}"
        stand_in.write_text("not-a-secret\n", encoding="utf-8")
        text = text.replace(f": {secret}\n", f": {stand_in}\n")
    (tmp_path / "prometheus.yml").write_text(text, encoding="utf-8")
    (tmp_path / "rules").symlink_to(PROM / "rules")
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    rule_files = sorted((PROM / "rules").glob("*.yml"))
    assert f"SUCCESS: {len(rule_files)} rule files found" in result.stdout, result.stdout


def test_rule_files_pass_check_rules_and_its_lint() -> None:
    files = [str(p) for p in sorted((PROM / "rules").glob("*.yml"))]
    result = promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout and "duplicate" not in result.stdout


@pytest.mark.slow  # promtool runs every rule test file (about a minute)
def test_every_alert_test_passes() -> None:
    files = [str(p) for p in sorted((PROM / "tests").glob("*.yml"))]
    assert len(files) == len(list((PROM / "rules").glob("*.yml")))
    result = promtool("test", "rules", *files)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert result.stdout.count("SUCCESS") == len(files)


PROBES_ALONE = "SLOErrorBudgetBurn {}: redline's probes alone, failing"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("rule_file", "old", "new", "noticed_by"),
    [
        # a longer `for`: the boundary test must notice the page comes later
        ("probes.yml", "for: 2m", "for: 3m", "ServiceDown page: for boundary"),
        # a looser threshold: the firing case's value no longer crosses it
        ("host.yml", "> 0.9", "> 0.96", "HostCPUHigh page: for boundary"),
        # a burn factor changed: the simulated outage fires one evaluation later (a requests SLO:
        # a probe SLO's full outage pages when its min_bad of failed runs is reached, whichever
        # pair's factor)
        (
            "slo-agent-service-requests.yml",
            "/ 0.001 > 6\n",
            "/ 0.001 > 9\n",
            "SLOErrorBudgetBurn page: for boundary",
        ),
        # redline's own requests no longer left out (its probes' runs read nothing): Fly's
        # proxy and the /mcp log lines count them with the users' (issue 21.8)
        (
            "slo-llamaindex-mcp-fly-requests.yml",
            'redline_probe_runs_total{service="llamaindex-mcp"',
            'redline_probe_runs_total{service="nobody"',
            PROBES_ALONE.format("llamaindex-mcp-fly-requests"),
        ),
        (
            "slo-hotdash-app-fly-latency.yml",
            'redline_probe_runs_total{service="hotdash-app"',
            'redline_probe_runs_total{service="nobody"',
            PROBES_ALONE.format("hotdash-app-fly-latency"),
        ),
        (
            "slo-llamaindex-mcp-query-latency.yml",
            'redline_probe_runs_total{service="llamaindex-mcp"',
            'redline_probe_runs_total{service="nobody"',
            PROBES_ALONE.format("llamaindex-mcp-query-latency"),
        ),
        # LogErrorRateHigh's ratio and guard count redline's requests on /mcp and Chatwoot's
        # /api again: the users' 10% reads diluted, and the probes alone, failing, page
        (
            "logs.yml",
            'redline_probe_runs_total{service="llamaindex-mcp"',
            'redline_probe_runs_total{service="nobody"',
            "LogErrorRateHigh: quiet",
        ),
        (
            "logs.yml",
            'redline_probe_runs_total{service="chatwoot"',
            'redline_probe_runs_total{service="nobody"',
            "LogErrorRateHigh: quiet",
        ),
    ],
)
def test_the_tests_notice_a_changed_rule(
    tmp_path: Path, rule_file: str, old: str, new: str, noticed_by: str
) -> None:
    """The committed test file's group(s) named ``noticed_by`` fail on the changed rule, so
    the whole file does (promtool fails a file when any group fails). Only those groups run:
    the whole file took 1 to 7 s of promtool each, a group well under one, and the test now
    also says which of the file's tests notices (test_every_alert_test_passes runs them all
    on the committed rules)."""
    shutil.copytree(PROM, tmp_path / "prometheus")
    path = tmp_path / "prometheus" / "rules" / rule_file
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    tests = tmp_path / "prometheus" / "tests"
    suite = yaml.safe_load((tests / rule_file).read_text())
    suite["tests"] = [group for group in suite["tests"] if group["name"] == noticed_by]
    assert suite["tests"], f"no test named {noticed_by!r} in prometheus/tests/{rule_file}"
    only = tests / f"only-{rule_file}"
    only.write_text(yaml.safe_dump(suite, sort_keys=False))
    result = promtool("test", "rules", str(only))
    assert result.returncode != 0, result.stdout
    assert f"name: {noticed_by}," in result.stderr, result.stderr[-3000:]
