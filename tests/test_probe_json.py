"""The JSON probe against loopback targets shaped like the real ones (docs/architecture.md):
agent-service /queue/stats, llamaindex-mcp /health, Chatwoot /api."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from exporter import metrics as m
from exporter.config import FLY_PIN_HEADER, JsonMetric, JsonProbe
from exporter.probes import json_metrics
from exporter.probes.base import ProbeContext, ProbeResult, Report, run_probe

Serve = Callable[..., Awaitable[str]]

QUEUE_STATS = {
    "total": 12,
    "pending": 3,
    "processing": 1,
    "completed": 7,
    "failed": 1,
    "processedCount": 1520,
}
MCP_HEALTH = {
    "status": "ok",
    "service": "llamaindex-mcp",
    "version": "1.0.0",
    "uptime": "86400s",
    "tools": ["query_support", "refresh_index"],
    "metrics": {
        "query_support": {
            "calls": 200,
            "errors": 3,
            "errorRate": "1.50%",
            "avgLatencyMs": 180,
            "p95LatencyMs": 450,
        },
        "refresh_index": {
            "calls": 4,
            "errors": 0,
            "errorRate": "0.00%",
            "avgLatencyMs": 5200,
            "p95LatencyMs": 9100,
        },
    },
}
CHATWOOT_API = {
    "version": "4.6.0",
    "timestamp": "2025-10-13 09:00:00",
    "queue_services": "ok",
    "data_services": "failing",
}
OK_FAILING = ["ok", "failing"]


def probe_cfg(url: str, metrics: list[dict[str, Any]], **kw: Any) -> JsonProbe:
    return JsonProbe.model_validate({"name": "t", "url": url, "metrics": metrics, **kw})


async def serve_json(serve: Serve, doc: Any, status: int = 200) -> str:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response(doc, status=status)

    app = web.Application()
    app.router.add_get("/", handler)
    return await serve(app) + "/"


async def run(cfg: JsonProbe, ctx: ProbeContext) -> ProbeResult:
    deadline = asyncio.get_running_loop().time() + 3
    return await run_probe(json_metrics.probe, cfg, ctx, deadline)


def value(samples: Any, name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.metric.name == name and s.labels == labels]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def values(samples: Any, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in samples if s.metric.name == name}


def field_states(samples: Any) -> dict[str, str]:
    """field -> the one state that is 1, checking each field has exactly the three series."""
    out: dict[str, str] = {}
    by_field: dict[str, dict[str, float]] = {}
    for s in samples:
        if s.metric == m.JSON_FIELD_STATE:
            by_field.setdefault(s.labels["field"], {})[s.labels["state"]] = s.value
    for field, states in by_field.items():
        assert sorted(states) == ["invalid", "missing", "ok"], field
        assert sorted(states.values()) == [0, 0, 1], field
        out[field] = next(state for state, v in states.items() if v == 1)
    return out


# --- the real shapes ------------------------------------------------------------------------------


async def test_agent_service_queue_stats(probe_ctx: ProbeContext, serve: Serve) -> None:
    url = await serve_json(serve, QUEUE_STATS)
    cfg = probe_cfg(
        url,
        [
            {
                "name": "agent_queue_jobs",
                "help": "Jobs in the agent-service queue, by state.",
                "path": "{state}",
                "labels": {"state": ["pending", "processing", "completed", "failed"]},
            },
            {"name": "agent_processed", "path": "processedCount"},
        ],
    )
    result = await run(cfg, probe_ctx)

    assert result.status == "up"
    assert values(result.samples, "redline_json_agent_queue_jobs") == {
        (("state", "pending"),): 3,
        (("state", "processing"),): 1,
        (("state", "completed"),): 7,
        (("state", "failed"),): 1,
    }
    assert value(result.samples, "redline_json_agent_processed") == 1520
    metric = next(s.metric for s in result.samples if s.metric.name.endswith("queue_jobs"))
    assert metric == m.Metric(
        "redline_json_agent_queue_jobs",
        "gauge",
        "Jobs in the agent-service queue, by state.",
        ("service", "probe", "state"),
    )
    assert set(field_states(result.samples).values()) == {"ok"}
    assert len(field_states(result.samples)) == 5
    # the HTTP series are there too: the same request code ran
    assert value(result.samples, "probe_http_status_code") == 200


async def test_mcp_health_per_tool_metrics(probe_ctx: ProbeContext, serve: Serve) -> None:
    url = await serve_json(serve, MCP_HEALTH)
    tools = {"tool": ["query_support", "refresh_index", "insight_report"]}
    cfg = probe_cfg(
        url,
        [
            {"name": "mcp_tool_calls", "path": "metrics.{tool}.calls", "labels": tools},
            {
                "name": "mcp_tool_error_ratio",
                "path": "metrics.{tool}.errorRate",
                "labels": tools,
                "parse": "percent",
            },
            {
                "name": "mcp_tool_latency_avg_seconds",
                "path": "metrics.{tool}.avgLatencyMs",
                "labels": tools,
                "scale": 0.001,
            },
            {
                "name": "mcp_tool_latency_p95_seconds",
                "path": "metrics.{tool}.p95LatencyMs",
                "labels": tools,
                "scale": 0.001,
            },
            {"name": "mcp_uptime_seconds", "path": "uptime", "parse": "duration"},
        ],
        expect_json=['status == "ok"'],
    )
    result = await run(cfg, probe_ctx)

    assert result.status == "up"  # a tool missing from the answer does not fail the probe
    s = result.samples
    assert value(s, "redline_json_mcp_tool_calls", tool="query_support") == 200
    assert value(s, "redline_json_mcp_tool_calls", tool="refresh_index") == 4
    assert value(s, "redline_json_mcp_tool_error_ratio", tool="query_support") == 0.015
    assert value(s, "redline_json_mcp_tool_error_ratio", tool="refresh_index") == 0.0
    avg = value(s, "redline_json_mcp_tool_latency_avg_seconds", tool="query_support")
    assert avg == pytest.approx(0.18, rel=1e-12)
    p95 = value(s, "redline_json_mcp_tool_latency_p95_seconds", tool="refresh_index")
    assert p95 == pytest.approx(9.1, rel=1e-12)
    assert value(s, "redline_json_mcp_uptime_seconds") == 86400
    # insight_report is configured but absent: no value, and its fields say missing
    assert not any(x.labels.get("tool") == "insight_report" for x in s)
    states = field_states(s)
    assert states["metrics.insight_report.calls"] == "missing"
    assert states["metrics.insight_report.errorRate"] == "missing"
    assert states["metrics.query_support.errorRate"] == "ok"
    assert list(states.values()).count("missing") == 4
    assert "json field metrics.insight_report.calls: missing" in result.trace
    assert "json: 9 fields read, 4 missing, 0 invalid" in result.trace


async def test_chatwoot_services_as_states(probe_ctx: ProbeContext, serve: Serve) -> None:
    url = await serve_json(serve, CHATWOOT_API)
    cfg = probe_cfg(
        url,
        [
            {
                "name": "chatwoot_queue_services",
                "path": "queue_services",
                "parse": "states",
                "states": OK_FAILING,
            },
            {
                "name": "chatwoot_data_services",
                "path": "data_services",
                "parse": "states",
                "states": OK_FAILING,
            },
        ],
    )
    result = await run(cfg, probe_ctx)

    assert result.status == "up"
    assert values(result.samples, "redline_json_chatwoot_queue_services") == {
        (("state", "ok"),): 1,
        (("state", "failing"),): 0,
    }
    assert values(result.samples, "redline_json_chatwoot_data_services") == {
        (("state", "ok"),): 0,
        (("state", "failing"),): 1,
    }
    metric = next(s.metric for s in result.samples if s.metric.name.endswith("data_services"))
    assert (metric.type, metric.labels) == ("stateset", ("service", "probe", "state"))


async def test_missing_and_unreadable_fields(probe_ctx: ProbeContext, serve: Serve) -> None:
    doc = {**QUEUE_STATS, "pending": "lots", "queue_services": "rebooting"}
    del doc["failed"]
    url = await serve_json(serve, doc)
    cfg = probe_cfg(
        url,
        [
            {
                "name": "agent_queue_jobs",
                "path": "{state}",
                "labels": {"state": ["pending", "processing", "failed"]},
            },
            {
                "name": "queue_services",
                "path": "queue_services",
                "parse": "states",
                "states": OK_FAILING,
            },
        ],
    )
    result = await run(cfg, probe_ctx)

    assert (result.success, result.status) == (True, "up")
    assert values(result.samples, "redline_json_agent_queue_jobs") == {
        (("state", "processing"),): 1
    }
    assert values(result.samples, "redline_json_queue_services") == {}
    assert field_states(result.samples) == {
        "pending": "invalid",
        "processing": "ok",
        "failed": "missing",
        "queue_services": "invalid",
    }
    assert 'json field pending: invalid, "lots" is not a number' in result.trace
    assert 'json field queue_services: invalid, "rebooting" is not one of ok, failing' in (
        result.trace
    )


async def test_http_checks_still_decide_success(probe_ctx: ProbeContext, serve: Serve) -> None:
    url = await serve_json(serve, {"status": "down", "pending": 3}, status=500)
    result = await run(probe_cfg(url, [{"name": "pending", "path": "pending"}]), probe_ctx)

    assert result.reason == "status"
    # no value read from a failed probe, and no field state either: they would be guesses
    assert not any(s.metric.name.startswith("redline_json_") for s in result.samples)


async def test_body_that_is_not_json(probe_ctx: ProbeContext, serve: Serve) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>")

    app = web.Application()
    app.router.add_get("/", handler)
    url = await serve(app) + "/"
    result = await run(probe_cfg(url, [{"name": "pending", "path": "pending"}]), probe_ctx)

    assert (result.reason, result.message) == (
        "json",
        "body is not valid JSON: Expecting value at line 1 column 1",
    )


# --- parsing, without a server --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parse", "found", "scale", "expected"),
    [
        ("number", 42, 1.0, 42),
        ("number", 2.5, 2.0, 5.0),
        ("number", True, 1.0, None),  # JSON keeps booleans and numbers apart
        ("number", "12", 1.0, None),
        ("number", None, 1.0, None),
        ("percent", "1.50%", 1.0, 0.015),
        ("percent", " 100% ", 1.0, 1.0),
        ("percent", 25, 1.0, 0.25),
        ("percent", "1.5", 1.0, None),
        ("percent", "n/a%", 1.0, None),
        ("duration", "12s", 1.0, 12),
        ("duration", "340ms", 1.0, 0.34),
        ("duration", "5m", 1.0, 300),
        ("duration", "1h30m", 1.0, 5400),
        ("duration", 7, 1.0, 7),
        ("duration", "12 parsecs", 1.0, None),
        ("duration", "s", 1.0, None),
        ("bool", True, 1.0, 1),
        ("bool", False, 1.0, 0),
        ("bool", "true", 1.0, None),
    ],
)
def test_parse_kinds(parse: str, found: Any, scale: float, expected: float | None) -> None:
    spec = JsonMetric.model_validate({"name": "x", "path": "v", "parse": parse, "scale": scale})
    report = Report()
    json_metrics.read_values((spec,), {"v": found}, report)

    got = values(report.samples, "redline_json_x")
    if expected is None:
        assert got == {}
        assert field_states(report.samples) == {"v": "invalid"}
    else:
        assert got == {(): pytest.approx(expected, rel=1e-12)}
        assert field_states(report.samples) == {"v": "ok"}


def test_states_match_json_scalars_by_their_text() -> None:
    spec = JsonMetric.model_validate(
        {"name": "x", "path": "v", "parse": "states", "states": ["true", "false"]}
    )
    report = Report()
    json_metrics.read_values((spec,), {"v": True}, report)

    assert values(report.samples, "redline_json_x") == {
        (("state", "true"),): 1,
        (("state", "false"),): 0,
    }


def test_label_values_that_are_not_plain_keys_are_quoted() -> None:
    spec = JsonMetric.model_validate(
        {"name": "x", "path": "m.{tool}.calls", "labels": {"tool": ["v1.search", "0", "ok"]}}
    )
    doc = {"m": {"v1.search": {"calls": 1}, "0": {"calls": 2}, "ok": {"calls": 3}}}
    report = Report()
    json_metrics.read_values((spec,), doc, report)

    assert values(report.samples, "redline_json_x") == {
        (("tool", "v1.search"),): 1,
        (("tool", "0"),): 2,
        (("tool", "ok"),): 3,
    }
    assert set(field_states(report.samples)) == {
        'm["v1.search"].calls',
        'm["0"].calls',
        "m.ok.calls",
    }


def test_cartesian_product_of_labels() -> None:
    spec = JsonMetric.model_validate(
        {
            "name": "x",
            "path": "{region}.{kind}",
            "labels": {"region": ["ord", "iad"], "kind": ["web", "worker"]},
        }
    )
    doc = {"ord": {"web": 1, "worker": 2}, "iad": {"web": 3}}
    report = Report()
    json_metrics.read_values((spec,), doc, report)

    assert values(report.samples, "redline_json_x") == {
        (("kind", "web"), ("region", "ord")): 1,
        (("kind", "worker"), ("region", "ord")): 2,
        (("kind", "web"), ("region", "iad")): 3,
    }
    assert field_states(report.samples)["iad.worker"] == "missing"


# --- per machine (per_machine: a Fly process group; docs/platform.md) -----------------------------


async def _machines_target(serve: Serve, counts: dict[str, int]) -> str:
    """/queue/stats of machines answering by fly-force-instance-id; unpinned: the first one.
    A machine not in ``counts`` answers 503 (Fly's proxy, a machine it cannot reach)."""

    async def handler(request: web.Request) -> web.Response:
        machine = request.headers.get(FLY_PIN_HEADER, next(iter(counts)))
        if machine not in counts:
            return web.Response(status=503)
        return web.json_response({**QUEUE_STATS, "processedCount": counts[machine]})

    app = web.Application()
    app.router.add_get("/", handler)
    return await serve(app) + "/"


PROCESSED = [{"name": "queue_processed", "path": "processedCount"}]


async def test_per_machine_reads_each_machine_labelled(
    probe_ctx: ProbeContext, serve: Serve
) -> None:
    url = await _machines_target(serve, {"aaa111": 10, "bbb222": 5000})
    cfg = probe_cfg(url, PROCESSED, per_machine="app")
    probe_ctx.machines = lambda probe: ("aaa111", "bbb222", "ccc333")  # ccc333 answers 503
    result = await run(cfg, probe_ctx)

    assert result.success  # the probe's own request through the proxy answered
    name = "redline_json_queue_processed"
    assert value(result.samples, name, machine="aaa111") == 10
    assert value(result.samples, name, machine="bbb222") == 5000
    assert not [s for s in result.samples if s.metric.name == name and not s.labels]
    # the machine that did not answer has its field missing, and says why
    field = "redline_json_field_state"
    assert value(result.samples, field, field="processedCount", state="missing") == 1
    assert any("machine ccc333: status" in line for line in result.trace)


async def test_per_machine_without_known_machines_reads_nothing(
    probe_ctx: ProbeContext, serve: Serve
) -> None:
    """Read through the proxy the counts would alternate: no value rather than a false reset."""
    url = await _machines_target(serve, {"aaa111": 10})
    cfg = probe_cfg(url, PROCESSED, per_machine="app")
    for machines in (None, ()):  # no Fly source here / no started machine
        probe_ctx.machines = lambda probe, found=machines: found  # type: ignore[misc]
        result = await run(cfg, probe_ctx)
        assert result.success
        assert not [s for s in result.samples if s.metric.name == "redline_json_queue_processed"]
        field = "redline_json_field_state"
        assert value(result.samples, field, field="processedCount", state="missing") == 1


def test_per_machine_refuses_a_pin_header_of_its_own() -> None:
    with pytest.raises(ValueError, match="per_machine sets fly-force-instance-id itself"):
        probe_cfg("http://x/", PROCESSED, per_machine="app", headers={FLY_PIN_HEADER: "a1"})
