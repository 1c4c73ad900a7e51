"""The stack at the shop's size and at ten times it (issue 18): how the exporter, Prometheus (with
every generated rule) and VictoriaMetrics (its remote_write) grow.

The shop today (config/hotrod.yml): 5 services, 20 probes, the Fly log stream. Ten times: 50
services, 200 probes, ten times the log lines. For each size, on loopback, one after the other:

- ``bench/targets.py`` serves the probes' targets (every probe is an HTTP GET here: the shop's
  JSON, TCP, DNS and MCP probes cost about the same on the exporter's side);
- ``redline run`` with the scaled config: the services copied (``hotdash-app-3``...), each with
  the shop's four probes per service on average, plus config/hotrod.yml's log routes, buckets and
  patterns with an ingest source fed Fly-shaped lines by this module;
- the real Prometheus scraping it every 5 s with the generated rules of prometheus/rules,
  evaluated every 5 s, remote-writing to the real VictoriaMetrics.

After a warm-up, over a measured window: the exporter's CPU (cores) and resident memory, its
/metrics scrape time as Prometheus saw it, Prometheus's head series, one round of every rule
group's evaluation (the sum of prometheus_rule_group_last_duration_seconds), VictoriaMetrics's
ingested samples per second and its resident memory. The table's "redline" column is 10x, the
"peer" column the shop's size, the ratio their quotient. docs/capacity.md reads the figures.

ASSUMPTION: the shop's log volume is 10 lines/s across its apps (no figure is known: read Fly's
log volume of hotdash-staging, hotdash-agent-service, hotdash-llamaindex-mcp and hotdash-chatwoot
and set LOG_LINES_PER_SECOND).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from procs import Child, Children, HarnessError, wait_for  # noqa: E402
from table import INFO, MISS, PASS, Row, Section, num, ratio  # noqa: E402

from exporter.demo.servers import free_ports  # noqa: E402
from exporter.rules import prometheus_config  # noqa: E402
from exporter.rules.render import render  # noqa: E402
from exporter.rules.spec import RemoteWrite, ScrapeTarget, load_stack  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FACTORS = (1, 10)
LOG_LINES_PER_SECOND = 10  # ASSUMPTION (module doc)
INTERVAL = 5  # s: scrape and rule evaluation interval here
SCRAPE_TIMEOUT = 25.0  # s: production's scrape_timeout (alert_rules/stack.yml)
EVALUATION = 30.0  # s: production's evaluation_interval
TOKEN = "bench-ingest-token"
APPS = {  # Fly app -> service, as config/hotrod.yml's fly source maps them
    "hotdash-staging": "hotdash-app",
    "hotdash-agent-service": "agent-service",
    "hotdash-llamaindex-mcp": "llamaindex-mcp",
    "hotdash-chatwoot": "chatwoot",
}


def shop() -> tuple[list[str], int]:
    """config/hotrod.yml's services and probe count."""
    from exporter.config import load_config

    config, _ = load_config(str(REPO / "config" / "hotrod.yml"))
    return [s.name for s in config.services], len(config.targets())


def config_text(factor: int, ports: list[int], token_file: Path) -> str:
    services, probes = shop()
    per_service = max(1, round(probes / len(services)))
    hotrod = yaml.safe_load((REPO / "config" / "hotrod.yml").read_text())
    fly = next(s for s in hotrod["logs"]["sources"] if s["name"] == "fly")
    out = []
    i = 0
    for copy in range(factor):
        for name in services:
            probes_ = []
            for p in range(per_service):
                port = ports[i % len(ports)]
                probes_.append(
                    {"name": f"p{p}", "kind": "http", "url": f"http://127.0.0.1:{port}/t/{i}"}
                )
                i += 1
            out.append({"name": name if copy == 0 else f"{name}-{copy + 1}", "probes": probes_})
    config = {
        "exporter": {"scrape_timeout": f"{INTERVAL - 1}s"},
        "services": out,
        "host": {"enabled": True},
        "logs": {
            "buckets": hotrod["logs"]["buckets"],
            "route_groups": hotrod["logs"]["route_groups"],
            "patterns": hotrod["logs"]["patterns"],
            "sources": [
                {
                    "name": "fly",
                    "kind": "ingest",
                    "bearer_token_file": str(token_file),
                    "envelope": fly["envelope"],
                    "service_map": fly["service_map"],
                    "parsers": fly["parsers"],
                }
            ],
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def log_line(i: int) -> str:
    app = list(APPS)[i % len(APPS)]
    status = 500 if i % 25 == 0 else 200
    if app == "hotdash-staging":
        message = json.dumps(
            {"level": "info", "message": "request", "method": "GET", "path": "/api/products",
             "status": status, "duration": 80 + i % 200}
        )  # fmt: skip
    else:
        message = f"[GET] /health - {status} ({5 + i % 40}ms)"
    return json.dumps({"fly": {"app": {"name": app}}, "log": {"level": "info"},
                       "message": message, "timestamp": "2026-01-01T00:00:00.000Z"})  # fmt: skip


def feed_logs(url: str, per_second: int, stop: threading.Event, sent: list[int]) -> None:
    i = 0
    while not stop.wait(1.0):
        body = ("\n".join(log_line(i + k) for k in range(per_second)) + "\n").encode()
        i += per_second
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5):
                sent[0] += per_second
        except OSError:
            return


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def _query(prom: str, expr: str) -> float | None:
    answer = _get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    result = answer["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def _vm_rows(vm: str) -> float:
    with urllib.request.urlopen(f"{vm}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('vm_rows_inserted_total{type="promremotewrite"}')
    )


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def measure(factor: int, tmp: Path, children: Children, warmup: float, window: float) -> dict:
    ready_file = tmp / "targets.json"
    targets = children.start(
        "targets", [sys.executable, str(REPO / "bench" / "targets.py"), "--ports", "4",
                    "--ready-file", str(ready_file)],
    )  # fmt: skip
    wait_for("targets", ready_file.exists, 20, targets)
    ports = json.loads(ready_file.read_text())["ports"]
    token = tmp / "ingest-token"
    token.write_text(TOKEN + "\n")
    config = tmp / "redline.yml"
    config.write_text(config_text(factor, ports, token))
    exporter_port, prom_port, vm_port = free_ports(3)
    vm_url = f"http://127.0.0.1:{vm_port}"
    vm = children.start(
        "victoria-metrics",
        ["/usr/bin/victoria-metrics", f"-storageDataPath={tmp / 'vm'}",
         f"-httpListenAddr=127.0.0.1:{vm_port}"],
    )  # fmt: skip
    wait_for("VictoriaMetrics", lambda: _ready(f"{vm_url}/health"), 30, vm)
    exporter_url = f"http://127.0.0.1:{exporter_port}"
    exporter = children.start(
        "redline",
        [sys.executable, "-m", "exporter", "run", "--config.file", str(config),
         "--web.listen-address", f"127.0.0.1:{exporter_port}"],
        cwd=REPO,
    )  # fmt: skip
    wait_for("redline", lambda: _ready(f"{exporter_url}/-/ready"), 60, exporter)
    stack = load_stack(REPO / "alert_rules").model_copy(
        update={
            "scrape_interval": f"{INTERVAL}s",
            "scrape_timeout": f"{INTERVAL - 1}s",
            "evaluation_interval": f"{INTERVAL}s",
            "exporters": (ScrapeTarget(address=f"127.0.0.1:{exporter_port}"),),
            "prometheus": (f"127.0.0.1:{prom_port}",),
            "alertmanagers": ("127.0.0.1:9",),
            "remote_write": (RemoteWrite(name="victoriametrics", url=f"{vm_url}/api/v1/write"),),
        }
    )
    rule_files = [str(p) for p in sorted((REPO / "prometheus" / "rules").glob("*.yml"))]
    prom_config = tmp / "prometheus.yml"
    prom_config.write_text(render(prometheus_config.config(stack, rule_files), "bench/scale.py"))
    prom_url = f"http://127.0.0.1:{prom_port}"
    prom = children.start(
        "prometheus",
        ["/usr/bin/prometheus", f"--config.file={prom_config}",
         f"--storage.tsdb.path={tmp / 'prom'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
    )  # fmt: skip
    wait_for("Prometheus", lambda: _ready(f"{prom_url}/-/ready"), 30, prom)

    stop = threading.Event()
    sent = [0]
    feeder = threading.Thread(
        target=feed_logs,
        args=(f"{exporter_url}/ingest/fly", LOG_LINES_PER_SECOND * factor, stop, sent),
        daemon=True,
    )
    feeder.start()
    try:
        time.sleep(warmup)
        cpu0, rows0, t0 = exporter.cpu_seconds(), _vm_rows(vm_url), time.monotonic()
        time.sleep(window)
        cpu1, rows1, t1 = exporter.cpu_seconds(), _vm_rows(vm_url), time.monotonic()
        w = f"{int(window)}s"
        figures = {
            "services": factor * len(shop()[0]),
            "probes": _query(prom_url, 'count(probe_success{job="redline"})'),
            "series": _query(prom_url, "prometheus_tsdb_head_series"),
            "exporter_series": _query(prom_url, 'scrape_samples_scraped{job="redline"}'),
            "cpu": (cpu1 - cpu0) / (t1 - t0),
            "rss": _rss(exporter),
            "scrape": _query(
                prom_url, f'max_over_time(scrape_duration_seconds{{job="redline"}}[{w}])'
            ),
            "rules": _query(prom_url, "sum(prometheus_rule_group_last_duration_seconds)"),
            "rule_failures": _query(prom_url, "sum(prometheus_rule_evaluation_failures_total)"),
            "vm_rate": (rows1 - rows0) / (t1 - t0),
            "vm_rss": _rss(vm),
            "prom_rss": _rss(prom),
            "log_lines": sent[0] / max(1.0, warmup + window),
        }  # fmt: skip
    finally:
        stop.set()
        feeder.join(10)
        for child in (prom, exporter, vm, targets):
            children.stop(child)
    if not figures["probes"]:
        raise HarnessError(f"{factor}x: Prometheus saw no probe_success\n{exporter.log_tail()}")
    return figures


def _rss(child: Child) -> float:
    return child.rss_bytes() / 2**20


def section(quick: bool = False) -> Section:
    warmup, window = (20.0, 20.0) if quick else (40.0, 40.0)
    results: dict[int, dict] = {}
    for factor in FACTORS:
        with (
            tempfile.TemporaryDirectory(prefix="redline-bench-scale-") as tmp,
            Children(Path(tmp)) as children,
        ):
            results[factor] = measure(factor, Path(tmp), children, warmup, window)
    one, ten = results[1], results[10]

    def row(name: str, key: str, digits: int, target: str = "", ok: bool | None = None) -> Row:
        result = INFO if ok is None else (PASS if ok else MISS)
        return Row(
            name,
            num(ten[key], digits, thousands=True),
            num(one[key], digits, thousands=True),
            ratio(ten[key], one[key]),
            target,
            result,
        )

    rows = [
        row("services", "services", 0),
        row("probes (targets)", "probes", 0),
        row("log lines/s ingested", "log_lines", 0),
        row("series the exporter serves", "exporter_series", 0),
        row("Prometheus head series (with rules)", "series", 0),
        row("exporter CPU, cores (scraped every 5 s)", "cpu", 3),
        row("exporter resident memory (MiB)", "rss", 0),
        row(
            "exporter /metrics scrape, slowest (s)",
            "scrape",
            2,
            f"< {SCRAPE_TIMEOUT:g} s timeout",
            ten["scrape"] is not None and ten["scrape"] < SCRAPE_TIMEOUT,
        ),
        row(
            "rule evaluation, all groups once (s)",
            "rules",
            3,
            f"< {EVALUATION:g} s interval",
            ten["rules"] is not None and ten["rules"] < EVALUATION,
        ),
        row("Prometheus resident memory (MiB)", "prom_rss", 0),
        row("VictoriaMetrics ingestion (samples/s)", "vm_rate", 0),
        row("VictoriaMetrics resident memory (MiB)", "vm_rss", 0),
    ]
    failures = num(ten["rule_failures"], 0)
    notes = [
        "redline = 10x the shop, peer = the shop's size (config/hotrod.yml); scrape and rule "
        f"evaluation every {INTERVAL} s here (production: 30 s, so CPU and ingestion there are "
        f"{30 // INTERVAL}x lower); rule evaluation failures at 10x: {failures}",
    ]
    return Section("The stack at 10x the shop (issue 18)", rows, notes)


if __name__ == "__main__":  # .venv/bin/python bench/scale.py [--quick]
    from table import render as render_table

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    print(render_table([section("--quick" in sys.argv)], ["redline bench: scale"]))
