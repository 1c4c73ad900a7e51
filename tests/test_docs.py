"""The newcomer's docs stay short and true: README.md under 12 KB with no generated table, every
command and make target it shows real, every link and every path of docs/architecture.md there,
and the metrics table (docs/metrics.md) complete."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from exporter import generate
from exporter import metrics as m
from exporter.cli import _command, build_parser

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
METRICS = ROOT / "docs" / "metrics.md"
OWN = (README, ARCHITECTURE, METRICS)


def test_readme_is_short_and_holds_no_generated_table() -> None:
    size = len(README.read_bytes())
    assert size < 12 * 1024, f"README.md is {size} bytes"
    text = README.read_text()
    assert generate.BEGIN not in text and "| `probe_success` |" not in text
    assert "docs/metrics.md" in text


def test_readme_says_nothing_is_coming_soon() -> None:
    assert not re.search(r"\bsoon\b", README.read_text(), re.IGNORECASE)


# Built from pieces so this file does not match itself: the design notes outside the repository
# (by file name, or cited by their upper-case name alone) and the folder that holds them.
OUTSIDE = re.compile(r"\b" + "DES" + r"IGN\b(?:\.md)?|\.\./" + "shared")


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.name)
def test_the_product_speaks_of_itself_only(path: Path) -> None:
    assert not OUTSIDE.search(path.read_text())


def test_no_tracked_file_cites_a_file_outside_the_repository() -> None:
    """Docs, rules, configs, dashboards and comments speak of the product itself: the business
    targets live in docs/targets.md, the shop's services in docs/architecture.md."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    cited = []
    for name in filter(None, listed.split("\0")):
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # images and other binaries
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                cited.append(f"{name}:{number}: {line.strip()}")
    assert not cited, "\n".join(cited)


def test_targets_page_is_linked_and_names_where_each_target_lives() -> None:
    """docs/targets.md names real alerts and real SLOs/probes of config/hotrod.yml, so a rename
    there cannot leave the page pointing at nothing."""
    targets = (ROOT / "docs" / "targets.md").read_text()
    assert "docs/targets.md" in README.read_text()
    alerts_yml = (ROOT / "alert_rules" / "alerts.yml").read_text()
    alerts = set(re.findall(r"^  ([A-Z][A-Za-z0-9]+):$", alerts_yml, re.MULTILINE))
    named = set(re.findall(r"`([A-Z][a-z]+[A-Z][A-Za-z0-9]+)`", targets))
    assert len(named) >= 15 and named <= alerts, named - alerts
    hotrod = yaml.safe_load((ROOT / "config" / "hotrod.yml").read_text())
    services = {s["name"]: s for s in hotrod["services"]}
    refs = re.findall(r"services\[([a-z-]+)\]\.(slos|probes)\[([a-z-]+)\]", targets)
    assert len(refs) >= 10
    for service, kind, name in refs:
        assert name in {item["name"] for item in services[service].get(kind, [])}, (service, name)
    for figure in ("99.9%", "99.95%", "43.2 min", "0.1%", "0.5%", "1 h", "SEV-1", "October 13-15"):
        assert figure in targets, figure


def test_metrics_table_lists_every_metric() -> None:
    text = METRICS.read_text()
    # what make generate would write is what is there (check-generated says so too)
    assert generate.replace_between(text, generate.BEGIN, generate.END, "") != text
    assert (
        generate.replace_between(text, generate.BEGIN, generate.END, generate.metrics_table(m.ALL))
        == text
    )
    names = set(re.findall(r"^\| `([a-zA-Z0-9_:<>]+)` \|", text, re.MULTILINE))
    assert {metric.name for metric in m.ALL} <= names


@pytest.mark.parametrize("path", [README, ARCHITECTURE], ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", path.read_text())
    local = [link for link in links if not re.match(r"^[a-z]+:", link)]
    assert local
    missing = [link for link in local if not (path.parent / link).exists()]
    assert not missing, missing


def _code_lines(text: str) -> list[str]:
    """Shell lines of the ```sh blocks, comments cut."""
    out = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def test_every_make_target_in_the_readme_exists() -> None:
    text = README.read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.MULTILINE))
    named = set(re.findall(r"`make ([a-z][a-z-]*)`", text))
    named |= {line.split()[1] for line in _code_lines(text) if line.startswith("make ")}
    assert named >= {"demo", "test", "demo-stop", "generate"}
    assert named <= targets, named - targets


def test_every_redline_command_in_the_readme_parses() -> None:
    """Each ``redline ...`` line of the README's shell blocks, given to the real parser (parsed,
    not run), and every ``redline <command>`` named in its text."""
    text = README.read_text()
    lines = [line for line in _code_lines(text) if re.match(r"^(\.venv/bin/)?redline ", line)]
    assert len(lines) >= 8
    for line in lines:
        argv = shlex.split(line)[1:]
        build_parser(_command(argv)).parse_args(argv)
    commands = set(re.findall(r"`redline ([a-z][a-z-]*)", text))
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert commands and commands <= set(choices), commands - set(choices)


def test_every_path_in_the_architecture_exists() -> None:
    """Backticked paths (``exporter/rules/spec.py``, ``probes/__init__.py``, ``http.py``) name real
    files: relative to the repository, to exporter/, or (a bare file name) somewhere in it."""
    text = ARCHITECTURE.read_text()
    tokens = set(re.findall(r"`([\w./-]+\.(?:py|yml|md|json)|[\w./-]+/)`", text))
    assert len(tokens) > 40
    missing = []
    for token in sorted(tokens):
        if token.startswith(("/", ".demo/")):  # an endpoint; what make demo creates
            continue
        if (ROOT / token).exists() or (ROOT / "exporter" / token).exists():
            continue
        if "/" not in token and any(
            p
            for d in ("exporter", "dashboards", "bench", "tests", "prometheus", "alertmanager")
            for p in (ROOT / d).rglob(token)
        ):
            continue
        missing.append(token)
    assert not missing, missing
