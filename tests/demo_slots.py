"""The demo stacks of the suite's drill modules (tests/conftest.py): which port offsets they
use, the machine-wide lock of each, and how a module's process is moved to its offset.

exporter/demo/layout.py reads ``REDLINE_DEMO_PORT_OFFSET`` once, when imported, and the demo's
modules keep values derived from it (ports, the state directory). A drill module runs in an
xdist worker that also runs other modules, so its offset is set for the module only: the
environment (which the stack's processes inherit) and a reload of those modules, and back
afterwards.
"""

from __future__ import annotations

import fcntl
import importlib
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO

# How many demo stacks one machine may run for test suites at once (each a few processes,
# mostly idle); each has its own port offset, state directory and lock.
DEMO_SLOTS = 12
# The demo modules whose module-level values come from the port offset (exporter/demo/layout.py
# reads it once), in the order they import each other's values; reloaded when a test module
# moves the demo to its own offset, and back afterwards.
DEMO_MODULES = ("layout", "database", "standins", "run", "faults", "drills")


def demo_lock(offset: int) -> Path:
    """The machine-wide lock of the demo at ``offset``: whoever holds it owns that offset's
    ports (``/tmp/redline-demo.lock`` for the base ports, as before offsets existed)."""
    return Path("/tmp/redline-demo.lock" if not offset else f"/tmp/redline-demo-{offset}.lock")


def demo_offsets(count: int = DEMO_SLOTS) -> list[int]:
    """The offsets a suite's demo stacks use: never 0 (a user's ``make demo``), and no two
    whose ports meet (an offset apart by the distance between two base ports would put one
    stack's port on another's), all below the ephemeral range (32768: free_ports() and the
    kernel's outgoing connections live there). The same list in every checkout."""
    from exporter.demo import layout

    bases = sorted(set(layout._BASE_PORTS))
    clash = {abs(a - b) for a in bases for b in bases}
    out: list[int] = []
    offset = 1000
    while len(out) < count:
        if all(abs(offset - o) not in clash for o in (0, *out)):
            out.append(offset)
        offset += 10
    assert max(bases) + out[-1] < 32768, out
    return out


def ports_free(offset: int) -> bool:
    """No process listens on a port of the demo at ``offset`` (a ``make demo`` started there by
    hand holds no lock)."""
    from exporter.demo import layout

    for base in set(layout._BASE_PORTS):
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((layout.HOST, base + offset)) == 0:
                return False
    return True


class NoFreeOffset(Exception):
    """Every offset stayed taken for as long as the caller would wait."""


def take_free_offset(wait: float) -> tuple[int, IO[str]]:
    """The first offset of :func:`demo_offsets` whose lock is free and whose ports are free,
    with its lock held (the open file: closing it releases the lock); waits up to ``wait``
    seconds while every one is taken."""
    deadline = time.monotonic() + wait
    while True:
        for offset in demo_offsets():
            path = demo_lock(offset)
            f = path.open("a")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                continue
            if ports_free(offset):
                return offset, f
            f.close()  # closing it releases the lock
        if time.monotonic() > deadline:
            raise NoFreeOffset(
                f"every demo offset of the suite ({DEMO_SLOTS}) stayed taken (locked or its "
                f"ports in use) for {wait:.0f}s: see /tmp/redline-demo-*.lock"
            )
        time.sleep(5)


def move_demo(offset: str | None) -> None:
    """Set ``REDLINE_DEMO_PORT_OFFSET`` (None: unset) for this process and what it starts, and
    reload the demo's modules so their ports and paths follow."""
    from exporter.demo import layout

    if offset is None:
        os.environ.pop(layout.OFFSET_VARIABLE, None)
    else:
        os.environ[layout.OFFSET_VARIABLE] = offset
    for name in DEMO_MODULES:
        module = sys.modules.get(f"exporter.demo.{name}")
        if module is not None:
            importlib.reload(module)
