"""The generated platform scrape jobs, run by the real Prometheus:

- fly-federate federates from a real VictoriaMetrics (Fly's managed store is one) loaded with
  Fly-shaped series, through the test's auth proxy (tests/platform_stack.py) that checks the
  bearer token as Fly's gateway does: only the shop's apps come through, each labelled with its
  redline service; a wrong token, or an answer cut mid-body, is a failed scrape (up 0), which
  is what PlatformDataStale reads;
- supabase scrapes a loopback endpoint serving Supabase's documented shape behind basic auth
  (the platform stand-in): names prefixed, service="database"; a wrong key fails the scrape,
  and a series Supabase stops sending is seen by PlatformDataStale's expression.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.config import Config, parse_config
from exporter.demo.platform import PlatformStandIn
from exporter.demo.servers import Prometheus
from exporter.platform.config import FLY_JOB, SUPABASE_JOB
from exporter.rules.prometheus_config import platform_jobs
from exporter.rules.render import dump
from tests.platform_stack import AuthProxy, VictoriaMetrics, background

ORG = "hotrod-test"
TOKEN = "fo1_federation-test-token-31415926"
KEY = "eyJ-service-role-test-key-27182818"

CW = 'app="hotdash-chatwoot",region="ord",host="ab12",instance="e784079b449483"'
STAGING = 'app="hotdash-staging",region="ord",host="cd34",instance="3d8d9016b27e89"'
FLY_SERIES = f"""\
fly_instance_up{{{CW}}} 1
fly_instance_memory_mem_total{{{CW}}} 1073741824
fly_instance_memory_mem_available{{{CW}}} 96468992
fly_app_http_responses_count{{{STAGING},status="200"}} 12000
fly_instance_up{{app="someone-elses-app",region="ams",host="ef56",instance="9080e6ef4d5d87"}} 1
node_load1{{app="hotdash-chatwoot",instance="x"}} 0.5
"""


def config(proxy: str, standin: str, tmp: Path) -> Config:
    (tmp / "fly-token").write_text(TOKEN + "\n")
    (tmp / "supabase-key").write_text(KEY + "\n")

    def svc(name: str, app: str) -> dict[str, Any]:
        return {
            "name": name,
            "fly": {"app": app, "groups": [{"name": "app", "memory": "1GiB"}]},
            "probes": [{"name": "h", "kind": "http", "url": "http://127.0.0.1:1/"}],
        }

    raw = {
        "services": [svc("chatwoot", "hotdash-chatwoot"), svc("hotdash-app", "hotdash-staging")],
        "platform": {
            "fly": {
                "org": ORG,
                "token_file": str(tmp / "fly-token"),
                "federate_url": f"{proxy}/prometheus/{ORG}/federate",
            },
            "supabase": {
                "project_ref": "testproject",
                "key_file": str(tmp / "supabase-key"),
                "metrics_url": f"{standin}/customer/v1/privileged/metrics",
            },
        },
    }
    return parse_config(yaml.safe_dump(raw), "test.yml")


def prometheus_yml(cfg: Config) -> str:
    jobs = platform_jobs(cfg)
    for job in jobs:  # the generated jobs as they are, scraped every second for the test
        job["scrape_interval"], job["scrape_timeout"] = "1s", "900ms"
    return dump({"global": {"scrape_interval": "1s"}, "scrape_configs": jobs})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("platform")
    with VictoriaMetrics(tmp / "vm") as vm, background() as loop:
        vm.import_text(FLY_SERIES)
        proxy = AuthProxy(vm.url, ORG, TOKEN)
        proxy_url = loop.serve(proxy.app())
        placeholder = parse_config("services: []", "x.yml")
        standin = PlatformStandIn(placeholder, TOKEN, KEY)
        standin_url = loop.serve(standin.app())
        cfg = config(proxy_url, standin_url, tmp)
        standin.config = cfg
        with Prometheus(tmp / "prom", prometheus_yml(cfg)) as prom:
            yield {
                "vm": vm,
                "proxy": proxy,
                "standin": standin,
                "prom": prom,
                "tmp": tmp,
                "loop": loop,
            }


def wait(prom: Prometheus, expr: str, want: float, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        got = prom.query(expr)
        if got and float(got[0]["value"][1]) == want:
            return
        assert time.monotonic() < deadline, f"{expr} never became {want}: {got}"
        time.sleep(0.5)


def test_federation_through_victoriametrics(stack: dict[str, Any]) -> None:
    prom: Prometheus = stack["prom"]
    got = prom.wait_for('fly_instance_memory_mem_available{app="hotdash-chatwoot"}', 30)
    labels = got[0]["metric"]
    # Fly's own labels kept (honor_labels), redline's service added, the job's name
    assert labels["instance"] == "e784079b449483" and labels["region"] == "ord"
    assert labels["service"] == "chatwoot" and labels["job"] == FLY_JOB
    staging = prom.wait_for('fly_app_http_responses_count{status="200"}', 10)
    assert staging[0]["metric"]["service"] == "hotdash-app"
    # only the shop's apps, only fly_* series
    assert prom.query('fly_instance_up{app="someone-elses-app"}') == []
    assert prom.query("node_load1") == []
    wait(prom, f'up{{job="{FLY_JOB}"}}', 1)
    assert all(auth == f"Bearer {TOKEN}" for auth, _ in stack["proxy"].seen)


def test_supabase_scrape(stack: dict[str, Any]) -> None:
    prom: Prometheus = stack["prom"]
    got = prom.wait_for("supabase_node_memory_MemAvailable_bytes", 30)
    assert got[0]["metric"]["service"] == "database"
    assert got[0]["metric"]["supabase_project_ref"] == "testproject"
    assert prom.wait_for('supabase_node_filesystem_size_bytes{mountpoint="/data"}', 10)
    # no unprefixed name: redline's own node_* and pg_* stay redline's
    assert prom.query('node_memory_MemAvailable_bytes{job="supabase"}') == []
    wait(prom, f'up{{job="{SUPABASE_JOB}"}}', 1)


STALE = (
    '(up{job=~"fly-federate|supabase"} == 0)'
    ' or (label_replace(absent(supabase_pg_stat_database_num_backends), "job", "supabase", "", "")'
    ' and on () up{job="supabase"} == 1)'
)


def test_a_wrong_token_or_key_is_a_failed_scrape(stack: dict[str, Any]) -> None:
    prom: Prometheus = stack["prom"]
    tmp: Path = stack["tmp"]
    wait(prom, f'up{{job="{FLY_JOB}"}}', 1)
    (tmp / "fly-token").write_text("fo1_a-revoked-token\n")  # Prometheus rereads the file
    (tmp / "supabase-key").write_text("not-the-key\n")
    try:
        wait(prom, f'up{{job="{FLY_JOB}"}}', 0)
        wait(prom, f'up{{job="{SUPABASE_JOB}"}}', 0)
        assert ("Bearer fo1_a-revoked-token", 401) in stack["proxy"].seen
        jobs = {r["metric"]["job"] for r in prom.query(STALE)}
        assert jobs == {FLY_JOB, SUPABASE_JOB}
        targets = prom.get_json("/api/v1/targets")["data"]["activeTargets"]
        errors = " ".join(t["lastError"] for t in targets)
        assert "401" in errors
        assert "fo1_a-revoked-token" not in errors and "not-the-key" not in errors
    finally:
        (tmp / "fly-token").write_text(TOKEN + "\n")
        (tmp / "supabase-key").write_text(KEY + "\n")
    wait(prom, f'up{{job="{FLY_JOB}"}}', 1)
    wait(prom, f'up{{job="{SUPABASE_JOB}"}}', 1)


def test_a_federation_answer_cut_mid_body(stack: dict[str, Any]) -> None:
    prom: Prometheus = stack["prom"]
    wait(prom, f'up{{job="{FLY_JOB}"}}', 1)
    stack["proxy"].cut = True
    try:
        wait(prom, f'up{{job="{FLY_JOB}"}}', 0)
    finally:
        stack["proxy"].cut = False
    wait(prom, f'up{{job="{FLY_JOB}"}}', 1)


def test_supabase_dropping_a_series_is_seen(stack: dict[str, Any]) -> None:
    prom: Prometheus = stack["prom"]
    standin: PlatformStandIn = stack["standin"]
    wait(prom, f'up{{job="{SUPABASE_JOB}"}}', 1)
    served = standin.supabase_series
    standin.supabase_series = lambda: [  # type: ignore[method-assign]
        line for line in served() if not line.startswith("pg_stat_database_num_backends")
    ]
    try:
        # Prometheus marks the vanished series stale at the next scrape
        deadline = time.monotonic() + 20
        while {r["metric"].get("job") for r in prom.query(STALE)} != {SUPABASE_JOB}:
            assert time.monotonic() < deadline, prom.query(STALE)
            time.sleep(0.5)
    finally:
        standin.supabase_series = served  # type: ignore[method-assign]
