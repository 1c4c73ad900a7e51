"""The one model of the monitoring stack, read once: the operator's file (config/hotrod.yml: the
services, their probes and latency budgets, their SLOs, teams and dependencies, the databases)
and the stack-wide settings under alert_rules/ (alerts.yml: every alert's ``for`` and generic
thresholds; routing.yml: receivers and routes; stack.yml: where the stack runs).

What belongs to one service is written once, beside the service, and derived here into the
shapes the generators consume:

- the SLOs (``services[].slos``, ``databases[].slos``) -> :class:`~exporter.rules.spec.SLOSpec`;
- the latency budgets (a request probe's ``degraded_after`` and ``page_after``) -> the budgets of
  ServiceLatencyHigh;
- the teams (``services[].team``) -> ticket routes, where a route of routing.yml says
  ``team_routes: true``;
- the dependencies (``services[].depends_on``) -> one inhibition per database: its PostgresDown
  silences the services that depend on it.

Every generator (rules, Prometheus and Alertmanager configs, dashboards, docs tables, the runbook
index, ``redline baseline``) reads a :class:`Stack` and nothing else. Cross-file mistakes (a team
that is no receiver, a ``for`` longer than the SLO window) fail here with the file and the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from exporter import durations
from exporter.config import FLY_PIN_HEADER, Config, Service, load_config
from exporter.launch.config import alertmanager_intervals
from exporter.logs.routes import RouteGrouper
from exporter.rules.model import alternatives
from exporter.rules.spec import (
    ROOT,
    SLI,
    SLO,
    AlertsSpec,
    FlyLatencySLI,
    FlySLI,
    InhibitRule,
    LatencyBudget,
    LatencySLI,
    ProbesSLI,
    ProbeTraffic,
    RequestsSLI,
    Route,
    RoutingSpec,
    SLOSpec,
    SpecError,
    StackSpec,
    TimeInterval,
    load_alerts,
    load_routing,
    load_stack,
    seconds,
)

CONFIG = "config/hotrod.yml"  # the operator's file, relative to the repository
LATENCY_ALERT = "ServiceLatencyHigh"
# Probe kinds whose duration is a request's latency, so their degraded_after is a budget; a TCP
# handshake or a DNS lookup only marks its own probe degraded.
REQUEST_KINDS = ("http", "json", "mcp")
DATABASE_SERVICE = "database"  # the service label of every database alert and SLO


class ModelError(SpecError):
    """A mistake at ``path`` (keys and indexes) of ``file`` ("config" for the operator's file,
    or a file under alert_rules/): a cross-file one here, or one a generator finds;
    :func:`located` adds the file and line (:func:`build`, and ``rules.build`` for the
    generators')."""

    def __init__(self, file: str, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.file, self.path, self.message = file, path, message


def located(e: ModelError, config_path: Path | None, spec_dir: Path | None) -> SpecError:
    """``e`` as ``file:line: path: message``, the line read from the file when it is at hand."""
    from exporter.config import ConfigError, format_path, read_yaml

    if e.file == "config":
        path, shown = config_path, str(config_path) if config_path else CONFIG
    else:
        path = spec_dir / e.file if spec_dir else None
        shown = f"alert_rules/{e.file}"
    line = None
    if path is not None and path.is_file():
        try:
            _, lines = read_yaml(path.read_text(encoding="utf-8"), shown)
            line = lines.find(e.path)
        except (OSError, ConfigError):
            line = None
    where = f"{shown}:{line}" if line else shown
    return SpecError(f"{where}: {format_path(e.path)}: {e.message}")


@dataclass(frozen=True)
class Stack:
    config: Config  # the operator's file as the exporter reads it
    config_name: str  # its path as shown in errors and headers
    alerts: AlertsSpec  # alerts.yml with the budgets derived from the probes
    slos: SLOSpec  # derived from the services' and databases' SLOs
    routing: RoutingSpec  # routing.yml with the team routes and dependency inhibitions
    stack: StackSpec


def _num(value: float) -> Decimal:
    """A duration read as a float (0.5, 1.0, 30.0) as the exact Decimal it was written as."""
    d = Decimal(repr(value))
    return d.to_integral_value() if d == d.to_integral_value() else d.normalize()


# --- SLOs ---------------------------------------------------------------------------------------


def synthetic_routes(config: Config) -> tuple[str, ...]:
    """The route groups only redline's probes and health checks request (logs.route_groups'
    ``synthetic``): not the users' traffic, so no request SLO or error ratio counts them."""
    return tuple(g.name for g in config.logs.route_groups if g.synthetic)


# Requests one run of a probe sends: an HTTP or JSON request is one (redirects followed are
# more, not counted: the figure is a lower bound, so an SLI never loses a user's request to it);
# a plain MCP probe posts tools/list once; a Streamable HTTP one sends initialize, the
# initialized notification and tools/list (the closing DELETE is best-effort, not counted).
_MCP_REQUESTS = {"plain": 1, "streamable": 3}


def requests_per_run(probe: object, service: Service | None = None) -> int:
    """How many HTTP requests one run of ``probe`` sends (0: a TCP or DNS probe sends none); a
    JSON probe reading each machine of a group (per_machine) also sends one per machine the
    group wants (the config's count: a lower bound while Fly runs fewer)."""
    kind = getattr(probe, "kind", "")
    if kind == "mcp":
        return _MCP_REQUESTS[getattr(probe, "flavor", "streamable")]
    group = getattr(probe, "per_machine", None)
    if group is not None and service is not None and service.fly is not None:
        wanted = next((g.machines for g in service.fly.groups if g.name == group), 0)
        return 1 + wanted
    return 1 if kind in ("http", "json") else 0


def _url_path(url: str) -> str:
    """The path a probe requests, as a log line shows it: ``${CHATWOOT_BASE_URL}/api`` is
    ``/api`` (the variable is the scheme and host)."""
    bare = re.sub(r"^\$\{[^}]*\}", "http://host", url)
    return urlsplit(bare).path or "/"


def probe_traffic(
    service: Service, counted: Callable[[str], bool] | None = None
) -> tuple[ProbeTraffic, ...]:
    """redline's own requests among those an SLI of ``service`` counts: every request probe's
    (through Fly's proxy, which sees them all), or, with ``counted`` (a route group -> counted
    by the SLI), those of probes whose URL path falls into a counted route group of the logs."""
    out = []
    for probe in service.probes:
        per_run = requests_per_run(probe, service)
        if not per_run:
            continue
        if counted is not None and not counted(_url_path(str(getattr(probe, "url", "")))):
            continue
        out.append(ProbeTraffic(probe=probe.name, per_run=per_run))
    return tuple(out)


def log_routes_counted(
    grouper: RouteGrouper, routes: tuple[str, ...], excluded: tuple[str, ...]
) -> Callable[[str], bool]:
    """A URL path -> whether a log line of it counts where ``routes`` (route groups; empty:
    every group but ``excluded``) are counted, grouped as the logs group lines."""

    def counted(path: str) -> bool:
        group = grouper.group(path)
        return group in routes if routes else group not in excluded

    return counted


def log_probe_traffic(config: Config) -> dict[str, tuple[ProbeTraffic, ...]]:
    """Per service, redline's own requests among those LogErrorRateHigh counts from the logs
    (every route group but the synthetic ones): the probes whose URL path falls into such a
    group, as for a log SLI over every route (:func:`probe_traffic`), of the services a log
    source can name (its ``service_map``'s labels and its own ``service``: the logs give any
    other "other"). A service without such probes is left out."""
    counted = log_routes_counted(
        RouteGrouper(config.logs.route_groups), (), synthetic_routes(config)
    )
    logged = {
        label
        for source in config.logs.sources
        for label in (*source.service_map.values(), source.service_label)
    }
    out = {}
    for service in config.services:
        if service.name not in logged:
            continue
        traffic = probe_traffic(service, counted)
        if traffic:
            out[service.name] = traffic
    return out


def _service_sli(
    service: Service,
    index: int,
    synthetic: tuple[str, ...] = (),
    routes_of: RouteGrouper | None = None,
) -> SLI:
    sli = service.slos[index].sli
    grouper = routes_of or RouteGrouper(())

    def on_routes(routes: tuple[str, ...], excluded: tuple[str, ...]) -> Callable[[str], bool]:
        return log_routes_counted(grouper, routes, excluded)

    if sli.probes is not None:
        return SLI(probes=ProbesSLI(service=service.name, probes=sli.probes))
    if sli.requests is not None:
        routes = sli.requests.routes
        excluded = () if routes else synthetic
        return SLI(
            requests=RequestsSLI(
                service=service.name,
                routes=routes,
                excluded=excluded,
                probe_traffic=probe_traffic(service, on_routes(routes, excluded)),
            )
        )
    if sli.fly_requests is not None or sli.fly_latency is not None:
        assert service.fly is not None  # the config refuses a fly SLI without it
        app = service.fly.app
        # Fly's proxy counts every request it passes to the app, redline's probes' too
        through_proxy = probe_traffic(service)
        if sli.fly_requests is not None:
            return SLI(
                fly_requests=FlySLI(service=service.name, app=app, probe_traffic=through_proxy)
            )
        assert sli.fly_latency is not None
        return SLI(
            fly_latency=FlyLatencySLI(
                service=service.name,
                app=app,
                threshold=_num(sli.fly_latency.threshold),
                probe_traffic=through_proxy,
            )
        )
    assert sli.latency is not None
    routes = sli.latency.routes
    excluded = () if routes else synthetic
    return SLI(
        latency=LatencySLI(
            service=service.name,
            routes=routes,
            threshold=_num(sli.latency.threshold),
            excluded=excluded,
            probe_traffic=probe_traffic(service, on_routes(routes, excluded)),
        )
    )


def slos_of(config: Config) -> SLOSpec:
    slos: list[SLO] = []
    for service in config.services:
        for i, s in enumerate(service.slos):
            slos.append(
                SLO(
                    name=f"{service.name}-{s.name}",
                    service=service.name,
                    objective=s.objective,
                    description=s.description,
                    sli=_service_sli(
                        service, i, synthetic_routes(config), RouteGrouper(config.logs.route_groups)
                    ),
                    # a vendor's platform never pages: its burns are tickets (docs/alerting.md)
                    page=s.page and not service.vendor,
                    ticket=s.ticket,
                    explained_by=s.explained_by,
                    vendor_outages=s.vendor_outages,
                )
            )
    for database in config.databases:
        for d in database.slos:
            slos.append(
                SLO(
                    name=f"{DATABASE_SERVICE}-{d.name}",
                    service=DATABASE_SERVICE,
                    objective=d.objective,
                    description=d.description,
                    sli=SLI(database=database.name),
                    page=d.page,
                    ticket=d.ticket,
                    explained_by=d.explained_by,
                    vendor_outages=d.vendor_outages,
                )
            )
    return SLOSpec(
        version="redline.slo/v1", window=durations.prom(_num(config.slo_window)), slos=tuple(slos)
    )


# --- latency budgets ----------------------------------------------------------------------------


def latency_budgets(config: Config) -> tuple[LatencyBudget, ...]:
    """One budget per request probe with a ``degraded_after``; probes of the same name and the
    same budgets share one rule (``services`` lists them), in the order of the file."""
    groups: dict[tuple[str, float, float | None], list[str]] = {}
    for service in config.services:
        for probe in service.probes:
            if probe.kind not in REQUEST_KINDS or probe.degraded_after is None:
                continue
            key = (probe.name, probe.degraded_after, probe.page_after)
            groups.setdefault(key, []).append(service.name)
    return tuple(
        LatencyBudget(
            probe=probe,
            services=tuple(services),
            ticket=_num(ticket),
            page=None if page is None else _num(page),
        )
        for (probe, ticket, page), services in groups.items()
    )


def _with_budgets(alerts: AlertsSpec, config: Config) -> AlertsSpec:
    spec = alerts.alerts.get(LATENCY_ALERT)
    if spec is None:
        return alerts
    if spec.budgets:
        raise ModelError(
            "alerts.yml",
            ("alerts", LATENCY_ALERT, "budgets"),
            "latency budgets live on the probes in the operator's file (degraded_after: the "
            "ticket budget, page_after: the page)",
        )
    derived = spec.model_copy(update={"budgets": latency_budgets(config)})
    return alerts.model_copy(update={"alerts": {**alerts.alerts, LATENCY_ALERT: derived}})


# --- routing ------------------------------------------------------------------------------------


def _team_routes(parent: Route, config: Config) -> tuple[Route, ...]:
    teams: dict[str, list[str]] = {}
    for service in config.services:
        if service.team != parent.receiver:
            teams.setdefault(service.team, []).append(service.name)
    return tuple(
        Route(matchers=(f'service=~"{alternatives(names)}"',), receiver=team)
        for team, names in teams.items()
    )


def _expand(route: Route, config: Config) -> Route:
    children = tuple(_expand(r, config) for r in route.routes)
    if route.team_routes:
        children = _team_routes(route, config) + children
    return route.model_copy(update={"routes": children, "team_routes": False})


def dependency_inhibitions(config: Config) -> tuple[InhibitRule, ...]:
    """A database's outage explains the alerts of the services that depend on it: while its
    PostgresDown fires, their alerts are silenced (they still show in Alertmanager); after it,
    while its OutageWindow fires, all but their ServiceDown (exporter/rules/alerts/outages.py):
    the services' error ratios and burn windows still hold the outage, but a service down once
    the database is back is an incident of its own (PostgresDown's keep_firing_for covers the
    scrape or two they take to reconnect)."""
    out = []
    for database in config.databases:
        dependents = [s.name for s in config.services if database.name in s.depends_on]
        if dependents:
            services = f'service=~"{alternatives(dependents)}"'
            out.append(
                InhibitRule(
                    name=f"{database.name}-down-silences-dependents",
                    source_matchers=('alertname="PostgresDown"', f'database="{database.name}"'),
                    target_matchers=(services,),
                )
            )
            out.append(
                InhibitRule(
                    name=f"{database.name}-recovery-silences-dependents",
                    source_matchers=('alertname="OutageWindow"', f'database="{database.name}"'),
                    target_matchers=(services, 'alertname!="ServiceDown"'),
                )
            )
    return tuple(out)


# routing.yml's routes name it; its dates are config/hotrod.yml's launch:
LAUNCH_WINDOW = "launch-window"


def _with_teams(routing: RoutingSpec, config: Config) -> RoutingSpec:
    receivers = {r.name for r in routing.receivers}
    for i, service in enumerate(config.services):
        if service.team not in receivers:
            raise ModelError(
                "config",
                ("services", i, "team"),
                f"{service.team!r} is not a receiver of alert_rules/routing.yml "
                f"({', '.join(sorted(receivers))})",
            )
    if LAUNCH_WINDOW in routing.time_intervals:
        raise ModelError(
            "config",
            ("launch",),
            f"alert_rules/routing.yml must not define {LAUNCH_WINDOW}: it is the operator's "
            "launch window (launch: in this file), generated from it",
        )
    # the launch window is the operator's data: the next launch's dates, in their zone
    launch = tuple(TimeInterval.model_validate(e) for e in alertmanager_intervals(config.launch))
    return routing.model_copy(
        update={
            "routes": tuple(_expand(r, config) for r in routing.routes),
            "inhibit_rules": dependency_inhibitions(config) + routing.inhibit_rules,
            "time_intervals": {**routing.time_intervals, LAUNCH_WINDOW: launch},
        }
    )


# --- the whole ----------------------------------------------------------------------------------


def _check_durations(alerts: AlertsSpec, slos: SLOSpec) -> None:
    window = seconds(slos.window)
    for name, spec in alerts.alerts.items():
        for severity, level in spec.levels().items():
            if seconds(level.for_) > window:
                raise ModelError(
                    "alerts.yml",
                    ("alerts", name, severity, "for"),
                    f"{level.for_} is longer than the SLO window ({slos.window}, the operator's "
                    "file: slo_window)",
                )


def _check_vendor_names(config: Config) -> None:
    """Vendor alerts carry the feed's or check's name as their ``service`` label (routing and
    inhibitions read it), so it must not be the name of a service of our own: a Chatwoot check
    named chatwoot made VendorApiFailing and Chatwoot Inc.'s status-page outages look like our
    Chatwoot's alerts (its team's route, the database outage's inhibition). A ``vendor: true``
    service (Shopify) is the vendor itself: its feed and checks may share its name."""
    ours = {s.name for s in config.services if not s.vendor}
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("vendors", "feeds", i, "name"), f.name) for i, f in enumerate(config.vendors.feeds)
    ]
    for kind in ("shopify", "chatwoot", "google_analytics"):
        for i, c in enumerate(getattr(config.vendors.checks, kind)):
            named.append((("vendors", "checks", kind, i, "name"), c.name))
    for path, name in named:
        if name in ours:
            raise ModelError(
                "config",
                path,
                f"{name!r} is the name of our service {name} (services): the vendor alerts "
                "about it would carry service=" + name + " and be routed and inhibited as that "
                f"service's; give it a name of its own (e.g. {name}-api)",
            )


def _check_counters_through_proxy(config: Config) -> None:
    """A JSON probe whose counters alerts read with increase() must reach one machine: through
    Fly's proxy, an app of several machines answers in turn, each with its own count, and every
    switch reads as a counter reset (the other machine's whole count counted as new)."""
    from exporter.rules.alerts.common import JSON_COUNTERS

    for s_index, service in enumerate(config.services):
        if service.fly is None:
            continue
        several = [g for g in service.fly.groups if g.machines > 1]
        if not several:
            continue
        for p_index, probe in enumerate(service.probes):
            counters = [
                spec.name for spec in getattr(probe, "metrics", ()) if spec.name in JSON_COUNTERS
            ]
            headers = {k.lower() for k in getattr(probe, "headers", {})}
            pinned = FLY_PIN_HEADER in headers or getattr(probe, "per_machine", None) is not None
            if counters and not pinned:
                group = several[0]
                raise ModelError(
                    "config",
                    ("services", s_index, "probes", p_index),
                    f"reads the counters {', '.join(counters)} through Fly's proxy, and "
                    f"{service.name}'s group {group.name} has {group.machines} machines: each "
                    "scrape may reach another machine, whose count reads as a counter reset. "
                    f"Read each machine (per_machine: {group.name}), pin the probe to one "
                    f"machine (headers: {{{FLY_PIN_HEADER}: <machine id>}}) or run the group on "
                    "one machine",
                )


def build(
    config: Config,
    alerts: AlertsSpec,
    routing: RoutingSpec,
    stack: StackSpec,
    config_name: str = CONFIG,
    config_path: Path | None = None,
    spec_dir: Path | None = None,
) -> Stack:
    """The model from already-parsed parts (pure: tests pass edited copies). A mistake is a
    SpecError naming the file, the line when the file is at hand, and the path of the value."""
    try:
        _check_vendor_names(config)
        _check_counters_through_proxy(config)
        slos = slos_of(config)
        alerts = _with_budgets(alerts, config)
        _check_durations(alerts, slos)
        routing = _with_teams(routing, config)
    except ModelError as e:
        raise located(e, config_path, spec_dir) from None
    return Stack(config, config_name, alerts, slos, routing, stack)


def load(root: Path = ROOT, config_path: Path | None = None) -> Stack:
    """Read the operator's file and alert_rules/ under ``root`` into one model."""
    spec_dir = root / "alert_rules"
    path = config_path or root / CONFIG
    config, _ = load_config(path)
    name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    return build(
        config,
        load_alerts(spec_dir),
        load_routing(spec_dir),
        load_stack(spec_dir),
        name,
        path,
        spec_dir,
    )


@cache
def shipped() -> Stack:
    """The repository's own model, read once per process (dashboards, baseline)."""
    return load()
