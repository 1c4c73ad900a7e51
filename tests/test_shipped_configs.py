"""The configs redline ships: the embedded default (the demo on loopback stand-ins) and
config/hotrod.yml (the real stack, validated here but never contacted).

Both load cleanly and cover every service of docs/architecture.md; the default points only at
loopback and agrees with what the stand-ins serve; hotrod.yml references its secrets instead of
holding them; neither ever calls llamaindex-mcp's counter reset.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from exporter import assertions
from exporter.config import (
    PROBE_KINDS,
    Config,
    DnsProbe,
    HttpProbe,
    JsonProbe,
    McpProbe,
    TcpProbe,
    load_config,
    status_matches,
)
from exporter.demo import layout, standins

HOTROD = Path(__file__).resolve().parents[1] / "config" / "hotrod.yml"
SERVICES = {"hotdash-app", "agent-service", "llamaindex-mcp", "chatwoot"}  # docs/architecture.md
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
FLY_HOSTS = {
    "hotdash-staging.fly.dev",
    "hotdash-agent-service.fly.dev",
    "hotdash-llamaindex-mcp.fly.dev",
    "hotdash-chatwoot.fly.dev",
}
REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


@pytest.fixture(scope="module")
def default() -> Config:
    config, name = load_config(None)
    assert name == "<embedded default.yml>"
    return config


@pytest.fixture(scope="module")
def hotrod() -> Config:
    return load_config(HOTROD)[0]


def probes(config: Config) -> Iterator[tuple[str, Any]]:
    for service in config.services:
        for probe in service.probes:
            yield service.name, probe


def host_port(probe: Any) -> tuple[str, int | None]:
    """The host (and port, if any) a probe contacts."""
    if isinstance(probe, HttpProbe | McpProbe):
        parts = urlsplit(probe.url)
        return parts.hostname or "", parts.port
    if isinstance(probe, TcpProbe):
        host, port = probe.address.rsplit(":", 1)
        return host.strip("[]"), int(port)
    assert isinstance(probe, DnsProbe)
    return probe.query, None


# --- both configs -------------------------------------------------------------------------------


def test_both_load_and_cover_every_service(default: Config, hotrod: Config) -> None:
    for config in (default, hotrod):
        assert {service.name for service in config.services} >= SERVICES


def test_default_exercises_every_probe_kind(default: Config) -> None:
    assert {probe.kind for _, probe in probes(default)} == set(PROBE_KINDS)


@pytest.mark.parametrize("which", ["default", "hotrod"])
def test_nothing_calls_the_mcp_counter_reset(which: str, request: pytest.FixtureRequest) -> None:
    config: Config = request.getfixturevalue(which)
    for _, probe in probes(config):
        assert "/admin/metrics/reset" not in getattr(probe, "url", "")


@pytest.mark.parametrize("which", ["default", "hotrod"])
def test_llamaindex_mcp_rate_limit_is_respected(which: str, request: pytest.FixtureRequest) -> None:
    """100 requests per 60 s per client: every HTTP probe of the server sets min_interval, and
    together they use at most a tenth of the budget, however many Prometheus servers scrape."""
    config: Config = request.getfixturevalue(which)
    per_minute = 0.0
    for service, probe in probes(config):
        if service != "llamaindex-mcp" or probe.kind not in ("http", "json", "mcp"):
            continue
        assert probe.min_interval > 0, f"{service}/{probe.name} has no min_interval"
        per_minute += 60 / probe.min_interval
    assert 0 < per_minute <= 10


def test_hotrod_mirrors_the_default(default: Config, hotrod: Config) -> None:
    """The demo shows what production will: the same targets with the same thresholds and
    the same JSON-derived series, so dashboards and alerts fit both."""
    real = hotrod.targets()
    for target, (_, probe) in default.targets().items():
        if probe.kind in ("tcp", "dns"):
            continue  # loopback checks; the real stack has its own TLS and DNS probes
        assert target in real, target
        twin = real[target][1]
        assert twin.kind == probe.kind, target
        for key in ("timeout", "degraded_after", "min_interval"):
            assert getattr(twin, key) == getattr(probe, key), f"{target}: {key}"
        if isinstance(probe, JsonProbe):
            assert twin.metrics == probe.metrics, target


# --- the default config -------------------------------------------------------------------------


def test_default_points_only_at_loopback(default: Config) -> None:
    for service, probe in probes(default):
        host, _ = host_port(probe)
        assert host in LOOPBACK, f"{service}/{probe.name} contacts {host}"
        resolver = getattr(probe, "resolver", None)
        assert resolver is None or resolver.rsplit(":", 1)[0].strip("[]") in LOOPBACK


def test_default_ports_are_the_standins(default: Config) -> None:
    for service, probe in probes(default):
        _, port = host_port(probe)
        if port is not None:
            # default.yml names the base ports; the demo moves them by its offset (layout.moved)
            assert port == layout.BASE_STANDIN_PORTS[service], f"{service}/{probe.name}"


# --- the default config against the stand-ins ---------------------------------------------------


@pytest.fixture
async def stack() -> AsyncIterator[tuple[standins.RunningStandIns, aiohttp.ClientSession]]:
    async with (
        standins.run_standins(ports={}) as running,
        aiohttp.ClientSession() as session,
    ):
        yield running, session


async def fetch(
    stack: tuple[standins.RunningStandIns, aiohttp.ClientSession], service: str, probe: Any
) -> tuple[int, str]:
    """Make the probe's request against the stand-in (on its test port), as the probe would."""
    running, session = stack
    url = running.urls[service] + urlsplit(probe.url).path
    if isinstance(probe, McpProbe):
        request = session.post(url, json={"method": "tools/list"}, headers=probe.headers)
    else:
        request = session.request(probe.method, url, headers=probe.headers, data=probe.body)
    async with request as resp:
        return resp.status, await resp.text()


def failed(probe: HttpProbe, doc: Any) -> list[str]:
    return [msg for a in probe.expect_json if (msg := assertions.evaluate(a, doc))]


def degraded(probe: HttpProbe, doc: Any) -> bool:
    return any(assertions.evaluate(a, doc) is None for a in probe.degraded_when)


def expand(metric: Any) -> Iterator[tuple[str | int, ...]]:
    """Every path a JSON metric reads, one per combination of its label values."""
    combos: list[dict[str, str]] = [{}]
    for label, values in metric.labels.items():
        combos = [{**c, label: v} for c in combos for v in values]
    for combo in combos:
        yield assertions.parse_path(metric.path.format(**combo))


async def test_default_probes_pass_against_healthy_standins(default: Config, stack: Any) -> None:
    for service, probe in probes(default):
        if isinstance(probe, TcpProbe | DnsProbe):
            continue
        target = f"{service}/{probe.name}"
        status, text = await fetch(stack, service, probe)
        if isinstance(probe, McpProbe):
            assert status == 200, target
            listed = {tool["name"] for tool in json.loads(text)["tools"]}
            assert set(probe.tools) <= listed, target
            continue
        assert status_matches(probe.valid_status, status), f"{target}: HTTP {status}"
        assert all(p.search(text) for p in probe.body_must_match), target
        if not (probe.expect_json or probe.degraded_when or isinstance(probe, JsonProbe)):
            continue
        doc = json.loads(text)
        assert failed(probe, doc) == [], target
        assert not degraded(probe, doc), target
        for metric in probe.metrics if isinstance(probe, JsonProbe) else ():
            for path in expand(metric):
                value = assertions.lookup(doc, path)
                assert not assertions.is_missing(value), f"{target}: {path} missing"
                if metric.parse == "states":
                    assert value in metric.states, f"{target}: {path} = {value!r}"
                elif metric.parse == "percent":
                    assert re.match(r"^\d+(\.\d+)?%$", value), f"{target}: {path} = {value!r}"
                elif metric.parse == "duration":
                    assert re.match(r"^\d+(\.\d+)?(ms|s)$", value), f"{target}: {path}"
                else:
                    assert isinstance(value, int | float), f"{target}: {path} = {value!r}"


@pytest.mark.parametrize(
    ("service", "mode", "probe_name", "expected"),
    [
        ("agent-service", "wrong_version", "health", "down"),
        ("hotdash-app", "failing", "health", "down"),
        ("hotdash-app", "degraded", "health", "degraded"),
        ("hotdash-app", "degraded", "monitoring", "degraded"),
        ("agent-service", "degraded", "queue", "degraded"),
        ("chatwoot", "wrong_version", "api", "down"),
        ("chatwoot", "degraded", "api", "degraded"),
        ("chatwoot", "failing", "profile", "down"),
    ],
)
async def test_default_thresholds_catch_the_faults(
    default: Config, stack: Any, service: str, mode: str, probe_name: str, expected: str
) -> None:
    """Each fault mode of a stand-in is caught by the default config's own assertions."""
    running, _ = stack
    probe = default.targets()[f"{service}/{probe_name}"][1]
    running[service].fault.set(mode)
    status, text = await fetch(stack, service, probe)
    if not status_matches(probe.valid_status, status):
        verdict = "down"
    else:
        doc = json.loads(text)
        verdict = "down" if failed(probe, doc) else "degraded" if degraded(probe, doc) else "up"
    assert verdict == expected


async def test_default_catches_slow_mcp_queries(default: Config) -> None:
    """MCP query p95 target (500 ms): the degraded stand-in crosses it, and the default config's
    degraded_when says so."""
    clock = [1000.0]
    made = standins.make_standins(clock=lambda: clock[0], seed=2)
    probe = default.targets()["llamaindex-mcp/health"][1]
    async with (
        standins.run_standins(ports={}, standins=made) as running,
        aiohttp.ClientSession() as session,
    ):
        made["llamaindex-mcp"].fault.set("degraded")
        for _ in range(3):
            clock[0] += standins.MAX_STEPS
            status, text = await fetch((running, session), "llamaindex-mcp", probe)
        assert status == 200
        doc = json.loads(text)
        assert failed(probe, doc) == []
        assert degraded(probe, doc)


# --- config/hotrod.yml --------------------------------------------------------------------------


def test_hotrod_contacts_only_the_documented_hosts(hotrod: Config) -> None:
    for service, probe in probes(hotrod):
        target = f"{service}/{probe.name}"
        if isinstance(probe, HttpProbe | McpProbe):
            assert probe.url.startswith(("https://", "${")), f"{target}: not HTTPS"
            # the host as written, before any ${VAR} is resolved
            authority = probe.url.split("://", 1)[-1].split("/", 1)[0]
            assert "@" not in authority, f"{target}: credentials in the URL"
            host = authority.split(":", 1)[0]
        else:
            host = host_port(probe)[0]
        assert host in FLY_HOSTS or REF.fullmatch(host), f"{target} contacts {host!r}"


def test_hotrod_probes_tls_and_dns_of_every_fly_host(hotrod: Config) -> None:
    tls = {p.address for _, p in probes(hotrod) if isinstance(p, TcpProbe) and p.tls}
    dns = {p.query for _, p in probes(hotrod) if isinstance(p, DnsProbe) and p.resolver is None}
    assert tls == {f"{host}:443" for host in FLY_HOSTS}
    assert dns == FLY_HOSTS


def _secret_slots(probe: Any) -> Iterator[tuple[str, str]]:
    """(where, value) of every value that carries a credential."""
    for header, value in getattr(probe, "headers", {}).items():
        if re.search(r"token|auth|key|secret|password|cookie", header, re.IGNORECASE):
            yield f"headers.{header}", value
    for key in ("bearer_token", "body"):
        if getattr(probe, key, None):
            yield key, getattr(probe, key)
    auth = getattr(probe, "basic_auth", None)
    if auth is not None and auth.password is not None:
        yield "basic_auth.password", auth.password


def test_hotrod_holds_no_literal_secret(hotrod: Config) -> None:
    referenced: set[str] = set()
    for service, probe in probes(hotrod):
        for where, value in _secret_slots(probe):
            if where == "body":
                continue  # a request body, checked with the raw text below
            rest = REF.sub("", value).removeprefix("Bearer ").strip()
            assert rest == "", f"{service}/{probe.name} {where} holds a literal value"
            referenced.update(REF.findall(value))
    assert {"${SHOPIFY_ADMIN_TOKEN}", "${CHATWOOT_API_TOKEN}"} <= referenced

    text = HOTROD.read_text(encoding="utf-8")
    # token shapes: Shopify's prefixed tokens, and long mixed letter-and-digit strings
    assert not re.search(r"shp(at|ca|pa|ss)_", text)
    assert not re.search(r"\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{20,}\b", text)
    # a *_file key names where the secret is (platform.fly.token_file), never the secret
    assert not re.search(
        r"(?im)^\s*(?![\w-]*_file:)[\w-]*(token|password|secret)[\w-]*:\s*(?!\$\{)\S", text
    )
