"""The Fly machines source against a Machines API faked on loopback from its documented JSON
(machine objects with state, config.metadata.fly_process_group and events whose exit events
carry request.exit_event.{exit_code, oom_killed, restarting}): states, counters that survive a
restart of redline, and every bad answer a clear reason with no crash and no token in sight."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from exporter.config import parse_config
from exporter.platform.fly_machines import FlyMachinesSource
from exporter.secrets import Redactor
from tests.promtool import promtool_problems
from tests.vendors_support import T0, FakeClock, get, state

TOKEN = "fo1_machines-test-token-0123456789"
APP = "hotdash-chatwoot"
MS = int(T0 * 1000)


def machine(mid: str, group: str, st: str = "started", events: list[Any] | None = None) -> Any:
    return {
        "id": mid,
        "name": f"{group}-{mid}",
        "state": st,
        "region": "ord",
        "instance_id": f"01J{mid.upper()}",
        "updated_at": "2025-10-13T11:59:00Z",
        "config": {
            "metadata": {"fly_process_group": group, "fly_platform_version": "v2"},
            "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024},
        },
        "events": events or [],
    }


def exit_event(at_ms: int, code: int = 137, oom: bool = True, restarting: bool = True) -> Any:
    exit_: dict[str, Any] = {"exit_code": code, "exited_at": "2025-10-13T11:59:30Z"}
    if oom:
        exit_["oom_killed"] = True
    if restarting:
        exit_["restarting"] = True
    return {
        "type": "exit",
        "status": "stopped",
        "source": "flyd",
        "timestamp": at_ms,
        "request": {"exit_event": exit_, "restart_count": 1},
    }


def start_event(at_ms: int) -> Any:
    return {"type": "start", "status": "started", "source": "flyd", "timestamp": at_ms}


class FakeMachinesApi:
    """GET /v1/apps/{app}/machines with a bearer token; answers set per test."""

    def __init__(self) -> None:
        self.machines: list[Any] = [machine("web1", "web"), machine("wrk1", "worker")]
        self.status = 200
        self.raw: bytes | None = None  # a body to send as it is
        self.cut = False  # Content-Length promises more than is sent
        self.headers: dict[str, str] = {}
        self.auth: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.auth.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        if self.cut:
            resp = web.StreamResponse(headers={"Content-Length": "5000"})
            await resp.prepare(request)
            await resp.write(json.dumps(self.machines).encode()[:50])
            raise ConnectionResetError  # drop the rest
        if self.raw is not None:
            return web.Response(body=self.raw, status=self.status, headers=self.headers)
        if self.status != 200:
            return web.json_response({"error": "x"}, status=self.status, headers=self.headers)
        return web.json_response(self.machines)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/apps/{app}/machines", self.handle)
        return app


@pytest.fixture
async def api(serve: Callable[..., Any]) -> tuple[FakeMachinesApi, str]:
    fake = FakeMachinesApi()
    return fake, await serve(fake.app())


def make(url: str, tmp_path: Path, clock: FakeClock, token: str = TOKEN) -> FlyMachinesSource:
    (tmp_path / "fly-token").write_text(token + "\n")
    config = {
        "services": [
            {
                "name": "chatwoot",
                "fly": {
                    "app": APP,
                    "groups": [
                        {"name": "web", "memory": "2GiB"},
                        {"name": "worker", "memory": "1GiB", "customer_messages": True},
                    ],
                },
                "probes": [{"name": "h", "kind": "http", "url": "http://127.0.0.1:1/"}],
            }
        ],
        "platform": {
            "fly": {
                "org": "hotrod-an",
                "token_file": str(tmp_path / "fly-token"),
                "machines_api": url,
                "poll_interval": "30s",
                "timeout": "5s",
                "state_file": str(tmp_path / "fly-machines.json"),
            }
        },
    }
    parsed = parse_config(yaml.safe_dump(config), "test.yml")
    return FlyMachinesSource(parsed, Redactor(), clock=clock, background=False)


def text(source: FlyMachinesSource) -> str:
    class One(Collector):
        def collect(self) -> Any:
            return source.families()

    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(One())
    return generate_latest(registry).decode()


W = {"service": "chatwoot", "app": APP, "group": "worker"}


async def test_states_and_an_oom_kill(api: tuple[FakeMachinesApi, str], tmp_path: Path) -> None:
    fake, url = api
    clock = FakeClock()
    source = make(url, tmp_path, clock)
    await source.start()
    try:
        await source.poll_all()
        fams = source.families()
        assert get(fams, "redline_fly_api_up", app=APP) == 1
        assert get(fams, "redline_fly_machines", **W, state="started") == 1
        assert get(fams, "redline_fly_machines", **W, state="stopped") == 0
        assert get(fams, "redline_fly_machine_oom_kills_total", **W) == 0
        assert get(fams, "redline_fly_machine_memory_bytes", **W) == 1024**3
        assert get(fams, "redline_fly_machines_wanted", **W) == 1
        assert fake.auth[-1] == f"Bearer {TOKEN}"

        # the worker runs out of memory and is restarted by its policy
        clock.advance(30)
        now = int(clock.time() * 1000)
        fake.machines[1] = machine(
            "wrk1", "worker", "started", [start_event(now - 100), exit_event(now - 2000)]
        )
        await source.poll_all()
        fams = source.families()
        assert get(fams, "redline_fly_machine_oom_kills_total", **W) == 1
        assert get(fams, "redline_fly_machine_restarts_total", **W) == 1
        assert get(fams, "redline_fly_machine_exits_total", **W) == 1
        assert get(fams, "redline_fly_machine_last_exit_code", **W) == 137
        assert (
            get(fams, "redline_fly_machine_last_exit_timestamp_seconds", **W) == (now - 2000) / 1000
        )
        # listed again by the next poll: not counted twice
        clock.advance(30)
        await source.poll_all()
        assert get(source.families(), "redline_fly_machine_oom_kills_total", **W) == 1
        assert promtool_problems(text(source)) == []
    finally:
        await source.close()

    # redline restarts: the counters come back from the state file, and the old event stays
    # counted once
    again = make(url, tmp_path, clock)
    await again.start()
    try:
        fams = again.families()
        assert get(fams, "redline_fly_machine_oom_kills_total", **W) == 1
        assert state(fams, "redline_fly_state_file_status", "status") == "ok"
        await again.poll_all()
        assert get(again.families(), "redline_fly_machine_oom_kills_total", **W) == 1
    finally:
        await again.close()


async def test_old_history_is_no_news(api: tuple[FakeMachinesApi, str], tmp_path: Path) -> None:
    """A machine seen for the first time: an OOM kill of last week is not counted, one of the
    last minute is."""
    fake, url = api
    clock = FakeClock()
    fake.machines[1] = machine(
        "wrk1", "worker", events=[exit_event(MS - 7 * 86400 * 1000), exit_event(MS - 20_000)]
    )
    source = make(url, tmp_path, clock)
    await source.start()
    try:
        await source.poll_all()
        assert get(source.families(), "redline_fly_machine_oom_kills_total", **W) == 1
    finally:
        await source.close()


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        (
            lambda f: setattr(f, "status", 429) or f.headers.update({"Retry-After": "120"}),
            "rate_limited",
        ),
        (lambda f: setattr(f, "status", 503), "http_status"),
        (lambda f: setattr(f, "status", 500), "http_status"),
        (lambda f: setattr(f, "raw", b'[{"id": "web1", "state": "started"'), "truncated"),
        (lambda f: setattr(f, "raw", b"<html>bad gateway</html>"), "not_json"),
        (lambda f: setattr(f, "raw", b'{"machines": []}'), "unknown_format"),
        (lambda f: setattr(f, "cut", True), "truncated"),
    ],
)
async def test_an_api_outage_is_a_reason_and_keeps_the_last_data(
    api: tuple[FakeMachinesApi, str],
    tmp_path: Path,
    setup: Callable[[FakeMachinesApi], Any],
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake, url = api
    clock = FakeClock()
    source = make(url, tmp_path, clock)
    await source.start()
    try:
        await source.poll_all()
        setup(fake)
        clock.advance(30)
        with caplog.at_level(logging.WARNING, logger="redline.platform"):
            await source.poll_all()
        fams = source.families()
        assert get(fams, "redline_fly_api_up", app=APP) == 0
        assert state(fams, "redline_fly_api_failure_reason", "reason", app=APP) == reason
        # the machines of the last good poll are still served, their age growing
        assert get(fams, "redline_fly_machines", **W, state="started") == 1
        assert get(fams, "redline_fly_api_data_age_seconds", app=APP) == 30
        if reason == "rate_limited":  # the next poll waits as long as the API asked
            assert source.apps[APP].next_due >= clock.monotonic() + 119
        out = text(source) + caplog.text + source.apps[APP].message
        assert TOKEN not in out
    finally:
        await source.close()


async def test_a_refused_token_is_auth_and_never_shown(
    api: tuple[FakeMachinesApi, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = api
    source = make(url, tmp_path, FakeClock(), token="fo1_wrong-token-value-987654321")
    await source.start()
    try:
        with caplog.at_level(logging.DEBUG):
            await source.poll_all()
        fams = source.families()
        assert fake.auth == ["Bearer fo1_wrong-token-value-987654321"]
        assert state(fams, "redline_fly_api_failure_reason", "reason", app=APP) == "auth"
        assert "credentials were refused" in source.apps[APP].message
        assert "fo1_wrong-token-value" not in text(source) + caplog.text + source.apps[APP].message
        # no machines ever listed: no state series, but the counters and the reason are there
        assert get(fams, "redline_fly_machines", **W, state="started") is None
        assert get(fams, "redline_fly_machine_oom_kills_total", **W) == 0
    finally:
        await source.close()


async def test_a_missing_token_file_is_reason_secret(
    api: tuple[FakeMachinesApi, str], tmp_path: Path
) -> None:
    _, url = api
    source = make(url, tmp_path, FakeClock())
    (tmp_path / "fly-token").unlink()
    await source.start()
    try:
        await source.poll_all()
        assert state(source.families(), "redline_fly_api_failure_reason", "reason", app=APP) == (
            "secret"
        )
    finally:
        await source.close()


async def test_unknown_states_and_groups_are_bounded(
    api: tuple[FakeMachinesApi, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake, url = api
    fake.machines = [
        machine("web1", "web", "hibernating"),
        machine("wrk1", "worker", "started"),
        machine("x1", "release_command", "stopped"),
        {"state": "started"},  # no id
        "not a machine",
    ]
    source = make(url, tmp_path, FakeClock())
    await source.start()
    try:
        with caplog.at_level(logging.WARNING, logger="redline.platform"):
            await source.poll_all()
        fams = source.families()
        web = {"service": "chatwoot", "app": APP, "group": "web"}
        assert get(fams, "redline_fly_machines", **web, state="unknown") == 1
        other = {"service": "chatwoot", "app": APP, "group": "other"}
        assert get(fams, "redline_fly_machines", **other, state="stopped") == 1
        assert get(fams, "redline_fly_api_unknown_states_total", app=APP) == 3
        assert get(fams, "redline_fly_api_up", app=APP) == 1
        assert "hibernating" in caplog.text
    finally:
        await source.close()


async def test_a_corrupt_state_file_is_set_aside(
    api: tuple[FakeMachinesApi, str], tmp_path: Path
) -> None:
    _, url = api
    (tmp_path / "fly-machines.json").write_text('{"version": 1, "groups": ')
    source = make(url, tmp_path, FakeClock())
    await source.start()
    try:
        assert state(source.families(), "redline_fly_state_file_status", "status") == "corrupt"
        assert (tmp_path / "fly-machines.json.corrupt").exists()
        await source.poll_all()
        assert state(source.families(), "redline_fly_state_file_status", "status") == "ok"
    finally:
        await source.close()
