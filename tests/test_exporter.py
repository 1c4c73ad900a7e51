"""The exporter's web app against real targets on loopback: deadlines, shared runs, /probe,
reload, and the exposition's content."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from exporter import selfmetrics
from exporter.app import initial_runtime, make_app


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    found = samples(text)
    assert key in found, f"{name}{labels} not in exposition"
    return found[key]


class Target:
    """A loopback HTTP target that counts its hits and can be made to hang."""

    def __init__(self) -> None:
        self.hits = 0
        self.delay = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"status": "ok", "version": "1.4.2"})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/health", self.handle)
        return app


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A target that accepts connections and never answers (``stream_server`` closes them)."""
    await asyncio.sleep(3600)


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    clients: list[TestClient[Any, Any]] = []

    async def start(config_text: str) -> tuple[TestClient[Any, Any], Path]:
        path = tmp_path / "redline.yml"
        path.write_text(config_text)
        runtime = initial_runtime(path)
        client = TestClient(TestServer(make_app(runtime)))
        await client.start_server()
        clients.append(client)
        return client, path

    yield start
    for client in clients:
        await client.close()


async def test_hanging_target_times_out_while_the_scrape_answers_in_time(
    serve: Callable[..., Any], exporter: Callable[..., Any], stream_server: Callable[..., Any]
) -> None:
    target = Target()
    url = await serve(target.app())
    port = await stream_server(hang)
    client, _ = await exporter(
        f"""
exporter: {{scrape_timeout_margin: 0.3s}}
services:
  - name: app
    probes: [{{name: health, kind: http, url: "{url}/health", expect_json: ['status == "ok"']}}]
  - name: stuck
    probes: [{{name: health, kind: http, url: "http://127.0.0.1:{port}/health"}}]
"""
    )
    started = time.monotonic()
    resp = await client.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
    elapsed = time.monotonic() - started
    text = await resp.text()
    assert resp.status == 200
    assert 1.1 <= elapsed < 1.5, elapsed  # 1.5 s minus the 0.3 s margin, not the 10 s timeout
    assert value(text, "probe_success", service="app", probe="health") == 1
    assert value(text, "probe_success", service="stuck", probe="health") == 0
    assert (
        value(
            text, "redline_probe_failure_reason", service="stuck", probe="health", reason="timeout"
        )
        == 1
    )
    assert (
        value(text, "redline_probe_failure_reason", service="app", probe="health", reason="timeout")
        == 0
    )
    assert value(text, "redline_probe_status", service="app", probe="health", status="up") == 1


async def test_concurrent_scrapes_share_one_run(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    target = Target()
    target.delay = 0.3
    url = await serve(target.app())
    client, _ = await exporter(
        f'services: [{{name: app, probes: [{{name: h, kind: http, url: "{url}/health"}}]}}]'
    )
    first, second = await asyncio.gather(client.get("/metrics"), client.get("/metrics"))
    for resp in (first, second):
        assert value(await resp.text(), "probe_success", service="app", probe="h") == 1
    assert target.hits == 1


async def test_min_interval_reuses_the_result_and_exposes_its_age(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    target = Target()
    url = await serve(target.app())
    client, _ = await exporter(
        f"services: [{{name: app, probes: [{{name: h, kind: http, url: '{url}/health', "
        "min_interval: 30s}]}]"
    )
    text1 = await (await client.get("/metrics")).text()
    await asyncio.sleep(0.2)
    text2 = await (await client.get("/metrics")).text()
    assert target.hits == 1
    assert value(text1, "redline_probe_result_age_seconds", service="app", probe="h") < 0.1
    assert value(text2, "redline_probe_result_age_seconds", service="app", probe="h") >= 0.2


async def test_probe_endpoint_takes_only_configured_names(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    target = Target()
    url = await serve(target.app())
    client, _ = await exporter(
        f"""
services:
  - name: app
    probes: [{{name: health, kind: http, url: "{url}/health"}}]
  - name: agent-service
    probes: [{{name: health, kind: http, url: "{url}/health"}}]
"""
    )
    resp = await client.get("/probe", params={"target": "app/health"})
    text = await resp.text()
    assert resp.status == 200
    assert value(text, "probe_success", service="app", probe="health") == 1
    assert (
        "probe_success",
        frozenset({"service": "agent-service", "probe": "health"}.items()),
    ) not in samples(text)
    assert "redline_build_info" not in text  # self-metrics only on /metrics
    for bad in (f"{url}/health", "http://169.254.169.254/", "nope", ""):
        resp = await client.get("/probe", params={"target": bad})
        assert resp.status == 404, bad
    assert target.hits == 1
    resp = await client.get("/probe", params={"target": "agent-service"})
    assert value(await resp.text(), "probe_success", service="agent-service", probe="health") == 1


async def test_reload_keeps_the_old_config_when_the_new_one_is_invalid(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    target = Target()
    url = await serve(target.app())
    client, path = await exporter(
        f'services: [{{name: app, probes: [{{name: h, kind: http, url: "{url}/health"}}]}}]'
    )
    assert (await client.get("/-/reload")).status == 405  # only POST
    path.write_text("services: [{name: app, probes: [{name: h, kind: http}]}]")
    resp = await client.post("/-/reload")
    assert resp.status == 500
    assert "services[0].probes[0].url" in await resp.text()
    text = await (await client.get("/metrics")).text()
    assert value(text, "redline_config_last_reload_successful") == 0
    assert value(text, "probe_success", service="app", probe="h") == 1  # old config serves

    path.write_text(
        f'services: [{{name: app2, probes: [{{name: h, kind: http, url: "{url}/health"}}]}}]'
    )
    before = time.time()
    resp = await client.post("/-/reload")
    assert resp.status == 200
    text = await (await client.get("/metrics")).text()
    assert value(text, "redline_config_last_reload_successful") == 1
    assert value(text, "redline_config_last_reload_success_timestamp_seconds") >= before - 1
    assert value(text, "probe_success", service="app2", probe="h") == 1
    assert ("probe_success", frozenset({"service": "app", "probe": "h"}.items())) not in samples(
        text
    )


async def test_health_ready_and_landing_page(exporter: Callable[..., Any]) -> None:
    client, _ = await exporter(
        "services: [{name: app, probes: [{name: h, kind: tcp, address: '127.0.0.1:9'}]}]"
    )
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/-/ready")).status == 200
    page = await (await client.get("/")).text()
    for endpoint in ("/metrics", "/probe", "/-/healthy", "/-/ready", "/-/reload", "app/h"):
        assert endpoint in page


async def test_text_format_is_served_whatever_prometheus_accepts(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    # redline always answers the text format, which every Prometheus accepts, because
    # OpenMetrics costs far more to render (bench/README.md)
    target = Target()
    url = await serve(target.app())
    client, _ = await exporter(
        f'services: [{{name: app, probes: [{{name: h, kind: http, url: "{url}/health"}}]}}]'
    )
    prometheus_accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    resp = await client.get("/metrics", headers={"Accept": prometheus_accept})
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = await resp.text()
    assert value(text, "probe_success", service="app", probe="h") == 1
    assert "# TYPE redline_probe_errors_total counter" in text


def test_text_exposition_escapes_label_values_and_help() -> None:
    from prometheus_client.metrics_core import Metric as Family

    from exporter.collector import text_exposition

    family = Family("redline_x", "help with \\ and\nnewline", "gauge")
    family.add_sample("redline_x", {"a": 'q"uote\\back\nnl'}, 1.5)
    family.add_sample("redline_x", {}, float("inf"))
    counter = Family("redline_y", "a counter", "counter")
    counter.add_sample("redline_y_total", {"b": "1"}, 3)
    text = text_exposition([family, counter])
    assert text == (
        "# HELP redline_x help with \\\\ and\\nnewline\n"
        "# TYPE redline_x gauge\n"
        'redline_x{a="q\\"uote\\\\back\\nnl"} 1.5\n'
        "redline_x +Inf\n"
        "# HELP redline_y_total a counter\n"
        "# TYPE redline_y_total counter\n"
        'redline_y_total{b="1"} 3.0\n'
    )
    # and prometheus-client's own parser reads the escapes back to the original value
    parsed = [s for f in text_string_to_metric_families(text) for s in f.samples]
    assert parsed[0].labels == {"a": 'q"uote\\back\nnl'} and parsed[0].value == 1.5


def test_probe_series_written_directly_equal_the_family_path() -> None:
    """render() writes the probes' series straight to text (exporter/collector.py probe_text);
    the bytes must be those of the prometheus-client families probe_families builds, for
    every status and reason, escaped names, probe samples, and source families that share a
    probe family's name."""
    from types import SimpleNamespace

    from exporter import collector
    from exporter import metrics as m
    from exporter.families import Families
    from exporter.probes.base import REASONS, STATUSES, ProbeResult, Sample
    from exporter.scheduler import Served

    served = []
    for i, (status, reason) in enumerate(
        [("up", None), ("degraded", "degraded")] + [("down", r) for r in REASONS]
    ):
        assert status in STATUSES
        own = [
            Sample(m.HTTP_STATUS_CODE, 200 + i),
            Sample(m.HTTP_DURATION, 0.001 * i, {"phase": "connect"}),
            Sample(m.PROBE_ERRORS, i, {"reason": 'a"b\\c'}),  # a counter, escaped value
            Sample(m.HTTP_REDIRECTS, i, {"probe": "own"}),  # a sample naming its own probe
        ]
        result = ProbeResult(
            success=status != "down",
            status=status,
            reason=reason,
            message="",
            duration=i / 7,
            finished_at=0.0,
            samples=own if i % 3 else [],
            trace=[],
        )
        service = SimpleNamespace(name=f'svc-{i % 4}"\\\n')
        probe = SimpleNamespace(name=f"p{i}")
        served.append(Served(service, probe, result, age=i * 0.1234567))
    extra = Families()
    extra.add(m.PROBE_SUCCESS, {"service": "other", "probe": "x"}, 1)  # joins probe_success
    extra.add(m.SOURCE_UP, {"source": "a"}, 1)
    more = Families()
    more.add(m.SOURCE_UP, {"source": "b"}, 0)
    extras = [*extra, *more]
    for chosen in (served, served[:1], []):
        expected = collector.text_exposition(
            collector.merge([*collector.probe_families(chosen), *extras])
        )
        body, _ = collector.render(chosen, with_self=False, extra=extras)
        assert body.decode() == expected


def test_malloc_mmap_threshold_is_fixed_where_the_c_library_is_glibc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`redline run` fixes glibc's mmap threshold (exporter/memory.py), unless the operator set
    MALLOC_MMAP_THRESHOLD_; elsewhere it does nothing."""
    import platform

    from exporter.memory import fix_mmap_threshold

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert fix_mmap_threshold() is (platform.libc_ver()[0] == "glibc")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert fix_mmap_threshold() is False


def test_gc_freezes_what_exists_at_start_and_collects_young_objects_less_often() -> None:
    """exporter/memory.py tune_gc, in a process of its own (a frozen object is never collected):
    what exists when it is called is frozen, the youngest generation's threshold is raised, and
    reference cycles made afterwards are still collected."""
    import subprocess
    import sys

    code = """
import gc, weakref
from exporter.memory import YOUNG_THRESHOLD, tune_gc
class Node: pass
tune_gc()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert gc.get_threshold()[0] == YOUNG_THRESHOLD > 700, gc.get_threshold()
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
kept = [[] for _ in range(YOUNG_THRESHOLD * 2)]  # containers that live count toward a collection
assert gone() is None, "a cycle made after tune_gc was not collected"
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


async def test_probe_errors_are_counted_by_reason(
    serve: Callable[..., Any], exporter: Callable[..., Any]
) -> None:
    client, _ = await exporter(
        "services: [{name: db, probes: [{name: h, kind: http, url: 'http://127.0.0.1:9/'}]}]"
    )
    before = selfmetrics.PROBE_ERRORS.labels("db", "h", "connect")._value.get()
    text = await (await client.get("/metrics")).text()
    assert value(text, "redline_probe_failure_reason", service="db", probe="h", reason="connect")
    assert (
        value(text, "redline_probe_errors_total", service="db", probe="h", reason="connect")
        == before + 1
    )


def _probes(url: str, names: list[str]) -> str:
    probes = ", ".join(f'{{name: {n}, kind: http, url: "{url}/health"}}' for n in names)
    return f"services: [{{name: app, probes: [{probes}]}}]\n"


@pytest.mark.parametrize("text", ["", "# the deploy was cut here\n", "---\n# only comments\n\n"])
async def test_reload_refuses_an_empty_or_comment_only_config(
    serve: Callable[..., Any], exporter: Callable[..., Any], text: str
) -> None:
    url = await serve(Target().app())
    client, path = await exporter(_probes(url, ["h"]))
    path.write_text(text)
    for query in ("", "?force=1"):  # force does not make an empty file a config
        resp = await client.post("/-/reload" + query)
        assert resp.status == 500
        assert "empty" in await resp.text()
        metrics = await (await client.get("/metrics")).text()
        assert value(metrics, "redline_config_last_reload_successful") == 0
        assert value(metrics, "probe_success", service="app", probe="h") == 1  # old config serves
        assert value(metrics, "redline_config_targets", area="probes") == 1


async def test_reload_that_removes_most_targets_is_refused_unless_forced(
    serve: Callable[..., Any], exporter: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    url = await serve(Target().app())
    client, path = await exporter(_probes(url, ["a", "b", "c", "d"]))
    # half of them may go (a config is trimmed by hand, a service retired)
    path.write_text(_probes(url, ["a", "b"]))
    assert (await client.post("/-/reload")).status == 200
    # from 2 to 0 is more than half: refused, the old config stays, the gauge says 0
    path.write_text("services: []\n")
    with caplog.at_level("ERROR", logger="redline.app"):
        resp = await client.post("/-/reload")
    assert resp.status == 409
    body = await resp.text()
    assert "probes: 2 -> 0" in body and "force=1" in body
    assert any("probes: 2 -> 0" in r.getMessage() for r in caplog.records)
    metrics = await (await client.get("/metrics")).text()
    assert value(metrics, "redline_config_last_reload_successful") == 0
    assert value(metrics, "probe_success", service="app", probe="b") == 1
    assert value(metrics, "redline_config_targets", area="probes") == 2
    # forced, it is applied
    resp = await client.post("/-/reload?force=1")
    assert resp.status == 200, await resp.text()
    metrics = await (await client.get("/metrics")).text()
    assert value(metrics, "redline_config_last_reload_successful") == 1
    assert value(metrics, "redline_config_targets", area="probes") == 0
    assert "probe_success{" not in metrics


def test_series_text_kept_between_scrapes_is_bounded_and_the_same() -> None:
    """The text of series kept from one render to the next (exporter/collector.py _SERIES)
    gives the same bytes as a fresh render, stays within its bound, and leaves out long
    texts (a statement's text as a label)."""
    from exporter import collector
    from exporter import metrics as m
    from exporter.families import Families

    def families(n: int, long: bool = False) -> list[Any]:
        out = Families()
        for i in range(n):
            out.add(m.SOURCE_UP, {"source": ("x" * 300 if long else "s") + str(i)}, i)
        return list(out)

    collector._SERIES.clear()
    fresh = collector.text_exposition(families(10))
    assert collector.text_exposition(families(10)) == fresh  # from the kept text
    collector.text_exposition(families(collector._SERIES_MAX + 10))
    assert len(collector._SERIES) <= collector._SERIES_MAX
    collector._SERIES.clear()
    text = collector.text_exposition(families(3, long=True))
    assert collector._SERIES == {} and text.count('source="xxx') == 3


def test_samples_with_the_same_labels_share_one_dict_bounded() -> None:
    """exporter/probes/base.py: results kept between scrapes share their samples' label dicts
    (one per label set, not one per sample); the values stay each sample's own, and the table
    of shared sets stays within its bound."""
    from exporter import metrics as m
    from exporter.probes import base

    first, second = base.Report(), base.Report()
    for report in (first, second):
        report.set(m.HTTP_DURATION, 0.1, phase="connect")
        report.set(m.HTTP_DURATION, 0.2, phase="tls")
        report.set(m.HTTP_STATUS_CODE, 200)
    a, b = first.samples, second.samples
    assert [s.labels for s in a] == [{"phase": "connect"}, {"phase": "tls"}, {}]
    assert all(x.labels is y.labels for x, y in zip(a, b, strict=True))
    assert a[0].labels is not a[1].labels
    for i in range(base._LABEL_SETS_MAX + 10):
        first.set(m.TLS_VERSION_INFO, 1, version=f"v{i}")
    assert len(base._LABEL_SETS) <= base._LABEL_SETS_MAX
    assert first.samples[-1].labels == {"version": f"v{base._LABEL_SETS_MAX + 9}"}
