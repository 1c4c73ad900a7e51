"""`redline run` imports what its config needs and no more (docs/performance.md, memory): no
asyncpg without a database, no dnspython without a DNS probe or resolver, no cryptography
without TLS, no vendor, backup, maintenance or Fly source without their section; and a database
added by a reload is then monitored as if it had been there."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from exporter.app import initial_runtime, make_app
from exporter.config import Config, load_config
from exporter.secrets import Redactor
from exporter.sources import DEFERRED, SOURCES, Deferred, find, source_factories

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("asyncpg", "dns", "cryptography", "matplotlib", "grafanalib")
# the modules of the deferred sources (exporter/sources.py DEFERRED)
SOURCE_MODULES = tuple(SOURCES[name].split(":")[0] for name in DEFERRED)

RUN = """
import asyncio, json, sys
from aiohttp.test_utils import TestClient, TestServer
from exporter.app import initial_runtime, make_app
from exporter.config import Config, load_config
from exporter.secrets import Redactor
from exporter.sources import DEFERRED, SOURCES, Deferred, find, source_factories

async def main():
    runtime = initial_runtime(sys.argv[1])
    client = TestClient(TestServer(make_app(runtime)))
    await client.start_server()
    try:
        text = await (await client.get("/metrics")).text()
    finally:
        await client.close()
    heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
    heavy += sorted(set(sys.modules) & set(json.loads(sys.argv[3])))
    print(json.dumps({"heavy": heavy, "up": "redline_source_up" in text}))

asyncio.run(main())
"""


def _loaded(tmp_path: Path, config: str) -> list[str]:
    path = tmp_path / "redline.yml"
    path.write_text(config)
    done = subprocess.run(
        [sys.executable, "-c", RUN, str(path), json.dumps(HEAVY), json.dumps(SOURCE_MODULES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["up"]
    return list(out["heavy"])


def test_plain_http_probes_load_no_driver_resolver_or_certificate_decoder(tmp_path: Path) -> None:
    config = """
services:
  - name: a
    probes:
      - {name: health, kind: http, url: "http://127.0.0.1:9/health", timeout: 1s}
"""
    assert _loaded(tmp_path, config) == []


def test_what_the_config_names_is_loaded_before_any_probe_runs(tmp_path: Path) -> None:
    config = """
services:
  - name: a
    probes:
      - {name: health, kind: http, url: "https://127.0.0.1:9/health", timeout: 1s}
      - {name: name, kind: dns, resolver: "127.0.0.1:9", query: shop.example, timeout: 1s}
databases:
  - {name: main, dsn: "postgresql://redline@127.0.0.1:9/shop?sslmode=disable"}
"""
    assert _loaded(tmp_path, config) == [
        "asyncpg",
        "cryptography",
        "dns",
        SOURCES["postgres"].split(":")[0],
    ]


@pytest.mark.parametrize("name", sorted(DEFERRED))
async def test_a_deferred_source_reports_nothing_without_its_section(name: str) -> None:
    """What makes standing for it (Deferred collects nothing) change no scrape: the real
    source, built on a config without its section, reports nothing either."""
    config = Config()
    assert not DEFERRED[name](config)
    module, cls = SOURCES[name].split(":")
    source = getattr(import_module(module), cls)(config, Redactor())
    assert await source.collect(asyncio.get_running_loop().time() + 5) == []


def test_the_embedded_config_builds_every_deferred_source_but_maintenance() -> None:
    """Each predicate sees its section: the embedded config (every area, no planned work)."""
    config, _ = load_config(None)
    assert {n for n, needed in DEFERRED.items() if needed(config)} == set(DEFERRED) - {
        "maintenance"
    }
    made = source_factories()["vendors"](config, Redactor())
    assert isinstance(made, Deferred) and find([made], "vendors") is None  # not started yet


async def test_a_database_added_by_a_reload_is_monitored(tmp_path: Path) -> None:
    path = tmp_path / "redline.yml"
    path.write_text("services: []\n")
    runtime = initial_runtime(path)
    client = TestClient(TestServer(make_app(runtime)))
    await client.start_server()
    try:
        text = await (await client.get("/metrics")).text()
        assert 'redline_source_up{source="postgres"} 1.0' in text
        assert "pg_up" not in text
        # a closed port: the monitor reports the database down, which shows it runs
        dsn = "postgresql://redline@127.0.0.1:9/shop?sslmode=disable&connect_timeout=1"
        path.write_text(f"databases:\n  - {{name: main, dsn: '{dsn}'}}\n")
        assert (await client.post("/-/reload")).status == 200
        text = await (await client.get("/metrics")).text()
        assert 'pg_up{database="main"} 0.0' in text
        # and removed again (forced: a reload that removes every database is refused unless
        # meant): no series of it left
        path.write_text("services: []\n")
        assert (await client.post("/-/reload?force=1")).status == 200
        text = await (await client.get("/metrics")).text()
        assert "pg_up" not in text
    finally:
        await client.close()


def test_the_log_follower_counts_without_the_exposition_library() -> None:
    """The file follower, its pipeline and its counters (what bench/logs.py measures) import
    neither prometheus-client (whose package loads its HTTP servers, ssl among them: 3.4 MiB
    of the follower's peak) nor aiohttp: families are built only when a scrape asks."""
    code = (
        "import sys, json\n"
        "from exporter.logs.tail import FileFollower\n"
        "from exporter.logs.pipeline import Pipeline\n"
        "from exporter.logs.counters import LogState\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "exporter" in loaded  # the list is real
    assert loaded & {"prometheus_client", "aiohttp", "ssl", "asyncpg"} == set()
