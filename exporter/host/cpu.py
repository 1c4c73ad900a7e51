"""CPU time per CPU and mode, and the load averages.

/proc/stat is read directly rather than through psutil.cpu_times(percpu=True): psutil numbers
the CPUs by their position in the file, which mislabels them when a CPU is offline (cpu0, cpu2
would become 0, 1); node_exporter uses the kernel's number, and so does this.
"""

from __future__ import annotations

import os

from prometheus_client.metrics_core import Metric as Family

from exporter import metrics as m
from exporter.host.common import CLOCK_TICKS, PROC, Families, read_bytes
from exporter.host.config import HostConfig

# The columns of a "cpuN" line of /proc/stat, in order (proc(5)).
MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
GUEST_MODES = ("user", "nice")  # columns 9 and 10: guest, guest_nice
# node_exporter's rule: idle going back by more than this means the CPU was unplugged and
# plugged again (its counters restarted), so the new values are taken as they are.
JUMP_BACK_SECONDS = 3.0


class CpuCollector:
    """Keeps the last values it reported: the kernel's iowait (and, rarely, other columns) can
    go back a little between reads, which Prometheus would take for a counter reset and turn
    into a huge rate; like node_exporter, a small step back repeats the previous value."""

    def __init__(self) -> None:
        self._last: dict[str, list[float]] = {}

    def __call__(self, config: HostConfig) -> list[Family]:
        out = Families()
        seen: dict[str, list[float]] = {}
        for line in read_bytes(f"{PROC}/stat").splitlines():
            if not line.startswith(b"cpu") or line.startswith(b"cpu "):
                continue
            fields = line.split()
            cpu = fields[0][3:].decode("ascii", "replace")
            ticks = [int(v) / CLOCK_TICKS for v in fields[1:11]]
            ticks += [0.0] * (10 - len(ticks))  # old kernels lack steal/guest columns
            values = self._monotonic(cpu, ticks)
            seen[cpu] = values
            for mode, value in zip(MODES, values[:8], strict=True):
                out.values(m.NODE_CPU_SECONDS, value, cpu, mode)
            for mode, value in zip(GUEST_MODES, values[8:10], strict=True):
                out.values(m.NODE_CPU_GUEST_SECONDS, value, cpu, mode)
        self._last = seen  # forget CPUs that went offline
        load1, load5, load15 = os.getloadavg()
        out.values(m.NODE_LOAD1, load1)
        out.values(m.NODE_LOAD5, load5)
        out.values(m.NODE_LOAD15, load15)
        return out.families()

    def _monotonic(self, cpu: str, new: list[float]) -> list[float]:
        old = self._last.get(cpu)
        if old is None or old[3] - new[3] > JUMP_BACK_SECONDS:
            return new
        return [max(a, b) for a, b in zip(old, new, strict=True)]
