"""``redline launch-check`` against a real exporter on loopback (stand-ins, a backup set, a
heartbeat, a TLS target with a locally made certificate) and the real amtool: go, no-go after a
target breaks, can't tell when the exporter cannot be read; and the judgement of every kind of
series on hand-written expositions."""

from __future__ import annotations

import asyncio
import io
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from exporter.app import initial_runtime, make_app
from exporter.demo.standins import run_standins
from exporter.launch import check
from exporter.launch.check import FAIL, PASS, SKIP, UNKNOWN, WARN, Options, Row, Scrape

ROOT = Path(__file__).resolve().parents[1]
ALERTMANAGER = ROOT / "alertmanager" / "alertmanager.yml"
TOKEN = "launch-check-token"
DAY = 86400.0


async def run(opts: Options) -> tuple[int, str]:
    out = io.StringIO()
    code = await check.run(opts, out)
    return code, out.getvalue()


def rows_of(text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(area, item) -> (result, detail) from the printed table."""
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("AREA"))
    cols = [lines[head].index(h) for h in ("ITEM", "RESULT", "DETAIL")]
    out = {}
    for line in lines[head + 1 :]:
        if not line.strip():
            break
        area, item = line[: cols[0]].strip(), line[cols[0] : cols[1]].strip()
        out[(area, item)] = (line[cols[1] : cols[2]].strip(), line[cols[2] :].strip())
    return out


@pytest.fixture
async def tls_target(tmp_path: Path, serve: Callable[..., Any]) -> Callable[..., Any]:
    """``await tls_target(days)``: an HTTPS /health on 127.0.0.1 whose certificate expires in
    ``days``; returns its URL and the CA file to trust."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def start(days: float) -> tuple[str, Path]:
        cert = ca.issue_cert("127.0.0.1", not_after=datetime.now(UTC) + timedelta(days=days))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)

        async def health(request: web.Request) -> web.Response:
            return web.json_response({"status": "ok"})

        app = web.Application()
        app.router.add_get("/health", health)
        return await serve(app, ssl_context=context), ca_file

    return start


@pytest.fixture
async def stack(
    tmp_path: Path, tls_target: Callable[..., Any]
) -> AsyncIterator[Callable[..., Any]]:
    """``await stack(cert_days=400, window_in_days=10)``: stand-ins, a TLS target and an
    exporter on loopback whose config covers them, a fresh backup and a heartbeat that has
    pinged; returns the exporter's URL and the stand-ins."""
    stop: list[Any] = []

    async def start(cert_days: float = 400, window_in_days: int = 10) -> tuple[str, Any]:
        standins_cm = run_standins(ports={})
        standins = await standins_cm.__aenter__()
        stop.append(standins_cm)
        tls_url, ca_file = await tls_target(cert_days)
        (tmp_path / "dumps").mkdir(exist_ok=True)
        (tmp_path / "dumps" / "db-1.dump").write_bytes(b"x" * 2048)
        start_day = datetime.now(UTC).date() + timedelta(days=window_in_days)
        path = tmp_path / "redline.yml"
        path.write_text(
            f"""
services:
  - name: agent-service
    probes:
      - name: health
        kind: http
        url: {standins.urls["agent-service"]}/health
        expect_json: ['status == "ok"']
  - name: hotdash-app
    probes:
      - name: health
        kind: http
        url: {standins.urls["hotdash-app"]}/health
        valid_status: ["200"]
        degraded_when: ['status == "degraded"']
  - name: web
    probes:
      - name: tls
        kind: http
        url: {tls_url}/health
        tls: {{ca_file: "{ca_file}"}}
backups:
  files:
    - {{name: db, directory: "{tmp_path / "dumps"}", glob: "db-*.dump", max_age: 1h}}
heartbeats:
  token: {TOKEN}
  jobs:
    - {{name: nightly, period: 1d}}
launch:
  start: {start_day}
  end: {start_day + timedelta(days=2)}
  timezone: America/Chicago
"""
        )
        server = TestServer(make_app(initial_runtime(path)))
        await server.start_server()
        stop.append(server)
        url = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as http:
            resp = await http.post(
                f"{url}/heartbeat/nightly", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert resp.status == 200
        return url, standins

    yield start
    for item in reversed(stop):
        if isinstance(item, TestServer):
            await item.close()
        else:
            await item.__aexit__(None, None, None)


async def test_go_then_no_go_when_a_target_breaks(stack: Callable[..., Any]) -> None:
    url, standins = await stack()
    code, text = await run(Options(exporter=url, alertmanager_config=str(ALERTMANAGER)))
    rows = rows_of(text)
    assert code == 0, text
    assert text.rstrip().splitlines()[-1].startswith("GO: ")
    assert rows[("probe", "agent-service/health")][0] == PASS
    assert rows[("probe", "web/tls")][0] == PASS
    assert rows[("certificate", "web/tls")][0] == PASS
    assert "after the window" in rows[("certificate", "web/tls")][1]
    assert rows[("backup", "db")] == (PASS, "newest 0 s old (max 60 min)")
    assert rows[("heartbeat", "nightly")][0] == PASS
    assert rows[("launch", "window")][0] == PASS
    assert "starts in" in rows[("launch", "window")][1]
    routes = {k: v for k, v in rows.items() if k[0] == "alert route"}
    assert len(routes) >= 5 and all(r == PASS for r, _ in routes.values())

    standins["agent-service"].fault.set("failing")
    standins["hotdash-app"].fault.set("degraded")
    code, text = await run(Options(exporter=url, alertmanager_config=str(ALERTMANAGER)))
    rows = rows_of(text)
    assert code == 1, text
    result, detail = rows[("probe", "agent-service/health")]
    assert (result, detail) == (FAIL, "down (status): status 500 is not in valid_status (2xx)")
    assert rows[("probe", "hotdash-app/health")][0] == FAIL
    assert rows[("probe", "hotdash-app/health")][1].startswith("degraded in ")
    # the words come from /status.json, read after the scrape
    assert rows[("probe", "hotdash-app/health")][1].endswith(
        'degraded_when holds: status == "degraded"'
    )
    summary = text.rstrip().splitlines()[-1]
    assert summary.startswith("NO-GO: 2 of ")
    assert "probe agent-service/health" in summary


async def test_a_certificate_that_expires_before_the_window_ends(stack: Callable[..., Any]) -> None:
    url, _ = await stack(cert_days=8, window_in_days=3)
    code, text = await run(Options(exporter=url, alertmanager_config=str(ALERTMANAGER)))
    result, detail = rows_of(text)[("certificate", "web/tls")]
    assert (code, result) == (1, FAIL), text
    assert "less than 7 d after the window" in detail and "renew it before the launch" in detail
    # with a margin of one day it is valid long enough
    code, text = await run(
        Options(exporter=url, alertmanager_config=str(ALERTMANAGER), cert_margin=DAY)
    )
    assert rows_of(text)[("certificate", "web/tls")][0] == PASS, text
    assert code == 0


async def test_the_command_line(stack: Callable[..., Any], tmp_path: Path) -> None:
    url, _ = await stack()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exporter",
        "launch-check",
        "--exporter",
        url,
        "--alertmanager.config",
        str(ALERTMANAGER),
        "--timeout",
        "5s",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, out.decode() + err.decode()
    assert out.decode().startswith(f"redline launch-check of {url}/metrics at ")
    # nothing listens there: can't tell
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "exporter",
        "launch-check",
        "--exporter",
        "127.0.0.1:1",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert "CAN'T TELL: cannot reach the exporter at http://127.0.0.1:1/metrics" in out.decode()


# --- can't tell ----------------------------------------------------------------------------------

MINIMAL = """\
redline_build_info{python_version="3.11.7",version="0.1.0"} 1
redline_launch_window_start_timestamp_seconds 4102444800
redline_launch_window_end_timestamp_seconds 4102704000
redline_probe_status{service="a",probe="h",status="up"} 1
redline_probe_status{service="a",probe="h",status="degraded"} 0
redline_probe_status{service="a",probe="h",status="down"} 0
probe_duration_seconds{service="a",probe="h"} 0.01
"""


async def serve_text(serve: Callable[..., Any], body: str, user: str | None = None) -> str:
    async def metrics(request: web.Request) -> web.Response:
        if user is not None and request.headers.get("Authorization") != user:
            return web.Response(status=401, headers={"WWW-Authenticate": "Basic"})
        assert request.headers["X-Prometheus-Scrape-Timeout-Seconds"] == "15"
        return web.Response(text=body)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return str(await serve(app))


async def test_what_is_not_redline_or_cannot_be_read_is_cant_tell(
    serve: Callable[..., Any], tmp_path: Path
) -> None:
    no_routes = str(tmp_path / "none.yml")
    url = await serve_text(serve, "up 1\n")
    code, text = await run(Options(exporter=url, alertmanager_config=no_routes))
    assert code == 2 and "not with redline's metrics (no redline_build_info)" in text
    url = await serve_text(serve, "this is { not an exposition\n")
    code, text = await run(Options(exporter=url, alertmanager_config=no_routes))
    assert code == 2 and "not a Prometheus exposition" in text
    code, text = await run(Options(exporter=url + "/nowhere", alertmanager_config=no_routes))
    assert code == 2 and "HTTP 404" in text
    # an explicitly named Alertmanager config that is missing cannot be judged
    url = await serve_text(serve, MINIMAL)
    code, text = await run(Options(exporter=url, alertmanager_config=no_routes))
    assert code == 2 and rows_of(text)[("alert route", no_routes)][0] == UNKNOWN


async def test_credentials_from_an_http_config_file(
    serve: Callable[..., Any], tmp_path: Path
) -> None:
    # "Basic " + base64("prometheus:s3cret")
    url = await serve_text(serve, MINIMAL, user="Basic cHJvbWV0aGV1czpzM2NyZXQ=")
    opts = Options(exporter=url, amtool="/nonexistent/amtool")
    code, text = await run(opts)
    assert code == 2 and "401 Unauthorized (credentials: --http.config.file)" in text
    (tmp_path / "password").write_text("s3cret\n")
    http_config = tmp_path / "http.yml"
    http_config.write_text(
        f"basic_auth: {{username: prometheus, password_file: {tmp_path / 'password'}}}\n"
    )
    opts.http_config = str(http_config)
    opts.alertmanager_config = str(ALERTMANAGER)
    code, text = await run(opts)
    assert rows_of(text)[("alert route", str(ALERTMANAGER))] == (
        UNKNOWN,
        "amtool not found (--amtool PATH)",
    )
    assert code == 2
    opts.amtool = None
    code, text = await run(opts)
    assert code == 0, text
    http_config.write_text("basic_auth: [not, a, mapping]\n")
    code, text = await run(opts)
    assert code == 2 and "--http.config.file" in text


# --- judging series ------------------------------------------------------------------------------

NOW = 4_000_000_000.0  # 2096-10-02, before MINIMAL's window (2100-01-01 to 2100-01-04)


def judged(body: str, now: float = NOW, margin: float = 7 * DAY) -> dict[tuple[str, str], Row]:
    return {(r.area, r.item): r for r in check.judge(Scrape.parse(body), now, margin)}


def test_probe_states() -> None:
    rows = judged(
        MINIMAL
        + """\
redline_probe_status{service="b",probe="h",status="up"} 0
redline_probe_status{service="b",probe="h",status="degraded"} 1
redline_probe_status{service="b",probe="h",status="down"} 0
redline_probe_status{service="c",probe="h",status="up"} 0
redline_probe_status{service="c",probe="h",status="degraded"} 0
redline_probe_status{service="c",probe="h",status="down"} 1
redline_probe_failure_reason{service="c",probe="h",reason="timeout"} 1
redline_probe_failure_reason{service="c",probe="h",reason="dns"} 0
"""
    )
    assert rows[("probe", "a/h")].result == PASS
    assert rows[("probe", "b/h")].result == FAIL
    assert rows[("probe", "c/h")].detail == "down (timeout)"
    assert rows[("certificate", "-")].result == SKIP
    assert rows[("launch", "window")].result == PASS


def test_certificates_against_the_window() -> None:
    end = 4102704000  # MINIMAL's window ends 2100-01-04
    rows = judged(
        MINIMAL
        + f"""\
probe_ssl_earliest_cert_expiry{{service="a",probe="old"}} {NOW - 1}
probe_ssl_earliest_cert_expiry{{service="a",probe="short"}} {end + 3 * DAY}
probe_ssl_earliest_cert_expiry{{service="a",probe="long"}} {end + 30 * DAY}
"""
    )
    assert rows[("certificate", "a/old")].result == FAIL
    assert rows[("certificate", "a/old")].detail.startswith("expired on")
    assert rows[("certificate", "a/short")].result == FAIL
    assert rows[("certificate", "a/long")].result == PASS
    assert rows[("certificate", "a/long")].detail.endswith("30 d after the window")
    # once the window is over, certificates are judged from today
    later = judged(
        MINIMAL + f'probe_ssl_earliest_cert_expiry{{service="a",probe="x"}} {end + 9 * DAY}\n',
        now=end + DAY,
    )
    assert later[("launch", "window")].result == WARN
    assert later[("certificate", "a/x")].result == PASS
    assert later[("certificate", "a/x")].detail.endswith("8 d after today")


def test_backups_heartbeats_vendors_and_sources() -> None:
    rows = judged(
        MINIMAL
        + f"""\
redline_source_up{{source="backups"}} 1
redline_source_up{{source="postgres"}} 0
redline_backup_max_age_seconds{{backup="ok"}} 3600
redline_backup_status{{backup="ok",status="ok"}} 1
redline_backup_status{{backup="ok",status="stale"}} 0
redline_backup_newest_age_seconds{{backup="ok"}} 600
redline_backup_verify_status{{backup="ok",check="sha256",status="ok"}} 0
redline_backup_verify_status{{backup="ok",check="sha256",status="pending"}} 1
redline_backup_max_age_seconds{{backup="old"}} 3600
redline_backup_status{{backup="old",status="ok"}} 0
redline_backup_status{{backup="old",status="stale"}} 1
redline_backup_newest_age_seconds{{backup="old"}} 7200
redline_backup_max_age_seconds{{backup="api"}} 3600
redline_heartbeat_status{{heartbeat="up",status="up"}} 1
redline_heartbeat_last_success_timestamp_seconds{{heartbeat="up"}} {NOW - 3600}
redline_heartbeat_status{{heartbeat="run",status="started"}} 1
redline_heartbeat_status{{heartbeat="late",status="late"}} 1
redline_heartbeat_next_due_timestamp_seconds{{heartbeat="late"}} {NOW - 600}
redline_heartbeat_status{{heartbeat="new",status="never"}} 1
redline_heartbeat_state_file_status{{status="unwritable"}} 1
redline_vendor_feed_up{{feed="shopify"}} 1
redline_vendor_component_status{{feed="shopify",component="Admin",status="operational"}} 1
redline_vendor_component_status{{feed="shopify",component="Checkout",status="partial_outage"}} 1
redline_vendor_page_indicator{{feed="shopify",indicator="major"}} 1
redline_vendor_feed_up{{feed="fly"}} 0
redline_vendor_feed_failure_reason{{feed="fly",reason="timeout"}} 1
redline_vendor_feed_up{{feed="openai"}} 1
redline_vendor_check_info{{check="shop",kind="shopify"}} 1
redline_vendor_check_up{{check="shop"}} 1
redline_vendor_check_duration_seconds{{check="shop"}} 0.2
redline_vendor_check_info{{check="desk",kind="chatwoot"}} 1
redline_vendor_check_up{{check="desk"}} 0
redline_vendor_check_failure_reason{{check="desk",reason="auth"}} 1
redline_vendor_check_info{{check="ga",kind="google_analytics"}} 1
redline_vendor_check_up{{check="ga"}} 0
redline_vendor_check_failure_reason{{check="ga",reason="rate_limited"}} 1
redline_vendor_check_info{{check="new",kind="shopify"}} 1
"""
    )
    result = {k: r.result for k, r in rows.items()}
    assert result[("exporter", "source postgres")] == UNKNOWN
    assert ("exporter", "source backups") not in result
    assert rows[("backup", "ok")].detail == "newest 10 min old (max 60 min)"
    assert result[("backup", "ok sha256")] == WARN
    assert rows[("backup", "old")].result == FAIL
    assert rows[("backup", "old")].detail.startswith("stale: the newest backup is older")
    assert result[("backup", "api")] == UNKNOWN
    assert rows[("heartbeat", "up")].detail == "last success 60 min ago"
    assert result[("heartbeat", "run")] == PASS
    assert (
        rows[("heartbeat", "late")].result == FAIL
        and "(due 10 min ago)" in rows[("heartbeat", "late")].detail
    )
    assert rows[("heartbeat", "new")].detail == (
        "never: no ping yet: run the job once, or check its ping URL and token"
    )
    assert result[("heartbeat", "state file")] == WARN
    assert rows[("vendor", "shopify")].detail == "page indicator major; Checkout: partial outage"
    assert rows[("vendor", "shopify")].result == WARN
    assert rows[("vendor", "fly")].detail == "status feed unreachable (timeout)"
    assert result[("vendor", "openai")] == PASS
    assert rows[("vendor", "shop API")].detail == "answered in 200 ms"
    assert (rows[("vendor", "desk API")].result, rows[("vendor", "desk API")].detail) == (
        FAIL,
        "failing (auth)",
    )
    assert result[("vendor", "ga API")] == WARN
    assert result[("vendor", "new API")] == UNKNOWN
    code, summary = check.verdict(list(rows.values()))
    assert code == 1 and summary.startswith("NO-GO: 4 of ")


def test_the_verdict() -> None:
    ok = Row("probe", "a", PASS, "")
    assert check.verdict([ok, Row("x", "y", SKIP, "")]) == (0, "GO: 1 of 1 checks passed.")
    assert check.verdict([ok, Row("x", "y", WARN, "")]) == (
        0,
        "GO: 1 of 2 checks passed; 1 warning(s).",
    )
    code, text = check.verdict([ok, Row("x", "y", UNKNOWN, "")])
    assert (code, text) == (2, "CAN'T TELL: 1 check(s) could not be judged (x y).")
    code, _ = check.verdict([Row("x", "y", UNKNOWN, ""), Row("x", "z", FAIL, "")])
    assert code == 1  # something known to fail is a no-go, whatever else is unknown


def test_words_from_the_status_page_and_without_it() -> None:
    body = MINIMAL.replace('status="up"} 1', 'status="up"} 0').replace(
        'status="degraded"} 0', 'status="degraded"} 1'
    )
    status = {
        "launch": {"window": "2100-01-01 00:00 to 2100-01-03 24:00 UTC"},
        "services": [
            {"name": "a", "probes": [{"name": "h", "message": "took 0.9s", "budget_seconds": 0.5}]}
        ],
        "backups": [],
    }
    rows = {(r.area, r.item): r for r in check.judge(Scrape.parse(body), NOW, DAY, status)}
    assert rows[("probe", "a/h")].detail == "degraded in 10 ms (budget 500 ms): took 0.9s"
    assert rows[("launch", "window")].detail.startswith("2100-01-01 00:00 to 2100-01-03 24:00 UTC")
    # a status document of another shape is ignored: the series alone judge
    rows = {(r.area, r.item): r for r in check.judge(Scrape.parse(body), NOW, DAY, {"x": 1})}
    assert rows[("probe", "a/h")].result == FAIL
    assert "degraded_after" in rows[("probe", "a/h")].detail


def test_an_exporter_without_a_window_is_judged_from_today() -> None:
    body = MINIMAL.replace("redline_launch_window", "other_window")
    rows = judged(
        body + f'probe_ssl_earliest_cert_expiry{{service="a",probe="x"}} {NOW + 3 * DAY}\n'
    )
    assert rows[("launch", "window")].result == WARN
    assert rows[("certificate", "a/x")].result == FAIL


# --- alert routes --------------------------------------------------------------------------------


def test_labels_that_reach_a_route() -> None:
    labels = check.labels_for
    assert labels([("severity", "=", "page")]) == {"severity": "page"}
    assert labels([("service", "=~", "backups|jobs")]) == {"service": "backups"}
    assert labels([("service", "=~", "(a|b)"), ("service", "=", "b")]) == {"service": "b"}
    assert labels([("env", "!=", "prod")]) == {}
    assert labels([("env", "!~", "prod.*")]) == {}  # an absent label is "": not prod
    assert labels([("env", "!~", "")]) == {"env": "launch-check"}
    with pytest.raises(ValueError, match="no value of x"):
        labels([("x", "=", "a"), ("x", "=", "b")])


def write_am(tmp_path: Path, routes: str) -> Path:
    path = tmp_path / "am.yml"
    path.write_text(
        f"""
route:
  receiver: default
  routes:
{routes}
receivers: [{{name: default}}, {{name: pager}}, {{name: chat}}]
"""
    )
    return path


def test_a_shadowed_route_is_unreachable(tmp_path: Path) -> None:
    path = write_am(
        tmp_path,
        """\
    - {matchers: ['severity=~"page|ticket"'], receiver: chat}
    - {matchers: ['severity="page"'], receiver: pager}
""",
    )
    rows = check.route_rows(path, None, True)
    assert [(r.item, r.result) for r in rows] == [
        ("chat (route 1)", PASS),
        ("pager (route 2)", FAIL),
    ]
    assert rows[1].detail.startswith("unreachable: severity=page -> chat, not pager")
    assert check.route_rows(tmp_path / "missing.yml", None, False)[0].result == SKIP
    broken = write_am(tmp_path, "    - {matchers: ['severity=\"page\"'], receiver: nobody}\n")
    rows = check.route_rows(broken, None, True)
    assert [r.result for r in rows] == [FAIL]
    assert "amtool check-config" in rows[0].detail


def test_the_shipped_alertmanager_config_routes_are_all_reachable() -> None:
    rows = check.route_rows(ALERTMANAGER, None, True)
    assert rows and all(r.result == PASS for r in rows), [r for r in rows if r.result != PASS]


def test_the_exporter_url_forms() -> None:
    assert check.metrics_url("127.0.0.1:9877") == "http://127.0.0.1:9877/metrics"
    assert check.metrics_url("https://x:9877/") == "https://x:9877/metrics"
    assert check.metrics_url("http://x/metrics") == "http://x/metrics"


def test_the_printed_table_lines_up() -> None:
    text = check.table([Row("probe", "a/long-name", PASS, "up"), Row("backup", "b", FAIL, "x y")])
    assert text.splitlines() == [
        "AREA    ITEM         RESULT  DETAIL",
        "probe   a/long-name  ok      up",
        "backup  b            FAIL    x y",
    ]
    assert time.time() < NOW  # the hand-written series above are in the future
