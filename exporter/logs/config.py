"""The ``logs:`` section of the config: log sources (files by glob, or the HTTP ingest endpoint),
their parsers, route groups, error patterns and the request-duration buckets.

Models are flat (one model per source, one per parser, with ``kind`` and a validator saying which
keys go with which kind) rather than unions, so a config error's path reads
``logs.sources[1].parsers[0]`` with no union tag in it.

Every label a log line can set is bounded by this config, never by the lines: levels fall into a
closed set, services into ``service`` / ``service_map`` (else ``other``), routes into
``route_groups`` (else ``other``), methods into a closed set (else ``OTHER``).
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from exporter.configtypes import Duration, Model, Name, Regex, SecretFile, Size, Template

# The named groups a regex parser may use (and the keys a JSON parser maps), so that a typo such
# as (?P<stauts>...) is an error at load rather than a silently missing metric.
FIELDS = ("level", "status", "duration", "route", "method", "service", "timestamp")
SHIPPED = ("json_logger", "hotrod_access", "nginx_combined", "apache_combined", "rails")
ParserKind = Literal[
    "json", "regex", "json_logger", "hotrod_access", "nginx_combined", "apache_combined", "rails"
]
DurationUnit = Literal["s", "ms", "us", "ns"]

# Chosen so that the business targets of docs/targets.md fall on a bucket boundary (100 ms /health
# p50, 500 ms p95 and MCP, 800 ms staging pages, 1 s API and /health p99, 2 s Shopify, 3 s tiles):
# a latency SLO is then an exact ratio of two bucket counters, not an interpolation.
DEFAULT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.0, 3.0, 5.0, 10.0)

# Dotted path into a JSON object (``fly.app.name``); a key holding a dot itself is found first.
JsonPath = Annotated[str, Field(min_length=1, pattern=r"^[^.\s](?:[^\s]*[^.\s])?$")]


class Parser(Model):
    """One way to read a line. ``kind`` is ``json``, ``regex`` or a shipped format
    (``json_logger``, ``hotrod_access``, ``nginx_combined``, ``apache_combined``, ``rails``).
    A source tries its parsers in order; the first that recognises the line wins."""

    kind: ParserKind
    # regex: a regular expression (searched, not anchored: start it with ^ when you can, it is
    # faster) whose named groups are among FIELDS.
    regex: Regex | None = None
    # json: the path of each field in the object; null to ignore a field.
    level: JsonPath | None = "level"
    status: JsonPath | None = "status"
    duration: JsonPath | None = "duration"
    route: JsonPath | None = "path"
    method: JsonPath | None = "method"
    service: JsonPath | None = "service"
    timestamp: JsonPath | None = "timestamp"
    # json and regex: the unit the duration is written in.
    duration_unit: DurationUnit = "ms"

    @model_validator(mode="after")
    def _check(self) -> Parser:
        given = self.model_fields_set
        json_keys = given & set(FIELDS)
        if self.kind != "json" and json_keys:
            raise ValueError(
                f"{', '.join(sorted(json_keys))}: field paths are only for kind json "
                "(a regex names its fields with groups)"
            )
        if self.kind == "regex":
            if self.regex is None:
                raise ValueError("kind regex needs a regex")
            unknown = set(self.regex.groupindex) - set(FIELDS)
            if unknown:
                raise ValueError(
                    f"unknown named group(s) {', '.join(sorted(unknown))} in regex; "
                    f"groups are among {', '.join(FIELDS)}"
                )
            if not self.regex.groupindex:
                raise ValueError("the regex names no group; use (?P<status>...) and the like")
        elif self.regex is not None:
            raise ValueError("regex is only for kind regex")
        if "duration_unit" in given and self.kind not in ("json", "regex"):
            raise ValueError(
                f"duration_unit is only for kinds json and regex ({self.kind} knows its unit)"
            )
        return self


class RouteGroup(Model):
    """A route label and the request paths it stands for. In a path pattern ``*`` matches within
    one path segment and ``**`` across segments; the query string is ignored. Written as a plain
    string, the pattern is its own name."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    paths: tuple[Annotated[str, Field(min_length=1)], ...] = Field(min_length=1)
    # Requested only by redline's own probes and the platforms' health checks, not by users:
    # left out of the request SLOs and LogErrorRateHigh (docs/logs.md), whose ratios and
    # minimum counts must be the users' traffic, not ours.
    synthetic: bool = False


class ErrorPattern(Model):
    """A regex searched in every line (after the envelope is removed); matches are counted by
    ``name`` per source. Add (?i) for case-insensitive matching."""

    name: Name
    regex: Regex


class Envelope(Model):
    """For lines that are JSON records wrapping the log line, as log shippers write them (the
    Fly log shipper: ``{"message": "...", "fly": {"app": {"name": ...}}, "log": {"level": ...},
    "timestamp": ...}``): where the log line and its metadata are in each record."""

    # The field holding the log line, handed to the parsers; null: the record itself is the log
    # line (its JSON is parsed once and given to json parsers as is).
    message: JsonPath | None = "message"
    service: JsonPath | None = None  # used when the parsed line names no service
    level: JsonPath | None = None  # used when the parsed line has no level
    timestamp: JsonPath | None = None  # used when the parsed line has no timestamp


class LogSource(Model):
    """One stream of lines: ``kind: file`` (files matched by glob, followed in the background) or
    ``kind: ingest`` (NDJSON batches posted to ``/ingest/<name>`` with a bearer token)."""

    name: Name
    kind: Literal["file", "ingest"]
    parsers: tuple[Parser, ...] = Field(min_length=1)
    # The service label of a line that names none. Default: the source's name.
    service: Name | None = None
    # The service a line names (or its envelope), mapped to a service label: raw value -> label.
    # A raw value that is already one of the labels (or ``service``) is kept; any other is
    # "other", so a line cannot invent a service.
    service_map: dict[Annotated[str, Field(min_length=1)], Name] = {}
    envelope: Envelope | None = None  # file: optional; ingest: always (default Envelope())
    # Longer lines are counted in redline_log_lines_dropped_total{reason="too_long"} and skipped
    # without being held in memory.
    max_line: Size = 64 * 1024

    # --- kind: file
    paths: tuple[Annotated[str, Field(min_length=1)], ...] = ()  # glob patterns
    from_start: bool = False  # read files present at start from their beginning, not their end
    poll_interval: Duration = 0.5  # how often to look for new lines, rotation and new files
    # After a file is renamed or deleted, keep reading it this long after its last new line, so
    # lines written before the writer reopened its log are not lost.
    rotate_wait: Duration = 5.0
    max_files: Annotated[int, Field(ge=1, le=100_000)] = 1024  # open at once, per source

    # --- kind: ingest
    bearer_token: Template | None = None
    bearer_token_file: SecretFile | None = None
    max_body: Size = 10 * 1024 * 1024  # a larger batch is refused (413) and nothing of it counted

    @field_validator("parsers", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # parsers: [json_logger, hotrod_access] is short for [{kind: json_logger}, ...]
        if isinstance(value, list | tuple):
            return [{"kind": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _check(self) -> LogSource:
        given = self.model_fields_set
        file_only = {"paths", "from_start", "poll_interval", "rotate_wait", "max_files"}
        ingest_only = {"bearer_token", "bearer_token_file", "max_body"}
        if self.kind == "file":
            wrong = given & ingest_only
            if not self.paths:
                raise ValueError("kind file needs paths (glob patterns)")
            if self.poll_interval < 0.01:
                raise ValueError("poll_interval must be at least 10ms")
        else:
            wrong = given & file_only
            if (self.bearer_token is None) == (self.bearer_token_file is None):
                raise ValueError(
                    "kind ingest needs exactly one of bearer_token or bearer_token_file: "
                    "the endpoint never accepts lines without a token"
                )
        if wrong:
            raise ValueError(f"{', '.join(sorted(wrong))}: not a key of kind {self.kind}")
        return self

    @property
    def service_label(self) -> str:
        return self.service or self.name

    @property
    def effective_envelope(self) -> Envelope | None:
        if self.kind == "ingest" and self.envelope is None:
            return Envelope()
        return self.envelope


def _buckets(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not value:
        raise ValueError("buckets is a non-empty list of upper bounds in seconds")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise ValueError(f"bucket {item!r} is not a number of seconds")
        out.append(float(item))
    if any(not math.isfinite(b) or b <= 0 for b in out):
        raise ValueError("buckets must be positive and finite (+Inf is always added)")
    if any(b >= c for b, c in itertools.pairwise(out)):
        raise ValueError("buckets must be strictly increasing")
    return tuple(out)


class LogsConfig(Model):
    sources: tuple[LogSource, ...] = ()
    # First match wins; a path matching none is "other".
    route_groups: tuple[RouteGroup, ...] = ()
    patterns: tuple[ErrorPattern, ...] = ()
    # Upper bounds (seconds) of redline_http_request_duration_seconds. A change takes effect at
    # the next start: histograms already exposed keep their buckets, so they stay monotonic.
    buckets: tuple[float, ...] = DEFAULT_BUCKETS

    @field_validator("route_groups", mode="before")
    @classmethod
    def _route_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [{"name": v, "paths": [v]} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("buckets", mode="before")
    @classmethod
    def _check_buckets(cls, value: Any) -> Any:
        return _buckets(value)

    @model_validator(mode="after")
    def _unique(self) -> LogsConfig:
        for what, names in (
            ("log source", [s.name for s in self.sources]),
            ("route group", [g.name for g in self.route_groups]),
            ("pattern", [p.name for p in self.patterns]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{what} name {name!r} is used twice")
                seen.add(name)
        for group in self.route_groups:
            for path in group.paths:
                if re.search(r"\*\*\*", path):
                    raise ValueError(f"route pattern {path!r}: use * or **, not ***")
        return self
