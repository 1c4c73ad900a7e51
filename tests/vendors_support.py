"""What the vendor tests share: a clock moved by hand, a source built from config text, sample
lookups, and a loopback server whose answers each test sets per path (recording what it got)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from prometheus_client.metrics_core import Metric as Family

from exporter.config import parse_config
from exporter.secrets import Redactor
from exporter.vendors.source import VendorSource

FIXTURES = Path(__file__).parent / "fixtures" / "vendors"
# 2025-10-13T12:00:00Z, the launch window: the fixtures' incidents and windows are around it.
T0 = 1760356800.0


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class FakeClock:
    """Wall and monotonic time that move only when a test says so."""

    def __init__(self, wall: float = T0) -> None:
        self.wall = wall
        self.mono = 1000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def make_source(
    vendors: dict[str, Any],
    clock: FakeClock | None = None,
    env: Mapping[str, str] | None = None,
    redactor: Redactor | None = None,
) -> VendorSource:
    """A source for ``vendors:`` (validated as a real config file is), driven by hand."""
    config = parse_config(yaml.safe_dump({"vendors": vendors}), "test.yml")
    return VendorSource(
        config,
        redactor or Redactor(),
        clock=clock or FakeClock(),
        env=env or {},
        background=False,
    )


def samples(families: list[Family]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in families
        for s in family.samples
    }


def get(families: list[Family], name: str, **labels: str) -> float | None:
    """The value of the one series ``name{labels}``, or None when absent."""
    return samples(families).get((name, frozenset(labels.items())))


def state(families: list[Family], name: str, label: str, **labels: str) -> str | None:
    """The state a state set is in (the one ``label`` value whose series is 1)."""
    on = [
        dict(key)[label]
        for (n, key), value in samples(families).items()
        if n == name and value == 1 and labels.items() <= dict(key).items()
    ]
    assert len(on) <= 1, f"{name}{labels}: several states set: {on}"
    return on[0] if on else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Server:
    """Answers per path, set and changed by the test; every request is recorded."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[web.Request] = field(default_factory=list)
    url: str = ""

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def last(self, path: str) -> web.Request:
        return [r for r in self.requests if r.path == path][-1]

    def json(self, path: str, doc: Any, status: int = 200, **headers: str) -> None:
        body = json.dumps(doc).encode()

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=body, status=status, content_type="application/json", headers=headers
            )

        self.routes[path] = handler

    def raw(self, path: str, body: bytes, status: int = 200, **headers: str) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(body=body, status=status, headers=headers)

        self.routes[path] = handler

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(request)
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found")
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app


async def hang(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(30)  # cancelled when the server stops
    return web.Response(text="too late")
