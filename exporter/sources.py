"""Sources: the parts of redline that measure something other than a probe (the database, the
host, logs, ...). Each is built once when the app is made, started and closed with it, told of
every config reload, and asked for its metric families at every scrape, concurrently with the
probes and under the same deadline.

The registry is explicit: one line per source in :func:`source_factories`. A source whose
dependencies are heavy and often unused is :class:`Deferred`: its module is imported only once
the config has a section for it (at start or at a later reload), so an exporter without a
database never loads asyncpg.
"""

from __future__ import annotations

import abc
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


def source_factories() -> dict[str, SourceFactory]:
    """Every source kind, by name. Imported lazily so a source's dependencies load only here."""
    from exporter.backups.source import BackupSource
    from exporter.heartbeats.source import HeartbeatSource
    from exporter.host.source import HostSource
    from exporter.launch.source import LaunchSource
    from exporter.logs.source import LogsSource
    from exporter.maintenance.source import MaintenanceSource
    from exporter.platform.fly_machines import FlyMachinesSource
    from exporter.vendors.source import VendorSource

    return {
        "host": HostSource,
        "logs": LogsSource,
        # asyncpg (about 3 MB resident) only once a database is configured
        "postgres": deferred(
            "postgres", "exporter.postgres.source:PostgresSource", lambda c: bool(c.databases)
        ),
        "vendors": VendorSource,
        "backups": BackupSource,
        "heartbeats": HeartbeatSource,
        "launch": LaunchSource,
        "maintenance": MaintenanceSource,
        "fly": FlyMachinesSource,
    }
