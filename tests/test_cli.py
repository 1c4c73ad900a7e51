"""The ``redline`` command as a user runs it: check, probe, and run (signals, promtool)."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.cli import build_parser
from tests.promtool import promtool_problems

REDLINE = [sys.executable, "-m", "exporter"]
ROOT = Path(__file__).resolve().parent.parent
SECRET = "shpat_0123456789abcdef_TOPSECRET"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*REDLINE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_accepts_a_good_config_and_names_missing_secrets(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text(
        """
services:
  - name: shopify
    probes:
      - name: shop
        kind: http
        url: http://127.0.0.1:1/admin/api/2025-10/shop.json
        headers: {X-Shopify-Access-Token: "${SHOPIFY_ADMIN_TOKEN}"}
      - name: token-file
        kind: http
        url: http://127.0.0.1:1/
        bearer_token_file: /nonexistent/token
"""
    )
    env = {k: v for k, v in os.environ.items() if k != "SHOPIFY_ADMIN_TOKEN"}
    result = subprocess.run(
        [*REDLINE, "check", str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "OK (1 services, 2 probes)" in result.stdout
    assert "environment variable SHOPIFY_ADMIN_TOKEN" in result.stderr
    assert "services[0].probes[0].headers.X-Shopify-Access-Token" in result.stderr
    assert "file /nonexistent/token" in result.stderr


def test_check_prints_every_error_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(
        "services:\n  - name: app\n    probes:\n"
        "      - {name: a, kind: http, url: 'ftp://x'}\n"
        "      - {name: b, kind: tcp, address: nope}\n"
    )
    result = run("check", str(path))
    assert result.returncode == 1
    assert f"{path}:4: services[0].probes[0].url" in result.stderr
    assert f"{path}:5: services[0].probes[1].address" in result.stderr
    assert "2 error(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_never_prints_a_secret_value(tmp_path: Path) -> None:
    path = tmp_path / "s.yml"
    path.write_text(
        "services: [{name: s, probes: [{name: p, kind: http, url: 'http://127.0.0.1:1/', "
        "headers: {X-Token: '${TOKEN}'}, timeout: nope}]}]"
    )
    result = run("check", str(path), env={"TOKEN": SECRET})
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr


def test_shipped_configs_pass_check() -> None:
    for path in ("config/hotrod.yml", "exporter/default.yml"):
        result = run("check", path)
        assert result.returncode == 0, result.stderr


def test_probe_prints_a_trace_and_the_series(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(
        "services: [{name: db, probes: [{name: pooler, kind: tcp, address: '127.0.0.1:9'}]}]"
    )
    result = run("probe", "db/pooler", "--config.file", str(path))
    assert result.returncode == 1  # the probe failed: nothing listens on port 9
    assert "db/pooler (tcp)" in result.stdout
    assert "result: down (connect)" in result.stdout
    assert 'probe_success{service="db",probe="pooler"} 0' in result.stdout
    unknown = run("probe", "nope", "--config.file", str(path))
    assert unknown.returncode == 2 and "db/pooler" in unknown.stderr


def test_check_refuses_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "cut.yml"
    path.write_text("# services: a deploy cut this file short\n")
    result = run("check", str(path))
    assert result.returncode == 1
    assert f"error: {path}: the file is empty or holds only comments" in result.stderr


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    path = tmp_path / "redline.yml"
    path.write_text(
        f"services: [{{name: self, probes: [{{name: web, kind: http, "
        f"url: 'http://127.0.0.1:{port}/-/healthy'}}]}}]"
    )
    log = tmp_path / "redline.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [
                *REDLINE,
                "run",
                "--config.file",
                str(path),
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"redline did not start: {log.read_text()}")
        yield proc, port, path
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return str(resp.read().decode())


def test_sighup_reloads_and_sigterm_stops_cleanly(
    running: tuple[subprocess.Popen[str], int, Path],
) -> None:
    proc, port, path = running
    assert 'probe_success{probe="web",service="self"} 1.0' in get(port, "/metrics")
    path.write_text(path.read_text().replace("name: web", "name: web2"))
    proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while 'probe="web2"' not in get(port, "/metrics"):
        assert time.monotonic() < deadline, "SIGHUP did not reload the config"
        time.sleep(0.1)
    path.write_text("services: {broken")
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    text = get(port, "/metrics")
    assert "redline_config_last_reload_successful 0.0" in text
    assert 'probe="web2"' in text  # the previous config stays in force
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_sighup_refuses_an_empty_config_and_says_so(
    running: tuple[subprocess.Popen[str], int, Path], tmp_path: Path
) -> None:
    proc, port, path = running
    path.write_text("# truncated by a failed deploy\n")
    proc.send_signal(signal.SIGHUP)
    log = tmp_path / "redline.log"
    deadline = time.monotonic() + 10
    while "config reload refused" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    text = get(port, "/metrics")
    assert "redline_config_last_reload_successful 0.0" in text
    assert 'probe="web"' in text  # the previous config stays in force
    assert 'redline_config_targets{area="probes"} 1.0' in text
    line = next(x for x in log.read_text().splitlines() if "config reload refused" in x)
    assert "level=error" in line and "empty" in line and str(path) in line


def test_promtool_accepts_a_real_scrape(
    running: tuple[subprocess.Popen[str], int, Path],
) -> None:
    _, port, _ = running
    assert promtool_problems(get(port, "/metrics")) == []


def test_run_does_not_load_the_operator_commands() -> None:
    """`redline run` parses its flags without importing the reports, charts, launch-check or
    the demo (megabytes the exporter would carry for its whole life); `redline --help` still
    lists every command, and a named one is configured in full."""
    code = (
        "import sys; from exporter.cli import build_parser; p = build_parser('run'); "
        "p.parse_args(['run']); "
        "heavy = sorted(m for m in sys.modules if m.startswith(("
        "'exporter.ops', 'exporter.demo', 'exporter.launch.check', 'matplotlib'))); "
        "print(heavy); print(p.format_help())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded, help_text = out.split("\n", 1)
    assert loaded == "[]"
    for name in ("baseline", "capacity", "postmortem", "launch-check", "demo", "drill"):
        assert f"    {name} " in help_text, name
    args = build_parser("capacity").parse_args(
        ["capacity", "--prometheus", "http://p", "--growth", "3x"]
    )
    assert args.growth == "3x" and args.func.__module__ == "exporter.ops.cli"


def test_log_lines_carry_the_traceback_of_an_internal_error() -> None:
    from exporter.cli import _LogfmtFormatter

    def fails() -> None:
        raise KeyError("the missing key")

    try:
        fails()
    except KeyError:
        record = logging.LogRecord(
            "aiohttp.server", logging.ERROR, __file__, 1, "Error handling request", (), None
        )
        record.exc_info = sys.exc_info()
    line = _LogfmtFormatter().format(record)
    assert "\n" not in line
    assert 'msg="Error handling request" err="Traceback (most recent call last):' in line
    assert "in fails\\n" in line and "KeyError: 'the missing key'" in line


def test_a_password_written_in_a_url_is_warned_about_and_never_printed(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(
        "services: [{name: app, probes: [{name: h, kind: http, "
        "url: 'http://alice:pw-written-here@127.0.0.1:9/health', timeout: 1s}, "
        "{name: ok, kind: http, url: 'http://bob:${APP_PASSWORD}@127.0.0.1:9/', timeout: 1s}]}]"
    )
    check = run("check", str(path))
    assert check.returncode == 0
    warnings = [line for line in check.stderr.splitlines() if "password written in the URL" in line]
    assert len(warnings) == 1, check.stderr
    assert "services[0].probes[0].url" in warnings[0] and "alice:****@" in warnings[0]
    assert "pw-written-here" not in check.stdout + check.stderr
    probe = run("probe", "app/h", "--config.file", str(path))
    assert "app/h (http)" in probe.stdout
    assert "pw-written-here" not in probe.stdout + probe.stderr, probe.stdout
