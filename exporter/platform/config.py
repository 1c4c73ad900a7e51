"""The ``platform:`` section of redline.yml and each service's ``fly:`` block.

``platform.fly`` names the Fly.io organisation whose managed Prometheus store Prometheus federates
from and whose Machines API redline polls; ``platform.supabase`` the Supabase project whose
metrics endpoint Prometheus scrapes. Tokens and keys are files, never values: Prometheus reads
them itself (``credentials_file``, ``password_file``), and so does redline.

A service's ``fly:`` block maps it to its Fly app and lists the app's process groups with the
memory of their machines as deployed, so alerts, dashboards and ``redline capacity`` know each
machine's real limit and which group processes the customers' messages.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from exporter.configtypes import Duration, Model, Name, SecretFile, Size, unique_names

# The generated scrape jobs' names (exporter/rules/prometheus_config.py): alerts on stale
# platform data and the dashboards select them.
FLY_JOB = "fly-federate"
SUPABASE_JOB = "supabase"
# Fly's documented endpoints (docs/platform.md). The federation URL depends on the org slug.
FLY_FEDERATE = "https://api.fly.io/prometheus/{org}/federate"
FLY_MACHINES_API = "https://api.machines.dev"
# Supabase's Metrics API (beta), per project.
SUPABASE_METRICS = "https://{ref}.supabase.co/customer/v1/privileged/metrics"

Url = Annotated[str, Field(pattern=r"^https?://[^\s/]+(/\S*)?$")]


class FlyPlatform(Model):
    # The organisation's slug (`fly orgs list`); the federation URL and the token are the org's.
    org: Name
    # A read-only org token (`fly tokens create readonly` or an org token), in a file: both
    # Prometheus (bearer credentials_file) and redline's machines source read it.
    token_file: SecretFile
    federate_url: Url | None = None  # default https://api.fly.io/prometheus/<org>/federate
    machines_api: Url = FLY_MACHINES_API
    # How often redline asks the Machines API (and Prometheus federates): Fly's store itself
    # keeps 15 s samples, and an OOM kill is an event that stays in the machine's event list.
    poll_interval: Duration = Field(default=60.0, ge=5.0)
    timeout: Duration = Field(default=10.0, gt=0)
    # Where the OOM-kill, restart and exit counters are kept across restarts of redline (written
    # atomically); None keeps them in memory only.
    state_file: str | None = None
    # Largest Machines API answer read; a list of a few machines is a few tens of KiB.
    max_body_bytes: Size = 4 * 1024 * 1024

    @property
    def federate(self) -> str:
        return self.federate_url or FLY_FEDERATE.format(org=self.org)

    @model_validator(mode="after")
    def _check(self) -> FlyPlatform:
        if self.timeout >= self.poll_interval:
            raise ValueError("timeout must be below poll_interval")
        return self


class SupabasePlatform(Model):
    # The project's reference id (the <ref> of https://<ref>.supabase.co).
    project_ref: Annotated[str, Field(pattern=r"^[a-z0-9]{1,40}$")]
    # The service_role key (the password of Supabase's metrics endpoint, user service_role).
    key_file: SecretFile
    # redline's service label for the instance's series (the database SLO's and alerts' service).
    service: Name = "database"
    metrics_url: Url | None = None  # default https://<ref>.supabase.co/customer/v1/...
    # The instance's connection limit when its metrics do not carry max_connections (see
    # docs/platform.md); the compute size's default (Supabase's compute add-ons page).
    max_connections: Annotated[int, Field(ge=1)] | None = None
    # The pooler's client connection limit of the compute size, for pooler saturation.
    pooler_max_clients: Annotated[int, Field(ge=1)] | None = None

    @property
    def url(self) -> str:
        return self.metrics_url or SUPABASE_METRICS.format(ref=self.project_ref)


class PlatformConfig(Model):
    fly: FlyPlatform | None = None
    supabase: SupabasePlatform | None = None


class FlyGroup(Model):
    """One process group of a Fly app (fly.toml [processes]; "app" when it has none)."""

    name: Name
    # Each machine's memory as deployed (fly scale memory / [[vm]] memory).
    memory: Size
    # Machines the app wants started in this group: fewer is FlyMachineDown.
    machines: Annotated[int, Field(ge=0)] = 1
    # The group works the customers' messages (Chatwoot's Sidekiq worker): an OOM kill pages.
    customer_messages: bool = False
    # Volumes mounted by the group's machines, with their provisioned size (capacity planning).
    volume_size: Size | None = None


class ServiceFly(Model):
    """A service's Fly app and its process groups."""

    app: Name
    groups: tuple[FlyGroup, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ServiceFly:
        unique_names([g.name for g in self.groups], "process group")
        return self
