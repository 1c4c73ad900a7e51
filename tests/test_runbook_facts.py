"""The facts at the top of each runbook are rendered from the model (exporter/rules/runbooks.py):
a threshold changed in the operator's file reaches the runbook, and hand-written text between
the markers does not survive ``make generate``."""

from __future__ import annotations

import shutil
from pathlib import Path

from exporter import rules
from exporter.rules.runbooks import BEGIN, END, update
from exporter.rules.spec import ROOT


def test_a_budget_changed_in_the_operators_file_reaches_the_runbook(tmp_path: Path) -> None:
    for d in ("config", "alert_rules", "docs"):
        shutil.copytree(ROOT / d, tmp_path / d)
    path = tmp_path / "config" / "hotrod.yml"
    text = path.read_text()
    old = "        degraded_after: 800ms\n"
    assert text.count(old) == 1
    path.write_text(text.replace(old, "        degraded_after: 700ms\n"))
    runbook = rules.build(tmp_path)["docs/runbooks/ServiceLatencyHigh.md"]
    assert "| hotdash-app | page | 0.7 | 1 |" in runbook
    assert "| hotdash-app | page | 0.8 |" not in runbook


def test_every_runbook_carries_the_generated_facts() -> None:
    files = rules.build(ROOT)
    runbooks = [rel for rel in files if rel.startswith("docs/runbooks/") and "README" not in rel]
    assert len(runbooks) > 40
    for rel in runbooks:
        text = files[rel]
        assert text.index(BEGIN) < text.index(END), rel
        assert "**Severity:**" in text[text.index(BEGIN) : text.index(END)], rel


def test_update_replaces_between_the_markers_and_adopts_a_bare_runbook() -> None:
    block = f"{BEGIN}\nnew\n{END}"
    marked = f"# A\n\n{BEGIN}\nold hand edit\n{END}\n\nprose\n"
    assert update(marked, block) == f"# A\n\n{block}\n\nprose\n"
    bare = "# A\n\n**Severity:** page · x\n**Rule:** y\n\nprose\n"
    assert update(bare, block) == f"# A\n\n{block}\n\nprose\n"


def test_alert_texts_take_their_durations_from_the_levels() -> None:
    """A ``for`` or window written by hand in a description drifts from alerts.yml; the
    placeholders ([[for]], [[window]], [[threshold.page|percent]]) are filled from it. The
    string literals of the converted area modules hold no such phrase."""
    import ast
    import re

    pattern = re.compile(r"\b(for|over the last|in the last|in) \d+ (min|minutes|hours?)\b")
    offenders = []
    for area in (
        "pipeline",
        "services",
        "host",
        "logs",
        "database",
        "vendors",
        "backups",
        "platform",
        "restore",
    ):
        path = ROOT / "exporter" / "rules" / "alerts" / f"{area}.py"
        for node in ast.walk(ast.parse(path.read_text())):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and (m := pattern.search(text)):
                offenders.append(f"{area}.py:{node.lineno}: {m.group(0)}")
    assert offenders == []


def test_a_placeholder_naming_a_missing_level_is_refused() -> None:
    import pytest

    from exporter.rules.alerts.common import render_text
    from exporter.rules.spec import AlertSpec, SpecError

    spec = AlertSpec.model_validate({"dashboard": "x", "ticket": {"for": "5m"}})
    assert render_text("for [[for]]", "A", spec) == "for 5 minutes"
    with pytest.raises(SpecError, match=r"A: its text names \[\[for\.page\]\]"):
        render_text("for [[for.page]]", "A", spec)
    with pytest.raises(SpecError, match="no single value"):
        render_text("above [[threshold]]", "A", spec)
