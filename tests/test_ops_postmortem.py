"""`redline postmortem` against the real Prometheus holding a known outage with the ALERTS and
ALERTS_FOR_STATE series Prometheus writes (tests/ops_history.py), and a real Alertmanager."""

from __future__ import annotations

import copy
import json
import re
import urllib.request
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.demo.servers import Alertmanager, Prometheus
from exporter.ops import postmortem
from exporter.ops.common import iso
from exporter.ops.promapi import AlertmanagerClient, PromClient
from tests.ops_history import (
    BURN_FIRING,
    DOWN_FIRING,
    DOWN_LAST,
    DOWN_PENDING,
    LATENCY_PENDING,
    MAINTENANCE,
    PM_END,
    PM_FAIL,
    PM_START,
    history_prom,  # noqa: F401 (fixture)
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pm(history_prom: Prometheus) -> postmortem.Postmortem:  # noqa: F811
    return postmortem.compute(PromClient(history_prom.url), PM_START, PM_END, ROOT / "alert_rules")


def test_alert_timeline(pm: postmortem.Postmortem) -> None:
    down = next(e for e in pm.episodes if e.alertname == "ServiceDown")
    assert down.pending_at == DOWN_PENDING  # from ALERTS_FOR_STATE
    assert down.firing_at == DOWN_FIRING
    assert down.resolved_at == DOWN_LAST + 30  # the next evaluation found it cleared
    assert down.labels["service"] == "agent-service" and down.severity == "page"
    latency = next(e for e in pm.episodes if e.alertname == "ServiceLatencyHigh")
    assert latency.pending_at == LATENCY_PENDING[0]
    assert latency.firing_at is None  # pending, never fired
    burn = next(e for e in pm.episodes if e.alertname == "SLOErrorBudgetBurn")
    assert burn.firing_at == BURN_FIRING

    assert pm.failures == [
        postmortem.ProbeFailure("agent-service", "health", PM_FAIL[0], PM_FAIL[1])
    ]
    assert pm.first_sign() == (PM_FAIL[0], "agent-service/health probe failed")
    assert pm.time_to_detect() == DOWN_FIRING - PM_FAIL[0] == 150
    assert pm.affected() == ["agent-service"]


def test_an_slo_within_its_allowance_does_not_make_its_service_affected(
    pm: postmortem.Postmortem,
) -> None:
    """The demo's background 5xx (0.097% of hotdash-app's requests, its 99.9% SLO allowing
    0.1%) once listed hotdash-app beside the service that was down."""
    quiet = copy.copy(pm)
    quiet.slos = [
        postmortem.SLOBurn("hotdash-app-fly-requests", "hotdash-app", 99.9, 0.000973),
        postmortem.SLOBurn("chatwoot-availability", "chatwoot", 99.0, 0.0101),
        postmortem.SLOBurn("shopify-calls", "shopify", 99.0, None),
    ]
    assert quiet.affected() == ["agent-service", "chatwoot"]


def test_the_planned_window_is_in_the_draft(pm: postmortem.Postmortem) -> None:
    (window,) = pm.maintenance
    assert (window.window, window.service, window.start, window.end) == (
        "agent-upgrade",
        "agent-service",
        MAINTENANCE[0],
        MAINTENANCE[1],
    )
    text = postmortem.to_markdown(pm)
    assert (
        "- Maintenance window agent-upgrade covered agent-service from 02:20:00 to 02:40:00 UTC: "
        "10m of its 22m of failing probes fell inside it" in text
    )
    assert "maintenance window agent-upgrade open for agent-service" in text
    assert (
        "probe started failing (probe_success 0) [inside maintenance window agent-upgrade]" in text
    )
    # the page fired inside the window: Alertmanager held it back
    assert "alert firing, sent to Alertmanager (notified after its group_wait) [inside " in text


def test_slo_budget_burned(pm: postmortem.Postmortem) -> None:
    slo = next(s for s in pm.slos if s.name == "agent-service-availability")
    # 44 failed samples of 360 (every 30 s for 3 h): 22 minutes of a 43.2-minute budget
    assert slo.bad_ratio == pytest.approx(44 / 360, rel=1e-9)
    assert slo.burned_minutes == pytest.approx(22.0, rel=1e-9)
    assert slo.burned_share == pytest.approx(22.0 / 43.2, rel=1e-9)
    untouched = next(s for s in pm.slos if s.name == "hotdash-app-availability")
    assert untouched.bad_ratio == 0.0
    assert next(s for s in pm.slos if s.name == "database-availability").bad_ratio is None
    assert any("SLOs without data" in g for g in pm.gaps.items)


def test_draft_follows_the_template_of_incident_response(pm: postmortem.Postmortem) -> None:
    draft = postmortem.to_markdown(pm)
    doc = (ROOT / "docs" / "incident-response.md").read_text()
    template = doc.split("### Post-mortem template", 1)[1].split("```markdown", 1)[1]
    template = template.split("```", 1)[0]
    wanted = re.findall(r"^## .+$", template, re.M)
    found = re.findall(r"^## .+$", draft, re.M)
    assert found[: len(wanted)] == wanted  # the template's sections, in its order, first
    assert draft.startswith("# Post-mortem: ServiceDown on agent-service (2025-10-14, SEV-<n>)")
    assert "time to detect 2m 30s, within the 5-minute P0 detection target" in draft
    assert "22.0 minutes of SLO agent-service-availability" in draft
    assert "- Duration: 02:30:00 to 02:52:00 UTC (22m); detection took 2m 30s" in draft
    assert "| 02:30:30 | ServiceDown (page) on probe=health, service=agent-service: condition" in (
        draft
    )
    assert (
        "| 02:52:00 | ServiceDown (page) on probe=health, service=agent-service: alert "
        "resolved |" in draft
    )
    assert (
        "Pending but never fired (their condition cleared before `for`): "
        "ServiceLatencyHigh." in draft
    )
    # links: the alert's dashboard (from alert_rules/, no rules loaded here) with the range
    grafana = f"from={int(PM_START * 1000)}&to={int(PM_END * 1000)}"
    assert f"http://localhost:3000/d/redline-services?{grafana}" in draft
    assert "docs/runbooks/ServiceDown.md" in draft
    # empty sections for people, blameless wording
    for section in ("## Root cause", "## What went well", "## Action items"):
        assert draft.split(section, 1)[1].lstrip().startswith(("_To write", "| action"))
    assert "not who erred" in draft
    for word in ("blame ", "fault of", "human error", "careless", "should have known"):
        assert word not in draft.lower()


def test_command_with_alertmanager(
    history_prom: Prometheus,  # noqa: F811
    tmp_path: Path,
) -> None:
    config = "route: {receiver: oncall}\nreceivers: [{name: oncall}]\n"
    with Alertmanager(tmp_path / "am", config) as am:
        alert = [
            {
                "labels": {"alertname": "ServiceDown", "service": "agent-service"},
                "startsAt": iso(DOWN_FIRING),
            }
        ]
        request = urllib.request.Request(
            f"{am.url}/api/v2/alerts",
            data=json.dumps(alert).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()
        code = main(
            [
                "postmortem",
                "--prometheus",
                history_prom.url,
                "--alertmanager",
                am.url,
                "--from",
                "2025-10-14T02:00:00Z",
                "--to",
                "2025-10-14T05:00:00Z",
                "--out",
                str(tmp_path / "out"),
            ]
        )
    assert code == 0
    draft = (tmp_path / "out" / "postmortem-2025-10-14T020000Z.md").read_text()
    assert f"## Appendix: Alertmanager ({am.url})" in draft
    assert "| ServiceDown | service=agent-service | 2025-10-14T02:32:30" in draft
    assert "| oncall |" in draft
    assert "No silence overlapped the range." in draft


def test_unreachable_servers_still_give_a_draft(tmp_path: Path, capsys) -> None:
    code = main(
        [
            "postmortem",
            "--prometheus",
            "http://127.0.0.1:9",
            "--alertmanager",
            "http://127.0.0.1:9",
            "--from",
            "2025-10-14T02:00:00Z",
            "--to",
            "2025-10-14T03:00:00Z",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot reach Prometheus" in err and "Traceback" not in err
    draft = next(tmp_path.glob("postmortem-*.md")).read_text()
    assert "## Root cause" in draft and "cannot reach Alertmanager" in draft


def test_empty_range_has_no_invented_alerts(history_prom: Prometheus) -> None:  # noqa: F811
    quiet = postmortem.compute(
        PromClient(history_prom.url), PM_START - 86400, PM_START - 3600, ROOT / "alert_rules"
    )
    assert quiet.episodes == [] and quiet.failures == []
    assert quiet.time_to_detect() is None
    draft = postmortem.to_markdown(quiet)
    assert "No alert fired in the range." in draft
    assert "# Post-mortem: <title>" in draft
    assert any("no ALERTS series in the range" in g for g in quiet.gaps.items)


def test_bad_range_exits_2(capsys) -> None:
    args = ["postmortem", "--prometheus", "http://x", "--from", "2025-10-14T03:00:00Z"]
    assert main([*args, "--to", "2025-10-14T02:00:00Z"]) == 2
    assert "must be after --from" in capsys.readouterr().err
    assert main([*args, "--to", "yesterday"]) == 2
    assert "is not a time" in capsys.readouterr().err
    future = ["postmortem", "--prometheus", "http://x", "--from", "2030-01-01T00:00:00Z"]
    assert main([*future, "--to", "2030-01-02T00:00:00Z"]) == 2
    assert "--from (2030-01-01T00:00:00Z) is in the future" in capsys.readouterr().err


def test_a_range_into_the_future_ends_now(tmp_path: Path, capsys) -> None:
    """Nothing is known of the future: the range is cut at now (else an alert whose next
    evaluation has not happened yet would look resolved)."""
    args = ["postmortem", "--prometheus", "http://127.0.0.1:9", "--out", str(tmp_path)]
    assert main([*args, "--from", "now-1h", "--to", "2099-01-01T00:00:00Z"]) == 1
    assert "note: --to is in the future: the range ends now" in capsys.readouterr().err


def test_alertmanager_client_errors() -> None:
    with pytest.raises(Exception, match="cannot reach Alertmanager"):
        AlertmanagerClient("http://127.0.0.1:9", timeout=2).alerts()


def _watchdog(first: float, last: float) -> postmortem.Episode:
    e = postmortem.Episode("Watchdog", {"alertname": "Watchdog"}, 30.0, first, last)
    e.pending_at = e.firing_at = first
    e.resolved_at = last + 30.0 if last < PM_END - 45 else None
    return e


def test_watchdog_is_evidence_of_the_pipeline_not_part_of_the_incident() -> None:
    whole = postmortem.Postmortem("http://p", PM_START, PM_END)
    whole.watchdog = [_watchdog(PM_START - 3600, PM_END)]
    assert postmortem.watchdog_gaps(whole) == []
    assert "was firing through the whole range" in postmortem.pipeline_note(whole)
    assert whole.affected() == [] and whole.first_alert() is None

    # rules stopped being evaluated for 20 minutes: alerts could not fire then
    broken = postmortem.Postmortem("http://p", PM_START, PM_END)
    broken.watchdog = [
        _watchdog(PM_START - 3600, PM_START + 600),
        _watchdog(PM_START + 1830, PM_END),
    ]
    assert postmortem.watchdog_gaps(broken) == [(PM_START + 630, PM_START + 1830)]
    note = postmortem.pipeline_note(broken)
    assert note.startswith("**Watchdog (the dead man's switch) was not firing from")
    assert "Watchdog" in postmortem.to_markdown(broken).split("## Root cause")[0]

    # never firing although the rules are loaded: the whole range is a gap
    silent = postmortem.Postmortem("http://p", PM_START, PM_END)
    silent.annotations["Watchdog"] = {}
    assert postmortem.watchdog_gaps(silent) == [(PM_START, PM_END)]
    # another Prometheus without redline's rules: nothing to say about the pipeline
    assert postmortem.pipeline_note(postmortem.Postmortem("http://p", PM_START, PM_END)) == ""


def test_alerts_from_before_the_range_do_not_set_the_time_to_detect(
    history_prom: Prometheus,  # noqa: F811
) -> None:
    """A range that begins after the outage's alerts started: they are context, marked as active
    at the start, and the time to detect is not invented from them."""
    late = postmortem.compute(
        PromClient(history_prom.url),
        max(DOWN_FIRING, BURN_FIRING) + 60,
        PM_END,
        ROOT / "alert_rules",
    )
    down = next(e for e in late.episodes if e.alertname == "ServiceDown")
    assert down.before_range and down.pending_at == DOWN_PENDING
    assert late.first_alert() is None and late.time_to_detect() is None
    draft = postmortem.to_markdown(late)
    assert "already active when the range began" in draft
    assert "[active at the start]" in draft
