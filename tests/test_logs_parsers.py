"""Parsers and the pipeline: the shipped formats of the Hot Rod AN stack, JSON with configured
fields and wrong types, regex groups, levels, methods, route groups, services and envelopes.
Every label value is checked to stay within its closed set or the config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exporter.config import parse_config
from exporter.logs import parsers
from exporter.logs.config import Parser
from exporter.logs.counters import LEVELS, LogState
from exporter.logs.pipeline import Pipeline, normalise_level, parse_timestamp
from exporter.logs.routes import RouteGrouper

BASE = """
logs:
  route_groups:
    - {name: health, paths: ["/health", "/api/health/*"]}
    - {name: api, paths: ["/api/**"]}
    - /static/*
  patterns:
    - {name: oom, regex: "JavaScript heap out of memory|OOMKilled"}
    - {name: econnreset, regex: ECONNRESET}
    - {name: unhandled_rejection, regex: "(?i)unhandled ?(promise)? ?rejection"}
  buckets: [0.01, 0.1, 1]
  sources:
"""


def pipeline(source_yaml: str) -> tuple[Pipeline, LogState]:
    config = parse_config(BASE + source_yaml, "test.yml")
    state = LogState()
    state.set_buckets(config.logs.buckets)
    return Pipeline(config.logs.sources[0], config.logs, state), state


def shipped(kind: str) -> parsers.ParseFn:
    return parsers.build(Parser(kind=kind))  # type: ignore[arg-type]


def test_hotrod_access() -> None:
    parse = shipped("hotrod_access")
    assert parse("[GET] /health - 200 (12ms) [req-abc]", None) == (
        None,
        200,
        pytest.approx(0.012),
        "/health",
        "GET",
        None,
        None,
        False,
    )
    assert parse("2025-10-13T12:00:00Z [POST] /mcp - 429 (0.5ms)", None)[1:5] == (  # type: ignore[index]
        429,
        pytest.approx(0.0005),
        "/mcp",
        "POST",
    )
    assert parse("server listening on 8787", None) is None


def test_nginx_and_apache_combined() -> None:
    nginx = shipped("nginx_combined")
    line = (
        '203.0.113.9 - - [13/Oct/2025:14:02:11 +0000] "GET /api/health/db?x=1 HTTP/1.1" 503 '
        '162 "-" "Mozilla/5.0 (compatible; \\x22q\\x22)" 0.734'
    )
    _, status, duration, route, method, _, ts, bad = nginx(line, None)  # type: ignore[misc]
    assert (status, duration, route, method, bad) == (
        503,
        0.734,
        "/api/health/db?x=1",
        "GET",
        False,
    )
    assert parse_timestamp(ts) == 1760364131.0
    # a TLS handshake sent to the plain port: a request line that is no request
    odd = '198.51.100.2 - - [13/Oct/2025:14:02:12 +0000] "\\x16\\x03\\x01" 400 150 "-" "-" 0.000'
    assert nginx(odd, None)[1:5] == (400, 0.0, None, None)  # type: ignore[index]
    no_time = '198.51.100.2 - - [13/Oct/2025:14:02:12 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"'
    assert nginx(no_time, None)[1:3] == (200, None)  # type: ignore[index]

    apache = shipped("apache_combined")
    line = (
        '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 '
        '"http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav) \\"x\\"" 1500'
    )
    assert apache(line, None)[1:5] == (200, 0.0015, "/apache_pb.gif", "GET")  # type: ignore[index]
    assert parse_timestamp(apache(line, None)[6]) == 971211336.0  # type: ignore[index]


def test_rails_pairs_started_and_completed() -> None:
    parse = shipped("rails")
    prefix = "I, [2025-10-13T12:00:00.123456 #42]  INFO -- : "
    started = parse(prefix + '[3f1c-aa] Started GET "/api/v1/profile" for 10.0.0.1 at now', None)
    assert started is not None and started[1] is None and started[0] == "INFO"
    other = parse(prefix + '[77ee-bb] Started POST "/webhooks/x" for 10.0.0.2 at now', None)
    assert other is not None
    done = parse(
        prefix + "[3f1c-aa] Completed 200 OK in 12ms (Views: 1.1ms | ActiveRecord: 3ms)", None
    )
    assert done is not None
    assert done[:5] == ("INFO", 200, 0.012, "/api/v1/profile", "GET")
    assert parse_timestamp(done[6]) == pytest.approx(1760356800.123456)
    # without tags or prefix: unpaired, the request still counts (method and route unknown)
    assert parse("Completed 500 Internal Server Error in 1003.5ms", None)[1:5] == (  # type: ignore[index]
        500,
        pytest.approx(1.0035),
        None,
        None,
    )
    # every other line of a Rails log is recognised, not a parse error
    assert parse("  Rendered layout layouts/application.html.erb (Duration: 1.0ms)", None)


def test_rails_pending_pairs_are_bounded() -> None:
    parse = parsers.RailsParser()
    for i in range(parse.PENDING_MAX + 100):
        parse(f'[req-{i}] Started GET "/p/{i}" for x', None)
    assert len(parse._pending) == parse.PENDING_MAX


def test_json_logger_and_wrong_field_types() -> None:
    p, state = pipeline(
        """    - name: app
      kind: file
      paths: [/x]
      parsers: [json_logger]
      service: hotdash-app
"""
    )
    good = {
        "timestamp": "2025-10-13T12:00:00Z",
        "level": "info",
        "message": "GET /api/x",
        "service": "hotdash-app",
        "method": "get",
        "path": "/api/x",
        "status": 200,
        "duration": 42,
    }
    wrong = [
        {**good, "status": "abc"},  # bad status: not a request
        {**good, "status": True},
        {**good, "status": 99},
        {**good, "status": "404"},  # a status as a string of digits is fine
        {**good, "duration": "fast"},  # bad duration: a request without a duration
        {**good, "duration": -3},
        {**good, "duration": False},
        {**good, "level": {"name": "info"}},  # bad level: unknown
        {**good, "path": 5},  # bad route: other
        {**good, "method": ["GET"]},
        {**good, "service": None},  # null is absent, not wrong
    ]
    lines = [json.dumps(good)] + [json.dumps(w) for w in wrong]
    lines += ['{"level": "error", "duration": NaN, "status": 500}', "[1, 2]", '{"trunc', "plain"]
    tally = p.feed(lines)
    assert tally.total == 16
    assert tally.parse_errors == {"field": 10, "format": 3}
    assert state.lines[("app", "info")] == 11
    assert state.lines[("app", "unknown")] == 4
    assert state.lines[("app", "error")] == 1
    requests = state.requests
    assert requests[("hotdash-app", "api", "GET", "2xx")] == 6
    assert requests[("hotdash-app", "api", "GET", "4xx")] == 1
    assert requests[("hotdash-app", "other", "GET", "2xx")] == 1
    assert requests[("hotdash-app", "api", "OTHER", "2xx")] == 1
    assert requests[("hotdash-app", "other", "OTHER", "5xx")] == 1
    assert sum(requests.values()) == 10
    # durations: every request of route api with a valid duration
    counts = state.durations[("hotdash-app", "api")]
    assert counts[:-1] == [0, 5, 0, 0] and counts[-1] == pytest.approx(5 * 0.042)


def test_json_configured_fields_pino_style() -> None:
    p, state = pipeline(
        """    - name: mcp
      kind: ingest
      bearer_token: x
      envelope: {message: null}
      parsers:
        - kind: json
          level: level
          status: res.statusCode
          duration: responseTime
          duration_unit: ms
          route: req.url
          method: req.method
          service: null
          timestamp: time
"""
    )
    line = {
        "level": 50,
        "time": 1760356800123,
        "req": {"method": "POST", "url": "/mcp"},
        "res": {"statusCode": 502},
        "responseTime": 250.5,
        "service": "ignored",
    }
    tally = p.feed([json.dumps(line)])
    assert tally.newest == pytest.approx(1760356800.123)
    assert state.lines[("mcp", "error")] == 1
    assert state.requests == {("mcp", "other", "POST", "5xx"): 1}


def test_regex_named_groups_and_patterns() -> None:
    p, state = pipeline(
        r"""    - name: worker
      kind: file
      paths: [/x]
      parsers:
        - kind: regex
          regex: >-
            ^(?P<timestamp>\S+) (?P<level>\w+) (?P<method>\w+) (?P<route>\S+)
            (?P<status>\S+) (?P<duration>\S+)s$
          duration_unit: s
"""
    )
    tally = p.feed(
        [
            "2025-10-13T12:00:00Z WARNING GET /static/app.js 200 0.004s",
            "2025-10-13T12:00:01Z err PROPFIND /dav 207 2.5s",
            "2025-10-13T12:00:02Z info GET /x 2OO 0.1s",  # status of letters: field error
            "2025-10-13T12:00:03Z info GET /x 200 1e999s",  # infinite duration: field error
            "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            "Error: read ECONNRESET at TCP.onStreamRead; UnhandledPromiseRejection",
        ]
    )
    assert tally.parse_errors == {"field": 2, "format": 2}
    assert tally.patterns == {"oom": 1, "econnreset": 1, "unhandled_rejection": 1}
    assert state.requests == {
        ("worker", "/static/*", "GET", "2xx"): 1,
        ("worker", "other", "OTHER", "2xx"): 1,
        ("worker", "other", "GET", "2xx"): 1,  # its infinite duration is dropped, not it
    }
    assert state.lines[("worker", "warn")] == 1 and state.lines[("worker", "error")] == 1


def test_patterns_with_inline_flags_each_run() -> None:
    config = parse_config(
        BASE.replace("  sources:\n", "")
        + "  sources: [{name: s, kind: file, paths: [/x], parsers: [rails]}]\n",
        "t.yml",
    )
    state = LogState()
    state.set_buckets(config.logs.buckets)
    p = Pipeline(config.logs.sources[0], config.logs, state)
    assert p.prefilter is None  # (?i) in the middle of an alternation is refused by re
    assert p.feed(["Unhandled Rejection at: Promise", "OOMKilled"]).patterns == {
        "unhandled_rejection": 1,
        "oom": 1,
    }


def test_fly_envelope_and_bounded_services() -> None:
    p, state = pipeline(
        """    - name: fly
      kind: ingest
      bearer_token: x
      envelope: {message: message, service: fly.app.name, level: log.level, timestamp: timestamp}
      service_map: {hotdash-agent-service: agent-service, hotdash-staging: hotdash-app}
      parsers: [json_logger, hotrod_access]
"""
    )

    def record(app: str, message: str, level: Any = "info") -> str:
        return json.dumps(
            {
                "event": {"provider": "app"},
                "fly": {"app": {"instance": "e286", "name": app}, "region": "ord"},
                "log": {"level": level},
                "message": message,
                "timestamp": "2025-10-13T12:00:00.5Z",
            }
        )

    tally = p.feed(
        [
            record("hotdash-agent-service", "[GET] /health - 200 (12ms) [req-abc]"),
            record("hotdash-staging", json.dumps({"level": "error", "status": 500, "path": "/"})),
            record("some-new-app", "[GET] /health - 200 (3ms) [r]"),  # not in the map: other
            record("hotdash-staging", "[GET] /x - 200 (3ms)", level={"bad": 1}),
            "this is not json",
            "",
            json.dumps({"fly": {}, "message": 42}),  # message not a string: field
            record("hotdash-staging", "booting", level="warning"),  # no parser: format
        ]
    )
    assert tally.total == 7
    assert tally.parse_errors == {"format": 2, "field": 1}
    assert tally.newest == pytest.approx(1760356800.5)
    assert state.requests == {
        ("agent-service", "health", "GET", "2xx"): 1,
        ("hotdash-app", "other", "OTHER", "5xx"): 1,
        ("other", "health", "GET", "2xx"): 1,
        ("hotdash-app", "other", "GET", "2xx"): 1,
    }
    assert {lvl for (_, lvl) in state.lines} <= set(LEVELS)
    assert state.lines[("fly", "warn")] == 1  # the envelope's level when the line has none
    assert state.lines[("fly", "error")] == 1


def test_levels_are_a_closed_set() -> None:
    cases = {
        "INFO": "info",
        " Warning ": "warn",
        "ERR": "error",
        "critical": "fatal",
        "trace": "debug",
        30: "info",
        60: "fatal",
        "3": "error",
        "chatty": "unknown",
        None: "unknown",
        "\x00\xff": "unknown",
    }
    for raw, level in cases.items():
        assert normalise_level(raw) == level, raw


def test_route_groups() -> None:
    config = parse_config(BASE + "    []\n", "t.yml")
    group = RouteGrouper(config.logs.route_groups).group
    assert group("/health") == "health"
    assert group("/health?verbose=1") == "health"
    assert group("/api/health/db") == "health"  # first match wins over api
    assert group("/api/health/db/deep") == "api"  # * stays within a segment
    assert group("/api/v1/orders/123") == "api"
    assert group("/static/app.js") == "/static/*"
    assert group("/static/js/app.js") == "other"
    assert group("/healthz") == "other"
    assert group(None) == "other"
    for i in range(20_000):  # the cache is bounded however many distinct paths come
        group(f"/random/{i}")
    assert len(RouteGrouper(config.logs.route_groups)._cache) == 0


def test_timestamps() -> None:
    assert parse_timestamp("2025-10-13T12:00:00Z") == 1760356800.0
    assert parse_timestamp("2025-10-13 12:00:00.250+02:00") == 1760349600.25
    assert parse_timestamp(1760356800) == 1760356800.0
    assert parse_timestamp(1760356800123) == pytest.approx(1760356800.123)
    assert parse_timestamp(1760356800123456789) == pytest.approx(1760356800.123456789)
    assert parse_timestamp("13/Oct/2025:14:02:11 +0200") == 1760356931.0
    for bad in ("yesterday", "32/Foo/2025:99:99:99 +0000", True, {}, float("nan"), -5):
        assert parse_timestamp(bad) is None


def test_a_stale_pipeline_never_mixes_bucket_layouts() -> None:
    p, state = pipeline("    - {name: app, kind: file, paths: [/x], parsers: [hotrod_access]}\n")
    assert state.set_buckets((0.2, 0.5, 2.0, 4.0))  # a reload before any duration was counted
    p.feed(["[GET] /health - 200 (12ms)"])  # the old pipeline, still on [0.01, 0.1, 1]
    assert sum(state.requests.values()) == 1
    assert state.durations == {}
    assert state.families()  # renders, no layout mismatch
