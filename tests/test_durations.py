"""exporter/durations.py: one grammar for the config, the alert specs and every command line.

The round trip through :func:`durations.prom` is checked against the real Prometheus too: it
must read each written form back as the same number of seconds, and print it the same way.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from exporter import durations
from exporter.config import ConfigError, parse_config
from exporter.configtypes import _duration
from exporter.demo.servers import Prometheus
from exporter.rules import spec

ROOT = Path(__file__).resolve().parent.parent
MS = Decimal("0.001")

# Seconds to the millisecond, from nothing to ten years.
millis = st.integers(0, 10 * 365 * 86400 * 1000).map(lambda n: Decimal(n) * MS)


# --- the grammar --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h30m", 5400),
        ("500ms", "0.5"),
        ("0.5s", "0.5"),
        ("1.5h", 5400),
        ("2d12h", 216000),
        ("1w", 604800),
        ("1y", 365 * 86400),
        ("90d", 90 * 86400),
        ("1m0.25s", "60.25"),
        ("0s", 0),
        (" 5m ", 300),
    ],
)
def test_compound_and_fractional_forms(text: str, seconds: int | str) -> None:
    assert durations.parse(text) == Decimal(seconds)
    assert durations.parse(text, bare=False) == Decimal(seconds)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "-5s",
        "-1",
        -1,
        -0.5,
        "nan",
        "NaN",
        "inf",
        float("nan"),
        float("inf"),
        1e300,
        Decimal("NaN"),
        "5x",
        "5 minutes",
        "1e3",
        ".5s",
        "1.s",
        "30m1h",  # Prometheus wants the largest unit first
        "5m5m",
        "1h 30m",
        True,
        None,
        [],
    ],
)
def test_refusals_share_one_message(value: object) -> None:
    with pytest.raises(ValueError) as info:
        durations.parse(value)
    assert str(info.value) == durations.message(value)
    assert str(info.value).endswith("is not a duration such as 500ms, 0.5s, 30s, 5m or 1h30m")


def test_bare_numbers_only_where_allowed() -> None:
    assert durations.parse("30") == 30
    assert durations.parse(30) == 30
    assert durations.parse(0.1) == Decimal("0.1")  # the float as written, not 0.1000000000000000055
    for value in ("30", 30, 0.5):
        with pytest.raises(ValueError, match=re.escape(durations.message(value))):
            durations.parse(value, bare=False)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 999),
            st.sampled_from([None, "5", "25", "125", "999"]),
        ),
        min_size=len(durations.UNITS),
        max_size=len(durations.UNITS),
    ),
    st.sets(st.sampled_from(list(durations.UNITS)), min_size=1),
)
def test_compound_form_is_the_sum_of_its_parts(
    amounts: list[tuple[int, str | None]], units: set[str]
) -> None:
    text, expected = "", Decimal(0)
    for (whole, fraction), (unit, size) in zip(amounts, durations.UNITS.items(), strict=True):
        if unit in units:
            number = f"{whole}.{fraction}" if fraction else str(whole)
            text += f"{number}{unit}"
            expected += Decimal(number) * size
    assert durations.parse(text) == expected


# The grammars this module replaced, kept here only to prove that every value they accepted still
# reads the same: the config's one-unit form with fractions (``0.5s``) ...
_OLD_CONFIG = st.tuples(
    st.integers(0, 10**6),
    st.sampled_from(["", ".5", ".25", ".001"]),
    st.sampled_from(["ms", "s", "m", "h", "d"]),
)
# ... and the alert specs' whole-number compound form (``1h30m``), largest unit first.
_OLD_SPEC = st.lists(st.integers(0, 10**4), min_size=7, max_size=7)


@given(_OLD_CONFIG)
def test_what_the_config_accepted_reads_the_same(parts: tuple[int, str, str]) -> None:
    whole, fraction, unit = parts
    old = float(f"{whole}{fraction}") * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert _duration(f"{whole}{fraction}{unit}") == pytest.approx(old, rel=1e-15)


@given(_OLD_SPEC, st.sets(st.sampled_from(list(durations.UNITS)), min_size=1))
def test_what_the_specs_accepted_reads_the_same(amounts: list[int], units: set[str]) -> None:
    chosen = [(a, u) for a, u in zip(amounts, durations.UNITS, strict=True) if u in units]
    text = "".join(f"{a}{u}" for a, u in chosen)
    assert spec.seconds(text) == sum(a * durations.UNITS[u] for a, u in chosen)
    assert spec._prom_duration(text) == text  # kept as written: generated files do not move


# --- the Prometheus form ------------------------------------------------------------------------


@given(millis)
def test_prom_round_trips(seconds: Decimal) -> None:
    text = durations.prom(seconds)
    assert durations.is_prom(text), text
    assert durations.parse(text) == seconds
    assert durations.prom(text) == text  # canonical: writing it again changes nothing


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0.5s", "500ms"),
        ("90m", "1h30m"),
        ("1.5h", "1h30m"),
        ("7d", "1w"),
        ("90d", "90d"),  # weeks and years only when exact, as Prometheus prints them
        ("365d", "1y"),
        ("2d12h", "2d12h"),
        (0, "0s"),
        (Decimal("0.001"), "1ms"),
        ("1m0.25s", "1m250ms"),
    ],
)
def test_prom_form(value: object, text: str) -> None:
    assert durations.prom(value) == text


def test_prom_refuses_what_prometheus_cannot_express() -> None:
    with pytest.raises(ValueError, match=r"finer than a millisecond.*nearest it can: 1ms\)"):
        durations.prom("0.0005s")
    with pytest.raises(ValueError, match=r"finer than a millisecond.*nearest it can: 1s\)"):
        durations.prom(Decimal("1.0001"))


def test_prometheus_reads_and_prints_the_written_form(tmp_path: Path) -> None:
    """The real Prometheus reads every :func:`prom` form as the seconds it came from (rules API)
    and prints scrape intervals exactly as :func:`prom` writes them (config API)."""
    cases = [
        Decimal(s) for s in ("0.5", "1.5", "5400", "604800", "7776000", "31536000", "90061.25")
    ]
    rules = {
        "groups": [
            {
                "name": "durations",
                "rules": [
                    {"alert": f"D{i}", "expr": "vector(1)", "for": durations.prom(s)}
                    for i, s in enumerate(cases)
                ],
            }
        ]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    intervals = [Decimal(s) for s in ("15", "90", "5400", "86400", "604800", "1209600", "2592000")]
    config = {
        "global": {"evaluation_interval": "1h"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "scrape_configs": [
            {
                "job_name": f"j{i}",
                "scrape_interval": durations.prom(s),
                "scrape_timeout": "10s",
                "static_configs": [{"targets": ["127.0.0.1:1"]}],
            }
            for i, s in enumerate(intervals)
        ],
    }
    with Prometheus(tmp_path / "prom", yaml.safe_dump(config)) as prom:
        groups = prom.get_json("/api/v1/rules")["data"]["groups"]
        read = {r["name"]: Decimal(repr(r["duration"])) for r in groups[0]["rules"]}
        printed = yaml.safe_load(prom.get_json("/api/v1/status/config")["data"]["yaml"])
    assert read == {f"D{i}": s for i, s in enumerate(cases)}
    shown = {j["job_name"]: j["scrape_interval"] for j in printed["scrape_configs"]}
    assert shown == {f"j{i}": durations.prom(s) for i, s in enumerate(intervals)}


# --- one message from the config, the specs and the command line ------------------------------


def _config_messages(timeout: str) -> list[str]:
    text = (
        "services:\n  - name: app\n    probes:\n      - name: health\n        kind: http\n"
        f"        url: http://127.0.0.1:1/health\n        timeout: {timeout}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, "t.yml")
    return [i.message for i in info.value.issues]


def test_config_spec_and_cli_say_the_same(tmp_path: Path) -> None:
    bad = "1x"
    expected = durations.message(bad)
    assert _config_messages(bad) == [expected]

    alerts = (ROOT / "alert_rules" / "alerts.yml").read_text()
    broken, count = re.subn(r"\{for: 2m\}", "{for: 1x}", alerts, count=1)
    assert count == 1
    (tmp_path / "alerts.yml").write_text(broken)
    with pytest.raises(spec.SpecError) as info:
        spec.load(spec.AlertsSpec, tmp_path / "alerts.yml")
    assert str(info.value).endswith(f".for: {expected}"), str(info.value)

    # The installed command, as a user runs it: argparse refuses before anything starts.
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "run", "--web.read-timeout", bad],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"argument --web.read-timeout: {expected}" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "app", "--timeout", "1x"],
        ["launch-check", "--timeout", "1x"],
        ["baseline", "--prometheus", "http://127.0.0.1:1", "--window", "1x"],
        ["capacity", "--prometheus", "http://127.0.0.1:1", "--horizon", "1x"],
        ["demo", "break", "agent-service", "slow", "--delay", "1x"],
        ["demo", "heal", "--lag", "1x"],
    ],
    ids=lambda argv: f"{argv[0]} {argv[-2]}",
)
def test_every_duration_option_uses_the_grammar(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from exporter.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert f"{argv[-2]}: {durations.message('1x')}" in capsys.readouterr().err


def test_cli_reads_fractional_and_compound_forms() -> None:
    assert durations.argparse_seconds("1m30s") == 90.0
    assert durations.argparse_seconds("0.5s") == 0.5
    assert durations.argparse_seconds("2") == 2.0  # a bare number of seconds, as before
    assert durations.argparse_seconds("0") == 0.0  # --lag 0
    with pytest.raises(argparse.ArgumentTypeError, match="must be more than 0"):
        durations.argparse_positive_seconds("0s")


# --- what is shipped still loads, with the same values -----------------------------------------


def test_shipped_configs_and_specs_load() -> None:
    from exporter.config import load_config

    for config in (None, ROOT / "config" / "hotrod.yml"):
        load_config(config)
    spec.load(spec.AlertsSpec, ROOT / "alert_rules" / "alerts.yml")
    spec.load(spec.RoutingSpec, ROOT / "alert_rules" / "routing.yml")
    spec.load(spec.StackSpec, ROOT / "alert_rules" / "stack.yml")


def test_fractional_for_is_written_the_prometheus_way(tmp_path: Path) -> None:
    alerts = (ROOT / "alert_rules" / "alerts.yml").read_text()
    changed, count = re.subn(r"\{for: 2m\}", "{for: 0.5h}", alerts, count=1)
    assert count == 1
    (tmp_path / "alerts.yml").write_text(changed)
    loaded = spec.load(spec.AlertsSpec, tmp_path / "alerts.yml")
    fors = {lvl.for_ for a in loaded.alerts.values() for lvl in a.levels().values()}
    assert "30m" in fors and "0.5h" not in fors
