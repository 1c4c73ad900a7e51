"""Whole-repository hygiene that no other test owns: a merge that left its conflict markers in a
tracked file must fail the suite (docs and YAML are not parsed by every test)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)


def test_no_tracked_file_holds_merge_conflict_markers() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for rel in files:
        path = ROOT / rel
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (images) cannot hold a text merge
        if m := MARKER.search(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append(f"{rel}:{line}")
    assert found == []
