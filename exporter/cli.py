"""``redline`` command line: run, check, probe (flags follow Prometheus conventions)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from typing import Any

from aiohttp import web

from exporter import __version__
from exporter.config import ConfigError, load_config, secret_fields
from exporter.secrets import Redactor, SecretSource

DEFAULT_LISTEN = ":9877"
log = logging.getLogger("redline")


class _LogfmtFormatter(logging.Formatter):
    """ts=... level=... logger=... msg="..." as Prometheus components log."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        msg = record.getMessage().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        line = f"ts={ts}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
        line += f'logger={record.name} msg="{msg}"'
        detail = getattr(record, "detail", None)
        if detail:
            line += ' detail="' + str(detail).replace('"', '\\"').replace("\n", "\\n") + '"'
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
        runtime = initial_runtime(args.config_file)
    except ConfigError as e:
        _print_config_error(e)
        return 1
    host, port = args.listen
    app = make_app(runtime)
    runner = web.AppRunner(
        app, handle_signals=False, access_log=logging.getLogger("aiohttp.access")
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
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


def cmd_run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    return asyncio.run(_serve(args))


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
    probes = sum(len(s.probes) for s in config.services)
    print(f"{name}: OK ({len(config.services)} services, {probes} probes)")
    return 0


# --- redline probe ----------------------------------------------------------------------------


async def _probe(args: argparse.Namespace) -> int:
    from exporter.collector import probe_families
    from exporter.probes import PROBES
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
                PROBES[probe.kind], probe, ctx, deadline, degraded_after=probe.degraded_after
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
    return asyncio.run(_probe(args))


# --- entry point ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
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
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate a configuration file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check)

    probe = sub.add_parser("probe", help="run one target's probes now and print a trace")
    probe.add_argument("name", help="SERVICE or SERVICE/PROBE")
    common(probe)
    probe.add_argument("--timeout", type=float, default=None, help="seconds (default: probe's)")
    probe.set_defaults(func=cmd_probe)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
