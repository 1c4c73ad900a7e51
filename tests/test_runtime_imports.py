"""`redline run` is the exporter only: the repository's tooling (grafanalib for dashboards/,
matplotlib for capacity charts, the generators and the demo) is never imported by it, so the
installed runtime stays small and a missing dev dependency cannot break monitoring."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

from tests.pg import free_port

# Modules `redline run` must never import; each is repository tooling (docs/architecture.md).
TOOLING = ("grafanalib", "matplotlib", "exporter.demo", "exporter.generate", "dashboards")


def test_redline_run_imports_no_tooling() -> None:
    port = free_port()
    # the embedded config: every source kind, targets on loopback only
    proc = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "exporter",
            "run",
            "--web.listen-address",
            f"127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/metrics",
                    headers={"X-Prometheus-Scrape-Timeout-Seconds": "3"},
                )
                with urllib.request.urlopen(req, timeout=10) as resp:
                    body = resp.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "probe_success" in body, "the exporter never answered a scrape"
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "exporter.app" in imported  # the list is real: it holds the exporter's own modules
    found = sorted(
        name for name in imported if any(name == t or name.startswith(t + ".") for t in TOOLING)
    )
    assert found == [], f"`redline run` imported tooling: {found}"
