"""Backups and scheduled jobs: backup freshness, size and verification; heartbeats of the
nightly jobs."""

from __future__ import annotations

from exporter import metrics as m
from exporter.rules.alerts.common import (
    Context,
    case,
    duration_expr,
    fires,
    quiet,
    seq,
    series,
    target,
)
from exporter.rules.model import (
    Alert,
    alternatives,
    labels_of,
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
    same_set = f"on ({labels_of(m.BACKUP_NEWEST_AGE, 'job', 'instance', 'backup')})"
    no_pitr = f"{sel(m.BACKUP_SUPABASE_PITR)} == 0"
    for severity in spec.levels():
        times, daily = ctx.values(spec, "BackupTooOld", severity, "threshold", "guard")
        factor = "" if times == 1 else f"{n(times)} * "
        age_ = sel(m.BACKUP_NEWEST_AGE)
        # a Supabase set without PITR has one backup a day: its newest is late past `daily`
        # (or past its max_age, if longer); the 1 h RPO it cannot meet is SupabasePITRDisabled's
        expr = (
            f"{age_}\n  > {factor}{sel(m.BACKUP_MAX_AGE)}\n"
            f"  unless {same_set} {no_pitr}\n"
            f"or\n{age_}\n  > {factor}clamp_min({sel(m.BACKUP_MAX_AGE)}, {duration_expr(daily)})\n"
            f"  and {same_set} {no_pitr}"
        )
        rules.append(ctx.rule(spec, severity, expr, bl))
    age = series(m.BACKUP_NEWEST_AGE, **bk)
    rpo = series(m.BACKUP_MAX_AGE, **bk)
    sb = {"backup": "supabase"}
    sb_age, sb_rpo = series(m.BACKUP_NEWEST_AGE, **sb), series(m.BACKUP_MAX_AGE, **sb)
    sb_pitr = series(m.BACKUP_SUPABASE_PITR, **sb)
    out.append(
        Alert(
            "BackupTooOld",
            "backups",
            "Newest backup of {{ $labels.backup }} is {{ $value | humanizeDuration }} old",
            "The newest backup of {{ $labels.backup }} is {{ $value | humanizeDuration }} old, "
            "older than its max_age (the RPO; business target below 1 h), or, for Supabase's "
            "daily backups without PITR, than a day's schedule ([[guard|duration]]): a database "
            "loss now loses that much. Is the backup job running (its heartbeat), and is the disk "
            "full?",
            spec.dashboard,
            tuple(rules),
            (
                # a nightly set (max_age 26 h) whose newest dump is 30 h old
                case(
                    {age: seq((3600, 4), (108000, 30)), rpo: seq((93600, 34))},
                    target(**bk),
                    fires("ticket", 4, 108000),
                ),
                # Supabase's daily backups without PITR: the day's backup is 4 h late (28 h)
                case(
                    {
                        sb_age: seq((3600, 4), (100800, 30)),
                        sb_rpo: seq((3600, 34)),
                        sb_pitr: seq((0, 34)),
                    },
                    target(**sb),
                    fires("ticket", 4, 100800),
                ),
                # with PITR the set's own max_age (1 h) holds: 2 h since the last restorable point
                case(
                    {
                        sb_age: seq((600, 4), (7200, 30)),
                        sb_rpo: seq((3600, 34)),
                        sb_pitr: seq((1, 34)),
                    },
                    target(**sb),
                    fires("ticket", 4, 7200),
                ),
            ),
            # Supabase without PITR, its daily backup 20 h old: past the 1 h max_age it cannot
            # meet, and on time (it fired ~23 h a day, and paged hourly in the launch window)
            quiet(
                {
                    age: seq((90000, 34)),
                    rpo: seq((93600, 34)),
                    sb_age: seq((72000, 34)),
                    sb_rpo: seq((3600, 34)),
                    sb_pitr: seq((0, 34)),
                }
            ),
        )
    )

    # The standing gap BackupTooOld no longer fires on all day: daily backups cannot meet the
    # 1 h RPO. Worth knowing in the daily digest, never a page (nothing broke).
    spec = ctx.alert("SupabasePITRDisabled")
    out.append(
        Alert(
            "SupabasePITRDisabled",
            "backups",
            "Supabase set {{ $labels.backup }} has no point-in-time recovery",
            "Point-in-time recovery is off on the project of the backup set {{ $labels.backup }} "
            "(value {{ $value | humanize }}): its daily backups are up to a day old, so a "
            "database loss loses up to a day of orders and conversations, against the business "
            "RPO below 1 h. Enabling the PITR add-on (Supabase dashboard: Database > Backups) is "
            "the fix; BackupTooOld meanwhile watches the daily schedule.",
            spec.dashboard,
            (ctx.rule(spec, "info", f"{no_pitr}", bl),),
            (case({sb_pitr: seq((1, 4), (0, 10))}, target(**sb), fires("info", 4, 0)),),
            quiet({sb_pitr: seq((1, 14))}),
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
