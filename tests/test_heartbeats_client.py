"""exporter/heartbeats/client.py, the ping both backup jobs send, against the real exporter's
heartbeat endpoint on loopback: delivered and counted; a wrong token or unknown name refused
once, not retried; an exporter that cannot be reached tried ``tries`` times with the job's
waits in between; a token that cannot go in a header not sent; and in every case the token in
no line it writes."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.app import RUNTIME, initial_runtime, make_app
from exporter.demo.servers import free_port
from exporter.heartbeats import client
from exporter.heartbeats.source import HeartbeatSource

TOKEN = "hb-client-t0ken-secret-77"
JOB = "agent-table-backup"


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[tuple[str, HeartbeatSource]]:
    """The exporter's app on a loopback port, with one heartbeat; its base URL and source."""
    path = tmp_path / "redline.yml"
    (tmp_path / "token").write_text(TOKEN + "\n")
    path.write_text(
        f"""
heartbeats:
  state_file: {tmp_path / "heartbeats.json"}
  token_file: {tmp_path / "token"}
  jobs:
    - {{name: {JOB}, schedule: "0 3 * * *", grace: 1h}}
"""
    )
    app = make_app(initial_runtime(path))
    server = TestServer(app, host="127.0.0.1")
    test_client: TestClient[Any, Any] = TestClient(server)
    await test_client.start_server()
    source = next(s for s in app[RUNTIME].sources if isinstance(s, HeartbeatSource))
    source.min_save_interval = 0.01
    try:
        yield str(server.make_url("")).rstrip("/"), source
    finally:
        await test_client.close()


class Recorder:
    """What a ping writes and how long it waited between tries."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.waits: list[float] = []

    def ping(self, url: str, token: str, **patience: Any) -> bool:
        return client.ping(url, token, log=self.lines.append, sleep=self.waits.append, **patience)


PATIENT = {"tries": 4, "timeout": 5.0, "backoff": lambda i: 2.0**i}


async def _ping(recorder: Recorder, url: str, token: str = TOKEN) -> bool:
    # urllib blocks: in a thread, so the exporter on this loop answers
    call = functools.partial(recorder.ping, url, token, **PATIENT)
    return await asyncio.to_thread(call)


async def test_a_ping_is_delivered_and_counted(exporter: tuple[str, HeartbeatSource]) -> None:
    base, source = exporter
    rec = Recorder()
    assert await _ping(rec, f"{base}/heartbeat/{JOB}/start")
    assert await _ping(rec, f"{base}/heartbeat/{JOB}/0")
    job = source.states[JOB]
    assert (job.successes, job.failures) == (1, 0)
    assert (rec.lines, rec.waits) == ([], [])


@pytest.mark.parametrize(
    ("path", "token", "code"),
    [
        (f"heartbeat/{JOB}/0", "wrong-t0ken-but-long-99", 401),
        ("heartbeat/no-such-job/0", TOKEN, 404),  # the shared token may learn the name is unknown
    ],
)
async def test_a_refusal_is_said_once_and_not_retried(
    exporter: tuple[str, HeartbeatSource], path: str, token: str, code: int
) -> None:
    base, source = exporter
    rec = Recorder()
    assert not await _ping(rec, f"{base}/{path}", token)
    assert rec.lines == [f"heartbeat {base}/{path}: refused, HTTP {code}"]
    assert rec.waits == []
    assert JOB not in source.states or source.states[JOB].successes == 0


def test_an_exporter_out_of_reach_is_tried_with_the_jobs_waits() -> None:
    url = f"http://127.0.0.1:{free_port()}/heartbeat/{JOB}/0"
    rec = Recorder()
    assert not rec.ping(url, TOKEN, **PATIENT)
    assert rec.waits == [1.0, 2.0, 4.0]  # between the 4 tries, none after the last
    [line] = rec.lines
    assert line.startswith(f"heartbeat {url}: not delivered after 4 tries (")
    assert "Connection refused" in line


@pytest.mark.parametrize(
    ("url", "token", "said"),
    [
        # http.client's own error quotes the header value: the token
        ("{base}/heartbeat/" + JOB, TOKEN + "\r\nX-Evil: 1", "not sent, the token or the URL"),
        ("{base}/heart beat/" + JOB, TOKEN, "not sent, the token or the URL"),
        (f"exporter:9877/heartbeat/{JOB}", TOKEN, "not sent, the URL is not valid"),
        # a URL carrying the token itself (as userinfo) is written without it
        ("http://job:" + TOKEN + "@127.0.0.1:{port}/heartbeat/" + JOB, TOKEN, "not delivered"),
    ],
)
def test_what_cannot_be_sent_is_said_without_the_token(url: str, token: str, said: str) -> None:
    port = free_port()
    url = url.format(base=f"http://127.0.0.1:{port}", port=port)
    rec = Recorder()
    assert not rec.ping(url, token, tries=2, timeout=2.0, backoff=lambda i: 0.0)
    assert len(rec.lines) == 1, rec.lines
    assert said in rec.lines[0]
    assert TOKEN not in rec.lines[0] and TOKEN[:12] not in rec.lines[0]


def test_a_short_token_is_redacted_too() -> None:
    """Redactor leaves values under 4 characters alone (they would scrub ordinary words); the
    client removes its token whatever its length."""
    port = free_port()
    rec = Recorder()
    assert not rec.ping(f"http://x:q7@127.0.0.1:{port}/q7", "q7", tries=1, timeout=1.0,
                        backoff=lambda i: 0.0)  # fmt: skip
    assert "q7" not in rec.lines[0], rec.lines
