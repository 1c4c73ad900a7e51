"""The event loop redline runs on: uvloop when it is importable, asyncio's own otherwise.

uvloop (libuv under the asyncio API, maintained by the MagicStack authors of asyncpg) does the
socket work of a probe for less CPU than asyncio's selector loop: on the bench's 1,000
fresh-connection GETs a bare aiohttp client spent about a quarter less CPU per GET on it
(docs/performance.md), and an exporter whose probes are mostly loop work gains the same. It is a
pinned dependency (pyproject.toml, constraints.txt); a platform without a wheel for it (it has
none for Windows), or an install that left it out, falls back to asyncio with the same
behaviour, only slower.

``REDLINE_EVENT_LOOP=asyncio`` in the environment forces asyncio's loop (to compare the two, or
to rule uvloop out when chasing a problem).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
ENV = "REDLINE_EVENT_LOOP"


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's default loop."""
    if os.environ.get(ENV, "").strip().lower() == "asyncio":
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
