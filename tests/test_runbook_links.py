"""Runbook links that open: in the demo, every alert's runbook link points to the demo's
receiver, which serves docs/runbooks/ (so the link of a page at the receiver opens); in
production they point to alert_rules/stack.yml's runbook_url, and `redline check` warns while
that is still a placeholder (a name reserved for examples)."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import aiohttp
import pytest
import yaml

from exporter import rules
from exporter.cli import main, placeholder
from exporter.demo.layout import RECEIVER_URL
from exporter.demo.receiver import run_receiver

ROOT = Path(__file__).resolve().parent.parent


def test_the_demos_runbook_links_point_at_its_receiver() -> None:
    built = rules.build(ROOT, profile="demo")
    urls = set()
    for path, text in built.items():
        if path.startswith("prometheus/rules/"):
            for group in yaml.safe_load(text)["groups"]:
                urls |= {r["annotations"]["runbook_url"] for r in group["rules"] if "alert" in r}
    assert len(urls) > 40
    for url in urls:
        assert re.fullmatch(rf"{re.escape(RECEIVER_URL)}/runbooks/[A-Za-z]+\.md", url), url
        assert (ROOT / "docs" / "runbooks" / url.rsplit("/", 1)[1]).is_file(), url


def test_the_receiver_serves_the_runbooks_and_nothing_else() -> None:
    async def go() -> None:
        async with run_receiver(None) as (_, url), aiohttp.ClientSession() as http:
            async with http.get(f"{url}/runbooks/ServiceDown.md") as resp:
                assert resp.status == 200
                assert (await resp.text()).startswith("# ServiceDown")
            for bad in ("NoSuchAlert.md", "..%2F..%2FREADME.md", "ServiceDown.py", "x"):
                async with http.get(f"{url}/runbooks/{bad}") as resp:
                    assert resp.status == 404, bad

    asyncio.run(go())


def test_placeholders_are_names_reserved_for_examples() -> None:
    assert placeholder("https://git.hotrodan.example/redline/blob/main/docs/runbooks")
    assert placeholder("http://example.com/runbooks") and placeholder("https://docs.invalid/")
    assert not placeholder("https://github.com/hotrodan/redline/blob/main/docs/runbooks")


def test_check_warns_while_the_runbook_url_is_a_placeholder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for d in ("config", "alert_rules"):
        shutil.copytree(ROOT / d, tmp_path / d)
    config = str(tmp_path / "config" / "hotrod.yml")
    assert main(["check", config]) == 0
    assert "runbook_url https://git.hotrodan.example" in capsys.readouterr().err
    stack = tmp_path / "alert_rules" / "stack.yml"
    stack.write_text(
        stack.read_text().replace(
            "https://git.hotrodan.example/redline/blob/main/docs/runbooks",
            "https://git.hotrodan.com/redline/blob/main/docs/runbooks",
        )
    )
    assert main(["check", config]) == 0
    assert "runbook_url" not in capsys.readouterr().err
