"""The logs section of the config: one fixture per mistake (tests/fixtures/bad_configs/logs_*),
each reported with file, line and path; defaults and shorthands; the shipped config."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config, parse_config
from exporter.logs.config import DEFAULT_BUCKETS, Envelope

ROOT = Path(__file__).resolve().parent.parent
BAD = sorted((ROOT / "tests" / "fixtures" / "bad_configs").glob("logs_*.yml"))


def test_there_is_a_fixture_per_logs_mistake() -> None:
    assert len(BAD) >= 9


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_logs_config_names_file_line_and_path(path: Path) -> None:
    header = re.match(r"^# expect: (\d+): (.+)$", path.read_text().splitlines()[0])
    assert header, f"{path.name} lacks its '# expect: LINE: TEXT' header"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    messages = [str(issue) for issue in info.value.issues]
    prefix = f"{path}:{header.group(1)}: "
    assert any(m.startswith(prefix) and header.group(2) in m for m in messages), messages


def test_defaults_and_shorthands() -> None:
    config = parse_config(
        """
logs:
  route_groups: ["/api/health/*", {name: api, paths: ["/api/**"]}]
  sources:
    - {name: app, kind: file, paths: [/var/log/app/*.log], parsers: [json_logger, hotrod_access]}
    - {name: fly, kind: ingest, bearer_token: "${REDLINE_INGEST_TOKEN}", parsers: [rails]}
""",
        "t.yml",
    )
    logs = config.logs
    assert logs.buckets == DEFAULT_BUCKETS
    assert [(g.name, g.paths) for g in logs.route_groups] == [
        ("/api/health/*", ("/api/health/*",)),
        ("api", ("/api/**",)),
    ]
    app, fly = logs.sources
    assert [p.kind for p in app.parsers] == ["json_logger", "hotrod_access"]
    assert (app.from_start, app.poll_interval, app.max_line) == (False, 0.5, 65536)
    assert app.effective_envelope is None and app.service_label == "app"
    assert fly.effective_envelope == Envelope()  # ingest records are always JSON
    assert fly.max_body == 10 * 1024 * 1024


def test_shipped_hotrod_config_wires_the_logs() -> None:
    config, _ = load_config(ROOT / "config" / "hotrod.yml")
    logs = config.logs
    kinds = {s.name: s.kind for s in logs.sources}
    assert "ingest" in kinds.values() and "file" in kinds.values()
    formats = {p.kind for s in logs.sources for p in s.parsers}
    assert {"json_logger", "hotrod_access", "rails", "nginx_combined"} <= formats
    assert {"oom", "econnreset", "unhandled_rejection"} <= {p.name for p in logs.patterns}
    for target in (0.1, 0.5, 0.8, 1.0, 3.0):  # the latency targets of docs/targets.md
        assert target in logs.buckets
