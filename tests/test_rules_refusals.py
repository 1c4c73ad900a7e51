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


def test_log_error_rate_min_bad_above_its_guard_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """min_bad counts every 5xx (redline's probes' too), the guard the users' requests: the
    rule's reasoning (exporter/rules/alerts/logs.py) holds only with min_bad at most the guard.
    The refusal used to say neither the line nor the value's path."""
    root = _copy(tmp_path)
    alerts = root / "alert_rules" / "alerts.yml"
    text = alerts.read_text()
    block = text.index("\n  LogErrorRateHigh:\n")
    at = text.index(PAGE, block)
    alerts.write_text(
        text[:at] + PAGE.replace("min_bad: 5}", "min_bad: 21}") + text[at + len(PAGE) :]
    )
    line = text[:at].count("\n") + 1
    before = _files(root)

    monkeypatch.setattr(generate, "ROOT", root)
    assert generate.main() == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"error: alert_rules/alerts.yml:{line}: alerts.LogErrorRateHigh.page.min_bad: 21 is "
        "above the guard (20, alerts.LogErrorRateHigh.page.guard): min_bad counts every 5xx and "
        "the guard the users' requests; it must be at most the guard\n"
    )
    assert _files(root) == before  # nothing written, nothing created
    assert not re.search(r"Traceback", err)
