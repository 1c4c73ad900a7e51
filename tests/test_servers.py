"""The real Prometheus and Alertmanager start on loopback, answer, and stop."""

from __future__ import annotations

from pathlib import Path

from exporter.demo.servers import Alertmanager, Prometheus, free_port


def test_prometheus_scrapes_itself_and_answers_queries(tmp_path: Path) -> None:
    port = free_port()
    config = (
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs: [{job_name: self, static_configs: "
        f"[{{targets: ['127.0.0.1:{port}']}}]}}]\n"
    )
    with Prometheus(tmp_path / "prom", config, port=port) as prom:
        result = prom.wait_for('up{job="self"} == 1', timeout=30)
        assert result[0]["metric"]["job"] == "self"
    assert prom.proc is not None and prom.proc.poll() is not None


def test_alertmanager_accepts_and_lists_alerts(tmp_path: Path) -> None:
    config = "route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n"
    with Alertmanager(tmp_path / "am", config) as am:
        assert am.alerts() == []
