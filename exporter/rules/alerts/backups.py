"""Backups and scheduled jobs: backup freshness, size and verification; heartbeats of the
nightly jobs."""

from __future__ import annotations

from exporter import metrics as m
from exporter.rules.alerts.common import (
    Context,
    case,
    fires,
    quiet,
    seq,
    series,
    target,
)
from exporter.rules.model import (
    Alert,
    alternatives,
    n,
    sel,
)
from exporter.rules.spec import Severity

# --- backups and scheduled jobs -------------------------------------------------------------------


def alerts(ctx: Context) -> list[Alert]:
    out = []
    bl = {"service": "backups"}
    bk = {"backup": "agent-tables"}

    spec = ctx.alert("BackupTooOld")
    rules = []
    for severity in spec.levels():
        _, times = ctx.level(spec, "BackupTooOld", severity)
        factor = "" if times == 1 else f"{n(times)} * "
        expr = f"{sel(m.BACKUP_NEWEST_AGE)}\n  > {factor}{sel(m.BACKUP_MAX_AGE)}"
        rules.append(ctx.rule(spec, severity, expr, bl))
    age = series(m.BACKUP_NEWEST_AGE, **bk)
    rpo = series(m.BACKUP_MAX_AGE, **bk)
    out.append(
        Alert(
            "BackupTooOld",
            "backups",
            "Newest backup of {{ $labels.backup }} is {{ $value | humanizeDuration }} old",
            "The newest backup of {{ $labels.backup }} is {{ $value | humanizeDuration }} old, "
            "older than its max_age (the RPO; business target below 1 h): a database loss now "
            "loses that much. Is the backup job running (its heartbeat), and is the disk full?",
            spec.dashboard,
            tuple(rules),
            # a nightly set (max_age 26 h) whose newest dump is 30 h old
            (
                case(
                    {age: seq((3600, 4), (108000, 30)), rpo: seq((93600, 34))},
                    target(**bk),
                    fires("ticket", 4, 108000),
                ),
            ),
            quiet({age: seq((90000, 34)), rpo: seq((93600, 34))}),
        )
    )

    spec = ctx.alert("BackupFailed")
    failed_states = ("missing", "unreadable", "empty", "failed")
    bad = series(m.BACKUP_STATUS, **bk, status="empty")
    out.append(
        Alert(
            "BackupFailed",
            "backups",
            "Backup set {{ $labels.backup }} is {{ $labels.status }}",
            "The backup set {{ $labels.backup }} has been {{ $labels.status }} for [[for]] "
            "(value {{ $value | humanize }}): missing or unreadable directory, no backup at all, "
            "or Supabase's latest backup failed. Backup success must be 100%.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{sel(m.BACKUP_STATUS, status=('=~', alternatives(failed_states)))} == 1",
                    bl,
                ),
            ),
            (
                case(
                    {bad: seq((0, 4), (1, 30))}, target(**bk, status="empty"), fires("ticket", 4, 1)
                ),
            ),
            # stale is BackupTooOld's
            quiet({bad: seq((0, 30)), series(m.BACKUP_STATUS, **bk, status="stale"): seq((1, 30))}),
        )
    )

    spec = ctx.alert("BackupTooSmall")
    size = series(m.BACKUP_NEWEST_SIZE, **bk)
    minimum = series(m.BACKUP_MIN_SIZE, **bk)
    out.append(
        Alert(
            "BackupTooSmall",
            "backups",
            "Newest backup of {{ $labels.backup }} is only {{ $value | humanize1024 }}B",
            "The newest backup file of {{ $labels.backup }} is {{ $value | humanize1024 }}B, below "
            "the set's min_size: the dump stopped early or dumped nothing. A backup that small "
            "cannot restore the shop.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{sel(m.BACKUP_NEWEST_SIZE)} < {sel(m.BACKUP_MIN_SIZE)}",
                    bl,
                ),
            ),
            (
                case(
                    {size: seq((5242880, 4), (1024, 30)), minimum: seq((1048576, 34))},
                    target(**bk),
                    fires("ticket", 4, 1024),
                ),
            ),
            quiet({size: seq((5242880, 34)), minimum: seq((1048576, 34))}),
        )
    )

    spec = ctx.alert("BackupVerificationFailed")
    vf = {**bk, "check": "pg_restore_full"}
    vs = series(m.BACKUP_VERIFY_STATUS, **vf, status="failed")
    out.append(
        Alert(
            "BackupVerificationFailed",
            "backups",
            "Newest backup of {{ $labels.backup }} fails its {{ $labels.check }} check",
            "The {{ $labels.check }} integrity check of the newest backup of {{ $labels.backup }} "
            "failed (value {{ $value | humanize }}): that backup could not be restored. "
            "redline_backup_verify_failure_reason says how.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(m.BACKUP_VERIFY_STATUS, status='failed')} == 1", bl),),
            (
                case(
                    {vs: seq((0, 4), (1, 10))}, target(**vf, status="failed"), fires("ticket", 4, 1)
                ),
            ),
            quiet(
                {
                    vs: seq((0, 10)),
                    series(m.BACKUP_VERIFY_STATUS, **vf, status="pending"): seq((1, 10)),
                }
            ),
        )
    )

    jl = {"service": "jobs"}
    hb = {"heartbeat": "agent-table-backup"}
    heartbeat_alerts: tuple[tuple[str, str, Severity, str], ...] = (
        (
            "HeartbeatLate",
            "late",
            "info",
            "is late: its ping is overdue but within its grace time",
        ),
        (
            "HeartbeatFailed",
            "down",
            "ticket",
            "is down: its grace time passed without a ping, a run outlasted it, or it reported a "
            "failure",
        ),
    )
    for name, state, severity, text in heartbeat_alerts:
        spec = ctx.alert(name)
        hs = series(m.HEARTBEAT_STATUS, **hb, status=state)
        out.append(
            Alert(
                name,
                "backups",
                "Scheduled job {{ $labels.heartbeat }} " + state,
                "The job {{ $labels.heartbeat }} " + text + " (status value "
                "{{ $value | humanize }}). redline_heartbeat_last_success_timestamp_seconds and "
                "_last_failure_ say when it last worked; the job's own log says why.",
                spec.dashboard,
                (ctx.rule(spec, severity, f"{sel(m.HEARTBEAT_STATUS, status=state)} == 1", jl),),
                (
                    case(
                        {hs: seq((0, 4), (1, 10))},
                        target(**hb, status=state),
                        fires(severity, 4, 1),
                    ),
                ),
                quiet(
                    {hs: seq((0, 10)), series(m.HEARTBEAT_STATUS, **hb, status="up"): seq((1, 10))}
                ),
            )
        )
    return out
