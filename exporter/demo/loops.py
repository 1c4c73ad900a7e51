"""What the demo's background loops share (the shop's workload, the operator's traffic): a stop
event set by SIGTERM or SIGINT (make demo-stop), and a pause that ends early when it is set."""

from __future__ import annotations

import asyncio
import contextlib
import signal

MAX_PAUSE = 5.0  # seconds: the longest single pause, so a stop is never waited for longer


def stop_on_signals() -> asyncio.Event:
    """An event the running loop sets on SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds`` (MAX_PAUSE at most), or until ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), min(seconds, MAX_PAUSE))
