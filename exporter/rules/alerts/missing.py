"""Missing data: an alert computed from a series that never arrives, or stops arriving, never
fires, and nobody is told (a JSON field renamed by a deploy, an SLI whose log fields never
came). Every paging alert has a companion here or elsewhere that fires when its input is
missing, or an exemption saying why it needs none (:data:`MISSING_DATA`, checked by
tests/test_rules_catalog.py).

- JsonFieldMissing: a configured JSON field a service stopped sending (or sends in another form):
  the gauges read from it vanish, with the alerts on them (jobs, MCP tools, Chatwoot's services);
- SLOIndicatorMissing: an SLO whose error ratio is not recorded at all (its probes, logs or
  database series never came): its burn-rate alerts are blind.
"""

from __future__ import annotations

from exporter import metrics as m
from exporter.rules.alerts.common import Context, case, fires, quiet, seq, series, target
from exporter.rules.model import Alert, Rule, sel
from exporter.rules.spec import Severity

# Every paging alert -> (the alerts that fire when its input is missing, why they cover it), or
# no companion and the reason none is needed.
MISSING_DATA: dict[str, tuple[tuple[str, ...], str]] = {
    "RedlineExporterDown": (
        (),
        "reads `up`, which Prometheus writes for every target of its config whether it answers "
        "or not; Prometheus itself gone is the dead man's switch's (Watchdog)",
    ),
    "RedlineTargetsVanished": ((), "it is the absent() companion: of probe_success itself"),
    "ServiceDown": (
        ("RedlineTargetsVanished", "RedlineExporterDown"),
        "probe_success vanishes when the exporter is not scraped, serves none, or loses targets",
    ),
    "ServiceLatencyHigh": (
        ("RedlineTargetsVanished", "RedlineExporterDown"),
        "probe durations come with probe_success",
    ),
    "DNSLookupFailing": (
        ("RedlineTargetsVanished", "RedlineExporterDown"),
        "the failure reason comes with probe_success",
    ),
    "TLSCertificateExpiring": (
        ("ServiceDown", "RedlineExporterDown"),
        "no certificate is read when the probe fails, which ServiceDown pages",
    ),
    "AgentJobsFailing": (("JsonFieldMissing",), "its counters are JSON fields of /queue/stats"),
    "MCPToolErrorRateHigh": (("JsonFieldMissing",), "its counters are JSON fields of /health"),
    "MCPQueryLatencyHigh": (("JsonFieldMissing",), "its p95 is a JSON field of /health"),
    "ChatwootComponentFailing": (("JsonFieldMissing",), "its states are JSON fields of /api"),
    "LogErrorRateHigh": (
        ("LogSourceSilent",),
        "request counters come from the log sources, silent when no line arrives",
    ),
    "SLOErrorBudgetBurn": (
        ("SLOIndicatorMissing",),
        "the burn reads the SLO's recorded error ratio, which is missing when its SLI is",
    ),
    "PostgresDown": (
        ("RedlineExporterDown",),
        "pg_up is written at every scrape for each configured database (0 when it does not "
        "answer), so it only goes missing with the exporter",
    ),
    "PostgresConnectionsHigh": (
        ("RedlineCollectorFailing", "PostgresDown"),
        "the activity collector's figures: its failure is RedlineCollectorFailing",
    ),
    "HostCPUHigh": (
        ("RedlineSourceDown", "RedlineCollectorFailing"),
        "node_* series of the host source",
    ),
    "HostMemoryHigh": (
        ("RedlineSourceDown", "RedlineCollectorFailing"),
        "node_* series of the host source",
    ),
    "HostFilesystemFillingUp": (
        ("RedlineSourceDown", "RedlineCollectorFailing"),
        "node_* series of the host source",
    ),
    "FlyMachineDown": (
        ("PlatformDataStale", "FlyMachinesApiFailing"),
        "machine states come from Fly's federation and Machines API",
    ),
    "FlyMachineOOMKilled": (
        ("FlyMachinesApiFailing", "PlatformDataStale"),
        "exit events come from Fly's Machines API",
    ),
    "FlyMachineMemoryLow": (("PlatformDataStale",), "fly_instance_* of Fly's federation"),
    "SupabaseDiskFull": (("PlatformDataStale",), "the Supabase metrics endpoint's node_* series"),
    "SupabaseConnectionsHigh": (
        ("PlatformDataStale",),
        "the Supabase metrics endpoint's Postgres series",
    ),
    "ProcessGroupDown": (
        ("RedlineSourceDown", "RedlineCollectorFailing"),
        "the host source's process groups",
    ),
}


def alerts(ctx: Context) -> list[Alert]:
    from exporter.rules.stackmodel import slos_of

    out = []
    name = "JsonFieldMissing"
    spec = ctx.alert(name)
    state = m.JSON_FIELD_STATE
    field = {"service": "agent-service", "probe": "queue", "field": "failed"}
    missing = series(state, **field, state="missing")
    out.append(
        Alert(
            name,
            "missing",
            "{{ $labels.service }}'s {{ $labels.field }} is {{ $labels.state }} in its "
            "{{ $labels.probe }} answer",
            "The JSON field {{ $labels.field }} that config/hotrod.yml reads from the "
            "{{ $labels.probe }} probe of {{ $labels.service }} is {{ $labels.state }} (value "
            "{{ $value | humanize }}): the figures read from it are gone, and the alerts on them "
            "(jobs failing, MCP tool errors and latency, Chatwoot's services) cannot fire. A "
            "deploy renamed or removed it: compare the answer with the config.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(state, state=('=~', 'missing|invalid'))} == 1"),),
            (
                case(
                    {missing: seq((0, 4), (1, 40))},
                    target(**field, state="missing"),
                    fires("ticket", 4, 1),
                ),
            ),
            quiet({missing: seq((0, 40)), series(state, **field, state="ok"): seq((1, 40))}),
        )
    )

    name = "SLOIndicatorMissing"
    spec = ctx.alert(name)
    (window,) = ctx.values(spec, name, "ticket", "window")
    severity: Severity = "ticket"
    slos = slos_of(ctx.config).slos
    present = {
        f'slo:sli_error:ratio_rate{window}{{slo="{x.name}", service="{x.service}"}}': seq((0, 80))
        for x in slos
    }
    rules, cases = [], []
    for slo in slos:
        ratio = f'slo:sli_error:ratio_rate{window}{{slo="{slo.name}"}}'
        lvl = spec.level(severity)
        labels = {"service": slo.service}
        rules.append(Rule(severity, f"absent({ratio})", lvl.for_, labels, slo.name))
        # every other SLO's ratio recorded, this one's never: absent() answers from step 0
        others = {k: v for k, v in present.items() if f'"{slo.name}"' not in k}
        cases.append(case(others, {"slo": slo.name}, fires(severity, 0, 1, slo.name)))
    out.append(
        Alert(
            name,
            "missing",
            "SLO {{ $labels.slo }} measures nothing: its error ratio is not recorded",
            "No error ratio of SLO {{ $labels.slo }} has been recorded for a while (value "
            "{{ $value | humanize }}): its SLI's series never came or stopped (a log field that "
            "never arrives, a probe renamed, a database entry removed), so its burn-rate alerts "
            "cannot fire. The SLOs dashboard shows it empty; its SLI in config/hotrod.yml says "
            "which series it reads.",
            spec.dashboard,
            tuple(rules),
            tuple(cases),
            quiet(present),
        )
    )
    return out
