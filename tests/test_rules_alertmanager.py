"""The generated alertmanager.yml, with the real amtool and Alertmanager 0.25.

- ``amtool check-config`` accepts it;
- ``amtool config routes test``: every route is reachable (a label set built from its matchers
  lands on its receiver, so no earlier route shadows it), and every alert's label sets land where
  its severity and service say (page: on-call; ticket: its team and, through the launch-window
  route, on-call too; info: the digest);
- a real Alertmanager, given alerts over its API, inhibits what the routing spec says: a page
  silences the ticket of the same alert, the database outage its dependents, a vendor's outage our
  alerts about its API, the exporter being down what it measures;
- no credential is written in the file: every secret is a ``*_file``.

Fails (never skips) when amtool or Alertmanager is missing: ``make test`` installs them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from exporter import rules
from exporter.demo.servers import Alertmanager
from exporter.rules import stackmodel
from exporter.rules.model import Alert
from exporter.rules.spec import ROOT, SpecError, seconds

CONFIG = ROOT / "alertmanager" / "alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("amtool")
    assert binary, "amtool is missing: run scripts/install-system.sh"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)


def receivers_for(labels: dict[str, str]) -> list[str]:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(",")


def test_amtool_accepts_the_config() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_credentials_are_files_only() -> None:
    text = CONFIG.read_text()
    config = yaml.safe_load(text)
    for key in ("smtp_auth_password", "api_url", "routing_key", "service_key", "credentials"):
        assert not re.search(rf"^\s*{key}:", text, re.M), f"inline {key}"
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert slack["api_url_file"].startswith("/etc/alertmanager/secrets/")
        for pd in receiver.get("pagerduty_configs", []):
            assert pd["routing_key_file"].startswith("/etc/alertmanager/secrets/")
        for hook in receiver.get("webhook_configs", []):
            assert "credentials_file" in hook["http_config"]["authorization"]
    assert config["global"]["smtp_auth_password_file"].startswith("/etc/alertmanager/secrets/")


def _routes(route: dict[str, object], parents: list[str]) -> Iterator[tuple[list[str], dict]]:
    for child in route.get("routes", []):  # type: ignore[union-attr]
        matchers = [*parents, *child["matchers"]]
        yield matchers, child
        yield from _routes(child, matchers)


def _labels_from(matchers: list[str]) -> dict[str, str]:
    labels = {}
    for matcher in matchers:
        name, op, value = re.match(r'^(\w+)(=~|!~|!=|=)"(.*)"$', matcher).groups()  # type: ignore[union-attr]
        if op == "=":
            labels[name] = value
        elif op == "=~":
            labels[name] = value.split("|")[0]
    labels.setdefault("alertname", "SomeAlert")
    return labels


def test_every_route_is_reachable() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    routes = list(_routes(config["route"], []))
    assert len(routes) >= 8
    for matchers, route in routes:
        got = receivers_for(_labels_from(matchers))
        assert route["receiver"] in got, f"{matchers} -> {got}, not {route['receiver']}"


# Who owns a ticket: the routing spec's promise, stated independently here.
TEAM = {
    "database": "database",
    "backups": "vendors-jobs",
    "jobs": "vendors-jobs",
    "shopify": "vendors-jobs",
    "redline": "platform",
    "host": "platform",
    "logs": "platform",
}
VENDOR_ALERTS = {
    "VendorComponentDown",
    "VendorApiFailing",
    "VendorApiThrottled",
    "GoogleAnalyticsNoData",
}


def _expected(labels: dict[str, str]) -> list[str]:
    if labels["alertname"] == "Watchdog":
        return ["deadmansswitch"]
    if labels["alertname"] in ("OutageWindow", "MaintenanceWindow", "MaintenanceAftermath"):
        return ["explanations"]
    if labels["severity"] == "page":
        return ["oncall", "escalation"]
    if labels["severity"] == "info":
        return ["digest"]
    team = TEAM.get(labels["service"], "services")
    if labels["alertname"] in VENDOR_ALERTS:
        team = "vendors-jobs"
    return ["oncall", team]


def _label_sets(alerts: list[Alert]) -> list[dict[str, str]]:
    seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for alert in alerts:
        for case in alert.cases:
            for exp in case.expect:
                rule = alert.rule(exp.severity, exp.family)
                labels = {
                    **case.labels,
                    **exp.labels,
                    **rule.labels,
                    "severity": rule.severity,
                    "alertname": alert.name,
                }
                key = tuple(
                    sorted(
                        (k, labels[k]) for k in ("alertname", "severity", "service") if k in labels
                    )
                )
                seen.setdefault(key, labels)
    return list(seen.values())


def test_every_alert_reaches_the_receivers_its_severity_and_service_call_for() -> None:
    catalogue, slo_alerts = rules.alert_list(ROOT)
    label_sets = _label_sets(catalogue + slo_alerts)
    assert len(label_sets) > 50
    # one amtool process per label set, a few at a time (each mostly starts up)
    with ThreadPoolExecutor(4) as pool:
        found = list(pool.map(receivers_for, label_sets))
    for labels, receivers in zip(label_sets, found, strict=True):
        assert receivers == _expected(labels), labels


def test_the_launch_window_is_bound_to_its_route_and_the_digest_to_no_time() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    intervals = {ti["name"]: ti["time_intervals"] for ti in config["time_intervals"]}
    launch = intervals["launch-window"][0]
    assert launch["months"] == ["october"] and launch["days_of_month"] == ["13:15"]
    routes = config["route"]["routes"]
    launch_route = next(r for r in routes if r.get("active_time_intervals") == ["launch-window"])
    assert launch_route["matchers"] == ['severity="ticket"'] and launch_route["continue"] is True
    assert launch_route["receiver"] == "oncall"
    # the info digest is held to no time: held to business hours, an info alert that fired and
    # resolved at night (HeartbeatLate at 03:00, the job on time by 03:30) reached no digest
    info = next(r for r in routes if r["matchers"] == ['severity="info"'])
    assert info["receiver"] == "digest" and info["group_by"] == ["severity"]
    assert "active_time_intervals" not in info and "mute_time_intervals" not in info
    assert set(intervals) == {"launch-window"}


# --- inhibitions, in a real Alertmanager -------------------------------------------------------

EXPORTER = {"job": "redline", "instance": "localhost:9877"}


@pytest.fixture
def am(tmp_path: Path) -> Iterator[Alertmanager]:
    """A fresh Alertmanager per test: alerts posted by one test must not inhibit another's."""
    with Alertmanager(tmp_path / "am", CONFIG.read_text()) as server:
        yield server  # type: ignore[misc]


def _states(am: Alertmanager, alerts: list[dict[str, str]]) -> dict[str, list[str]]:
    """Post ``alerts`` (each a label set with a unique ``case``), return inhibitedBy by case."""
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(
        f"{am.url}/api/v2/alerts",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()
    wanted = {a["case"] for a in alerts}
    # Alertmanager computes inhibitedBy when the alerts are read, from a cache of inhibiting
    # alerts that a goroutine fills asynchronously after the POST: right after it, an alert can
    # read as not inhibited whatever the rules say. Read until two reads 0.5 s apart agree
    # (bounded), so a verdict is the settled one.
    deadline = time.monotonic() + 15
    previous: dict[str, list[str]] | None = None
    while True:
        found = [a for a in am.alerts() if a["labels"].get("case") in wanted]
        current = {a["labels"]["case"]: a["status"]["inhibitedBy"] for a in found}
        processed = all(a["status"]["state"] != "unprocessed" for a in found)
        settled = len(found) == len(wanted) and processed and current == previous
        if settled or time.monotonic() > deadline:
            return current
        previous = current if len(found) == len(wanted) and processed else None
        time.sleep(0.5)


def test_a_page_silences_the_ticket_of_the_same_alert(am: Alertmanager) -> None:
    same = {"alertname": "HostCPUHigh", "service": "host", **EXPORTER}
    states = _states(
        am,
        [
            {**same, "severity": "page", "case": "p1"},
            {**same, "severity": "ticket", "case": "p2"},
            {**same, "severity": "ticket", "instance": "other:9877", "case": "p3"},
        ],
    )
    assert states["p1"] == [] and states["p2"] != [] and states["p3"] == []


def test_a_database_outage_silences_its_dependents(am: Alertmanager) -> None:
    states = _states(
        am,
        [
            {"alertname": "PostgresDown", "service": "database", "database": "supabase-pooler",
             "severity": "page", **EXPORTER, "case": "d1"},
            {"alertname": "PostgresDown", "service": "database", "database": "supabase",
             "severity": "ticket", **EXPORTER, "case": "d6"},
            {"alertname": "ServiceDown", "service": "hotdash-app", "probe": "health",
             "severity": "page", **EXPORTER, "case": "d2"},
            {"alertname": "SLOErrorBudgetBurn", "service": "agent-service",
             "slo": "agent-service-availability", "severity": "page", "case": "d3"},
            {"alertname": "PostgresConnectionsHigh", "service": "database",
             "database": "supabase-pooler", "severity": "ticket", **EXPORTER, "case": "d4"},
            {"alertname": "ServiceDown", "service": "shopify", "probe": "shop",
             "severity": "page", **EXPORTER, "case": "d5"},
        ],
    )  # fmt: skip
    assert states["d1"] == []
    assert states["d2"] and states["d3"] and states["d4"]
    assert states["d5"] == []  # Shopify does not run on our database
    assert states["d6"]  # the direct connection: the same server, explained by the outage


def test_the_direct_connection_down_mutes_only_its_own_alerts(am: Alertmanager) -> None:
    """redline's direct connection failing (auth, say) is a ticket about that entry: it must not
    hide the services' pages nor the pooler's alerts (it once muted everything, as a SEV-1)."""
    states = _states(
        am,
        [
            {"alertname": "PostgresDown", "service": "database", "database": "supabase",
             "severity": "ticket", **EXPORTER, "case": "a1"},
            {"alertname": "ServiceDown", "service": "hotdash-app", "probe": "health",
             "severity": "page", **EXPORTER, "case": "a2"},
            {"alertname": "PostgresConnectionsHigh", "service": "database",
             "database": "supabase-pooler", "severity": "ticket", **EXPORTER, "case": "a3"},
            {"alertname": "PostgresLongTransaction", "service": "database",
             "database": "supabase", "severity": "ticket", **EXPORTER, "case": "a4"},
        ],
    )  # fmt: skip
    assert states["a1"] == [] and states["a2"] == [] and states["a3"] == []
    assert states["a4"]  # its own alerts: what redline cannot read through it


def test_a_recovered_database_keeps_its_dependents_silent(am: Alertmanager) -> None:
    """PostgresDown has resolved, the services' windows still hold its outage: OutageWindow
    keeps their alerts inhibited, so the recovery pages nobody."""
    states = _states(
        am,
        [
            {"alertname": "OutageWindow", "cause": "PostgresDown", "service": "database",
             "database": "supabase-pooler", "severity": "info", "case": "r1"},
            {"alertname": "LogErrorRateHigh", "service": "hotdash-app", "severity": "page",
             **EXPORTER, "case": "r2"},
            {"alertname": "SLOErrorBudgetBurn", "service": "chatwoot",
             "slo": "chatwoot-availability", "severity": "page", "case": "r3"},
            {"alertname": "PostgresDown", "service": "database", "database": "supabase-pooler",
             "severity": "page", **EXPORTER, "case": "r4"},
        ],
    )  # fmt: skip
    assert states["r2"] and states["r3"]
    assert states["r4"] == []  # the database down again: a new incident, it pages


def test_a_service_down_after_the_database_is_back_pages(am: Alertmanager) -> None:
    """A service down once the database is back is an incident of its own: the two-faults drill
    found it muted for the whole of the database's OutageWindow."""
    states = _states(
        am,
        [
            {"alertname": "OutageWindow", "cause": "PostgresDown", "service": "database",
             "database": "supabase-pooler", "severity": "info", "case": "b1"},
            {"alertname": "ServiceDown", "service": "agent-service", "probe": "health",
             "severity": "page", **EXPORTER, "case": "b2"},
            {"alertname": "LogErrorRateHigh", "service": "agent-service", "severity": "page",
             **EXPORTER, "case": "b3"},
        ],
    )  # fmt: skip
    assert states["b2"] == [] and states["b3"]


def test_a_down_service_is_the_one_page_of_its_outage(am: Alertmanager) -> None:
    """agent-service down: ServiceDown pages; the SLO burn and log error-rate pages of the same
    service are held back, during the outage and (OutageWindow) after it; another service's page
    and the service's tickets still get through."""
    down = {"service": "agent-service", "severity": "page"}
    states = _states(
        am,
        [
            {"alertname": "ServiceDown", "probe": "health", **down, **EXPORTER, "case": "o1"},
            {"alertname": "SLOErrorBudgetBurn", "slo": "agent-service-availability", **down,
             "case": "o2"},
            {"alertname": "LogErrorRateHigh", **down, **EXPORTER, "case": "o3"},
            {"alertname": "SLOErrorBudgetBurn", "slo": "chatwoot-availability",
             "service": "chatwoot", "severity": "page", "case": "o4"},
            {"alertname": "ServiceWrongVersion", "service": "agent-service", "probe": "health",
             "severity": "ticket", **EXPORTER, "case": "o5"},
            {"alertname": "ServiceDown", "probe": "queue", **down, **EXPORTER, "case": "o6"},
        ],
    )  # fmt: skip
    assert states["o1"] == [] and states["o6"] == []
    assert states["o2"] and states["o3"]
    assert states["o4"] == [] and states["o5"] == []


def test_after_a_service_outage_its_burn_stays_silent(am: Alertmanager) -> None:
    states = _states(
        am,
        [
            {"alertname": "OutageWindow", "cause": "ServiceDown", "service": "agent-service",
             "severity": "info", "case": "w1"},
            {"alertname": "SLOErrorBudgetBurn", "slo": "agent-service-availability",
             "service": "agent-service", "severity": "page", "case": "w2"},
            {"alertname": "SLOErrorBudgetBurn", "slo": "hotdash-app-availability",
             "service": "hotdash-app", "severity": "page", "case": "w3"},
        ],
    )  # fmt: skip
    assert states["w2"] and states["w3"] == []


def test_a_vendor_outage_silences_our_alerts_about_its_api(am: Alertmanager) -> None:
    states = _states(
        am,
        [
            {"alertname": "VendorComponentDown", "feed": "shopify", "component": "Admin",
             "status": "major_outage", "service": "shopify", "severity": "ticket", **EXPORTER,
             "case": "v1"},
            {"alertname": "VendorApiFailing", "check": "shopify-admin", "service": "shopify-admin",
             "severity": "ticket", **EXPORTER, "case": "v2"},
            {"alertname": "SLOErrorBudgetBurn", "service": "shopify", "slo": "shopify-calls",
             "severity": "page", "case": "v3"},
            {"alertname": "VendorApiFailing", "check": "chatwoot-api", "service": "chatwoot-api",
             "severity": "ticket", **EXPORTER, "case": "v4"},
        ],
    )  # fmt: skip
    assert states["v1"] == []
    assert states["v2"] and states["v3"]
    assert states["v4"] == []


def test_the_exporter_down_silences_what_it_measures(am: Alertmanager) -> None:
    shard = {"job": "redline", "instance": "shard-b:9877"}
    states = _states(
        am,
        [
            {"alertname": "RedlineExporterDown", "service": "redline", "severity": "page",
             **shard, "case": "e1"},
            {"alertname": "HostDiskUsageHigh", "service": "host", "severity": "ticket",
             "mountpoint": "/", **shard, "case": "e2"},
            {"alertname": "HostDiskUsageHigh", "service": "host", "severity": "ticket",
             "mountpoint": "/", "job": "redline", "instance": "shard-a:9877", "case": "e3"},
        ],
    )  # fmt: skip
    assert states["e1"] == [] and states["e2"] and states["e3"] == []


def test_a_service_down_silences_its_own_symptoms(am: Alertmanager) -> None:
    probe = {"service": "chatwoot", "probe": "health", **EXPORTER}
    states = _states(
        am,
        [
            {"alertname": "ServiceDown", "severity": "page", **probe, "case": "s1"},
            {"alertname": "ServiceLatencyHigh", "severity": "ticket", **probe, "case": "s2"},
            {"alertname": "ServiceLatencyHigh", "severity": "ticket", **probe, "probe": "api",
             "case": "s3"},
        ],
    )  # fmt: skip
    assert states["s2"] and states["s3"] == []


def test_after_a_service_outage_its_slowness_stays_silent(am: Alertmanager) -> None:
    """ServiceLatencyHigh's 30 min window holds the outage's timed-out probes after the service
    is back: their ticket is the outage's (OutageWindow), another service's is not."""
    states = _states(
        am,
        [
            {"alertname": "OutageWindow", "cause": "ServiceDown", "service": "chatwoot",
             "severity": "info", "case": "l1"},
            {"alertname": "ServiceLatencyHigh", "severity": "ticket", "service": "chatwoot",
             "probe": "api", **EXPORTER, "case": "l2"},
            {"alertname": "ServiceLatencyHigh", "severity": "ticket", "service": "hotdash-app",
             "probe": "health", **EXPORTER, "case": "l3"},
        ],
    )  # fmt: skip
    assert states["l2"] and states["l3"] == []


# Labels that only say what kind of alert a source is, not which thing it is about.
KIND_LABELS = {"alertname", "severity", "cause"}


def _broad(source: list[str]) -> bool:
    """A source that matches an alert kind everywhere (no equality on an identity label such as
    database, feed or service): it would mute the targets of every instance of that kind."""
    for matcher in source:
        name, op, _ = re.match(r'^(\w+)(=~|!~|!=|=)"(.*)"$', matcher).groups()  # type: ignore[union-attr]
        if op == "=" and name not in KIND_LABELS:
            return False
    return True


def test_a_maintenance_window_silences_its_service_and_nothing_else(am: Alertmanager) -> None:
    window = {"alertname": "MaintenanceWindow", "severity": "info", "window": "upgrade"}
    states = _states(
        am,
        [
            {**window, "service": "chatwoot", "case": "m0"},
            {
                "alertname": "ServiceDown",
                "severity": "page",
                "service": "chatwoot",
                "probe": "health",
                "case": "m1",
            },
            {
                "alertname": "SLOErrorBudgetBurn",
                "severity": "page",
                "service": "chatwoot",
                "slo": "chatwoot-availability",
                "case": "m2",
            },
            # another service pages as ever
            {
                "alertname": "ServiceDown",
                "severity": "page",
                "service": "agent-service",
                "probe": "health",
                "case": "m3",
            },
        ],
    )
    assert states["m0"] == [] and states["m1"] != [] and states["m2"] != []
    assert states["m3"] == []


def test_a_database_window_silences_that_database_only(am: Alertmanager) -> None:
    window = {"alertname": "MaintenanceWindow", "severity": "info", "window": "vacuum"}
    states = _states(
        am,
        [
            {**window, "service": "database", "database": "supabase", "case": "d0"},
            {
                "alertname": "PostgresDown",
                "severity": "ticket",
                "service": "database",
                "database": "supabase",
                "case": "d1",
            },
            {
                "alertname": "PostgresConnectionsHigh",
                "severity": "ticket",
                "service": "database",
                "database": "supabase-pooler",
                "case": "d2",
            },
        ],
    )
    assert states["d1"] != [] and states["d2"] == []


def test_after_a_window_only_a_service_still_down_pages(am: Alertmanager) -> None:
    """The window closed minutes ago: the burn that still holds the planned downtime is
    silent, a service still down has overrun its window and pages."""
    after = {"alertname": "MaintenanceAftermath", "severity": "info", "window": "upgrade"}
    states = _states(
        am,
        [
            {**after, "service": "chatwoot", "case": "a0"},
            {
                "alertname": "SLOErrorBudgetBurn",
                "severity": "page",
                "service": "chatwoot",
                "slo": "chatwoot-availability",
                "case": "a1",
            },
            {
                "alertname": "ServiceDown",
                "severity": "page",
                "service": "chatwoot",
                "probe": "health",
                "case": "a2",
            },
        ],
    )
    assert states["a1"] != [] and states["a2"] == []


def test_every_inhibition_with_a_broad_source_says_what_must_be_equal() -> None:
    """PostgresDown of any database once muted all four services (and as SEV-1): a source that
    is not pinned to one thing must say, with `equal:`, which targets are its own."""
    config = yaml.safe_load(CONFIG.read_text())
    rules = config["inhibit_rules"]
    assert len(rules) >= 8
    assert any(not _broad(r["source_matchers"]) for r in rules)  # the check tells them apart
    for rule in rules:
        if _broad(rule["source_matchers"]):
            assert rule.get("equal"), f"broad source without equal: {rule}"
    # and the test would have caught the old rule
    assert _broad(['alertname="PostgresDown"'])


def test_an_unresolved_page_escalates_after_the_sev1_acknowledgement_time() -> None:
    """docs/incident-response.md: SEV-1 acknowledged within 5 minutes. A page goes to the on-call
    at once and, if it still fires 5 minutes later, to the escalation receiver too; pages repeat
    hourly, tickets every 4 h, info daily (per severity)."""
    text = (ROOT / "docs" / "incident-response.md").read_text()
    assert "| **5 minutes**" in text
    config = yaml.safe_load(CONFIG.read_text())
    routes = config["route"]["routes"]
    page = [r for r in routes if r["matchers"] == ['severity="page"']]
    oncall, escalation = page
    assert oncall["receiver"] == "oncall" and oncall["continue"] is True
    assert oncall.get("group_wait", config["route"]["group_wait"]) == "45s"
    assert escalation["receiver"] == "escalation" and escalation["group_wait"] == "5m15s"
    assert oncall["repeat_interval"] == "1h" and config["route"]["repeat_interval"] == "4h"
    info = next(r for r in routes if r["matchers"] == ['severity="info"'])
    assert info["repeat_interval"] == "24h"
    assert receivers_for({"alertname": "ServiceDown", "severity": "page"}) == [
        "oncall",
        "escalation",
    ]


def test_a_restarted_alertmanager_gets_the_inhibiting_alerts_before_it_pages() -> None:
    """An Alertmanager that restarts has lost its alerts; Prometheus sends it those still firing
    (OutageWindow, MaintenanceWindow: the sources of inhibitions) only at its next resend. The
    resend delay of every shipped Prometheus must be below the pages' group_wait, or a healed
    outage's burn page reaches the restarted peer alone and pages (the alertmanager-peer-killed
    drill found it with Prometheus's default 1m)."""
    am = yaml.safe_load(CONFIG.read_text())
    waits = [
        seconds(r.get("group_wait", am["route"].get("group_wait", "30s")))
        for r in am["route"]["routes"]
        if r.get("matchers") == ['severity="page"']
    ]
    assert waits, "no page route"
    unit = (ROOT / "deploy" / "systemd" / "redline-prometheus.service").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    for where, text in (("the systemd unit", unit), ("docker-compose.yml", compose)):
        found = re.search(r"--rules\.alert\.resend-delay=(\w+)", text)
        assert found, f"{where} leaves Prometheus's resend delay at its 1m default"
        assert seconds(found.group(1)) < min(waits), where


def test_group_waits_keep_flushes_off_the_evaluations() -> None:
    """A group_wait of a whole number of evaluations made every flush fall when an evaluation's
    alerts reached the two peers, and one peer re-sent FIRING after the other's RESOLVED (the
    two-faults drill, 2 runs in 5): make generate refuses one, and a group_interval that would
    move the half-evaluation offset onto the evaluations."""
    model = stackmodel.load(ROOT)
    routing, evaluation = model.routing, model.stack.evaluation_interval
    rules.check_flush_phase(routing, evaluation)  # what ships passes
    aligned = routing.model_copy(
        update={"defaults": routing.defaults.model_copy(update={"group_wait": "30s"})}
    )
    with pytest.raises(SpecError, match=r"defaults\.group_wait: 30s must be a whole number of"):
        rules.check_flush_phase(aligned, evaluation)
    escalation = [r for r in routing.routes if r.receiver == "escalation"]
    assert [r.group_wait for r in escalation] == ["5m15s"]
    routes = tuple(
        r.model_copy(update={"group_wait": "5m"}) if r.receiver == "escalation" else r
        for r in routing.routes
    )
    with pytest.raises(SpecError, match=r"routes\[\d+\]\.group_wait: 5m must be"):
        rules.check_flush_phase(routing.model_copy(update={"routes": routes}), evaluation)
    drifting = routing.model_copy(
        update={"defaults": routing.defaults.model_copy(update={"group_interval": "4m45s"})}
    )
    with pytest.raises(SpecError, match=r"defaults\.group_interval: 4m45s must be a whole"):
        rules.check_flush_phase(drifting, evaluation)
    # the demo's waits follow the same rule at its 5 s evaluations
    demo = yaml.safe_load(rules.build(ROOT, profile="demo")["alertmanager/alertmanager.yml"])
    assert demo["route"]["group_wait"] == "7s500ms"
