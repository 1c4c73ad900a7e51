"""tests/conftest.py's check that a module leaves no unclosed asyncio object behind: it finds a
stream left open past its event loop (what failed tests/test_probe_tcp.py when it ran after
tests/test_exporter.py), and nothing once the stream is closed."""

from __future__ import annotations

import asyncio
import socket

from tests.conftest import loop_leftovers


def _stream_on_a_loop(close_it: bool) -> None:
    loop = asyncio.new_event_loop()
    a, b = socket.socketpair()
    try:

        async def open_stream() -> None:
            _, writer = await asyncio.open_connection(sock=a)
            # a reference cycle, as a handler's closure makes: only the collector finds it
            holder: list[object] = [writer]
            holder.append(holder)
            if close_it:
                writer.close()
                await writer.wait_closed()

        loop.run_until_complete(open_stream())
    finally:
        loop.close()
        b.close()


def test_a_stream_left_open_past_its_loop_is_found() -> None:
    loop_leftovers()  # whatever an earlier test left is not this test's
    _stream_on_a_loop(close_it=False)
    assert "loop is closed" in loop_leftovers()


def test_a_closed_stream_leaves_nothing() -> None:
    loop_leftovers()
    _stream_on_a_loop(close_it=True)
    assert loop_leftovers() == []
