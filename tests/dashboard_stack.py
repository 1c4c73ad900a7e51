"""A running monitoring stack for the dashboard tests: the real Prometheus (Debian's binary)
scraping an in-process exporter every second, with the recording and alert rules of
prometheus/rules loaded.

The exporter runs the demo config (exporter/default.yml: the stand-ins of the four services,
moved to free ports so a running ``make demo`` is no obstacle) plus what the demo config leaves
out, each against something real on
loopback, so the dashboards of those areas are proven too:

- ``hotdash-app/tls``: a TLS probe (as config/hotrod.yml has) of a local TLS listener with a
  locally made certificate (certificate expiry);
- ``databases``: the shared test PostgreSQL (tests/pg.py) as ``supabase``, the name of the real
  one (so the database SLO's recording rules match), with a replication slot and a custom query;
- ``logs``: config/hotrod.yml's route groups, buckets and patterns with an ingest source ``fly``
  fed Fly-shaped NDJSON batches of the services' log formats (requests, 5xx, an OOM line), and
  a file source following an nginx access log;
- ``backups``: a gzip dump with its SHA-256 sidecar (checked in the background), restored once
  by a restore test into a scratch database of the shared PostgreSQL, and a Supabase
  Management API stand-in;
- ``heartbeats``: config/hotrod.yml's jobs; one pinged ok, one failing, one never;
- ``vendors``: the Statuspage and Google fixtures of tests/fixtures/vendors served as status
  feeds, a Shopify GraphQL stand-in and Chatwoot's stand-in for the API checks;
- a fault: agent-service answers with the wrong release, so failure panels have a failure.

Everything runs in one background thread with its own event loop, so the tests (and the
blocking Prometheus client) stay synchronous.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trustme
import yaml
from aiohttp import web

from exporter.app import initial_runtime, make_app
from exporter.config import Config, load_config
from exporter.demo import layout
from exporter.demo.platform import PlatformStandIn
from exporter.demo.servers import Alertmanager, Prometheus, ServerError, free_ports
from exporter.demo.standins import DEFAULT_PORTS, run_standins
from exporter.rules.alerts import JOB
from exporter.rules.prometheus_config import platform_jobs
from tests import pg

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "vendors"
SCRAPE_INTERVAL = "1s"
INGEST_TOKEN = "dashboards-ingest-token"
HEARTBEAT_TOKEN = "dashboards-heartbeat-token"
SHOPIFY_TOKEN = "dashboards-shopify-token"
SUPABASE_TOKEN = "dashboards-supabase-token"
RESTORE_USER = "dashboards_restore"  # the restore test's role: LOGIN CREATEDB, nothing more
RESTORE_PASSWORD = "dashboards-restore-pw"
SUPABASE_REF = "dashboardsref"
FLY_TOKEN = "dashboards-fly-token"
SUPABASE_KEY = "dashboards-supabase-service-role-key"
CHATWOOT_TOKEN = "standin-chatwoot-token"  # the Chatwoot stand-in's fixed token
SLOT = "redline_dashboards"
TRAFFIC_PERIOD = 0.5  # seconds between log batches
TRAFFIC_LIMIT = 240  # batches at most (two minutes): the generator stops by itself


# --- loopback servers the demo config does not have ------------------------------------------


def _vendor_app() -> web.Application:
    """Status feeds (the fixtures), Shopify's GraphQL endpoint, Supabase's Management API."""
    statuspage = (FIXTURES / "statuspage_summary.json").read_bytes()
    google = (FIXTURES / "google_incidents.json").read_bytes()

    async def summary(request: web.Request) -> web.Response:
        return web.Response(body=statuspage, content_type="application/json")

    async def incidents(request: web.Request) -> web.Response:
        return web.Response(body=google, content_type="application/json")

    async def graphql(request: web.Request) -> web.Response:
        if request.headers.get("X-Shopify-Access-Token") != SHOPIFY_TOKEN:
            return web.json_response({"errors": "[API] Invalid API key"}, status=401)
        throttle = {"maximumAvailable": 2000.0, "currentlyAvailable": 1740.0, "restoreRate": 100.0}
        return web.json_response(
            {
                "data": {"shop": {"name": "Hot Rod AN"}},
                "extensions": {"cost": {"actualQueryCost": 1, "throttleStatus": throttle}},
            }
        )

    async def backups(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {SUPABASE_TOKEN}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        newest = datetime.fromtimestamp(time.time() - 1800, UTC)
        return web.json_response(
            {
                "region": "us-east-1",
                "walg_enabled": True,
                "pitr_enabled": False,
                "backups": [
                    {
                        "is_physical_backup": True,
                        "status": "COMPLETED",
                        "inserted_at": newest.isoformat(timespec="milliseconds"),
                    }
                ],
                "physical_backup_data": {},
            }
        )

    app = web.Application()
    app.router.add_get("/shopify/api/v2/summary.json", summary)
    app.router.add_get("/google/incidents.json", incidents)
    app.router.add_post("/admin/api/2025-10/graphql.json", graphql)
    app.router.add_get("/v1/projects/{ref}/database/backups", backups)
    return app


def _tls_context(workdir: Path) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    ca_file = workdir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server, ca_file


async def _tls_listener(context: ssl.SSLContext) -> asyncio.Server:
    """Accepts TLS connections and closes them: what the TCP probe needs for the handshake."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    return await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=context)


# --- the config ---------------------------------------------------------------------------------


@dataclass
class Ports:
    exporter: int
    vendors: int
    tls: int
    # each stand-in on a free port (the demo's fixed ones may be taken by a running make demo)
    standins: dict[str, int]
    platform: int = 0  # Fly's federation and Machines API, Supabase's metrics (the stand-in)


def _moved(value: Any, ports: dict[str, int]) -> Any:
    """A probe's URL or address with the stand-ins' default ports replaced by ``ports``."""
    if isinstance(value, str):
        for name, default in layout.BASE_STANDIN_PORTS.items():
            value = value.replace(f"127.0.0.1:{default}/", f"127.0.0.1:{ports[name]}/")
            if value == f"127.0.0.1:{default}":
                value = f"127.0.0.1:{ports[name]}"
        return value
    if isinstance(value, dict):
        return {k: _moved(v, ports) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, ports) for v in value]
    return value


def config_text(workdir: Path, ports: Ports, dsn: str, ca_file: Path, backup_dir: Path) -> str:
    """exporter/default.yml plus the sections the demo config lacks (see the module doc)."""
    demo = yaml.safe_load((ROOT / "exporter" / "default.yml").read_text())
    config: dict[str, Any] = _moved(demo, ports.standins)
    hotrod: dict[str, Any] = yaml.safe_load((ROOT / "config" / "hotrod.yml").read_text())
    secrets = workdir / "secrets"
    secrets.mkdir(exist_ok=True)
    for name, value in (
        ("ingest", INGEST_TOKEN),
        ("heartbeat", HEARTBEAT_TOKEN),
        ("shopify", SHOPIFY_TOKEN),
        ("supabase", SUPABASE_TOKEN),
        ("fly-token", FLY_TOKEN),
        ("supabase-key", SUPABASE_KEY),
        ("restore", RESTORE_PASSWORD),
    ):
        (secrets / name).write_text(value + "\n")
    vendors = f"http://127.0.0.1:{ports.vendors}"

    # Scrapes every second: the probes must leave the exporter time to answer.
    config["exporter"] = {"scrape_timeout": "1s", "scrape_timeout_margin": "250ms"}
    app = next(s for s in config["services"] if s["name"] == "hotdash-app")
    app["probes"].append(
        {
            "name": "tls",
            "kind": "tcp",
            "address": f"127.0.0.1:{ports.tls}",
            "tls": True,
            "tls_config": {"ca_file": str(ca_file)},
        }
    )
    config["host"] = {"process_groups": [{"name": "tests", "cmdline": "pytest|dashboard"}]}
    # the demo config's pooler entry (what the services depend_on, and the database SLO), on
    # the shared test PostgreSQL too
    pooler = {
        **next(d for d in config["databases"] if d["name"] == "supabase-pooler"),
        "dsn": dsn,
    }
    pooler.pop("password_file", None)
    config["databases"] = [
        {
            "name": "supabase",
            "dsn": dsn,
            "timeout": "700ms",
            "queries": [
                {
                    "name": "roles",
                    "sql": "SELECT count(*) AS n FROM pg_roles",
                    "metrics": [{"name": "roles", "column": "n", "help": "Roles."}],
                }
            ],
        },
        pooler,
    ]
    fly = next(src for src in hotrod["logs"]["sources"] if src["name"] == "fly")
    config["logs"] = {
        "buckets": hotrod["logs"]["buckets"],
        "route_groups": hotrod["logs"]["route_groups"],
        "patterns": hotrod["logs"]["patterns"],
        "sources": [
            {
                "name": "fly",
                "kind": "ingest",
                "bearer_token_file": str(secrets / "ingest"),
                "envelope": fly["envelope"],
                "service_map": fly["service_map"],
                "parsers": fly["parsers"],
            },
            {
                "name": "nginx",
                "kind": "file",
                "paths": [str(workdir / "logs" / "*.access.log")],
                "service": "chatwoot",
                "parsers": ["nginx_combined"],
                "from_start": True,
                "poll_interval": "200ms",
            },
        ],
    }
    config["backups"] = {
        "files": [
            {
                "name": "agent-tables",
                "directory": str(backup_dir),
                "glob": "agent-tables-*.sql.gz",
                "max_age": "26h",
                "min_size": 10,
                "verify": {"checks": ["gzip", "sql_complete", "sha256"], "interval": "1s",
                           "settle": "0s"},
            }
        ],
        # the dump restored once at start into a scratch database of the same server (its
        # template1 is the database connected to: the source is its postgres database)
        "restore": {
            "state_file": str(workdir / "restore-tests.json"),
            "report_dir": str(workdir / "restore-reports"),
            "tests": [
                {
                    "backup": "agent-tables",
                    "source": "supabase",
                    "interval": "1h",
                    "delay": "0s",
                    "timeout": "30s",
                    "server": {
                        "dsn": dsn.replace(f"{pg.MONITOR_USER}:{pg.MONITOR_PASSWORD}@",
                                           f"{RESTORE_USER}@").replace("/postgres?", "/template1?"),
                        "password_file": str(secrets / "restore"),
                    },
                    "checks": {
                        "tables": ["agent_queries"],
                        "row_counts": {"tables": ["agent_queries"]},
                        "newest_row": {"table": "agent_queries", "column": "created_at"},
                    },
                }
            ],
        },
        "supabase": [
            {
                "name": "supabase",
                "project_ref": SUPABASE_REF,
                "access_token_file": str(secrets / "supabase"),
                "base_url": vendors,
                "max_age": "1h",
            }
        ],
    }  # fmt: skip
    config["heartbeats"] = {
        "state_file": str(workdir / "heartbeats.json"),
        "token_file": str(secrets / "heartbeat"),
        "jobs": hotrod["heartbeats"]["jobs"],
    }
    config["vendors"] = {
        "feeds": [
            {
                "name": "shopify",
                "url": f"{vendors}/shopify/api/v2/summary.json",
                "provider": "statuspage",
                "components": next(
                    f["components"] for f in hotrod["vendors"]["feeds"] if f["name"] == "shopify"
                ),
                "interval": "1s",
                "timeout": "1s",
            },
            {
                "name": "google-ads-dashboard",
                "url": f"{vendors}/google/incidents.json",
                "provider": "google",
                "components": ["Google Analytics"],
                "interval": "1s",
                "timeout": "1s",
            },
        ],
        "checks": {
            "shopify": [
                {
                    "name": "shopify-admin",
                    "shop": "hotrodan",
                    "access_token_file": str(secrets / "shopify"),
                    "url": f"{vendors}/admin/api/2025-10/graphql.json",
                    "interval": "1s",
                    "timeout": "1s",
                }
            ],
            "chatwoot": [
                {
                    "name": "chatwoot",
                    "base_url": f"http://127.0.0.1:{ports.standins['chatwoot']}",
                    "api_token": CHATWOOT_TOKEN,
                    "interval": "1s",
                    "timeout": "1s",
                }
            ],
        },
    }
    # the demo's platform section, on the platform stand-in's free port (exporter/demo/platform.py)
    platform = f"http://127.0.0.1:{ports.platform}"
    config["platform"] = {
        "fly": {
            "org": "hotrod-dashboards",
            "token_file": str(secrets / "fly-token"),
            "federate_url": f"{platform}/prometheus/hotrod-dashboards/federate",
            "machines_api": platform,
            "poll_interval": "5s",
            "timeout": "2s",
            "state_file": str(workdir / "fly-machines.json"),
        },
        "supabase": {
            "project_ref": SUPABASE_REF,
            "key_file": str(secrets / "supabase-key"),
            "metrics_url": f"{platform}/customer/v1/privileged/metrics",
            "max_connections": 60,
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def write_access_log(directory: Path) -> None:
    """nginx's combined format with $request_time, in front of Chatwoot (config/hotrod.yml)."""
    directory.mkdir(parents=True, exist_ok=True)
    line = (
        '127.0.0.1 - - [13/Oct/2025:12:00:00 +0000] "GET /api/v1/profile HTTP/1.1" 200 512 '
        '"-" "curl/8.5" 0.042\n'
    )
    (directory / "chatwoot.access.log").write_text(line * 3)


def write_backup(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    dump = directory / "agent-tables-20251013.sql.gz"
    body = (
        b"-- PostgreSQL database dump\n"
        b"CREATE TABLE agent_queries (id integer, created_at timestamptz NOT NULL);\n"
        b"INSERT INTO agent_queries VALUES (1, now() - interval '5 minutes'), (2, now());\n"
        b"-- PostgreSQL database dump complete\n"
    )
    dump.write_bytes(gzip.compress(body, mtime=0))
    digest = hashlib.sha256(dump.read_bytes()).hexdigest()
    (directory / (dump.name + ".sha256")).write_text(f"{digest}  {dump.name}\n")


# --- traffic: log lines and heartbeat pings -----------------------------------------------------


def _fly(app: str, message: str, level: str = "info") -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"fly": {"app": {"name": app}}, "log": {"level": level}, "message": message,
            "timestamp": now}  # fmt: skip


def _json_line(path: str, status: int, ms: int, method: str = "GET") -> str:
    return json.dumps(
        {
            "timestamp": datetime.now(UTC).isoformat(),
            "level": "error" if status >= 500 else "info",
            "message": "request",
            "service": "hotdash",
            "method": method,
            "path": path,
            "status": status,
            "duration": ms,
        }
    )


def log_batch(i: int) -> bytes:
    """One NDJSON batch as the Fly log shipper posts it: every service's format, a few 5xx,
    slow MCP calls now and then, an OOM and an ECONNRESET line, a line no parser reads."""
    records = [
        _fly("hotdash-agent-service", f"[GET] /health - 200 ({5 + i % 7}ms) [req-{i}]"),
        _fly("hotdash-agent-service", f"[POST] /queue/jobs - {500 if i % 4 == 0 else 202} (40ms)"),
        _fly("hotdash-llamaindex-mcp", f"[POST] /mcp - 200 ({700 if i % 3 == 0 else 120}ms)"),
        _fly("hotdash-llamaindex-mcp", "[GET] /health - 200 (3ms)"),
        _fly("hotdash-staging", _json_line("/api/products", 502 if i % 5 == 0 else 200, 230)),
        _fly("hotdash-staging", _json_line("/app/tiles/sales", 200, 1800)),
        _fly("hotdash-staging", _json_line("/app", 200, 90)),
    ]
    if i % 6 == 0:
        records.append(_fly("hotdash-chatwoot", "FATAL: JavaScript heap out of memory", "error"))
        records.append(_fly("hotdash-agent-service", "Error: read ECONNRESET", "error"))
    lines = [json.dumps(r) for r in records]
    if i % 4 == 0:
        lines.append("this is not a JSON record")
    return ("\n".join(lines) + "\n").encode()


def _post(url: str, token: str, body: bytes = b"") -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        return int(resp.status)


# --- the stack ----------------------------------------------------------------------------------


class Stack:
    """Stand-ins, loopback servers and the exporter in a thread; Prometheus as a process."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        exporter, vendors, platform, *standins = free_ports(3 + len(DEFAULT_PORTS))
        moved = dict(zip(DEFAULT_PORTS, standins, strict=True))
        self.ports = Ports(exporter, vendors, 0, moved, platform)
        self.exporter_url = f"http://127.0.0.1:{self.ports.exporter}"
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.config: Config | None = None
        self.cluster = pg.shared_cluster()
        self.cluster.psql(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
            f"'{RESTORE_USER}') THEN CREATE ROLE {RESTORE_USER} LOGIN CREATEDB PASSWORD "
            f"'{RESTORE_PASSWORD}'; END IF; END $$"
        )
        self.cluster.psql(
            f"SELECT pg_create_physical_replication_slot('{SLOT}', true) "
            f"WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{SLOT}')"
        )

    # the thread's event loop
    async def _main(self) -> None:
        self._stop = asyncio.Event()
        context, ca_file = _tls_context(self.workdir)
        tls = await _tls_listener(context)
        self.ports.tls = tls.sockets[0].getsockname()[1]
        vendors = web.AppRunner(_vendor_app(), shutdown_timeout=0.1)
        await vendors.setup()
        await web.TCPSite(vendors, "127.0.0.1", self.ports.vendors).start()
        backup_dir = self.workdir / "backups"
        write_backup(backup_dir)
        write_access_log(self.workdir / "logs")
        path = self.workdir / "redline.yml"
        path.write_text(
            config_text(self.workdir, self.ports, self.cluster.dsn(), ca_file, backup_dir)
        )
        self.config = load_config(path)[0]
        # the platforms: Chatwoot's worker was just OOM-killed, so the exit panels have one
        platform = PlatformStandIn(self.config, FLY_TOKEN, SUPABASE_KEY)
        platform.set_mode("worker-oom")
        platform_runner = web.AppRunner(platform.app(), shutdown_timeout=0.1)
        await platform_runner.setup()
        await web.TCPSite(platform_runner, "127.0.0.1", self.ports.platform).start()
        try:
            async with run_standins(self.ports.standins) as standins:
                # a failure to show: agent-service serves another release than the pinned one
                standins["agent-service"].fault.set("wrong_version")
                runner = web.AppRunner(make_app(initial_runtime(path)), shutdown_timeout=0.1)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", self.ports.exporter).start()
                try:
                    self._ready.set()
                    await self._stop.wait()
                finally:
                    await runner.cleanup()
        finally:
            await vendors.cleanup()
            await platform_runner.cleanup()
            tls.close()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as e:  # reported to the test thread
            self._error = e
            self._ready.set()
        finally:
            self._loop.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dashboard-stack", daemon=True)
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the exporter did not start within 60 s")
        if self._error is not None:
            raise RuntimeError(f"the exporter did not start: {self._error!r}") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
        self.cluster.psql(
            f"SELECT pg_drop_replication_slot('{SLOT}') "
            f"WHERE EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '{SLOT}')"
        )

    # traffic
    def heartbeats(self) -> None:
        base = f"{self.exporter_url}/heartbeat"
        _post(f"{base}/metric-rollups/start", HEARTBEAT_TOKEN)
        _post(f"{base}/metric-rollups/0", HEARTBEAT_TOKEN)
        _post(f"{base}/agent-table-backup/fail", HEARTBEAT_TOKEN)  # HeartbeatFailed fires

    def traffic(self, stop: threading.Event) -> None:
        for i in range(TRAFFIC_LIMIT):
            if stop.wait(TRAFFIC_PERIOD):
                return
            try:
                _post(f"{self.exporter_url}/ingest/fly", INGEST_TOKEN, log_batch(i))
            except OSError:
                return  # the exporter is stopping


def prometheus_config(
    target: str,
    extra: dict[str, Any] | None = None,
    config: Config | None = None,
    *,
    itself: str | None = None,
    alertmanager: str | None = None,
) -> str:
    """Scrape every second and evaluate prometheus/rules every second: the rule files
    prometheus/prometheus.yml loads, where they exist. ``extra``: more top-level settings
    (remote_write) and global ones (external_labels under ``global``); with ``config``, the
    platform jobs generated from it too (every second as well). ``itself`` and
    ``alertmanager``: addresses of Prometheus and of an Alertmanager, scraped as the jobs
    prometheus and alertmanager (as prometheus/prometheus.yml does), the Alertmanager sent the
    alerts: the alerting pipeline's own panels read them."""
    # plain data for yaml.safe_dump (the generator's Ordered mappings are its renderer's)
    jobs = json.loads(json.dumps(platform_jobs(config))) if config is not None else []
    for job in jobs:
        job["scrape_interval"], job["scrape_timeout"] = SCRAPE_INTERVAL, SCRAPE_INTERVAL
    generated = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    rule_files = [
        str(ROOT / "prometheus" / f)
        for f in generated.get("rule_files", [])
        if (ROOT / "prometheus" / f).exists()
    ]
    extra = dict(extra or {})
    scrapes: list[dict[str, Any]] = [{"job_name": JOB, "static_configs": [{"targets": [target]}]}]
    for job, address in (("prometheus", itself), ("alertmanager", alertmanager)):
        if address is not None:
            scrapes.append({"job_name": job, "static_configs": [{"targets": [address]}]})
    if alertmanager is not None:
        extra["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return yaml.safe_dump(
        {
            "global": {
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": SCRAPE_INTERVAL,
                "evaluation_interval": SCRAPE_INTERVAL,
                **extra.pop("global", {}),
            },
            "rule_files": rule_files,
            "scrape_configs": [*scrapes, *jobs],
            **extra,
        }
    )


READY_TIMEOUT = 60.0  # seconds; about 10 on an idle machine
# Series that must exist before the dashboards are asked: a few scrapes, every background fetch
# and check done once, the recording rules evaluated, an alert firing.
READY = (
    f'count_over_time(up{{job="{JOB}"}}[1m]) >= 8',
    "count(redline_vendor_feed_up == 1) >= 2",
    "count(redline_vendor_check_up == 1) >= 2",
    'redline_backup_verify_status{check="sha256", status="ok"} == 1',
    "redline_backup_supabase_up == 1",
    "redline_backup_restore_success == 1",
    "pg_up == 1",
    'count_over_time(redline_http_requests_total{code_class="5xx"}[1m]) >= 4',
    "slo:period_error_budget_remaining:ratio",
    # the platforms: both jobs scraped, the machines polled and the worker's OOM kill counted
    'up{job="fly-federate"} == 1',
    'up{job="supabase"} == 1',
    "redline_fly_machine_oom_kills_total > 0",
    # an alert other than Watchdog (the stack makes HeartbeatFailed and the vendors' fire)
    'ALERTS{alertstate="firing", alertname!="Watchdog"}',
    # the alerting pipeline: Prometheus and Alertmanager scraped, the Alertmanager discovered
    'up{job="prometheus"} == 1',
    'up{job="alertmanager"} == 1',
    "prometheus_notifications_alertmanagers_discovered >= 1",
)
# An Alertmanager that routes every alert to a receiver with no integration: it counts, it
# sends nothing anywhere.
ALERTMANAGER_CONFIG = {"route": {"receiver": "nobody"}, "receivers": [{"name": "nobody"}]}


@contextmanager
def running(workdir: Path, extra: dict[str, Any] | None = None) -> Iterator[Prometheus]:
    """The whole stack, ready to be queried; everything is stopped on exit. ``extra``: more
    Prometheus settings (see :func:`prometheus_config`)."""
    stack = Stack(workdir)
    stop_traffic = threading.Event()
    traffic: threading.Thread | None = None
    try:
        stack.start()
        stack.heartbeats()
        traffic = threading.Thread(target=stack.traffic, args=(stop_traffic,), daemon=True)
        traffic.start()
        alertmanager = Alertmanager(workdir / "alertmanager", yaml.safe_dump(ALERTMANAGER_CONFIG))
        prom = Prometheus(workdir / "prometheus", None)
        prom.config_path.write_text(
            prometheus_config(
                f"127.0.0.1:{stack.ports.exporter}",
                extra,
                stack.config,
                itself=f"127.0.0.1:{prom.port}",
                alertmanager=f"127.0.0.1:{alertmanager.port}",
            )
        )
        with alertmanager, prom:
            deadline = time.monotonic() + READY_TIMEOUT
            for expr in READY:
                try:
                    prom.wait_for(expr, timeout=max(1.0, deadline - time.monotonic()))
                except ServerError as e:
                    targets = prom.get_json("/api/v1/targets")["data"]["activeTargets"]
                    health = [(t["health"], t["lastError"]) for t in targets]
                    raise ServerError(f"{e}; scrape targets: {health}\n{prom.tail()}") from None
            yield prom
    finally:
        stop_traffic.set()
        if traffic is not None:
            traffic.join(10)
        stack.stop()


__all__ = ["ROOT", "running"]

if __name__ == "__main__":  # a look at the stack by hand: python -m tests.dashboard_stack
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp)) as prom:
        print(f"Prometheus at {prom.url}; Ctrl-C to stop")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
