"""Restore tests (exporter/backups/restore.py): the newest backup did not restore, the restore
took longer than the RTO budget, the restored data is older than the RPO budget, or no restore
test has succeeded within its schedule. One cause, one alert: a failed run is
BackupRestoreFailed's alone (Overdue stays quiet while the last run failed), and a failed run
records no duration or row age for the other two to judge."""

from __future__ import annotations

from exporter import metrics as m
from exporter.rules.alerts.common import Context, case, fires, quiet, seq, series, target
from exporter.rules.model import Alert, n, sel

RTO_PHASES = "inspect|create|restore"  # the phases up to a database holding the data


def alerts(ctx: Context) -> list[Alert]:
    out = []
    bl = {"service": "backups"}
    bk = {"backup": "agent-tables"}

    spec = ctx.alert("BackupRestoreFailed")
    ok = series(m.BACKUP_RESTORE_SUCCESS, **bk)
    out.append(
        Alert(
            "BackupRestoreFailed",
            "backups",
            "The newest backup of {{ $labels.backup }} did not restore",
            "The last restore test of {{ $labels.backup }} failed (success "
            "{{ $value | humanize }}): its newest backup did not restore into a scratch database, "
            "or the restored data failed a check. "
            "redline_backup_restore_failure_reason says why, the run's report (status page) "
            "says how. Until a restore test passes, that backup is not proven usable.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(m.BACKUP_RESTORE_SUCCESS)} == 0", bl),),
            (case({ok: seq((1, 4), (0, 10))}, target(**bk), fires("ticket", 4, 0)),),
            quiet({ok: seq((1, 14))}),
        )
    )

    spec = ctx.alert("BackupRestoreRTOExceeded")
    _, times = ctx.level(spec, "BackupRestoreRTOExceeded", "ticket")
    factor = "" if times == 1 else f"{n(times)} * "
    duration = sel(m.BACKUP_RESTORE_DURATION, phase=("=~", RTO_PHASES))
    phases = {p: series(m.BACKUP_RESTORE_DURATION, **bk, phase=p) for p in RTO_PHASES.split("|")}
    budget = series(m.BACKUP_RESTORE_RTO_BUDGET, **bk)
    out.append(
        Alert(
            "BackupRestoreRTOExceeded",
            "backups",
            "Restoring {{ $labels.backup }} took {{ $value | humanizeDuration }}",
            "The last restore test of {{ $labels.backup }} needed {{ $value | humanizeDuration }} "
            "to have the data back (inspect + create + restore), more than its rto_budget "
            "(business target: RTO below 30 minutes). A real recovery would take at least that "
            "long: a bigger dump, a slower scratch server, or indexes to rebuild.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"sum without (phase) ({duration})\n  > {factor}"
                    f"{sel(m.BACKUP_RESTORE_RTO_BUDGET)}",
                    bl,
                ),
            ),
            # a 2,100 s restore against a 1,800 s budget, once the dump grew
            (
                case(
                    {
                        phases["inspect"]: seq((1, 14)),
                        phases["create"]: seq((2, 14)),
                        phases["restore"]: seq((600, 4), (2097, 10)),
                        budget: seq((1800, 14)),
                    },
                    target(**bk),
                    fires("ticket", 4, 2100),
                ),
            ),
            # the checks and the drop are not part of the RTO
            quiet(
                {
                    phases["restore"]: seq((1700, 14)),
                    series(m.BACKUP_RESTORE_DURATION, **bk, phase="checks"): seq((500, 14)),
                    budget: seq((1800, 14)),
                }
            ),
        )
    )

    spec = ctx.alert("BackupRestoreRPOExceeded")
    _, times = ctx.level(spec, "BackupRestoreRPOExceeded", "ticket")
    factor = "" if times == 1 else f"{n(times)} * "
    age = series(m.BACKUP_RESTORE_NEWEST_ROW_AGE, **bk)
    rpo = series(m.BACKUP_RESTORE_RPO_BUDGET, **bk)
    out.append(
        Alert(
            "BackupRestoreRPOExceeded",
            "backups",
            "Restored data of {{ $labels.backup }} was {{ $value | humanizeDuration }} old",
            "The newest row the last restore test of {{ $labels.backup }} restored was "
            "{{ $value | humanizeDuration }} old when the test ran, older than its rpo_budget: "
            "a database loss then would have lost that much data, whatever the backup file's "
            "date says (a dump of a lagging replica or of the wrong database shows here).",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{sel(m.BACKUP_RESTORE_NEWEST_ROW_AGE)}\n  > {factor}"
                    f"{sel(m.BACKUP_RESTORE_RPO_BUDGET)}",
                    bl,
                ),
            ),
            # a 26 h budget (a nightly dump) and a newest row 30 h old
            (
                case(
                    {age: seq((20000, 4), (108000, 10)), rpo: seq((93600, 14))},
                    target(**bk),
                    fires("ticket", 4, 108000),
                ),
            ),
            quiet({age: seq((93000, 14)), rpo: seq((93600, 14))}),
        )
    )

    spec = ctx.alert("BackupRestoreOverdue")
    _, times = ctx.level(spec, "BackupRestoreOverdue", "ticket")
    factor = "" if times == 1 else f"{n(times)} * "
    last = series(m.BACKUP_RESTORE_LAST_SUCCESS, **bk)
    since = series(m.BACKUP_RESTORE_SCHEDULED_SINCE, **bk)
    interval = series(m.BACKUP_RESTORE_INTERVAL, **bk)
    out.append(
        Alert(
            "BackupRestoreOverdue",
            "backups",
            "No restore test of {{ $labels.backup }} succeeded for {{ $value | humanizeDuration }}",
            "No restore test of {{ $labels.backup }} has succeeded for {{ $value | "
            "humanizeDuration }}, longer than its schedule allows, and the last run did not fail: "
            "the tests are not running (the exporter restarting before each run, a state file "
            "that cannot be written, a run stuck until its timeout).",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"time() - ({sel(m.BACKUP_RESTORE_LAST_SUCCESS)}\n"
                    f"  or {sel(m.BACKUP_RESTORE_SCHEDULED_SINCE)})\n"
                    f"  > {factor}{sel(m.BACKUP_RESTORE_INTERVAL)}\n"
                    f"unless on (backup, job, instance) {sel(m.BACKUP_RESTORE_SUCCESS)} == 0",
                    bl,
                ),
            ),
            # a test every 10 min (600 s) whose last success was at t=0: at 1.5 intervals
            # (900 s, after step 30 of 30 s) the runs since have not succeeded
            (
                case(
                    {last: seq((0, 50)), interval: seq((600, 50)), ok: seq((1, 50))},
                    target(**bk),
                    fires("ticket", 31, lambda step: step * 30),
                ),
                # never succeeded since it was scheduled at t=0, never failed either
                case(
                    {since: seq((0, 50)), interval: seq((600, 50))},
                    target(**bk),
                    fires("ticket", 31, lambda step: step * 30),
                ),
            ),
            # long past its schedule, but the last run failed: BackupRestoreFailed's alone
            quiet({last: seq((0, 20)), interval: seq((60, 20)), ok: seq((0, 20))}),
        )
    )
    return out
