"""The product speaks of itself only: no doc, rule, config, dashboard or comment of the repository
cites a file outside it (the design notes it was started from, a sibling directory), so every
reason a reader is pointed to is one they can open. The business targets those citations stood
for live in docs/targets.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# what the repository is made of; generated files included (they carry their sources' words)
TREES = ("alert_rules", "alertmanager", "bench", "config", "dashboards", "deploy", "docs",
         "exporter", "prometheus", "scripts", "tests")  # fmt: skip
SUFFIXES = {".md", ".py", ".yml", ".yaml", ".json", ".sh", ".txt", ".toml", ".cfg", ""}
OUTSIDE = re.compile(r"DESIGN\.md|\bDESIGN\b|\.\./shared|/work/shared")
# the tests that search for the words themselves
SELF = {Path(__file__).name, "test_docs.py"}


def _files() -> list[Path]:
    out = [ROOT / "README.md", ROOT / "Makefile", ROOT / "docker-compose.yml"]
    for tree in TREES:
        for path in (ROOT / tree).rglob("*"):
            if path.is_file() and path.suffix in SUFFIXES and path.name not in SELF:
                out.append(path)
    return [p for p in out if p.exists()]


def test_nothing_cites_a_file_outside_the_repository() -> None:
    files = _files()
    assert len(files) > 200
    found = []
    for path in files:
        for n, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        ):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not found, "\n".join(found)


def test_the_targets_are_in_the_repository() -> None:
    text = (ROOT / "docs" / "targets.md").read_text()
    for target in ("99.9%", "99.95%", "43.2 min", "p95 1 s", "below 0.1%", "RPO below 1 hour"):
        assert target in text, target
