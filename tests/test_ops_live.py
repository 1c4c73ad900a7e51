"""The ops commands against live data: the exporter probing the demo's stand-ins, scraped every
2 seconds by the real Prometheus. A minute of history is enough for a baseline of healthy services
and too little for any capacity trend, which the report must say rather than guess."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.app import initial_runtime, make_app
from exporter.cli import main
from exporter.demo.servers import Prometheus, free_port
from exporter.demo.standins import run_standins

# slow (pyproject.toml's markers): about 16 s alone, most of it waiting on Prometheus's scrapes;
# make test runs it, make check leaves it out and says so
pytestmark = pytest.mark.slow


async def test_commands_on_live_exporter_data(tmp_path: Path, serve: Callable[..., Any]) -> None:
    async with run_standins(ports={}) as running:
        app = running.urls["hotdash-app"]
        agent = running.urls["agent-service"]
        config = tmp_path / "redline.yml"
        config.write_text(
            "services:\n"
            "  - name: hotdash-app\n"
            f"    probes: [{{name: health, kind: http, url: '{app}/health'}}]\n"
            "  - name: agent-service\n"
            f"    probes: [{{name: health, kind: http, url: '{agent}/health', "
            "degraded_after: 500ms}]\n"
            "host: {collectors: [cpu, memory, filesystem]}\n"
        )
        exporter = await serve(make_app(initial_runtime(config)))
        target = exporter.removeprefix("http://")
        scrape = f"{{job_name: redline, static_configs: [{{targets: ['{target}']}}]}}"
        prom = Prometheus(
            tmp_path / "prom",
            # 2 s, not 1: a probe's deadline is the scrape timeout, and on a busy machine a
            # loopback probe once took more than 0.9 s (availability 5/6)
            "global: {scrape_interval: 2s, scrape_timeout: 1900ms, evaluation_interval: 2s}\n"
            f"scrape_configs: [{scrape}]\n",
            port=free_port(),
        )
        await asyncio.to_thread(prom.start)
        try:
            await asyncio.to_thread(
                prom.wait_for, "count_over_time(probe_success[1m]) >= 5", 30, 0.5
            )
            out = tmp_path / "out"
            at = str(time.time())
            code = await asyncio.to_thread(
                main,
                [
                    "baseline",
                    "--prometheus",
                    prom.url,
                    "--window",
                    "1m",
                    "--at",
                    at,
                    "--config.file",
                    str(config),
                    "--out",
                    str(out),
                ],
            )
            assert code == 0
            doc = yaml.safe_load((out / "baseline.yml").read_text())
            for service in ("hotdash-app", "agent-service"):
                probe = doc["services"][service]["probes"]["health"]
                assert probe["availability"] == 1.0
                assert 0 < probe["latency_seconds"]["p95"] < 0.5
            degraded = next(
                t
                for t in doc["thresholds"]
                if t["threshold"] == "degraded_after" and t["subject"] == "agent-service/health"
            )
            assert degraded["verdict"] in ("ok", "blind")  # loopback answers in milliseconds

            code = await asyncio.to_thread(
                main,
                [
                    "capacity",
                    "--prometheus",
                    prom.url,
                    "--window",
                    "1m",
                    "--at",
                    at,
                    "--horizon",
                    "1d",
                    "--out",
                    str(out),
                ],
            )
            assert code == 0
            report = (out / "capacity.md").read_text()
            assert "Host memory" in report and "not fitted" in report
            assert "a trend needs at least 10 points" in report
            assert not (out / "charts").exists()  # no trend, no chart

            code = await asyncio.to_thread(
                main,
                ["postmortem", "--prometheus", prom.url, "--from", "now-1m", "--out", str(out)],
            )
            assert code == 0
            draft = next(out.glob("postmortem-*.md")).read_text()
            assert "No alert fired in the range." in draft
        finally:
            await asyncio.to_thread(prom.stop)
