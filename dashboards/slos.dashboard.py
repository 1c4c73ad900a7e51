"""SLOs and error budgets: per SLO of alert_rules/slos.yml, from the recording rules generated
from the same spec (exporter/rules/slo.py): objective, SLI over the window, budget left and
the burn rates the multi-window alerts compare with their factors."""

from dashboards import style as s
from dashboards.style import Q, sel, var
from exporter.rules import slo as slo_rules

SLO = {"slo": var("slo")}
SPEC = s.slos_spec()
BURN = s.alerts_spec().alerts[slo_rules.ALERT]
WINDOWS = slo_rules.windows(BURN)  # the burn-rate alerts' windows, shortest first
SHORTEST = WINDOWS[0]
# Burn-rate factors, coloured by the severity of the alert that uses them.
FACTORS = s.steps(
    s.OK,
    *(
        (pair.factor, s.SEVERITY_COLOURS[severity])
        for severity, level in BURN.levels().items()
        for pair in level.windows
    ),
)


# Each factor of the burn-rate alerts as its own dashed line, named: threshold steps of one
# colour are merged, which drew two of the four lines.
FACTOR_LINES = tuple(
    Q(f"vector({s.num(pair.factor)})", f"{severity} {pair.long}/{pair.short} factor")
    for severity, level in BURN.levels().items()
    for pair in level.windows
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
        f"budget left, and the burn rate over {SHORTEST} (1 = spending the budget exactly "
        "over the window).",
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
                    {"id": "thresholds", "value": {"mode": "absolute", "steps": FACTORS}},
                    {"id": "custom.cellOptions", "value": {"type": "color-text"}},
                ],
            },
        ],
        alerts=(slo_rules.ALERT, "SLOIndicatorMissing"),
        w=16,
        h=10,
    ),
    s.text("Objectives", _spec_table(), w=8, h=10),
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
        "The error ratio over each window of the burn-rate alerts, over the error budget (1x "
        "spends it exactly over the window); the four factor lines are the alerts' (page and "
        "ticket, long/short windows). A pair fires when its long and short windows are both "
        "above its factor.",
        *(_burn(w) for w in WINDOWS),
        *FACTOR_LINES,
        unit=s.BURN_RATE,
        thresholds=FACTORS,
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": ".* factor$"},
                "properties": [
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    {"id": "custom.fillOpacity", "value": 0},
                ],
            }
        ],
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
