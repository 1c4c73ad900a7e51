"""No secret leaves redline: ``redline run --log.level debug`` as a real process, with a known
secret value in every secret field of a config (probe headers, bodies, basic auth password and
password_file, bearer tokens and token files, ``${VAR}`` in URLs and in URL userinfo, a TCP
probe's send string, MCP tokens, database DSNs and passwords, vendor tokens, the GA service
account key and the access token it is exchanged for, Supabase's token, heartbeat and ingest
tokens, the web config's basic auth password), every secret-bearing call made to fail and to
succeed against loopback servers that echo what they receive in their error answers, then:
none of the values appears in ``/metrics``, ``/probe``, ``/status``, the landing page, reload
answers, push endpoint answers, the debug log, ``redline probe`` traces, ``redline check``
output, files the exporter wrote, or the generated files (regenerated with the shipped config's
variables set to secret values)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from exporter.secrets import Redactor
from tests.pg import Cluster, Scrape, free_port, new_cluster

ROOT = Path(__file__).resolve().parent.parent
GENERATED = ("prometheus", "dashboards", "alert_rules", "alertmanager", "docs")
PG_ROLE = "rl_secret_probe"

# a real exporter, Postgres and the generators, each searched for secrets: not in make check
pytestmark = pytest.mark.slow


MARKER = "S3CRET_"


def _secret(name: str) -> str:
    # letters, digits and '_': the same in a URL, a header, a DSN and a log line
    return f"{MARKER}{name.upper()}_{secrets.token_hex(6)}"


S = {
    name: _secret(name)
    for name in (
        "header", "body", "url_path", "url_query", "basic", "basic_file", "bearer", "bearer_file",
        "userinfo", "full_url", "json", "mcp", "mcp_header", "tcp", "loop", "feed", "shopify",
        "shopify_file", "chatwoot", "chatwoot_file", "ga_access", "ga_property", "supabase",
        "supabase_file", "pg", "pg_wrong", "pg_closed", "hb", "hb_file", "ingest", "ingest_file",
        "web", "web_wrong",
    )
}  # fmt: skip


class Targets:
    """Loopback stand-ins for every service redline calls with a secret. While ``fail`` is set
    they refuse, echoing every header, the path, the query and the body back in the answer (as
    careless servers do), so any place redline shows a target's answer would show the secret.
    Otherwise they answer only when the right secret arrived."""

    def __init__(self) -> None:
        self.fail = True
        self.hits: dict[str, int] = {}

    @staticmethod
    async def echo(request: web.Request) -> str:
        body = await request.text()
        return json.dumps({"path": request.path_qs, "headers": dict(request.headers), "body": body})

    async def refuse(self, request: web.Request, status: int = 401) -> web.Response:
        return web.Response(status=status, text="credentials refused: " + await self.echo(request))

    def route(
        self,
        check: Callable[[web.Request], Awaitable[bool]],
        answer: Any,
        fail_as_json: bool = False,
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            key = request.path.split("/")[1]
            self.hits[key] = self.hits.get(key, 0) + 1
            if self.fail:
                if fail_as_json:  # a 200 whose fields fail the assertions and quote the secrets
                    return web.json_response({"status": await self.echo(request)})
                return await self.refuse(request)
            if not await check(request):
                return await self.refuse(request, 403)
            return web.json_response(answer(request) if callable(answer) else answer)

        return handle

    def app(self) -> web.Application:
        def header(name: str, *values: str) -> Callable[[web.Request], Awaitable[bool]]:
            async def check(request: web.Request) -> bool:
                return request.headers.get(name) in values

            return check

        def basic(password: str) -> str:
            return "Basic " + base64.b64encode(f"redline:{password}".encode()).decode()

        async def hdr(request: web.Request) -> bool:
            return (
                request.match_info["seg"] == S["url_path"]
                and request.query.get("key") == S["url_query"]
                and request.headers.get("X-Api-Key") == S["header"]
                and await request.text() == S["body"]
            )

        async def loop(request: web.Request) -> web.StreamResponse:
            if self.fail:  # a redirect loop: its message lists the (resolved) paths
                raise web.HTTPFound(request.path_qs)
            ok = request.match_info["seg"] == S["loop"]
            return web.json_response({"status": "ok"}, status=200 if ok else 403)

        async def feed_ok(request: web.Request) -> bool:
            return request.match_info["seg"] == S["feed"]

        async def chatwoot_api(request: web.Request) -> web.Response:
            return web.json_response(
                {"version": "4.6", "queue_services": "ok", "data_services": "ok"}
            )

        async def supabase(request: web.Request) -> web.Response:
            if (
                request.headers.get("Authorization")
                not in (
                    f"Bearer {S['supabase']}",
                    f"Bearer {S['supabase_file']}",
                )
                or request.match_info["ref"] != "okref"
            ):
                return await self.refuse(request)
            return web.json_response(
                {
                    "pitr_enabled": False,
                    "backups": [{"status": "COMPLETED", "inserted_at": "2025-10-14T03:01:12Z"}],
                }
            )

        ok = {"status": "ok", "queue": {"pending": 3}}
        app = web.Application()
        app.router.add_post("/h/{seg}", self.route(hdr, ok, fail_as_json=True))
        app.router.add_get("/basic", self.route(header("Authorization", basic(S["basic"])), ok))
        app.router.add_get(
            "/basicfile", self.route(header("Authorization", basic(S["basic_file"])), ok)
        )
        app.router.add_get(
            "/bearer", self.route(header("Authorization", f"Bearer {S['bearer']}"), ok)
        )
        app.router.add_get(
            "/bearerfile",
            self.route(
                header("Authorization", f"Bearer {S['bearer_file']}"), ok, fail_as_json=True
            ),
        )
        app.router.add_get(
            "/userinfo", self.route(header("Authorization", basic(S["userinfo"])), ok)
        )
        app.router.add_get(
            "/fullurl", self.route(header("Authorization", basic(S["full_url"])), ok)
        )
        app.router.add_get(
            "/json", self.route(header("Authorization", f"Bearer {S['json']}"), ok, True)
        )
        app.router.add_post(
            "/mcp",
            self.route(
                header("X-Mcp-Key", S["mcp_header"]),
                {"tools": [{"name": "query_support"}]},
            ),
        )
        app.router.add_get("/loop/{seg}", loop)
        statuspage = {"page": {"id": "x"}, "status": {"indicator": "none"}, "components": []}
        app.router.add_get("/feed/{seg}/api/v2/summary.json", self.route(feed_ok, statuspage))
        app.router.add_post(
            "/shopify/graphql.json",
            self.route(
                header("X-Shopify-Access-Token", S["shopify"], S["shopify_file"]),
                {"data": {"shop": {"name": "hotrodan"}}},
            ),
        )
        app.router.add_get("/chatwoot/api", chatwoot_api)
        app.router.add_get(
            "/chatwoot/api/v1/profile",
            self.route(header("api_access_token", S["chatwoot"], S["chatwoot_file"]), {"id": 7}),
        )
        app.router.add_post(
            "/token",
            self.route(
                header("Content-Type", "application/x-www-form-urlencoded"),
                {"access_token": S["ga_access"], "expires_in": 3600},
            ),
        )
        app.router.add_post(
            "/ga/v1beta/properties/{prop}:runReport",
            self.route(
                header("Authorization", f"Bearer {S['ga_access']}"),
                {"kind": "analyticsData#runReport", "metadata": {"timeZone": "UTC"}},
            ),
        )
        app.router.add_get("/supabase/v1/projects/{ref}/database/backups", supabase)
        return app

    async def tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if not self.fail and line == f"AUTH {S['tcp']}\r\n".encode():
            writer.write(b"+OK\r\n")
        else:
            writer.write(b"-ERR wrong password: " + line)
        await writer.drain()
        writer.close()


def exporter_config(
    tmp: Path, port: int, tcp_port: int, pg: Cluster, files: dict[str, Path]
) -> str:
    t = f"http://127.0.0.1:{port}"
    probe = "timeout: 2s"
    check = "interval: 1s, timeout: 1s"
    # one call per set at start (the interval is at least 10s): each token is taken by a set
    # whose project answers and refused by one whose project does not
    supabase = f'base_url: "{t}/supabase", max_age: 1d, interval: 10s, timeout: 2s'
    return f"""
host: {{enabled: false}}
services:
  - name: app
    probes:
      - {{name: hdr, kind: http, {probe}, method: POST,
         url: "{t}/h/${{RL_URL_PATH}}?key=${{RL_URL_QUERY}}",
         headers: {{X-Api-Key: "${{RL_HEADER}}"}}, body: "${{RL_BODY}}",
         expect_json: ['status == "ok"']}}
      - {{name: basic, kind: http, {probe}, url: "{t}/basic",
         basic_auth: {{username: redline, password: "${{RL_BASIC}}"}}}}
      - {{name: basicfile, kind: http, {probe}, url: "{t}/basicfile",
         basic_auth: {{username: redline, password_file: "{files["basic_file"]}"}}}}
      - {{name: bearer, kind: http, {probe}, url: "{t}/bearer", bearer_token: "${{RL_BEARER}}"}}
      - {{name: bearerfile, kind: http, {probe}, url: "{t}/bearerfile",
         bearer_token_file: "{files["bearer_file"]}", body_must_match: ['"status": "ok"']}}
      - {{name: userinfo, kind: http, {probe},
         url: "http://redline:${{RL_USERINFO}}@127.0.0.1:{port}/userinfo"}}
      - {{name: fullurl, kind: http, {probe}, url: "${{RL_FULL_URL}}"}}
      - {{name: loop, kind: http, {probe}, url: "{t}/loop/${{RL_LOOP}}"}}
      - name: json
        kind: json
        {probe}
        url: "{t}/json"
        bearer_token: "${{RL_JSON}}"
        expect_json: ['status == "ok"']
        metrics: [{{name: queue_pending, path: queue.pending}}]
      - {{name: mcp, kind: mcp, flavor: plain, {probe}, min_interval: 0s, url: "{t}/mcp",
         bearer_token: "${{RL_MCP}}", headers: {{X-Mcp-Key: "${{RL_MCP_HEADER}}"}},
         tools: [query_support]}}
      - {{name: tcp, kind: tcp, {probe}, address: "127.0.0.1:{tcp_port}",
         send: "AUTH ${{RL_TCP}}\\r\\n", expect: "^\\\\+OK"}}
databases:
  - {{name: pg-dsn, dsn: "${{RL_PG_DSN}}", connect_timeout: 2s}}
  - {{name: pg-pwfile, dsn: "${{RL_PG_DSN_NOPW}}", password_file: "{files["pg_password"]}",
     connect_timeout: 2s}}
  - {{name: pg-dsnfile, dsn_file: "{files["pg_dsn"]}", connect_timeout: 2s}}
  - {{name: pg-pwenv, dsn_file: "{files["pg_dsn_nopw"]}", password: "${{RL_PG}}",
     connect_timeout: 2s}}
  - {{name: pg-wrong, dsn: "${{RL_PG_DSN_NOPW}}", password: "${{RL_PG_WRONG}}",
     connect_timeout: 2s}}
  - {{name: pg-closed, dsn: "${{RL_PG_CLOSED}}", connect_timeout: 2s}}
vendors:
  feeds:
    - {{name: status, url: "{t}/feed/${{RL_FEED}}/api/v2/summary.json", provider: statuspage,
       {check}}}
  checks:
    shopify:
      - {{name: shopify-env, shop: hotrodan, url: "{t}/shopify/graphql.json",
         access_token: "${{RL_SHOPIFY}}", {check}}}
      - {{name: shopify-file, shop: hotrodan, url: "{t}/shopify/graphql.json",
         access_token_file: "{files["shopify_file"]}", {check}}}
    chatwoot:
      - {{name: chatwoot-env, base_url: "{t}/chatwoot", api_token: "${{RL_CHATWOOT}}", {check}}}
      - {{name: chatwoot-file, base_url: "{t}/chatwoot",
         api_token_file: "{files["chatwoot_file"]}", {check}}}
    google_analytics:
      - {{name: ga, property_id: "${{RL_GA_PROPERTY}}", credentials_file: "${{RL_GA_CREDENTIALS}}",
         api_base_url: "{t}/ga", token_url: "{t}/token", {check}}}
backups:
  supabase:
    - {{name: sb-env-ok, project_ref: okref, access_token: "${{RL_SUPABASE}}", {supabase}}}
    - {{name: sb-env-bad, project_ref: badref, access_token: "${{RL_SUPABASE}}", {supabase}}}
    - {{name: sb-file-ok, project_ref: okref, access_token_file: "{files["supabase_file"]}",
       {supabase}}}
    - {{name: sb-file-bad, project_ref: badref, access_token_file: "{files["supabase_file"]}",
       {supabase}}}
heartbeats:
  state_file: {tmp / "heartbeats.json"}
  token: "${{RL_HB}}"
  jobs:
    - {{name: nightly, period: 1d}}
    - {{name: weekly, period: 7d, token_file: "{files["hb_file"]}"}}
logs:
  sources:
    - {{name: fly, kind: ingest, parsers: [json_logger], bearer_token: "${{RL_INGEST}}"}}
    - {{name: fly2, kind: ingest, parsers: [json_logger],
       bearer_token_file: "{files["ingest_file"]}"}}
"""


def ga_key(tmp: Path, port: int) -> tuple[Path, list[str]]:
    """A service account key made here; returns its path and the strings of it that are secret
    (the key id, and lines of the private key's PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_id = secrets.token_hex(20)
    info = {
        "type": "service_account",
        "project_id": "hotrodan-analytics",
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": "redline@hotrodan-analytics.iam.gserviceaccount.com",
        "client_id": "109876543210987654321",
        "token_uri": f"http://127.0.0.1:{port}/token",
    }
    path = tmp / "ga-key.json"
    path.write_text(json.dumps(info))
    return path, [key_id, *pem.splitlines()[2:5]]


@pytest.fixture
def pg_cluster() -> Iterator[Cluster]:
    """A Postgres of our own, with a monitoring role whose password is a test secret; stopped,
    so the first phase meets a database that is down."""
    cluster = new_cluster()
    try:
        cluster.start()
        cluster.psql(
            f"CREATE ROLE {PG_ROLE} LOGIN PASSWORD '{S['pg']}'; GRANT pg_monitor TO {PG_ROLE};"
        )
        cluster.stop()
        yield cluster
    finally:
        cluster.destroy()


class Exporter:
    def __init__(self, url: str, auth: dict[str, str]) -> None:
        self.url, self.auth = url, auth
        self.outputs: dict[str, str] = {}

    async def get(self, http: aiohttp.ClientSession, name: str, path: str, **kw: Any) -> str:
        headers = {**self.auth, "X-Prometheus-Scrape-Timeout-Seconds": "8", **kw.pop("headers", {})}
        async with http.request(
            kw.pop("method", "GET"), self.url + path, headers=headers, **kw
        ) as r:
            text = f"HTTP {r.status}\n{dict(r.headers)}\n{await r.text()}"
        self.outputs[name] = self.outputs.get(name, "") + text
        return text


async def run_cli(*args: str, env: dict[str, str]) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "exporter", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return f"exit {proc.returncode}\n{out.decode()}\n{err.decode()}"


async def until(what: str, predicate: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def targets() -> AsyncIterator[tuple[Targets, int, int]]:
    t = Targets()
    runner = web.AppRunner(t.app(), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    tcp = await asyncio.start_server(t.tcp, "127.0.0.1", 0)
    yield t, runner.addresses[0][1], tcp.sockets[0].getsockname()[1]
    tcp.close()
    await runner.cleanup()


async def test_no_secret_leaves_redline(
    tmp_path: Path, pg_cluster: Cluster, targets: tuple[Targets, int, int]
) -> None:
    target, port, tcp_port = targets
    files = {}
    for name in ("basic_file", "bearer_file", "shopify_file", "chatwoot_file", "supabase_file",
                 "hb_file", "ingest_file"):  # fmt: skip
        files[name] = tmp_path / f"{name}.secret"
        files[name].write_text(S[name] + "\n")
    files["pg_password"] = tmp_path / "pg_password.secret"
    files["pg_password"].write_text(S["pg"] + "\n")
    pg_at = f"127.0.0.1:{pg_cluster.port}/postgres?sslmode=disable"
    files["pg_dsn"] = tmp_path / "pg_dsn.secret"
    files["pg_dsn"].write_text(f"postgresql://{PG_ROLE}:{S['pg']}@{pg_at}\n")
    files["pg_dsn_nopw"] = tmp_path / "pg_dsn_nopw.secret"
    files["pg_dsn_nopw"].write_text(f"postgresql://{PG_ROLE}@{pg_at}\n")
    key_path, key_secrets = ga_key(tmp_path, port)
    env = {
        **os.environ,
        "RL_URL_PATH": S["url_path"],
        "RL_URL_QUERY": S["url_query"],
        "RL_HEADER": S["header"],
        "RL_BODY": S["body"],
        "RL_BASIC": S["basic"],
        "RL_BEARER": S["bearer"],
        "RL_USERINFO": S["userinfo"],
        "RL_FULL_URL": f"http://redline:{S['full_url']}@127.0.0.1:{port}/fullurl",
        "RL_LOOP": S["loop"],
        "RL_JSON": S["json"],
        "RL_MCP": S["mcp"],
        "RL_MCP_HEADER": S["mcp_header"],
        "RL_TCP": S["tcp"],
        "RL_PG_DSN": f"postgresql://{PG_ROLE}:{S['pg']}@{pg_at}",
        "RL_PG_DSN_NOPW": f"postgresql://{PG_ROLE}@{pg_at}",
        "RL_PG": S["pg"],
        "RL_PG_WRONG": S["pg_wrong"],
        "RL_PG_CLOSED": f"postgresql://{PG_ROLE}:{S['pg_closed']}@127.0.0.1:{free_port()}/postgres",
        "RL_FEED": S["feed"],
        "RL_SHOPIFY": S["shopify"],
        "RL_CHATWOOT": S["chatwoot"],
        "RL_GA_PROPERTY": S["ga_property"],
        "RL_GA_CREDENTIALS": str(key_path),
        "RL_SUPABASE": S["supabase"],
        "RL_HB": S["hb"],
        "RL_INGEST": S["ingest"],
    }
    config = tmp_path / "redline.yml"
    config.write_text(exporter_config(tmp_path, port, tcp_port, pg_cluster, files))
    web_config = tmp_path / "web.yml"
    web_hash = bcrypt.hashpw(S["web"].encode(), bcrypt.gensalt(4)).decode()
    web_config.write_text(f"basic_auth_users:\n  prometheus: {web_hash}\n")
    listen = free_port()
    log_path = tmp_path / "redline.log"
    outputs: dict[str, str] = {}

    outputs["check"] = await run_cli("check", str(config), env=env)
    assert "exit 0" in outputs["check"], outputs["check"]
    bare = {k: v for k, v in env.items() if not k.startswith("RL_")}
    outputs["check without variables"] = await run_cli("check", str(config), env=bare)
    assert "environment variable RL_HEADER" in outputs["check without variables"]

    with open(log_path, "w") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "exporter", "run", "--config.file", str(config),
            "--web.listen-address", f"127.0.0.1:{listen}", "--web.config.file", str(web_config),
            "--log.level", "debug",
            cwd=ROOT, env=env, stdout=log, stderr=log,
        )  # fmt: skip
    auth = {
        "Authorization": "Basic " + base64.b64encode(f"prometheus:{S['web']}".encode()).decode()
    }
    exporter = Exporter(f"http://127.0.0.1:{listen}", auth)
    try:
        async with aiohttp.ClientSession() as http:

            async def up() -> bool:
                try:
                    await exporter.get(http, "healthy", "/-/healthy")
                    return True
                except aiohttp.ClientConnectionError:
                    return False

            await until("the exporter listens", up)

            async def scrape(phase: str) -> Scrape:
                text = await exporter.get(http, f"metrics {phase}", "/metrics")
                return Scrape(text.split("\n", 2)[2])

            async def push(phase: str) -> None:
                for path, right in (
                    ("/heartbeat/nightly", S["hb"]),
                    ("/heartbeat/weekly/start", S["hb_file"]),
                    ("/ingest/fly", S["ingest"]),
                    ("/ingest/fly2", S["ingest_file"]),
                ):
                    body = b'{"level": "info", "message": "hello"}\n'
                    for token, want in ((right[:-1] + "x", 401), (right, 200)):
                        text = await exporter.get(
                            http, f"push {phase}", path, method="POST", data=body,
                            headers={"Authorization": f"Bearer {token}"},
                        )  # fmt: skip
                        assert text.startswith(f"HTTP {want}"), (path, text)

            async def pages(phase: str) -> None:
                await exporter.get(http, f"probe {phase}", "/probe?target=app")
                await exporter.get(http, f"status {phase}", "/status")
                await exporter.get(http, f"index {phase}", "/")
                await exporter.get(http, f"ready {phase}", "/-/ready")
                wrong = {"Authorization": "Basic " + base64.b64encode(
                    f"prometheus:{S['web_wrong']}".encode()).decode()}  # fmt: skip
                await exporter.get(http, f"wrong web password {phase}", "/metrics", headers=wrong)
                outputs[f"redline probe {phase}"] = await run_cli(
                    "probe", "app", "--config.file", str(config), "--log.level", "debug", env=env
                )

            # --- phase 1: everything refused, the database down ------------------------------
            def all_down(s: Scrape) -> bool:
                checks = ("shopify-env", "shopify-file", "chatwoot-env", "chatwoot-file", "ga")
                return (
                    all(v == 0 for _, v in s.series("probe_success"))
                    and len(s.series("probe_success")) == 11
                    and all(s.series("redline_vendor_check_up", check=c) for c in checks)
                    and all(v == 0 for _, v in s.series("redline_vendor_check_up"))
                    and s.series("redline_vendor_feed_up", feed="status")
                    == [({"feed": "status"}, 0)]
                    and len(s.series("redline_backup_supabase_up")) == 4
                    and all(v == 0 for _, v in s.series("pg_up"))
                )

            async def phase1() -> bool:
                return all_down(await scrape("fail"))

            await until("every secret-bearing call failed", phase1)
            await push("fail")
            await pages("fail")

            # a reload that fails, and one that works
            good = config.read_text()
            config.write_text(good.replace("kind: tcp", "kind: tcpx"))
            text = await exporter.get(http, "bad reload", "/-/reload", method="POST")
            assert text.startswith("HTTP 500"), text
            config.write_text(good)
            text = await exporter.get(http, "reload", "/-/reload", method="POST")
            assert text.startswith("HTTP 200"), text

            # --- phase 2: the right secrets are taken, the database is up ---------------------
            target.fail = False
            await asyncio.to_thread(pg_cluster.start)

            def all_up(s: Scrape) -> bool:
                pg = {labels["database"]: v for labels, v in s.series("pg_up")}
                sb = {labels["backup"]: v for labels, v in s.series("redline_backup_supabase_up")}
                return (
                    all(v == 1 for _, v in s.series("probe_success"))
                    and all(v == 1 for _, v in s.series("redline_vendor_check_up"))
                    and s.value("redline_vendor_feed_up", feed="status") == 1
                    and pg == {"pg-dsn": 1, "pg-pwfile": 1, "pg-dsnfile": 1, "pg-pwenv": 1,
                               "pg-wrong": 0, "pg-closed": 0}
                    and sb == {"sb-env-ok": 1, "sb-env-bad": 0, "sb-file-ok": 1, "sb-file-bad": 0}
                )  # fmt: skip

            last: list[Scrape] = []

            async def phase2() -> bool:
                last[:] = [await scrape("ok")]
                return all_up(last[0])

            try:
                await until("every secret-bearing call succeeded", phase2)
            except AssertionError:
                raise AssertionError(
                    "\n".join(
                        f"{n}{labels} {v}"
                        for n in (
                            "probe_success",
                            "redline_vendor_check_up",
                            "pg_up",
                            "redline_vendor_feed_up",
                            "redline_backup_supabase_up",
                        )
                        for labels, v in last[0].series(n)
                    )
                ) from None
            await push("ok")
            await pages("ok")
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    outputs.update(exporter.outputs)
    outputs["debug log"] = log_path.read_text()
    assert "level=debug" in outputs["debug log"]  # the log really was at debug level
    # files the exporter wrote (the heartbeat state), not the secret files the test wrote
    for path in tmp_path.iterdir():
        if path.is_file() and path.suffix not in (".secret", ".yml", ".json", ".log"):
            outputs[f"file {path.name}"] = path.read_text(errors="replace")
    outputs["file heartbeats.json"] = (tmp_path / "heartbeats.json").read_text()
    assert target.hits.get("h", 0) >= 2 and target.hits.get("token", 0) >= 2

    forms = dict(S)
    for name in ("basic", "basic_file", "userinfo", "full_url"):
        forms[f"{name} (basic auth header)"] = base64.b64encode(
            f"redline:{S[name]}".encode()
        ).decode()
    forms["web (basic auth header)"] = auth["Authorization"].split()[1]
    for i, text in enumerate(key_secrets):
        forms[f"GA key part {i}"] = text
    leaks = [
        f"{name} ({value}) in {where}"
        for name, value in forms.items()
        for where, text in outputs.items()
        if value in text
    ]
    # every value starts with the marker: a value cut short ("S3CRET_BODY_1f2e...") leaks too
    leaks += [
        f"part of a secret in {where}: ...{text[max(0, i - 60) : i + 40]}..."
        for where, text in outputs.items()
        if (i := text.find(MARKER)) != -1
    ]
    if os.environ.get("REDLINE_DUMP_OUTPUTS"):
        Path(os.environ["REDLINE_DUMP_OUTPUTS"]).write_text(json.dumps(outputs, indent=1))
    assert not leaks, "\n".join(leaks)


def test_redactor_removes_a_secret_cut_short() -> None:
    """Messages quote a target's answer cut to a length ("found \"...\"" of an assertion, a
    header value): the cut can fall inside a secret, whose start must not show either."""
    redactor = Redactor()
    value = S["body"]
    redactor.add(value)
    for cut in range(Redactor.MIN_LEN, len(value)):
        shown = redactor.redact(f'status == "ok": found "x={value[:cut]}..." and {value}')
        assert shown == 'status == "ok": found "x=<redacted>..." and <redacted>', shown
    assert redactor.redact("nothing to hide...") == "nothing to hide..."


def test_generated_files_hold_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generators read config/hotrod.yml: with every variable it names set to a secret,
    nothing they produce holds one (references stay unresolved), nor do the committed files."""
    from exporter import rules

    values = {}
    for name in ("CHATWOOT_API_TOKEN", "CHATWOOT_BASE_URL", "GA_PROPERTY_ID",
                 "GOOGLE_APPLICATION_CREDENTIALS", "REDLINE_DATABASE_URL",
                 "REDLINE_DIRECT_DATABASE_URL", "REDLINE_HEARTBEAT_TOKEN", "REDLINE_INGEST_TOKEN",
                 "SHOPIFY_ADMIN_TOKEN", "SHOPIFY_STORE_DOMAIN", "SUPABASE_ACCESS_TOKEN",
                 "SUPABASE_PROJECT_REF"):  # fmt: skip
        values[name] = _secret(name)
        monkeypatch.setenv(name, values[name])
    built = rules.build(ROOT)
    assert built
    leaks = [
        f"{n} in {path}" for path, text in built.items() for n, v in values.items() if v in text
    ]
    assert not leaks, leaks
    committed = [ROOT / "README.md"] + [
        p for d in GENERATED if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*") if p.is_file()
    ]
    texts = {p: p.read_text(errors="replace") for p in committed}
    # the values of this suite, and the fixed test passwords of others, appear in no such file
    fixed = ["Mon1tor-s3cret-pw", "postgres-superuser-pw", *S.values(), *values.values()]
    leaks = [f"{v} in {p}" for p, text in texts.items() for v in fixed if v in text]
    assert not leaks, leaks


async def test_redline_check_of_the_shipped_config_shows_no_secret() -> None:
    env = dict(os.environ)
    values = {}
    for name in ("CHATWOOT_API_TOKEN", "SHOPIFY_ADMIN_TOKEN", "SUPABASE_ACCESS_TOKEN",
                 "REDLINE_HEARTBEAT_TOKEN", "REDLINE_INGEST_TOKEN"):  # fmt: skip
        values[name] = env[name] = _secret(name)
    env["REDLINE_DATABASE_URL"] = f"postgresql://u:{_secret('db')}@db.example:6543/postgres"
    values["REDLINE_DATABASE_URL"] = env["REDLINE_DATABASE_URL"].split(":")[2].split("@")[0]
    out = await run_cli("check", "config/hotrod.yml", env=env)
    assert "exit 0" in out, out
    assert not [n for n, v in values.items() if v in out], out
