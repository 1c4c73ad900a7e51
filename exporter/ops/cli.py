"""The ``baseline``, ``capacity`` and ``postmortem`` subcommands: their flags and what they run.

exporter/cli.py adds each with ``configure_<name>(sub.add_parser(...))``. Exit status: 0 when the
report was written (what could not be computed is listed in it and printed as warnings); 1 when
Prometheus could not be read (the report is still written and says so) or the report could not
be written; 2 for a bad flag value.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from exporter.durations import argparse_positive_seconds
from exporter.ops.common import (
    UsageError,
    parse_factor,
    parse_time,
)
from exporter.ops.promapi import AlertmanagerClient, ApiError, PromClient

DEFAULT_OUT = "reports"


def _spec_dir(args: argparse.Namespace) -> Path | None:
    if args.alert_rules is not None:
        return Path(args.alert_rules)
    from exporter.rules.spec import SPEC_DIR

    return SPEC_DIR if SPEC_DIR.is_dir() else None


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--prometheus",
        "--prometheus.url",
        dest="prometheus",
        required=True,
        metavar="URL",
        help="Prometheus's address, e.g. http://127.0.0.1:9090, or any server of its query API: "
        "VictoriaMetrics (long-term storage, http://HOST:8428) answers the same",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"where the report goes (default {DEFAULT_OUT})",
    )
    p.add_argument(
        "--alert-rules",
        dest="alert_rules",
        default=None,
        metavar="DIR",
        help="the alert_rules/ specs (default: the repository's alert_rules/)",
    )
    p.add_argument(
        "--timeout",
        type=argparse_positive_seconds,
        default=60.0,
        metavar="DURATION",
        help="how long to wait for each answer (default 60s)",
    )


def _run(args: argparse.Namespace, body: Callable[[argparse.Namespace, PromClient], int]) -> int:
    try:
        prom = PromClient(args.prometheus, timeout=args.timeout)
        return body(args, prom)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ApiError as e:  # a bad URL: nothing could be asked
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write the report: {e}", file=sys.stderr)
        return 1


def _not_after_now(t: float, flag: str) -> float:
    """``t``, or now when ``t`` is in the future: there is no data there yet, and an alert
    could not be told resolved from one whose next sample has not been written."""
    now = time.time()
    if t > now + 1:
        print(f"note: {flag} is in the future: the range ends now", file=sys.stderr)
        return now
    return t


def _finish(lines: list[str], paths: list[Path], gaps: object, unreachable: str | None) -> int:
    from exporter.ops.common import Gaps

    for line in lines:
        print(line)
    for path in paths:
        print(f"wrote {path}")
    if unreachable:
        print(f"error: {unreachable}", file=sys.stderr)
        return 1
    if isinstance(gaps, Gaps):
        gaps.warn()
    return 0


# --- baseline -----------------------------------------------------------------------------------


def configure_baseline(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument(
        "--window",
        type=argparse_positive_seconds,
        default="7d",
        metavar="DURATION",
        help="how far back normal is read (default 7d)",
    )
    p.add_argument("--at", default="now", metavar="TIME", help="end of the window (default now)")
    p.add_argument(
        "--config.file",
        dest="config_file",
        default=None,
        help="configuration whose thresholds are compared (default: the embedded demo config)",
    )
    p.add_argument(
        "--timezone", default="UTC", help="time zone of the hour-of-day profile (default UTC)"
    )
    p.set_defaults(func=cmd_baseline)


def cmd_baseline(args: argparse.Namespace) -> int:
    return _run(args, _baseline)


def _baseline(args: argparse.Namespace, prom: PromClient) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from exporter.config import ConfigError, load_config
    from exporter.ops import baseline

    window = args.window
    end = _not_after_now(parse_time(args.at), "--at")
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone {args.timezone!r} is not a time zone such as UTC") from None
    try:
        config, name = load_config(args.config_file)
    except ConfigError as e:
        for issue in e.issues:
            print(f"error: {issue}", file=sys.stderr)
        return 2
    result = baseline.compute(
        prom,
        config,
        name,
        end - window,
        end,
        _spec_dir(args) or Path("alert_rules"),
        args.timezone,
    )
    paths = list(baseline.write(result, Path(args.out)))
    return _finish(baseline.summary(result), paths, result.gaps, result.unreachable)


# --- capacity -----------------------------------------------------------------------------------


def configure_capacity(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument(
        "--window",
        type=argparse_positive_seconds,
        default="30d",
        metavar="DURATION",
        help="history the trends are fitted on (default 30d)",
    )
    p.add_argument("--at", default="now", metavar="TIME", help="end of the window (default now)")
    p.add_argument(
        "--horizon",
        type=argparse_positive_seconds,
        default="90d",
        metavar="DURATION",
        help="how far ahead to look (default 90d)",
    )
    p.add_argument(
        "--growth",
        default="10x",
        help="traffic at the end of the horizon, as a multiple of today's (default 10x)",
    )
    p.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a limit Prometheus does not know: database-size=8GiB, requests=50 (req/s per "
        "service); repeatable",
    )
    p.set_defaults(func=cmd_capacity)


def cmd_capacity(args: argparse.Namespace) -> int:
    return _run(args, _capacity)


def _capacity(args: argparse.Namespace, prom: PromClient) -> int:
    from exporter.ops import capacity

    window, horizon = args.window, args.horizon
    growth = parse_factor(args.growth)
    end = _not_after_now(parse_time(args.at), "--at")
    limits = dict(capacity.parse_limit(text) for text in args.limit)
    result = capacity.compute(prom, end - window, end, horizon, growth, limits, _spec_dir(args))
    path = capacity.write(result, Path(args.out))
    return _finish(capacity.summary(result), [path], result.gaps, result.unreachable)


# --- postmortem ---------------------------------------------------------------------------------


def configure_postmortem(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="T1",
        help="start of the incident range: RFC 3339 (2025-10-14T02:00:00Z), Unix time or now-2h",
    )
    p.add_argument(
        "--to", dest="end", default="now", metavar="T2", help="end of the range (default now)"
    )
    p.add_argument(
        "--alertmanager",
        default=None,
        metavar="URL",
        help="also list the alerts Alertmanager still holds and the silences of the range",
    )
    p.set_defaults(func=cmd_postmortem)


def cmd_postmortem(args: argparse.Namespace) -> int:
    return _run(args, _postmortem)


def _postmortem(args: argparse.Namespace, prom: PromClient) -> int:
    from exporter.ops import postmortem

    now = time.time()
    start, end = parse_time(args.start, now), parse_time(args.end, now)
    if end <= start:
        raise UsageError(f"--to ({args.end}) must be after --from ({args.start})")
    end = _not_after_now(end, "--to")
    if end <= start:
        raise UsageError(f"--from ({args.start}) is in the future")
    am = AlertmanagerClient(args.alertmanager, args.timeout) if args.alertmanager else None
    result = postmortem.compute(prom, start, end, _spec_dir(args), am)
    path = postmortem.write(result, Path(args.out))
    return _finish(postmortem.summary(result), [path], result.gaps, result.unreachable)
