"""Child processes of the bench: start, wait until ready, read CPU and memory, stop.

Every child is stopped when the bench ends, however it ends: :class:`Children` is a context
manager that stops them all on exit (error and ctrl-C included), and each child is also told by
the kernel to die with the bench (PR_SET_PDEATHSIG) in case the bench itself is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

STOP_TIMEOUT = 10.0  # seconds a child gets to exit after SIGTERM before SIGKILL
LOG_TAIL_BYTES = 3000


class HarnessError(Exception):
    """The bench itself failed (a child did not start, a port did not answer...)."""


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL when the parent dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def process(self) -> psutil.Process:
        return psutil.Process(self.popen.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU of the process, its threads, and its waited-for children."""
        self.check_alive()
        t = self.process.cpu_times()
        return t.user + t.system + t.children_user + t.children_system

    def rss_bytes(self) -> int:
        self.check_alive()
        return int(self.process.memory_info().rss)

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise HarnessError(
                f"{self.name} exited with code {self.popen.returncode}\n{self.log_tail()}"
            )

    def log_tail(self) -> str:
        try:
            data = self.log.read_bytes()[-LOG_TAIL_BYTES:]
        except OSError:
            return f"(no log at {self.log})"
        text = data.decode("utf-8", "replace")
        return f"--- last lines of {self.log.name} ---\n{text}"


class Children:
    """Starts children with their output in ``log_dir``; stops them all on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[Child] = []

    def start(
        self, name: str, argv: list[str], cwd: Path | None = None, *, pipes: bool = False
    ) -> Child:
        """``pipes``: the child's standard input and output are pipes to talk to it through
        (``popen.stdin``, ``popen.stdout``), and only its standard error goes to the log."""
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
                stdout=subprocess.PIPE if pipes else out,
                stderr=out if pipes else subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        child = Child(name, popen, log)
        self.running.append(child)
        return child

    def stop(self, child: Child) -> None:
        if child in self.running:
            self.running.remove(child)
        if child.popen.poll() is None:
            child.popen.send_signal(signal.SIGTERM)
            try:
                child.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait(STOP_TIMEOUT)
        # A child started with pipes: their descriptors go with it rather than with the garbage
        # collector. A request left in stdin's buffer has no reader any more: its flush fails.
        for pipe in (child.popen.stdin, child.popen.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def stop_all(self) -> None:
        for child in reversed(list(self.running)):
            self.stop(child)

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, child: Child | None = None
) -> None:
    """Poll ``check()`` every 0.1 s until true; fail after ``timeout`` s, or at once if
    ``child`` died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None:
            child.check_alive()
        if check():
            return
        time.sleep(0.1)
    tail = f"\n{child.log_tail()}" if child is not None else ""
    raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")


def _machine_busy() -> float:
    """CPU seconds all processes of the machine spent so far (user, nice, system)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system)


def _label(name: str, cmdline: list[str] | None) -> str:
    """A short name a reader recognises: ``python -m pytest`` rather than ``python``."""
    words = [os.path.basename(w) for w in (cmdline or [])[:3] if w] or [name]
    return " ".join(words)[:40]


def _per_process() -> dict[int, tuple[str, float, float]]:
    """pid -> (label, CPU seconds, CPU seconds of its waited-for children) of every process
    that can be read now."""
    out = {}
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        t = p.info["cpu_times"]
        if t is not None:
            label = _label(p.info["name"], p.info["cmdline"])
            out[p.pid] = (label, t.user + t.system, t.children_user + t.children_system)
    return out


def _tree(pid: int) -> set[int]:
    """``pid`` and its descendants alive now."""
    try:
        return {pid} | {c.pid for c in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


class OtherLoad:
    """How many cores other processes (tests someone runs, a build...) used while the bench
    measured: on a 2-core machine they change both wall times and CPU per probe, so the report
    warns when they were busy, naming the busiest. ``with OtherLoad() as load: ...`` then
    ``load.cores`` and ``load.busiest``.

    The bench's own processes are the bench itself and its descendants (their waited-for
    children included, so a child that came and went within the measurement is the bench's
    too), plus the trees of ``roots()`` (pids of servers that left the bench's tree, such as
    a PostgreSQL that pg_ctl started). Interrupt and softirq time (loopback traffic) is left
    out on both sides."""

    def __init__(self, roots: Callable[[], list[int]] | None = None) -> None:
        self.roots = roots or (lambda: [])
        self.cores = 0.0
        self.busiest: list[tuple[str, float]] = []  # (name, cores), at most 3

    def _own_pids(self) -> set[int]:
        own = _tree(os.getpid())
        for root in self.roots():
            own |= _tree(root)
        return own

    def __enter__(self) -> OtherLoad:
        self._own_before = self._own_pids()
        self._start = (time.monotonic(), _machine_busy(), _per_process())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, busy, before = self._start
        elapsed = time.monotonic() - wall
        after = _per_process()
        own = self._own_before | self._own_pids()
        own_cpu = 0.0
        ranked = []
        for pid, (name, cpu, waited) in after.items():
            _, cpu0, waited0 = before.get(pid, (name, 0.0, 0.0))
            if pid in own:
                own_cpu += (cpu - cpu0) + (waited - waited0)
            else:
                ranked.append((name, (cpu - cpu0) / elapsed if elapsed > 0 else 0.0))
        if elapsed <= 0:
            return
        others = (_machine_busy() - busy) - own_cpu
        self.cores = max(0.0, others / elapsed)
        ranked.sort(key=lambda x: -x[1])
        self.busiest = [(name, cores) for name, cores in ranked[:3] if cores >= 0.01]
