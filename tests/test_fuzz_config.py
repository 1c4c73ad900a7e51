"""Property tests of the config loader (exporter/config.py): any text, any YAML structure and any
mutation of a valid config gives a Config or a ConfigError whose issues name the file and a
line inside it, never another exception (``redline check`` and reloads rely on it); a valid
config written back out as YAML loads to the same config. The web config loader
(exporter/webconfig.py) shares the YAML reading and gets the same treatment."""

from __future__ import annotations

import copy
import re
from typing import Any, get_args

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from exporter.assertions import Assertion
from exporter.config import Config, ConfigError, parse_config
from exporter.secrets import FileSecret
from exporter.webconfig import parse_web_config
from tests.fuzz_support import fuzz, json_values, scalars

FILE = "fuzz.yml"

# hypothesis runs hundreds of generated configs: make check leaves it out, make test runs it
pytestmark = pytest.mark.slow


def model_keys(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    """Every key of the config's models, so random structures use the words the loader knows."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    keys = set(model.model_fields)
    stack = [f.annotation for f in model.model_fields.values()]
    while stack:
        annotation = stack.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= model_keys(annotation, seen)
        stack.extend(get_args(annotation))
    return keys


KEYS = sorted(model_keys(Config))
TOP = sorted(Config.model_fields)
VALUES = (
    "10s",
    "500ms",
    "1MiB",
    "http://127.0.0.1:1/x",
    "${TOKEN}",
    "$${",
    "${",
    "2xx",
    "http",
    "json",
    "tcp",
    "dns",
    "mcp",
    "file",
    "ingest",
    "json_logger",
    "A",
    "MX",
    "127.0.0.1:53",
    'status == "ok"',
    "a b c",
    "(",
    "0 2 * * *",
    "UTC",
    "Mars/Olympus",
    "-1",
    "1e400",
    "",
)
keys = st.sampled_from(KEYS) | st.text(max_size=6)
leaf = scalars | st.sampled_from(VALUES)
structures = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=40,
)
YAMLISH = (
    *(f"{k}: " for k in KEYS[:60]),
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "&a ",
    "*a",
    "<<: ",
    "!!int ",
    "!!python/object:os.system ",
    "!!binary ",
    "!!timestamp ",
    "2001-13-45",
    "'",
    '"',
    "# c",
    "|\n  ",
    ">\n  ",
    "? ",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "\t",
    "~",
    ".nan",
    ".inf",
    "0x1F",
    "0o17",
    "1_000",
    "services:\n  - name: a\n    probes:\n",
    "      - {name: p, kind: http, url: 'http://x'}\n",
    "\ufeff",
    "\x00",
    "\\",
    "\u2028",
)
yamlish = st.lists(st.sampled_from(YAMLISH) | st.text(max_size=4), max_size=40).map("".join)


def check_loads_or_config_error(text: str) -> Config | None:
    try:
        return parse_config(text, FILE)
    except ConfigError as e:
        assert e.issues
        last = len(re.findall("\r\n|[\r\n\x85\u2028\u2029]", text)) + 2  # YAML's line breaks
        for issue in e.issues:
            assert issue.file == FILE
            assert issue.line is None or 1 <= issue.line <= last, (issue, text)
            assert isinstance(issue.message, str) and issue.message
            assert str(issue).startswith(FILE)
        return None


@fuzz(200)
@given(st.text(max_size=200) | yamlish)
@example("a: !!int abc")  # a tagged value that cannot be constructed
@example("a: 2001-13-45")  # resolved as a timestamp, and not a date
@example("a: !!python/object:os.system x")  # a tag the safe loader does not know
@example("[" * 5000)  # nested deeper than Python recurses
@example("\u2028\u2028:")  # YAML counts U+2028 as a line break
@example("services: " + "[" * 5000)
@example("exporter: {scrape_timeout: .nan}")
@example("exporter: {scrape_timeout: .inf}")
@example("defaults: {timeout: 1s}\nservices: [{name: a, probes: [{kind: [1]}, {kind: {a: 1}}]}]")
@example("services: [{name: a, probes: [{name: p, kind: http, url: 'http://x', timeout: .nan}]}]")
def test_any_text_loads_or_is_a_config_error(text: str) -> None:
    check_loads_or_config_error(text)


def test_an_alias_bomb_is_refused_quickly() -> None:
    # each level doubles the values a naive reader builds: 2**40 here
    lines = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 41)]
    assert check_loads_or_config_error("\n".join(lines)) is None


@fuzz(200)
@given(st.dictionaries(st.sampled_from(TOP) | st.text(max_size=5), structures, max_size=6))
def test_any_structure_loads_or_is_a_config_error(raw: dict[str, Any]) -> None:
    check_loads_or_config_error(yaml.safe_dump(raw, allow_unicode=True))


# --- valid configs ----------------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
durations = (
    st.sampled_from(["500ms", "1s", "10s", "5m", "1h", "2d", "0.5s"])
    | st.integers(1, 3600)
    | st.floats(0.001, 3600)
)
sizes = st.sampled_from(["1MiB", "512KiB", "1024", "10MB"]) | st.integers(1, 10**9)
templates = st.sampled_from(["${TOKEN}", "plain-value", "a$$b", "${A}-${B}", ""])
urls = st.sampled_from(["http://127.0.0.1:8080/health", "https://x.example/api", "${BASE}/health"])
json_assertions = st.sampled_from(
    [
        'status == "ok"',
        "tools exists",
        "metrics.x.calls < 5",
        'version =~ "^1\\\\."',
        "a[0] in [1, 2]",
        'checks["data-base"].status != "down"',
        "queue missing",
    ]
)
regexes = st.sampled_from(["ok", "^a.*b$", "(?i)healthy", r"\d+"])
# A latency budget must stay below the probe's timeout (a budget the probe cannot reach is
# refused), so valid configs draw timeouts of at least 0.5 s and budgets below that.
timeouts = (
    st.sampled_from(["500ms", "1s", "10s", "5m", "1h", "2d", "0.5s"])
    | st.integers(1, 3600)
    | st.floats(0.5, 3600)
)
budgets = st.sampled_from(["1ms", "100ms", "250ms", "0.4s"]) | st.floats(0.001, 0.499)
timing = {"timeout": timeouts, "min_interval": durations, "degraded_after": budgets}
http_optional = {
    **timing,
    "method": st.sampled_from(["GET", "HEAD", "POST"]),
    "headers": st.dictionaries(st.sampled_from(["X-Api-Key", "Accept"]), templates, max_size=2),
    "body": templates,
    "valid_status": st.lists(st.sampled_from(["2xx", "200", "200-399", "404"]), min_size=1),
    "follow_redirects": st.booleans(),
    "max_redirects": st.integers(0, 50),
    "body_must_match": st.lists(regexes, max_size=2),
    "expect_json": st.lists(json_assertions, max_size=3),
    "degraded_when": st.lists(json_assertions, max_size=1),
    "expect_headers": st.dictionaries(st.sampled_from(["Content-Type"]), regexes, max_size=1),
    "max_body_bytes": sizes,
    "bearer_token": templates,
    "tls": st.fixed_dictionaries(
        {},
        optional={"verify": st.booleans(), "min_version": st.sampled_from(["TLS1.2", "TLS1.3"])},
    ),
}


def probe(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    base = {"name": names, "kind": st.just(kind)}
    if kind == "http":
        return st.fixed_dictionaries({**base, "url": urls}, optional=http_optional)
    if kind == "json":
        metric = st.fixed_dictionaries(
            {"name": st.sampled_from(["queue_jobs", "tool_calls"]), "path": st.just("a.b")}
        )
        return st.fixed_dictionaries(
            {**base, "url": urls, "metrics": st.lists(metric, min_size=1, max_size=1)},
            optional=timing,
        )
    if kind == "tcp":
        return st.fixed_dictionaries(
            {**base, "address": st.sampled_from(["127.0.0.1:6379", "[::1]:5432", "db:6543"])},
            optional={**timing, "tls": st.booleans(), "send": templates, "expect": regexes},
        )
    if kind == "dns":
        return st.fixed_dictionaries(
            {**base, "query": st.sampled_from(["example.com", "hotrod.fly.dev"])},
            optional={
                **timing,
                "record_type": st.sampled_from(["A", "AAAA"]),
                "transport": st.sampled_from(["udp", "tcp"]),
                "min_answers": st.integers(0, 3),
            },
        )
    return st.fixed_dictionaries(
        {**base, "url": urls},
        optional={
            **timing,
            "flavor": st.sampled_from(["plain", "streamable"]),
            "tools": st.lists(st.sampled_from(["query_support", "refresh_index"]), max_size=2),
            "bearer_token": templates,
        },
    )


probes = st.one_of(*(probe(k) for k in ("http", "json", "tcp", "dns", "mcp")))
service = st.fixed_dictionaries(
    {
        "name": names,
        "probes": st.lists(probes, min_size=1, max_size=3, unique_by=lambda p: p["name"]),
    },
    optional={"description": st.text(max_size=20)},
)
job = st.fixed_dictionaries({"name": names}, optional={"grace": durations}).flatmap(
    lambda j: st.sampled_from(
        [{**j, "period": "1d"}, {**j, "schedule": "0 2 * * *", "timezone": "Europe/Paris"}]
    )
)
log_source = st.sampled_from(
    [
        {"name": "fly", "kind": "ingest", "bearer_token": "${T}", "parsers": ["json_logger"]},
        {
            "name": "app",
            "kind": "file",
            "paths": ["/var/log/app/*.log"],
            "parsers": ["hotrod_access", {"kind": "regex", "regex": "(?P<status>\\d{3})"}],
        },
    ]
)
valid_configs = st.fixed_dictionaries(
    {},
    optional={
        "exporter": st.fixed_dictionaries(
            {}, optional={"scrape_timeout": durations, "scrape_timeout_margin": durations}
        ),
        "defaults": st.fixed_dictionaries(
            {}, optional={"timeout": timeouts, **{"max_body_bytes": sizes}}
        ),
        "services": st.lists(service, max_size=3, unique_by=lambda s: s["name"]),
        "heartbeats": st.fixed_dictionaries(
            {
                "token": st.just("${HB}"),
                "jobs": st.lists(job, max_size=3, unique_by=lambda j: j["name"]),
            }
        ),
        "logs": st.fixed_dictionaries(
            {"sources": st.lists(log_source, max_size=2, unique_by=lambda s: s["name"])},
            optional={"route_groups": st.just(["/health", {"name": "api", "paths": ["/api/**"]}])},
        ),
        "databases": st.lists(
            st.fixed_dictionaries(
                {"name": names, "dsn": st.just("${DATABASE_URL}")},
                optional={"transaction_pooler": st.booleans()},
            ),
            max_size=2,
            unique_by=lambda d: d["name"],
        ),
        "host": st.fixed_dictionaries({}, optional={"enabled": st.booleans()}),
    },
)


def to_raw(obj: Any) -> Any:
    """A loaded config back to plain data, as a person would write it (set keys only)."""
    if isinstance(obj, BaseModel):
        return {key: to_raw(getattr(obj, key)) for key in obj.model_fields_set}
    if isinstance(obj, re.Pattern):
        return obj.pattern
    if isinstance(obj, Assertion):
        return obj.text
    if isinstance(obj, FileSecret):
        return obj.path
    if isinstance(obj, list | tuple):
        return [to_raw(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_raw(v) for k, v in obj.items()}
    return obj


@fuzz(150)
@given(valid_configs)
def test_valid_configs_load_and_round_trip(raw: dict[str, Any]) -> None:
    text = yaml.safe_dump(raw, sort_keys=False)
    try:
        config = parse_config(text, FILE)
    except ConfigError as e:
        raise AssertionError(f"a valid config was refused:\n{e}\n{text}") from None
    again = parse_config(yaml.safe_dump(to_raw(config)), FILE)
    assert again == config
    assert len(config.targets()) == sum(len(s["probes"]) for s in raw.get("services", ()))


def all_paths(obj: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += all_paths(value, (*at, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            out += all_paths(value, (*at, i))
    return out


@fuzz(200)
@given(valid_configs, st.data())
def test_mutated_configs_load_or_are_config_errors(
    raw: dict[str, Any], data: st.DataObject
) -> None:
    raw = copy.deepcopy(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        paths = [p for p in all_paths(raw) if p]
        if not paths:
            raw[data.draw(st.sampled_from(TOP))] = data.draw(structures)
            continue
        path = data.draw(st.sampled_from(paths))
        parent = raw
        for seg in path[:-1]:
            parent = parent[seg]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(leaf | structures | json_values(max_leaves=4))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(keys)] = data.draw(leaf)
        else:
            parent.append(data.draw(leaf | structures))
    check_loads_or_config_error(yaml.safe_dump(raw, allow_unicode=True))


@fuzz(200)
@given(
    st.text(max_size=100)
    | yamlish
    | st.dictionaries(
        st.sampled_from(["tls_server_config", "http_server_config", "basic_auth_users", "x"]),
        st.recursive(
            leaf | st.sampled_from(["TLS12", "TLS13", "TLS10", "$2b$04$" + "a" * 53]),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "cert_file",
                            "key_file",
                            "min_version",
                            "client_auth_type",
                            "client_ca_file",
                            "headers",
                            "http2",
                            "cipher_suites",
                            "bob",
                        ]
                    ),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=12,
        ),
        max_size=3,
    ).map(yaml.safe_dump)
)
@example("basic_auth_users: {bob: !!int x}")
@example("tls_server_config: " + "{a: " * 3000)
def test_any_web_config_text_parses_or_is_a_config_error(text: str) -> None:
    try:
        parse_web_config(text, FILE)
    except ConfigError as e:
        assert all(issue.file == FILE for issue in e.issues)
