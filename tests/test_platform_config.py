"""The platform section of redline.yml and the scrape jobs generated from it: the Fly federation
job and the Supabase job (exporter/rules/prometheus_config.py's platform_jobs)."""

from __future__ import annotations

import pytest

from exporter.config import ConfigError, load_config, parse_config
from exporter.platform.config import FLY_JOB, SUPABASE_JOB
from exporter.rules.prometheus_config import platform_jobs

BASE = """
services:
  - name: chatwoot
    fly:
      app: hotdash-chatwoot
      groups:
        - {name: web, memory: 2GiB}
        - {name: worker, memory: 1GiB, customer_messages: true}
    probes: [{name: h, kind: http, url: "http://127.0.0.1:1/"}]
"""
PLATFORM = """
platform:
  fly: {org: hotrod-an, token_file: /etc/redline/fly-token}
  supabase: {project_ref: abcdefghij, key_file: /etc/redline/supabase-key}
"""


def issues(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "redline.yml")
    return [str(i) for i in err.value.issues]


def test_a_fly_service_needs_the_platform_section() -> None:
    assert issues(BASE) == [
        "redline.yml:2: platform: services[0].fly name a Fly app: set platform.fly (org and "
        "token_file) so it can be read"
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "platform:\n  fly: {org: Hot Rod, token_file: /x}\n",
            "redline.yml:",  # the slug's pattern
        ),
        (
            "platform:\n  fly: {org: hotrod, token: abc}\n",
            "unknown key 'token'",  # values never: only token_file
        ),
        (
            "platform:\n  fly: {org: hotrod, token_file: /x, poll_interval: 10s, timeout: 10s}\n",
            "timeout must be below poll_interval",
        ),
        (
            "platform:\n  fly: {org: hotrod, token_file: /x}\n"
            "  supabase: {project_ref: abc, key_file: /k, max_connections: 0}\n",
            "platform.supabase.max_connections",
        ),
    ],
)
def test_bad_platform_values_name_file_line_and_path(extra: str, message: str) -> None:
    found = issues(BASE + extra)
    assert any(message in i for i in found), found
    assert all(i.startswith("redline.yml:") for i in found)


def test_duplicate_groups_and_apps_are_refused() -> None:
    text = BASE.replace("name: worker", "name: web") + PLATFORM
    assert any("process group name 'web' is used twice" in i for i in issues(text))


def test_jobs_from_the_operators_file() -> None:
    config = parse_config(BASE + PLATFORM, "redline.yml")
    fly, supa = platform_jobs(config)
    assert fly["job_name"] == FLY_JOB
    assert fly["honor_labels"] is True
    assert fly["scrape_interval"] == "60s"
    assert fly["scheme"] == "https"
    assert fly["metrics_path"] == "/prometheus/hotrod-an/federate"
    assert fly["static_configs"] == [{"targets": ["api.fly.io:443"]}]
    assert fly["params"] == {"match[]": ['{__name__=~"fly_.+", app=~"hotdash-chatwoot"}']}
    assert fly["authorization"] == {"type": "Bearer", "credentials_file": "/etc/redline/fly-token"}
    assert [dict(r) for r in fly["metric_relabel_configs"]] == [
        {
            "source_labels": ["app"],
            "regex": "hotdash-chatwoot",
            "target_label": "service",
            "replacement": "chatwoot",
        }
    ]
    assert supa["job_name"] == SUPABASE_JOB
    assert supa["metrics_path"] == "/customer/v1/privileged/metrics"
    assert supa["static_configs"] == [
        {"targets": ["abcdefghij.supabase.co:443"], "labels": {"service": "database"}}
    ]
    assert supa["basic_auth"] == {
        "username": "service_role",
        "password_file": "/etc/redline/supabase-key",
    }


def test_no_platform_no_jobs() -> None:
    text = "services:\n  - name: a\n    probes: [{name: h, kind: http, url: 'http://x/'}]\n"
    config = parse_config(text, "r.yml")
    assert platform_jobs(config) == []


def test_shipped_configs_agree_on_the_apps() -> None:
    """The demo's platform mirrors the operator's: the same apps, groups and machine sizes."""
    hotrod, _ = load_config("config/hotrod.yml")
    default, _ = load_config(None)

    def apps(config: object) -> dict[str, object]:
        return {
            app: (s.name, s.fly.groups)  # type: ignore[union-attr]
            for app, s in config.fly_apps().items()  # type: ignore[attr-defined]
        }

    assert apps(hotrod) == apps(default)
    assert apps(hotrod)["hotdash-chatwoot"][1][1].customer_messages  # type: ignore[index]
    assert default.platform.fly is not None and hotrod.platform.fly is not None
    assert default.platform.fly.federate.startswith("http://127.0.0.1:")
    assert hotrod.platform.fly.federate == "https://api.fly.io/prometheus/hotrod-an/federate"
