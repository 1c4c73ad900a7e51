"""`make demo` as a newcomer runs it: the whole stack comes up on loopback (stand-ins, the demo
PostgreSQL with its workload, the operator's traffic to the HotDash app, the backup job, the
exporter on its embedded config, two Alertmanager peers, Prometheus with the demo profile of the
generated configs, the webhook receiver), every probe of the default config succeeds against the
healthy stand-ins, the database, backup, heartbeat, log and vendor sources read real data (the
HotDash app's logs with the api and tiles routes of the latency SLOs), promtool accepts the
scrape, Prometheus scrapes the exporter and knows both Alertmanagers, and `make demo-stop` ends
it all."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import load_config
from exporter.demo import layout
from exporter.demo.standins import DEFAULT_PORTS
from tests.promtool import promtool_problems

# the demo's fixed ports: one module at a time, under the demo lock (tests/conftest.py)
pytestmark = pytest.mark.demo

ROOT = Path(__file__).resolve().parent.parent
DEMO = [sys.executable, "-m", "exporter.demo.run"]
PORTS = [
    layout.EXPORTER_PORT,
    layout.PROMETHEUS_PORT,
    layout.RECEIVER_PORT,
    layout.POSTGRES_PORT,
    *(p.port for p in layout.ALERTMANAGERS),
    *DEFAULT_PORTS.values(),
    layout.PLATFORM_PORT,
]


def _demo(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DEMO, action], capture_output=True, text=True, timeout=180, cwd=ROOT, check=False
    )


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _scrape() -> str:
    request = urllib.request.Request(
        f"{layout.EXPORTER_URL}/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"}
    )
    with urllib.request.urlopen(request, timeout=15) as resp:
        return str(resp.read().decode())


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_demo_starts_the_stack_probes_everything_and_stops() -> None:
    started = _demo("start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        for url in (
            f"{layout.EXPORTER_URL}/metrics",
            f"{layout.PROMETHEUS_URL}/alerts",
            f"{layout.RECEIVER_URL}/",
            *(p.url for p in layout.ALERTMANAGERS),
        ):
            assert url in started.stdout, url
        assert "make demo-stop" in started.stdout

        text = _scrape()
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

        # the sources beyond the probes read the demo's real database, dumps, pings, logs and
        # status pages (the background ones within a few seconds)
        wanted = {
            "pg_up": {(("database", "supabase"),): 1.0},
            "redline_backup_status": {(("backup", "shop"), ("status", "ok")): 1.0},
            "redline_heartbeat_status": {(("heartbeat", "shop-backup"), ("status", "up")): 1.0},
            "redline_vendor_feed_up": {(("feed", "shopify"),): 1.0},
            # the machines of the platform stand-in, polled through Fly's Machines API shape
            "redline_fly_api_up": {(("app", "hotdash-chatwoot"),): 1.0},
        }
        deadline = time.monotonic() + 40
        while True:
            text = _scrape()
            missing = [
                f"{name}{key}"
                for name, series in wanted.items()
                for key, value in series.items()
                if _samples(text, name).get(key) != value
            ]
            lines = _samples(text, "redline_log_lines_total")
            # the operator's traffic (exporter/demo/traffic.py) under the latency SLOs' routes
            routes = {
                dict(k)["route"]
                for k in _samples(text, "redline_http_requests_total")
                if dict(k)["service"] == "hotdash-app"
            }
            if not missing and sum(lines.values()) > 0 and {"api", "tiles"} <= routes:
                break
            assert time.monotonic() < deadline, (
                f"not read: {missing}, log lines {lines}, hotdash-app routes {routes}"
            )
            time.sleep(1)

        # Prometheus scrapes the exporter and alerts both Alertmanagers
        deadline = time.monotonic() + 30
        while not _json(f'{layout.PROMETHEUS_URL}/api/v1/query?query=up{{job="redline"}}==1')[
            "data"
        ]["result"]:
            assert time.monotonic() < deadline, "Prometheus does not scrape the exporter"
            time.sleep(1)
        # and the platforms, through the generated jobs (the Fly apps and Supabase dashboards)
        for job in ("fly-federate", "supabase"):
            deadline = time.monotonic() + 30
            query = f'{layout.PROMETHEUS_URL}/api/v1/query?query=up{{job="{job}"}}==1'
            while not _json(query)["data"]["result"]:
                assert time.monotonic() < deadline, f"Prometheus does not scrape {job}"
                time.sleep(1)
        active = _json(f"{layout.PROMETHEUS_URL}/api/v1/alertmanagers")["data"]
        urls = {a["url"] for a in active["activeAlertmanagers"]}
        assert urls == {f"{p.url}/api/v2/alerts" for p in layout.ALERTMANAGERS}
        peers = _json(f"{layout.ALERTMANAGERS[0].url}/api/v2/status")["cluster"]["peers"]
        assert len(peers) == len(layout.ALERTMANAGERS)
    finally:
        stopped = _demo("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    listening = [port for port in PORTS if _listening(port)]
    assert not listening, f"still listening after demo-stop: {listening}"
    assert not (layout.STATE_DIR / "postgres.json").exists()
