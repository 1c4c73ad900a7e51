"""`make demo` as a newcomer runs it: the stand-ins and the exporter on its embedded config come
up, every probe of the default config succeeds against the healthy stand-ins, promtool accepts
the scrape, and `make demo-stop` ends it all."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from exporter.config import load_config
from tests.promtool import promtool_problems

ROOT = Path(__file__).resolve().parent.parent
DEMO = [sys.executable, "-m", "exporter.demo.run"]


def _demo(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, action], capture_output=True, text=True, timeout=90, cwd=ROOT, check=False
    )


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


def test_demo_starts_probes_everything_and_stops() -> None:
    started = _demo("start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "http://127.0.0.1:9877/metrics" in started.stdout
        assert "make demo-stop" in started.stdout

        request = urllib.request.Request(
            "http://127.0.0.1:9877/metrics",
            headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"},
        )
        with urllib.request.urlopen(request, timeout=15) as resp:
            text = resp.read().decode()

        success = {
            (s.labels["service"], s.labels["probe"]): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "probe_success"
        }
        config, _ = load_config(None)
        expected = {tuple(name.split("/", 1)) for name in config.targets()}
        assert set(success) == expected
        failing = sorted(k for k, v in success.items() if v != 1)
        assert not failing, f"probes failing against healthy stand-ins: {failing}"

        assert promtool_problems(text) == []
    finally:
        stopped = _demo("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not _answers("http://127.0.0.1:9877/-/healthy")
