"""The specs under alert_rules/, as typed, frozen models validated once, at load.

- the SLOs: written per service in config/hotrod.yml (exporter/sloconfig.py) and turned into
  :class:`SLOSpec` by exporter/rules/stackmodel.py -> recording rules and burn-rate alerts
  (exporter/rules/slo.py);
- ``alert_rules/alerts.yml``: every alert's severities, ``for`` durations and thresholds, each
  with the reason for its value (exporter/rules/alerts/ holds the expressions);
- ``alert_rules/routing.yml``: Alertmanager's receivers, routes, time intervals and inhibitions
  (exporter/rules/alertmanager.py);
- ``alert_rules/stack.yml``: where the exporters, Prometheus, Alertmanager and Grafana run
  (exporter/rules/prometheus_config.py) and the dashboard uids alerts link to.

An invalid spec fails ``make generate`` with the file and the path of the bad value.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from exporter import durations

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT / "alert_rules"


class SpecError(Exception):
    """A spec file that cannot be used; the message names the file and the path inside it."""


def seconds(duration: str) -> Decimal:
    """Exact seconds in a duration such as ``1h30m`` (exporter/durations.py)."""
    return durations.parse(duration, bare=False)


def _prom_duration(value: Any) -> str:
    """A duration Prometheus and Alertmanager read: kept as written when they read it as it
    stands (``1h30m``, ``7d``), else written their way (``0.5s`` -> ``500ms``, ``1.5h`` ->
    ``1h30m``). A bare number is refused: Prometheus wants a unit."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and durations.is_prom(text):
        return text
    return durations.prom(durations.parse(text, bare=False))


def _quantity(value: Any) -> Decimal:
    """A threshold: a number, a percentage (``80%`` -> 0.8) or a duration (``500ms`` -> 0.5,
    seconds), kept exact."""
    refused = (
        f"{value!r} is not a number, a percentage such as 80%, or a duration such as "
        f"{durations.EXAMPLES}"
    )
    if isinstance(value, bool):
        raise ValueError(refused)
    text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text[:-1]) / 100 if text.endswith("%") else Decimal(text)
    except InvalidOperation:
        try:
            return durations.parse(text, bare=False)
        except ValueError:
            raise ValueError(refused) from None
    if not number.is_finite():
        raise ValueError(refused)
    return number


def _matcher(value: Any) -> str:
    pattern = r'^[a-zA-Z_][a-zA-Z0-9_]*(=|!=|=~|!~)".*"$'
    if not isinstance(value, str) or not re.match(pattern, value):
        raise ValueError(f'{value!r} is not a matcher such as severity="page" or service=~"a|b"')
    return value


PromDuration = Annotated[str, BeforeValidator(_prom_duration)]
Quantity = Annotated[Decimal, BeforeValidator(_quantity)]
Matcher = Annotated[str, BeforeValidator(_matcher)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")]
LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Severity = Literal["page", "ticket", "info"]
SEVERITIES: tuple[Severity, ...] = ("page", "ticket", "info")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- slos.yml ---------------------------------------------------------------------------------


class ProbesSLI(Model):
    """Availability from probes: the share of probe runs that failed (probe_success 0)."""

    service: Name
    probes: tuple[Name, ...] = Field(min_length=1)


class ProbeTraffic(Model):
    """Requests one of redline's own probes sends where an SLI counts requests it cannot tell
    from the users' (Fly's proxy has no user agent; a log line of /mcp no caller): each run of
    ``probe`` (``redline_probe_runs_total``) is ``per_run`` such requests, subtracted from the
    SLI's events (docs/slos.md)."""

    probe: str = Field(min_length=1)
    per_run: int = Field(1, ge=1)


class RequestsSLI(Model):
    """Availability from log-derived requests: the share answered with a 5xx status."""

    service: Name
    routes: tuple[str, ...] = ()  # route groups counted; empty: every route but `excluded`
    excluded: tuple[str, ...] = ()  # the synthetic route groups (logs.route_groups)
    probe_traffic: tuple[ProbeTraffic, ...] = ()  # redline's requests on the counted routes


class LatencySLI(Model):
    """Latency from the log-derived request-duration histogram: the share of requests slower
    than ``threshold``, which must be one of the histogram's bucket bounds (logs.buckets)."""

    service: Name
    routes: tuple[str, ...] = ()
    threshold: Quantity
    excluded: tuple[str, ...] = ()  # as RequestsSLI's
    probe_traffic: tuple[ProbeTraffic, ...] = ()  # as RequestsSLI's


class FlySLI(Model):
    """Availability from Fly's proxy: the share of the app's responses with a 5xx status
    (fly_app_http_responses_count{status})."""

    service: Name
    app: Name
    probe_traffic: tuple[ProbeTraffic, ...] = ()  # redline's requests through Fly's proxy


class FlyLatencySLI(Model):
    """Latency from Fly's proxy: the share of the app's responses slower than ``threshold``
    (fly_app_http_response_time_seconds), a bucket bound of Fly's histogram."""

    service: Name
    app: Name
    threshold: Quantity
    probe_traffic: tuple[ProbeTraffic, ...] = ()  # as FlySLI's


class SLI(Model):
    probes: ProbesSLI | None = None
    requests: RequestsSLI | None = None
    latency: LatencySLI | None = None
    database: Name | None = None  # availability of a configured database (pg_up)
    fly_requests: FlySLI | None = None
    fly_latency: FlyLatencySLI | None = None

    def kind(self) -> str:
        names = ("probes", "requests", "latency", "database", "fly_requests", "fly_latency")
        kinds = [k for k in names if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(f"an SLI is exactly one of {', '.join(names)}")
        return kinds[0]


class SLO(Model):
    name: Name
    service: Name
    objective: Quantity  # percent, e.g. 99.9
    description: str
    sli: SLI
    page: bool = True  # the fast-burn alert pages
    ticket: bool = True  # the slow-burn alert opens a ticket
    # SLOs whose errors explain this one's (a dependency's): while one of them had errors within
    # a burn-rate window, this SLO's burn over that window does not alert.
    explained_by: tuple[Name, ...] = ()
    # Vendor status feeds (config/hotrod.yml's vendors.feeds) whose outage explains this SLO's
    # errors: while the feed reported a component in outage within a burn-rate window, this SLO's
    # burn over that window does not alert.
    vendor_outages: tuple[Name, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> SLO:
        self.sli.kind()
        if not Decimal(0) < self.objective < Decimal(100):
            raise ValueError("objective is a percentage between 0 and 100, e.g. 99.9")
        if self.name in self.explained_by:
            raise ValueError("an SLO cannot be explained by itself")
        return self


class SLOSpec(Model):
    version: Literal["redline.slo/v1"]
    window: PromDuration
    slos: tuple[SLO, ...] = ()  # a stack may have none yet

    @model_validator(mode="after")
    def _check(self) -> SLOSpec:
        names = {s.name for s in self.slos}
        for s in self.slos:
            unknown = [n for n in s.explained_by if n not in names]
            if unknown:
                raise ValueError(f"{s.name}: explained_by names no SLO: {', '.join(unknown)}")
        return self


# --- alerts.yml -------------------------------------------------------------------------------


class BurnWindow(Model):
    long: PromDuration
    short: PromDuration
    factor: Quantity


class Level(Model):
    """One severity of an alert. Which of the optional values an alert needs is decided by its
    expression in exporter/rules/alerts/; a missing one fails ``make generate``."""

    for_: PromDuration = Field(alias="for")
    # keeps the alert firing this long after its condition cleared (Prometheus's
    # keep_firing_for), for an alert whose inhibitions must outlast it (see PostgresDown)
    keep_firing_for: PromDuration | None = None
    threshold: Quantity | None = None
    window: PromDuration | None = None  # range of rate/increase/quantile_over_time/predict_linear
    horizon: PromDuration | None = None  # how far predict_linear looks ahead
    guard: Quantity | None = None  # a second bound that must hold too (see the alert)
    # a ratio alert's least number of bad events in its window (the SRE Workbook's advice for
    # low traffic: below it, a ratio above the threshold is a few unlucky events)
    min_bad: Quantity | None = None
    windows: tuple[BurnWindow, ...] = ()  # burn-rate alerts: (long, short, factor)


class LatencyBudget(Model):
    probe: Name
    services: tuple[Name, ...] = Field(min_length=1)
    ticket: Quantity
    page: Quantity | None = None


class AlertSpec(Model):
    dashboard: str
    page: Level | None = None
    ticket: Level | None = None
    info: Level | None = None
    budgets: tuple[LatencyBudget, ...] = ()
    probes: tuple[str, ...] = ()  # "service/probe" targets the alert is about

    def levels(self) -> dict[Severity, Level]:
        return {s: lvl for s in SEVERITIES if (lvl := getattr(self, s)) is not None}

    def level(self, severity: Severity) -> Level:
        lvl = getattr(self, severity)
        if lvl is None:
            raise ValueError(f"needs a {severity} level")
        return lvl


class AlertsSpec(Model):
    version: Literal["redline.alerts/v1"]
    alerts: dict[str, AlertSpec]


# --- stack.yml --------------------------------------------------------------------------------


class ScrapeTarget(Model):
    address: str
    labels: dict[LabelName, str] = {}
    # I/N: the exporter runs with --shard=I/N (exporter/shard.py); scraped with label shard="I/N"
    shard: Annotated[str, Field(pattern=r"^[1-9][0-9]*/[1-9][0-9]*$")] | None = None


class BasicAuth(Model):
    username: str
    password_file: str


class TLSConfig(Model):
    ca_file: str | None = None  # the CA that signed the exporter's certificate
    cert_file: str | None = None  # Prometheus's client certificate (client_auth_type in web.yml)
    key_file: str | None = None
    server_name: str | None = None  # when the address is not a name in the certificate

    @model_validator(mode="after")
    def _pair(self) -> TLSConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate)")
        return self


class ExporterAuth(Model):
    """How Prometheus reaches exporters run with --web.config.file (docs/security.md)."""

    scheme: Literal["http", "https"] = "https"
    basic_auth: BasicAuth | None = None
    tls_config: TLSConfig | None = None

    @model_validator(mode="after")
    def _tls(self) -> ExporterAuth:
        if self.tls_config is not None and self.scheme != "https":
            raise ValueError("tls_config needs scheme: https")
        return self


# The external label that tells the servers of an HA pair apart (replicas: in stack.yml). Long-
# term stores deduplicate on it; alerts must not carry it (see prometheus_config.py).
REPLICA_LABEL = "replica"
# The label of a sharded exporter's scrape: the share stack.yml gives it (`shard: I/N`), which
# RedlineShardMismatch compares with the share the exporter says it runs.
SHARD_LABEL = "shard"


class RemoteWrite(Model):
    name: Name
    url: str
    headers: dict[str, str] = {}  # not secrets (e.g. X-Scope-OrgID); tokens go in files
    bearer_token_file: str | None = None
    basic_auth: BasicAuth | None = None
    # HA pair: drop the replica label on the way out, for a store that deduplicates identical
    # series by time (VictoriaMetrics with -dedup.minScrapeInterval). Thanos and Mimir
    # deduplicate on the label itself: keep it for them.
    drop_replica: bool = False
    # The store's Prometheus query API, when it has one (VictoriaMetrics: http://HOST:8428):
    # Grafana gets it as a second data source (dashboards/provisioning), and it is what
    # `redline baseline|capacity|postmortem --prometheus.url` takes to read past Prometheus's
    # retention.
    query_url: str | None = None


class StackSpec(Model):
    version: Literal["redline.stack/v1"]
    scrape_interval: PromDuration
    scrape_timeout: PromDuration
    evaluation_interval: PromDuration
    external_labels: dict[LabelName, str] = {}
    exporters: tuple[ScrapeTarget, ...] = Field(min_length=1)
    exporter_auth: ExporterAuth | None = None
    prometheus: tuple[str, ...] = Field(min_length=1)
    alertmanagers: tuple[str, ...] = Field(min_length=1)
    remote_write: tuple[RemoteWrite, ...] = ()
    # An HA pair (or more): one prometheus/prometheus-<name>.yml per name, each with the
    # external label replica=<name> and the alert relabelling that drops it again.
    replicas: tuple[Name, ...] = ()
    grafana_url: str
    runbook_url: str
    dashboards: dict[str, str]

    @model_validator(mode="after")
    def _check(self) -> StackSpec:
        # the exporter's deadline is the timeout Prometheus announces, so it must leave time
        # before the next scrape starts
        if seconds(self.scrape_timeout) >= seconds(self.scrape_interval):
            raise ValueError("scrape_timeout must be below scrape_interval")
        shards = [e.shard for e in self.exporters if e.shard is not None]
        if shards:
            count = len(self.exporters)
            expected = {f"{i}/{count}" for i in range(1, count + 1)}
            if len(shards) != count or set(shards) != expected:
                raise ValueError(
                    f"exporters: sharded exporters need shard: 1/{count} .. {count}/{count}, each "
                    f"once (got {[e.shard for e in self.exporters]}): a missing share is never "
                    "probed, a doubled one twice"
                )
        if self.replicas:
            if len(self.replicas) < 2 or len(set(self.replicas)) != len(self.replicas):
                raise ValueError("replicas: two or more distinct names, or none")
            if REPLICA_LABEL in self.external_labels:
                raise ValueError(
                    f"external_labels: {REPLICA_LABEL} is set per server from `replicas`"
                )
        return self


# --- routing.yml ------------------------------------------------------------------------------


class PagerDuty(Model):
    pass  # routing key: <secrets_dir>/<receiver>-pagerduty-routing-key


class Slack(Model):
    channel: str  # API URL: <secrets_dir>/<receiver>-slack-api-url


class Email(Model):
    to: str


class Webhook(Model):
    url: str  # no secret in it: the token is <secrets_dir>/<receiver>-webhook-token
    max_alerts: int = 0


class Receiver(Model):
    name: Name
    pagerduty: PagerDuty | None = None
    slack: Slack | None = None
    email: Email | None = None
    webhook: Webhook | None = None


class Route(Model):
    matchers: tuple[Matcher, ...] = Field(min_length=1)
    receiver: Name
    continue_: bool = Field(default=False, alias="continue")
    group_by: tuple[str, ...] | None = None
    group_wait: PromDuration | None = None
    group_interval: PromDuration | None = None
    repeat_interval: PromDuration | None = None
    active_time_intervals: tuple[Name, ...] = ()
    mute_time_intervals: tuple[Name, ...] = ()
    # The ticket routes of the services' teams (config/hotrod.yml: services[].team) go first
    # among this route's children (exporter/rules/stackmodel.py).
    team_routes: bool = False
    routes: tuple[Route, ...] = ()


class TimeRange(Model):
    start_time: str = Field(pattern=r"^\d\d:\d\d$")
    end_time: str = Field(pattern=r"^\d\d:\d\d$")


class TimeInterval(Model):
    weekdays: tuple[str, ...] = ()
    times: tuple[TimeRange, ...] = ()
    days_of_month: tuple[str, ...] = ()
    months: tuple[str, ...] = ()
    years: tuple[str, ...] = ()
    location: str | None = None


class InhibitRule(Model):
    name: str
    source_matchers: tuple[Matcher, ...] = Field(min_length=1)
    target_matchers: tuple[Matcher, ...] = Field(min_length=1)
    equal: tuple[LabelName, ...] = ()


class Smtp(Model):
    smarthost: str
    from_: str = Field(alias="from")
    username: str  # password: <secrets_dir>/smtp-password


class Defaults(Model):
    group_by: tuple[str, ...]
    group_wait: PromDuration
    group_interval: PromDuration
    repeat_interval: PromDuration


class RoutingSpec(Model):
    version: Literal["redline.routing/v1"]
    secrets_dir: str
    resolve_timeout: PromDuration
    smtp: Smtp
    defaults: Defaults
    receiver: Name  # the root route's receiver: whatever no route matches
    receivers: tuple[Receiver, ...] = Field(min_length=1)
    time_intervals: dict[Name, tuple[TimeInterval, ...]] = {}
    routes: tuple[Route, ...] = Field(min_length=1)
    inhibit_rules: tuple[InhibitRule, ...] = ()


# --- loading ----------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for seg in loc:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else str(seg))
    return out


def load(model: type[M], path: Path) -> M:
    """Parse and validate one spec file; SpecError names the file and the bad path."""
    rel = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise SpecError(f"{rel}: {e}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        lines = [
            f"{rel}: {_path(tuple(err['loc']))}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        ]
        raise SpecError("\n".join(lines)) from None


def load_alerts(spec_dir: Path = SPEC_DIR) -> AlertsSpec:
    return load(AlertsSpec, spec_dir / "alerts.yml")


def load_stack(spec_dir: Path = SPEC_DIR) -> StackSpec:
    return load(StackSpec, spec_dir / "stack.yml")


def load_routing(spec_dir: Path = SPEC_DIR) -> RoutingSpec:
    return load(RoutingSpec, spec_dir / "routing.yml")
