"""The event loop `redline run` and `redline probe` run on (exporter/eventloop.py): asyncio's
own, uvloop when REDLINE_EVENT_LOOP=uvloop asks for it and it is importable."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request

import pytest

from exporter import eventloop
from tests.pg import free_port


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_asyncio_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.name() == "asyncio"
    assert eventloop.run(_loop_module()) == "asyncio"


def test_uvloop_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "uvloop")
    assert eventloop.name() == "uvloop"
    assert eventloop.run(_loop_module()) == "uvloop"


def test_asyncio_when_uvloop_is_asked_for_and_cannot_be_imported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(eventloop.ENV, "uvloop")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert eventloop.name() == "asyncio"
    assert eventloop.run(_loop_module()) == "asyncio"


def test_run_returns_and_raises_as_asyncio_run() -> None:
    async def fails() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        eventloop.run(fails())


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_redline_run_serves_and_stops_on_either_loop(loop: str) -> None:
    """The exporter starts, answers a scrape, says which loop it runs on, and stops cleanly
    on SIGTERM (signal handlers are the loop's) on both loops."""
    port = free_port()
    env = {"REDLINE_EVENT_LOOP": loop, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "exporter", "run", "--log.level", "debug"),
            *("--web.listen-address", f"127.0.0.1:{port}"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        body = ""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=5) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.2)
        assert "healthy" in body
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert f"event loop: {loop}" in stderr
    # on uvloop, the operator is told of its known fault with refused TLS handshakes
    assert ("aiohttp issue #10506" in stderr) == (loop == "uvloop"), stderr
