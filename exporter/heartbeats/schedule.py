"""When a job's next ping is due, and the status that follows at a given time, with
healthchecks.io's semantics (hc/api/models.py ``Check.get_status``):

- a period job is due ``period`` after its last finished run's ping; a cron job at the first
  time its expression fires after that ping, read in its time zone (daylight-saving changes
  included, as cronsim handles them);
- after the due time the job is ``late``; ``grace`` later it is ``down``;
- a ``/start`` ping makes it ``started``: it must then finish within ``grace`` of the start,
  or it is ``down``;
- a failure ping makes it ``down`` at once, until the next success;
- before any ping it is ``never``; a first ``/start`` already shows ``started`` (and ``down``
  if that run never finishes), where healthchecks.io would stay "new".

cronsim is healthchecks.io's own cron evaluator, so the due times are the ones that service
computes.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from cronsim import CronSim

from exporter.heartbeats.config import Heartbeat
from exporter.heartbeats.state import JobState

STATUSES: tuple[str, ...] = ("up", "started", "late", "down", "never")


def next_due(job: Heartbeat, after: float) -> float:
    """The Unix time the next ping is due after a ping at ``after``."""
    if job.period is not None:
        return after + job.period
    assert job.schedule is not None  # the config allows exactly one of the two
    local = datetime.fromtimestamp(after, zoneinfo.ZoneInfo(job.timezone))
    return next(CronSim(job.schedule, local)).timestamp()


@dataclass(frozen=True)
class Verdict:
    status: str  # one of STATUSES
    due: float | None  # when the next ping is due (late after it), None before any ping


def evaluate(job: Heartbeat, state: JobState, now: float) -> Verdict:
    if state.last_ping is None and state.last_start is None:
        return Verdict("never", None)
    due = next_due(job, state.last_ping) if state.last_ping is not None else None
    if state.status == "down":
        return Verdict("down", due)  # a reported failure stays down until a success
    # A run in progress must end within grace of its start, whatever the schedule says.
    grace_start = due
    if state.last_start is not None:
        grace_start = state.last_start if due is None else min(due, state.last_start)
    assert grace_start is not None
    if now >= grace_start + job.grace:
        return Verdict("down", due)
    if state.last_start is not None:
        return Verdict("started", due)
    if due is not None and now >= due:
        return Verdict("late", due)
    return Verdict("up", due)
