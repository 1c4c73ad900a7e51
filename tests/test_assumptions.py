"""Facts and assumptions: a config's ``assumptions`` name unconfirmed values by path; a path to
nothing is refused (at load for the config's own values, by ``redline check`` for the stack's
other files), and ``redline check`` lists every entry under "to confirm"."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from exporter import assumptions, cli
from exporter.config import ConfigError, load_config, parse_config, read_config_file, read_yaml

ROOT = Path(__file__).resolve().parents[1]
HOTROD = ROOT / "config" / "hotrod.yml"

BASE = """\
services:
  - name: agent-service
    probes:
      - name: health
        kind: http
        url: http://127.0.0.1:9/health
        headers: {api_access_token: abc-literal-token}
        expect_json: [status == "ok", 'version =~ "^1\\\\.4\\\\."']
assumptions:
"""


def entry(path: str, file: str | None = None, note: str = "assumed", confirm: str = "look") -> str:
    lines = [f"  - path: {path}", f"    note: {note}", f"    confirm: {confirm}"]
    if file is not None:
        lines.insert(1, f"    file: {file}")
    return "\n".join(lines) + "\n"


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    path = tmp_path / "config" / "redline.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    code = cli.main(["check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_path_to_nothing_is_refused_at_load_with_file_line_and_path() -> None:
    text = BASE + entry("services[agent-service].probes[helth].url")
    with pytest.raises(ConfigError) as e:
        parse_config(text, "redline.yml")
    (issue,) = e.value.issues
    assert (issue.file, issue.line, issue.path) == ("redline.yml", 10, "assumptions[0].path")
    assert "services[agent-service].probes has no item named 'helth' (it has health)" in str(issue)


def test_paths_name_values_as_written_not_defaults() -> None:
    # timeout is not written for the probe: the defaults fill it in later, nothing to confirm
    with pytest.raises(ConfigError, match="has no key 'timeout'"):
        parse_config(BASE + entry("services[agent-service].probes[health].timeout"), "r.yml")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (entry("services[agent-service]", note="''"), "say what is assumed"),
        ("  - path: services[agent-service]\n    note: x\n", "missing required key 'confirm'"),
        (entry("services[agent-service]..url"), "cannot read"),
        (entry("launch", file="/etc/alert_rules.yml"), "relative to the config's directory"),
    ],
)
def test_a_malformed_entry_is_refused(text: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said.replace("(", r"\(").replace(")", r"\)")):
        parse_config(BASE + text, "r.yml")


def test_check_lists_every_entry_with_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "alert_rules").mkdir()
    (tmp_path / "alert_rules" / "routing.yml").write_text(
        "smtp:\n  smarthost: smtp.hotrodan.example:587\n", encoding="utf-8"
    )
    text = (
        BASE
        + entry("services[agent-service].probes[health].expect_json[1]", note="the 1.4 line")
        + entry("smtp.smarthost", file="../alert_rules/routing.yml", confirm="the mail relay")
        + entry("services[agent-service].probes[health].headers.api_access_token")
    )
    code, out, err = check(tmp_path, text, capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "to confirm: 3 values nobody has checked against the real services"
    config = str(tmp_path / "config" / "redline.yml")
    assert (
        f"  {config}:8: services[agent-service].probes[health].expect_json[1] = "
        """'version =~ "^1\\\\.4\\\\."'"""
    ) in lines
    assert "      assumed: the 1.4 line" in lines
    routing = str(tmp_path / "alert_rules" / "routing.yml")
    assert f"  {routing}:2: smtp.smarthost = 'smtp.hotrodan.example:587'" in lines
    assert "      confirm: the mail relay" in lines
    # a value under a credential's key is named, never printed
    assert "abc-literal-token" not in out + err
    assert "api_access_token = (not shown: it may be a credential)" in out


def test_check_refuses_a_file_entry_that_names_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "alert_rules").mkdir()
    (tmp_path / "alert_rules" / "stack.yml").write_text("runbook_url: x\n", encoding="utf-8")
    text = (
        BASE
        + entry("services[agent-service]")
        + entry("runbook_uri", file="../alert_rules/stack.yml")
        + entry("smtp.smarthost", file="../alert_rules/gone.yml")
    )
    code, out, err = check(tmp_path, text, capsys)
    assert code == 1
    assert "OK" not in out
    config = str(tmp_path / "config" / "redline.yml")
    assert f"error: {config}:13: assumptions[1].path: names nothing in " in err
    assert "has no key 'runbook_uri' (it has runbook_url)" in err
    assert f"error: {config}:18: assumptions[2].file: " in err and "file not found" in err
    assert "2 error(s)" in err


def test_a_config_without_assumptions_lists_nothing_to_confirm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = check(tmp_path, BASE.replace("assumptions:\n", ""), capsys)
    assert code == 0
    assert "to confirm" not in out


# --- the shipped config ---------------------------------------------------------------------------


def test_every_entry_of_the_shipped_file_resolves_to_one_value() -> None:
    config, name = load_config(HOTROD)

    def read(path: str) -> tuple[object, object]:
        data, lines = read_yaml(read_config_file(path), path)
        return data, lines.find

    listed, problems = assumptions.listing(config.assumptions, name, read)  # type: ignore[arg-type]
    assert problems == []
    assert len(listed) == len(config.assumptions)
    assert all(item.where.split(":")[-1].isdigit() for item in listed)


@pytest.mark.parametrize(
    "path",
    [
        "services[agent-service].probes[health].expect_json[2]",  # the version pin
        "services[chatwoot].probes[api].expect_json[0]",  # Chatwoot's version
        "logs.route_groups[tiles].paths",  # HotDash tile routes
        "logs.route_groups[api].paths",  # HotDash API routes
        "logs.sources[fly].parsers[0]",  # HotDash log field names
        "vendors.feeds[google-ads-dashboard].url",
        "smtp.smarthost",
        "receivers[deadmansswitch].webhook.url",
        "receivers[platform].email.to",
        "runbook_url",
    ],
)
def test_the_known_unconfirmed_values_are_marked(path: str) -> None:
    config, _ = load_config(HOTROD)
    assert path in {a.path for a in config.assumptions}


def test_every_placeholder_host_of_the_stack_is_marked() -> None:
    """No *.example value in the operator's file or the alerting specs goes unmarked: each
    one is named by an entry, or is in a place an entry names (smtp.from with smarthost)."""
    config, _ = load_config(HOTROD)
    marked = {(a.file or "", a.path) for a in config.assumptions}
    covered = {  # values an entry's note speaks for (the same placeholder domain, one place)
        ("../alert_rules/routing.yml", "smtp.from"),
        ("../alert_rules/routing.yml", "smtp.username"),
        ("../alert_rules/routing.yml", "receivers[digest].email.to"),
        ("../alert_rules/routing.yml", "receivers[escalation].email.to"),
    }
    for rel, file in (
        ("", HOTROD),
        ("../alert_rules/routing.yml", None),
        ("../alert_rules/stack.yml", None),
    ):
        source = file or (HOTROD.parent / rel)
        data = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
        for path in _example_values(data, ""):
            assert (rel, path) in marked | covered, f"{rel or 'config/hotrod.yml'}: {path} unmarked"


def _example_values(value: object, path: str) -> list[str]:
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "assumptions":
                out += _example_values(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            out += _example_values(item, f"{path}[{name if name else i}]")
    elif isinstance(value, str) and ".example" in value:
        out.append(path)
    return out


def test_the_demo_config_has_nothing_to_confirm() -> None:
    config, _ = load_config(None)
    assert config.assumptions == ()
