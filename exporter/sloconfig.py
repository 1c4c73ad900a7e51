"""The monitoring side of a service in the operator's file: its SLOs, the team its tickets go to,
the databases it depends on. The exporter reads these models and ignores them at run time; the
generators (exporter/rules/stackmodel.py) turn them into recording rules, burn-rate alerts,
routes and inhibitions. They sit here, beside the service they describe, so that adding a service
(or changing a target) is one edit of one file.

An SLO is named after its service: ``availability`` under ``hotdash-app`` is the SLO
``hotdash-app-availability``; ``explained_by`` names SLOs by that full name. A database's SLOs
belong to the ``database`` service (``database-availability``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from exporter.configtypes import Duration, Model, Name


def _objective(value: Any) -> Decimal:
    """A percentage kept exact: 99.9 stays 99.9 (a float would make the budget 0.0009999...)."""
    if isinstance(value, bool):
        raise ValueError("an objective is a percentage such as 99.9")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a percentage such as 99.9") from None
    if not Decimal(0) < number < Decimal(100):
        raise ValueError("an objective is a percentage between 0 and 100, e.g. 99.9")
    return number


Objective = Annotated[Decimal, BeforeValidator(_objective)]


class RequestsSLI(Model):
    """Availability from log-derived requests: the share answered with a 5xx status."""

    routes: tuple[str, ...] = ()  # route groups counted; empty: every route


class LatencySLI(Model):
    """Latency from the log-derived request-duration histogram: the share of requests slower
    than ``threshold``, which must be one of the histogram's bucket bounds (logs.buckets)."""

    routes: tuple[str, ...] = ()
    threshold: Duration


class FlyRequestsSLI(Model):
    """Availability from the real traffic Fly's proxy measured for the service's app
    (fly_app_http_responses_count): the share answered with a 5xx. Needs the service's fly:."""


class FlyLatencySLI(Model):
    """Latency from Fly's proxy (fly_app_http_response_time_seconds): the share of responses
    slower than ``threshold``, which must be a bucket bound of Fly's histogram."""

    threshold: Duration


SLI_KINDS = ("probes", "requests", "latency", "fly_requests", "fly_latency")


class ServiceSLI(Model):
    """Exactly one of: the service's probes that must succeed, its requests without a 5xx, or
    its requests faster than a threshold (from its logs, or from Fly's proxy: fly_*)."""

    probes: tuple[Name, ...] | None = None
    requests: RequestsSLI | None = None
    latency: LatencySLI | None = None
    fly_requests: FlyRequestsSLI | None = None
    fly_latency: FlyLatencySLI | None = None

    @model_validator(mode="after")
    def _one(self) -> ServiceSLI:
        kinds = [k for k in SLI_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"an SLI is exactly one of {', '.join(SLI_KINDS)}")
        if self.probes is not None and not self.probes:
            raise ValueError("probes: name at least one probe of the service")
        return self

    def kind(self) -> str:
        return next(k for k in SLI_KINDS if getattr(self, k) is not None)


class SLOBase(Model):
    objective: Objective  # percent of good events over the window (config's slo_window)
    description: str
    page: bool = True  # the fast-burn alert pages
    ticket: bool = True  # the slow-burn alert opens a ticket
    # SLOs (full names) whose errors explain this one's: while one of them had errors within a
    # burn-rate window, this SLO's burn over that window does not alert.
    explained_by: tuple[Name, ...] = ()
    # Vendor status feeds (vendors.feeds) whose outage explains this SLO's errors.
    vendor_outages: tuple[Name, ...] = ()


class ServiceSLO(SLOBase):
    name: Name  # the SLO is <service>-<name>
    sli: ServiceSLI


class DatabaseSLO(SLOBase):
    """Availability of the database entry it sits under: the share of scrapes where pg_up was
    0. The SLO is database-<name>."""

    name: Name = "availability"


SLOs = Annotated[tuple[ServiceSLO, ...], Field(default=())]
