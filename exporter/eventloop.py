"""The event loop redline runs on: asyncio's own, or uvloop when ``REDLINE_EVENT_LOOP=uvloop``.

uvloop (libuv under the asyncio API, maintained by the MagicStack authors of asyncpg) does the
socket work of a probe for less CPU than asyncio's selector loop: on the bench's 1,000
fresh-connection GETs a bare aiohttp client spent about a quarter less CPU per GET on it
(docs/performance.md). It is pinned (pyproject.toml, constraints.txt) but not the default: with
it as the default, the restore tests failed in production use (uvloop refuses asyncio's
``process_group``; fixed), and tests/test_websecurity.py run whole on it fails every time (three
runs of three, uvloop 0.23.0, aiohttp 3.14.5): after the client-certificate test's refused
handshakes, its next connection fails with ``OSError: [Errno 9] Bad file descriptor`` in
uvloop's ``create_connection``, the error of aiohttp's open issue #10506, which waits on a
uvloop fix (MagicStack/uvloop#646). A probe exporter's TLS handshakes fail as a matter of course
(an expired certificate is what it is there to see), so a loop on which a failed handshake can
break the next connection is not the default: asyncio's loop is the one the suite proves;
uvloop is an opt-in for operators who measure it, and ``redline run`` says so in its log when
it runs on it. Asked for and not importable, it falls back to asyncio.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
ENV = "REDLINE_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when asked for and importable, else None (asyncio's loop)."""
    if os.environ.get(ENV, "").strip().lower() != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def name() -> str:
    """The loop :func:`run` uses: ``uvloop`` or ``asyncio``."""
    return "asyncio" if loop_factory() is None else "uvloop"


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop :func:`loop_factory` picks."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
