"""What ``make generate`` (exporter/generate.py) refuses, run on a copy of the files it reads:
the error names the file, the line and the path of the value, and nothing is written."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from exporter import generate
from exporter.rules.spec import ROOT

# LogErrorRateHigh's page level as alert_rules/alerts.yml writes it
PAGE = "page: {for: 5m, window: 5m, threshold: 5%, guard: 20, min_bad: 5}"


def _copy(tmp_path: Path) -> Path:
    """The parts of the repository make generate reads before it writes anything."""
    for d in ("config", "alert_rules", "docs"):
        shutil.copytree(ROOT / d, tmp_path / d)
    return tmp_path


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _refused(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    alert: str,
    old: str,
    new: str,
) -> tuple[int, str]:
    """Run make generate on ``root`` with ``old`` (a level line of ``alert`` in alerts.yml)
    replaced by ``new``: its refusal (stderr) and the line that was changed. Nothing may be
    written or printed on stdout."""
    alerts = root / "alert_rules" / "alerts.yml"
    text = alerts.read_text()
    block = text.index(f"\n  {alert}:\n")
    at = text.index(old, block)
    end = text.find("\n\n", block)  # the alert's block ends at a blank line, or the file's end
    assert at < (len(text) if end == -1 else end)  # a line of this alert's own block
    alerts.write_text(text[:at] + new + text[at + len(old) :])
    line = text[:at].count("\n") + 1
    before = _files(root)

    monkeypatch.setattr(generate, "ROOT", root)
    assert generate.main() == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert _files(root) == before  # nothing written, nothing created
    assert not re.search(r"Traceback", err)
    return line, err


def test_log_error_rate_min_bad_above_its_guard_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """min_bad counts every 5xx (redline's probes' too), the guard the users' requests: the
    rule's reasoning (exporter/rules/alerts/logs.py) holds only with min_bad at most the guard.
    The refusal used to say neither the line nor the value's path."""
    line, err = _refused(
        _copy(tmp_path),
        monkeypatch,
        capsys,
        "LogErrorRateHigh",
        PAGE,
        PAGE.replace("min_bad: 5}", "min_bad: 21}"),
    )
    assert err == (
        f"error: alert_rules/alerts.yml:{line}: alerts.LogErrorRateHigh.page.min_bad: 21 is "
        "above the guard (20, alerts.LogErrorRateHigh.page.guard): min_bad counts every 5xx and "
        "the guard the users' requests; it must be at most the guard\n"
    )


# The ratio alerts of exporter/rules/alerts/services.py, as alerts.yml writes their levels
RATIO_TICKET = "ticket: {for: 10m, window: 15m, threshold: 1%, guard: 20, min_bad: 3}"
RATIO_PAGE = "page: {for: 10m, window: 15m, threshold: 5%, guard: 20, min_bad: 5}"


@pytest.mark.parametrize(
    ("alert", "severity", "level", "why"),
    [
        (
            "AgentJobsFailing",
            "ticket",
            RATIO_TICKET,
            "min_bad counts failed jobs and the guard finished jobs, the failed ones among them: "
            "above the guard, the guard never decides",
        ),
        (
            "MCPToolErrorRateHigh",
            "page",
            RATIO_PAGE,
            "min_bad counts failed calls and the guard calls, the failed ones among them: "
            "above the guard, the guard never decides",
        ),
    ],
)
def test_ratio_alert_min_bad_above_its_guard_is_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    alert: str,
    severity: str,
    level: str,
    why: str,
) -> None:
    """The same pair in the error-ratio alerts: their errors are among the events the guard
    counts (config/hotrod.yml: processedCount is the jobs finished, completed or failed), so a
    min_bad above the guard makes the guard a setting that never decides."""
    line, err = _refused(
        _copy(tmp_path), monkeypatch, capsys, alert, level, level.replace("guard: 20", "guard: 2")
    )
    min_bad = level.rpartition("min_bad: ")[2].rstrip("}")
    assert err == (
        f"error: alert_rules/alerts.yml:{line}: alerts.{alert}.{severity}.min_bad: {min_bad} is "
        f"above the guard (2, alerts.{alert}.{severity}.guard): {why}; it must be at most the "
        "guard\n"
    )
