"""``redline demo break|heal|status`` and ``redline drill [SCENARIO]``: the command-line side of
exporter/demo/faults.py and exporter/demo/drills.py, added to ``redline``'s parser by
:func:`add_parsers`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from exporter.durations import argparse_seconds


def add_parsers(sub: Any, helps: dict[str, str]) -> None:
    """``helps``: each command's line in ``redline --help`` (kept in exporter/cli.py)."""
    from exporter.demo.faults import TARGETS

    demo = sub.add_parser("demo", help=helps["demo"])
    actions = demo.add_subparsers(dest="demo_command", required=True)
    targets = ", ".join(f"{t.name} ({'|'.join(t.modes)})" for t in TARGETS.values())
    brk = actions.add_parser(
        "break",
        help="put a service, the database, the backup job, a vendor or a process into a fault",
        description=f"Targets and modes: {targets}.",
    )
    brk.add_argument("target", choices=list(TARGETS), metavar="TARGET")
    brk.add_argument("mode", metavar="MODE")
    brk.add_argument(
        "--delay",
        type=argparse_seconds,
        default=None,
        metavar="DURATION",
        help="how late each answer comes in mode slow, e.g. 3s or 1.5s",
    )
    brk.set_defaults(func=cmd_break)
    heal = actions.add_parser("heal", help="undo a target's fault (every fault without one)")
    heal.add_argument("target", nargs="?", choices=list(TARGETS), metavar="TARGET")
    heal.add_argument(
        "--lag",
        type=argparse_seconds,
        metavar="DURATION",
        default=None,
        help="how long a vendor's status page takes to report the recovery (default 2m for "
        "shopify, 0 for google-analytics)",
    )
    heal.set_defaults(func=cmd_heal)
    status = actions.add_parser(
        "status", help="each target's state, the alerts firing and the latest notifications"
    )
    status.set_defaults(func=cmd_status)

    from exporter.demo.drills import SCENARIOS

    drill = sub.add_parser(
        "drill",
        help=helps["drill"],
        description="Scenarios: "
        + "; ".join(f"{s.name}: {s.title}" for s in SCENARIOS.values())
        + ". Without a scenario, every one in turn.",
    )
    drill.add_argument("scenario", nargs="?", choices=[*SCENARIOS, "all"], metavar="SCENARIO")
    drill.add_argument("--list", action="store_true", help="list the scenarios and exit")
    drill.add_argument("--report", default=None, help="write the Markdown report here")
    drill.set_defaults(func=cmd_drill)


def cmd_break(args: argparse.Namespace) -> int:
    from exporter.demo.faults import FaultError, break_

    try:
        print(break_(args.target, args.mode, args.delay))
    except FaultError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("watch: redline demo status, or the receiver at http://127.0.0.1:9097/")
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    from exporter.demo.faults import FaultError, heal

    try:
        done = heal(args.target, args.lag)
    except FaultError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n".join(done) if done else "nothing to heal")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from exporter.demo.faults import status_text

    print(status_text())
    return 0


def cmd_drill(args: argparse.Namespace) -> int:
    from exporter.demo import drills

    if args.list:
        for s in drills.SCENARIOS.values():
            print(f"{s.name:<26} {s.title}")
        return 0
    names = list(drills.SCENARIOS) if args.scenario in (None, "all") else [args.scenario]
    return drills.main(names, args.report)
