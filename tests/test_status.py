"""/status and /status.json against real targets on loopback: they show the exporter's latest
results and never probe, before the first scrape everything is unknown, latencies are set
against each probe's budget, and every value a target or the config controls is escaped.

The rendering in a real browser is tests/test_status_browser.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from exporter import status
from exporter.app import RUNTIME, initial_runtime, make_app

TOKEN = "status-test-token"


class Target:
    """A loopback JSON target that counts its hits; its version and delay can be changed."""

    def __init__(self) -> None:
        self.hits = 0
        self.delay = 0.0
        self.version = "1.4.2"

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"status": "ok", "version": self.version})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.handle)
        return app


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    clients: list[TestClient[Any, Any]] = []

    async def start(config_text: str) -> tuple[TestClient[Any, Any], Path]:
        path = tmp_path / "redline.yml"
        path.write_text(config_text)
        client = TestClient(TestServer(make_app(initial_runtime(path))))
        await client.start_server()
        clients.append(client)
        return client, path

    yield start
    for client in clients:
        await client.close()


def config(url: str, **extra: str) -> str:
    return f"""
services:
  - name: app
    description: "The <b>app</b> & co"
    probes:
      - name: health
        kind: http
        url: "{url}/health"
        degraded_after: 2s
        expect_json: ['version == "1.4.2"']
      - name: slow
        kind: http
        url: "{url}/health"
        degraded_after: 50ms
{extra.get("more", "")}
"""


async def get_json(client: TestClient[Any, Any], path: str = "/status.json") -> Any:
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.json()


async def test_before_the_first_scrape_everything_is_unknown_and_nothing_is_probed(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    target = Target()
    client, _ = await exporter(config(await serve(target.app())))
    snap = await get_json(client)
    page = await (await client.get("/status")).text()
    assert target.hits == 0  # neither page ran a probe
    assert snap["state"] == "unknown"
    assert snap["last_check_at"] is None
    probes = snap["services"][0]["probes"]
    assert [p["state"] for p in probes] == ["unknown", "unknown"]
    assert probes[0]["message"].startswith("not checked yet")
    assert probes[0]["budget_seconds"] == 2.0
    assert 'Last check: <span id="last-check">none yet</span>' in page


async def test_the_pages_show_the_latest_scrape_and_never_probe(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    target = Target()
    target.delay = 0.1  # above the slow probe's 50 ms budget, below the other's 2 s
    client, _ = await exporter(config(await serve(target.app())))
    assert (await client.get("/metrics")).status == 200
    hits = target.hits
    assert hits == 2
    for _ in range(3):
        snap = await get_json(client)
        page = await (await client.get("/status")).text()
    assert target.hits == hits
    service = snap["services"][0]
    health, slow = service["probes"]
    assert (health["state"], slow["state"]) == ("up", "degraded")
    assert service["state"] == "degraded"  # a service is as bad as its worst probe
    assert snap["state"] == "degraded"
    assert slow["reason"] == "degraded"
    assert slow["latency_seconds"] >= 0.1 and slow["budget_seconds"] == 0.05
    assert health["checked_at"] == pytest.approx(snap["last_check_at"], abs=1)
    assert not health["stale"]
    # the slow probe's latency is shown over its budget, the other's within it
    rows = dict(re.findall(r'<tr data-probe="([^"]+)" data-state="[a-z]+">(.*?)</tr>', page))
    assert '<span class="over">' in rows["app/slow"] and "of 50 ms" in rows["app/slow"]
    assert '<span class="over">' not in rows["app/health"] and "of 2000 ms" in rows["app/health"]
    assert "<title>redline status: degraded</title>" in page

    # the target breaks; the pages change only once Prometheus scrapes again
    target.delay, target.version = 0.0, "1.3.0"
    assert (await get_json(client))["services"][0]["probes"][0]["state"] == "up"
    await client.get("/metrics")
    health = (await get_json(client))["services"][0]["probes"][0]
    assert (health["state"], health["reason"]) == ("down", "json")
    assert "1.3.0" in health["message"]


async def test_everything_a_target_or_the_config_controls_is_escaped(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    target = Target()
    target.version = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    client, _ = await exporter(config(await serve(target.app())))
    await client.get("/metrics")
    resp = await client.get("/status")
    page = await resp.text()
    assert resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "'unsafe-inline'" not in csp and "style-src 'sha256-" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in page and "<img" not in page
    assert "onerror=alert(2)&gt;" in page  # shown, as text
    assert "The &lt;b&gt;app&lt;/b&gt; &amp; co" in page
    assert '<meta http-equiv="refresh" content="30">' in page
    # no external asset: every URL on the page is one of the exporter's own paths
    assert set(re.findall(r'(?:href|src)="([^"]*)"', page)) == {"/status.json", "/metrics"}
    # and the JSON twin carries the same text unescaped, as data
    snap = await get_json(client)
    assert target.version in snap["services"][0]["probes"][0]["message"]


async def test_backups_heartbeats_and_a_stale_result(
    serve: Callable[..., Any], exporter: Callable[..., Any], tmp_path: Path
) -> None:
    target = Target()
    (tmp_path / "dumps").mkdir()
    (tmp_path / "dumps" / "db-1.dump").write_bytes(b"x" * 100)
    more = f"""
backups:
  files:
    - {{name: db, directory: "{tmp_path / "dumps"}", glob: "db-*.dump", max_age: 1h}}
    - {{name: empty, directory: "{tmp_path / "dumps"}", glob: "none-*.dump", max_age: 1h}}
heartbeats:
  token: {TOKEN}
  jobs:
    - {{name: nightly, period: 1d, description: "The <nightly> job"}}
    - {{name: hourly, period: 1h}}
"""
    client, _ = await exporter(config(await serve(target.app()), more=more))
    backups = (await get_json(client))["backups"]
    assert [(b["name"], b["state"]) for b in backups] == [("db", "unknown"), ("empty", "unknown")]
    assert backups[0]["max_age_seconds"] == 3600
    resp = await client.post("/heartbeat/nightly", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status == 200
    await client.get("/metrics")
    snap = await get_json(client)
    db, empty = snap["backups"]
    assert (db["state"], db["status"], db["kind"]) == ("up", "ok", "files")
    assert 0 <= db["newest_age_seconds"] < 60
    assert (empty["state"], empty["status"]) == ("down", "empty")
    assert "no file matches" in empty["message"]
    beats = {h["name"]: h for h in snap["heartbeats"]}
    assert (beats["nightly"]["state"], beats["nightly"]["status"]) == ("up", "up")
    assert beats["nightly"]["next_due_at"] > beats["nightly"]["last_success_at"]
    assert (beats["hourly"]["state"], beats["hourly"]["status"]) == ("unknown", "never")
    page = await (await client.get("/status")).text()
    assert 'data-backup="empty" data-state="down"' in page
    assert "The &lt;nightly&gt; job" in page

    # results older than STALE_AFTER are flagged: Prometheus stopped scraping
    runtime = client.server.app[RUNTIME]  # type: ignore[union-attr]
    later = status.snapshot(runtime, now=snap["generated_at"] + status.STALE_AFTER + 1)
    assert all(p["stale"] for p in later["services"][0]["probes"])
    stale_page = status.render_html(later, "x.yml")
    assert "(stale)" in stale_page
    # the config plans no launch: the page says so
    assert later["launch"] == {"window": None, "start": None, "end": None, "phase": "none"}
    assert 'data-launch="none"' in stale_page and "No launch planned" in stale_page


async def test_a_reload_changes_the_services_shown(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    target = Target()
    url = await serve(target.app())
    client, path = await exporter(config(url))
    await client.get("/metrics")
    path.write_text(
        f"""
services:
  - name: other
    probes: [{{name: health, kind: http, url: "{url}/health"}}]
launch: {{start: 2030-01-05 08:00, end: 2030-01-06 20:00, timezone: Europe/Paris}}
"""
    )
    assert (await client.post("/-/reload")).status == 200
    snap = await get_json(client)
    assert [s["name"] for s in snap["services"]] == ["other"]
    assert snap["services"][0]["state"] == "unknown"
    assert snap["launch"]["window"] == "2030-01-05 08:00 to 2030-01-06 20:00 Europe/Paris"
    assert snap["launch"]["phase"] == "before"
    page = await (await client.get("/status")).text()
    assert 'data-launch="before"' in page and "starts in" in page


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.4, "0 s"),
        (59, "59 s"),
        (600, "10 min"),
        (7200, "2 h"),
        (5400, "1.5 h"),
        (3 * 86400, "3 d"),
    ],
)
def test_spans_read_naturally(seconds: float, text: str) -> None:
    assert status.span(seconds) == text


def test_the_worst_state_wins() -> None:
    assert status.worst(["up", "degraded", "unknown"]) == "degraded"
    assert status.worst(["up", "unknown"]) == "unknown"
    assert status.worst(["degraded", "down"]) == "down"
    assert status.worst([]) == "unknown"
