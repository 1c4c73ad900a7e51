"""SLOs and error budgets: per SLO of alert_rules/slos.yml, from the recording rules generated
from the same spec (exporter/rules/slo.py): objective, SLI over the window, budget left and
the burn rates the multi-window alerts compare with their factors."""

from decimal import Decimal
from typing import Any

from dashboards import style as s
from dashboards.style import Q, sel, var
from exporter.rules import slo as slo_rules

SLO = {"slo": var("slo")}
SPEC = s.slos_spec()
BURN = s.alerts_spec().alerts[slo_rules.ALERT]
WINDOWS = slo_rules.windows(BURN)  # the burn-rate alerts' windows, shortest first
SHORTEST = WINDOWS[0]
# Burn-rate factors, one line each (14.4, 6, 3, 1 in the workbook's four pairs): shades of red
# for the pairs that page, orange to yellow for those that open a ticket, the darkest for the
# highest factor. Not s.steps(): it merges steps of one colour, and two pairs' lines vanished.
SHADES = {
    "page": ("dark-red", "red", "light-red", "super-light-red"),
    "ticket": ("orange", "yellow", "light-yellow", "super-light-yellow"),
    "info": ("dark-blue", "blue", "light-blue", "super-light-blue"),
}
# (factor, severity, pair), highest factor first
PAIRS = sorted(
    (
        (pair.factor, severity, pair)
        for severity, level in BURN.levels().items()
        for pair in level.windows
    ),
    key=lambda x: -x[0],
)


def _shade(factor: Decimal, severity: str) -> str:
    same = [f for f, sev, _ in PAIRS if sev == severity]
    return SHADES[severity][same.index(factor)]


FACTORS: list[dict[str, Any]] = [
    {"color": s.OK, "value": None},
    *({"color": _shade(f, sev), "value": s.num(f)} for f, sev, _ in reversed(PAIRS)),
]
if len({step["value"] for step in FACTORS}) != len(FACTORS):
    raise ValueError("two burn-rate pairs share a factor: their lines would be drawn as one")
FACTOR_LEGEND = "; ".join(
    f"{s.num(f)}x over {pair.long} and {pair.short} ({sev}, {_shade(f, sev)})"
    for f, sev, pair in PAIRS
)


def _burn(window: str) -> Q:
    ratio = sel(s.slo_error_ratio(window), **SLO)
    return Q(
        f"{ratio}\n  / on (service, slo) {sel(s.SLO_ERROR_BUDGET, **SLO)}", f"{{{{slo}}}} {window}"
    )


def _spec_table() -> str:
    lines = [
        f"Objectives over {SPEC.window}, from alert_rules/slos.yml "
        "(the burn-rate alerts and these panels read the same recording rules):",
        "",
        "| SLO | service | objective | what it measures |",
        "|---|---|---|---|",
    ]
    for x in SPEC.slos:
        lines.append(f"| {x.name} | {x.service} | {s.num(x.objective)}% | {x.description} |")
    return "\n".join(lines) + "\n"


overview = s.row(
    "Every SLO",
    s.table(
        "SLOs now",
        f"Per SLO: objective, the SLI achieved over {SPEC.window}, the share of the error "
        f"budget left (overspent SLOs first), and the burn rate over {SHORTEST} (1x = spending "
        "the budget exactly over the window).",
        Q(sel(s.SLO_OBJECTIVE, **SLO)),
        Q(f"1 - {sel(s.slo_error_ratio(SPEC.window), **SLO)}"),
        Q(sel(s.SLO_BUDGET_REMAINING, **SLO)),
        Q(sel(s.SLO_CURRENT_BURN, **SLO)),
        join=("service", "slo"),
        columns={
            "Value #A": "objective",
            "Value #B": f"SLI over {SPEC.window}",
            "Value #C": "budget left",
            "Value #D": f"burn rate ({SHORTEST})",
        },
        sort="budget left",
        ascending=True,  # overspent (negative) first
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": "objective|SLI.*|budget left"},
                "properties": [
                    {"id": "unit", "value": s.RATIO},
                    {"id": "decimals", "value": 3},
                ],
            },
            {
                "matcher": {"id": "byName", "options": "budget left"},
                "properties": [
                    {
                        "id": "thresholds",
                        "value": {"mode": "absolute", "steps": s.steps(s.CRITICAL, (0, s.OK))},
                    },
                    {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                ],
            },
            {
                "matcher": {"id": "byRegexp", "options": "burn rate.*"},
                "properties": [
                    {"id": "unit", "value": s.BURN_RATE},
                    {"id": "decimals", "value": 2},
                    {"id": "thresholds", "value": {"mode": "absolute", "steps": FACTORS}},
                    {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                ],
            },
        ],
        alerts=(slo_rules.ALERT, "SLOIndicatorMissing"),
        w=16,
        h=10,
    ),
    s.text(
        "Objectives",
        "What each SLO promises, from alert_rules/slos.yml (config/hotrod.yml's SLOs).",
        _spec_table(),
        w=8,
        h=10,
    ),
)

per_slo = s.row(
    "SLO $slo",
    s.stat(
        "Error budget left",
        f"Share of the {SPEC.window} error budget left; red once overspent.",
        Q(sel(s.SLO_BUDGET_REMAINING, **SLO), "{{slo}}"),
        unit=s.RATIO,
        thresholds=s.steps(s.CRITICAL, (0, s.OK)),
        graph=True,
        alerts=(slo_rules.ALERT,),
        w=6,
    ),
    s.timeseries(
        "Burn rates",
        "The error ratio over each window of the burn-rate alerts, over the error budget (1x: "
        "the budget spent exactly over the SLO window). Dashed lines are the alerts' factors: "
        f"{FACTOR_LEGEND}. A pair fires when its long and short windows are both above its "
        "factor.",
        *(_burn(w) for w in WINDOWS),
        unit=s.BURN_RATE,
        thresholds=FACTORS,
        alerts=(slo_rules.ALERT,),
        w=9,
    ),
    s.timeseries(
        "Error ratio against the budget",
        f"Share of bad events over {SHORTEST} (the SLI's complement) against the error budget "
        "(1 - objective).",
        Q(sel(s.slo_error_ratio(SHORTEST), **SLO), "{{slo}} error ratio"),
        Q(sel(s.SLO_ERROR_BUDGET, **SLO), "{{slo}} budget"),
        unit=s.RATIO,
        w=9,
    ),
    repeat="slo",
)

dashboard = s.dashboard(
    "slos",
    "Per SLO: is it met over the window, how much error budget is left, and how fast is it "
    "burning?",
    [overview, per_slo],
    variables=[s.variable("slo", "SLO", s.SLO_OBJECTIVE, "slo")],
    time_from="now-7d",
)
