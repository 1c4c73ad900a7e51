"""The exporter's web application, built by :func:`make_app`.

Endpoints: ``/`` (landing page), ``/metrics`` (every probe, run concurrently under the scrape
deadline), ``/probe?target=NAME`` (one configured target or service; never a free URL, so the
exporter is no open proxy), ``/-/healthy``, ``/-/ready``, ``POST /-/reload``, ``/status`` and
``/status.json`` (the operator's status page, exporter/status.py).

Shared resources (the HTTP client session, the scheduler) live in ``cleanup_ctx`` and are closed
on shutdown.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from exporter import __version__, collector, probes, selfmetrics, status
from exporter.config import (
    Config,
    ConfigError,
    Service,
    load_config,
    shrinkage,
    target_counts,
)
from exporter.probes.base import ProbeContext, new_session
from exporter.scheduler import Scheduler, Served
from exporter.secrets import Redactor, SecretSource
from exporter.shard import UNSHARDED, Shard
from exporter.sources import Source, source_factories
from exporter.websecurity import WebSecurity

log = logging.getLogger("redline.app")

SCRAPE_TIMEOUT_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"


@dataclass
class Runtime:
    """The state one exporter process holds: the config in force and where it came from."""

    config_path: str | None
    config: Config
    config_name: str
    redactor: Redactor = field(default_factory=Redactor)
    scheduler: Scheduler | None = None
    sources: list[Source] = field(default_factory=list)
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    shard: Shard = UNSHARDED  # --shard: the share of the config's services this one serves

    async def reload(self, force: bool = False) -> tuple[int, str]:
        """Load the config again; keep the old one when the new one is invalid, empty, or
        would remove more than half of an area's targets (unless ``force``). Returns an HTTP
        status (200 applied, 500 invalid, 409 refused as a shrink) and the message."""
        try:
            config, name = load_config(self.config_path)
            config = self.shard.apply(config)
        except ConfigError as e:
            selfmetrics.CONFIG_RELOAD_SUCCESS.set(0)
            text = self.redactor.redact(str(e))
            log.error("config reload refused, keeping the previous config:\n%s", text)
            return 500, text
        shrunk = shrinkage(self.config, config)
        if shrunk and not force:
            selfmetrics.CONFIG_RELOAD_SUCCESS.set(0)
            text = (
                f"{name} would remove more than half of the targets of "
                f"{'; '.join(shrunk)}. If that is meant, reload with POST /-/reload?force=1 "
                "(or restart)"
            )
            log.error("config reload refused, keeping the previous config: %s", text)
            return 409, text
        probes.prepare(config)
        self.config, self.config_name = config, name
        if self.scheduler is not None:
            self.scheduler.forget_missing(set(config.targets()))
        for source in self.sources:
            await source.reload(config)
        record_config(config, self.shard)
        if shrunk:
            log.warning("config reloaded from %s by force, removing %s", name, "; ".join(shrunk))
        else:
            log.info("config reloaded from %s", name)
        return 200, f"reloaded {name}"


def record_config(config: Config, shard: Shard = UNSHARDED) -> None:
    """The self-metrics of a config just put in force (``config``: the shard's share)."""
    selfmetrics.SHARD_INFO.clear()
    selfmetrics.SHARD_INFO.labels(str(shard)).set(1)
    selfmetrics.SHARD_COUNT.set(shard.count)
    selfmetrics.CONFIG_RELOAD_SUCCESS.set(1)
    selfmetrics.CONFIG_RELOAD_TIMESTAMP.set(time.time())
    for area, count in target_counts(config).items():
        selfmetrics.CONFIG_TARGETS.labels(area).set(count)


RUNTIME = web.AppKey("runtime", Runtime)


def scrape_deadline(request: web.Request, config: Config) -> float:
    """The loop time by which probing must end: Prometheus's scrape timeout (or the configured
    one) minus a margin to render and send the answer."""
    timeout = config.exporter.scrape_timeout
    header = request.headers.get(SCRAPE_TIMEOUT_HEADER)
    if header:
        try:
            value = float(header)
            if value > 0:
                timeout = value
        except ValueError:
            pass  # a bad header is no reason to fail the scrape: use the configured timeout
    budget = max(0.05, timeout - config.exporter.scrape_timeout_margin)
    return asyncio.get_running_loop().time() + budget


async def _probe_all(
    runtime: Runtime, targets: dict[str, tuple[Service, Any]], deadline: float
) -> list[Served]:
    scheduler = runtime.scheduler
    assert scheduler is not None
    return await scheduler.serve_all(targets, deadline)


async def handle_metrics(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    start = time.perf_counter()
    config = runtime.config  # one config for the whole scrape, even if a reload lands meanwhile
    deadline = scrape_deadline(request, config)
    targets = config.targets()
    probing = asyncio.ensure_future(_probe_all(runtime, targets, deadline)) if targets else None
    extra = await collector.collect_sources(runtime.sources, deadline)
    served = [] if probing is None else await probing
    body, content_type = collector.render(served, request.headers.get("Accept"), extra=extra)
    selfmetrics.SCRAPE_DURATION.labels("metrics").observe(time.perf_counter() - start)
    return _exposition(body, content_type)


async def handle_probe(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    start = time.perf_counter()
    config = runtime.config
    name = request.query.get("target", "")
    targets = config.targets()
    if name in targets:
        chosen = {name: targets[name]}
    else:
        # a service name probes all of that service's probes
        chosen = {k: v for k, v in targets.items() if k.split("/", 1)[0] == name}
    if not chosen:
        known = ", ".join(sorted({k.split("/", 1)[0] for k in targets} | set(targets)))
        raise web.HTTPNotFound(
            text=f"unknown target {name!r}: /probe takes a configured service or "
            f"service/probe name ({known})\n"
        )
    served = await _probe_all(runtime, chosen, scrape_deadline(request, config))
    body, content_type = collector.render(served, request.headers.get("Accept"), with_self=False)
    selfmetrics.SCRAPE_DURATION.labels("probe").observe(time.perf_counter() - start)
    return _exposition(body, content_type)


def _exposition(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


async def handle_healthy(request: web.Request) -> web.Response:
    return web.Response(text="redline is healthy.\n")


async def handle_ready(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    if runtime.scheduler is None:
        raise web.HTTPServiceUnavailable(text="redline is starting.\n")
    return web.Response(text="redline is ready.\n")


async def handle_reload(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    force = request.query.get("force", "") in ("1", "true")
    async with runtime.reload_lock:
        status, message = await runtime.reload(force=force)
    if status != 200:
        return web.Response(
            status=status,
            text=f"reload refused, the previous config stays in force:\n{message}\n",
        )
    return web.Response(text=message + "\n")


async def handle_index(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    targets = sorted(runtime.config.targets())
    links = "\n".join(
        f'<li><a href="/probe?target={html.escape(t)}">{html.escape(t)}</a></li>' for t in targets
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>redline</title></head>
<body>
<h1>redline {html.escape(__version__)}</h1>
<p>Prometheus exporter of the Hot Rod AN stack. Config: {html.escape(runtime.config_name)}</p>
<ul>
<li><a href="/metrics">/metrics</a>: every configured probe, run now</li>
<li>/probe?target=SERVICE or SERVICE/PROBE: one target</li>
<li><a href="/-/healthy">/-/healthy</a>, <a href="/-/ready">/-/ready</a></li>
<li>POST /-/reload: reload the config (SIGHUP does the same); ?force=1 applies a config
that removes more than half of an area's targets</li>
<li><a href="/status">/status</a>: the operator's status page (also as
<a href="/status.json">/status.json</a>)</li>
</ul>
<h2>Targets</h2>
<ul>
{links}
</ul>
</body></html>
"""
    return web.Response(text=page, content_type="text/html")


def _machine_directory(runtime: Runtime) -> Callable[[Any], tuple[str, ...] | None]:
    """The machines a per-machine JSON probe reads, from this exporter's Fly machines source
    (exporter/platform/fly_machines.py, imported at the first such probe's run)."""
    directory: Callable[[Any], tuple[str, ...] | None] | None = None

    def source() -> Any:
        for s in runtime.sources:
            if s.name == "fly":
                real = getattr(s, "source", s)  # a deferred source: the real one, once built
                return real if hasattr(real, "started") else None
        return None

    def lookup(probe: Any) -> tuple[str, ...] | None:
        nonlocal directory
        if directory is None:
            from exporter.platform.fly_machines import MachineDirectory

            directory = MachineDirectory(lambda: runtime.config, source)
        return directory(probe)

    return lookup


def make_app(runtime: Runtime, security: WebSecurity | None = None) -> web.Application:
    """The app; ``security`` (basic auth, read timeout) guards every route, those the sources
    add included. Request bodies read whole are capped at 64 KiB; the endpoints that stream a
    larger body (log ingest) enforce their own configured limit."""
    app = web.Application(client_max_size=64 * 1024)
    app[RUNTIME] = runtime
    (security or WebSecurity()).install(app)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        session = new_session()
        ctx = ProbeContext(
            session=session,
            secrets=SecretSource(runtime.redactor),
            redactor=runtime.redactor,
            machines=_machine_directory(runtime),
        )
        runtime.scheduler = Scheduler(ctx, runtime.config.exporter.max_concurrent_probes)
        yield
        await runtime.scheduler.close()
        runtime.scheduler = None
        await session.close()

    app.cleanup_ctx.append(resources)

    # Sources are made now (their routes must exist before the app starts) and started with it.
    runtime.sources = [
        factory(runtime.config, runtime.redactor)
        for name, factory in source_factories().items()
        if runtime.shard.runs_source(name)
    ]
    for source in runtime.sources:
        app.router.add_routes(source.routes())

    async def run_sources(app: web.Application) -> AsyncIterator[None]:
        started: list[Source] = []
        try:
            for source in runtime.sources:
                await source.start()
                started.append(source)
            yield
        finally:
            for source in reversed(started):
                await source.close()

    app.cleanup_ctx.append(run_sources)
    app.router.add_get("/", handle_index)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/probe", handle_probe)
    app.router.add_get("/-/healthy", handle_healthy)
    app.router.add_get("/-/ready", handle_ready)
    app.router.add_post("/-/reload", handle_reload)
    app.router.add_routes(status.routes(runtime))
    return app


def initial_runtime(config_path: str | Path | None, shard: Shard = UNSHARDED) -> Runtime:
    """Load the config for start-up; a bad config raises ConfigError (the process exits).
    ``shard``: keep only that share of the services (exporter/shard.py)."""
    path = str(config_path) if config_path is not None else None
    config, name = load_config(path)
    config = shard.apply(config)
    probes.prepare(config)
    record_config(config, shard)
    return Runtime(config_path=path, config=config, config_name=name, shard=shard)
