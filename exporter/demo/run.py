"""``python -m exporter.demo.run start|stop|status``: what ``make demo`` and ``make demo-stop`` run.

``start`` launches two background processes, each in its own process group so ``stop`` can end
it with everything it spawned: the stand-ins (``python -m exporter.demo.standins``) and the
exporter on its embedded default config (``redline run``, no ``--config.file``). Their pid files
and logs live in ``.demo/`` at the top of the repository. ``start`` waits (bounded) until each
answers over HTTP, then prints the URLs to try; it never starts a second copy of a process
that is already running. ``stop`` is safe to run any number of times.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from exporter.demo.standins import DEFAULT_PORTS, HOST

EXPORTER_ADDRESS = "127.0.0.1:9877"
START_TIMEOUT = 20.0  # seconds for a process to answer before start gives up
STOP_TIMEOUT = 5.0  # seconds for a process group to exit on SIGTERM before it gets SIGKILL


def _repo() -> Path:
    """The repository holding this package (an editable install), else the working directory."""
    top = Path(__file__).resolve().parents[2]
    return top if (top / "pyproject.toml").exists() else Path.cwd()


STATE_DIR = _repo() / ".demo"


@dataclass(frozen=True)
class Component:
    name: str
    argv: tuple[str, ...]
    marker: str  # appears in the process's command line: tells our pid from a recycled one
    ready_urls: tuple[str, ...]  # each must answer HTTP (any status) before it counts as up

    @property
    def pid_file(self) -> Path:
        return STATE_DIR / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return STATE_DIR / f"{self.name}.log"


def components() -> list[Component]:
    """In start order; stop goes the other way."""
    bin_dir = Path(sys.executable).parent  # the virtualenv's bin/, where pip put `redline`
    return [
        Component(
            "standins",
            (sys.executable, "-m", "exporter.demo.standins"),
            "exporter.demo.standins",
            tuple(f"http://{HOST}:{port}/_standin/state" for port in DEFAULT_PORTS.values()),
        ),
        Component(
            "exporter",
            (str(bin_dir / "redline"), "run", "--web.listen-address", EXPORTER_ADDRESS),
            "redline run",
            (f"http://{EXPORTER_ADDRESS}/",),
        ),
    ]


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
    return True


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


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # an HTTP error status is still an answer
    except (OSError, ValueError):
        return False


def _port_taken(url: str) -> bool:
    host_port = url.split("/")[2]
    host, port = host_port.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
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
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with component.log_file.open("wb") as log:
        proc = subprocess.Popen(
            component.argv,
            cwd=_repo(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own process group, so stop reaches its children too
        )
    component.pid_file.write_text(f"{proc.pid}\n")
    return proc


def _wait_ready(component: Component, proc: subprocess.Popen[bytes]) -> str | None:
    """None once every ready URL answers; else why not."""
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(component.ready_urls)
    while pending:
        code = proc.poll()
        if code is not None:
            return f"{component.name} exited with code {code}"
        if time.monotonic() > deadline:
            return f"{component.name} did not answer {pending[0]} within {START_TIMEOUT:.0f}s"
        pending = [url for url in pending if not _answers(url)]
        if pending:
            time.sleep(0.2)
    return None


def _stop(component: Component, pid: int) -> None:
    """SIGTERM the component's process group, then SIGKILL it if it has not exited in time."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    # start made the component a group leader; if it is not, signal only the process itself
    kill = os.killpg if pgid == pid else os.kill
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 1.0)):
        try:
            kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


# --- commands -----------------------------------------------------------------------------------


def start() -> int:
    STATE_DIR.mkdir(exist_ok=True)
    started: list[tuple[Component, int]] = []
    for component in components():
        pid = running_pid(component)
        if pid is not None:
            print(f"{component.name} is already running (pid {pid}); not starting another")
            continue
        if not Path(component.argv[0]).exists():
            return _fail(started, f"{component.argv[0]} not found: run `make install` first")
        busy = [url for url in component.ready_urls if _port_taken(url)]
        if busy:
            where = busy[0].split("/")[2]
            return _fail(started, f"{where} is already in use by another process; free it first")
        proc = _spawn(component)
        started.append((component, proc.pid))
        error = _wait_ready(component, proc)
        if error:
            tail = _log_tail(component.log_file)
            return _fail(started, f"{error}; see {component.log_file}\n{tail}")
        print(f"started {component.name} (pid {proc.pid}), log {component.log_file}")
    _print_urls()
    return 0


def _fail(started: list[tuple[Component, int]], message: str) -> int:
    print(f"demo: {message}", file=sys.stderr)
    for component, pid in reversed(started):
        _stop(component, pid)
        component.pid_file.unlink(missing_ok=True)
    if started:
        print("demo: stopped what this start had started", file=sys.stderr)
    return 1


def stop() -> int:
    for component in reversed(components()):
        pid = running_pid(component)
        if pid is None:
            print(f"{component.name} is not running")
            continue
        _stop(component, pid)
        component.pid_file.unlink(missing_ok=True)
        print(f"stopped {component.name} (pid {pid})")
    return 0


def status() -> int:
    all_up = True
    for component in components():
        pid = running_pid(component)
        all_up = all_up and pid is not None
        state = f"running (pid {pid})" if pid else "not running"
        print(f"{component.name:<10} {state}, log {component.log_file}")
    if all_up:
        _print_urls()
    return 0 if all_up else 1


def _print_urls() -> None:
    exporter = f"http://{EXPORTER_ADDRESS}"
    agent = f"http://{HOST}:{DEFAULT_PORTS['agent-service']}"
    fault = json.dumps({"mode": "slow", "delay": 2})
    paths = {
        "hotdash-app": "/health",
        "agent-service": "/queue/stats",
        "llamaindex-mcp": "/health",
        "chatwoot": "/api",
    }
    print()
    print("redline demo is running")
    print(f"  metrics     {exporter}/metrics")
    print(f"  one target  {exporter}/probe?target=agent-service/health")
    print("  stand-ins")
    for name, port in DEFAULT_PORTS.items():
        print(f"    {name:<15} http://{HOST}:{port}{paths.get(name, '/')}")
    print("  faults (modes: ok, slow, failing, down, wrong_version, degraded)")
    print(f"    curl -X POST {agent}/_standin/fault -d '{fault}'")
    print(f"    curl -X POST {agent}/_standin/fault -d '{json.dumps({'mode': 'ok'})}'")
    print(f"  logs        {STATE_DIR}/")
    print()
    print("stop with: make demo-stop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m exporter.demo.run",
        description="Start, stop or show the demo: stand-ins plus the exporter on loopback.",
    )
    parser.add_argument("command", choices=("start", "stop", "status"))
    args = parser.parse_args(argv)
    return {"start": start, "stop": stop, "status": status}[args.command]()


if __name__ == "__main__":
    sys.exit(main())
