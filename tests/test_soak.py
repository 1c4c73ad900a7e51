"""Soak (issue 10): a real ``redline run`` under everything at once, then back to where it was.

The exporter runs as a subprocess with a config of 300 loopback HTTP targets of mixed behaviour
(healthy, slow, hanging, failing in four ways, flapping between up, 500 and hanging), a log
file that is written and rotated (renamed away, a new one created), a heartbeat that is pinged,
and a real PostgreSQL (tests/pg.py). While two scrapers scrape it with Prometheus's
``X-Prometheus-Scrape-Timeout-Seconds`` header (one back to back, one every few seconds, so
concurrent scrapes share runs), the config is reloaded by ``POST /-/reload`` (two valid
variants in turn, and once an invalid one, which must be refused) and the database is
restarted once.

Checked:

- no scrape missed its deadline: every one answered 200 within the header's timeout, with a
  result for every configured target;
- after the soak the exporter is back to its level after warm-up: resident memory within
  ``RSS_TOLERANCE_MB``, open file descriptors within ``FDS_TOLERANCE``, asyncio tasks (the
  ``redline_asyncio_tasks`` gauge) within ``TASKS_TOLERANCE``, and database connections
  (``pg_stat_activity`` where ``application_name = 'redline'``) at least one and no more
  than the pool's size, as after warm-up;
- nothing was lost on the way: the database is up again, every log line written (across the
  rotations) was counted, every heartbeat ping was counted, and the exporter shuts down
  cleanly on SIGTERM.

Levels are read at checkpoints where scraping pauses for a moment, so that a scrape in flight
does not count as growth. The soak lasts ``SOAK_SECONDS`` (45 by default, about 80 s for the
whole test); set ``REDLINE_SOAK_SECONDS`` for a longer run by hand, e.g.
``REDLINE_SOAK_SECONDS=3600 .venv/bin/python -m pytest -s tests/test_soak.py``: the tolerances
stay the same, so a slow leak shows. Every loop here is bounded in count and in time; every
socket is on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
import pytest
from aiohttp import web

from tests.pg import Cluster, free_port, new_cluster

# scheduled last (tests/conftest.py): its scrapes have a 2 s deadline, so the other workers'
# busiest tests had better be done
pytestmark = [pytest.mark.slow, pytest.mark.last]

ROOT = Path(__file__).resolve().parent.parent
SOAK_SECONDS = float(os.environ.get("REDLINE_SOAK_SECONDS", "45"))
WARMUP_SECONDS = 10.0
SCRAPE_TIMEOUT = 2.0  # the header Prometheus sends; redline must answer within it
RSS_TOLERANCE_MB = 12.0  # resident memory may be this much above its level after warm-up
FDS_TOLERANCE = 8  # open file descriptors, likewise
TASKS_TOLERANCE = 3  # asyncio tasks, likewise
POOL_MAX_SIZE = 2  # the database pool's default max_size: redline's connections, at most
HEARTBEAT_TOKEN = "soak-heartbeat-token-0123456789"
SUPERUSER_PASSWORD = "postgres-superuser-pw"  # tests/pg.py's initdb password

# 300 targets: (behaviour, how many)
MIX = (
    ("ok", 150),
    ("slow", 40),  # 50-500 ms
    ("hang", 15),  # never answers: timeout at the scrape deadline
    ("status500", 20),
    ("badjson", 10),  # 200 with a body that is not the JSON the probe expects
    ("limited", 10),  # 429 with Retry-After: the result is reused until then
    ("refused", 15),  # nothing listens on the port
    ("flap", 40),  # up, then 500, then hanging, in turn, a few seconds each
)
DROPPED_BY_VARIANT_B = 30  # config B leaves out the last targets of config A


# --- the targets --------------------------------------------------------------------------------


class Targets:
    """aiohttp servers on three loopback ports answering ``/<behaviour>/<i>``."""

    def __init__(self) -> None:
        self.runners: list[web.AppRunner] = []
        self.ports: list[int] = []
        self.refused_port = free_port()  # never bound
        self.stop = asyncio.Event()  # set at the end: hanging handlers return

    async def handle(self, request: web.Request) -> web.Response:
        kind, index = request.match_info["kind"], int(request.match_info["i"])
        if kind == "flap":
            kind = ("ok", "status500", "hang")[(int(time.monotonic() / 3) + index) % 3]
        if kind == "slow":
            await asyncio.sleep(0.05 + (index % 10) * 0.05)
        elif kind == "hang":
            # longer than any scrape deadline here (the exporter gives up first), and bounded
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=5)
            return web.json_response({"status": "late"})
        elif kind == "status500":
            return web.json_response({"status": "error"}, status=500)
        elif kind == "badjson":
            return web.Response(text="<html>not json</html>", content_type="text/html")
        elif kind == "limited":
            return web.json_response(
                {"status": "slow down"}, status=429, headers={"Retry-After": "3"}
            )
        return web.json_response({"status": "ok", "version": "1.4.2"})

    async def start(self) -> None:
        for _ in range(3):
            app = web.Application()
            app.router.add_get("/{kind}/{i:\\d+}", self.handle)
            runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            self.runners.append(runner)
            self.ports.append(runner.addresses[0][1])

    async def close(self) -> None:
        self.stop.set()
        for runner in self.runners:
            await runner.cleanup()

    def probes(self) -> list[dict[str, Any]]:
        out = []
        i = 0
        for kind, count in MIX:
            for _ in range(count):
                port = self.refused_port if kind == "refused" else self.ports[i % 3]
                probe: dict[str, Any] = {
                    "name": f"t{i:03d}-{kind}",
                    "kind": "http",
                    "url": f"http://127.0.0.1:{port}/{kind}/{i}",
                }
                if kind == "badjson":
                    probe["expect_json"] = ['status == "ok"']
                out.append(probe)
                i += 1
        return out


# --- the config ---------------------------------------------------------------------------------


def config_text(tmp: Path, targets: Targets, cluster: Cluster, variant: str) -> str:
    probes = targets.probes()
    if variant == "B":
        probes = probes[:-DROPPED_BY_VARIANT_B]
    services = [
        {"name": f"svc{n}", "probes": probes[n * 50 : (n + 1) * 50]}
        for n in range((len(probes) + 49) // 50)
    ]
    config = {
        "exporter": {"scrape_timeout": "5s", "scrape_timeout_margin": "0.5s"},
        "services": services,
        "databases": [
            {
                "name": "soak",
                "dsn": cluster.dsn(),
                # B differs in a setting the source takes on reload without a new pool
                "timeout": "3s" if variant == "A" else "4s",
            }
        ],
        "logs": {
            "sources": [
                {
                    "name": "app",
                    "kind": "file",
                    "paths": [str(tmp / "logs" / "*.log")],
                    "parsers": ["nginx_combined"],
                    "poll_interval": "100ms",
                    "rotate_wait": "1s",
                }
            ]
        },
        "heartbeats": {
            "state_file": str(tmp / "heartbeats.json"),
            "token": "${REDLINE_SOAK_HEARTBEAT_TOKEN}",
            "jobs": [{"name": "soak-job", "period": "1h"}],
        },
    }
    return json.dumps(config, indent=1)  # JSON is YAML


# --- the exporter -------------------------------------------------------------------------------


@dataclass
class Exporter:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def start_exporter(config: Path, tmp: Path) -> Exporter:
    port = free_port()
    log = tmp / "redline.log"
    env = {**os.environ, "REDLINE_SOAK_HEARTBEAT_TOKEN": HEARTBEAT_TOKEN}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "exporter",
                "run",
                "--config.file",
                str(config),
                "--web.listen-address",
                f"127.0.0.1:{port}",
                "--log.level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Exporter(proc, port, log)


async def wait_ready(session: aiohttp.ClientSession, exporter: Exporter) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert exporter.proc.poll() is None, f"redline exited:\n{exporter.tail()}"
        try:
            async with session.get(f"{exporter.url}/-/ready") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"redline not ready within 30 s:\n{exporter.tail()}")


# --- what the soak does -------------------------------------------------------------------------


@dataclass
class Levels:
    rss_mb: float
    fds: int
    tasks: int
    db_connections: int

    def __str__(self) -> str:
        return (
            f"RSS {self.rss_mb:.1f} MB, {self.fds} fds, {self.tasks} asyncio tasks, "
            f"{self.db_connections} database connections"
        )


@dataclass
class Soak:
    exporter: Exporter
    session: aiohttp.ClientSession  # keep-alive, as Prometheus: the scrapes
    oneshot: aiohttp.ClientSession  # a connection per request: pings and reloads
    cluster: Cluster
    target_counts: set[int]  # probes per scrape under either config variant
    end: float = 0.0
    scrapes: int = 0
    slowest: float = 0.0
    misses: list[str] = field(default_factory=list)  # scrapes that missed their deadline
    gate: asyncio.Event = field(default_factory=asyncio.Event)  # cleared: scrapers pause
    in_flight: int = 0
    lines_written: int = 0
    rotations: int = 0
    pings: dict[str, int] = field(default_factory=lambda: {"success": 0, "fail": 0})
    reloads: list[str] = field(default_factory=list)
    last_body: str = ""

    async def scrape(self, who: str) -> str:
        headers = {"X-Prometheus-Scrape-Timeout-Seconds": f"{SCRAPE_TIMEOUT:g}"}
        self.in_flight += 1
        started = time.monotonic()
        try:
            async with self.session.get(f"{self.exporter.url}/metrics", headers=headers) as r:
                body = await r.text()
                status = r.status
        except (aiohttp.ClientError, TimeoutError) as e:
            self.misses.append(f"{who}: {type(e).__name__}: {e}")
            return ""
        finally:
            self.in_flight -= 1
        seconds = time.monotonic() - started
        self.scrapes += 1
        self.slowest = max(self.slowest, seconds)
        probes = body.count("\nprobe_success{")
        if status != 200 or seconds > SCRAPE_TIMEOUT or probes not in self.target_counts:
            self.misses.append(f"{who}: status {status}, {seconds:.2f} s, {probes} probes")
        self.last_body = body
        return body

    async def scraper(self, who: str, pause: float) -> None:
        for _ in range(100_000):  # bounded; ends with the soak
            if time.monotonic() >= self.end:
                return
            await self.gate.wait()
            await self.scrape(who)
            await asyncio.sleep(pause)

    async def log_writer(self, tmp: Path) -> None:
        """Lines every 50 ms; every 3 s the file is renamed away and a new one started (the
        previous rotated file is deleted, as logrotate does)."""
        logs = tmp / "logs"
        line = (
            '127.0.0.1 - - [13/Oct/2025:14:02:11 +0000] "GET /api/orders/{n} HTTP/1.1" 200 '
            '512 "-" "curl/8.4.0" 0.042\n'
        )
        rotated_at = time.monotonic()
        for n in range(1_000_000):  # bounded; ends with the soak
            if time.monotonic() >= self.end:
                return
            with (logs / "app.log").open("a") as f:
                f.writelines(line.format(n=n * 10 + k) for k in range(10))
            self.lines_written += 10
            if time.monotonic() - rotated_at > 3:
                (logs / "app.log.1").unlink(missing_ok=True)
                (logs / "app.log").rename(logs / "app.log.1")
                (logs / "app.log").touch()
                self.rotations += 1
                rotated_at = time.monotonic()
            await asyncio.sleep(0.05)

    async def pinger(self) -> None:
        headers = {"Authorization": f"Bearer {HEARTBEAT_TOKEN}"}
        for n in range(100_000):  # bounded; ends with the soak
            if time.monotonic() >= self.end:
                return
            kind = "fail" if n % 5 == 4 else "success"
            path = "/heartbeat/soak-job" + ("/fail" if kind == "fail" else "")
            async with self.oneshot.post(self.exporter.url + path, headers=headers) as r:
                assert r.status == 200, await r.text()
            self.pings[kind] += 1
            await asyncio.sleep(0.3)

    async def reloader(self, tmp: Path, texts: dict[str, str]) -> None:
        """Every 4 s a reload, alternating the two variants; the third is an invalid config,
        which must be refused with the previous config kept."""
        config = tmp / "redline.yml"
        for n in range(10_000):  # bounded; ends with the soak
            await asyncio.sleep(4)
            if time.monotonic() >= self.end - 2:
                return
            variant = "invalid" if n == 2 else ("B" if n % 2 == 0 else "A")
            config.write_text(texts[variant])
            async with self.oneshot.post(f"{self.exporter.url}/-/reload") as r:
                status = r.status
            assert status == (500 if variant == "invalid" else 200), variant
            self.reloads.append(variant)
            if variant == "invalid":
                config.write_text(texts["A"])  # what is in force; the next reload reads it

    async def restart_database(self, after: float) -> None:
        await asyncio.sleep(after)
        await asyncio.to_thread(self.cluster.stop, "fast")
        await asyncio.sleep(2)
        await asyncio.to_thread(self.cluster.start)

    async def levels(self) -> Levels:
        """Pause the scrapers, let what is in flight finish and settle, then read the levels;
        the asyncio task count comes from one scrape of our own."""
        self.gate.clear()
        for _ in range(100):  # at most 10 s: a scrape ends within its 2 s deadline
            if self.in_flight == 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        body = await self.scrape("checkpoint")
        match = re.search(r"^redline_asyncio_tasks (\S+)$", body, re.MULTILINE)
        assert match, "no redline_asyncio_tasks in the scrape"
        process = psutil.Process(self.exporter.proc.pid)
        levels = Levels(
            rss_mb=process.memory_info().rss / 2**20,
            fds=process.num_fds(),
            tasks=int(float(match.group(1))),
            db_connections=await db_connections(self.cluster),
        )
        self.gate.set()
        return levels


async def db_connections(cluster: Cluster) -> int:
    """redline's connections to the database; -1 while it cannot be asked (restarting)."""
    dsn = f"postgresql://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{cluster.port}/postgres"
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError):
        return -1
    try:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'redline'"
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


def total(body: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    out = 0.0
    for match in re.finditer(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", body, re.MULTILINE):
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            out += float(match.group(2))
    return out


# --- the test -----------------------------------------------------------------------------------


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = new_cluster(free_port())
    c.start()
    try:
        yield c
    finally:
        c.destroy()


@pytest.fixture
async def targets() -> AsyncIterator[Targets]:
    t = Targets()
    await t.start()
    try:
        yield t
    finally:
        await t.close()


async def test_soak(tmp_path: Path, cluster: Cluster, targets: Targets) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").touch()
    texts = {v: config_text(tmp_path, targets, cluster, v) for v in ("A", "B")}
    texts["invalid"] = texts["A"].replace('"period": "1h"', '"period": "soon"')
    config = tmp_path / "redline.yml"
    config.write_text(texts["A"])
    size = sum(n for _, n in MIX)
    exporter = start_exporter(config, tmp_path)
    timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT + 10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            aiohttp.ClientSession(
                timeout=timeout, connector=aiohttp.TCPConnector(force_close=True)
            ) as oneshot,
        ):
            await wait_ready(session, exporter)
            soak = Soak(exporter, session, oneshot, cluster, {size, size - DROPPED_BY_VARIANT_B})
            warm, final = await run_soak(soak, tmp_path, texts)
            body = soak.last_body
        stopped = stop(exporter)
    finally:
        if exporter.proc.poll() is None:  # the test failed before stopping it
            exporter.proc.kill()
            exporter.proc.wait(10)

    assert soak.misses == [], f"scrapes missed their deadline: {soak.misses[:10]}"
    assert soak.scrapes >= (WARMUP_SECONDS + SOAK_SECONDS) / 3  # it did scrape throughout
    assert "invalid" in soak.reloads and {"A", "B"} <= set(soak.reloads), soak.reloads
    assert soak.rotations >= 3
    # the mix behaved as it should: healthy up, hanging timed out, refused refused
    assert total(body, "probe_success", probe="t000-ok") == 1
    hang = next(f"t{i:03d}-hang" for i in range(size) if f"t{i:03d}-hang" in body)
    assert total(body, "redline_probe_failure_reason", probe=hang, reason="timeout") == 1
    refused = next(f"t{i:03d}-refused" for i in range(size) if f"t{i:03d}-refused" in body)
    assert total(body, "redline_probe_failure_reason", probe=refused, reason="connect") == 1
    # nothing lost: the database is back, every log line and every ping was counted
    assert total(body, "pg_up", database="soak") == 1, "the database did not come back"
    assert total(body, "redline_log_lines_total", source="app") == soak.lines_written
    assert total(body, "redline_heartbeat_successes_total") == soak.pings["success"]
    assert total(body, "redline_heartbeat_failures_total") == soak.pings["fail"]
    # back to the level after warm-up
    assert final.rss_mb <= warm.rss_mb + RSS_TOLERANCE_MB, (warm, final)
    assert final.fds <= warm.fds + FDS_TOLERANCE, (warm, final)
    assert final.tasks <= warm.tasks + TASKS_TOLERANCE, (warm, final)
    assert 1 <= final.db_connections <= POOL_MAX_SIZE, (warm, final)
    assert stopped == 0, f"redline exited with {stopped} on SIGTERM:\n{exporter.tail()}"


async def run_soak(soak: Soak, tmp: Path, texts: dict[str, str]) -> tuple[Levels, Levels]:
    """Warm up, soak, let the database and the log follower catch up: the levels after the
    warm-up and at the end."""
    soak.gate.set()
    soak.end = time.monotonic() + WARMUP_SECONDS + SOAK_SECONDS
    work = [
        soak.scraper("scraper-1", 0.0),
        soak.scraper("scraper-2", 3.0),
        soak.log_writer(tmp),
        soak.pinger(),
        soak.reloader(tmp, texts),
        soak.restart_database(WARMUP_SECONDS + SOAK_SECONDS / 3),
    ]
    tasks = [asyncio.create_task(w) for w in work]
    try:
        await asyncio.sleep(WARMUP_SECONDS)
        warm = await soak.levels()
        print(f"\nafter warm-up: {warm}")
        for _ in range(1000):  # bounded; a checkpoint every 15 s until the end
            left = soak.end - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(15.0, left))
            print(f"checkpoint: {await soak.levels()}")
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # The database's backoff is at most 10 s: it is up again within a few scrapes.
    for _ in range(30):  # bounded: 30 scrapes, each within its deadline
        body = await soak.scrape("after")
        if total(body, "pg_up", database="soak") == 1:
            break
        await asyncio.sleep(0.5)
    # Every line written, across the rotations, is counted once the follower caught up.
    for _ in range(50):  # at most 50 scrapes
        if total(soak.last_body, "redline_log_lines_total", source="app") == soak.lines_written:
            break
        await asyncio.sleep(0.1)
        await soak.scrape("after")
    final = await soak.levels()
    print(f"after the soak: {final}")
    print(
        f"{soak.scrapes} scrapes, slowest {soak.slowest:.2f} s (deadline {SCRAPE_TIMEOUT:g} s); "
        f"{soak.lines_written} log lines, {soak.rotations} rotations; pings {soak.pings}; "
        f"reloads {dict(Counter(soak.reloads))}"
    )
    return warm, final


def stop(exporter: Exporter) -> int:
    """SIGTERM, as a service manager stops it; its exit code."""
    exporter.proc.send_signal(signal.SIGTERM)
    try:
        return exporter.proc.wait(15)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"redline did not stop on SIGTERM:\n{exporter.tail()}") from None
