"""Config loading: every mistake is reported with file, path and line; valid input loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exporter.config import ConfigError, load_config, parse_config, status_matches

BAD = Path(__file__).parent / "fixtures" / "bad_configs"
BAD_FILES = sorted(BAD.glob("*.yml"))


def _expectation(path: Path) -> tuple[int, str]:
    first = path.read_text().splitlines()[0]
    match = re.match(r"^# expect: (\d+): (.+)$", first)
    assert match, f"{path.name} lacks its '# expect: LINE: TEXT' header"
    return int(match.group(1)), match.group(2)


def test_there_is_one_fixture_per_mistake() -> None:
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_bad_config_names_file_path_and_line(path: Path) -> None:
    line, text = _expectation(path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    messages = [str(issue) for issue in info.value.issues]
    expected_prefix = f"{path}:{line}: "
    assert any(m.startswith(expected_prefix) and _contains(m, text) for m in messages), messages


def _contains(message: str, text: str) -> bool:
    # the fixture's text is "PATH: PART OF THE MESSAGE" or "PART OF THE MESSAGE"
    path, sep, fragment = text.partition(": ")
    if sep and " " not in path:
        return f" {path}: " in message and fragment in message
    return text in message


def test_all_errors_of_a_file_are_reported_together() -> None:
    text = """
services:
  - name: app
    probes:
      - {name: a, kind: http, url: "ftp://x"}
      - {name: b, kind: tcp, address: "nohostport"}
      - {name: c, kind: http, url: "http://x", timeout: forever}
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text, "many.yml")
    paths = [issue.path for issue in info.value.issues]
    assert paths == [
        "services[0].probes[0].url",
        "services[0].probes[1].address",
        "services[0].probes[2].timeout",
    ]
    assert [issue.line for issue in info.value.issues] == [5, 6, 7]


def test_missing_file_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yml")
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"services: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_defaults_apply_only_where_unset_and_where_the_kind_has_the_key() -> None:
    config = parse_config(
        """
defaults: {timeout: 3s, max_body_bytes: 2KiB, degraded_after: 400ms}
services:
  - name: app
    probes:
      - {name: a, kind: http, url: "http://127.0.0.1:1/"}
      - {name: b, kind: http, url: "http://127.0.0.1:1/", timeout: 1s}
      - {name: c, kind: dns, query: localhost}
""",
        "d.yml",
    )
    a, b, c = config.services[0].probes
    assert (a.timeout, a.max_body_bytes, a.degraded_after) == (3.0, 2048, 0.4)
    assert b.timeout == 1.0
    assert c.timeout == 3.0 and not hasattr(c, "max_body_bytes")


def test_models_are_frozen_and_targets_are_named_service_slash_probe() -> None:
    config = parse_config(
        "services: [{name: app, probes: [{name: h, kind: tcp, address: '127.0.0.1:1'}]}]",
        "f.yml",
    )
    assert list(config.targets()) == ["app/h"]
    with pytest.raises(Exception, match="frozen"):
        config.services[0].probes[0].timeout = 1  # type: ignore[misc]


def test_secrets_are_kept_unresolved_in_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPIFY_ADMIN_TOKEN", "shpat_supersecret")
    config = parse_config(
        """
services:
  - name: shopify
    probes:
      - name: shop
        kind: http
        url: "https://${SHOPIFY_STORE_DOMAIN}/admin/api/2025-10/shop.json"
        headers: {X-Shopify-Access-Token: "${SHOPIFY_ADMIN_TOKEN}"}
""",
        "s.yml",
    )
    assert "shpat_supersecret" not in repr(config)
    probe = config.services[0].probes[0]
    assert probe.headers["X-Shopify-Access-Token"] == "${SHOPIFY_ADMIN_TOKEN}"


@pytest.mark.parametrize(
    ("specs", "code", "expected"),
    [
        (("2xx",), 204, True),
        (("2xx",), 301, False),
        (("200-399",), 399, True),
        (("200-399",), 400, False),
        (("200", "404"), 404, True),
        (("200",), 201, False),
    ],
)
def test_status_specs(specs: tuple[str, ...], code: int, expected: bool) -> None:
    assert status_matches(specs, code) is expected
