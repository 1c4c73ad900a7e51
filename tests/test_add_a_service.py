"""Adding a service is one edit of one file (docs/add-a-service.md): a copy of the operator's file
gains a service with an HTTP probe and SLOs, and every generated part of the stack follows: the
exporter config, the SLO recording and burn-rate rules, the down and latency alerts with their
promtool tests (run here by the real promtool), the ticket route, the dashboards and the status
page row. Nothing else in the copied tree is edited.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from dashboards import build as dashboards
from exporter import rules
from exporter.app import initial_runtime, make_app
from exporter.config import ConfigError, load_config
from exporter.rules import stackmodel
from exporter.rules.spec import ROOT, SpecError

# The walkthrough's edit, as docs/add-a-service.md shows it (a test there checks they match).
NEW_SERVICE = """
  - name: hotdash-production
    description: HotDash in production (Fly app hotdash-production)
    team: services
    depends_on: [supabase-pooler]
    slos:
      - name: availability
        objective: 99.9
        description: HotDash production answers its health check
        explained_by: [database-availability]
        sli: {probes: [health]}
      - name: api-latency
        objective: 95
        description: HotDash production API requests answered within 1 s
        explained_by: [database-availability]
        sli: {latency: {routes: [api], threshold: 1s}}
    probes:
      - name: health
        kind: http
        url: https://hotdash-production.fly.dev/health
        timeout: 2s
        degraded_after: 400ms
        page_after: 900ms
"""
NAME = "hotdash-production"
DEMO_DROP = """  - drop: services[hotdash-production]
    why: the demo has no stand-in for the production app.
"""


def _tree(tmp_path: Path, edit: str = NEW_SERVICE) -> Path:
    """A copy of the parts of the repository the generators read, with ``edit`` appended to
    the services of the operator's file."""
    for d in ("config", "alert_rules", "docs"):
        shutil.copytree(ROOT / d, tmp_path / d)
    (tmp_path / "dashboards").mkdir()
    for path in dashboards.sources(ROOT):
        shutil.copy(path, tmp_path / "dashboards" / path.name)
    path = tmp_path / "config" / "hotrod.yml"
    text = path.read_text()
    anchor = "\nservices:\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + edit.lstrip("\n") + "\n", 1))
    # The demo stands in only for what it has a stand-in for: a production-only service is
    # dropped from the derived demo config, by name (make generate refuses an address the demo
    # has not mapped, see test_the_demo_must_say_what_it_does_with_a_new_address).
    demo = tmp_path / "config" / "demo.yml"
    demo_text = demo.read_text()
    assert "\naddresses:\n" in demo_text
    demo.write_text(demo_text.replace("\naddresses:\n", "\n" + DEMO_DROP + "\naddresses:\n", 1))
    return tmp_path


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = _tree(tmp_path_factory.mktemp("stack"))
    files = rules.build(root)
    files.update(dashboards.build(root))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root, files


def _rules(files: dict[str, str], rel: str) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(files[rel])["groups"] for r in g["rules"]]


def test_the_exporter_config_has_its_probe(generated: tuple[Path, dict[str, str]]) -> None:
    root, _ = generated
    config, _ = load_config(root / "config" / "hotrod.yml")
    service = next(s for s in config.services if s.name == NAME)
    assert [p.name for p in service.probes] == ["health"]


def test_its_slos_get_recording_rules_and_burn_rate_alerts(
    generated: tuple[Path, dict[str, str]],
) -> None:
    _, files = generated
    for slo in ("availability", "api-latency"):
        rel = f"prometheus/rules/slo-{NAME}-{slo}.yml"
        found = _rules(files, rel)
        records = [r["record"] for r in found if "record" in r]
        assert any(r.startswith("slo:sli_error:ratio_rate") for r in records), records
        burn = [r for r in found if r.get("alert") == "SLOErrorBudgetBurn"]
        assert {r["labels"]["severity"] for r in burn} == {"page", "ticket"}
        assert f"rules/slo-{NAME}-{slo}.yml" in files["prometheus/prometheus.yml"]
        assert f"prometheus/tests/slo-{NAME}-{slo}.yml" in files
    table = files["docs/slos.md"]
    assert f"| {NAME}-availability | {NAME} |" in table


def test_its_down_and_latency_alerts_have_promtool_tests_that_pass(
    generated: tuple[Path, dict[str, str]],
) -> None:
    root, files = generated
    latency = [
        r
        for r in _rules(files, "prometheus/rules/probes.yml")
        if r.get("alert") == "ServiceLatencyHigh"
    ]
    mine = [r for r in latency if NAME in r["expr"]]
    # its own budgets, not the other health probes': 0.4 s ticket, 0.9 s page
    assert sorted((r["labels"]["severity"], r["expr"].split(">")[-1].strip()) for r in mine) == [
        ("page", "0.9"),
        ("ticket", "0.4"),
    ]
    tests = yaml.safe_load(files["prometheus/tests/probes.yml"])
    tested = {
        (alert["alertname"], a["exp_labels"]["service"])
        for t in tests["tests"]
        for alert in t.get("alert_rule_test", [])
        for a in alert.get("exp_alerts", [])
        if "service" in a["exp_labels"]
    }
    assert ("ServiceDown", NAME) in tested
    assert ("ServiceLatencyHigh", NAME) in tested
    # its own tests of probes.yml, in a file beside it (same rule_files): promtool starts a
    # database per test, and the other services' tests are run on the committed files by
    # tests/test_rules_promtool.py
    its = [t for t in tests["tests"] if NAME in json.dumps(t["input_series"])]
    assert len(its) >= 2, [t["name"] for t in its]
    own = root / "prometheus" / "tests" / f"probes-{NAME}.yml"
    own.write_text(yaml.safe_dump({**tests, "tests": its}))
    for path in (own, root / f"prometheus/tests/slo-{NAME}-availability.yml"):
        result = subprocess.run(
            ["promtool", "test", "rules", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_its_tickets_are_routed_and_the_database_outage_silences_it(
    generated: tuple[Path, dict[str, str]],
) -> None:
    _, files = generated
    am = yaml.safe_load(files["alertmanager/alertmanager.yml"])
    inhibit = next(
        r for r in am["inhibit_rules"] if 'database="supabase-pooler"' in r["source_matchers"]
    )
    assert NAME in inhibit["target_matchers"][0]
    # routed to its team: 'services' is the tickets' own receiver, so no extra route is needed;
    # a team of its own gets a generated route (next test)
    tickets = next(
        r for r in am["route"]["routes"] if r["matchers"] == ['severity="ticket"'] and "routes" in r
    )
    assert tickets["receiver"] == "services"


def test_a_team_of_its_own_gets_a_generated_route(tmp_path: Path) -> None:
    root = _tree(tmp_path, NEW_SERVICE.replace("team: services", "team: database"))
    am = yaml.safe_load(rules.build(root)["alertmanager/alertmanager.yml"])
    tickets = next(
        r for r in am["route"]["routes"] if r["matchers"] == ['severity="ticket"'] and "routes" in r
    )
    assert {"matchers": [f'service=~"{NAME}"'], "receiver": "database"} in tickets["routes"]


def test_its_dashboards_draw_its_budgets(generated: tuple[Path, dict[str, str]]) -> None:
    _, files = generated
    services = json.loads(files["dashboards/json/redline-services.json"])
    text = json.dumps(services)
    assert f"{NAME}/health" in text  # its latency budget overrides on the Services dashboard
    slos = json.loads(files["dashboards/json/redline-slos.json"])
    assert f"{NAME}-availability" in json.dumps(slos)


async def test_the_status_page_has_its_row(generated: tuple[Path, dict[str, str]]) -> None:
    root, _ = generated
    client = TestClient(TestServer(make_app(initial_runtime(root / "config" / "hotrod.yml"))))
    await client.start_server()
    try:
        snap = await (await client.get("/status.json")).json()
        page = await (await client.get("/status")).text()
    finally:
        await client.close()
    assert NAME in [s["name"] for s in snap["services"]]
    assert NAME in page


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (
            NEW_SERVICE.replace("sli: {probes: [health]}", "sli: {probes: [helth]}"),
            r"hotrod\.yml:\d+: services\[0\]: slos\[0\]\.sli\.probes: helth is not a probe",
        ),
        (
            NEW_SERVICE.replace(
                "explained_by: [database-availability]\n        sli: {probes",
                "explained_by: [database-availabilty]\n        sli: {probes",
            ),
            r"hotrod\.yml:\d+: .*explained_by: no SLO named database-availabilty",
        ),
        (
            NEW_SERVICE.replace("depends_on: [supabase-pooler]", "depends_on: [supabase-pool]"),
            r"hotrod\.yml:\d+: .*depends_on: no database named supabase-pool",
        ),
        (
            NEW_SERVICE.replace("page_after: 900ms", "page_after: 2s"),
            r"hotrod\.yml:\d+: services\[0\]\.probes\[0\]: page_after \(2 s\) must be below the "
            r"probe's timeout",
        ),
        (
            NEW_SERVICE.replace("page_after: 900ms", "page_after: 300ms"),
            r"page_after must be above degraded_after",
        ),
        (
            NEW_SERVICE + NEW_SERVICE,
            r"service name 'hotdash-production' is used twice",
        ),
        (
            NEW_SERVICE.replace("team: services", "team: sevrices"),
            r"hotrod\.yml:\d+: services\[0\]\.team: 'sevrices' is not a receiver",
        ),
    ],
)
def test_a_bad_edit_is_refused_before_anything_is_written(
    tmp_path: Path, edit: str, error: str
) -> None:
    root = _tree(tmp_path, edit)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises((SpecError, Exception), match=error):
        rules.write(root)
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_a_for_longer_than_the_slo_window_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    path = root / "config" / "hotrod.yml"
    path.write_text(path.read_text() + "\nslo_window: 1h\n")
    with pytest.raises(
        SpecError, match=r"alert_rules/alerts\.yml:\d+: alerts\..*\.for: .* is longer than the SLO"
    ):
        stackmodel.load(root)


def test_redline_check_refuses_what_the_stack_refuses(tmp_path: Path, capsys: Any) -> None:
    from exporter.cli import main

    root = _tree(tmp_path, NEW_SERVICE.replace("team: services", "team: sevrices"))
    assert main(["check", str(root / "config" / "hotrod.yml")]) == 1
    err = capsys.readouterr().err
    assert "hotrod.yml:" in err and "services[0].team: 'sevrices' is not a receiver" in err


def test_the_walkthrough_shows_the_edit_this_test_makes() -> None:
    doc = (ROOT / "docs" / "add-a-service.md").read_text()
    assert "```yaml\n" + NEW_SERVICE.lstrip("\n") + "```" in doc


def test_the_demo_must_say_what_it_does_with_a_new_address(tmp_path: Path) -> None:
    """Without the demo's line, make generate refuses and names the address and config/demo.yml
    (the demo cannot drift from production silently)."""
    root = _tree(tmp_path)
    demo = root / "config" / "demo.yml"
    demo.write_text(demo.read_text().replace(DEMO_DROP, ""))
    with pytest.raises(Exception, match=r"hotdash-production\.fly\.dev.*config/demo\.yml"):
        rules.build(root)


def test_a_vendor_check_named_like_a_service_of_ours_is_refused(tmp_path: Path) -> None:
    """VendorApiFailing{service="chatwoot"} once came from a check named chatwoot: routed to
    Chatwoot's team and muted by the database outage as if it were our Chatwoot's alert."""
    root = _tree(tmp_path)
    path = root / "config" / "hotrod.yml"
    path.write_text(path.read_text().replace("- name: chatwoot-api\n", "- name: chatwoot\n"))
    with pytest.raises(
        SpecError,
        match=r"hotrod\.yml:\d+: vendors\.checks\.chatwoot\[0\]\.name: 'chatwoot' is the name of "
        r"our service chatwoot",
    ):
        stackmodel.load(root)


def test_counters_read_through_fly_s_proxy_from_several_machines_are_refused(
    tmp_path: Path,
) -> None:
    """With two machines behind Fly's proxy, agent-service's processedCount alternates between
    the machines' own counts: each switch reads as a reset, and increase() takes the other
    machine's whole count for new jobs (AgentJobsFailing's denominator)."""
    root = _tree(tmp_path)
    path = root / "config" / "hotrod.yml"
    one = "        - {name: app, memory: 1GiB, machines: 1}\n"
    text = path.read_text()
    assert one in text
    path.write_text(text.replace(one, one.replace("machines: 1", "machines: 2"), 1))
    with pytest.raises(
        SpecError,
        match=r"hotrod\.yml:\d+: services\[\d+\]\.probes\[\d+\]: reads the counters "
        r"queue_processed through Fly's proxy, and agent-service's group app has 2 machines",
    ):
        stackmodel.load(root)
    # pinned to one machine (Fly's fly-force-instance-id header), it is read where it does not
    # alternate
    pinned = "        url: https://hotdash-agent-service.fly.dev/queue/stats\n"
    text = path.read_text()
    assert pinned in text
    path.write_text(
        text.replace(pinned, pinned + "        headers: {fly-force-instance-id: 1781973f}\n")
    )
    stackmodel.load(root)


def test_counters_read_per_machine_from_several_machines_are_accepted(tmp_path: Path) -> None:
    """per_machine reads each machine's counters on its own (labelled machine): no reset."""
    root = _tree(tmp_path)
    path = root / "config" / "hotrod.yml"
    one = "        - {name: app, memory: 1GiB, machines: 1}\n"
    queue = "        url: https://hotdash-agent-service.fly.dev/queue/stats\n"
    text = path.read_text()
    text = text.replace(one, one.replace("machines: 1", "machines: 2"), 1)
    path.write_text(text.replace(queue, queue + "        per_machine: app\n"))
    stack = stackmodel.load(root)
    fly = next(s for s in stack.slos.slos if s.name == "agent-service-fly-requests")
    assert fly.sli.fly_requests is not None
    # its run is one request through the proxy and one per machine of the group
    assert {t.probe: t.per_run for t in fly.sli.fly_requests.probe_traffic} == {
        "health": 1,
        "queue": 3,
    }
    # a group the app does not run is an error with the file, line and path
    path.write_text(path.read_text().replace("per_machine: app", "per_machine: web"))
    with pytest.raises(
        ConfigError, match=r"hotrod\.yml:\d+: services\[2\]: probes\[1\]\.per_machine: web "
    ):
        stackmodel.load(root)
