"""Sources: the parts of redline that measure something other than a probe (the database, the
host, logs, ...). Each is built once when the app is made, started and closed with it, told of
every config reload, and asked for its metric families at every scrape, concurrently with the
probes and under the same deadline.

The registry is explicit: one line per source in :data:`SOURCES`, naming the class by its
module path, so that ``redline run`` imports only the sources it builds. A source whose section
is often empty is :class:`Deferred` (:data:`DEFERRED`): its module is imported only once the
config has a section for it (at start or at a later reload), so an exporter without a database
never loads asyncpg, one without vendors, backups, maintenance windows or Fly never loads their
clients and parsers (docs/performance.md, memory).
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from importlib import import_module

from aiohttp import web
from prometheus_client.metrics_core import Metric as Family

from exporter.config import Config
from exporter.secrets import Redactor


class Source(abc.ABC):
    """One area of measurement. ``collect`` must honour ``deadline`` (a ``loop.time()``) and
    should return what it has rather than raise; the app still guards it (a source that raises
    or runs late is reported by ``redline_source_up`` and the scrape goes on)."""

    name: str = ""

    def __init__(self, config: Config, redactor: Redactor) -> None:
        self.config = config
        self.redactor = redactor

    @property
    def enabled(self) -> bool:
        """False when the config turns this source off: it then reports nothing, not even
        ``redline_source_up`` (a 1 would claim an area is measured that is not)."""
        return True

    def routes(self) -> list[web.RouteDef]:
        """HTTP endpoints this source serves on the exporter (e.g. log ingest)."""
        return []

    async def start(self) -> None:
        """Start background work (tailing, pools). Called once, when the app starts."""
        return None

    async def reload(self, config: Config) -> None:
        """Adopt a new, already validated config. State that must survive reloads (counters
        fed by streams) is kept."""
        self.config = config

    @abc.abstractmethod
    async def collect(self, deadline: float) -> list[Family]:
        """The families of one scrape."""

    async def close(self) -> None:
        """Stop background work and release resources."""
        return None


class ClockedSource(Source):
    """A source that tells the time by ``clock`` (Unix seconds, :func:`time.time` unless a test
    sets it): what it reports depends on the wall clock (a window open now, a heartbeat late)."""

    def __init__(
        self, config: Config, redactor: Redactor, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(config, redactor)
        self.clock = clock


SourceFactory = Callable[[Config, Redactor], Source]


class Deferred(Source):
    """Stands for the source ``cls`` of ``module`` until ``needed(config)`` first holds, then
    builds and starts it and hands every call to it. Before that it collects nothing, as the
    source itself would with its section empty. Only for sources that serve no routes (routes
    are fixed when the app is made)."""

    def __init__(
        self,
        config: Config,
        redactor: Redactor,
        *,
        name: str,
        module: str,
        cls: str,
        needed: Callable[[Config], bool],
    ) -> None:
        super().__init__(config, redactor)
        self.name = name
        self._where = (module, cls)
        self._needed = needed
        self._started = False
        self.source: Source | None = None  # the real one, once needed

    def _build(self, config: Config) -> Source:
        module, cls = self._where
        self.source = getattr(import_module(module), cls)(config, self.redactor)
        return self.source

    async def start(self) -> None:
        self._started = True
        if self._needed(self.config):
            await self._build(self.config).start()

    async def reload(self, config: Config) -> None:
        self.config = config
        if self.source is not None:
            await self.source.reload(config)
        elif self._needed(config):
            source = self._build(config)
            if self._started:
                await source.start()

    async def collect(self, deadline: float) -> list[Family]:
        return [] if self.source is None else await self.source.collect(deadline)

    async def close(self) -> None:
        if self.source is not None:
            await self.source.close()


def deferred(
    name: str, where: str, needed: Callable[[Config], bool]
) -> Callable[[Config, Redactor], Source]:
    """A factory of :class:`Deferred` for the source at ``where`` (``module:Class``)."""
    module, cls = where.split(":")

    def make(config: Config, redactor: Redactor) -> Source:
        return Deferred(config, redactor, name=name, module=module, cls=cls, needed=needed)

    return make


def _eager(where: str) -> SourceFactory:
    module, cls = where.split(":")
    factory: SourceFactory = getattr(import_module(module), cls)
    return factory


# Every source, by name: ``module:Class``.
SOURCES: dict[str, str] = {
    "host": "exporter.host.source:HostSource",
    "logs": "exporter.logs.source:LogsSource",
    "postgres": "exporter.postgres.source:PostgresSource",
    "vendors": "exporter.vendors.source:VendorSource",
    "backups": "exporter.backups.source:BackupSource",
    "heartbeats": "exporter.heartbeats.source:HeartbeatSource",
    "launch": "exporter.launch.source:LaunchSource",
    "maintenance": "exporter.maintenance.source:MaintenanceSource",
    "fly": "exporter.platform.fly_machines:FlyMachinesSource",
}

# The sources built only once the config has their section, by what says so. Each reports
# nothing while its section is empty (tests/test_lazy_imports.py holds each to it), so standing
# for it changes no scrape. Not here: sources that serve routes (logs ingest, heartbeat pings:
# routes are fixed when the app is made), and those that report without a section (host is on
# by default; launch says "no launch window" as a 0).
DEFERRED: dict[str, Callable[[Config], bool]] = {
    "postgres": lambda c: bool(c.databases),  # asyncpg
    "vendors": lambda c: c.vendors != type(c.vendors)(),  # feeds or API checks
    "backups": lambda c: c.backups != type(c.backups)(),  # files, Supabase or restore tests
    "maintenance": lambda c: bool(c.maintenance),
    "fly": lambda c: c.platform.fly is not None,
}


def source_factories() -> dict[str, SourceFactory]:
    """Every source kind, by name; the modules of those not deferred are imported here."""
    return {
        name: deferred(name, where, DEFERRED[name]) if name in DEFERRED else _eager(where)
        for name, where in SOURCES.items()
    }


def find(sources: list[Source], name: str) -> Source | None:
    """The source called ``name`` among ``sources``, the real one behind a :class:`Deferred`;
    None when absent or not built yet."""
    for source in sources:
        if source.name == name:
            return source.source if isinstance(source, Deferred) else source
    return None
