"""The logs source inside the real exporter app on loopback: the ingest endpoint (tokens, body
limits, bodies that are not NDJSON, gzip), file sources followed in the background, reloads that
keep counters, and the exposition checked by ``promtool check metrics``."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from exporter.app import RUNTIME, initial_runtime, make_app
from exporter.logs.source import LogsSource

TOKEN = "s3cret-ingest-token"
REQUEST = "[GET] /health - 200 (12ms) [req-abc]"


def config(
    tmp: Path, *, file_source: bool = True, groups: str = '["/health"]', max_body: str = "4KiB"
) -> str:
    files = (
        f"""
    - name: files
      kind: file
      paths: ["{tmp}/logs/*.log"]
      poll_interval: 20ms
      parsers: [hotrod_access]
      service: agent-service
"""
        if file_source
        else ""
    )
    return f"""
logs:
  route_groups: {groups}
  patterns: [{{name: econnreset, regex: ECONNRESET}}]
  sources:
    - name: fly
      kind: ingest
      bearer_token: ${{REDLINE_TEST_INGEST_TOKEN}}
      max_body: {max_body}
      envelope: {{message: message, service: fly.app.name}}
      service_map: {{hotdash-agent-service: agent-service}}
      parsers: [hotrod_access]
{files}"""


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


class Exporter:
    def __init__(self, client: TestClient[Any, Any], path: Path) -> None:
        self.client = client
        self.path = path

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = await self.client.get("/metrics")
        assert response.status == 200
        return samples(await response.text())

    async def value(self, name: str, **labels: str) -> float:
        return (await self.metrics()).get((name, frozenset(labels.items())), 0.0)

    async def wait_for(self, name: str, want: float, **labels: str) -> None:
        for _ in range(250):
            if await self.value(name, **labels) == want:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"{name}{labels} never reached {want}: {await self.value(name, **labels)}"
        )

    async def ingest(self, body: bytes, token: str | None = TOKEN, **headers: str) -> Any:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.post("/ingest/fly", data=body, headers=headers)

    def source(self) -> LogsSource:
        assert self.client.app is not None
        runtime = self.client.app[RUNTIME]
        return next(s for s in runtime.sources if isinstance(s, LogsSource))


@pytest.fixture
async def exporter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Any]]:
    monkeypatch.setenv("REDLINE_TEST_INGEST_TOKEN", TOKEN)
    (tmp_path / "logs").mkdir()
    clients: list[TestClient[Any, Any]] = []

    async def start(text: str) -> Exporter:
        path = tmp_path / "redline.yml"
        path.write_text(text)
        client = TestClient(TestServer(make_app(initial_runtime(path))))
        await client.start_server()
        clients.append(client)
        return Exporter(client, path)

    yield start
    for client in clients:
        await client.close()


def fly(app: str, message: str) -> bytes:
    return json.dumps({"fly": {"app": {"name": app}}, "message": message}).encode() + b"\n"


async def test_ingest_needs_the_token(exporter: Any, tmp_path: Path) -> None:
    e = await exporter(config(tmp_path, file_source=False))
    body = fly("hotdash-agent-service", REQUEST) * 3
    for token, headers in ((None, {}), ("wrong", {}), (TOKEN[:-1], {}), ("", {})):
        response = await e.ingest(body, token, **headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    basic = await e.ingest(body, None, Authorization=f"Basic {TOKEN}")
    assert basic.status == 401
    m = await e.metrics()
    lines = {k: v for k, v in m.items() if k[0] == "redline_log_lines_total"}
    assert lines and all(v == 0 for v in lines.values())  # declared at 0, nothing counted
    assert not [k for k in m if k[0] == "redline_http_requests_total"]
    assert await e.value("redline_log_ingest_requests_total", source="fly", code="401") == 5

    ok = await e.ingest(body)
    assert ok.status == 200
    assert await ok.json() == {"lines": 3, "parse_errors": 0, "dropped": 0}
    req = {"service": "agent-service", "route": "/health", "method": "GET"}
    # new series are exported at 0 for two scrapes, then with their count
    await e.value("redline_http_requests_total", **req, code_class="2xx")
    await e.wait_for("redline_http_requests_total", 3, **req, code_class="2xx")
    # an unknown name answers as a bad token does: names cannot be found by trying
    for name, token in (("nope", TOKEN), ("nope", "wrong"), ("fly", "wrong")):
        response = await e.client.post(
            f"/ingest/{name}", data=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 401, name
        assert await response.text() == "a valid bearer token is required\n"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_ingest_body_limit(exporter: Any, tmp_path: Path) -> None:
    e = await exporter(config(tmp_path, file_source=False))
    line = fly("hotdash-agent-service", REQUEST)
    fits = line * (4096 // len(line))
    big = fits + line
    assert (await e.ingest(big)).status == 413  # announced by Content-Length

    async def chunks() -> AsyncIterator[bytes]:  # chunked: no length known in advance
        for _ in range(10):
            yield line * 5

    response = await e.client.post(
        "/ingest/fly", data=chunks(), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status == 413
    assert await e.value("redline_log_lines_total", source="fly", level="unknown") == 0
    assert await e.value("redline_log_ingest_requests_total", source="fly", code="413") == 2

    response = await e.ingest(fits)
    assert response.status == 200
    assert (await response.json())["lines"] == len(fits) // len(line)


async def test_ingest_bodies_that_are_not_ndjson(exporter: Any, tmp_path: Path) -> None:
    e = await exporter(config(tmp_path, file_source=False))
    body = (
        fly("hotdash-agent-service", REQUEST)
        + b"not json at all\n"
        + b'["an", "array"]\n'
        + b'{"truncated": \n'
        + b"\xff\xfe\x00garbage\n"
        + b"\n\n"
        + fly("unknown-app", "Error: read ECONNRESET")
        + json.dumps({"message": {"nested": True}}).encode()  # last line, no newline
    )
    response = await e.ingest(body)
    assert response.status == 200
    assert await response.json() == {"lines": 7, "parse_errors": 6, "dropped": 0}
    m = await e.metrics()

    def v(name: str, **labels: str) -> float:
        return m.get((name, frozenset(labels.items())), 0.0)

    assert v("redline_log_parse_errors_total", source="fly", reason="format") == 5
    assert v("redline_log_parse_errors_total", source="fly", reason="field") == 1
    assert v("redline_log_pattern_matches_total", source="fly", pattern="econnreset") == 1
    assert v("redline_log_lines_total", source="fly", level="unknown") == 7
    assert v("redline_log_read_bytes_total", source="fly") == len(body)

    compressed = await e.ingest(
        gzip.compress(fly("hotdash-agent-service", REQUEST) * 30), **{"Content-Encoding": "gzip"}
    )
    assert compressed.status == 200
    assert (await compressed.json())["lines"] == 30


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_ingest_body_that_is_not_what_its_encoding_says_is_a_400(
    exporter: Any, tmp_path: Path, encoding: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A shipper set to say gzip but sending plain NDJSON: a 400 naming the encoding (a 5xx
    would be retried for ever), counted under code 400, nothing counted as lines."""
    e = await exporter(config(tmp_path, file_source=False, max_body="8MiB"))
    plain = fly("hotdash-agent-service", REQUEST) * 3
    big = plain * 5000  # megabytes still arriving when the error is found
    with caplog.at_level("WARNING"):
        response = await e.ingest(big, **{"Content-Encoding": encoding})
        assert response.status == 400
        response = await e.ingest(plain, **{"Content-Encoding": encoding})
    assert response.status == 400
    text = await response.text()
    assert f"Content-Encoding {encoding}" in text and "not" in text
    assert await e.value("redline_log_ingest_requests_total", source="fly", code="400") == 2
    assert await e.value("redline_log_lines_total", source="fly", level="unknown") == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    ok = await e.ingest(plain)  # the same source goes on taking good bodies
    assert ok.status == 200


async def test_file_source_in_background_and_reload(exporter: Any, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "app.log"
    log.write_text(REQUEST + "\n")  # before start: not counted (start at end)
    e = await exporter(config(tmp_path))
    # the first scan is done when the app has started: every line written now counts
    with open(log, "a") as f:
        f.write((REQUEST + "\n") * 40)
    labels = {"service": "agent-service", "route": "/health", "method": "GET", "code_class": "2xx"}
    await e.wait_for("redline_http_requests_total", 40, **labels)
    assert (await e.ingest(fly("hotdash-agent-service", REQUEST) * 2)).status == 200

    # reload with other route groups: counters keep their values and go on counting
    e.path.write_text(config(tmp_path, groups="[{name: health, paths: [/health]}]"))
    assert (await e.client.post("/-/reload")).status == 200
    assert await e.value("redline_http_requests_total", **labels) == 42
    with open(log, "a") as f:
        f.write((REQUEST + "\n") * 5)
    await e.wait_for("redline_http_requests_total", 5, **{**labels, "route": "health"})
    assert await e.value("redline_log_lines_total", source="files", level="unknown") == 45
    assert await e.value("redline_log_lines_total", source="fly", level="unknown") == 2

    # a source removed from the config stops, and its series go
    e.path.write_text(config(tmp_path, file_source=False))
    assert (await e.client.post("/-/reload")).status == 200
    m = await e.metrics()
    assert not [k for k in m if dict(k[1]).get("source") == "files"]
    assert await e.value("redline_log_lines_total", source="fly", level="unknown") == 2
    assert e.source()._follows == {}

    # a bad config is refused and the running one kept
    e.path.write_text("logs: {sources: [{name: x, kind: ingest, parsers: [json]}]}\n")
    assert (await e.client.post("/-/reload")).status == 500
    assert (await e.ingest(fly("hotdash-agent-service", REQUEST))).status == 200


async def test_exposition_passes_promtool(exporter: Any, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/install-system.sh (make system)"
    (tmp_path / "logs" / "app.log").touch()
    e = await exporter(config(tmp_path))
    await e.wait_for("redline_log_files_followed", 1, source="files")
    body = fly("hotdash-agent-service", REQUEST) * 3 + b"junk\n" + fly("x", "ECONNRESET")
    assert (await e.ingest(body)).status == 200
    assert (await e.ingest(body, "bad")).status == 401
    with open(tmp_path / "logs" / "app.log", "a") as f:
        f.write("[POST] /api/x - 503 (1200ms)\n" + "x" * 70_000 + "\n")
    await e.wait_for("redline_log_lines_dropped_total", 1, source="files", reason="too_long")

    registry = CollectorRegistry(auto_describe=False)

    class Families:
        def collect(self) -> Any:
            return e.source().state.families()

    registry.register(Families())  # type: ignore[arg-type]
    text = generate_latest(registry)
    names = {f.name for f in text_string_to_metric_families(text.decode())}
    assert {
        "redline_log_lines",
        "redline_log_lines_dropped",
        "redline_log_parse_errors",
        "redline_log_pattern_matches",
        "redline_log_last_line_timestamp_seconds",
        "redline_log_read_bytes",
        "redline_log_files_followed",
        "redline_log_file_errors",
        "redline_log_file_rotations",
        "redline_log_ingest_requests",
        "redline_http_requests",
        "redline_http_request_duration_seconds",
    } <= names
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_request_series_start_at_zero() -> None:
    """The first 5xx of a route was a series born at 1: rate() saw no increase and the error
    was lost to LogErrorRateHigh and the SLOs. Every status class of a route is exported at 0
    once the route is seen, and a new series shows 0 for two scrapes before its count."""
    from exporter.logs.counters import ZERO_SCRAPES, LogState, Tally

    def exported(state: LogState) -> dict[tuple[str, ...], float]:
        (family,) = [f for f in state.families() if f.name == "redline_http_requests"]
        return {tuple(s.labels.values()): s.value for s in family.samples}

    state = LogState()
    route = ("agent-service", "api", "POST")
    state.merge("fly", Tally(requests={(*route, "2xx"): 7}))
    for _ in range(ZERO_SCRAPES):
        shown = exported(state)
        assert shown[(*route, "2xx")] == 0  # born at 0, as Prometheus must first read it
        assert {c: shown[(*route, c)] for c in ("1xx", "3xx", "4xx", "5xx")} == dict.fromkeys(
            ("1xx", "3xx", "4xx", "5xx"), 0
        )
    assert exported(state)[(*route, "2xx")] == 7
    # the route's first 5xx counts at once: its series has been 0 for two scrapes already
    state.merge("fly", Tally(requests={(*route, "5xx"): 1}))
    assert exported(state)[(*route, "5xx")] == 1
    # a route never seen before whose first request fails: 0 first, then 1
    other = ("agent-service", "other", "GET", "5xx")
    state.merge("fly", Tally(requests={other: 1}))
    assert [exported(state)[other] for _ in range(ZERO_SCRAPES + 1)] == [0, 0, 1]
    assert state.requests[other] == 1  # the state itself counts from the first line
