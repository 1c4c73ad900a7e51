"""JSON counters of an app with several Fly machines (issue 21.10), end to end with the real
Prometheus: a stand-in app of two machines behind a stand-in of Fly's proxy (it answers from
each machine in turn, unless a request names one in ``fly-force-instance-id``), Fly's Machines
API from the platform stand-in (exporter/demo/platform.py), the exporter itself
(``python -m exporter run``) and Prometheus scraping it every second.

Read through the proxy, the machines' counts alternate and Prometheus sees a counter reset at
every switch (what made increase() count the other machine's whole count as new jobs); read per
machine (``per_machine``), each machine's count is its own series, labelled ``machine``, with no
reset. The stand-ins are monitored targets only; Prometheus and redline are the real ones.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from exporter.config import FLY_PIN_HEADER, parse_config
from exporter.demo.platform import PlatformStandIn
from exporter.demo.servers import Prometheus, Redline
from exporter.rules.render import dump
from tests.platform_stack import background

# slow (pyproject.toml's markers): each test waits about 20 s on the real Prometheus's scrapes
# of the alternating machines; make test runs them, make check leaves them out and says so
pytestmark = pytest.mark.slow

TOKEN = "fly-test-token-0123456789"
APP = "hotdash-agent-service"
SERIES = "redline_json_queue_processed"


class TwoMachines:
    """agent-service's /queue/stats on two machines, each with its own processedCount (one
    counts from 5000, the other from 10, both rising), behind a proxy answering in turn."""

    def __init__(self, machines: list[str]) -> None:
        self.machines = machines
        self.start = time.monotonic()
        self.turn = itertools.cycle(machines)
        self.pinned: dict[str, int] = dict.fromkeys(machines, 0)
        self.unpinned = 0

    def count(self, machine: str) -> int:
        base = 5000 if machine == self.machines[0] else 10
        return base + int((time.monotonic() - self.start) * 10)

    async def stats(self, request: web.Request) -> web.Response:
        wanted = request.headers.get(FLY_PIN_HEADER)
        if wanted is None:
            self.unpinned += 1
            machine = next(self.turn)
        elif wanted in self.machines:
            self.pinned[wanted] += 1
            machine = wanted
        else:
            return web.Response(status=503, text="no such instance\n")
        n = self.count(machine)
        body = {"total": 3, "pending": 1, "processing": 1, "completed": n, "failed": 0}
        return web.json_response({**body, "processedCount": n})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/queue/stats", self.stats)
        return app


def _config(app_url: str, machines_api: str, tmp: Path, per_machine: bool) -> dict[str, Any]:
    probe: dict[str, Any] = {
        "name": "queue",
        "kind": "json",
        "url": f"{app_url}/queue/stats",
        "timeout": "2s",
        "metrics": [
            {"name": "queue_processed", "path": "processedCount"},
            {"name": "queue_size", "path": "total"},
        ],
    }
    if per_machine:
        probe["per_machine"] = "app"
    return {
        "services": [
            {
                "name": "agent-service",
                "fly": {
                    "app": APP,
                    "groups": [{"name": "app", "memory": "1GiB", "machines": 2}],
                },
                "probes": [probe],
            }
        ],
        "platform": {
            "fly": {
                "org": "test-org",
                "token_file": str(tmp / "fly-token"),
                "machines_api": machines_api,
                "poll_interval": "5s",
                "timeout": "2s",
                "state_file": str(tmp / "fly-state.json"),
            }
        },
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("machines")
    (tmp / "fly-token").write_text(TOKEN + "\n")
    with background() as loop:
        # the Machines API of the config's app: two started machines in group app
        first = _config("http://127.0.0.1:1", "http://127.0.0.1:1", tmp, True)
        standin = PlatformStandIn(parse_config(yaml.safe_dump(first), "t.yml"), TOKEN, "key")
        machines_api = loop.serve(standin.app())
        ids = [m.id for m in standin.machines if m.app == APP]
        assert len(ids) == 2
        target = TwoMachines(ids)
        app_url = loop.serve(target.app())
        yield {"tmp": tmp, "target": target, "machines_api": machines_api, "app_url": app_url}


def _run(stack: dict[str, Any], name: str, per_machine: bool) -> list[dict[str, Any]]:
    """The exporter with the probe read through the proxy or per machine, scraped every second
    for 14 s; the resets Prometheus saw in each series of the counter."""
    tmp: Path = stack["tmp"]
    config = tmp / f"{name}.yml"
    config.write_text(
        yaml.safe_dump(_config(stack["app_url"], stack["machines_api"], tmp, per_machine))
    )
    with Redline(tmp / name, config) as exporter:
        scrape = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms"},
            "scrape_configs": [
                {"job_name": "redline", "static_configs": [{"targets": [exporter.url[7:]]}]}
            ],
        }
        with Prometheus(tmp / f"{name}-prom", dump(scrape)) as prom:
            # the first poll of the Machines API is at start; values come once it answered
            prom.wait_for(f"count({SERIES}) > 0", timeout=20)
            time.sleep(14)
            return prom.query(f"resets({SERIES}[20s])")


def test_counters_read_through_the_proxy_reset_at_every_switch(stack: dict[str, Any]) -> None:
    """The defect: one series, whose every switch between the machines is a reset."""
    found = _run(stack, "proxy", per_machine=False)
    assert len(found) == 1, found
    assert "machine" not in found[0]["metric"]
    assert float(found[0]["value"][1]) >= 4, found


def test_counters_read_per_machine_carry_the_machine_and_never_reset(
    stack: dict[str, Any],
) -> None:
    target: TwoMachines = stack["target"]
    before = dict(target.pinned)
    found = _run(stack, "per-machine", per_machine=True)
    by_machine = {r["metric"].get("machine"): float(r["value"][1]) for r in found}
    assert by_machine == dict.fromkeys(target.machines, 0.0), found
    # each machine was asked by name, once per run (about 14 runs in 14 s)
    assert all(target.pinned[m] - before[m] >= 10 for m in target.machines), target.pinned
