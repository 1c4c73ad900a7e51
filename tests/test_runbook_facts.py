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
