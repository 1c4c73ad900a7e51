"""Vendor status feeds against loopback servers serving each provider's documented shapes: what a
person reading the page would see, the bad answers a feed can give, conditional requests,
Retry-After, stale data kept with its age, provider detection, and the background schedule."""

from __future__ import annotations

import asyncio
import copy
import importlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from exporter import collector
from exporter.app import initial_runtime, make_app
from exporter.config import ConfigError, load_config, parse_config
from exporter.secrets import Redactor
from exporter.sources import SOURCES, source_factories
from exporter.vendors import detect
from exporter.vendors.common import COMPONENT_STATES, REASONS
from exporter.vendors.source import VendorSource
from tests.promtool import promtool_problems
from tests.vendors_support import (
    FakeClock,
    Server,
    fixture,
    get,
    hang,
    make_source,
    samples,
    state,
)

SP = "/api/v2/summary.json"


@pytest.fixture
async def server(serve: Callable[..., Any]) -> Server:
    srv = Server()
    srv.url = await serve(srv.app())
    return srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sources() -> AsyncIterator[list[VendorSource]]:
    """Sources made by a test are closed after it."""
    made: list[VendorSource] = []
    yield made
    for source in made:
        await source.close()


async def started(made: list[VendorSource], source: VendorSource) -> VendorSource:
    await source.start()
    made.append(source)
    return source


def feed(url: str, **extra: Any) -> dict[str, Any]:
    return {"feeds": [{"name": "shopify", "url": url, **extra}]}


SHOPIFY_COMPONENTS = [
    "Admin",
    "checkout",
    "Admin API",
    "Storefront",
    "Point of Sale",
    "API & Mobile",
]


# --- what each format reads --------------------------------------------------------------------


async def test_statuspage_summary_reads_as_the_page_shows(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.json(SP, fixture("statuspage_summary.json"))
    source = await started(
        sources,
        make_source(feed(server.url + SP, components=SHOPIFY_COMPONENTS), clock),
    )
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_feed_up", feed="shopify") == 1
    assert state(f, "redline_vendor_feed_failure_reason", "reason", feed="shopify") is None
    assert get(f, "redline_vendor_feed_info", feed="shopify", provider="statuspage") == 1
    assert get(f, "redline_vendor_feed_data_age_seconds", feed="shopify") == 0
    assert get(f, "redline_vendor_feed_last_fetch_timestamp_seconds", feed="shopify") == clock.wall
    components = {
        c: state(f, "redline_vendor_component_status", "status", feed="shopify", component=c)
        for c in SHOPIFY_COMPONENTS
    }
    assert components == {
        "Admin": "operational",
        "checkout": "degraded_performance",  # case ignored
        "Admin API": "partial_outage",  # a child of a group
        "Storefront": "operational",  # " Storefront  " on the page: whitespace trimmed
        "Point of Sale": "under_maintenance",
        "API & Mobile": "missing",  # a group container: its children stand for it
    }
    assert state(f, "redline_vendor_page_indicator", "indicator", feed="shopify") == "major"
    incidents = {
        impact: get(f, "redline_vendor_incidents_open", feed="shopify", impact=impact)
        for impact in ("none", "minor", "major", "critical", "maintenance", "unknown")
    }
    assert incidents == {
        "none": 0,
        "minor": 1,
        "major": 1,
        "critical": 0,
        "maintenance": 0,
        "unknown": 0,
    }
    per_component = {
        c: get(f, "redline_vendor_component_incidents_open", feed="shopify", component=c)
        for c in SHOPIFY_COMPONENTS
    }
    assert per_component == {
        "Admin": 0,
        "checkout": 1,
        "Admin API": 1,
        "Storefront": 0,
        "Point of Sale": 0,
        "API & Mobile": 0,
    }
    # in progress counts; the one scheduled for next week does not
    assert get(f, "redline_vendor_maintenances_active", feed="shopify") == 1


async def test_only_configured_components_are_exported(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    """Cardinality is the config's: the page's other components and no free text appear."""
    server.json(SP, fixture("statuspage_summary.json"))
    source = await started(sources, make_source(feed(server.url + SP, components=["Admin"]), clock))
    await source.run_due()
    values = samples(source.families())
    components = {dict(k).get("component") for (_, k) in values} - {None}
    assert components == {"Admin"}
    text = json.dumps([sorted(k) for (_, k) in values])
    for free_text in ("Checkout", "Some checkouts are slow", "stspg.io", "Partial System Outage"):
        assert free_text not in text
    # and without a filter, no component series at all
    await source.reload(
        parse_config(f"vendors: {{feeds: [{{name: shopify, url: '{server.url}{SP}'}}]}}", "x.yml")
    )
    names = {n for (n, _) in samples(source.families())}
    assert "redline_vendor_component_status" not in names
    assert "redline_vendor_page_indicator" in names


async def test_unknown_status_words_read_as_unknown_and_are_logged_once(
    server: Server, clock: FakeClock, sources: list[VendorSource], caplog: pytest.LogCaptureFixture
) -> None:
    doc = fixture("statuspage_summary.json")
    doc["components"][0]["status"] = "degraded_by_cosmic_rays"
    doc["status"]["indicator"] = "apocalyptic"
    doc["incidents"][0]["impact"] = 7
    server.json(SP, doc)
    source = await started(
        sources, make_source(feed(server.url + SP, components=["Admin", "Checkout"]), clock)
    )
    with caplog.at_level(logging.WARNING, logger="redline.vendors"):
        await source.run_due()
        clock.advance(60)
        await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_feed_up", feed="shopify") == 1  # the rest of the page is good
    assert state(f, "redline_vendor_component_status", "status", component="Admin") == "unknown"
    assert state(f, "redline_vendor_component_status", "status", component="Checkout") == (
        "degraded_performance"
    )
    assert state(f, "redline_vendor_page_indicator", "indicator") == "unknown"
    assert get(f, "redline_vendor_incidents_open", feed="shopify", impact="unknown") == 1
    words = [r.getMessage() for r in caplog.records if "does not know" in r.getMessage()]
    assert len(words) == 3  # each word once, not once per fetch
    assert any("degraded_by_cosmic_rays" in w for w in words)


async def test_google_dashboard_incidents_per_configured_product(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.json("/status/publisher/incidents.json", fixture("google_incidents.json"))
    source = await started(
        sources,
        make_source(
            {
                "feeds": [
                    {
                        "name": "google-ads-dashboard",
                        "url": server.url + "/status/publisher/incidents.json",
                        "provider": "google",
                        "components": ["Google Analytics", "Google Tag Manager"],
                    }
                ]
            },
            clock,
        ),
    )
    await source.run_due()
    f = source.families()
    labels = {"feed": "google-ads-dashboard"}
    # Two open incidents name GA (" Google Analytics " and a multi-product one); the worst is
    # a disruption. The closed outage of October 1st is history.
    assert state(f, "redline_vendor_component_status", "status", component="Google Analytics") == (
        "partial_outage"
    )
    assert (
        state(f, "redline_vendor_component_status", "status", component="Google Tag Manager")
        == "operational"
    )
    assert (
        get(f, "redline_vendor_component_incidents_open", **labels, component="Google Analytics")
        == 2
    )
    assert (
        get(f, "redline_vendor_component_incidents_open", **labels, component="Google Tag Manager")
        == 0
    )
    # the Google Ads API outage is on the same dashboard but not ours: not counted
    assert get(f, "redline_vendor_incidents_open", **labels, impact="critical") == 0
    assert get(f, "redline_vendor_incidents_open", **labels, impact="major") == 1
    assert get(f, "redline_vendor_incidents_open", **labels, impact="minor") == 1
    names = {n for (n, _) in samples(f)}
    assert "redline_vendor_page_indicator" not in names  # Google's feeds have no indicator
    assert "redline_vendor_maintenances_active" not in names


async def test_better_stack_index(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.json("/index.json", fixture("betterstack_index.json"))
    components = ["Dashboard", "API", "Webhooks", "Help Center"]
    source = await started(
        sources,
        make_source(
            {
                "feeds": [
                    {
                        "name": "chatwoot",
                        "url": server.url + "/index.json",
                        "components": components,
                    }
                ]
            },
            clock,
        ),
    )
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_feed_info", feed="chatwoot", provider="betterstack") == 1
    assert {
        c: state(f, "redline_vendor_component_status", "status", component=c) for c in components
    } == {
        "Dashboard": "operational",
        "API": "degraded_performance",
        "Webhooks": "unknown",  # not_monitored: the page itself does not know
        "Help Center": "missing",
    }
    assert state(f, "redline_vendor_page_indicator", "indicator") == "minor"
    assert get(f, "redline_vendor_incidents_open", feed="chatwoot", impact="minor") == 1
    # the database upgrade is under way at T0; the reindex is next week; one report is resolved
    assert get(f, "redline_vendor_maintenances_active", feed="chatwoot") == 1


async def test_instatus_summary(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.json("/summary.json", fixture("instatus_summary.json"))
    source = await started(
        sources,
        make_source(
            {
                "feeds": [
                    {
                        "name": "chatwoot",
                        "url": server.url,
                        "provider": "instatus",
                        "components": ["API"],
                    }
                ]
            },
            clock,
        ),
    )
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_feed_info", feed="chatwoot", provider="instatus") == 1
    # HASISSUES says "something": the open partial outage says how much
    assert state(f, "redline_vendor_page_indicator", "indicator") == "major"
    assert get(f, "redline_vendor_incidents_open", feed="chatwoot", impact="major") == 1
    assert get(f, "redline_vendor_maintenances_active", feed="chatwoot") == 1
    # the summary lists no components
    assert state(f, "redline_vendor_component_status", "status", component="API") == "missing"


# --- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "provider"),
    [
        ("statuspage_summary.json", "statuspage"),
        ("google_incidents.json", "google"),
        ("betterstack_index.json", "betterstack"),
        ("instatus_summary.json", "instatus"),
    ],
)
async def test_provider_detected_from_the_response(
    server: Server, clock: FakeClock, sources: list[VendorSource], name: str, provider: str
) -> None:
    assert detect.detect(fixture(name)) == provider
    server.json("/feed.json", fixture(name))
    source = await started(sources, make_source(feed(server.url + "/feed.json"), clock))
    await source.run_due()
    assert (
        get(source.families(), "redline_vendor_feed_info", feed="shopify", provider=provider) == 1
    )


def test_detection_refuses_other_json() -> None:
    others: list[Any] = [{"status": "ok"}, {"data": [1]}, [1, 2], "text", None, {"page": {}}]
    for doc in others:
        assert detect.detect(doc) is None
    assert detect.detect([]) == "google"  # an empty incidents feed is a valid one


async def test_a_page_that_moves_between_providers_is_found_again(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    """Configured with the page's base URL: each provider's path is tried, the one that works is
    remembered, and looked for again when the page moves."""
    server.json("/index.json", fixture("betterstack_index.json"))
    source = await started(
        sources, make_source({"feeds": [{"name": "chatwoot", "url": server.url + "/"}]}, clock)
    )
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_feed_info", feed="chatwoot", provider="betterstack") == 1
    assert server.count(SP) == 1 and server.count("/index.json") == 1
    clock.advance(60)
    await source.run_due()
    assert server.count(SP) == 1  # remembered: only the path that worked is asked
    # the page moves to Statuspage
    del server.routes["/index.json"]
    server.json(SP, fixture("statuspage_summary.json"))
    clock.advance(60)
    await source.run_due()
    f = source.families()
    assert (
        state(f, "redline_vendor_feed_failure_reason", "reason", feed="chatwoot") == "http_status"
    )
    clock.advance(60)
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_feed_up", feed="chatwoot") == 1
    assert get(f, "redline_vendor_feed_info", feed="chatwoot", provider="statuspage") == 1


async def test_no_supported_feed_under_a_base_url(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    source = await started(
        sources, make_source({"feeds": [{"name": "x", "url": server.url}]}, clock)
    )
    await source.run_due()
    f = source.families()
    assert state(f, "redline_vendor_feed_failure_reason", "reason", feed="x") == "unknown_format"
    assert source.feeds["x"].state.message.startswith("no supported status feed found (tried")


# --- bad answers -------------------------------------------------------------------------------


async def _truncated(request: web.Request) -> web.StreamResponse:
    """Promises 5000 bytes, sends 100, and closes the connection."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = 5000
    await response.prepare(request)
    await response.write(json.dumps(fixture("statuspage_summary.json")).encode()[:100])
    assert request.transport is not None
    request.transport.close()
    return response


BAD_ANSWERS: dict[str, tuple[Callable[[Server], None], str]] = {
    "html": (
        lambda s: s.raw(
            SP,
            b"<!DOCTYPE html><html><body><h1>Attention Required! | Cloudflare</h1></body></html>",
            content_type="text/html",
        ),
        "not_json",
    ),
    "invalid_json": (lambda s: s.raw(SP, b'{"page": {"id": "x"}, components: []}'), "invalid_json"),
    "error_500": (lambda s: s.raw(SP, b"Internal Server Error", status=500), "http_status"),
    "cut_connection": (lambda s: s.routes.__setitem__(SP, _truncated), "truncated"),
    "cut_document": (
        lambda s: s.raw(SP, json.dumps(fixture("statuspage_summary.json")).encode()[:-40]),
        "truncated",
    ),
    "other_json": (lambda s: s.json(SP, {"error": "page not found"}), "unknown_format"),
    "too_large": (lambda s: s.raw(SP, b"[" + b"0," * 40_000 + b"0]"), "too_large"),
    "empty": (lambda s: s.raw(SP, b""), "invalid_json"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
async def test_bad_answers_have_a_reason_and_keep_the_last_good_data(
    server: Server, clock: FakeClock, sources: list[VendorSource], case: str
) -> None:
    server.json(SP, fixture("statuspage_summary.json"))
    source = await started(
        sources,
        make_source(
            feed(
                server.url + SP,
                provider="statuspage",
                components=["Checkout"],
                max_body_bytes="64KiB",
            ),
            clock,
        ),
    )
    await source.run_due()
    setup, reason = BAD_ANSWERS[case]
    setup(server)
    clock.advance(60)
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_feed_up", feed="shopify") == 0
    assert state(f, "redline_vendor_feed_failure_reason", "reason", feed="shopify") == reason
    # the last good data is still served, 60 s old
    assert get(f, "redline_vendor_feed_data_age_seconds", feed="shopify") == 60
    assert state(f, "redline_vendor_component_status", "status", component="Checkout") == (
        "degraded_performance"
    )


async def test_a_failing_feed_serves_its_last_good_data_with_a_growing_age(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.json(SP, fixture("statuspage_summary.json"))
    source = await started(
        sources, make_source(feed(server.url + SP, components=["Admin API"]), clock)
    )
    await source.run_due()
    server.raw(SP, b"upstream connect error", status=503)
    for age in (60, 120, 180):
        clock.advance(60)
        await source.run_due()
        f = source.families()
        assert get(f, "redline_vendor_feed_data_age_seconds", feed="shopify") == age
        assert get(f, "redline_vendor_feed_up", feed="shopify") == 0
        assert (
            get(f, "redline_vendor_feed_last_fetch_timestamp_seconds", feed="shopify") == clock.wall
        )
        assert state(f, "redline_vendor_component_status", "status", component="Admin API") == (
            "partial_outage"
        )
    server.json(SP, fixture("statuspage_summary.json"))
    clock.advance(60)
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_feed_up", feed="shopify") == 1
    assert get(f, "redline_vendor_feed_data_age_seconds", feed="shopify") == 0


async def test_a_feed_that_never_answered_has_no_data_series(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.raw(SP, b"<html>maintenance</html>", status=200)
    source = await started(sources, make_source(feed(server.url + SP, components=["Admin"]), clock))
    assert samples(source.families()) == {}  # nothing before the first attempt
    await source.run_due()
    names = {n for (n, _) in samples(source.families())}
    assert names == {
        "redline_vendor_feed_up",
        "redline_vendor_feed_failure_reason",
        "redline_vendor_feed_last_fetch_timestamp_seconds",
        "redline_vendor_feed_fetch_duration_seconds",
    }


async def test_a_hanging_feed_is_cut_at_its_timeout(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.routes[SP] = hang
    source = await started(sources, make_source(feed(server.url + SP, timeout="300ms"), clock))
    start = time.perf_counter()
    await source.run_due()
    assert time.perf_counter() - start < 2
    f = source.families()
    assert state(f, "redline_vendor_feed_failure_reason", "reason", feed="shopify") == "timeout"
    assert 0.25 < get(f, "redline_vendor_feed_fetch_duration_seconds", feed="shopify") < 2  # type: ignore[operator]


async def test_connection_refused(clock: FakeClock, sources: list[VendorSource]) -> None:
    source = await started(sources, make_source(feed("http://127.0.0.1:9/summary.json"), clock))
    await source.run_due()
    assert state(source.families(), "redline_vendor_feed_failure_reason", "reason") == "connect"


async def test_a_missing_url_variable_is_reason_secret(
    clock: FakeClock, sources: list[VendorSource]
) -> None:
    source = await started(sources, make_source(feed("${STATUS_BASE}/summary.json"), clock))
    await source.run_due()
    assert state(source.families(), "redline_vendor_feed_failure_reason", "reason") == "secret"
    assert "STATUS_BASE" in source.feeds["shopify"].state.message


# --- rate limits and conditional requests ------------------------------------------------------


async def test_429_retry_after_delays_the_next_fetch(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.json(SP, fixture("statuspage_summary.json"))
    source = await started(sources, make_source(feed(server.url + SP, components=["Admin"]), clock))
    await source.run_due()
    server.raw(SP, b'{"error": "slow down"}', status=429, **{"Retry-After": "150"})
    clock.advance(60)
    await source.run_due()
    f = source.families()
    assert (
        state(f, "redline_vendor_feed_failure_reason", "reason", feed="shopify") == "rate_limited"
    )
    assert state(f, "redline_vendor_component_status", "status", component="Admin") == "operational"
    assert server.count(SP) == 2
    clock.advance(60)  # the interval has passed, Retry-After has not
    await source.run_due()
    clock.advance(60)
    await source.run_due()
    assert server.count(SP) == 2
    server.json(SP, fixture("statuspage_summary.json"))
    clock.advance(31)  # 151 s after the 429
    await source.run_due()
    assert server.count(SP) == 3
    assert get(source.families(), "redline_vendor_feed_up", feed="shopify") == 1


async def test_conditional_requests_and_304(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    """304 is a success that confirms the copy held: the data age goes back to 0 (the vendor
    vouched for it just now), and the data served is unchanged."""
    body = json.dumps(fixture("statuspage_summary.json")).encode()
    etag, modified = '"8a3f-5e1c"', "Mon, 13 Oct 2025 11:58:12 GMT"

    async def conditional(request: web.Request) -> web.StreamResponse:
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=body,
            content_type="application/json",
            headers={"ETag": etag, "Last-Modified": modified},
        )

    server.routes[SP] = conditional
    source = await started(
        sources, make_source(feed(server.url + SP, components=["Checkout"]), clock)
    )
    await source.run_due()
    first = server.last(SP)
    assert "If-None-Match" not in first.headers and "If-Modified-Since" not in first.headers
    clock.advance(45)
    assert get(source.families(), "redline_vendor_feed_data_age_seconds", feed="shopify") == 45
    clock.advance(15)
    await source.run_due()
    second = server.last(SP)
    assert second.headers["If-None-Match"] == etag
    assert second.headers["If-Modified-Since"] == modified
    f = source.families()
    assert get(f, "redline_vendor_feed_up", feed="shopify") == 1
    assert get(f, "redline_vendor_feed_data_age_seconds", feed="shopify") == 0
    assert state(f, "redline_vendor_component_status", "status", component="Checkout") == (
        "degraded_performance"
    )


async def test_a_304_without_a_copy_is_a_failure(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.raw(SP, b"", status=304)
    source = await started(sources, make_source(feed(server.url + SP), clock))
    await source.run_due()
    assert state(source.families(), "redline_vendor_feed_failure_reason", "reason") == "http_status"


# --- the background schedule, reloads, the app ------------------------------------------------


async def test_background_fetches_at_the_interval_never_at_scrape_time(
    server: Server, sources: list[VendorSource]
) -> None:
    server.json(SP, fixture("statuspage_summary.json"))
    config = parse_config(
        f"vendors: {{feeds: [{{name: shopify, url: '{server.url}{SP}', "
        "interval: 1s, timeout: 1s}]}",
        "x.yml",
    )
    source = VendorSource(config, Redactor())
    await started(sources, source)
    deadline = time.monotonic() + 5
    while server.count(SP) < 2:
        assert time.monotonic() < deadline, "the background task did not fetch twice"
        await asyncio.sleep(0.05)
    fetched = server.count(SP)
    for _ in range(20):  # scrapes read the cache
        families = await source.collect(asyncio.get_running_loop().time() + 5)
    assert server.count(SP) <= fetched + 1  # at most the next scheduled fetch
    assert get(families, "redline_vendor_feed_up", feed="shopify") == 1
    await source.close()
    sources.remove(source)
    after = server.count(SP)
    await asyncio.sleep(1.2)
    assert server.count(SP) == after  # closed: no task left running


async def test_reload_keeps_state_of_unchanged_feeds_and_drops_removed_ones(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    server.json(SP, fixture("statuspage_summary.json"))
    server.json("/b.json", fixture("statuspage_summary.json"))
    source = await started(
        sources,
        make_source(
            {
                "feeds": [
                    {"name": "a", "url": server.url + SP},
                    {"name": "b", "url": server.url + "/b.json"},
                ]
            },
            clock,
        ),
    )
    await source.run_due()
    clock.advance(30)
    new = parse_config(
        f"vendors: {{feeds: [{{name: a, url: '{server.url}{SP}', components: [Admin]}}]}}", "x.yml"
    )
    await source.reload(new)
    f = source.families()
    assert get(f, "redline_vendor_feed_data_age_seconds", feed="a") == 30  # kept, not refetched
    assert state(f, "redline_vendor_component_status", "status", component="Admin") == "operational"
    assert get(f, "redline_vendor_feed_up", feed="b") is None
    await source.run_due()
    assert server.count(SP) == 1  # not due yet: the reload did not trigger a fetch


async def test_in_the_exporter_scrapes_serve_the_background_fetches(
    server: Server, tmp_path: Path
) -> None:
    """The app starts the source with itself, /metrics serves what the tasks fetched, a reload
    drops a removed feed, and shutdown stops the tasks."""
    server.json(SP, fixture("statuspage_summary.json"))
    path = tmp_path / "redline.yml"
    path.write_text(
        f"vendors: {{feeds: [{{name: shopify, url: '{server.url}{SP}', components: [Admin]}}]}}\n"
    )
    client = TestClient(TestServer(make_app(initial_runtime(path))))
    await client.start_server()
    try:
        deadline = time.monotonic() + 5
        while True:
            text = await (await client.get("/metrics")).text()
            if 'redline_vendor_feed_up{feed="shopify"} 1.0' in text:
                break
            assert time.monotonic() < deadline, "the feed was not fetched in the background"
            await asyncio.sleep(0.05)
        assert 'redline_source_up{source="vendors"} 1.0' in text
        assert (
            'redline_vendor_component_status{component="Admin",feed="shopify",'
            'status="operational"} 1.0' in text
        )
        fetched = server.count(SP)
        for _ in range(5):
            await client.get("/metrics")
        assert server.count(SP) == fetched  # scrapes never fetch
        path.write_text("vendors: {feeds: []}\n")
        # every vendor removed at once: refused unless forced (docs/configuration.md)
        assert (await client.post("/-/reload")).status == 409
        assert (await client.post("/-/reload?force=1")).status == 200
        assert "redline_vendor_feed_up" not in await (await client.get("/metrics")).text()
    finally:
        await client.close()


def test_the_source_is_registered() -> None:
    # deferred (exporter/sources.py): imported once a vendor is configured
    assert "vendors" in source_factories()
    module, cls = SOURCES["vendors"].split(":")
    assert getattr(importlib.import_module(module), cls) is VendorSource


# --- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("feeds: [{name: a, url: 'ftp://x'}]", "not an http:// or https:// URL"),
        ("feeds: [{name: a, url: 'https://x', interval: 500ms}]", "interval must be at least 1s"),
        ("feeds: [{name: a, url: 'https://x', timeout: 2m}]", "at most the interval"),
        ("feeds: [{name: a, url: 'https://x', provider: atlassian}]", "statuspage"),
        ("feeds: [{name: a, url: 'https://x', components: [API, ' api ']}]", "listed twice"),
        ("feeds: [{name: a, url: 'https://x'}, {name: a, url: 'https://y'}]", "used twice"),
        ("checks: {shopify: [{name: s, shop: x}]}", "access_token or access_token_file"),
        (
            "checks: {shopify: [{name: s, shop: x, access_token: t}], "
            "chatwoot: [{name: s, base_url: 'https://c'}]}",
            "check name 's' is used twice",
        ),
        ("checks: {google_analytics: [{name: g, property_id: '1'}]}", "credentials_file"),
        (
            "checks: {chatwoot: [{name: c, base_url: 'https://c', api_token: a, "
            "api_token_file: /f}]}",
            "not both",
        ),
    ],
)
def test_config_errors_name_the_path(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"vendors:\n  {text.replace(chr(10), chr(10) + '  ')}\n", "r.yml")
    assert message in str(err.value)
    assert "vendors." in str(err.value)


def test_defaults() -> None:
    config = parse_config(
        "vendors: {feeds: [{name: a, url: 'https://x/api/v2/summary.json'}]}", "r.yml"
    )
    fd = config.vendors.feeds[0]
    assert (fd.interval, fd.timeout, fd.provider, fd.components) == (60.0, 10.0, "auto", ())
    assert parse_config("{}", "r.yml").vendors.feeds == ()


# --- exposition ---------------------------------------------------------------------------------


async def test_promtool_accepts_every_feed_kind(
    server: Server, clock: FakeClock, sources: list[VendorSource]
) -> None:
    for name in ("statuspage_summary.json", "google_incidents.json", "betterstack_index.json"):
        server.json(f"/{name}", fixture(name))
    server.json("/instatus/summary.json", fixture("instatus_summary.json"))
    feeds = [
        {
            "name": n.split("_")[0],
            "url": f"{server.url}/{n}",
            "components": ["Admin", "API", "Google Analytics"],
        }
        for n in ("statuspage_summary.json", "google_incidents.json", "betterstack_index.json")
    ]
    feeds.append({"name": "instatus", "url": f"{server.url}/instatus", "provider": "instatus"})
    feeds.append({"name": "down", "url": f"{server.url}/nothing.json"})
    source = await started(sources, make_source({"feeds": feeds}, clock))
    await source.run_due()
    families = source.families()
    body, _ = collector.render([], None, with_self=False, extra=families)
    assert promtool_problems(body.decode()) == []
    # every state set has exactly its closed set of states per series
    reasons = [k for (n, k) in samples(families) if n == "redline_vendor_feed_failure_reason"]
    assert len(reasons) == len(REASONS) * len(feeds)
    status = [k for (n, k) in samples(families) if n == "redline_vendor_component_status"]
    assert len(status) == len(COMPONENT_STATES) * 3 * 3


def test_fixtures_are_not_modified_by_parsing() -> None:
    doc = fixture("statuspage_summary.json")
    before = copy.deepcopy(doc)
    detect.FORMATS["statuspage"].parse(doc, 0.0)
    assert doc == before


# --- config/hotrod.yml ----------------------------------------------------------------------------


def test_hotrod_follows_every_vendor_of_the_stack() -> None:
    """docs/architecture.md: Shopify, Supabase, Fly.io and OpenAI on Statuspage, Google Analytics
    on the Google Ads dashboard, Chatwoot; and the three API checks with secrets referenced."""
    config = load_config(Path(__file__).resolve().parents[1] / "config" / "hotrod.yml")[0]
    feeds = {f.name: f for f in config.vendors.feeds}
    assert set(feeds) == {
        "shopify",
        "supabase",
        "flyio",
        "openai",
        "google-ads-dashboard",
        "chatwoot-cloud",  # Chatwoot Inc.'s feed: never the name of a service of ours
    }
    for fd in feeds.values():
        assert fd.url.startswith("https://")
    assert (
        feeds["google-ads-dashboard"].url
        == "https://ads.google.com/status/publisher/incidents.json"
    )
    assert feeds["google-ads-dashboard"].components == ("Google Analytics",)
    checks = config.vendors.checks
    assert (checks.shopify[0].shop, checks.shopify[0].access_token) == (
        "${SHOPIFY_STORE_DOMAIN}",
        "${SHOPIFY_ADMIN_TOKEN}",
    )
    assert (checks.chatwoot[0].base_url, checks.chatwoot[0].api_token) == (
        "${CHATWOOT_BASE_URL}",
        "${CHATWOOT_API_TOKEN}",
    )
    ga = checks.google_analytics[0]
    assert (ga.property_id, ga.credentials_file) == (
        "${GA_PROPERTY_ID}",
        "${GOOGLE_APPLICATION_CREDENTIALS}",
    )
    assert ga.token_url is None and ga.api_base_url == "https://analyticsdata.googleapis.com"
