"""The HA pair of alert_rules/stack.yml (``replicas: [a, b]``), run: two real Prometheus servers
with the generated prometheus-a.yml and prometheus-b.yml (the demo profile's timings, free ports)
and the same generated rules, a real Alertmanager cluster of two peers gossiping on loopback with
the generated routes, the webhook receiver, and one real redline exporter they both scrape.

The incident: the exporter stops, so both servers fire RedlineExporterDown (a page). What must
reach the receiver:

- one notification for it, whose alert carries no ``replica`` label (two copies of the alert
  with different replica labels would be two alerts in Alertmanager: two pages, or one page
  listing the alert twice);
- nothing more while replica a is stopped mid-incident, then a is back and b is stopped: the
  stopped server's copy of the alert expires in Alertmanager, and were its labels its own, that
  expiry would be a "resolved" plus a new page;
- one resolved notification when the exporter is back;
- Watchdog, always firing, sent at most once per its repeat interval across both peers and both
  servers.

Prometheus re-sends firing alerts every ``--rules.alert.resend-delay`` and Alertmanager ends an
alert that is not re-sent after four times that (or four evaluations). The servers here re-send
every 2 s instead of every minute so a stopped server's copy ends within 20 s, not 4 min: the
mechanism under test is the same, the wait shorter.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from exporter import rules
from exporter.demo.servers import (
    Alertmanager,
    Prometheus,
    Receiver,
    Redline,
    ServerError,
    free_ports,
)
from exporter.rules.demo import DemoProfile
from exporter.rules.spec import REPLICA_LABEL, load_stack

ROOT = Path(__file__).resolve().parent.parent
PAGE = "RedlineExporterDown"
RESEND = "2s"  # --rules.alert.resend-delay (see the module doc)
EXPIRY = 4 * 5 + 2  # s: four demo evaluations of 5 s, Alertmanager's end of an alert not re-sent
GROUP_INTERVAL = 15  # s: the demo profile's group_interval (5 min x 0.05)
QUIET = EXPIRY + GROUP_INTERVAL + 5  # s watched with one server down: expiry, then a flush
WATCHDOG_REPEAT = 60  # s: Watchdog's repeat_interval in the demo profile (never below 1 min)

# one service (the receiver stands in for it: a monitored target on loopback), no host metrics
EXPORTER_CONFIG = """\
services:
  - name: hotdash-app
    probes: [{{name: health, kind: http, url: "{url}/-/ready"}}]
host: {{enabled: false}}
"""


@dataclass
class Pair:
    receiver: Receiver
    exporter: Redline
    prometheus: dict[str, Prometheus]
    alertmanagers: list[Alertmanager]


def _files(profile: DemoProfile) -> dict[str, str]:
    built = rules.build(ROOT, profile)
    for replica in profile.replicas:
        assert f"prometheus/prometheus-{replica}.yml" in built
    return built


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    stack = load_stack(ROOT / "alert_rules")
    assert stack.replicas == ("a", "b"), "stack.yml ships the pair this test runs"
    exporter_port, am_a, am_a_gossip, am_b, am_b_gossip, *prom = free_ports(5 + len(stack.replicas))
    prom_ports = dict(zip(stack.replicas, prom, strict=True))
    am_ports = [(am_a, am_a_gossip), (am_b, am_b_gossip)]
    receiver = Receiver(tmp_path / "receiver")
    profile = DemoProfile(
        exporters=(f"127.0.0.1:{exporter_port}",),
        prometheus=tuple(f"127.0.0.1:{p}" for p in prom_ports.values()),
        alertmanagers=tuple(f"127.0.0.1:{web}" for web, _ in am_ports),
        receiver_url=receiver.url,
        replicas=stack.replicas,
    )
    built = _files(profile)
    config = tmp_path / "redline.yml"
    config.write_text(EXPORTER_CONFIG.format(url=receiver.url))
    with ExitStack() as stop:
        receiver.start()
        stop.callback(receiver.stop)
        alertmanagers = []
        for i, (web, gossip) in enumerate(am_ports):
            peers = tuple(f"127.0.0.1:{g}" for j, (_, g) in enumerate(am_ports) if j != i)
            am = Alertmanager(
                tmp_path / f"alertmanager-{i}",
                built["alertmanager/alertmanager.yml"],
                port=web,
                cluster_port=gossip,
                peers=peers,
                extra_args=(f"--cluster.peer-timeout={profile.peer_timeout}",),
            )
            am.start()
            stop.callback(am.stop)
            alertmanagers.append(am)
        exporter = Redline(tmp_path / "redline", config, port=exporter_port)
        exporter.start()
        stop.callback(exporter.stop)
        servers = {}
        for replica, port in prom_ports.items():
            workdir = tmp_path / f"prometheus-{replica}"
            for rel, text in built.items():
                if rel.startswith("prometheus/rules/"):
                    path = workdir / rel.removeprefix("prometheus/")
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
            prom = Prometheus(
                workdir,
                built[f"prometheus/prometheus-{replica}.yml"],
                port=port,
                extra_args=(f"--rules.alert.resend-delay={RESEND}",),
            )
            prom.start()
            stop.callback(prom.stop)
            servers[replica] = prom
        for prom in servers.values():
            prom.wait_for('probe_success{job="redline"} == 1', timeout=30)
        yield Pair(receiver, exporter, servers, alertmanagers)


def _pages(notes: list[dict[str, Any]], status: str) -> list[dict[str, Any]]:
    return [
        n
        for n in notes
        if n["payload"]["status"] == status
        # the on-call's pages; the escalation receiver's copy of a page still firing after the
        # acknowledgement time is the second tier, by design (alert_rules/routing.yml)
        and n["receiver"] == "oncall"
        and any(a["labels"]["alertname"] == PAGE for a in n["payload"]["alerts"])
    ]


def _wait(pair: Pair, since: float, status: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _pages(pair.receiver.notifications(since), status)
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(
        f"no {status} {PAGE} notification within {timeout:.0f}s; got "
        f"{_describe(pair.receiver.notifications(since))}"
    )


def _describe(notes: list[dict[str, Any]]) -> list[str]:
    return [
        f"{n['receiver']} {n['payload']['status']} "
        + ",".join(
            "{" + ",".join(f"{k}={v}" for k, v in sorted(a["labels"].items())) + "}"
            for a in n["payload"]["alerts"]
        )
        for n in notes
    ]


def _firing_on(prom: Prometheus, name: str) -> bool:
    alerts = prom.get_json("/api/v1/alerts")["data"]["alerts"]
    return any(a["labels"]["alertname"] == name and a["state"] == "firing" for a in alerts)


def _wait_firing(prom: Prometheus, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not _firing_on(prom, PAGE):
        if time.monotonic() > deadline:
            raise ServerError(f"{PAGE} not firing on {prom.url} within {timeout:.0f}s")
        time.sleep(0.5)


@pytest.mark.slow
def test_the_pair_pages_once_and_once_more_when_either_server_stops(pair: Pair) -> None:
    start = time.time()
    pair.exporter.stop()
    page = _wait(pair, start, "firing", timeout=90)
    for prom in pair.prometheus.values():
        _wait_firing(prom)  # both servers of the pair hold the alert

    # mid-incident: each server of the pair in turn is stopped while the other carries on
    a, b = pair.prometheus["a"], pair.prometheus["b"]
    a.stop()
    time.sleep(QUIET)
    a.start()
    _wait_firing(a)
    b.stop()
    time.sleep(QUIET)
    # what each peer holds with one server left (checked below, after what was sent)
    held = [
        [x for x in am.alerts() if x["labels"]["alertname"] == PAGE] for am in pair.alertmanagers
    ]

    # the incident ends
    healed = time.time()
    pair.exporter.start()
    _wait(pair, healed, "resolved", timeout=90)

    notes = pair.receiver.notifications(start)
    described = _describe(notes)
    assert len(_pages(notes, "firing")) == 1, f"pages: {described}"
    assert _pages(notes, "firing")[0] == page
    assert len(_pages(notes, "resolved")) == 1, f"resolutions: {described}"
    assert _pages(notes, "resolved")[0]["received_at"] >= healed, described
    for n in notes:
        alerts = n["payload"]["alerts"]
        labels = [tuple(sorted(x["labels"].items())) for x in alerts]
        assert len(set(labels)) == len(labels), f"an alert twice in one notification: {described}"
        assert all(REPLICA_LABEL not in x["labels"] for x in alerts), described
    (alert,) = [x for x in page["payload"]["alerts"] if x["labels"]["alertname"] == PAGE]
    assert alert["labels"]["instance"] == pair.exporter.url.removeprefix("http://")
    assert page["receiver"] == "oncall"
    for alerts in held:  # one alert per peer, still active, with one server of the two
        assert len(alerts) == 1 and alerts[0]["status"]["state"] == "active", alerts
        assert REPLICA_LABEL not in alerts[0]["labels"], alerts

    # the pipeline's heartbeat: never twice within its repeat interval
    pings = sorted(
        n["received_at"]
        for n in notes
        if any(x["labels"]["alertname"] == "Watchdog" for x in n["payload"]["alerts"])
    )
    assert pings, f"no Watchdog notification: {described}"
    gaps = [later - earlier for earlier, later in itertools.pairwise(pings)]
    assert all(gap > WATCHDOG_REPEAT * 0.8 for gap in gaps), f"Watchdog gaps {gaps}"


def test_each_server_of_the_pair_drops_its_replica_label_from_alerts() -> None:
    """The generated pair, without running it: the two files differ only in the replica label
    (and their header), and both drop it from alerts."""
    import yaml

    a = yaml.safe_load((ROOT / "prometheus" / "prometheus-a.yml").read_text())
    b = yaml.safe_load((ROOT / "prometheus" / "prometheus-b.yml").read_text())
    assert a["global"]["external_labels"][REPLICA_LABEL] == "a"
    assert b["global"]["external_labels"][REPLICA_LABEL] == "b"
    for config in (a, b):
        drop = config["alerting"]["alert_relabel_configs"]
        assert {"action": "labeldrop", "regex": REPLICA_LABEL} in drop
    b["global"]["external_labels"][REPLICA_LABEL] = "a"
    assert a == b
    single = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    assert REPLICA_LABEL not in single["global"]["external_labels"]


@pytest.mark.parametrize("replica", ["a", "b"])
def test_promtool_checks_each_server_of_the_pair(replica: str, tmp_path: Path) -> None:
    """As tests/test_rules_promtool.py checks prometheus.yml: promtool wants the platforms'
    token and key files to exist, so the same config points at stand-in files."""
    from tests.test_rules_promtool import promtool

    text = (ROOT / "prometheus" / f"prometheus-{replica}.yml").read_text(encoding="utf-8")
    for i, secret in enumerate(re.findall(r"(?:credentials_file|password_file): (\S+)", text)):
        stand_in = tmp_path / f"secret-{i}"
        stand_in.write_text("not-a-secret\n", encoding="utf-8")
        text = text.replace(f": {secret}\n", f": {stand_in}\n")
    (tmp_path / "prometheus.yml").write_text(text, encoding="utf-8")
    (tmp_path / "rules").symlink_to(ROOT / "prometheus" / "rules")
    result = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
