"""``python -m exporter.demo.run start|stop|status``: what ``make demo`` and ``make demo-stop`` run.

``start`` brings up the whole stack on 127.0.0.1 (docs/demo.md), in this order:

1. the demo's configs for Prometheus and Alertmanager, rendered from alert_rules/ by the same
   generators as prometheus/ and alertmanager/ (``rules.build(profile="demo")``) into ``.demo/``
   and checked with promtool and amtool;
2. a real PostgreSQL 15 with the shop schema (exporter/demo/database.py, workload.py);
3. the processes, each in its own process group so ``stop`` ends it with everything it spawned:
   the webhook receiver, the stand-ins (writing their logs, checking the database), the
   operator's traffic to the HotDash app, the shop's workload, the exporter on its embedded
   default config (``redline run``, no ``--config.file``), the backup job, two Alertmanager
   peers gossiping, and Prometheus.

Pid files and logs live in ``.demo/`` at the top of the repository. ``start`` waits (bounded)
until each process answers, then prints the URLs to try; it never starts a second copy of a
process that is already running, and a fresh start (nothing running) clears what the previous
run left (data, dumps, notifications). ``stop`` is safe to run any number of times.
:func:`start_component` and :func:`stop_component` are what the fault controls
(exporter/demo/faults.py) use to stop and restart one part.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from exporter.config import DEFAULT_CONFIG_NAME
from exporter.demo import database, layout
from exporter.demo.layout import HOST, STATE_DIR
from exporter.demo.servers import Alertmanager, Prometheus, ServerError
from exporter.demo.standins import DEFAULT_PORTS
from exporter.rules.demo import DemoProfile

DEMO = DemoProfile()  # the demo's timings (exporter/rules/demo.py)

EXPORTER_ADDRESS = f"{HOST}:{layout.EXPORTER_PORT}"
START_TIMEOUT = 30.0  # seconds for a process to answer before start gives up
STOP_TIMEOUT = 5.0  # seconds for a process group to exit on SIGTERM before it gets SIGKILL
SETTLE = 1.0  # seconds a process without a URL must stay alive to count as started
PROMETHEUS_DIR = STATE_DIR / "prometheus"
EXPORTER_CONFIG = STATE_DIR / "redline.yml"  # only with REDLINE_DEMO_PORT_OFFSET set
# Cleared by a fresh start: what the previous run of the demo left behind.
TRANSIENT = (
    PROMETHEUS_DIR / "data",
    *(STATE_DIR / p.name / "data" for p in layout.ALERTMANAGERS),
    layout.BACKUP_DIR,
    layout.LOG_DIR,
    layout.NOTIFICATIONS,
    layout.BACKUP_FAULT_FILE,
    STATE_DIR / "heartbeats.json",
    STATE_DIR / "fly-machines.json",
    # the restore test's outcome and reports (config/demo.yml): a new demo must not show the
    # last one's result, about a dump that is gone, until its own first run
    STATE_DIR / "restore-tests.json",
    STATE_DIR / "restore-reports",
)


@dataclass(frozen=True)
class Component:
    name: str
    argv: tuple[str, ...]
    marker: str  # appears in the process's command line: tells our pid from a recycled one
    ready_urls: tuple[str, ...] = ()  # each must answer HTTP before it counts as up
    ready_ok: bool = False  # only a 200 counts (Prometheus, Alertmanager); else any answer
    ports: tuple[int, ...] = ()  # must be free before it starts
    needs_database: bool = False
    description: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid_file(self) -> Path:
        return STATE_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return STATE_DIR / f"{self.name}.log"


def _alertmanager(peer: layout.Peer) -> Alertmanager:
    others = tuple(f"{HOST}:{p.cluster_port}" for p in layout.ALERTMANAGERS if p != peer)
    return Alertmanager(
        STATE_DIR / peer.name,
        None,
        port=peer.port,
        cluster_port=peer.cluster_port,
        peers=others,
        # its own address in notifications (externalURL), so a drill sees which peer sent one
        extra_args=(
            f"--web.external-url={peer.url}",
            f"--cluster.peer-timeout={DEMO.peer_timeout}",
        ),
    )


def _prometheus() -> Prometheus:
    return Prometheus(
        PROMETHEUS_DIR,
        None,
        port=layout.PROMETHEUS_PORT,
        # resend every evaluation (5 s), below the demo's 5 s+ group_wait: a restarted peer gets
        # the still-firing OutageWindow before it flushes a burn page (production: 15 s < 30 s,
        # deploy/systemd/redline-prometheus.service)
        extra_args=("--storage.tsdb.retention.time=1d", "--rules.alert.resend-delay=1s"),
    )


def components() -> list[Component]:
    """In start order; stop goes the other way."""
    py = sys.executable
    bin_dir = Path(py).parent  # the virtualenv's bin/, where pip put `redline`
    cluster = database.cluster()
    dsn = database.socket_dsn(cluster) if cluster is not None else ""
    sockdir = str(cluster.sockdir) if cluster is not None else ""
    out = [
        Component(
            "receiver",
            (
                py,
                "-m",
                "exporter.demo.receiver",
                "--listen",
                f"{HOST}:{layout.RECEIVER_PORT}",
                "--file",
                str(layout.NOTIFICATIONS),
            ),
            "exporter.demo.receiver",
            (f"{layout.RECEIVER_URL}/-/ready",),
            ports=(layout.RECEIVER_PORT,),
            description="webhook receiver: every notification",
        ),
        Component(
            "standins",
            (
                py,
                "-m",
                "exporter.demo.standins",
                "--log-dir",
                str(layout.LOG_DIR),
                "--database-dsn",
                dsn,
            ),
            "exporter.demo.standins",
            tuple(f"http://{HOST}:{port}/_standin/state" for port in DEFAULT_PORTS.values()),
            ports=tuple(DEFAULT_PORTS.values()),
            needs_database=True,
            description="stand-ins of the services and vendors",
        ),
        Component(
            "traffic",
            (
                py,
                "-m",
                "exporter.demo.traffic",
                "--base",
                f"http://{HOST}:{DEFAULT_PORTS['hotdash-app']}",
            ),
            "exporter.demo.traffic",
            description="the operator's requests to the HotDash app",
        ),
        Component(
            "platform",
            (py, "-m", "exporter.demo.platform", "--port", str(layout.PLATFORM_PORT)),
            "exporter.demo.platform",
            (f"{layout.PLATFORM_URL}/_standin/state",),
            ports=(layout.PLATFORM_PORT,),
            description="Fly's federation and Machines API, Supabase's metrics (stand-in)",
        ),
        Component(
            "workload",
            (py, "-m", "exporter.demo.workload", "--dsn", dsn),
            "exporter.demo.workload",
            needs_database=True,
            description="the shop's workload on the database",
        ),
        Component(
            "exporter",
            (
                str(bin_dir / "redline"),
                "run",
                "--web.listen-address",
                EXPORTER_ADDRESS,
                # with a port offset, default.yml with its ports moved (write_configs)
                *(("--config.file", str(EXPORTER_CONFIG)) if layout.OFFSET else ()),
            ),
            "redline run",
            (f"http://{EXPORTER_ADDRESS}/",),
            ports=(layout.EXPORTER_PORT,),
            description="redline on its embedded default config",
        ),
        Component(
            "backup-job",
            (py, "-m", "exporter.demo.backup_job", "--host", sockdir),
            "exporter.demo.backup_job",
            needs_database=True,
            description="pg_dump every 10 s, pinging its heartbeat",
        ),
    ]
    for peer in layout.ALERTMANAGERS:
        am = _alertmanager(peer)
        out.append(
            Component(
                peer.name,
                tuple(am.argv()),
                f"--web.listen-address={peer.address}",
                (f"{peer.url}/-/ready",),
                ready_ok=True,
                ports=(peer.port, peer.cluster_port),
                description="Alertmanager peer (gossip on loopback)",
            )
        )
    prom = _prometheus()
    out.append(
        Component(
            "prometheus",
            tuple(prom.argv()),
            f"--web.listen-address={HOST}:{layout.PROMETHEUS_PORT}",
            (f"{layout.PROMETHEUS_URL}/-/ready",),
            ready_ok=True,
            ports=(layout.PROMETHEUS_PORT,),
            description="Prometheus with the demo profile's rules",
        )
    )
    return out


def component(name: str) -> Component:
    for c in components():
        if c.name == name:
            return c
    raise KeyError(f"no demo component {name!r}")


# --- processes ----------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    # Reap it if it is our own child that already exited (else it lingers as a zombie).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, but not ours to signal
    # A component exited but not yet reaped by its parent (init, once the `make demo` that
    # started it has exited) is a zombie: gone, though signal 0 still reaches it. Some inits
    # reap every second or two, which made a stop wait 2 s for each of its 10 processes.
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc to ask (not Linux), or gone just now: signal 0 answered
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # the state, after the command's name


def _is_ours(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc to check against (not Linux): trust the pid file
    return marker in cmdline


def running_pid(component: Component) -> int | None:
    """The pid of the component started earlier, if it still runs; else None (and the stale
    pid file is removed)."""
    try:
        pid = int(component.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if _alive(pid) and _is_ours(pid, component.marker):
        return pid
    component.pid_file.unlink(missing_ok=True)
    return None


def _answers(url: str, need_ok: bool) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return not need_ok or resp.status == 200
    except urllib.error.HTTPError:
        return not need_ok  # an HTTP error status is still an answer
    except (OSError, ValueError):
        return False


def port_taken(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def _spawn(component: Component) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **component.env}
    with component.log_file.open("ab") as log:
        proc = subprocess.Popen(
            component.argv,
            cwd=layout.repo(),  # default.yml's relative paths (.demo/...) start here
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, so stop reaches its children too
        )
    component.pid_file.write_text(f"{proc.pid}\n")
    return proc


def _wait_ready(component: Component, proc: subprocess.Popen[bytes]) -> str | None:
    """None as soon as every ready URL answers (or, without URLs, once it stayed up a moment);
    else why not."""
    deadline = time.monotonic() + START_TIMEOUT
    # only a process with nothing to ask waits out the settle time: a URL's answer says enough
    settle = time.monotonic() + (0.0 if component.ready_urls else SETTLE)
    pending = list(component.ready_urls)
    while True:
        code = proc.poll()
        if code is not None:
            return f"{component.name} exited with code {code}"
        pending = [url for url in pending if not _answers(url, component.ready_ok)]
        if not pending and time.monotonic() >= settle:
            return None
        if pending and time.monotonic() > deadline:
            return f"{component.name} did not answer {pending[0]} within {START_TIMEOUT:.0f}s"
        time.sleep(0.1)


def _stop(pid: int, first: signal.Signals = signal.SIGTERM) -> None:
    """Signal the component's process group (``first``, then SIGKILL if it has not exited in
    time)."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    # start made the component a group leader; if it is not, signal only the process itself
    kill = os.killpg if pgid == pid else os.kill
    for sig, wait in ((first, STOP_TIMEOUT), (signal.SIGKILL, 1.0)):
        try:
            kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


def start_component(name: str) -> str | None:
    """Start one component unless it runs; None when it is up, else why not."""
    c = component(name)
    if running_pid(c) is not None:
        return None
    if c.needs_database and database.cluster() is None:
        return f"{name} needs the demo's database: run make demo"
    if not Path(c.argv[0]).exists() and shutil.which(c.argv[0]) is None:
        return f"{c.argv[0]} not found: run `make install` first"
    busy = [p for p in c.ports if port_taken(p)]
    if busy:
        return f"{HOST}:{busy[0]} is already in use by another process; free it first"
    proc = _spawn(c)
    error = _wait_ready(c, proc)
    if error:
        _stop(proc.pid)
        c.pid_file.unlink(missing_ok=True)
        return f"{error}; see {c.log_file}\n{_log_tail(c.log_file)}"
    return None


def stop_component(name: str, crash: bool = False) -> int | None:
    """Stop one component (``crash``: SIGKILL, as a machine dying); its pid, or None if it was
    not running."""
    c = component(name)
    pid = running_pid(c)
    if pid is None:
        return None
    _stop(pid, signal.SIGKILL if crash else signal.SIGTERM)
    c.pid_file.unlink(missing_ok=True)
    return pid


# --- configs ------------------------------------------------------------------------------------


def write_configs() -> str | None:
    """Render the demo profile of alert_rules/ into .demo/ and check it; None if all is well."""
    from exporter import rules
    from exporter.demo.platform import write_secrets

    write_secrets()  # the platform jobs' token and key files, which promtool checks too
    built = rules.build(layout.repo(), profile="demo")
    rules_dir = PROMETHEUS_DIR / "rules"
    shutil.rmtree(rules_dir, ignore_errors=True)
    rules_dir.mkdir(parents=True)
    for rel, text in built.items():
        if rel.startswith("prometheus/"):
            (PROMETHEUS_DIR / rel.removeprefix("prometheus/")).write_text(text, encoding="utf-8")
    for peer in layout.ALERTMANAGERS:
        (STATE_DIR / peer.name).mkdir(parents=True, exist_ok=True)
        path = STATE_DIR / peer.name / "alertmanager.yml"
        path.write_text(built["alertmanager/alertmanager.yml"], encoding="utf-8")
    am_config = STATE_DIR / layout.ALERTMANAGERS[0].name / "alertmanager.yml"
    if layout.OFFSET:
        default = resources.files("exporter").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8")
        EXPORTER_CONFIG.write_text(layout.as_run(default), encoding="utf-8")
    checks = [
        (("promtool",), ["check", "config", str(PROMETHEUS_DIR / "prometheus.yml")]),
        (("amtool",), ["check-config", str(am_config)]),
    ]
    for names, args in checks:
        tool = next((shutil.which(n) for n in names if shutil.which(n)), None)
        if tool is None:
            return f"{names[0]} is not installed: run scripts/install-system.sh"
        done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return f"{names[0]} refused the demo config:\n{done.stdout}{done.stderr}"
    return None


def _reload_running() -> None:
    """Prometheus and Alertmanagers already running read the configs just written."""
    urls = {"prometheus": layout.PROMETHEUS_URL, **{p.name: p.url for p in layout.ALERTMANAGERS}}
    for name, url in urls.items():
        if running_pid(component(name)) is None:
            continue
        request = urllib.request.Request(f"{url}/-/reload", method="POST")
        try:
            urllib.request.urlopen(request, timeout=10).close()
            print(f"{name} is running: reloaded its config")
        except OSError as e:
            print(f"{name}: reload failed ({e}); restart the demo (make demo-stop; make demo)")


# --- commands -----------------------------------------------------------------------------------


def _fresh() -> None:
    """Nothing runs: clear what a previous run left, so the demo starts from a clean slate."""
    database.destroy()
    for path in TRANSIENT:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def start() -> int:
    STATE_DIR.mkdir(exist_ok=True)
    if not any(running_pid(c) for c in components()) and not database.running():
        _fresh()
    step(f"rendering the demo's Prometheus and Alertmanager configs into {STATE_DIR}/")
    error = write_configs()
    if error:
        return _fail([], error)
    _reload_running()
    started: list[str] = []
    made_database = False
    try:
        if database.cluster() is None:
            if port_taken(layout.POSTGRES_PORT):
                return _fail([], f"{HOST}:{layout.POSTGRES_PORT} is in use; free it first")
            step(f"creating the demo's PostgreSQL on {HOST}:{layout.POSTGRES_PORT}")
            from exporter.demo.workload import SCHEMA

            database.create(SCHEMA)
            made_database = True
        elif not database.running():
            database.start()
    except (RuntimeError, OSError) as e:
        if made_database:
            database.destroy()
        return _fail([], f"the demo's database did not start: {e}")
    for c in components():
        pid = running_pid(c)
        if pid is not None:
            print(f"{c.name} is already running (pid {pid}); not starting another")
            continue
        error = start_component(c.name)
        if error:
            return _fail(started, error, destroy_database=made_database)
        started.append(c.name)
        print(f"started {c.name:<15} (pid {running_pid(c)}), log {c.log_file}")
    print_urls()
    return 0


def step(message: str) -> None:
    print(f"demo: {message}", flush=True)


def _fail(started: list[str], message: str, destroy_database: bool = False) -> int:
    print(f"demo: {message}", file=sys.stderr)
    for name in reversed(started):
        stop_component(name)
    if destroy_database:
        database.destroy()
    if started or destroy_database:
        print("demo: stopped what this start had started", file=sys.stderr)
    return 1


def stop() -> int:
    for c in reversed(components()):
        pid = stop_component(c.name)
        print(f"stopped {c.name} (pid {pid})" if pid else f"{c.name} is not running")
    if database.cluster() is not None:
        database.destroy()
        print("stopped and removed the demo's database")
    return 0


def status() -> int:
    all_up = True
    for c in components():
        pid = running_pid(c)
        all_up = all_up and pid is not None
        state = f"running (pid {pid})" if pid else "not running"
        print(f"{c.name:<15} {state}, log {c.log_file}")
    db_up = database.running()
    all_up = all_up and db_up
    where = f"{HOST}:{layout.POSTGRES_PORT}"
    print(f"{'database':<15} {'running' if db_up else 'not running'} ({where})")
    if all_up:
        print_urls()
    return 0 if all_up else 1


def print_urls() -> None:
    exporter = f"http://{EXPORTER_ADDRESS}"
    paths = {
        "hotdash-app": "/health",
        "agent-service": "/queue/stats",
        "llamaindex-mcp": "/health",
        "chatwoot": "/api",
        "shopify": "/admin/api/2025-10/shop.json",
        "vendor-status": "/shopify/api/v2/summary.json",
    }
    peers = "  ".join(p.url for p in layout.ALERTMANAGERS)
    print()
    print("redline demo is running (everything on 127.0.0.1)")
    print(f"  exporter       {exporter}/metrics   status page {exporter}/status")
    print(f"  Prometheus     {layout.PROMETHEUS_URL}/alerts")
    print(f"  Alertmanager   {peers}   (two peers, gossiping)")
    print(f"  receiver       {layout.RECEIVER_URL}/   (every notification; JSON: /notifications)")
    print(f"  database       {HOST}:{layout.POSTGRES_PORT}/{layout.POSTGRES_DB}")
    print("  stand-ins")
    for name, port in DEFAULT_PORTS.items():
        print(f"    {name:<15} http://{HOST}:{port}{paths.get(name, '/')}")
    print(f"  logs           {STATE_DIR}/")
    print()
    print("break something and watch the page arrive at the receiver (about 30 s):")
    print("  .venv/bin/redline demo break agent-service down")
    print("  .venv/bin/redline demo status")
    print("  .venv/bin/redline demo heal")
    print("  .venv/bin/redline drill service-down     (a scripted drill with a report)")
    print()
    print("stop with: make demo-stop")


Command = Callable[[], int]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.demo.run",
        description="Start, stop or show the demo stack on loopback (docs/demo.md).",
    )
    parser.add_argument("command", choices=("start", "stop", "status"))
    args = parser.parse_args(argv)
    commands: dict[str, Command] = {"start": start, "stop": stop, "status": status}
    try:
        return commands[args.command]()
    except ServerError as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
