"""``redline`` command line: run, check, probe (flags follow Prometheus conventions)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from exporter import __version__, assumptions, eventloop
from exporter.config import (
    ConfigError,
    ConfigIssue,
    load_config,
    read_config_file,
    read_yaml,
    secret_fields,
    written_passwords,
)
from exporter.durations import argparse_positive_seconds
from exporter.secrets import Redactor, SecretSource
from exporter.shard import UNSHARDED, Shard
from exporter.webconfig import load_web_config
from exporter.websecurity import DEFAULT_READ_TIMEOUT, WebSecurity

DEFAULT_LISTEN = ":9877"
log = logging.getLogger("redline")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _LogfmtFormatter(logging.Formatter):
    """ts=... level=... logger=... msg="..." as Prometheus components log; an exception's
    traceback follows as err="..." on the same line (newlines escaped), so an internal error
    (aiohttp's "Error handling request", a source that raised) can be diagnosed."""

    # The running exporter's redactor (set by `redline run`): every line goes through it, so
    # a secret a library quotes in a message or a traceback never reaches the log.
    redactor: Redactor | None = None

    def format(self, record: logging.LogRecord) -> str:
        line = self._format(record)
        return self.redactor.redact(line) if self.redactor is not None else line

    def _format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = f"ts={ts}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
        line += f"logger={record.name} msg={_quoted(record.getMessage())}"
        detail = getattr(record, "detail", None)
        if detail:
            line += f" detail={_quoted(str(detail))}"
        if record.exc_info:
            line += f" err={_quoted(self.formatException(record.exc_info))}"
        elif record.stack_info:
            line += f" stack={_quoted(self.formatStack(record.stack_info))}"
        return line


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log is noise at every scrape; keep it for debugging only
    logging.getLogger("aiohttp.access").setLevel(
        logging.DEBUG if level == "debug" else logging.WARNING
    )


def parse_listen(value: str) -> tuple[str | None, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (or :PORT for all)")
    host = host.strip("[]")
    return (host or None), int(port)


def _print_config_error(e: ConfigError) -> None:
    for issue in e.issues:
        print(f"error: {issue}", file=sys.stderr)


# --- redline run ------------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> int:
    from exporter.app import initial_runtime, make_app

    try:
        runtime = initial_runtime(args.config_file, args.shard)
    except ConfigError as e:
        _print_config_error(e)
        return 1
    _LogfmtFormatter.redactor = runtime.redactor
    security = _web_security(args)
    if security is None:
        return 1
    host, port = args.listen
    app = make_app(runtime, security)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=logging.getLogger("aiohttp.access"),
        # aiohttp's keep-alive timer runs from the connection's start (and from each answer)
        # until a complete request head has arrived, and trickled bytes do not extend it: it
        # is the header read timeout as well as the idle timeout.
        keepalive_timeout=security.read_timeout,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True, ssl_context=security.ssl_context)
    try:
        await site.start()
    except OSError as e:
        log.error("cannot listen on %s: %s", args.web_listen_address, e.strerror)
        await runner.cleanup()
        return 1
    log.info(
        "redline %s listening on %s with config %s (%d targets)",
        __version__,
        args.web_listen_address,
        runtime.config_name,
        len(runtime.config.targets()),
    )
    # at debug level, as asyncio's own loop logs its selector
    log.debug("event loop: %s", type(asyncio.get_running_loop()).__module__.split(".")[0])
    if eventloop.name() == "uvloop":
        log.warning(
            "running on uvloop (REDLINE_EVENT_LOOP=uvloop): on it a refused TLS handshake can "
            "make the next connection fail with 'Bad file descriptor' (aiohttp issue #10506, "
            "open upstream), so probes may fail for no fault of their targets; unset "
            "REDLINE_EVENT_LOOP for asyncio's loop, the default"
        )
    from exporter.memory import tune_gc

    tune_gc()  # what exists now lives as long as the process: exporter/memory.py
    log.info(
        "web: TLS %s, basic auth %s, read timeout %gs",
        "on" if security.ssl_context is not None else "off",
        f"on ({len(security.web_config.users)} users)"
        if security.web_config is not None and security.web_config.users
        else "off",
        security.read_timeout,
    )

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def reload() -> None:
        async with runtime.reload_lock:
            await runtime.reload()

    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload()))
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    return 0


def _web_security(args: argparse.Namespace) -> WebSecurity | None:
    """The web server's security from --web.config.file and --web.read-timeout; None (after
    printing the errors) when the web config is invalid."""
    loaded = None
    if args.web_config_file is not None:
        try:
            loaded = load_web_config(args.web_config_file)
        except ConfigError as e:
            _print_config_error(e)
            return None
    return WebSecurity(loaded, read_timeout=args.web_read_timeout)


def cmd_run(args: argparse.Namespace) -> int:
    from exporter.memory import fix_mmap_threshold

    setup_logging(args.log_level)
    fix_mmap_threshold()  # steady resident memory from scrape to scrape: exporter/memory.py
    return eventloop.run(_serve(args))


# --- redline check ----------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config, name = load_config(args.file)
    except ConfigError as e:
        _print_config_error(e)
        print(f"{args.file}: {len(e.issues)} error(s)", file=sys.stderr)
        return 1
    source = SecretSource(Redactor())
    for path, value in secret_fields(config):
        for missing in source.missing([value]):
            print(
                f"warning: {name}: {path}: {missing} is not available here; the checks that "
                "need it will fail with reason 'secret' until it is",
                file=sys.stderr,
            )
    listed, problems = assumptions.listing(config.assumptions, name, _read_stack_file)
    if problems:
        _, lines = read_yaml(read_config_file(name), name)
        for i, key, message in problems:
            line = lines.find(("assumptions", i, key))
            issue = ConfigIssue(name, f"assumptions[{i}].{key}", line, message)
            print(f"error: {issue}", file=sys.stderr)
        print(f"{args.file}: {len(problems)} error(s)", file=sys.stderr)
        return 1
    if not _check_stack(args, config, name):
        return 1
    for path, value in written_passwords(config):
        print(
            f"warning: {name}: {path}: {value} holds a password written in the URL; it ends up "
            "in the config's copies and backups: use ${VARIABLE} for it (or basic_auth with "
            "password_file)",
            file=sys.stderr,
        )
    probes = sum(len(s.probes) for s in config.services)
    print(f"{name}: OK ({len(config.services)} services, {probes} probes)")
    if listed:
        # values nobody has confirmed against the real services: not errors, but each one is
        # a guess the monitoring depends on until someone looks (docs/configuration.md)
        print(f"to confirm: {len(listed)} values nobody has checked against the real services")
        for item in listed:
            print(f"  {item.where}: {item.path} = {item.value}")
            print(f"      assumed: {item.note}")
            print(f"      confirm: {item.confirm}")
    return 0


def _read_stack_file(path: str) -> tuple[Any, Callable[[tuple[str | int, ...]], int | None]]:
    """A config or stack file's data and the line of each place in it (for assumptions)."""
    try:
        data, lines = read_yaml(read_config_file(path), path)
    except ConfigError as e:
        raise ValueError("; ".join(str(i) for i in e.issues)) from None
    return data, lines.find


def _check_stack(args: argparse.Namespace, config: Any, name: str) -> bool:
    """The checks that span the operator's file and the stack settings (alert_rules/: a team
    that is no receiver, a ``for`` longer than the SLO window): run when an alert_rules/
    directory is given, or sits beside the config's directory as in the repository."""
    from pathlib import Path

    spec_dir = Path(args.alert_rules) if args.alert_rules else None
    if spec_dir is None:
        beside = Path(args.file).resolve().parent.parent / "alert_rules"
        spec_dir = beside if (beside / "alerts.yml").is_file() else None
    if spec_dir is None:
        return True
    from exporter.rules import stackmodel
    from exporter.rules.spec import SpecError, load_alerts, load_routing, load_stack

    try:
        stackmodel.build(
            config,
            load_alerts(spec_dir),
            load_routing(spec_dir),
            load_stack(spec_dir),
            name,
            Path(args.file),
            spec_dir,
        )
    except SpecError as e:
        for line in str(e).splitlines():
            print(f"error: {line}", file=sys.stderr)
        print(f"{name}: the monitoring stack ({spec_dir}) refuses it", file=sys.stderr)
        return False
    runbooks = load_stack(spec_dir).runbook_url
    if placeholder(runbooks):
        print(
            f"warning: {spec_dir / 'stack.yml'}: runbook_url {runbooks} is still a placeholder: "
            "every alert's runbook link points nowhere; set it to where docs/runbooks/ is "
            "browsed (the repository's web address, or a docs site)",
            file=sys.stderr,
        )
    return True


def placeholder(url: str) -> bool:
    """A URL on a name reserved for examples (RFC 2606: example, .example, .invalid, .test)."""
    from urllib.parse import urlsplit

    host = (urlsplit(url).hostname or "").lower()
    return host in ("example.com", "example.org", "example.net") or host.endswith(
        (".example", ".invalid", ".test", ".example.com")
    )


# --- redline probe ----------------------------------------------------------------------------


async def _probe(args: argparse.Namespace) -> int:
    from exporter.collector import probe_families
    from exporter.probes import probe_function
    from exporter.probes.base import ProbeContext, new_session, run_probe
    from exporter.scheduler import Served

    try:
        config, _ = load_config(args.config_file)
    except ConfigError as e:
        _print_config_error(e)
        return 1
    targets = config.targets()
    chosen = {k: v for k, v in targets.items() if k == args.name or k.split("/", 1)[0] == args.name}
    if not chosen:
        print(
            f"error: no target {args.name!r}; configured: {', '.join(sorted(targets))}",
            file=sys.stderr,
        )
        return 2
    redactor = Redactor()
    session = new_session()
    ctx = ProbeContext(session=session, secrets=SecretSource(redactor), redactor=redactor)
    failed = 0
    try:
        for name, (service, probe) in chosen.items():
            timeout = args.timeout if args.timeout is not None else probe.timeout
            deadline = asyncio.get_running_loop().time() + timeout
            result = await run_probe(
                probe_function(probe.kind),
                probe,
                ctx,
                deadline,
                degraded_after=probe.degraded_after,
            )
            failed += 0 if result.success else 1
            print(f"{name} ({probe.kind}), {result.duration * 1000:.1f} ms")
            for line in result.trace:
                print(f"  {line}")
            print("  series:")
            for family in probe_families([Served(service, probe, result, 0.0)]):
                for sample in family.samples:
                    labels = ",".join(f'{k}="{v}"' for k, v in sample.labels.items())
                    print(f"    {sample.name}{{{labels}}} {_num(sample.value)}")
            print()
    finally:
        await session.close()
    return 1 if failed else 0


def _num(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def cmd_probe(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    return eventloop.run(_probe(args))


# --- entry point ------------------------------------------------------------------------------


def _add_ops(sub: Any) -> None:
    from exporter.ops import cli as ops  # docs/operations.md

    ops.configure_baseline(sub.add_parser("baseline", help=LAZY_HELP["baseline"]))
    ops.configure_capacity(sub.add_parser("capacity", help=LAZY_HELP["capacity"]))
    ops.configure_postmortem(sub.add_parser("postmortem", help=LAZY_HELP["postmortem"]))


def _add_launch_check(sub: Any) -> None:
    from exporter.launch.check import add_parser  # docs/launch-day.md

    add_parser(sub, LAZY_HELP["launch-check"])


def _add_restore_test(sub: Any) -> None:
    from exporter.backups.restore_cli import add_parser  # docs/backups.md

    add_parser(sub, LAZY_HELP["restore-test"])


def _add_maintenance(sub: Any) -> None:
    from exporter.maintenance.cli import add_parser  # docs/maintenance.md

    add_parser(sub, LAZY_HELP["maintenance"])


def _add_demo(sub: Any) -> None:
    try:
        from exporter.demo import cli as demo  # docs/demo.md, docs/failover-testing.md
    except ImportError:
        # the installed package leaves the demo out (pyproject.toml): it runs from a checkout
        sys.exit("error: the demo runs from a checkout of the repository: make demo (docs/demo.md)")
    demo.add_parsers(sub, LAZY_HELP)  # redline demo break|heal|status, redline drill [SCENARIO]


# Subcommands whose parsers import their modules (reports, charts, drills: megabytes of
# imports): each is configured only when named on the command line, so `redline run` loads none
# of it; otherwise it is listed with its help line only. name -> what adds it (with its group).
LAZY: dict[str, Callable[[Any], None]] = {
    "baseline": _add_ops,
    "capacity": _add_ops,
    "postmortem": _add_ops,
    "launch-check": _add_launch_check,
    "restore-test": _add_restore_test,
    "maintenance": _add_maintenance,
    "demo": _add_demo,
    "drill": _add_demo,
}
LAZY_HELP = {
    "baseline": "what is normal; thresholds against it",
    "capacity": "when each resource runs out",
    "postmortem": "draft a post-mortem of a range",
    "launch-check": "pre-flight before a launch: a go/no-go table (exit 0 go, 1 no-go, 2 can't "
    "tell)",
    "restore-test": "restore the newest backup into a scratch database and check it now "
    "(exit 0 pass, 1 fail)",
    "maintenance": "planned maintenance windows, and ad-hoc silences through Alertmanager "
    "(list, add, end)",
    "demo": "break and heal parts of the running `make demo` stack (docs/demo.md)",
    "drill": "run a scripted failure against the running demo and check the alerts (reports in "
    ".demo/drills/)",
}


def _add_lazy(sub: Any, command: str | None) -> None:
    if command in LAZY:
        LAZY[command](sub)
    for name, help_ in LAZY_HELP.items():
        if name not in sub.choices:  # named only: `redline NAME ...` configures it in full
            sub.add_parser(name, help=help_)


def _command(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (its first word that is not an option)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """``command``: the subcommand to configure in full among the LAZY ones (None: none)."""
    parser = argparse.ArgumentParser(
        prog="redline", description="Prometheus exporter of the Hot Rod AN stack."
    )
    parser.add_argument("--version", action="version", version=f"redline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config.file",
            dest="config_file",
            default=None,
            help="configuration file (default: the embedded demo config on loopback)",
        )
        p.add_argument(
            "--log.level",
            dest="log_level",
            default="info",
            choices=["debug", "info", "warning", "error"],
        )

    run = sub.add_parser("run", help="serve /metrics")
    common(run)
    run.add_argument(
        "--web.listen-address",
        dest="web_listen_address",
        default=DEFAULT_LISTEN,
        help=f"HOST:PORT to listen on (default {DEFAULT_LISTEN})",
    )
    run.add_argument(
        "--web.config.file",
        dest="web_config_file",
        default=None,
        help="exporter-toolkit web configuration file enabling TLS and/or basic auth "
        "(docs/security.md)",
    )
    run.add_argument(
        "--web.read-timeout",
        dest="web_read_timeout",
        type=argparse_positive_seconds,
        default=DEFAULT_READ_TIMEOUT,
        help="longest wait for a request's head or body, and for the next request on an idle "
        f"connection (default {DEFAULT_READ_TIMEOUT:g}s)",
    )
    run.add_argument(
        "--shard",
        type=_shard,
        default=UNSHARDED,
        metavar="I/N",
        help="serve the I-th of N shares of the config's services (a stable hash of each "
        "service's name); the other areas run on shard 1 only, host on every shard "
        "(docs/scaling.md). Default 1/1: everything",
    )
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate a configuration file")
    check.add_argument("file")
    check.add_argument(
        "--alert-rules",
        dest="alert_rules",
        default=None,
        metavar="DIR",
        help="also check the file against these stack settings (default: ../alert_rules/ "
        "beside the file's directory, when there is one)",
    )
    check.set_defaults(func=cmd_check)

    probe = sub.add_parser("probe", help="run one target's probes now and print a trace")
    probe.add_argument("name", help="SERVICE or SERVICE/PROBE")
    common(probe)
    probe.add_argument(
        "--timeout",
        type=argparse_positive_seconds,
        default=None,
        metavar="DURATION",
        help="e.g. 10s or 1.5s (default: the probe's)",
    )
    probe.set_defaults(func=cmd_probe)

    _add_lazy(sub, command)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(_command(argv)).parse_args(argv)
    if args.command == "run":
        try:
            args.listen = parse_listen(args.web_listen_address)
        except argparse.ArgumentTypeError as e:
            print(f"error: --web.listen-address: {e}", file=sys.stderr)
            return 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
