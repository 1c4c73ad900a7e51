"""Shared fixtures: a probe context as the exporter builds it, and loopback servers; and how the
suite runs in parallel (pytest-xdist, ``--dist loadfile``: each module in one worker, so a
module-scoped fixture is built once and a module's tests keep their order):

- modules marked ``demo`` start a demo stack (exporter/demo/): they are scheduled first, and
  each runs its stack at a port offset of its own (its ports, its ``.demo-<offset>/`` state),
  holding that offset's machine-wide lock (tests/demo_slots.py) while it runs, so the demo
  modules of a suite run side by side, and next to another checkout's suite;
- modules marked ``last`` (the soak, whose scrapes have a 2 s deadline) are scheduled last;
- a module that leaves an asyncio or aiohttp object unclosed fails at its end
  (:func:`loop_leftovers`), not a later module's test the garbage collector happens to run in;
- what a marker expression left out (``make check``: ``-m "not demo and not slow"``) is listed at
  the end, by marker and file, so nothing is left out silently.

(``--dist loadgroup`` with ``xdist_group`` marks would say the same per test, but pytest-xdist
3.8 marks a group by rewriting ``item._nodeid``, which pytest 9.2 no longer reads: the groups are
silently ignored there.)
"""

from __future__ import annotations

import asyncio
import fcntl
import gc
import os
import signal
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter import eventloop
from exporter.probes.base import ProbeContext, new_session
from exporter.secrets import Redactor, SecretSource
from tests import demo_slots


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Async tests run on the loop `redline run` runs on (uvloop when importable,
    exporter/eventloop.py), so an API the production loop lacks fails here, not in the demo
    (uvloop refuses asyncio's ``process_group``, and the restore tests never saw it)."""
    factory = eventloop.loop_factory()
    return {eventloop.name(): factory or asyncio.new_event_loop}


@pytest.fixture
async def probe_ctx() -> AsyncIterator[ProbeContext]:
    redactor = Redactor()
    session = new_session()
    try:
        yield ProbeContext(session=session, secrets=SecretSource(redactor), redactor=redactor)
    finally:
        await session.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    """``await serve(app, ssl_context=None)`` starts an aiohttp app on 127.0.0.1 and returns
    its base URL; every server is stopped at the end of the test."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, ssl_context: Any = None) -> str:
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        scheme = "https" if ssl_context else "http"
        return f"{scheme}://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


StreamHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def stream_server() -> AsyncIterator[Callable[..., Awaitable[int]]]:
    """``await stream_server(handler, ssl=None, host="127.0.0.1")`` starts a plain asyncio TCP
    server and returns its port. Each connection it accepted is closed when its handler returns,
    raises or is cancelled, and each server when the test ends: Python 3.11's ``Server.close()``
    leaves accepted connections open, and a writer left open outlives the test's event loop
    (see :func:`loop_leftovers`)."""
    servers: list[asyncio.Server] = []
    writers: set[asyncio.StreamWriter] = set()

    async def start(
        handler: StreamHandler, ssl: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> int:
        async def closing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.add(writer)
            try:
                await handler(reader, writer)
            finally:
                writer.close()
                writers.discard(writer)

        server = await asyncio.start_server(closing, host, 0, ssl=ssl)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for writer in writers:  # handlers still waiting (on a peer that never hangs up)
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


# --- what a module leaves behind ------------------------------------------------------------------

# ResourceWarnings of asyncio and aiohttp objects that were never closed: found by the garbage
# collector, they are reported during whatever test runs then, and fail one that asserts its own
# objects were closed (tests/test_probe_tcp.py), far from the module that leaked them.
LEFTOVER_WARNINGS = (
    "loop is closed",  # a StreamWriter still open after its event loop closed
    "unclosed transport",
    "unclosed <StreamWriter",
    "unclosed event loop",
    "Unclosed client session",
    "Unclosed connector",
)


def loop_leftovers() -> list[str]:
    """The ResourceWarnings of :data:`LEFTOVER_WARNINGS` a full collection gives now."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, ResourceWarning) and str(w.message).startswith(LEFTOVER_WARNINGS)
    ]


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection made lives for the whole run: frozen, the collections below (and the
    collector's own) do not walk it again (each took about 0.18 s instead of 1 ms)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="module", autouse=True)
def _no_loop_leftovers() -> Iterator[None]:
    """A module leaves no unclosed asyncio or aiohttp object behind: the leak is reported at
    the module that made it, not at a later test the garbage collector happens to run in."""
    yield
    left = loop_leftovers()
    if left:
        pytest.fail(f"unclosed asyncio/aiohttp objects left after the module: {left}")


# --- parallel runs --------------------------------------------------------------------------------

DEMO_LOCK_WAIT = 1800.0  # seconds: another suite's demo tests take a few minutes


# The non-demo modules that took longest in make test (--durations, December 2026: a promtool
# run of about three minutes, the HA pair's paging chain, remote write's VictoriaMetrics chain),
# then the longest of make check's (real PostgreSQL, Prometheus and promtool runs, 15-40 s each),
# longest first. Only an order: a module missing here is scheduled with the others, and started
# early a long module does not run on alone at the end of the run.
LONGEST = (
    *("test_rules_promtool.py", "test_ha_pair.py", "test_remote_write.py"),
    *("test_backups_restore.py", "test_add_a_service.py", "test_websecurity.py"),
    *("test_compose_backups.py", "test_postgres_faults.py", "test_rules_generate.py"),
    *("test_rules_alertmanager.py", "test_ops_baseline.py", "test_ops_victoriametrics.py"),
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The demo's tests first: they are the longest chains (mostly waiting on their stacks), so
    they start at once while the other workers take everything else. The ``last`` ones at the
    end: handed to a worker when the others' work is done, so they have the cores nearly alone."""
    # Then the longest modules (LONGEST), then the others holding a test marked slow: started
    # early, they run while the drills do, instead of being handed out in file order near the
    # end and running on alone.
    slow = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST.index(name) if name in LONGEST else len(LONGEST) + (item.path not in slow)

    items.sort(
        key=lambda item: (
            item.get_closest_marker("demo") is None,
            item.get_closest_marker("last") is not None,
            rank(item),
        )
    )


DRILL_MODULE = "test_drills"  # tests/test_drills*.py: the modules marked demo (Makefile: unit)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile``, except that no module is queued behind a drill module while it has
    more than its last test to run. xdist queues a second module on a worker whose module has
    two tests or fewer left, and a drill takes two minutes or more: the queued module would wait
    there while the other workers run out of work. (At its last test, a worker must be given its
    next module, or shut down: xdist runs a test once it knows the one after it.)"""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class DrillsAlone(LoadFileScheduling):
        def _reschedule(self, node: Any) -> None:
            drilling = sum(
                list(tests.values()).count(False)
                for scope, tests in self.assigned_work[node].items()
                if Path(scope).name.startswith(DRILL_MODULE)
            )
            if drilling > 1:
                return
            super()._reschedule(node)

    return DrillsAlone(config, log)


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the command's name
    return pids


def _held_by_an_ancestor(path: Path) -> bool:
    """True when a process above this one (``flock /tmp/redline-demo.lock make test``) holds
    the lock on ``path``: taking it again here would wait for ourselves."""
    try:
        st = path.stat()
        locks = Path("/proc/locks").read_text()
    except OSError:
        return False
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    ancestors = _ancestors()
    for line in locks.splitlines():
        fields = line.split()
        if "->" in fields:  # a waiter, not a holder
            continue
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode:
            return int(fields[4]) in ancestors
    return False


def _wait_for_lock(f: Any, path: Path) -> None:
    """A blocking wait queues behind the other waiters (polling would let them pass first); the
    alarm bounds it."""

    def waited_too_long(signum: int, frame: object) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, waited_too_long)
    signal.alarm(int(DEMO_LOCK_WAIT))
    try:
        fcntl.flock(f, fcntl.LOCK_EX)
    except TimeoutError:
        pytest.fail(f"{path} still held by another suite after {DEMO_LOCK_WAIT:.0f}s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module", autouse=True)
def _demo_lock(request: pytest.FixtureRequest) -> Iterator[None]:
    """A module marked ``demo`` (``pytestmark``) runs its demo stack at a port offset of its own
    and holds that offset's machine-wide lock while it runs, taken before its own module
    fixtures start anything (see the module's doc). So the demo modules of one suite run side
    by side in their workers, next to other checkouts' suites, and never on the base ports of a
    ``make demo`` running on the machine. With ``REDLINE_DEMO_PORT_OFFSET`` set, every demo
    module uses that offset, one after the other."""
    from exporter.demo import layout

    if not request.node.get_closest_marker("demo"):
        yield
        return
    if layout.OFFSET_VARIABLE in os.environ:  # the user's offset: queue for its lock
        path = demo_slots.demo_lock(layout.OFFSET)
        if _held_by_an_ancestor(path):
            yield
            return
        with path.open("a") as f:
            _wait_for_lock(f, path)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        return
    try:
        offset, f = demo_slots.take_free_offset(DEMO_LOCK_WAIT)
    except demo_slots.NoFreeOffset as e:
        pytest.fail(str(e))
    try:
        demo_slots.move_demo(str(offset))
        try:
            yield
        finally:
            demo_slots.move_demo(None)
    finally:
        f.close()


# --- what a marker expression left out -----------------------------------------------------------

LEFT_OUT_MARKERS = ("demo", "slow")
_left_out: dict[str, set[str]] = {}  # why -> the node ids left out for it


def pytest_deselected(items: list[pytest.Item]) -> None:
    for item in items:
        why = [m for m in LEFT_OUT_MARKERS if item.get_closest_marker(m)]
        key = f"marked {', '.join(why)} (make test runs them)" if why else "deselected (-k, -m)"
        _left_out.setdefault(key, set()).add(item.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # an xdist worker hands its list to the controller, which prints it
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["left_out"] = {k: sorted(v) for k, v in _left_out.items()}


def pytest_testnodedown(node: Any, error: object) -> None:
    for why, ids in getattr(node, "workeroutput", {}).get("left_out", {}).items():
        _left_out.setdefault(why, set()).update(ids)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _left_out:
        return
    total = len(set().union(*_left_out.values()))
    terminalreporter.section(f"left out: {total} tests")
    for why, ids in sorted(_left_out.items()):
        files: dict[str, int] = {}
        for nodeid in ids:
            path = nodeid.split("::")[0]
            files[path] = files.get(path, 0) + 1
        listed = ", ".join(f"{path} ({n})" for path, n in sorted(files.items()))
        terminalreporter.write_line(f"{why}: {listed}")
