"""``redline restore-test [BACKUP]``: run the configured restore tests now (docs/backups.md).

The runs are the exporter's own (exporter/backups/restore.py): same scratch server, checks, state
file and reports, so a run by hand shows on ``/metrics`` and the status page like a scheduled
one. Exit status: 0 when every test passed, 1 when one failed (or another run of the same set
was in progress), 2 for a bad configuration or an unknown set.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from exporter.backups.restore_state import PHASES, RunRecord


def add_parser(sub: Any, help_: str) -> None:
    p = sub.add_parser(
        "restore-test",
        help=help_,
        description="Restore the newest backup of each configured restore test (or of BACKUP) "
        "into a scratch database, run its checks, drop it, and record and report the outcome.",
    )
    p.add_argument("backup", nargs="?", help="the backup set to test (default: every one)")
    p.add_argument(
        "--config.file",
        dest="config_file",
        default=None,
        help="configuration file (default: the embedded demo config)",
    )
    p.add_argument(
        "--log.level",
        dest="log_level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
    )
    p.set_defaults(func=cmd_restore_test)


def summary(run: RunRecord) -> str:
    phases = ", ".join(f"{p} {run.phases[p]:.2f}s" for p in PHASES if p in run.phases)
    head = "PASS" if run.success else f"FAIL ({run.reason})"
    lines = [f"{head} {run.backup}: {run.file or 'no backup'}; measured RTO {run.rto:.2f}s"]
    lines.append(f"  phases: {phases or 'none'}")
    if run.newest_row_age is not None:
        lines.append(f"  newest restored row {run.newest_row_age:.0f}s old (measured RPO)")
    for check in run.checks:
        lines.append(f"  {check.status:<7} {check.name}: {check.detail}")
    if not run.success:
        lines.append(f"  why: {run.message}")
    if not run.dropped:
        lines.append(f"  scratch database {run.scratch} NOT dropped: the next run drops it")
    if run.report:
        lines.append(f"  report: {run.report}")
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> int:
    from exporter.backups.restore import restore_tester
    from exporter.backups.restore_state import Busy, StateError
    from exporter.cli import _print_config_error
    from exporter.config import ConfigError, load_config
    from exporter.secrets import Redactor

    try:
        config, name = load_config(args.config_file)
    except ConfigError as e:
        _print_config_error(e)
        return 2
    tester = restore_tester(config, Redactor())
    if tester is None:
        print(f"error: {name} declares no restore test (backups.restore.tests)", file=sys.stderr)
        return 2
    names = list(tester.tests)
    if args.backup is not None:
        if args.backup not in tester.tests:
            print(
                f"error: no restore test of {args.backup!r}; configured: {', '.join(names)}",
                file=sys.stderr,
            )
            return 2
        names = [args.backup]
    failed = 0
    for backup in names:
        try:
            run = await tester.run(backup)
        except Busy:
            print(f"BUSY {backup}: another restore test of this set is running; not started")
            failed += 1
            continue
        except StateError as e:
            print(f"error: {backup}: {e}", file=sys.stderr)
            failed += 1
            continue
        print(summary(run))
        failed += not run.success
    return 1 if failed else 0


def cmd_restore_test(args: argparse.Namespace) -> int:
    from exporter.cli import setup_logging

    setup_logging(args.log_level)
    return asyncio.run(_main(args))
