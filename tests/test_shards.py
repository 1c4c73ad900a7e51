"""Sharded exporters, run: two real redline processes with the same config and --shard=1/2 and
--shard=2/2, scraped by a real Prometheus with the scrape config the generator renders from
stack.yml's sharded ``exporters`` (shard labels) and the generated rules (demo profile timings).

The targets are one loopback HTTP server (a monitored target: it only counts requests by path),
one path per service. What must hold:

- every service is probed by exactly one shard (``count by (service, probe)`` of
  ``probe_success`` is 1, and the shards' ``redline_config_targets`` add up to the config's);
- every target is hit exactly once per scrape interval, across both shards (the server's count
  of requests per path over a window, against the number of scrape intervals in it);
- a shard down pages once: RedlineExporterDown for that shard's instance is the only page, its
  services' probe series go stale (no ServiceDown), and the other shard's keep coming;
- RedlineShardMismatch stays silent (not even pending) while the shards run as stack.yml says
  and while one of them is down, and is raised when the second exporter is started with
  --shard=1/2 where stack.yml gives it 2/2: that exporter's share, the share nobody serves and
  every service of shard 1 probed twice.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from exporter import rules
from exporter.demo.servers import Prometheus, Redline, free_port
from exporter.rules import prometheus_config
from exporter.rules.demo import DemoProfile
from exporter.rules.render import render
from exporter.rules.spec import ScrapeTarget, load_stack
from exporter.shard import Shard, of

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("hotdash-app", "agent-service", "llamaindex-mcp", "chatwoot", "shopify", "svc-a")
INTERVAL = 2.0  # s: scrape interval here
WINDOW = 20.0  # s of hits counted


@dataclass
class Hits:
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def between(self, path: str, start: float, end: float) -> int:
        return sum(1 for t in list(self.times[path]) if start <= t < end)


class Target:
    """One loopback HTTP server answering 200 on every path, counting requests by path."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hits = Hits()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _main(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            self.hits.times[request.path].append(time.time())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_get("/{path:.*}", handle)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    def __enter__(self) -> Target:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@dataclass
class Cluster:
    target: Target
    shards: dict[str, Redline]
    prometheus: Prometheus


CONFIG = """\
services:
{services}
host: {{enabled: false}}
"""


@contextmanager
def _cluster(tmp_path: Path, running: dict[str, str] | None = None) -> Iterator[Cluster]:
    """Exporters 1/2 and 2/2 as stack.yml lists them; ``running``: the --shard an exporter is
    started with where it is not the one stack.yml gives it."""
    assert {of(s, 2) for s in SERVICES} == {1, 2}, "both shards have services"
    running = running or {}
    with Target() as target:
        services = "\n".join(
            f"  - name: {s}\n    probes: [{{name: health, kind: http, "
            f"url: 'http://127.0.0.1:{target.port}/{s}'}}]"
            for s in SERVICES
        )
        config = tmp_path / "redline.yml"
        config.write_text(CONFIG.format(services=services))
        shards = {
            f"{i}/2": Redline(
                tmp_path / f"shard-{i}",
                config,
                extra_args=(f"--shard={running.get(f'{i}/2', f'{i}/2')}",),
            )
            for i in (1, 2)
        }
        profile = DemoProfile(
            scrape_interval=f"{INTERVAL:g}s",
            scrape_timeout="1500ms",
            evaluation_interval=f"{INTERVAL:g}s",
            exporters=tuple(s.url.removeprefix("http://") for s in shards.values()),
            alertmanagers=("127.0.0.1:9",),  # none: the alerts are read from Prometheus
        )
        built = rules.build(ROOT, profile)
        stack = profile.stack(load_stack(ROOT / "alert_rules"))
        stack = stack.model_copy(
            update={
                "exporters": tuple(
                    ScrapeTarget(address=s.url.removeprefix("http://"), shard=name)
                    for name, s in shards.items()
                )
            }
        )
        workdir = tmp_path / "prometheus"
        rule_files = []
        for rel, text in built.items():
            if rel.startswith("prometheus/rules/"):
                path = workdir / rel.removeprefix("prometheus/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                rule_files.append(rel.removeprefix("prometheus/"))
        prom_config = render(prometheus_config.config(stack, rule_files), "tests/test_shards.py")
        started: list[Redline] = []
        try:
            for shard in shards.values():
                shard.start()
                started.append(shard)
            with Prometheus(workdir, prom_config) as prom:
                assert isinstance(prom, Prometheus)
                prom.wait_for(f'count(probe_success{{job="redline"}}) >= {len(SERVICES)}', 30)
                yield Cluster(target, shards, prom)
        finally:
            for shard in started:
                shard.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with _cluster(tmp_path) as c:
        yield c


MISMATCH = "RedlineShardMismatch"


def _mismatches(prom: Prometheus) -> list[dict[str, str]]:
    """RedlineShardMismatch alerts pending or firing (its `for` is 90 s here: pending is the
    rule's expression holding)."""
    alerts = prom.get_json("/api/v1/alerts")["data"]["alerts"]
    return [a["labels"] for a in alerts if a["labels"]["alertname"] == MISMATCH]


def _evaluated(prom: Prometheus) -> None:
    """Wait until the rule group holding RedlineShardMismatch has evaluated twice since now."""
    time.sleep(2 * INTERVAL + 0.5)
    groups = prom.get_json("/api/v1/rules")["data"]["groups"]
    rules_ = [r for g in groups for r in g["rules"] if r.get("name") == MISMATCH]
    assert rules_ and all(r["health"] == "ok" for r in rules_), rules_


@pytest.mark.slow
def test_each_target_is_probed_once_per_interval_across_shards(cluster: Cluster) -> None:
    prom = cluster.prometheus
    # which shard serves each service: the scrape's shard label, as stack.yml gave it
    served = prom.query('count by (service, probe, shard) (probe_success{job="redline"})')
    by_service = {r["metric"]["service"]: r["metric"]["shard"] for r in served}
    assert set(by_service) == set(SERVICES)
    assert len(served) == len(SERVICES), f"a service served by two shards: {served}"
    for service, shard in by_service.items():
        assert Shard.parse(shard).owns(service), (service, shard)
    targets = prom.query('sum(redline_config_targets{job="redline", area="probes"})')
    assert float(targets[0]["value"][1]) == len(SERVICES)
    running = prom.query("redline_shard_info")
    assert {(r["metric"]["shard"], r["metric"]["running"]) for r in running} == {
        ("1/2", "1/2"),
        ("2/2", "2/2"),
    }
    assert {r["value"][1] for r in prom.query('redline_shards{job="redline"}')} == {"2"}
    _evaluated(prom)
    assert not _mismatches(prom)

    start = time.time()
    time.sleep(WINDOW + 2)
    end = start + WINDOW
    intervals = WINDOW / INTERVAL
    counts = {s: cluster.target.hits.between(f"/{s}", start, end) for s in SERVICES}
    for service, count in counts.items():
        assert intervals - 1 <= count <= intervals + 1, (
            f"{service}: {count} requests in {WINDOW:g}s of {INTERVAL:g}s scrapes: {counts}"
        )


def _firing(prom: Prometheus, severity: str) -> list[dict[str, str]]:
    alerts = prom.get_json("/api/v1/alerts")["data"]["alerts"]
    return [
        a["labels"]
        for a in alerts
        if a["state"] == "firing" and a["labels"].get("severity") == severity
    ]


@pytest.mark.slow
def test_a_shard_down_pages_once(cluster: Cluster) -> None:
    prom = cluster.prometheus
    down = cluster.shards["2/2"]
    down.stop()
    deadline = time.monotonic() + 60
    while not _firing(prom, "page") and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3 * INTERVAL)  # anything else that would page has had its evaluations
    pages = _firing(prom, "page")
    assert [(p["alertname"], p["instance"]) for p in pages] == [
        ("RedlineExporterDown", down.url.removeprefix("http://"))
    ], pages
    # the other shard goes on; the stopped shard's services are stale, not failing
    alive = prom.query('probe_success{job="redline"} == 1')
    assert {r["metric"]["service"] for r in alive} == {s for s in SERVICES if of(s, 2) == 1}
    assert not prom.query('probe_success{job="redline"} == 0')
    # share 2/2 is served by nobody now, but that is the page above, not a mismatch
    _evaluated(prom)
    assert not _mismatches(prom)


@pytest.mark.slow
def test_an_exporter_started_with_another_share_raises_the_mismatch(tmp_path: Path) -> None:
    with _cluster(tmp_path, running={"2/2": "1/2"}) as c:
        prom = c.prometheus
        second = c.shards["2/2"].url.removeprefix("http://")
        deadline = time.monotonic() + 30
        want = {"share", "missing", "twice"}
        while {a["mismatch"] for a in _mismatches(prom)} != want and time.monotonic() < deadline:
            time.sleep(0.5)
        found = _mismatches(prom)
        by_kind: dict[str, list[dict[str, str]]] = defaultdict(list)
        for a in found:
            by_kind[a["mismatch"]].append(a)
        assert set(by_kind) == want, found
        (share,) = by_kind["share"]
        assert (share["instance"], share["shard"], share["running"]) == (second, "2/2", "1/2")
        assert all(a["severity"] == "ticket" and a["service"] == "redline" for a in found)
        # every probe of shard 1's services is served by both exporters
        doubled = {a["target"] for a in by_kind["twice"]}
        assert doubled == {f"{s}/health" for s in SERVICES if of(s, 2) == 1}, found


def test_shard_parse_and_the_stable_hash() -> None:
    assert Shard.parse("2/3") == Shard(2, 3) and str(Shard(2, 3)) == "2/3"
    for bad in ("0/2", "3/2", "1", "a/b", "1/0", "-1/2"):
        with pytest.raises(ValueError):
            Shard.parse(bad)
    # sha256, not hash(): the same in every process and on every machine
    assert [of(s, 2) for s in SERVICES] == [2, 2, 2, 1, 1, 1]
    assert all(of(s, 1) == 1 for s in SERVICES)


def test_the_first_shard_alone_runs_the_areas_that_are_not_per_machine() -> None:
    from exporter.config import load_config

    config, _ = load_config(str(ROOT / "exporter" / "default.yml"))
    one, two = Shard(1, 2).apply(config), Shard(2, 2).apply(config)
    names = sorted(s.name for s in config.services)
    assert sorted(s.name for s in (*one.services, *two.services)) == names
    assert one.databases and one.heartbeats.jobs and one.logs.sources
    assert not two.databases and not two.heartbeats.jobs and not two.logs.sources
    assert not two.vendors.feeds and not two.backups.files
    assert Shard(2, 2).runs_source("host") and not Shard(2, 2).runs_source("postgres")


def test_run_refuses_a_bad_shard(capsys: pytest.CaptureFixture[str]) -> None:
    from exporter.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["run", "--shard=3/2"])
    assert exit_.value.code == 2
    assert "shard 3 of 2 does not exist" in capsys.readouterr().err
