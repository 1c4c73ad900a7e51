"""The demo's webhook receiver: where every Alertmanager notification of ``make demo`` lands.

Alertmanager's demo config (exporter/rules/demo.py) sends each receiver's notifications to
``POST /notify/<receiver>`` here, with the webhook payload of Alertmanager (``status``,
``alerts`` with their labels and annotations, ``groupKey``, ``externalURL``, ...). Each one is
recorded with its arrival time:

- appended to a JSON-lines file (``.demo/notifications.jsonl``), one notification a line:
  ``{"received_at": <unix time>, "receiver": "oncall", "payload": {...}}``;
- served at ``GET /notifications`` (``?since=<unix time>`` for the newer ones) as a JSON list,
  which is what the drills read;
- shown at ``GET /`` as a page for people: newest first, firing or resolved, the alerts with
  their summary and runbook link;
- the runbooks themselves at ``GET /runbooks/<alert>.md`` (docs/runbooks/), where the demo's
  runbook links point, so a page's link opens;
- printed to stdout (the demo's ``.demo/receiver.log``).

Memory is bounded: the newest :data:`KEEP` notifications are served, the file keeps them all
until ``make demo-stop``. Bodies above :data:`MAX_BODY` are refused (413).

``python -m exporter.demo.receiver --listen 127.0.0.1:9097 --file .demo/notifications.jsonl``
runs it until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import re
import signal
import sys
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

KEEP = 5000  # notifications served (and reloaded from the file at start)
MAX_BODY = 1024 * 1024  # Alertmanager's notification of a large group stays far below this
PAGE_SHOWN = 50  # notifications on the HTML page


class Receiver:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.notifications: deque[dict[str, Any]] = deque(maxlen=KEEP)
        if path is not None and path.exists():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    self.notifications.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by a crash

    def record(self, receiver: str, payload: dict[str, Any]) -> dict[str, Any]:
        entry = {"received_at": time.time(), "receiver": receiver, "payload": payload}
        self.notifications.append(entry)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")
        print(summary_line(entry), flush=True)
        return entry

    def since(self, when: float) -> list[dict[str, Any]]:
        return [n for n in self.notifications if n["received_at"] >= when]

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/notify/{receiver}", self._notify)
        app.router.add_post("/notify", self._notify)
        app.router.add_get("/notifications", self._list)
        app.router.add_get("/-/ready", self._ready)
        app.router.add_get("/runbooks/{name}", self._runbook)
        app.router.add_get("/", self._page)
        return app

    async def _notify(self, request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.text())
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
            return web.json_response({"error": "not an Alertmanager webhook payload"}, status=400)
        receiver = request.match_info.get("receiver") or str(payload.get("receiver", ""))
        self.record(receiver, payload)
        return web.json_response({"status": "recorded"})

    async def _list(self, request: web.Request) -> web.Response:
        try:
            since = float(request.query.get("since", "0"))
        except ValueError:
            return web.json_response({"error": "since is a unix time"}, status=400)
        return web.json_response(self.since(since))

    async def _runbook(self, request: web.Request) -> web.Response:
        """docs/runbooks/<alert>.md of the repository, where the demo's runbook links point: a
        plain name only (no path), as text."""
        from exporter.demo.layout import repo

        name = request.match_info["name"]
        if not re.fullmatch(r"[A-Za-z0-9_-]+\.md", name):
            return web.Response(status=404, text="no such runbook\n")
        path = repo() / "docs" / "runbooks" / name
        if not path.is_file():
            return web.Response(status=404, text=f"no runbook {name}\n")
        return web.Response(
            text=path.read_text(encoding="utf-8"), content_type="text/markdown", charset="utf-8"
        )

    async def _ready(self, request: web.Request) -> web.Response:
        return web.Response(text="ready\n")

    async def _page(self, request: web.Request) -> web.Response:
        rows = []
        for entry in list(self.notifications)[-PAGE_SHOWN:][::-1]:
            payload = entry["payload"]
            when = datetime.fromtimestamp(entry["received_at"], UTC).strftime("%H:%M:%S")
            status = str(payload.get("status", "?"))
            alerts = []
            for alert in payload.get("alerts", []):
                labels = alert.get("labels", {})
                notes = alert.get("annotations", {})
                name = html.escape(str(labels.get("alertname", "?")))
                what = ", ".join(
                    f"{k}={html.escape(str(v))}"
                    for k, v in sorted(labels.items())
                    if k not in ("alertname", "job", "instance")
                )
                link = notes.get("runbook_url")
                runbook = f' <a href="{html.escape(str(link))}">runbook</a>' if link else ""
                local = _local_runbook(str(link or ""))
                if local:
                    runbook += f" (in this repository: <code>{html.escape(local)}</code>)"
                summary = html.escape(str(notes.get("summary", "")))
                alerts.append(f"<li><b>{name}</b> {what}<br>{summary}{runbook}</li>")
            rows.append(
                f'<tr class="{html.escape(status)}"><td>{when}</td>'
                f"<td>{html.escape(status.upper())}</td>"
                f"<td>{html.escape(entry['receiver'])}</td>"
                f"<td><ul>{''.join(alerts)}</ul></td>"
                f"<td>{html.escape(str(payload.get('externalURL', '')))}</td></tr>"
            )
        body = (
            "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=5>"
            "<title>redline demo: notifications</title><style>"
            "body{font-family:sans-serif}td{vertical-align:top;padding:4px 8px}"
            ".firing td:nth-child(2){color:#b00}.resolved td:nth-child(2){color:#070}"
            "</style></head><body><h1>Notifications received</h1>"
            f"<p>{len(self.notifications)} so far, newest first (times UTC). "
            'JSON: <a href="/notifications">/notifications</a></p>'
            "<table><tr><th>time</th><th>status</th><th>receiver</th><th>alerts</th>"
            f"<th>sent by</th></tr>{''.join(rows)}</table></body></html>"
        )
        return web.Response(text=body, content_type="text/html")


def _local_runbook(url: str) -> str:
    """The repository's own copy of a runbook link (docs/runbooks/<alert>.md), if there is one:
    the demo's links point where the team browses the repository."""
    from exporter.demo.layout import repo

    name = url.rsplit("/", 1)[-1]
    path = Path("docs") / "runbooks" / name
    return str(path) if name.endswith(".md") and (repo() / path).is_file() else ""


def summary_line(entry: dict[str, Any]) -> str:
    """One line per notification: when, status, receiver, and each alert with its runbook."""
    payload = entry["payload"]
    when = datetime.fromtimestamp(entry["received_at"], UTC).strftime("%H:%M:%S")
    parts = []
    for alert in payload.get("alerts", []):
        labels = alert.get("labels", {})
        target = labels.get("service") or labels.get("instance", "")
        runbook = alert.get("annotations", {}).get("runbook_url", "")
        parts.append(f"{labels.get('alertname')}({target}) runbook {runbook}")
    status = str(payload.get("status", "?")).upper()
    return f"{when} {status:<8} -> {entry['receiver']}: {'; '.join(parts)}"


@asynccontextmanager
async def run_receiver(
    path: Path | None, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[tuple[Receiver, str]]:
    """Serve a receiver for the duration of the ``async with``; yields it and its base URL."""
    receiver = Receiver(path)
    runner = web.AppRunner(receiver.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield receiver, f"http://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _serve(host: str, port: int, path: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    path.parent.mkdir(parents=True, exist_ok=True)
    async with run_receiver(path, host, port) as (_, url):
        print(f"receiver listening on {url}, recording to {path}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.demo.receiver",
        description="Record Alertmanager webhook notifications (loopback only).",
    )
    parser.add_argument("--listen", default="127.0.0.1:9097", help="HOST:PORT")
    parser.add_argument("--file", type=Path, default=Path(".demo/notifications.jsonl"))
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print("error: the receiver listens on loopback only", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(host, int(port), args.file))
    except OSError as e:
        print(f"error: cannot listen on {args.listen}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
