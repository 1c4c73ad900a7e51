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


def test_the_installed_package_leaves_the_demo_out(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The wheel carries the exporter and the ops commands, not the demo (a checkout's tool)."""
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        # the venv's pinned setuptools (pyproject.toml's dev extra): no isolated build
        # environment to fetch and install at every run
        [
            *(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"),
            *("-w", str(tmp_path), str(root)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("redline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "exporter/app.py" in names and "exporter/default.yml" in names
    assert [n for n in names if n.startswith("exporter/demo/")] == []


# Runs with exporter.demo unimportable, as in the installed package.
WITHOUT_DEMO = """
import sys
class NoDemo:
    def find_spec(self, name, path=None, target=None):
        if name == "exporter.demo" or name.startswith("exporter.demo."):
            raise ImportError("no demo here")
        return None
sys.meta_path.insert(0, NoDemo())
from exporter import rules
from exporter.ops import baseline, capacity, postmortem
from exporter.cli import main
try:
    main(["demo", "status"])
except SystemExit as e:
    print("EXIT", e.code)
"""


def test_the_ops_commands_work_without_the_demo() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEMO], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "EXIT error: the demo runs from a checkout of the repository: make demo" in result.stdout
