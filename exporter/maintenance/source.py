"""The maintenance source: ``redline_maintenance_window`` (1 while a window of the config's
``maintenance:`` covers a service or database) and each window's current or next occurrence.
Computed from the config and the clock; no I/O."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.config import Config
from exporter.families import Families
from exporter.secrets import Redactor
from exporter.sources import Source


class MaintenanceSource(Source):
    name = "maintenance"

    def __init__(
        self, config: Config, redactor: Redactor, *, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(config, redactor)
        self.clock = clock

    async def collect(self, deadline: float) -> list[Family]:
        now = self.clock()
        out = Families()
        for window in self.config.maintenance:
            occurrence = window.current_or_next(now)
            inside = occurrence is not None and occurrence[0] <= now < occurrence[1]
            for name in window.services:
                if self.config.maintained(name) == "database":
                    labels = {"service": "database", "database": name}
                else:
                    labels = {"service": name, "database": ""}
                out.set(m.MAINTENANCE_WINDOW, 1.0 if inside else 0.0, window=window.name, **labels)
            if occurrence is not None:
                out.set(m.MAINTENANCE_WINDOW_START, occurrence[0], window=window.name)
                out.set(m.MAINTENANCE_WINDOW_END, occurrence[1], window=window.name)
        return out.families()
