"""The restore test on make demo's real backups, and the corrupt-dump drill, end to end: the whole
demo stack on loopback (run under the machine-wide demo lock: `flock /tmp/redline-demo.lock`).

First the scheduled restore test passes on the backup job's real pg_dump files, with its RTO
measured and shown on the status page and in /metrics; then the drill makes the job write dumps
cut short (checksummed as they are, so the integrity checks still pass): exactly one alert,
BackupRestoreFailed, reaches its receiver with its runbook, and the first good dump after
healing resolves it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exporter.demo import drills, layout

ROOT = Path(__file__).resolve().parent.parent
DEMO = [sys.executable, "-m", "exporter.demo.run"]


@pytest.fixture(scope="module")
def stack() -> Iterator[None]:
    started = subprocess.run(
        [*DEMO, "start"], capture_output=True, text=True, timeout=180, cwd=ROOT, check=False
    )
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield
    finally:
        subprocess.run([*DEMO, "stop"], capture_output=True, timeout=120, cwd=ROOT, check=False)


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_restore_test_passes_on_the_demos_real_backups(
    stack: None, capsys: pytest.CaptureFixture[str]
) -> None:
    deadline = time.time() + 120
    while True:
        (test,) = _json(f"{layout.EXPORTER_URL}/status.json")["restore_tests"]
        if test["state"] != "unknown" or time.time() > deadline:
            break
        time.sleep(2)
    assert test["state"] == "up", test
    assert test["file"].startswith(str(layout.BACKUP_DIR)) and test["size_bytes"] > 1024
    assert 0 < test["rto_seconds"] < 60
    checks = {c["name"]: c["status"] for c in test["checks"]}
    assert checks["database"] == "ok" and checks["tables"] == "ok"
    # the counts the job took in the dump's own snapshot are the reference, exactly
    assert checks["row_count:public.orders"] == "ok"
    assert test["newest_row_age_seconds"] is not None and test["newest_row_age_seconds"] < 120
    report = Path(test["report"]).read_text()
    assert "PASS" in report and "measured RTO" in report
    assert (layout.SECRETS_DIR / "restore-password").read_text().strip() not in report
    with capsys.disabled():
        phases = ", ".join(f"{k} {v:.2f}s" for k, v in test["phases"].items())
        print(
            f"\nrestore test of the demo's {test['size_bytes']} B dump: measured RTO "
            f"{test['rto_seconds']:.2f}s ({phases}); newest row "
            f"{test['newest_row_age_seconds']:.0f}s old"
        )


def test_corrupt_dump_drill_pages_once_and_resolves(
    stack: None, capsys: pytest.CaptureFixture[str]
) -> None:
    drill = drills.run_scenario("backup-unrestorable", log=lambda _: None)
    path = drills.write_report(drill)
    with capsys.disabled():
        print(f"\n{drills.summary(drill)} (report {path.relative_to(ROOT)})")
    assert drill.passed, drill.report()
    (notified,) = [c for c in drill.checks if c.check == "notified"]
    assert "to vendors-jobs" in notified.observed
    assert "/BackupRestoreFailed.md" in notified.observed
    (silent,) = [c for c in drill.checks if c.check == "silent"]
    assert silent.ok and silent.observed == "none", silent.observed
    (resolved,) = [c for c in drill.checks if c.check == "resolved"]
    assert resolved.ok and resolved.seconds is not None
