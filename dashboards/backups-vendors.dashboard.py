"""Backups, jobs and third parties: could the data be restored, did the nightly jobs run, and is
a vendor the cause? (One dashboard: alert_rules/stack.yml links these alerts to one uid.)"""

from dashboards import style as s
from dashboards.style import Q, m, sel
from exporter.rules.alerts.restore import RTO_PHASES

STALE_FEED = s.threshold("VendorStatusFeedStale", "ticket")

backups = s.row(
    "Backups",
    s.state_stat(
        "Backup sets",
        "Each backup set's state: ok; stale (older than its RPO); too_small; corrupt (an "
        "integrity check failed); empty, missing, unreadable; failed (Supabase's latest backup).",
        Q(s.state_code(m.BACKUP_STATUS, "status", s.BACKUP_STATES, ("backup",)), "{{backup}}"),
        states=s.BACKUP_STATES,
        alerts=("BackupFailed", "BackupTooSmall", "BackupTooOld"),
        w=8,
        h=6,
    ),
    s.timeseries(
        "Newest backup age against its RPO",
        "Age of each set's newest backup over its max_age (the RPO): orange from 1x (ticket), "
        "red from the page multiple (BackupTooOld).",
        Q(f"{sel(m.BACKUP_NEWEST_AGE)}\n  / {sel(m.BACKUP_MAX_AGE)}", "{{backup}}"),
        unit=s.RATIO,
        thresholds=s.above("BackupTooOld"),
        alerts=("BackupTooOld",),
        w=8,
        h=6,
    ),
    s.stat(
        "Newest backup age",
        "How old each set's newest backup is.",
        Q(sel(m.BACKUP_NEWEST_AGE), "{{backup}}"),
        unit=s.DURATION,
        w=8,
        h=6,
    ),
    s.timeseries(
        "Backup sizes",
        "Size of each set's newest file against its configured minimum, and of all its files.",
        Q(sel(m.BACKUP_NEWEST_SIZE), "{{backup}} newest"),
        Q(sel(m.BACKUP_MIN_SIZE), "{{backup}} minimum"),
        Q(sel(m.BACKUP_TOTAL_SIZE), "{{backup}} all files"),
        unit=s.BYTES,
        alerts=("BackupTooSmall",),
        w=8,
    ),
    s.state_stat(
        "Integrity checks",
        "The last check of each set's newest file: ok, pending, error (could not run) or failed.",
        Q(
            s.state_code(m.BACKUP_VERIFY_STATUS, "status", s.VERIFY_STATES, ("backup", "check")),
            "{{backup}} {{check}}",
        ),
        states=s.VERIFY_STATES,
        alerts=("BackupVerificationFailed",),
        w=8,
        h=8,
    ),
    s.stat(
        "Supabase managed backups",
        "Point-in-time recovery on the project (without it daily backups cannot meet a 1 h "
        "RPO), and backups the Management API lists.",
        Q(sel(m.BACKUP_SUPABASE_PITR), "{{backup}} PITR"),
        Q(sel(m.BACKUP_SUPABASE_BACKUPS), "{{backup}} backups listed"),
        text_mode="value_and_name",
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": ".* PITR"},
                "properties": [
                    {
                        "id": "mappings",
                        "value": s.state_mappings({"off": s.WARNING, "on": s.OK}),
                    }
                ],
            }
        ],
        alerts=("BackupFailed", "SupabasePITRDisabled"),
        w=8,
        h=8,
    ),
)

# inspect + create + restore: the measured RTO (exporter/rules/alerts/restore.py sums the same)
RTO = f"sum without (phase) (\n  {sel(m.BACKUP_RESTORE_DURATION, phase=('=~', RTO_PHASES))}\n)"

restores = s.row(
    "Restore tests",
    s.stat(
        "Last restore test",
        "Whether the newest backup of each set restored into a scratch database and passed its "
        "checks at the last restore test (the status page has the run's report).",
        Q(sel(m.BACKUP_RESTORE_SUCCESS), "{{backup}}"),
        mappings=s.state_mappings({"failed": s.CRITICAL, "restored": s.OK}),
        alerts=("BackupRestoreFailed",),
        w=6,
        h=6,
    ),
    s.stat(
        "Why the last restore test failed",
        "The reason of each set's last restore test when it failed (no value after a success): "
        "corrupt, wrong_database, check_failed, disk_full, timeout, ...",
        Q(f"{sel(m.BACKUP_RESTORE_REASON)} == 1", "{{backup}}: {{reason}}"),
        thresholds=s.steps(s.CRITICAL),
        text_mode="name",
        alerts=("BackupRestoreFailed",),
        w=6,
        h=6,
    ),
    s.timeseries(
        "Measured RTO against its budget",
        "Seconds from nothing to a database holding the restored data (inspect + create + "
        "restore) at each restore test, and the test's rto_budget (30 min: the business RTO).",
        Q(RTO, "{{backup}} measured"),
        Q(sel(m.BACKUP_RESTORE_RTO_BUDGET), "{{backup}} budget"),
        unit=s.SECONDS,
        alerts=("BackupRestoreRTOExceeded",),
        w=6,
        h=6,
    ),
    s.stat(
        "Measured RPO",
        "Age of the newest restored row when the last restore test ran: what a restore then "
        "would have lost, whatever the file's date says; orange past the test's rpo_budget.",
        Q(
            f"{sel(m.BACKUP_RESTORE_NEWEST_ROW_AGE)}\n  / {sel(m.BACKUP_RESTORE_RPO_BUDGET)}",
            "{{backup}}",
        ),
        unit=s.RATIO,
        thresholds=s.above("BackupRestoreRPOExceeded"),
        alerts=("BackupRestoreRPOExceeded",),
        w=6,
        h=6,
    ),
    s.timeseries(
        "Restore test phases",
        "Seconds each phase of the last restore test took: inspect (the dump's header), create "
        "(the scratch database), restore (pg_restore or psql), checks, drop.",
        Q(sel(m.BACKUP_RESTORE_DURATION), "{{backup}} {{phase}}"),
        unit=s.SECONDS,
        stack=True,
        w=12,
    ),
    s.stat(
        "Last successful restore test",
        "When each set's newest backup last restored and passed its checks.",
        Q(f"{sel(m.BACKUP_RESTORE_LAST_SUCCESS)} * 1000", "{{backup}}"),
        unit=s.FROM_NOW,
        alerts=("BackupRestoreOverdue",),
        w=12,
        h=8,
    ),
)

jobs = s.row(
    "Scheduled jobs",
    s.timeline(
        "Heartbeats",
        "Each job's state: up, started, late (overdue, within grace), down (grace passed, too "
        "long a run, or a failure reported) or never.",
        Q(
            s.state_code(m.HEARTBEAT_STATUS, "status", s.HEARTBEAT_STATES, ("heartbeat",)),
            "{{heartbeat}}",
        ),
        states=s.HEARTBEAT_STATES,
        alerts=("HeartbeatLate", "HeartbeatFailed"),
    ),
    s.stat(
        "Next ping due in",
        "Time until each job's next ping is due (negative: overdue).",
        Q(f"{sel(m.HEARTBEAT_NEXT_DUE)} - time()", "{{heartbeat}}"),
        unit=s.DURATION,
        thresholds=s.steps(s.WARNING, (0, s.OK)),
        w=6,
        h=8,
    ),
    s.stat(
        "Last success",
        "When each job last reported success.",
        Q(f"{sel(m.HEARTBEAT_LAST_SUCCESS)} * 1000", "{{heartbeat}}"),
        unit=s.FROM_NOW,
        w=6,
        h=8,
    ),
    s.timeseries(
        "Last run duration",
        "Duration of each job's last timed run (from its /start ping).",
        Q(sel(m.HEARTBEAT_LAST_DURATION), "{{heartbeat}}"),
        unit=s.SECONDS,
        w=12,
    ),
    s.timeseries(
        "Pings",
        "Success and failure pings per job, and pings refused: one bar per interval, each "
        "counting the pings of its own interval only.",
        Q(f"increase({sel(m.HEARTBEAT_SUCCESSES)}[{s.INTERVAL}])", "{{heartbeat}} successes"),
        Q(f"increase({sel(m.HEARTBEAT_FAILURES)}[{s.INTERVAL}])", "{{heartbeat}} failures"),
        Q(f"increase({sel(m.HEARTBEAT_REJECTED)}[{s.INTERVAL}])", "refused: {{reason}}"),
        unit=s.COUNT,
        per_interval=True,
        w=12,
    ),
)

vendors = s.row(
    "Third parties",
    s.timeline(
        "Vendor components",
        "State of each component the stack depends on, as the vendors' status pages say.",
        Q(
            s.state_code(
                m.VENDOR_COMPONENT_STATUS, "status", s.COMPONENT_STATES, ("feed", "component")
            ),
            "{{feed}}: {{component}}",
        ),
        states=s.COMPONENT_STATES,
        alerts=("VendorComponentDown", "VendorComponentDegraded"),
        w=16,
        h=9,
    ),
    s.state_stat(
        "Status page indicators",
        "Each page's overall indicator (Google's dashboards have none).",
        Q(
            s.state_code(m.VENDOR_PAGE_INDICATOR, "indicator", s.INDICATOR_STATES, ("feed",)),
            "{{feed}}",
        ),
        states=s.INDICATOR_STATES,
        w=8,
        h=9,
    ),
    s.stat(
        "Open incidents",
        "Open incidents per vendor page (Google: those naming a configured product), and "
        "maintenances in progress.",
        Q(f"sum by (feed) ({sel(m.VENDOR_INCIDENTS_OPEN)})", "{{feed}} incidents"),
        Q(sel(m.VENDOR_MAINTENANCES_ACTIVE), "{{feed}} maintenances"),
        unit=s.COUNT,
        thresholds=s.steps(s.OK, (1, s.WARNING)),
        text_mode="value_and_name",
        w=12,
        h=6,
    ),
    s.stat(
        "Status feed data age",
        "Seconds since each vendor last sent or confirmed the data served; orange past "
        "VendorStatusFeedStale's limit.",
        Q(sel(m.VENDOR_FEED_DATA_AGE), "{{feed}}"),
        unit=s.SECONDS,
        thresholds=s.steps(s.OK, (STALE_FEED, s.WARNING)),
        alerts=("VendorStatusFeedStale",),
        text_mode="value_and_name",
        w=12,
        h=6,
    ),
    s.stat(
        "Vendor API checks",
        "redline's own synthetic calls to the vendors' APIs with the stack's credentials.",
        Q(sel(m.VENDOR_CHECK_UP), "{{check}}"),
        mappings=s.state_mappings(s.UP_DOWN),
        alerts=("VendorApiFailing",),
        w=6,
        h=6,
    ),
    s.timeseries(
        "Vendor API latency",
        "How long each synthetic call took.",
        Q(sel(m.VENDOR_CHECK_DURATION), "{{check}}"),
        unit=s.SECONDS,
        w=6,
        h=6,
    ),
    s.timeseries(
        "Shopify throttle bucket",
        "Share of the app's Shopify GraphQL cost bucket left; below the dashed line the app's "
        "next bulk call is throttled (VendorApiThrottled).",
        Q(
            f"{sel(m.VENDOR_SHOPIFY_THROTTLE_AVAILABLE)}\n"
            f"  / {sel(m.VENDOR_SHOPIFY_THROTTLE_MAXIMUM)}",
            "{{check}}",
        ),
        unit=s.RATIO,
        max_=1,
        thresholds=s.below("VendorApiThrottled"),
        alerts=("VendorApiThrottled",),
        w=6,
        h=6,
    ),
    s.state_stat(
        "Chatwoot services (API check)",
        "queue_services and data_services as the vendor check reads Chatwoot's /api.",
        Q(
            s.state_code(
                m.VENDOR_CHATWOOT_SERVICE_STATUS,
                "status",
                s.CHATWOOT_STATES,
                ("check", "service"),
            ),
            "{{service}}",
        ),
        states=s.CHATWOOT_STATES,
        alerts=("ChatwootComponentFailing",),
        w=3,
        h=6,
    ),
    s.stat(
        "Google Analytics data",
        "1 when GA4 has data for the current or previous hour (GoogleAnalyticsNoData after 2 h "
        "without).",
        Q(sel(m.VENDOR_GA_ROWS_LAST_HOUR), "{{check}}"),
        mappings=s.state_mappings({"no recent data": s.WARNING, "arriving": s.OK}),
        alerts=("GoogleAnalyticsNoData",),
        w=3,
        h=6,
    ),
)

dashboard = s.dashboard(
    "backups-vendors",
    "Could the data be restored, did the nightly jobs run, and is a vendor having an outage?",
    [backups, restores, jobs, vendors],
    time_from="now-24h",
)
