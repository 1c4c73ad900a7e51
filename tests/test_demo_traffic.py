"""The demo's operator traffic (exporter/demo/traffic.py) against the real stand-ins: bounded,
loopback only, and what it asks for lands in the hotdash-app access log under the route groups
the latency SLOs count (api, tiles), grouped by the demo config's own route groups."""

from __future__ import annotations

import json
import random
from pathlib import Path

from exporter.config import load_config
from exporter.demo import standins, traffic
from exporter.logs.routes import RouteGrouper


async def test_requests_land_in_the_log_under_the_slo_routes(tmp_path: Path) -> None:
    made = standins.make_standins(log_dir=tmp_path)
    async with standins.run_standins(ports={}, standins=made) as running:
        counts = await traffic.run(
            running.urls["hotdash-app"], rate=500, max_requests=40, rng=random.Random(7)
        )
    assert counts == {"200": 40}
    config, _ = load_config(None)
    grouper = RouteGrouper(config.logs.route_groups)
    (log,) = [p for p in tmp_path.rglob("*") if p.is_file() and "hotdash" in p.name]
    routes: dict[str, int] = {}
    for line in log.read_text().splitlines():
        # Fly's NDJSON envelope around the app's own JSON line
        route = grouper.group(json.loads(json.loads(line)["message"])["path"])
        routes[route] = routes.get(route, 0) + 1
    assert routes.get("api", 0) > 0 and routes.get("tiles", 0) > 0, routes
    assert sum(routes.values()) == 40


async def test_a_down_standin_costs_requests_not_the_loop() -> None:
    made = standins.make_standins()
    async with standins.run_standins(ports={}, standins=made) as running:
        made["hotdash-app"].fault.set("down")
        counts = await traffic.run(running.urls["hotdash-app"], rate=500, max_requests=5)
    assert counts == {"error": 5}


async def test_it_stops_at_its_time_limit() -> None:
    async with standins.run_standins(ports={}) as running:
        counts = await traffic.run(
            running.urls["hotdash-app"], rate=0.01, max_requests=1000, max_seconds=0.0
        )
    assert counts == {}


def test_only_loopback(capsys) -> None:
    assert traffic.main(["--base", "http://shop.example:80"]) == 2
    assert "is not on loopback" in capsys.readouterr().err
