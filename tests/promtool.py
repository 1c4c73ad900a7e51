"""Runs ``promtool check metrics`` on an exposition, as every collector's test does."""

from __future__ import annotations

import shutil
import subprocess

# promtool's linter flags camelCase names, but these are node_exporter's own names (from
# /proc/meminfo), kept identical on purpose so the community's dashboards and alerts work
# (docs/architecture.md, "Naming"); promtool flags node_exporter itself for them. Nothing else
# is allowed.
NODE_EXPORTER_CAMELCASE = "metric names should be written in 'snake_case' not 'camelCase'"
# postgres_exporter's pg_stat_activity_count (docs/architecture.md, "Naming") is a gauge whose
# name ends in _count, which promtool flags on postgres_exporter too; kept for its dashboards.
PG_ACTIVITY_COUNT = (
    'pg_stat_activity_count non-histogram and non-summary metrics should not have "_count" suffix'
)


def promtool_problems(text: str) -> list[str]:
    """promtool's findings on ``text``, less the node_exporter names above. Fails (never
    skips) when promtool is missing: ``make test`` installs it."""
    assert shutil.which("promtool"), "promtool is missing: run scripts/install-system.sh"
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    problems = [
        line
        for line in lines
        if not (line.startswith("node_memory_") and line.endswith(NODE_EXPORTER_CAMELCASE))
        and line != PG_ACTIVITY_COUNT
    ]
    if result.returncode != 0 and not lines:
        problems.append(f"promtool exited {result.returncode} without a message")
    return problems
