"""A stand-in of the platforms the shop runs on, on loopback, serving their documented shapes for
the demo's machines (the apps and groups of exporter/default.yml's ``fly:`` blocks):

====================================  ==========================================================
route                                 what (auth)
====================================  ==========================================================
GET /prometheus/{org}/federate        Fly's federation endpoint: the fly_* series of every
                                      machine in the text format, filtered by ``match[]``
                                      (``Authorization: Bearer`` the Fly token)
GET /v1/apps/{app}/machines           Fly's Machines API: machine objects with state, region,
                                      config.metadata.fly_process_group, config.guest and events
                                      (bearer, the same token)
GET /customer/v1/privileged/metrics   Supabase's Metrics API: node_*, pg_* and pgbouncer_*
                                      series of the database instance, labelled
                                      supabase_project_ref and service_type (basic auth
                                      service_role and the key)
POST /_standin/fault {"mode": ...}    ok, worker-oom (Chatwoot's worker runs out of memory and
                                      is OOM-killed: an exit event with oom_killed, exit code
                                      137, restarted by its policy), token-refused (401 to both
                                      Fly routes), supabase-down (503)
GET /_standin/state                   the fault and the machines
====================================  ==========================================================

Counters (requests, CPU time) grow with the stand-in's clock, so rates are steady; the values
are plausible, not measured. Two names are served here on an assumption (docs/platform.md):
``pg_settings_max_connections`` and ``pgbouncer_pools_client_waiting_connections``.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from exporter.config import Config

log = logging.getLogger("redline.demo.platform")

HOST = "127.0.0.1"
MODES = ("ok", "worker-oom", "token-refused", "supabase-down")
MIB = 1024 * 1024
# Fly's response-time buckets as the stand-in writes them (ASSUMPTION on Fly's: see slo.py)
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Machine:
    id: str
    app: str
    service: str
    group: str
    memory: int  # bytes
    host: str
    state: str = "started"
    events: list[dict[str, Any]] = field(default_factory=list)
    used: float = 0.45  # share of memory in use


class PlatformStandIn:
    def __init__(
        self,
        config: Config,
        token: str,
        key: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.token = token
        self.key = key
        self.clock = clock
        self.started = clock()
        self.mode = "ok"
        self.machines: list[Machine] = []
        for n, (app, service) in enumerate(sorted(config.fly_apps().items())):
            assert service.fly is not None
            for g, group in enumerate(service.fly.groups):
                for i in range(max(group.machines, 1)):
                    mid = f"{n:x}{g:x}{i:x}e784079b4494"[:14]
                    self.machines.append(
                        Machine(mid, app, service.name, group.name, group.memory, f"a{n}{g}{i}f")
                    )
        now_ms = int(self.started * 1000)
        for mach in self.machines:
            mach.events = [_event("launch", now_ms - 60_000), _event("start", now_ms - 59_000)]

    # --- faults ---------------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
        if mode == "worker-oom" and self.mode != "worker-oom":
            self.oom_kill()
        self.mode = mode
        if mode == "ok":
            for mach in self.machines:
                mach.used = 0.45

    def worker(self) -> Machine:
        for mach in self.machines:
            group = self._group(mach)
            if group is not None and group.customer_messages:
                return mach
        raise LookupError("no group works the customers' messages")

    def _group(self, mach: Machine) -> Any:
        service = self.config.fly_apps()[mach.app]
        assert service.fly is not None
        return next(g for g in service.fly.groups if g.name == mach.group)

    def oom_kill(self) -> None:
        """The worker's memory runs out: the kernel kills it, Fly restarts it."""
        mach = self.worker()
        now_ms = int(self.clock() * 1000)
        mach.used = 0.97
        mach.events.insert(
            0,
            {
                "type": "exit",
                "status": "stopped",
                "source": "flyd",
                "timestamp": now_ms,
                "request": {
                    "exit_event": {
                        "exit_code": 137,
                        "oom_killed": True,
                        "restarting": True,
                        "exited_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    },
                    "restart_count": 1,
                },
            },
        )
        mach.events.insert(0, _event("start", now_ms + 1))
        del mach.events[20:]
        log.info("platform: %s/%s machine %s OOM-killed", mach.app, mach.group, mach.id)

    # --- the app --------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/prometheus/{org}/federate", self._federate)
        app.router.add_get("/v1/apps/{app}/machines", self._machines)
        app.router.add_get("/customer/v1/privileged/metrics", self._supabase)
        app.router.add_get("/_standin/state", self._state)
        app.router.add_post("/_standin/fault", self._fault)
        return app

    def _bearer_ok(self, request: web.Request) -> bool:
        given = request.headers.get("Authorization", "")
        return self.mode != "token-refused" and hmac.compare_digest(
            given.encode(), f"Bearer {self.token}".encode()
        )

    async def _federate(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return web.Response(status=401, text="unauthorized\n")
        matchers = [_parse_match(m) for m in request.query.getall("match[]", [])]
        lines = [line for line in self.fly_series() if any(_matches(line, m) for m in matchers)]
        return web.Response(text="".join(lines), content_type="text/plain")

    async def _machines(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return web.json_response({"error": "unauthorized"}, status=401)
        app = request.match_info["app"]
        listed = [self._machine_json(m) for m in self.machines if m.app == app]
        if not listed:
            return web.json_response({"error": "app not found"}, status=404)
        return web.json_response(listed)

    def _machine_json(self, mach: Machine) -> dict[str, Any]:
        return {
            "id": mach.id,
            "name": f"{mach.group}-{mach.id[:4]}",
            "state": mach.state,
            "region": "ord",
            "instance_id": f"01JDEMO{mach.id.upper()}",
            "private_ip": "fdaa::3",
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())),
            "config": {
                "metadata": {"fly_process_group": mach.group, "fly_platform_version": "v2"},
                "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": mach.memory // MIB},
                "restart": {"policy": "on-failure", "max_retries": 10},
            },
            "events": mach.events,
        }

    async def _supabase(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"service_role:{self.key}".encode()).decode()
        if not hmac.compare_digest(
            request.headers.get("Authorization", "").encode(), expected.encode()
        ):
            return web.Response(status=401, text="unauthorized\n")
        if self.mode == "supabase-down":
            return web.Response(status=503, text="service unavailable\n")
        return web.Response(text="".join(self.supabase_series()), content_type="text/plain")

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"mode": self.mode, "machines": [self._machine_json(m) for m in self.machines]}
        )

    async def _fault(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text())
            self.set_mode(body.get("mode") if isinstance(body, dict) else None)  # type: ignore[arg-type]
        except (ValueError, TypeError) as e:
            return web.json_response({"error": str(e), "modes": list(MODES)}, status=400)
        return web.json_response({"mode": self.mode})

    # --- the series -----------------------------------------------------------------------------

    def fly_series(self) -> list[str]:
        """Fly's built-in series of every machine, one text-format line each."""
        t = self.clock() - self.started
        out: list[str] = []
        for n, mach in enumerate(self.machines):
            base = {"app": mach.app, "region": "ord", "host": mach.host, "instance": mach.id}
            started = 1.0 if mach.state == "started" else 0.0
            out.append(_line("fly_instance_up", base, started))
            out.append(_line("fly_instance_memory_mem_total", base, mach.memory))
            out.append(
                _line(
                    "fly_instance_memory_mem_available", base, round(mach.memory * (1 - mach.used))
                )
            )
            for mode, share in (("user", 0.2), ("system", 0.05), ("idle", 0.75)):
                value = round(t * 100 * share, 1)  # centiseconds, one CPU
                out.append(_line("fly_instance_cpu", {**base, "cpu_id": "0", "mode": mode}, value))
            if mach.group in ("app", "web"):
                rate = 5.0 + n  # requests a second
                total = round(t * rate)
                errors = round(t * rate * 0.0004)
                out.append(
                    _line("fly_app_http_responses_count", {**base, "status": "200"}, total - errors)
                )
                out.append(_line("fly_app_http_responses_count", {**base, "status": "503"}, errors))
                for le in BUCKETS:
                    share = min(1.0, 0.55 + le * 0.5)
                    out.append(
                        _line(
                            "fly_app_http_response_time_seconds_bucket",
                            {**base, "status": "200", "le": repr(le)},
                            round(total * share),
                        )
                    )
                out.append(
                    _line(
                        "fly_app_http_response_time_seconds_bucket",
                        {**base, "status": "200", "le": "+Inf"},
                        total,
                    )
                )
                out.append(
                    _line(
                        "fly_app_http_response_time_seconds_count", {**base, "status": "200"}, total
                    )
                )
                out.append(
                    _line(
                        "fly_app_http_response_time_seconds_sum",
                        {**base, "status": "200"},
                        round(total * 0.12, 3),
                    )
                )
                out.append(_line("fly_app_concurrency", base, 3))
                edge = {k: base[k] for k in ("app", "region", "host")}
                out.append(
                    _line(
                        "fly_edge_tls_handshake_errors",
                        {**edge, "servername": f"{mach.app}.fly.dev"},
                        round(t / 600),
                    )
                )
            if mach.group == "web":  # Chatwoot's web machine keeps uploads on a volume
                vol = {"app": mach.app, "region": "ord", "host": mach.host, "id": "vol_demo1"}
                out.append(_line("fly_volume_size_bytes", vol, 10 * 1024**3))
                out.append(_line("fly_volume_used_pct", vol, 31.5))
        return out

    def supabase_series(self) -> list[str]:
        """The Metrics API's shape (docs: supabase-grafana's metrics list), for one project."""
        t = self.clock() - self.started
        ref = self.config.platform.supabase.project_ref if self.config.platform.supabase else "x"
        db = {"supabase_project_ref": ref, "service_type": "db"}
        pg = {"supabase_project_ref": ref, "service_type": "postgresql", "server": "localhost:5432"}
        out = []
        for cpu in ("0", "1"):
            for mode, share in (("user", 0.18), ("system", 0.06), ("iowait", 0.01), ("idle", 0.75)):
                out.append(
                    _line(
                        "node_cpu_seconds_total",
                        {**db, "cpu": cpu, "mode": mode},
                        round(t * share, 2),
                    )
                )
        out.append(_line("node_memory_MemTotal_bytes", db, 1024 * MIB))
        out.append(_line("node_memory_MemAvailable_bytes", db, 410 * MIB))
        out.append(_line("node_load1", db, 0.42))
        for dev, mount, size, avail in (
            ("/dev/nvme0n1p2", "/", 10 * 1024**3, 6 * 1024**3),
            ("/dev/nvme1n1", "/data", 8 * 1024**3, 5 * 1024**3),
        ):
            fs = {**db, "device": dev, "fstype": "ext4", "mountpoint": mount}
            out.append(_line("node_filesystem_size_bytes", fs, size))
            out.append(_line("node_filesystem_avail_bytes", fs, avail))
        out.append(_line("pg_up", {k: pg[k] for k in ("supabase_project_ref", "service_type")}, 1))
        out.append(_line("pg_stat_database_num_backends", pg, 18))
        out.append(_line("pg_settings_max_connections", pg, 60))  # ASSUMPTION (platform.md)
        for datname, size in (("postgres", 312 * MIB), ("template1", 7 * MIB)):
            out.append(
                _line(
                    "pg_database_size_bytes",
                    {"supabase_project_ref": ref, "service_type": "postgresql", "datname": datname},
                    size,
                )
            )
        out.append(_line("pgbouncer_up", db, 1))
        out.append(  # ASSUMPTION (platform.md)
            _line(
                "pgbouncer_pools_client_waiting_connections",
                {**db, "database": "postgres", "user": "authenticator"},
                0,
            )
        )
        out.append(_line("physical_replication_lag_physical_replication_lag_seconds", pg, 0.4))
        return out


def _event(kind: str, at_ms: int) -> dict[str, Any]:
    return {"type": kind, "status": "started", "source": "flyd", "timestamp": at_ms}


def _line(name: str, labels: dict[str, Any], value: float) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{body}}} {value}\n"


_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def _parse_match(text: str) -> list[tuple[str, str, str]]:
    """The matchers of a ``match[]`` selector (``name{...}`` or ``{...}``), as (label, op, value).
    Enough of PromQL for the generated job's selector; anything else matches nothing."""
    text = text.strip()
    out = []
    head, _, rest = text.partition("{")
    if head:
        out.append(("__name__", "=", head))
    for label, op, value in _MATCHER.findall(rest):
        out.append((label, op, value.replace("\\\\", "\\")))
    return out


def _matches(line: str, matchers: list[tuple[str, str, str]]) -> bool:
    if not matchers:
        return False
    name, _, rest = line.partition("{")
    labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', rest.split("}")[0]))
    labels["__name__"] = name
    for label, op, value in matchers:
        have = labels.get(label, "")
        if op == "=" and have != value:
            return False
        if op == "!=" and have == value:
            return False
        if op == "=~" and not re.fullmatch(value, have):
            return False
        if op == "!~" and re.fullmatch(value, have):
            return False
    return True


def write_secrets() -> None:
    """The demo's token and key files (exporter/default.yml names them), mode 0600."""
    from exporter.demo import layout

    layout.SECRETS_DIR.mkdir(parents=True, exist_ok=True)
    for path, value in (
        (layout.FLY_TOKEN_FILE, layout.FLY_TOKEN),
        (layout.SUPABASE_KEY_FILE, layout.SUPABASE_KEY),
    ):
        path.write_text(value + "\n", encoding="utf-8")
        path.chmod(0o600)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import asyncio
    import signal

    from exporter.config import load_config
    from exporter.demo import layout

    parser = argparse.ArgumentParser(
        description="Fly's and Supabase's stand-in for the demo, on 127.0.0.1 until SIGTERM."
    )
    parser.add_argument("--port", type=int, default=layout.PLATFORM_PORT)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config, _ = load_config(None)  # the demo's apps and groups
    standin = PlatformStandIn(config, layout.FLY_TOKEN, layout.SUPABASE_KEY)

    async def serve() -> None:
        runner = web.AppRunner(standin.app(), shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, HOST, args.port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
