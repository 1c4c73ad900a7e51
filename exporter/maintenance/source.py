"""The maintenance source: ``redline_maintenance_window`` (1 while a window of the config's
``maintenance:`` covers a service or database) and each window's current or next occurrence.
Computed from the config and the clock; no I/O."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.families import Families
from exporter.sources import ClockedSource


class MaintenanceSource(ClockedSource):
    name = "maintenance"

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
