"""The house style of redline's dashboards: datasource, units, colours, thresholds, links and
panel helpers, so that each ``dashboards/*.dashboard.py`` reads as a short list of panels.

What the helpers guarantee, so no dashboard has to think about it:

- **names**: a query selects a :class:`exporter.metrics.Metric` (or a JSON-derived gauge of
  ``config/hotrod.yml``, :func:`json_metric`), never a spelled name, and :func:`sel` refuses a
  label the metric does not have. The few series redline does not define (Prometheus's ``up``,
  ``ALERTS``, ``scrape_duration_seconds``, prometheus_client's ``process_*``, the SLO recording
  rules) are defined once, below;
- **thresholds** come from ``alert_rules/alerts.yml`` and ``alert_rules/slos.yml`` through
  :mod:`exporter.rules.spec`, the specs the alert rules are generated from, so a dashboard turns
  orange where a ticket opens and red where someone is paged;
- **datasource**: every query reads through the ``${datasource}`` variable (provisioned as
  ``Prometheus``, uid ``prometheus``), so the dashboards load into any Grafana;
- **rates** use ``$__rate_interval`` (four scrape intervals at least: the provisioned
  datasource sets ``timeInterval`` to the scrape interval of ``alert_rules/stack.yml``);
- **links**: a panel names the alerts it relates to and gets a link to each one's runbook
  (``docs/runbooks/<alert>.md``); a tile names its detail dashboard and links to it;
- **layout**: panels flow left to right in rows of 24 columns; a panel's id is derived from
  its title (titles are unique within a dashboard), so ids stay put when panels are added or
  moved.
"""

from __future__ import annotations

import urllib.parse
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import attr
from grafanalib import core as g

from exporter import metrics as m  # noqa: F401  (re-exported: the dashboards build on it)
from exporter.backups import source as backup_states
from exporter.config import Config
from exporter.heartbeats import schedule as heartbeat_states
from exporter.heartbeats import state as heartbeat_file_states
from exporter.metrics import Metric
from exporter.postgres import custom as pg_query_states
from exporter.probes import base as probe_states
from exporter.probes import json_metrics
from exporter.promql import Matches, alternatives, sel
from exporter.promql import labels_of as by
from exporter.rules import slo as slo_rules
from exporter.rules.alerts import JOB, UP
from exporter.rules.model import WATCHDOG
from exporter.rules.spec import AlertsSpec, SLOSpec, StackSpec, seconds
from exporter.rules.stackmodel import Stack, shipped
from exporter.vendors import chatwoot as chatwoot_states
from exporter.vendors import common as vendor_states

ROOT = Path(__file__).resolve().parent.parent

# --- the model ----------------------------------------------------------------------------------
# One model of the stack (exporter/rules/stackmodel.py), as for the alert rules: the operator's
# file (names of JSON metrics, vendor components, SLOs, budgets) and alert_rules/.


_MODEL: list[Stack] = []  # the model :func:`using` set, else the repository's own


@contextmanager
def using(model: Stack) -> Iterator[None]:
    """Build dashboards from ``model`` (dashboards/build.py passes the model of the tree it
    builds, so a copy of the operator's file with a new service gets its own dashboards)."""
    _MODEL.append(model)
    try:
        yield
    finally:
        _MODEL.pop()


def model() -> Stack:
    return _MODEL[-1] if _MODEL else shipped()


def alerts_spec() -> AlertsSpec:
    return model().alerts


def slos_spec() -> SLOSpec:
    return model().slos


def stack() -> StackSpec:
    return model().stack


def config() -> Config:
    return model().config


# --- dashboards: keys, titles, uids -------------------------------------------------------------

# Key (as alert_rules/stack.yml and alert_rules/alerts.yml name it) -> title. One file each:
# dashboards/<key>.dashboard.py.
TITLES: dict[str, str] = {
    "overview": "Hot Rod AN: is the shop OK?",
    "services": "Services",
    "apis": "APIs from logs",
    "database": "Database",
    "hosts": "Hosts and capacity",
    "slos": "SLOs and error budgets",
    "backups-vendors": "Backups, jobs and third parties",
    "launch": "Launch day",
    "redline": "redline itself",
    "fly": "Fly apps",
    "supabase": "Supabase instance",
}
# Dashboards no alert links to (so alert_rules/stack.yml does not list them yet).
EXTRA_UIDS: dict[str, str] = {"launch": "redline-launch"}
TAG = "redline"


def uid(key: str) -> str:
    """The fixed uid of a dashboard: alert_rules/stack.yml's (the alerts link to it), else ours."""
    uids = {**EXTRA_UIDS, **stack().dashboards}
    if key not in uids:
        raise KeyError(f"dashboard {key!r} has no uid in alert_rules/stack.yml or EXTRA_UIDS")
    return uids[key]


# --- datasource, units, colours ---------------------------------------------------------------

DATASOURCE_VARIABLE = "datasource"
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${datasource}"}
# The datasource dashboards/provisioning/datasources/prometheus.yml provisions.
PROVISIONED_DATASOURCE = {"name": "Prometheus", "uid": "prometheus"}
SCHEMA_VERSION = 39  # Grafana 10.4 and later read it as is

RATE = "$__rate_interval"
RANGE = "$__range"
# One bar per interval of the graph: increase(x[$__interval]) with the panel's min interval
# (:func:`bar_interval`), so the bars tile the time range without overlapping (a sliding
# increase over a longer window would count one event in several bars).
INTERVAL = "$__interval"

SECONDS = "s"
DURATION = "dtdurations"  # "3 days, 4 hours": certificate expiry, time to full, due times
RATIO = "percentunit"  # 0-1 shown as a percentage
BYTES = "bytes"
BYTES_PER_SECOND = "Bps"
PER_SECOND = "reqps"
OPS = "ops"
COUNT = "short"
FROM_NOW = "dateTimeFromNow"
NONE = "none"

# A burn rate: how many times faster than "exactly the budget over the SLO window" (1x).
BURN_RATE = "suffix:x"

OK = "green"
INFO = "blue"
WARNING = "orange"
CRITICAL = "red"
NEUTRAL = "text"
UNMEASURED = "#8e8e8e"  # grey: nothing was measured (Grafana has no named grey)
SEVERITY_COLOURS: dict[str, str] = {"info": INFO, "ticket": WARNING, "page": CRITICAL}

# --- series redline does not define ------------------------------------------------------------

# exporter/metrics.py lists redline's own names; these belong to Prometheus (synthetic series
# and the rule manager), to prometheus_client's process collector, and to the SLO recording
# rules of exporter/rules/slo.py (tests/test_dashboards.py checks each is recorded there).
ALERT_LABELS = ("alertname", "alertstate", "severity", "service", "slo")
ALERTS = Metric("ALERTS", "gauge", "Prometheus's pending and firing alerts.", ALERT_LABELS)
SCRAPE_DURATION = Metric(
    "scrape_duration_seconds", "gauge", "How long Prometheus's scrape of the target took."
)
PROCESS_CPU = Metric("process_cpu_seconds_total", "counter", "CPU time of the exporter.")
PROCESS_RESIDENT_MEMORY = Metric(
    "process_resident_memory_bytes", "gauge", "Resident memory of the exporter."
)
PROCESS_OPEN_FDS = Metric("process_open_fds", "gauge", "Open file descriptors of the exporter.")
# The alerting pipeline's own health: Prometheus's and Alertmanager's metrics, scraped as the
# jobs prometheus and alertmanager (exporter/rules/prometheus_config.py).
PROMETHEUS_RULE_FAILURES = Metric(
    "prometheus_rule_evaluation_failures_total",
    "counter",
    "Rule evaluations that failed, per rule group.",
    ("rule_group",),
)
PROMETHEUS_RELOAD_OK = Metric(
    "prometheus_config_last_reload_successful", "gauge", "Prometheus's last reload succeeded."
)
PROMETHEUS_ALERTMANAGERS = Metric(
    "prometheus_notifications_alertmanagers_discovered",
    "gauge",
    "Alertmanagers Prometheus sends its alerts to.",
)
PROMETHEUS_NOTIFICATIONS_DROPPED = Metric(
    "prometheus_notifications_dropped_total",
    "counter",
    "Alerts Prometheus dropped instead of sending them to an Alertmanager.",
)
ALERTMANAGER_NOTIFICATIONS_FAILED = Metric(
    "alertmanager_notifications_failed_total",
    "counter",
    "Notifications an integration (pagerduty, slack, email, webhook) failed to deliver.",
    ("integration",),
)
ALERTMANAGER_NOTIFICATIONS = Metric(
    "alertmanager_notifications_total",
    "counter",
    "Notifications an integration attempted.",
    ("integration",),
)
ALERTMANAGER_RELOAD_OK = Metric(
    "alertmanager_config_last_reload_successful", "gauge", "Alertmanager's last reload succeeded."
)
PIPELINE_METRICS = (
    PROMETHEUS_RULE_FAILURES,
    PROMETHEUS_RELOAD_OK,
    PROMETHEUS_ALERTMANAGERS,
    PROMETHEUS_NOTIFICATIONS_DROPPED,
    ALERTMANAGER_NOTIFICATIONS_FAILED,
    ALERTMANAGER_NOTIFICATIONS,
    ALERTMANAGER_RELOAD_OK,
)
_SLO = ("service", "slo")
SLO_OBJECTIVE = Metric("slo:objective:ratio", "gauge", "The SLO's objective, 0-1.", _SLO)
SLO_ERROR_BUDGET = Metric("slo:error_budget:ratio", "gauge", "1 - objective.", _SLO)
SLO_BUDGET_REMAINING = Metric(
    "slo:period_error_budget_remaining:ratio",
    "gauge",
    "Share of the window's error budget left (negative: overspent).",
    _SLO,
)
SLO_CURRENT_BURN = Metric(
    "slo:current_burn_rate:ratio", "gauge", "Burn rate over the shortest window.", _SLO
)
SLO_PERIOD_BURN = Metric(
    "slo:period_burn_rate:ratio", "gauge", "Burn rate over the SLO window.", _SLO
)


def slo_error_ratio(window: str) -> Metric:
    """The recorded share of bad events over ``window`` (5m ... 3d, and the SLO window)."""
    return Metric(f"slo:sli_error:ratio_rate{window}", "gauge", f"Error ratio over {window}.", _SLO)


def recorded_slo_metrics() -> list[Metric]:
    spec = alerts_spec().alerts[slo_rules.ALERT]
    windows = [*slo_rules.windows(spec), slos_spec().window]
    return [
        *(slo_error_ratio(w) for w in windows),
        SLO_OBJECTIVE,
        SLO_ERROR_BUDGET,
        SLO_BUDGET_REMAINING,
        SLO_CURRENT_BURN,
        SLO_PERIOD_BURN,
    ]


def json_metric(name: str) -> Metric:
    """The JSON-derived series ``name`` as the operator's file defines it (the probe's own
    mapping, exporter/probes/json_metrics.py); a name the config lacks fails the build."""
    return json_metrics.configured(config(), name)[1]


def json_states(name: str) -> tuple[str, ...]:
    """The configured states of a ``parse: states`` JSON metric."""
    spec, _ = json_metrics.configured(config(), name)
    if spec.parse != "states":
        raise KeyError(f"the JSON metric {name!r} is not parse: states")
    return tuple(spec.states)


def vendor_components(feed: str) -> tuple[str, ...]:
    for f in config().vendors.feeds:
        if f.name == feed:
            return tuple(f.components)
    raise KeyError(f"config/hotrod.yml has no vendor feed {feed!r}")


# --- selectors -----------------------------------------------------------------------------


def var(name: str) -> tuple[str, str]:
    """A matcher on a dashboard variable (multi-value and All need a regex match)."""
    return ("=~", f"${name}")


# --- states: a state set as one number per series, mapped back to its name ------------------


def _ordered(names: Sequence[str], colours: Mapping[str, str]) -> dict[str, str]:
    """``colours`` (best state first, worst last) after checking it names every state of the
    exporter's closed set ``names``: a new state fails the build instead of showing blank."""
    if set(names) != set(colours):
        raise ValueError(f"states {sorted(names)} but colours for {sorted(colours)}")
    return dict(colours)


PROBE_STATES = _ordered(probe_states.STATUSES, {"up": OK, "degraded": WARNING, "down": CRITICAL})
COMPONENT_STATES = _ordered(
    vendor_states.COMPONENT_STATES,
    {
        "operational": OK,
        "under_maintenance": INFO,
        "unknown": NEUTRAL,
        "missing": NEUTRAL,
        "degraded_performance": "yellow",
        "partial_outage": WARNING,
        "major_outage": CRITICAL,
    },
)
INDICATOR_STATES = _ordered(
    vendor_states.INDICATORS,
    {
        "none": OK,
        "maintenance": INFO,
        "unknown": NEUTRAL,
        "minor": "yellow",
        "major": WARNING,
        "critical": CRITICAL,
    },
)
BACKUP_STATES = _ordered(
    backup_states.STATUSES,
    {
        "ok": OK,
        "stale": WARNING,
        "too_small": WARNING,
        "empty": CRITICAL,
        "missing": CRITICAL,
        "unreadable": CRITICAL,
        "corrupt": CRITICAL,
        "failed": CRITICAL,
    },
)
VERIFY_STATES = _ordered(
    backup_states.VERIFY_STATUSES,
    {"ok": OK, "pending": INFO, "error": WARNING, "failed": CRITICAL},
)
HEARTBEAT_STATES = _ordered(
    heartbeat_states.STATUSES,
    {"up": OK, "started": INFO, "never": NEUTRAL, "late": WARNING, "down": CRITICAL},
)
STATE_FILE_STATES = _ordered(
    heartbeat_file_states.FILE_STATUSES,
    {"ok": OK, "disabled": NEUTRAL, "missing": INFO, "corrupt": WARNING, "unwritable": CRITICAL},
)
CHATWOOT_STATES = _ordered(
    chatwoot_states.STATES, {"ok": OK, "unknown": NEUTRAL, "failing": CRITICAL}
)
QUERY_STATES = _ordered(
    pg_query_states.STATUSES,
    {"ok": OK, "too_many_rows": WARNING, "bad_result": WARNING, "timeout": CRITICAL,
     "error": CRITICAL},
)  # fmt: skip
UP_DOWN = {"down": CRITICAL, "up": OK}  # 0 and 1


def state_colours(names: Sequence[str], worst: Sequence[str] = ()) -> dict[str, str]:
    """Colours of a configured state list (JSON ``parse: states``): the first state is the good
    one, those in ``worst`` are critical, the others warnings."""
    return {s: OK if i == 0 else (CRITICAL if s in worst else WARNING) for i, s in enumerate(names)}


def state_code(
    metric: Metric,
    label: str,
    states: Mapping[str, str],
    group: Sequence[str],
    /,
    **matchers: Matches,
) -> str:
    """The active state of a state set as its index in ``states`` (best first), one series per
    ``group``; where several series are grouped, the worst wins. :func:`state_mappings` turns
    the numbers back into names."""
    terms = [f"({sel(metric, **{label: s}, **matchers)} == 1) * {i}" for i, s in enumerate(states)]
    inner = "\n  or ".join(terms)
    grouping = f" by ({by(metric, *group)})" if group else ""
    return f"max{grouping} (\n  {inner}\n)"


def state_mappings(states: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                str(i): {"text": name, "color": colour, "index": i}
                for i, (name, colour) in enumerate(states.items())
            },
        }
    ]


# --- thresholds from the alert specs ------------------------------------------------------------


def num(value: Decimal | float | int) -> int | float:
    """A JSON number without float noise: integral values as int."""
    d = value if isinstance(value, Decimal) else Decimal(repr(value))
    return int(d) if d == d.to_integral_value() else float(d)


def steps(base: str, *levels: tuple[Decimal | float | int, str]) -> list[dict[str, Any]]:
    """Grafana threshold steps: ``base`` below the first value, then each colour from its value."""
    out: list[dict[str, Any]] = [{"color": base, "value": None}]
    exact = [(v if isinstance(v, Decimal) else Decimal(repr(v)), c) for v, c in levels]
    for value, colour in sorted(exact, key=lambda lv: lv[0]):
        if out[-1]["color"] != colour:
            out.append({"color": colour, "value": num(value)})
    return out


def _levels(alert: str, field_: str, scale: Decimal) -> list[tuple[Decimal, str]]:
    spec = alerts_spec().alerts[alert]
    found = []
    for severity, level in spec.levels().items():
        value = getattr(level, field_)
        if value is None:
            continue
        amount = seconds(value) if isinstance(value, str) else Decimal(value)
        found.append((amount * scale, SEVERITY_COLOURS[severity]))
    if not found:
        raise ValueError(f"alert_rules/alerts.yml: {alert} has no {field_} to draw")
    return found


def above(alert: str, field_: str = "threshold", scale: Decimal | int = 1) -> list[dict[str, Any]]:
    """Green below the alert's thresholds; a ticket's colour from its value, a page's from its."""
    return steps(OK, *_levels(alert, field_, Decimal(scale)))


def below(alert: str, field_: str = "threshold", scale: Decimal | int = 1) -> list[dict[str, Any]]:
    """For figures that are worse when low (days left, hit ratio, points left): the most severe
    colour below the lowest threshold, green above the highest."""
    levels = sorted(_levels(alert, field_, Decimal(scale)))
    out: list[dict[str, Any]] = [{"color": levels[0][1], "value": None}]
    for i, (value, _colour) in enumerate(levels):
        colour = levels[i + 1][1] if i + 1 < len(levels) else OK
        if out[-1]["color"] != colour:
            out.append({"color": colour, "value": num(value)})
    return out


def threshold(alert: str, severity: str, field_: str = "threshold") -> Decimal:
    level = alerts_spec().alerts[alert].level(severity)  # type: ignore[arg-type]
    value = getattr(level, field_)
    if value is None:
        raise ValueError(f"alert_rules/alerts.yml: {alert}.{severity} has no {field_}")
    return seconds(value) if isinstance(value, str) else Decimal(value)


def window(alert: str, severity: str = "ticket") -> str:
    """The range an alert reads (``window`` in alert_rules/alerts.yml), for panels that show
    exactly what the alert looks at."""
    level = alerts_spec().alerts[alert].level(severity)  # type: ignore[arg-type]
    if level.window is None:
        raise ValueError(f"alert_rules/alerts.yml: {alert}.{severity} has no window")
    return level.window


@dataclass(frozen=True)
class Budget:
    service: str
    probe: str
    ticket: Decimal
    page: Decimal | None


def latency_budgets() -> list[Budget]:
    """ServiceLatencyHigh's budgets, one per configured service and probe."""
    spec = alerts_spec().alerts["ServiceLatencyHigh"]
    return [
        Budget(service, b.probe, b.ticket, b.page) for b in spec.budgets for service in b.services
    ]


def budget_steps(b: Budget) -> list[dict[str, Any]]:
    levels = [(b.ticket, WARNING)] + ([(b.page, CRITICAL)] if b.page is not None else [])
    return steps(OK, *levels)


def slo_objectives() -> dict[str, Decimal]:
    """Objective (0-1) of each probes SLO, by service: the availability a service must keep."""
    out = {}
    for s in slos_spec().slos:
        if s.sli.probes is not None:
            out[s.sli.probes.service] = s.objective / 100
    return out


def bar_interval() -> str:
    """The shortest interval of a per-interval bar: four scrapes, as $__rate_interval, so each
    bar's increase() sees at least two samples."""
    return f"{num(seconds(stack().scrape_interval) * 4)}s"


# --- links -------------------------------------------------------------------------------------


def alerts_for(key: str) -> list[str]:
    """The alerts alert_rules/alerts.yml links to dashboard ``key``."""
    return [name for name, a in alerts_spec().alerts.items() if a.dashboard == key]


def runbook(alert: str) -> dict[str, Any]:
    if alert not in alerts_spec().alerts:
        raise KeyError(f"no alert {alert!r} in alert_rules/alerts.yml")
    return {
        "title": f"Runbook: {alert}",
        "url": f"{stack().runbook_url.rstrip('/')}/{alert}.md",
        "targetBlank": True,
    }


def goto(key: str, **variables: str) -> dict[str, Any]:
    """A link to dashboard ``key`` keeping the time range, with variables set."""
    query = "".join(
        f"&{urllib.parse.urlencode({f'var-{k}': v})}" for k, v in sorted(variables.items())
    )
    return {
        "title": f"{TITLES[key]} dashboard",
        "url": f"/d/{uid(key)}?${{__url_time_range}}{query}",
        "targetBlank": False,
    }


# --- no data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoData:
    """What a stat shows when its query returns no series. It must be said per tile: for some
    no series means nothing is wrong (no alert firing: green), for most it means nothing was
    measured (grey, never the green of a good value)."""

    text: str
    colour: str


UNKNOWN = NoData("unknown", UNMEASURED)


def nothing(text: str) -> NoData:
    """No series is the good case (e.g. no alert firing, no probe failing): green ``text``."""
    return NoData(text, OK)


def no_data_mapping(no_data: NoData) -> dict[str, Any]:
    """Grafana's special-value mapping for a missing or NaN value: it colours the no-data
    display too (Grafana renders "no value" through the value mappings)."""
    return {
        "type": "special",
        "options": {
            "match": "null+nan",
            "result": {"text": no_data.text, "color": no_data.colour, "index": 100},
        },
    }


def runbook_field_link(label: str = "alertname") -> dict[str, Any]:
    """A table override: each row's ``label`` cell links to that alert's runbook (the same
    link template as the alerts' runbook_url annotation, alert_rules/stack.yml)."""
    return {
        "matcher": {"id": "byName", "options": label},
        "properties": [
            {
                "id": "links",
                "value": [
                    {
                        "title": "Runbook: ${__value.raw}",
                        "url": f"{stack().runbook_url.rstrip('/')}/${{__value.raw}}.md",
                        "targetBlank": True,
                    }
                ],
            }
        ],
    }


# --- queries and panels ------------------------------------------------------------------------


@dataclass(frozen=True)
class Q:
    """One query of a panel: PromQL and the legend of its series."""

    expr: str
    legend: str = ""


class Target(g.Target):
    """grafanalib's Target, rendered with only the keys current Grafana reads."""

    def to_json_data(self) -> dict[str, Any]:
        return {
            "datasource": self.datasource,
            "editorMode": "code",
            "expr": self.expr,
            "format": self.format,
            "instant": self.instant,
            "legendFormat": self.legendFormat,
            "range": not self.instant,
            "refId": self.refId,
        }


def _targets(queries: Sequence[Q], *, instant: bool = False, table: bool = False) -> list[Target]:
    if not queries:
        raise ValueError("a panel needs at least one query")
    return [
        Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            datasource=DATASOURCE,
            instant=instant,
            format="table" if table else "time_series",
        )
        for i, q in enumerate(queries)
    ]


def _links(alerts: Sequence[str], to: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [*to, *(runbook(a) for a in alerts)]


def _size(w: int, h: int) -> g.GridPos:
    if not 1 <= w <= 24 or h < 1:
        raise ValueError(f"bad panel size {w}x{h}")
    return g.GridPos(h=h, w=w, x=0, y=0)


def thresholds_by_name(
    names_steps: Mapping[str, list[dict[str, Any]]], style: str = "dashed"
) -> list[dict[str, Any]]:
    """Per-series thresholds (a series is matched by its legend), e.g. each probe's budget."""
    out = []
    for name, st in names_steps.items():
        props: list[dict[str, Any]] = [
            {"id": "thresholds", "value": {"mode": "absolute", "steps": st}}
        ]
        if style:
            props.append({"id": "custom.thresholdsStyle", "value": {"mode": style}})
        out.append({"matcher": {"id": "byName", "options": name}, "properties": props})
    return out


def timeseries(
    title: str,
    description: str,
    *queries: Q,
    unit: str = NONE,
    thresholds: list[dict[str, Any]] | None = None,
    alerts: Sequence[str] = (),
    links: Sequence[dict[str, Any]] = (),
    stack: bool = False,
    bars: bool = False,
    min_: int | None = None,
    max_: int | None = None,
    overrides: Sequence[dict[str, Any]] = (),
    per_interval: bool = False,
    w: int = 12,
    h: int = 8,
) -> g.TimeSeries:
    """A graph over time; thresholds (if any) are drawn as dashed lines. ``per_interval``:
    bars of ``increase(x[$__interval])``, one per interval (the queries use :data:`INTERVAL`),
    the panel's min interval set by :func:`bar_interval`."""
    if per_interval and not all(INTERVAL in q.expr for q in queries):
        raise ValueError(f"{title}: per-interval bars need increase(...[{INTERVAL}])")
    return g.TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        unit=unit,
        thresholds=thresholds or steps(OK),
        thresholdsStyleMode="dashed" if thresholds else "off",
        links=_links(alerts, links),
        stacking={"mode": "normal", "group": "A"} if stack else {},
        fillOpacity=30 if (stack or bars or per_interval) else 10,
        drawStyle="bars" if (bars or per_interval) else "line",
        interval=bar_interval() if per_interval else None,
        showPoints="never",
        valueMin=min_,
        valueMax=max_,
        overrides=list(overrides),
        legendDisplayMode="list",
        tooltipMode="multi",
        tooltipSort="desc",
        gridPos=_size(w, h),
        maxDataPoints=None,
    )


def stat(
    title: str,
    description: str,
    *queries: Q,
    unit: str = NONE,
    thresholds: list[dict[str, Any]] | None = None,
    mappings: list[dict[str, Any]] | None = None,
    alerts: Sequence[str] = (),
    links: Sequence[dict[str, Any]] = (),
    overrides: Sequence[dict[str, Any]] = (),
    graph: bool = False,
    text_mode: str = "auto",
    no_data: NoData = UNKNOWN,
    decimals: int | None = None,
    w: int = 6,
    h: int = 4,
) -> g.Stat:
    """One big number (or one per series) coloured by thresholds or by mapped states. Tiles
    link to their detail dashboard by clicking anywhere on the value too. ``no_data`` is what
    the tile says when its query returns nothing (grey "unknown" unless said otherwise)."""
    data_links = [dict(link) for link in links]
    return g.Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries, instant=not graph),
        format=unit,
        thresholds=thresholds or steps(OK),
        mappings=[*(mappings or []), no_data_mapping(no_data)],
        links=_links(alerts, links),
        overrides=list(overrides),
        color={"mode": "thresholds"},
        colorMode="background",
        graphMode="area" if graph else "none",
        reduceCalc="lastNotNull",
        textMode=text_mode,
        noValue=no_data.text,
        decimals=decimals,
        gridPos=_size(w, h),
        maxDataPoints=None,
        extraJson={"fieldConfig": {"defaults": {"links": data_links}}} if data_links else None,
    )


def table(
    title: str,
    description: str,
    *queries: Q,
    join: Sequence[str] = (),
    unit: str = NONE,
    columns: Mapping[str, str] | None = None,
    hide: Sequence[str] = (),
    overrides: Sequence[dict[str, Any]] = (),
    sort: str | None = None,
    ascending: bool = False,
    alerts: Sequence[str] = (),
    links: Sequence[dict[str, Any]] = (),
    w: int = 24,
    h: int = 8,
) -> g.Table:
    """Instant queries as one table: series are joined on their labels (one row per label set),
    each query's value a column (``Value #A``, ... renamed by ``columns``). With several
    queries, ``join`` names the labels rows are joined on: each query is reduced to them (its
    series name and other labels dropped), since a row joins only series with equal labels."""
    if len(queries) > 1 and not join:
        raise ValueError(f"{title}: a table of several queries needs the labels to join on")
    if join:
        queries = tuple(
            Q(f"max by ({', '.join(join)}) (\n  {q.expr}\n)", q.legend) for q in queries
        )
    renames = dict(columns or {})
    excluded = {"Time": True, **{c: True for c in hide}}
    transformations: list[dict[str, Any]] = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {"excludeByName": excluded, "renameByName": renames, "indexByName": {}},
        },
    ]
    sort_by = [g.TableSortByField(displayName=sort, desc=not ascending)] if sort else []
    return g.Table(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries, instant=True, table=True),
        unit=unit,
        thresholds=steps(OK),
        overrides=list(overrides),
        transformations=transformations,
        links=_links(alerts, links),
        sortBy=sort_by,
        filterable=True,
        gridPos=_size(w, h),
        maxDataPoints=None,
    )


def timeline(
    title: str,
    description: str,
    *queries: Q,
    states: Mapping[str, str],
    alerts: Sequence[str] = (),
    links: Sequence[dict[str, Any]] = (),
    w: int = 12,
    h: int = 8,
) -> g.StateTimeline:
    """States over time, one band per series, coloured and named by ``states`` (the numbers
    :func:`state_code` produces)."""
    return g.StateTimeline(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        mappings=state_mappings(states),
        colorMode="fixed",
        extraJson={"fieldConfig": {"defaults": {"unit": NONE}}},  # states: mapped, no unit
        links=_links(alerts, links),
        showValue="never",
        gridPos=_size(w, h),
        maxDataPoints=None,
    )


def budget_left_stat(title: str, description: str, *, w: int, h: int) -> g.Stat:
    """The SLO with the least error budget left, red once overspent: the tile the overview and
    the launch dashboard both show."""
    return stat(
        title,
        description,
        Q(f"bottomk(1, {sel(SLO_BUDGET_REMAINING)})", "{{slo}}"),
        unit=RATIO,
        thresholds=steps(CRITICAL, (0, OK)),
        text_mode="value_and_name",
        links=(goto("slos"),),
        alerts=("SLOErrorBudgetBurn",),
        w=w,
        h=h,
    )


def state_stat(
    title: str,
    description: str,
    *queries: Q,
    states: Mapping[str, str],
    alerts: Sequence[str] = (),
    links: Sequence[dict[str, Any]] = (),
    no_data: NoData = UNKNOWN,
    w: int = 6,
    h: int = 4,
) -> g.Stat:
    """The current state (the numbers :func:`state_code` produces) by name and colour."""
    return stat(
        title,
        description,
        *queries,
        mappings=state_mappings(states),
        alerts=alerts,
        links=links,
        no_data=no_data,
        w=w,
        h=h,
    )


def text(title: str, description: str, content: str, w: int = 24, h: int = 4) -> g.Text:
    return g.Text(
        title=title,
        description=description,
        content=content,
        mode="markdown",
        gridPos=_size(w, h),
    )


# --- rows, variables, the dashboard -----------------------------------------------------------


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[g.Panel, ...]
    repeat: str | None = None  # a variable: one copy of the row per selected value
    collapsed: bool = False


def row(title: str, *panels: g.Panel, repeat: str | None = None, collapsed: bool = False) -> Row:
    return Row(title, panels, repeat, collapsed)


class Variable(g.Template):
    """grafanalib's Template with the ``current`` value Grafana writes for "All"."""

    def to_json_data(self) -> dict[str, Any]:
        data: dict[str, Any] = super().to_json_data()
        if self.includeAll:
            data["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
        elif self.type == "datasource":
            data["current"] = {
                "selected": True,
                "text": PROVISIONED_DATASOURCE["name"],
                "value": PROVISIONED_DATASOURCE["uid"],
            }
        return data


def variable(
    name: str, label: str, metric: Metric, label_name: str, /, **matchers: Matches
) -> Variable:
    """A multi-value variable of a label's values (with All), refreshed with the time range."""
    by(metric, label_name)
    return Variable(
        name=name,
        label=label,
        query=f"label_values({sel(metric, **matchers)}, {label_name})",
        dataSource=DATASOURCE,
        multi=True,
        includeAll=True,
        refresh=2,
        sort=1,
    )


def _datasource_variable() -> Variable:
    return Variable(
        name=DATASOURCE_VARIABLE,
        label="Data source",
        query="prometheus",
        type="datasource",
        refresh=1,
        sort=0,
    )


def _panel_id(title: str, taken: set[int]) -> int:
    pid = zlib.crc32(title.encode()) % 1_000_000 + 1
    while pid in taken:  # a collision: the next free id, deterministically
        pid += 1
    taken.add(pid)
    return pid


def layout(rows: Sequence[Row]) -> list[g.Panel]:
    """Rows of panels flowing left to right over 24 columns; ids derived from titles."""
    titles: set[str] = set()
    taken: set[int] = set()
    out: list[g.Panel] = []
    y = 0

    def ident(title: str) -> int:
        if title in titles:
            raise ValueError(f"two panels are titled {title!r}: titles must be unique")
        titles.add(title)
        return _panel_id(title, taken)

    for r in rows:
        placed: list[g.Panel] = []
        row_y = y
        if r.title:
            y += 1
        x = line_h = 0
        for p in r.panels:
            w, h = p.gridPos.w, p.gridPos.h
            if x + w > 24:
                y, x, line_h = y + line_h, 0, 0
            placed.append(attr.evolve(p, gridPos=g.GridPos(h=h, w=w, x=x, y=y), id=ident(p.title)))
            x, line_h = x + w, max(line_h, h)
        y += line_h
        if r.title:
            out.append(
                g.RowPanel(
                    title=r.title,
                    gridPos=g.GridPos(h=1, w=24, x=0, y=row_y),
                    id=ident(r.title),
                    collapsed=r.collapsed,
                    panels=placed if r.collapsed else [],
                    repeat=g.Repeat(variable=r.repeat) if r.repeat else g.Repeat(),
                )
            )
        if not (r.title and r.collapsed):
            out.extend(placed)
    return out


# WATCHDOG (exporter/rules/model.py) is always firing: never an annotation


def alerts_annotation(names: Sequence[str] | None) -> dict[str, Any]:
    """Firing alerts as annotations: those named (the alerts alert_rules/alerts.yml links to
    the dashboard), or every alert but Watchdog when ``names`` is None."""
    if names is not None and not names:
        raise ValueError("an alerts annotation needs alert names")
    alertname = ("!=", WATCHDOG) if names is None else ("=~", alternatives(sorted(names)))
    expr = sel(ALERTS, alertstate="firing", alertname=alertname)
    return {
        "datasource": DATASOURCE,
        "enable": True,
        "expr": expr,
        "hide": False,
        "iconColor": CRITICAL,
        "name": "Alerts",
        "step": stack().evaluation_interval,
        "tagKeys": "severity,service",
        "textFormat": "{{alertname}} ({{severity}})",
        "titleFormat": "{{alertname}}",
        "useValueForTime": False,
    }


def dashboard(
    key: str,
    description: str,
    rows: Sequence[Row],
    *,
    variables: Sequence[Variable] = (),
    time_from: str = "now-6h",
    all_alerts: bool = False,
) -> g.Dashboard:
    """The dashboard ``key`` (uid from alert_rules/stack.yml, title from TITLES) in the house
    style: ``${datasource}`` first among the variables, the alerts that link here as
    annotations (every alert with ``all_alerts``), links to every other redline dashboard."""
    if key not in TITLES:
        raise KeyError(f"unknown dashboard {key!r}: add it to TITLES")
    names = None if all_alerts else [a for a in alerts_for(key) if a != WATCHDOG]
    return g.Dashboard(
        title=TITLES[key],
        uid=uid(key),
        description=(
            f"{description} Generated by `make dashboards` from dashboards/{key}.dashboard.py: "
            "do not edit here, change the source and regenerate."
        ),
        tags=[TAG, key],
        panels=layout(rows),
        templating=g.Templating(list=[_datasource_variable(), *variables]),
        annotations=g.Annotations(list=[alerts_annotation(names)]),
        links=[
            g.DashboardLink(
                type="dashboards",
                tags=[TAG],
                asDropdown=True,
                title="redline dashboards",
                keepTime=True,
                includeVars=False,
            ),
            g.DashboardLink(
                type="link",
                title="Runbooks",
                uri=stack().runbook_url,
                icon="doc",
                keepTime=False,
                targetBlank=True,
            ),
        ],
        time=g.Time(time_from, "now"),
        timezone="browser",
        refresh=stack().scrape_interval,
        graphTooltip=1,  # shared crosshair: one moment across every graph
        schemaVersion=SCHEMA_VERSION,
        editable=True,
        sharedCrosshair=True,
    )


# For the dashboard files: Prometheus's up series and the job Prometheus scrapes redline as
# (exporter/rules/alerts/, which prometheus/prometheus.yml is generated with).
REDLINE_JOB = JOB
PROMETHEUS_UP = UP
