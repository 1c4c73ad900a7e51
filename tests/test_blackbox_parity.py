"""Series redline shares with blackbox_exporter mean what they mean there: the real
blackbox_exporter (the Debian package scripts/install-system.sh installs) and redline probe the
same loopback targets, and the shared series must read the same.

Covered: probe_http_content_length (the Content-Length header, -1 without one) and
probe_http_uncompressed_body_length (bytes read), for a body with a length and a chunked one;
probe_http_duration_seconds's phases (resolve, connect, tls, processing, transfer: the same
five in both, tls 0 over plain HTTP, and over HTTPS the handshake's time in tls and not in
connect, against a loopback TLS server whose handshake is slowed). probe_dns_answer_rrs on
NXDOMAIN (0 in both) is in tests/test_probe_dns.py, against a fake DNS server only.
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
from typing import Any

import pytest
import trustme
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from exporter import metrics as m
from exporter.config import HttpProbe
from exporter.probes import http
from exporter.probes.base import ProbeContext, run_probe
from tests.test_probe_http import HANDSHAKE_DELAY, PHASES, slow_handshake

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
def ca(tmp_path: Path) -> trustme.CA:
    """The CA of the HTTPS target; its certificate in tmp_path/ca.pem, which both trust."""
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    return authority


@pytest.fixture
def blackbox(tmp_path: Path, ca: trustme.CA) -> Iterator[int]:
    port = free_port()
    config = tmp_path / "blackbox.yml"
    config.write_text(
        "modules:\n"
        "  http_2xx:\n    prober: http\n    timeout: 5s\n"
        "  https_ca:\n    prober: http\n    timeout: 5s\n"
        f"    http:\n      tls_config:\n        ca_file: {tmp_path / 'ca.pem'}\n"
    )
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


def _blackbox_samples(port: int, target: str, module: str = "http_2xx") -> list[Any]:
    url = f"http://127.0.0.1:{port}/probe?module={module}&target={target}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def _blackbox_values(port: int, target: str) -> dict[str, float]:
    return {s.name: s.value for s in _blackbox_samples(port, target) if s.name in SHARED}


def _blackbox_phases(port: int, target: str, module: str = "http_2xx") -> dict[str, float]:
    return {
        s.labels["phase"]: s.value
        for s in _blackbox_samples(port, target, module)
        if s.name == m.HTTP_DURATION.name
    }


def _phases(samples: list[Any]) -> dict[str, float]:
    return {s.labels["phase"]: s.value for s in samples if s.metric == m.HTTP_DURATION}


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


async def test_http_phases_are_blackbox_exporters(
    blackbox: int, targets: str, probe_ctx: ProbeContext
) -> None:
    theirs = await asyncio.to_thread(_blackbox_phases, blackbox, targets + "/sized")
    cfg = HttpProbe(name="p", url=targets + "/sized", min_interval=0)
    result = await run_probe(http.probe, cfg, probe_ctx, asyncio.get_running_loop().time() + 5)
    ours = _phases(result.samples)
    assert set(theirs) == set(ours) == set(PHASES), (theirs, ours)
    assert theirs["tls"] == ours["tls"] == 0  # plain HTTP


async def test_https_handshake_is_the_tls_phase_in_both(
    blackbox: int, ca: trustme.CA, tmp_path: Path, probe_ctx: ProbeContext
) -> None:
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=slow_handshake(ca)).start()
    target = f"https://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        theirs = await asyncio.to_thread(_blackbox_phases, blackbox, target, "https_ca")
        cfg = HttpProbe.model_validate(
            {
                "name": "p",
                "url": target,
                "min_interval": 0,
                "tls": {"ca_file": str(tmp_path / "ca.pem")},
            }
        )
        result = await run_probe(http.probe, cfg, probe_ctx, asyncio.get_running_loop().time() + 5)
    finally:
        await runner.cleanup()
    assert result.success, result.message
    ours = _phases(result.samples)
    assert set(theirs) == set(ours) == set(PHASES), (theirs, ours)
    for name, phases in (("blackbox_exporter", theirs), ("redline", ours)):
        # the slowed handshake is tls time, TCP on loopback is not
        assert HANDSHAKE_DELAY <= phases["tls"] < HANDSHAKE_DELAY + 0.5, (name, phases)
        assert phases["connect"] < HANDSHAKE_DELAY / 2, (name, phases)
        assert phases["processing"] < HANDSHAKE_DELAY / 2, (name, phases)
