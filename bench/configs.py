"""The config files the bench generates: redline.yml, blackbox.yml and prometheus.yml.

Pure functions from the bench's parameters to data; :func:`write_yaml` writes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

BLACKBOX_MODULE = "http_2xx"


def target_urls(ports: list[int], count: int) -> list[str]:
    """``count`` target URLs spread evenly over the target server's ports, in blocks (targets
    0..99 on the first port, ...), so each port maps to one redline service."""
    per_port = -(-count // len(ports))  # ceiling division
    return [f"http://127.0.0.1:{ports[i // per_port]}/t/{i}" for i in range(count)]


def redline_config(urls: list[str]) -> dict[str, Any]:
    """One http probe per URL, grouped in one service per target port (as a real config groups
    probes per service); everything else at its default, as a user would write it."""
    services: dict[str, list[dict[str, Any]]] = {}
    for i, url in enumerate(urls):
        port = url.split(":")[2].split("/")[0]
        services.setdefault(f"bench-{port}", []).append(
            {"name": f"t-{i:04d}", "kind": "http", "url": url, "valid_status": ["2xx"]}
        )
    return {"services": [{"name": name, "probes": probes} for name, probes in services.items()]}


def blackbox_config() -> dict[str, Any]:
    """The usual http_2xx module. IPv4 because the targets are on 127.0.0.1 (the default,
    ip6 with fallback, would only add a failed attempt to each probe)."""
    return {
        "modules": {
            BLACKBOX_MODULE: {
                "prober": "http",
                "timeout": "5s",
                "http": {"preferred_ip_protocol": "ip4", "valid_status_codes": []},
            }
        }
    }


def _global(interval: float) -> dict[str, Any]:
    # The scrape timeout stays below the interval, as Prometheus requires.
    return {
        "scrape_interval": f"{interval:g}s",
        "scrape_timeout": f"{max(1.0, interval - 1):g}s",
    }


def prometheus_for_blackbox(blackbox_address: str, urls: list[str], interval: float) -> dict:
    """The standard blackbox setup: every URL is a scrape target, relabelled into the
    ``target`` parameter of one /probe request to the exporter (one scrape per target)."""
    return {
        "global": _global(interval),
        "scrape_configs": [
            {
                "job_name": "blackbox",
                "metrics_path": "/probe",
                "params": {"module": [BLACKBOX_MODULE]},
                "static_configs": [{"targets": urls}],
                "relabel_configs": [
                    {"source_labels": ["__address__"], "target_label": "__param_target"},
                    {"source_labels": ["__param_target"], "target_label": "instance"},
                    {"target_label": "__address__", "replacement": blackbox_address},
                ],
            }
        ],
    }


def prometheus_for_redline(redline_address: str, interval: float) -> dict:
    """redline's setup: one scrape of /metrics probes every configured target."""
    return {
        "global": _global(interval),
        "scrape_configs": [
            {"job_name": "redline", "static_configs": [{"targets": [redline_address]}]}
        ],
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
