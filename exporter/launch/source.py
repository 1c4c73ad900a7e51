"""The launch source: ``redline_launch_window`` (1 inside the configured window) and the window's
bounds, so rules can be stricter during the launch (``... and on() redline_launch_window == 1``)
and a dashboard can count down to it. Computed from the config and the clock; no I/O.
"""

from __future__ import annotations

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.families import Families
from exporter.sources import ClockedSource


class LaunchSource(ClockedSource):
    name = "launch"

    async def collect(self, deadline: float) -> list[Family]:
        out = Families()
        if self.config.launch is None:
            # no launch planned: never inside one, and no bounds to count down to
            out.set(m.LAUNCH_WINDOW, 0.0)
            return out.families()
        start, end = self.config.launch.bounds()
        out.set(m.LAUNCH_WINDOW, 1.0 if start <= self.clock() < end else 0.0)
        out.set(m.LAUNCH_WINDOW_START, start)
        out.set(m.LAUNCH_WINDOW_END, end)
        return out.families()
