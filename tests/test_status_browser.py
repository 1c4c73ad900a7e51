"""The status page in a real browser: headless Chromium (Debian's ``chromium``) driven over the
Chrome DevTools protocol with aiohttp's websocket client.

The exporter runs in-process on loopback with a config of the stand-ins (exporter/demo), a
backup set, two heartbeats and a vendor feed; a scrape of /metrics produces the results, the
browser loads /status and the test reads the rendered DOM (the states shown, the badge colours
the CSS gave them, the requests the page made). Then stand-ins are broken, a second scrape runs,
the page is loaded again and must show the new states. A screenshot is saved under the test's
tmp dir; with ``REDLINE_UPDATE_SCREENSHOT=1`` (or when it is missing) it is also copied to
docs/img/status-page.png, the one a person looks at. Not on every run: the picture differs at
every run (times, latencies), and a committed file rewritten by the tests would make
``make check-generated`` fail on the next run.

Fails (never skips) when chromium is missing: ``make test`` installs it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from exporter.app import initial_runtime, make_app
from exporter.demo.standins import run_standins

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
DOCS_SCREENSHOT = ROOT / "docs" / "img" / "status-page.png"
FIXTURES = Path(__file__).parent / "fixtures" / "vendors"
TOKEN = "browser-test-heartbeat-token"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
)


class Chromium:
    """One headless Chromium and one page, over the DevTools protocol (flat sessions)."""

    def __init__(self, proc: asyncio.subprocess.Process, http: aiohttp.ClientSession) -> None:
        self.proc = proc
        self.http = http
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.session = ""
        self._ids = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, tmp: Path) -> AsyncIterator[Chromium]:
        assert Path(CHROMIUM).exists(), "chromium is missing: run scripts/install-system.sh"
        profile = tmp / "chromium-profile"
        profile.mkdir()
        with open(tmp / "chromium.log", "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                CHROMIUM,
                *FLAGS,
                f"--user-data-dir={profile}",
                "about:blank",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        http = aiohttp.ClientSession()
        browser = cls(proc, http)
        try:
            await browser._connect(profile / "DevToolsActivePort")
            yield browser
        finally:
            await browser._close()
            await http.close()

    async def _connect(self, port_file: Path) -> None:
        deadline = time.monotonic() + 20
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            assert self.proc.returncode is None, "chromium exited at start (see chromium.log)"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = await self.http.ws_connect(f"ws://127.0.0.1:{port}{path}", max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        target = await self.send("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = await self.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True
        )
        self.session = attached["sessionId"]
        await self.send("Page.enable")
        await self.send("Network.enable")
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            method = data.get("method", "")
            self.events.append((method, data.get("params", {})))
            for waiter in self._waiters.pop(method, []):
                if not waiter.done():
                    waiter.set_result(data.get("params", {}))

    async def send(
        self, method: str, params: dict[str, Any] | None = None, *, browser: bool = False
    ) -> dict[str, Any]:
        assert self.ws is not None
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params or {}}
        if not browser:
            message["sessionId"] = self.session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._ids] = future
        await self.ws.send_str(json.dumps(message))
        answer = await asyncio.wait_for(future, 20)
        assert "error" not in answer, f"{method}: {answer['error']}"
        return dict(answer.get("result", {}))

    async def load(self, url: str) -> list[str]:
        """Navigate to ``url`` and wait for its load event; the URLs of every request the page
        made."""
        self.events.clear()
        loaded: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault("Page.loadEventFired", []).append(loaded)
        answer = await self.send("Page.navigate", {"url": url})
        assert "errorText" not in answer, answer
        await asyncio.wait_for(loaded, 20)
        return [p["request"]["url"] for m, p in self.events if m == "Network.requestWillBeSent"]

    async def evaluate(self, expression: str) -> Any:
        answer = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True}
        )
        assert "exceptionDetails" not in answer, answer["exceptionDetails"]
        return answer["result"].get("value")

    async def screenshot(self, path: Path) -> None:
        size = (await self.send("Page.getLayoutMetrics"))["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = await self.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    async def _close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send("Browser.close", browser=True), 5)
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# What the page shows, read from the rendered DOM: each row's state attribute, the badge's text
# and its computed colour.
READ_PAGE = """JSON.stringify((() => {
  const rows = (sel, key) => Object.fromEntries([...document.querySelectorAll(sel)].map(r => {
    const badge = r.querySelector('.badge');
    return [r.dataset[key], {state: r.dataset.state, text: badge.textContent,
                             colour: getComputedStyle(badge).backgroundColor,
                             row: r.innerText}];
  }));
  return {
    title: document.title,
    heading: document.querySelector('h1').innerText,
    refresh: document.querySelector('meta[http-equiv="refresh"]').content,
    scripts: document.scripts.length,
    lastCheck: document.getElementById('last-check').innerText,
    launch: document.querySelector('[data-launch]').dataset.launch,
    services: rows('tr[data-service]', 'service'),
    probes: rows('tr[data-probe]', 'probe'),
    feeds: rows('tr[data-feed]', 'feed'),
    backups: rows('tr[data-backup]', 'backup'),
    heartbeats: rows('tr[data-heartbeat]', 'heartbeat'),
  };
})())"""

COLOURS = {
    "up": "rgb(26, 127, 55)",
    "degraded": "rgb(154, 103, 0)",
    "down": "rgb(207, 34, 46)",
    "unknown": "rgb(110, 119, 129)",
}


def config(urls: dict[str, str], feed_url: str, backups: Path, state_file: Path) -> str:
    return f"""
services:
  - name: hotdash-app
    description: The operator's Shopify admin app
    probes:
      - name: health
        kind: http
        url: {urls["hotdash-app"]}/health
        valid_status: ["200"]
        degraded_after: 500ms
        expect_json: ['status in ["ok", "degraded"]', 'checks.database.status == "ok"']
        degraded_when: ['status == "degraded"']
      - name: page
        kind: http
        url: {urls["hotdash-app"]}/app
        degraded_after: 800ms
        body_must_match: ["HotDash"]
  - name: agent-service
    description: Customer-support agent service
    probes:
      - name: health
        kind: http
        url: {urls["agent-service"]}/health
        degraded_after: 500ms
        expect_json: ['status == "ok"', 'version == "1.4.2"']
  - name: llamaindex-mcp
    description: Knowledge-base RAG server
    probes:
      - name: health
        kind: http
        url: {urls["llamaindex-mcp"]}/health
        degraded_after: 500ms
  - name: chatwoot
    description: Support desk
    probes:
      - name: health
        kind: http
        url: {urls["chatwoot"]}/rails/health
        degraded_after: 500ms
vendors:
  feeds:
    - name: shopify
      url: {feed_url}
      components: [Admin, Checkout]
backups:
  files:
    - name: agent-tables
      directory: {backups}
      glob: "agent-tables-*.dump"
      max_age: 26h
heartbeats:
  state_file: {state_file}
  token: {TOKEN}
  jobs:
    - name: agent-table-backup
      schedule: "0 3 * * *"
      grace: 1h
    - name: retention-purge
      period: 1d
      grace: 2h
"""


async def test_the_status_page_renders_each_state_and_follows_a_break(tmp_path: Path) -> None:
    summary = (FIXTURES / "statuspage_summary.json").read_bytes()

    async def feed_summary(request: web.Request) -> web.Response:
        return web.Response(body=summary, content_type="application/json")

    feed = web.Application()
    feed.router.add_get("/api/v2/summary.json", feed_summary)
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "agent-tables-20261125.dump").write_bytes(b"PGDMP" + b"\0" * 4096)
    async with (
        run_standins(ports={}) as standins,
        TestServer(feed) as feed_server,
    ):
        path = tmp_path / "redline.yml"
        path.write_text(
            config(
                standins.urls,
                str(feed_server.make_url("/api/v2/summary.json")),
                tmp_path / "backups",
                tmp_path / "heartbeats.json",
            )
        )
        async with (
            TestServer(make_app(initial_runtime(path))) as exporter,
            aiohttp.ClientSession() as http,
            Chromium.start(tmp_path) as browser,
        ):
            status_url = str(exporter.make_url("/status"))

            async def scrape() -> None:
                async with http.get(exporter.make_url("/metrics")) as resp:
                    assert resp.status == 200
                    await resp.read()

            # a job pings, the vendor feed is fetched in the background, Prometheus scrapes
            ping = await http.post(
                exporter.make_url("/heartbeat/agent-table-backup"),
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            assert ping.status == 200
            deadline = time.monotonic() + 10
            while True:
                async with http.get(exporter.make_url("/status.json")) as resp:
                    if (await resp.json())["vendors"]["feeds"][0]["state"] != "unknown":
                        break
                assert time.monotonic() < deadline, "the vendor feed was never fetched"
                await asyncio.sleep(0.05)
            await scrape()

            requests = {name: s.requests for name, s in standins.standins.items()}
            loaded = await browser.load(status_url)
            page = json.loads(await browser.evaluate(READ_PAGE))
            # the page made one request, its own: no external asset, no script, no favicon
            # fetched from anywhere else
            assert [u for u in loaded if not u.endswith("/favicon.ico")] == [status_url]
            assert page["scripts"] == 0
            assert page["refresh"] == "30"
            assert page["title"] == "redline status: up"
            assert page["lastCheck"].endswith("s ago)")
            assert page["launch"] == "none"  # the config plans no launch
            assert {n: s["state"] for n, s in page["services"].items()} == {
                "hotdash-app": "up",
                "agent-service": "up",
                "llamaindex-mcp": "up",
                "chatwoot": "up",
            }
            for shown in [*page["services"].values(), *page["probes"].values()]:
                assert shown["text"] == "up"
                assert shown["colour"] == COLOURS["up"]
            assert "of 500 ms" in page["probes"]["hotdash-app/health"]["row"]
            # vendors, backups and heartbeats from their cached state
            assert page["feeds"]["shopify"]["state"] == "degraded"
            assert "Checkout: degraded performance" in page["feeds"]["shopify"]["row"]
            assert page["backups"]["agent-tables"]["state"] == "up"
            assert page["backups"]["agent-tables"]["text"] == "ok"
            assert page["heartbeats"]["agent-table-backup"]["text"] == "up"
            assert page["heartbeats"]["retention-purge"]["text"] == "never"
            assert page["heartbeats"]["retention-purge"]["colour"] == COLOURS["unknown"]
            # loading the page probed nothing
            assert {name: s.requests for name, s in standins.standins.items()} == requests

            # break two stand-ins; Prometheus scrapes again; the operator reloads the page
            standins["agent-service"].fault.set("failing")
            standins["hotdash-app"].fault.set("degraded")
            await browser.load(status_url)
            before = json.loads(await browser.evaluate(READ_PAGE))
            assert before["services"]["agent-service"]["state"] == "up"  # no scrape yet
            await scrape()
            await browser.load(status_url)
            page = json.loads(await browser.evaluate(READ_PAGE))
            assert page["title"] == "redline status: down"
            states = {n: (s["state"], s["text"], s["colour"]) for n, s in page["services"].items()}
            assert states == {
                "hotdash-app": ("degraded", "degraded", COLOURS["degraded"]),
                "agent-service": ("down", "down", COLOURS["down"]),
                "llamaindex-mcp": ("up", "up", COLOURS["up"]),
                "chatwoot": ("up", "up", COLOURS["up"]),
            }
            assert page["probes"]["agent-service/health"]["state"] == "down"
            assert "status" in page["probes"]["agent-service/health"]["row"]  # reason shown
            assert page["probes"]["hotdash-app/health"]["state"] == "degraded"
            assert page["probes"]["hotdash-app/page"]["state"] == "up"
            assert "1 up" not in page["heading"]

            shot = tmp_path / "status-page.png"
            await browser.screenshot(shot)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000
    if os.environ.get("REDLINE_UPDATE_SCREENSHOT") == "1" or not DOCS_SCREENSHOT.exists():
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


@pytest.fixture(autouse=True)
def _quiet_standins(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="redline.standins")
