"""The configuration (``redline.yml``): typed, frozen models validated once, at load.

Every error names the file, the path inside it (``services[2].probes[0].url``) and the line, and
all errors of a file are reported together. Secrets stay as written (``${NAME}`` or ``*_file``)
and are resolved by the probe that needs them (see exporter/secrets.py).

The models are the reference for docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from exporter import assertions, assumptions
from exporter.assumptions import Assumption
from exporter.backups.config import BackupsConfig
from exporter.configtypes import (
    METRIC_NAME_RE,
    NAME_RE,
    Duration,
    HostPort,
    JsonAssertion,
    Model,
    Name,
    Regex,
    SecretFile,
    Size,
    StatusSpec,
    Template,
    unique_names,
)
from exporter.configtypes import status_matches as status_matches  # re-exported for probes
from exporter.heartbeats.config import HeartbeatsConfig
from exporter.host.config import HostConfig
from exporter.launch.config import LaunchConfig
from exporter.logs.config import LogsConfig
from exporter.maintenance.config import Windows, clashes
from exporter.platform.config import PlatformConfig, ServiceFly
from exporter.postgres.config import Databases
from exporter.secrets import FileSecret
from exporter.sloconfig import SLOBase, SLOs
from exporter.vendors.config import VendorsConfig

DEFAULT_CONFIG_NAME = "default.yml"  # embedded in the package: stand-ins on loopback

# --- probe building blocks --------------------------------------------------------------------


class TLSConfig(Model):
    """TLS options shared by the HTTP, JSON, MCP and TCP probes."""

    verify: bool = True  # verify the chain and the name; off only for self-signed internal targets
    ca_file: str | None = None  # extra CA bundle (PEM) to trust
    server_name: str | None = None  # SNI and the name checked, when it differs from the URL host
    min_version: Literal["TLS1.2", "TLS1.3"] | None = None


class BasicAuth(Model):
    username: Template
    password: Template | None = None
    password_file: SecretFile | None = None

    @model_validator(mode="after")
    def _one_password(self) -> BasicAuth:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        return self


class ProbeBase(Model):
    name: Name
    timeout: Duration = 10.0  # the probe's own limit; the scrape deadline can cut it shorter
    # Never probe more often than this: concurrent or frequent scrapes reuse the last result
    # (its age is redline_probe_result_age_seconds). Protects rate-limited targets.
    min_interval: Duration = 0.0
    # A success slower than this is reported as status "degraded" (reason degraded). For the
    # request probes (http, json, mcp) it is also the latency budget: ServiceLatencyHigh opens a
    # ticket while the probe's p95 stays above it.
    degraded_after: Duration | None = None
    # The hard latency limit of a request probe: ServiceLatencyHigh pages above it. None: a slow
    # probe only ever opens a ticket.
    page_after: Duration | None = None

    @model_validator(mode="after")
    def _budgets(self) -> ProbeBase:
        # a budget at or above the timeout can never be crossed: the probe fails first
        for key in ("degraded_after", "page_after"):
            value = getattr(self, key)
            if value is not None and value >= self.timeout:
                raise ValueError(
                    f"{key} ({value:g} s) must be below the probe's timeout ({self.timeout:g} s)"
                )
        if self.page_after is not None:
            if self.degraded_after is None:
                raise ValueError("page_after needs degraded_after (the ticket budget) too")
            if self.page_after <= self.degraded_after:
                raise ValueError("page_after must be above degraded_after")
        return self


class HttpProbe(ProbeBase):
    kind: Literal["http"] = "http"
    url: Template
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, Template] = {}
    body: Template | None = None
    basic_auth: BasicAuth | None = None
    bearer_token: Template | None = None
    bearer_token_file: SecretFile | None = None
    valid_status: tuple[StatusSpec, ...] = ("2xx",)
    follow_redirects: bool = True
    max_redirects: Annotated[int, Field(ge=0, le=50)] = 10
    body_must_match: tuple[Regex, ...] = ()
    body_must_not_match: tuple[Regex, ...] = ()
    expect_json: tuple[JsonAssertion, ...] = ()  # every assertion must hold, else reason json
    # Assertions that, when any holds, mark a success as degraded (e.g. status == "degraded").
    degraded_when: tuple[JsonAssertion, ...] = ()
    # Header name -> regex the header's value must match (the header must be present).
    expect_headers: dict[str, Regex] = {}
    max_body_bytes: Size = 1024 * 1024
    tls: TLSConfig = TLSConfig()
    # Ask this DNS server (HOST:PORT) instead of the system resolver.
    resolver: HostPort | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^(https?://|\$\{)", value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _one_token(self) -> HttpProbe:
        if self.bearer_token is not None and self.bearer_token_file is not None:
            raise ValueError("set bearer_token or bearer_token_file, not both")
        if self.basic_auth is not None and (self.bearer_token or self.bearer_token_file):
            raise ValueError("set basic_auth or a bearer token, not both")
        return self


class JsonMetric(Model):
    """A value read from the JSON response and exposed as ``redline_json_<name>``."""

    name: Annotated[str, Field(pattern=METRIC_NAME_RE)]
    help: str = ""
    # Dotted path; {label} placeholders are filled with each configured value of that label,
    # e.g. path "metrics.{tool}.calls" with labels {tool: [query_support, refresh_index]}.
    path: str
    labels: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], tuple[str, ...]] = {}
    # How the value is read: number (JSON number), percent ("1.50%" -> 0.015), duration
    # ("12s", "340ms" -> seconds), bool (true -> 1), or states (value is one of `states`).
    parse: Literal["number", "percent", "duration", "bool", "states"] = "number"
    scale: float = 1.0  # multiply after parsing, e.g. 0.001 for milliseconds -> seconds
    states: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> JsonMetric:
        placeholders = set(re.findall(r"\{([a-z_][a-z0-9_]*)\}", self.path))
        if placeholders != set(self.labels):
            raise ValueError(
                f"path placeholders {sorted(placeholders)} must match labels {sorted(self.labels)}"
            )
        for label, values in self.labels.items():
            if not values:
                raise ValueError(f"label {label} needs at least one value")
        if (self.parse == "states") != bool(self.states):
            raise ValueError("parse: states needs a states list, and states needs parse: states")
        if self.parse == "states" and "state" in self.labels:
            raise ValueError("parse: states adds the label 'state': name the other label otherwise")
        if self.name.endswith("_total"):
            # these are gauges; Prometheus reserves _total for counters (promtool flags it)
            raise ValueError(f"{self.name}: a gauge name must not end in _total")
        if f"redline_json_{self.name}" == "redline_json_field_state":
            raise ValueError("the name field_state is redline's own (redline_json_field_state)")
        assertions.parse_path(re.sub(r"\{[a-z_][a-z0-9_]*\}", "x", self.path))
        return self


# Fly's proxy sends a request carrying this header to the machine it names (Fly's docs, "Dynamic
# request routing"); redline's per-machine reads set it (docs/platform.md).
FLY_PIN_HEADER = "fly-force-instance-id"


class JsonProbe(HttpProbe):
    kind: Literal["json"] = "json"  # type: ignore[assignment]
    metrics: tuple[JsonMetric, ...] = Field(min_length=1)
    # A process group of the service's Fly app (services[].fly.groups): the values are read from
    # each of its started machines (the Fly machines source's last poll), one request per machine
    # pinned with FLY_PIN_HEADER, and labelled `machine`. Through the proxy an app of several
    # machines answers in turn, each with its own counts: every switch read as a counter reset
    # (docs/platform.md). The probe's checks stay one request through the proxy, as users get.
    per_machine: Name | None = None

    @model_validator(mode="after")
    def _unique(self) -> JsonProbe:
        shapes: dict[str, tuple[str, ...]] = {}
        for metric in self.metrics:
            labels = tuple(sorted(metric.labels))
            if shapes.setdefault(metric.name, labels) != labels:
                raise ValueError(f"metric {metric.name} is defined with different labels")
            if self.per_machine is not None and "machine" in metric.labels:
                raise ValueError(f"metric {metric.name}: per_machine adds the label 'machine'")
        if self.per_machine is not None and FLY_PIN_HEADER in {k.lower() for k in self.headers}:
            raise ValueError(
                f"per_machine sets {FLY_PIN_HEADER} itself, per machine: drop the header "
                "(it pins every request to one machine) or per_machine"
            )
        return self


class TcpProbe(ProbeBase):
    kind: Literal["tcp"] = "tcp"
    address: HostPort
    tls: bool = False  # do a TLS handshake after connecting (measures it, reads cert expiry)
    tls_config: TLSConfig = TLSConfig()
    send: Template | None = None  # bytes to send after connecting (\n escapes as in YAML)
    expect: Regex | None = None  # a regex the answer must match, read up to max_read_bytes
    max_read_bytes: Size = 64 * 1024
    resolver: HostPort | None = None


class DnsProbe(ProbeBase):
    kind: Literal["dns"] = "dns"
    query: str  # the name to look up
    record_type: Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "SRV", "CAA"] = "A"
    resolver: HostPort | None = None  # None: the system resolver (A/AAAA only)
    transport: Literal["udp", "tcp"] = "udp"
    expect: tuple[str, ...] = ()  # each must appear among the answers (text form)
    min_answers: Annotated[int, Field(ge=0)] = 1

    @model_validator(mode="after")
    def _system(self) -> DnsProbe:
        if self.resolver is None and self.record_type not in ("A", "AAAA"):
            raise ValueError(
                f"record_type {self.record_type} needs a resolver (HOST:PORT): the system "
                "resolver answers only A and AAAA"
            )
        return self


class McpProbe(ProbeBase):
    kind: Literal["mcp"] = "mcp"
    url: Template
    # streamable (default): standard MCP over Streamable HTTP (JSON-RPC initialize, session,
    # tools/list; Accept: application/json, text/event-stream; JSON or SSE answers), as the
    # official SDKs serve it. plain: llamaindex-mcp's HTTP+JSON flavour, POST
    # {"method": "tools/list"} (config/hotrod.yml sets it for llamaindex-mcp).
    flavor: Literal["plain", "streamable"] = "streamable"
    tools: tuple[str, ...] = ()  # every one must be listed
    headers: dict[str, Template] = {}
    bearer_token: Template | None = None
    bearer_token_file: SecretFile | None = None
    protocol_version: str = "2025-06-18"
    max_body_bytes: Size = 1024 * 1024
    tls: TLSConfig = TLSConfig()
    # llamaindex-mcp allows 100 requests per 60 s per client: stay far below by default.
    min_interval: Duration = 5.0


Probe = Annotated[
    HttpProbe | JsonProbe | TcpProbe | DnsProbe | McpProbe, Field(discriminator="kind")
]
PROBE_KINDS = ("http", "json", "tcp", "dns", "mcp")


class Service(Model):
    name: Name
    description: str = ""
    probes: tuple[Probe, ...] = Field(min_length=1)
    # The Fly app the service runs as, and its process groups (docs/platform.md).
    fly: ServiceFly | None = None
    # The monitoring side (exporter/sloconfig.py): who gets this service's tickets (a receiver
    # of alert_rules/routing.yml), the databases (names under databases) whose outage explains
    # its errors, and its SLOs.
    team: Name = "services"
    depends_on: tuple[Name, ...] = ()
    # A third party's platform we call but cannot fix (Shopify): its alerts are tickets, never
    # pages (ServiceDown opens a ticket, its SLOs' burns too); docs/alerting.md.
    vendor: bool = False
    slos: SLOs

    @model_validator(mode="after")
    def _fly_slis(self) -> Service:
        for slo in self.slos:
            if slo.sli.kind().startswith("fly_") and self.fly is None:
                raise ValueError(
                    f"SLO {slo.name}: a {slo.sli.kind()} SLI reads the service's Fly app: set fly"
                )
        return self

    @model_validator(mode="after")
    def _per_machine(self) -> Service:
        for i, probe in enumerate(self.probes):
            group = getattr(probe, "per_machine", None)
            if group is None:
                continue
            if self.fly is None:
                raise ValueError(
                    f"probes[{i}].per_machine: reads the machines of the service's Fly app: "
                    "set fly (docs/platform.md)"
                )
            groups = [g.name for g in self.fly.groups]
            if group not in groups:
                raise ValueError(
                    f"probes[{i}].per_machine: {group} is not a process group of "
                    f"{self.fly.app} (its groups: {', '.join(groups)})"
                )
        return self

    @field_validator("probes")
    @classmethod
    def _unique(cls, probes: tuple[ProbeBase, ...]) -> tuple[ProbeBase, ...]:
        unique_names([p.name for p in probes], "probe")
        return probes

    @model_validator(mode="after")
    def _slos(self) -> Service:
        unique_names([s.name for s in self.slos], "SLO")
        probes = {p.name for p in self.probes}
        for i, slo in enumerate(self.slos):
            unknown = [p for p in slo.sli.probes or () if p not in probes]
            if unknown:
                raise ValueError(
                    f"slos[{i}].sli.probes: {', '.join(unknown)} is not a probe of {self.name} "
                    f"(its probes: {', '.join(sorted(probes))})"
                )
        return self


class ExporterSettings(Model):
    # Used when Prometheus sends no X-Prometheus-Scrape-Timeout-Seconds header.
    scrape_timeout: Duration = 10.0
    # Kept free before the scrape deadline to render and send the answer.
    scrape_timeout_margin: Duration = 0.5
    # Probes running at once (a run waits for a slot before its timer starts); read at start.
    max_concurrent_probes: Annotated[int, Field(ge=1, le=10000)] = 128


class Defaults(Model):
    """Values every probe takes unless it sets its own (only where the probe kind has the key)."""

    timeout: Duration | None = None
    min_interval: Duration | None = None
    degraded_after: Duration | None = None
    max_body_bytes: Size | None = None


class Config(Model):
    exporter: ExporterSettings = ExporterSettings()
    defaults: Defaults = Defaults()
    services: tuple[Service, ...] = ()
    host: HostConfig = HostConfig()  # the host collector and process groups (docs/host.md)
    logs: LogsConfig = LogsConfig()  # log files and ingest, parsed into metrics (docs/logs.md)
    databases: Databases = ()  # Postgres databases, unique names (docs/postgres.md)
    vendors: VendorsConfig = VendorsConfig()  # status feeds and vendor API checks (docs/vendors.md)
    backups: BackupsConfig = BackupsConfig()  # backup files and Supabase's (docs/backups.md)
    heartbeats: HeartbeatsConfig = HeartbeatsConfig()  # job pings (docs/heartbeats.md)
    # the next launch window, or None: no launch planned (docs/launch-day.md)
    launch: LaunchConfig | None = None
    # planned work: windows in which a service's alerts notify nobody (docs/maintenance.md)
    maintenance: Windows = ()
    # Fly.io and Supabase (docs/platform.md); validated even when absent (see _platform)
    platform: PlatformConfig = Field(default=PlatformConfig(), validate_default=True)
    # The window every SLO's objective and error budget is measured over (docs/slos.md).
    slo_window: Duration = 30 * 86400.0
    # Values nobody has confirmed against the real services, each with what to look at
    # (exporter/assumptions.py; `redline check` lists them under "to confirm").
    assumptions: tuple[Assumption, ...] = ()

    @field_validator("services")
    @classmethod
    def _unique(cls, services: tuple[Service, ...]) -> tuple[Service, ...]:
        unique_names([s.name for s in services], "service")
        apps = [s.fly.app for s in services if s.fly is not None]
        if len(apps) != len(set(apps)):
            raise ValueError("two services name the same Fly app")
        return services

    @field_validator("platform")
    @classmethod
    def _platform(cls, platform: PlatformConfig, info: ValidationInfo) -> PlatformConfig:
        services = info.data.get("services") or ()
        flying = [f"services[{i}].fly" for i, s in enumerate(services) if s.fly is not None]
        if flying and platform.fly is None:
            raise ValueError(
                f"{', '.join(flying)} name a Fly app: set platform.fly (org and token_file) "
                "so it can be read"
            )
        return platform

    def fly_apps(self) -> dict[str, Service]:
        """Every service that runs as a Fly app, by its app's name."""
        return {s.fly.app: s for s in self.services if s.fly is not None}

    @model_validator(mode="after")
    def _references(self) -> Config:
        """What a service's monitoring side names must exist in this file."""
        databases = {d.name for d in self.databases}
        slos = {f"{s.name}-{slo.name}" for s in self.services for slo in s.slos}
        database_slos = {f"database-{slo.name}" for d in self.databases for slo in d.slos}
        if slos & database_slos:
            raise ValueError(f"SLO name used twice: {', '.join(sorted(slos & database_slos))}")
        unique_names([f"database-{slo.name}" for d in self.databases for slo in d.slos], "SLO")
        slos |= database_slos
        feeds = {f.name for f in self.vendors.feeds}
        for i, service in enumerate(self.services):
            unknown = [d for d in service.depends_on if d not in databases]
            if unknown:
                raise ValueError(
                    f"services[{i}].depends_on: no database named {', '.join(unknown)}"
                )
            for j, slo in enumerate(service.slos):
                where = f"services[{i}].slos[{j}]"
                _check_slo_refs(where, slo, slos, feeds, f"{service.name}-{slo.name}")
        for i, database in enumerate(self.databases):
            for j, dslo in enumerate(database.slos):
                where = f"databases[{i}].slos[{j}]"
                _check_slo_refs(where, dslo, slos, feeds, f"database-{dslo.name}")
        self._maintenance_refs(databases)
        # a restore test's `source` names the database the dump is taken from (docs/backups.md)
        for test in self.backups.restore.tests:
            if test.source is not None and test.source not in databases:
                known = ", ".join(sorted(databases)) or "none"
                raise ValueError(
                    f"backups.restore: test of {test.backup!r}: source {test.source!r} is not "
                    f"a configured database (databases: {known})"
                )
        return self

    def _maintenance_refs(self, databases: set[str]) -> None:
        """A maintenance window covers services and databases of this file, one window per
        service at a time."""
        unique_names([w.name for w in self.maintenance], "maintenance window")
        services = {s.name for s in self.services}
        for i, window in enumerate(self.maintenance):
            for j, name in enumerate(window.services):
                if name not in services | databases:
                    raise ValueError(
                        f"maintenance[{i}].services[{j}]: no service or database named {name!r} "
                        f"(services: {', '.join(sorted(services)) or 'none'}; databases: "
                        f"{', '.join(sorted(databases)) or 'none'})"
                    )
        for clash in clashes(self.maintenance, time.time()):
            when = datetime.fromtimestamp(clash.at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            raise ValueError(
                f"maintenance: windows {clash.first!r} and {clash.second!r} both cover "
                f"{clash.service!r} at {when}: merge them, or move one"
            )

    def maintained(self, name: str) -> str:
        """The label a window's subject is matched on: ``service`` or ``database``."""
        return "database" if name in {d.name for d in self.databases} else "service"

    def targets(self) -> dict[str, tuple[Service, Any]]:
        """Every probe by its target name, ``service/probe``."""
        return {f"{s.name}/{p.name}": (s, p) for s in self.services for p in s.probes}


def _check_slo_refs(where: str, slo: SLOBase, slos: set[str], feeds: set[str], own: str) -> None:
    unknown = [n for n in slo.explained_by if n not in slos]
    if unknown:
        raise ValueError(
            f"{where}.explained_by: no SLO named {', '.join(unknown)} (SLOs are named "
            "<service>-<name>, e.g. hotdash-app-availability, or database-<name>)"
        )
    if own in slo.explained_by:
        raise ValueError(f"{where}.explained_by: an SLO cannot be explained by itself")
    unknown = [f for f in slo.vendor_outages if f not in feeds]
    if unknown:
        raise ValueError(f"{where}.vendor_outages: no status feed named {', '.join(unknown)}")


# --- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    path: str  # services[2].probes[0].url ('' for the whole file)
    line: int | None  # 1-based
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__("\n".join(str(i) for i in issues))
        self.issues = issues


class _Lines:
    """Maps config paths (tuples of keys and indexes) to the line where each value starts."""

    def __init__(self) -> None:
        self.lines: dict[tuple[str | int, ...], int] = {}
        self.values = 0  # values read so far, bounded by MAX_VALUES
        # turns scalar nodes into values: one per document read
        self.constructor = yaml.constructor.SafeConstructor()

    def find(self, path: tuple[str | int, ...]) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


# libyaml's parser (PyYAML's C extension) when PyYAML was built with it: the same nodes, with
# their lines, for a fraction of the pure-Python parser's time and transient objects (a
# 1,000-probe config read and validated in about 0.15 s instead of 0.75 s).
_YAML_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# A YAML alias repeats the whole value it points to, so a few lines of aliases of aliases can
# stand for billions of values: reading stops at this many (a real config has a few thousand).
MAX_VALUES = 100_000


def _to_python(node: yaml.Node, path: tuple[str | int, ...], lines: _Lines, file: str) -> Any:
    """Turn a composed YAML node into plain data, recording the line of every path."""
    lines.lines[path] = node.start_mark.line + 1
    constructor = lines.constructor

    def fail(at: tuple[str | int, ...], mark: yaml.Mark, message: str) -> ConfigError:
        return ConfigError([ConfigIssue(file, format_path(at), mark.line + 1, message)])

    lines.values += 1
    if lines.values > MAX_VALUES:
        raise fail(
            path,
            node.start_mark,
            f"the config holds more than {MAX_VALUES} values (YAML aliases repeat what they "
            "point to)",
        )

    def scalar(n: yaml.Node, at: tuple[str | int, ...]) -> Any:
        # A tag the safe loader does not know, or a value its tag cannot hold (!!int abc, a
        # plain 2025-13-45 read as a date) is the file's error, not the loader's crash.
        try:
            return constructor.construct_object(n, deep=True)
        except yaml.constructor.ConstructorError:
            raise fail(at, n.start_mark, f"unsupported YAML tag {n.tag}") from None
        except Exception:  # PyYAML's constructors fail in many ways (!!timestamp with no value)
            kind = n.tag.rsplit(":", 1)[-1]
            raise fail(
                at, n.start_mark, f"not a valid {kind} (quote the value to make it a string)"
            ) from None

    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise fail(path, key_node.start_mark, "YAML merge keys (<<) are not supported")
            if not isinstance(key_node, yaml.ScalarNode):
                raise fail(path, key_node.start_mark, "a mapping key must be a plain value")
            key = scalar(key_node, path)
            if key in out:
                raise fail((*path, str(key)), key_node.start_mark, f"duplicate key {key!r}")
            out[key] = _to_python(value_node, (*path, str(key)), lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*path, i), lines, file) for i, item in enumerate(node.value)]
    return scalar(node, path)


def format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif re.match(r"^[A-Za-z_][\w-]*$", seg):
            out += f".{seg}" if out else seg
        else:
            out += f"[{seg!r}]"
    return out


def _apply_defaults(raw: dict[str, Any]) -> None:
    """Copy ``defaults`` into every probe that has the key and does not set it."""
    defaults = raw.get("defaults")
    services = raw.get("services")
    if not isinstance(defaults, dict) or not isinstance(services, list):
        return
    by_kind: dict[Any, type[Model]] = {
        "http": HttpProbe,
        "json": JsonProbe,
        "tcp": TcpProbe,
        "dns": DnsProbe,
        "mcp": McpProbe,
    }
    for service in services:
        probes = service.get("probes") if isinstance(service, dict) else None
        for probe in probes if isinstance(probes, list) else []:
            kind = probe.get("kind") if isinstance(probe, dict) else None
            model = by_kind.get(kind) if isinstance(kind, str) else None
            if model is None:
                continue
            for key, value in defaults.items():
                fields = model.model_fields
                if key in fields and key not in probe and value is not None:
                    probe[key] = value


def read_yaml(text: str, file: str) -> tuple[Any, _Lines]:
    """The plain data of a YAML document (None when empty) and the line of each of its values;
    ConfigError for anything that is not YAML this loader takes (also used by the web config)."""
    lines = _Lines()
    try:
        try:
            node = yaml.compose(text, Loader=_YAML_LOADER)
        except yaml.YAMLError:
            # libyaml's messages say less (no alias name, no character): PyYAML's own parser
            # reads it again to say what is wrong, as it always did
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        return (None if node is None else _to_python(node, (), lines, file)), lines
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(
            [ConfigIssue(file, "", line, f"YAML syntax error: {e.problem or e.context}")]
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError([ConfigIssue(file, "", None, f"YAML error: {e}")]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(file, "", None, "the YAML is nested too deeply")]) from None


def parse_config(text: str, file: str) -> Config:
    """Parse and validate config text; raise ConfigError listing every problem."""
    raw, lines = read_yaml(text, file)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        line = lines.find(()) or 1
        raise ConfigError([ConfigIssue(file, "", line, "the config must be a mapping at the top")])
    # assumptions name values as written, so they are resolved before defaults fill probes in
    unconfirmed = [
        ConfigIssue(file, f"assumptions[{i}].path", lines.find(("assumptions", i, "path")), msg)
        for i, msg in assumptions.unresolved(raw)
    ]
    _apply_defaults(raw)
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(unconfirmed + _issues(e, lines, file)) from None
    except (OverflowError, RecursionError) as e:
        # a validator met a number too large for a float, or a structure nested too deeply
        raise ConfigError(
            [ConfigIssue(file, "", None, f"a value is out of range ({type(e).__name__})")]
        ) from None
    if unconfirmed:
        raise ConfigError(unconfirmed)
    return config


def _issues(error: ValidationError, lines: _Lines, file: str) -> list[ConfigIssue]:
    out: list[ConfigIssue] = []
    errors = error.errors()
    locs = [tuple(e["loc"]) for e in errors]
    for err in errors:
        loc = tuple(err["loc"])
        # a too-short list whose items failed is only a consequence of those failures
        if err["type"] == "too_short" and any(o[: len(loc)] == loc and o != loc for o in locs):
            continue
        # discriminated unions put the probe kind into the path after the probe's index
        path: list[str | int] = [
            seg
            for i, seg in enumerate(loc)
            if not (i >= 2 and loc[i - 2] == "probes" and isinstance(loc[i - 1], int))
        ]
        path_t = tuple(path)
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            message = f"unknown key {path[-1]!r}"
        elif err["type"] == "too_short":
            message = f"needs at least {err['ctx']['min_length']} item(s)"
        elif err["type"] == "missing":
            message = f"missing required key {path[-1]!r}"
        elif err["type"] == "string_pattern_mismatch" and err["ctx"]["pattern"] == NAME_RE:
            message = (
                "a name is lowercase letters, digits, '.', '_' and '-', starting with a letter "
                "or digit, at most 63 characters"
            )
        elif err["type"] == "union_tag_invalid":
            message = f"unknown probe kind; expected one of {', '.join(PROBE_KINDS)}"
        elif err["type"] == "union_tag_not_found":
            message = f"missing key 'kind' (one of {', '.join(PROBE_KINDS)})"
        out.append(ConfigIssue(file, format_path(path_t), lines.find(path_t), message))
    return out


def load_config(path: str | Path | None) -> tuple[Config, str]:
    """Load ``path``, or the embedded default when ``path`` is None. Returns the config and
    the name to show for it."""
    if path is None:
        text = resources.files("exporter").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8")
        name = f"<embedded {DEFAULT_CONFIG_NAME}>"
        return parse_config(text, name), name
    name = str(path)
    text = read_config_file(path)
    if read_yaml(text, name)[0] is None:
        # A truncated deploy or an emptied file must not end monitoring quietly: an empty file
        # is never a config (write `services: []` to mean "nothing", which reloads then judge).
        raise ConfigError(
            [
                ConfigIssue(
                    name, "", None, "the file is empty or holds only comments: nothing to monitor"
                )
            ]
        )
    return parse_config(text, name), name


def target_counts(config: Config) -> dict[str, int]:
    """How many targets each area of ``config`` has (``redline_config_targets``; reloads
    compare them)."""
    return {
        "probes": len(config.targets()),
        "databases": len(config.databases),
        "heartbeats": len(config.heartbeats.jobs),
        "log_sources": len(config.logs.sources),
        "backups": len(config.backups.files) + len(config.backups.supabase),
        "vendors": len(config.vendors.feeds)
        + len(config.vendors.checks.shopify)
        + len(config.vendors.checks.chatwoot)
        + len(config.vendors.checks.google_analytics),
    }


def shrinkage(old: Config, new: Config) -> list[str]:
    """The areas where ``new`` keeps fewer than half of the targets of ``old`` (``"probes: 4 ->
    1"``): a reload that would do this is refused unless forced. Half may go (a service retired,
    a config trimmed by hand); more than half gone at once is far likelier a wrong or cut file."""
    before, after = target_counts(old), target_counts(new)
    return [
        f"{area}: {before[area]} -> {after[area]}"
        for area in before
        if after[area] * 2 < before[area]
    ]


def read_config_file(path: str | Path) -> str:
    """The text of a config file (redline.yml, web.yml); ConfigError naming the file when it is
    missing, unreadable or not UTF-8."""
    name = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(name, "", None, "file not found")]) from None
    except OSError as e:
        raise ConfigError([ConfigIssue(name, "", None, f"cannot read: {e.strerror}")]) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            [ConfigIssue(name, "", None, f"not UTF-8 text (byte {e.start})")]
        ) from None


_URL_USERINFO = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://([^/@\s:]*):([^/@\s]+)@")


def written_passwords(config: Config) -> list[tuple[str, str]]:
    """(path, URL with the password masked) of every string value holding a URL whose userinfo
    has a password written out (``http://alice:pw@host/``), not a ${NAME} reference: for
    ``redline check`` to warn."""
    out: list[tuple[str, str]] = []

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, BaseModel):
            for key in type(obj).model_fields:
                walk(getattr(obj, key), f"{path}.{key}" if path else key)
        elif isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, f"{path}.{key}")
        elif isinstance(obj, tuple):
            for i, value in enumerate(obj):
                walk(value, f"{path}[{i}]")
        elif isinstance(obj, str):
            for match in _URL_USERINFO.finditer(obj):
                if not re.fullmatch(r"(\$\{[A-Za-z_][A-Za-z0-9_]*\})+", match.group(2)):
                    masked = obj[: match.start(2)] + "****" + obj[match.end(2) :]
                    out.append((path, masked))

    walk(config, "")
    return out


def secret_fields(config: Config) -> list[tuple[str, Any]]:
    """(path, value) of every value that may hold a ${NAME} reference or a secret file, for
    ``redline check`` to report the ones missing now."""
    out: list[tuple[str, Any]] = []

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, BaseModel):
            for key in type(obj).model_fields:
                walk(getattr(obj, key), f"{path}.{key}" if path else key)
        elif isinstance(obj, dict):
            for key, value in obj.items():
                walk(value, f"{path}.{key}")
        elif isinstance(obj, tuple):
            for i, value in enumerate(obj):
                walk(value, f"{path}[{i}]")
        elif isinstance(obj, FileSecret) or (isinstance(obj, str) and "${" in obj):
            out.append((path, obj))

    for key in type(config).model_fields:
        if key != "assumptions":  # notes about values, never a value redline resolves
            walk(getattr(config, key), key)
    return out
