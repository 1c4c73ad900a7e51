"""Sources: the parts of redline that measure something other than a probe (the database, the
host, logs, ...). Each is built once when the app is made, started and closed with it, told of
every config reload, and asked for its metric families at every scrape, concurrently with the
probes and under the same deadline.

The registry is explicit: one line per source in :data:`SOURCES`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

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


def source_factories() -> dict[str, SourceFactory]:
    """Every source kind, by name. Imported lazily so a source's dependencies load only here."""
    from exporter.backups.source import BackupSource
    from exporter.heartbeats.source import HeartbeatSource
    from exporter.host.source import HostSource
    from exporter.launch.source import LaunchSource
    from exporter.logs.source import LogsSource
    from exporter.platform.fly_machines import FlyMachinesSource
    from exporter.postgres.source import PostgresSource
    from exporter.vendors.source import VendorSource

    return {
        "host": HostSource,
        "logs": LogsSource,
        "postgres": PostgresSource,
        "vendors": VendorSource,
        "backups": BackupSource,
        "heartbeats": HeartbeatSource,
        "launch": LaunchSource,
        "fly": FlyMachinesSource,
    }
