"""Property tests of the log path (exporter/logs/): every parser takes any line (and any JSON
object) without raising and returns a well-typed record or None; the pipeline counts every
non-empty line exactly once, into the closed label sets, whatever the lines say; the line
splitter gives the same lines however a stream is cut into chunks; timestamps parse to a finite
time or None."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from exporter.config import parse_config
from exporter.logs import parsers
from exporter.logs.config import Parser
from exporter.logs.counters import LEVELS, LogState
from exporter.logs.pipeline import CODE_CLASSES, METHODS, OTHER_METHOD, Pipeline, parse_timestamp
from exporter.logs.tail import LineSplitter
from tests.fuzz_support import fuzz, json_values, objects_with, words

PARSERS = [
    Parser.model_validate(spec)
    for spec in (
        {"kind": "json"},
        {"kind": "json_logger"},
        {"kind": "json", "level": "log.level", "status": "http.status", "duration": "took",
         "duration_unit": "s", "route": "req.path", "service": "fly.app.name"},
        {"kind": "regex", "regex": r"(?P<level>\w+) (?P<status>\S+) (?P<duration>\S+)",
         "duration_unit": "us"},
        {"kind": "hotrod_access"},
        {"kind": "nginx_combined"},
        {"kind": "apache_combined"},
        {"kind": "rails"},
    )
]  # fmt: skip

digits = st.integers(min_value=0, max_value=999_999).map(str)
status = st.integers(min_value=0, max_value=999).map(str) | words
hotrod = st.builds(
    lambda m, p, s, d, r: f"[{m}] {p} - {s} ({d}ms) [{r}]",
    st.sampled_from(["GET", "POST", "get", "BREW"]),
    st.text(max_size=10),
    status,
    digits | st.sampled_from(["1.5", "1e309", "nan"]),
    st.text(max_size=5),
)
nginx = st.builds(
    lambda ip, ts, req, s, rt: f'{ip} - - [{ts}] "{req}" {s} 12 "-" "curl" {rt}',
    st.sampled_from(["1.2.3.4", "::1"]),
    st.sampled_from(["10/Oct/2025:13:55:36 +0000", "99/Xyz/2025:99:99:99 +9999", ""]),
    st.sampled_from(["GET /health HTTP/1.1", "-", "\\x16\\x03", ""]) | st.text(max_size=10),
    status,
    st.sampled_from(["0.123", "rt=1.5", "", "request_time=99999999999999999999"]),
)
rails = st.builds(
    lambda ts, pid, lvl, tag, rest: f"I, [{ts} #{pid}]  {lvl} -- : [{tag}] {rest}",
    st.sampled_from(["2025-10-13T12:00:00.123456", "x"]),
    digits,
    st.sampled_from(["INFO", "ERROR", "X"]),
    st.text(max_size=6) | st.sampled_from(["req-1", "req-2"]),
    st.sampled_from(['Started GET "/api"', 'Started POST "/x"', "Completed 200 OK in 12ms",
                     "Completed 999 X in 1.5ms", "Completed 500 Internal in 99999999999999ms"])
    | st.text(max_size=20),
)  # fmt: skip
record = objects_with(
    ("level", "status", "duration", "path", "method", "service", "timestamp", "message", "took",
     "log", "http", "req", "fly", "log.level"),
    json_values(max_leaves=5),
)  # fmt: skip
lines = (
    st.text(max_size=80)
    | hotrod
    | nginx
    | rails
    | record.map(json.dumps)
    | st.builds(lambda r, m: json.dumps({**r, "message": m}), record, hotrod | rails)
)

# hypothesis runs hundreds of generated lines and streams: make check leaves it out
pytestmark = pytest.mark.slow


def check_record(rec: Any) -> None:
    assert isinstance(rec, tuple) and len(rec) == 8
    level, status_, duration, route, method, service, _, bad = rec
    assert level is None or type(level) in (str, int)
    assert status_ is None or (type(status_) is int and 100 <= status_ <= 599)
    assert duration is None or (math.isfinite(duration) and duration >= 0)
    for text in (route, method, service):
        assert text is None or type(text) is str
    assert type(bad) is bool


@fuzz(200)
@given(lines, st.none() | record)
@example("[GET] /x - 200 (1e999ms) [r]", None)
@example('{"level": {"nested": 1}, "status": "20x", "duration": true}', None)
@example("{" * 100_000, None)
@example("Completed 999 Whatever in 5ms", None)
def test_every_parser_takes_any_line(text: str, obj: Any) -> None:
    for spec in PARSERS:
        parse = parsers.build(spec)
        for given_obj in (None, obj) if spec.kind in ("json", "json_logger") else (None,):
            rec = parse(text, given_obj)
            if rec is not None:
                check_record(rec)


CONFIG = """
logs:
  route_groups: ["/health", {name: api, paths: ["/api/**"]}]
  patterns: [{name: oom, regex: "(?i)out of memory"}, {name: reset, regex: ECONNRESET}]
  sources:
    - {name: app, kind: file, paths: [/nonexistent/*.log], service: app,
       service_map: {agent-service: agent}, parsers: [json_logger, hotrod_access, nginx_combined,
       apache_combined, rails]}
    - {name: fly, kind: ingest, bearer_token: "${T}", parsers: [json_logger, hotrod_access],
       envelope: {message: message, service: fly.app.name, level: log.level}}
"""


@fuzz(150)
@given(st.lists(lines | st.just(""), max_size=30))
@example(["Completed 000 OK in 0ms", "Completed 600 OK in 1ms"])
def test_the_pipeline_counts_every_line_once_into_closed_sets(batch: list[str]) -> None:
    config = parse_config(CONFIG, "logs.yml")
    state = LogState()
    services = {"app", "agent", "other", "fly"}
    for spec in config.logs.sources:
        tally = Pipeline(spec, config.logs, state).feed(batch)
        non_empty = sum(1 for line in batch if line)
        assert tally.total == non_empty
        assert set(tally.lines) <= set(LEVELS)
        assert sum(tally.parse_errors.values()) <= non_empty
        assert set(tally.parse_errors) <= {"format", "field"}
        assert set(tally.patterns) <= {"oom", "reset"}
        assert all(0 < n <= non_empty for n in tally.patterns.values())
        requests = sum(tally.requests.values())
        assert requests <= non_empty
        for service, group, method, code in tally.requests:
            assert service in services and group in ("/health", "api", "other")
            assert method in METHODS or method == OTHER_METHOD
            assert code in CODE_CLASSES and code
        timed = sum(sum(counts[:-1]) for counts in tally.durations.values())
        assert timed <= requests
        assert all(math.isfinite(counts[-1]) for counts in tally.durations.values())
        assert tally.newest is None or math.isfinite(tally.newest)
    # the shared state renders (every label value a string, every value finite)
    for family in state.families():
        for sample in family.samples:
            assert all(isinstance(v, str) for v in sample.labels.values())
            assert math.isfinite(sample.value)


@st.composite
def stream_and_cuts(draw: st.DrawFn) -> tuple[bytes, list[int], int]:
    parts = draw(
        st.lists(
            st.binary(max_size=12)
            | st.sampled_from([b"\n", b"\r\n", "é".encode(), b"\xe2\x82", b"\xff"]),
            max_size=20,
        )
    )
    data = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    return data, cuts, draw(st.integers(min_value=1, max_value=16))


def split_all(data: bytes, cuts: list[int], max_line: int) -> tuple[list[str], int]:
    splitter = LineSplitter(max_line)
    out: list[str] = []
    too_long = 0
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        got, n = splitter.push(data[start:end])
        out += got
        too_long += n
    last, n = splitter.finish()
    return out + last, too_long + n


@fuzz(300)
@given(stream_and_cuts())
@example((b"abc\ndef", [1, 2, 5], 3))
@example((b"toolong\nok\n", [3], 2))
def test_line_splitter_is_the_same_however_the_stream_is_cut(case: Any) -> None:
    data, cuts, max_line = case
    whole = split_all(data, [], max_line)
    assert split_all(data, cuts, max_line) == whole
    # and it is what splitting at newlines says: lines up to max_line bytes, the rest counted
    segments = data.split(b"\n")
    if segments[-1] == b"":
        segments.pop()
    want = [s.decode("utf-8", "replace").removesuffix("\r") for s in segments if len(s) <= max_line]
    assert whole == (want, sum(1 for s in segments if len(s) > max_line))


@fuzz(300)
@given(
    json_values(max_leaves=3)
    | st.datetimes().map(lambda d: d.isoformat())
    | st.builds(
        "{:02d}/{}/{:04d}:{:02d}:00:00 {}{:04d}".format,
        st.integers(0, 99),
        st.sampled_from(["Jan", "Feb", "Xyz"]),
        st.integers(0, 9999),
        st.integers(0, 99),
        st.sampled_from("+-"),
        st.integers(0, 9999),
    )
    | st.floats()
)
@example("0001-01-01T00:00:00")
@example("9999-12-31T23:59:59-23:59")
@example(1e300)
def test_timestamps_parse_to_a_finite_time_or_none(raw: Any) -> None:
    value = parse_timestamp(raw)
    assert value is None or math.isfinite(value)


def test_the_config_of_these_tests_is_valid() -> None:
    assert yaml.safe_load(CONFIG)
    assert len(parse_config(CONFIG, "logs.yml").logs.sources) == 2
