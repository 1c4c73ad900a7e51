"""The ``heartbeats:`` section of redline.yml: the jobs that ping the exporter, when each is
expected, and the tokens they present.

A job is expected either every ``period`` after its last ping, or at the times of a cron
``schedule`` in a ``timezone`` (healthchecks.io's two kinds of check); after that it is late,
and a ``grace`` time later, down.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cronsim import CronSim, CronSimError
from pydantic import Field, field_validator, model_validator

from exporter.configtypes import (
    Duration,
    Model,
    Name,
    SecretFile,
    Size,
    Template,
    check_timezone,
    unique_names,
)


class Heartbeat(Model):
    name: Name  # the URL path segment: POST /heartbeat/NAME
    description: str = ""
    period: Duration | None = Field(default=None, gt=0)  # expected every period after a ping
    schedule: str | None = None  # or: a cron expression, five fields (minute to weekday)
    timezone: str = "UTC"  # the zone the cron expression is read in (IANA name)
    # How long after the due time the job is late before it is down; also how long a started
    # run may take before it is down. healthchecks.io's default is 1 hour.
    grace: Duration = Field(default=3600.0, gt=0)
    # This job's own token, instead of the section's shared one.
    token: Template | None = None
    token_file: SecretFile | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            next(CronSim(value, datetime.now(UTC)))
        except (CronSimError, StopIteration) as e:
            raise ValueError(f"bad cron expression {value!r}: {e or 'it never fires'}") from None
        return value

    @model_validator(mode="after")
    def _kind(self) -> Heartbeat:
        if (self.period is None) == (self.schedule is None):
            raise ValueError("set period (e.g. 1d) or schedule (a cron expression), exactly one")
        if self.period is not None and "timezone" in self.model_fields_set:
            raise ValueError("timezone goes with schedule; a period needs none")
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        return self


class HeartbeatsConfig(Model):
    # Where the jobs' state is kept across restarts (written atomically after every change).
    # None keeps it in memory only: an exporter restart then forgets every ping.
    state_file: str | None = None
    # The token every job presents as "Authorization: Bearer TOKEN", unless it has its own.
    token: Template | None = None
    token_file: SecretFile | None = None
    # A ping's body is not kept; anything larger than this is refused (413).
    max_body: Size = 10 * 1024
    jobs: tuple[Heartbeat, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> HeartbeatsConfig:
        unique_names([job.name for job in self.jobs], "heartbeat")
        if self.token is not None and self.token_file is not None:
            raise ValueError("set token or token_file, not both")
        shared = self.token is not None or self.token_file is not None
        # An open ping endpoint lets anyone who reaches the exporter hide a dead job.
        unprotected = [
            j.name for j in self.jobs if not shared and j.token is None and j.token_file is None
        ]
        if unprotected:
            raise ValueError(
                f"heartbeat(s) {', '.join(unprotected)} have no token: set heartbeats.token "
                "(or token_file), or a token per job"
            )
        return self
