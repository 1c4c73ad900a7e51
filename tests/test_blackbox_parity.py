"""Series redline shares with blackbox_exporter mean what they mean there: the real
blackbox_exporter (the Debian package scripts/install-system.sh installs) and redline probe the
same loopback targets, and the shared series must read the same.

Covered: probe_http_content_length (the Content-Length header, -1 without one) and
probe_http_uncompressed_body_length (bytes read), for a body with a length and a chunked one,
and probe_dns_answer_rrs on NXDOMAIN (0 in both) is in tests/test_probe_dns.py, against a fake
DNS server only.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from exporter import metrics as m
from exporter.config import HttpProbe
from exporter.probes import http
from exporter.probes.base import ProbeContext, run_probe

BLACKBOX = "/usr/bin/prometheus-blackbox-exporter"
SHARED = (m.HTTP_CONTENT_LENGTH.name, m.HTTP_UNCOMPRESSED_BODY_LENGTH.name, m.HTTP_STATUS_CODE.name)

pytestmark = pytest.mark.skipif(
    not os.access(BLACKBOX, os.X_OK), reason="blackbox_exporter is not installed (make system)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def blackbox(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    config = tmp_path / "blackbox.yml"
    config.write_text("modules:\n  http_2xx:\n    prober: http\n    timeout: 5s\n")
    proc = subprocess.Popen(
        [BLACKBOX, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "blackbox_exporter did not start"
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
async def targets() -> AsyncIterator[str]:
    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 1234, content_type="text/plain")

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(5):
            await response.write(b"y" * 1000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/chunked", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def _blackbox_values(port: int, target: str) -> dict[str, float]:
    url = f"http://127.0.0.1:{port}/probe?module=http_2xx&target={target}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in SHARED
    }


async def test_http_lengths_mean_what_they_mean_in_blackbox_exporter(
    blackbox: int, targets: str, probe_ctx: ProbeContext
) -> None:
    for path in ("/sized", "/chunked"):
        theirs = await asyncio.to_thread(_blackbox_values, blackbox, targets + path)
        cfg = HttpProbe(name="p", url=targets + path, min_interval=0)
        deadline = asyncio.get_running_loop().time() + 5
        result = await run_probe(http.probe, cfg, probe_ctx, deadline)
        ours = {s.metric.name: s.value for s in result.samples if s.metric.name in SHARED}
        assert set(theirs) == set(SHARED), theirs
        assert ours == theirs, path
    # the figures themselves, so the comparison cannot pass on two zeros
    assert theirs[m.HTTP_CONTENT_LENGTH.name] == -1  # chunked: the last one compared
    assert theirs[m.HTTP_UNCOMPRESSED_BODY_LENGTH.name] == 5000
