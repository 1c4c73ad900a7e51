"""Starts the real Prometheus, Alertmanager and VictoriaMetrics (Debian's binaries), the redline
exporter and the demo's webhook receiver on loopback in a directory of the caller's, for the
demo, the tests and the tools that need them. Nothing here is a stand-in: these are the servers
users run.

    with Prometheus(workdir, config_text) as prom:      # waits until /-/ready answers
        prom.url                                          # http://127.0.0.1:PORT
        prom.query("up")                                  # the instant-query result list

Every wait is bounded; ``stop`` ends the process (SIGTERM, then SIGKILL). A ``config_text`` of
None uses the config file already in the directory (the demo's runner writes its own and only
needs the command line).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

READY_TIMEOUT = 30.0


class ServerError(RuntimeError):
    """A server could not be started or answered wrongly; the message names the log file."""


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports. The sockets are held until all are chosen:
    asked one at a time, the kernel may hand out a port it just gave back (CI once started two
    stand-ins on the same one)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    raise ServerError(f"{names[0]} is not installed: run scripts/install-system.sh")


class _Server:
    name = "server"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"{self.name} exited at start; see {self.log_path}:\n{self.tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} not ready after {READY_TIMEOUT:.0f}s; see {self.log_path}")

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def reload(self) -> None:
        urllib.request.urlopen(
            urllib.request.Request(f"{self.url}/-/reload", method="POST"), timeout=10
        )

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            raise ServerError(f"{self.name} {path}: HTTP {e.code}: {body[:500]}") from None

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class Prometheus(_Server):
    name = "prometheus"

    def __init__(
        self,
        workdir: Path,
        config_text: str | None,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(workdir, port)
        self.config_path = self.workdir / "prometheus.yml"
        if config_text is not None:
            self.config_path.write_text(config_text)
        self.extra_args = extra_args

    def argv(self) -> list[str]:
        return [
            _binary("prometheus"),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            *self.extra_args,
        ]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr}
        if at is not None:
            params["time"] = str(at)
        answer = self.get_json("/api/v1/query", params)
        if answer.get("status") != "success":
            raise ServerError(f"query {expr!r} failed: {answer.get('error')}")
        return list(answer["data"]["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        answer = self.get_json(
            "/api/v1/query_range",
            {"query": expr, "start": str(start), "end": str(end), "step": str(step)},
        )
        if answer.get("status") != "success":
            raise ServerError(f"query {expr!r} failed: {answer.get('error')}")
        return list(answer["data"]["result"])

    def wait_for(
        self, expr: str, timeout: float = 60.0, interval: float = 0.5
    ) -> list[dict[str, Any]]:
        """Poll ``expr`` until it returns series (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if result:
                return result
            if time.monotonic() > deadline:
                raise ServerError(f"{expr!r} returned nothing within {timeout:.0f}s")
            time.sleep(interval)


class Alertmanager(_Server):
    name = "alertmanager"

    def __init__(
        self,
        workdir: Path,
        config_text: str | None,
        port: int | None = None,
        cluster_port: int | None = None,
        peers: tuple[str, ...] = (),
        extra_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(workdir, port)
        self.config_path = self.workdir / "alertmanager.yml"
        if config_text is not None:
            self.config_path.write_text(config_text)
        # cluster_port None: no gossip (a single instance); else listen there and join peers
        self.cluster_port = cluster_port
        self.peers = peers
        self.extra_args = extra_args

    def argv(self) -> list[str]:
        cluster = (
            [f"--cluster.listen-address=127.0.0.1:{self.cluster_port}"]
            + [f"--cluster.peer={peer}" for peer in self.peers]
            if self.cluster_port
            else ["--cluster.listen-address="]
        )
        return [
            _binary("prometheus-alertmanager", "alertmanager"),
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *cluster,
            *self.extra_args,
        ]

    def alerts(self) -> list[dict[str, Any]]:
        return list(self.get_json("/api/v2/alerts"))


class VictoriaMetrics(_Server):
    """Single-node VictoriaMetrics: Prometheus's remote_write target (/api/v1/write) and a
    Prometheus-compatible query API (/api/v1/query, /api/v1/query_range) on the same port."""

    name = "victoria-metrics"

    def __init__(
        self, workdir: Path, port: int | None = None, extra_args: tuple[str, ...] = ()
    ) -> None:
        super().__init__(workdir, port)
        self.extra_args = extra_args

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def argv(self) -> list[str]:
        return [
            _binary("victoria-metrics"),
            f"-storageDataPath={self.workdir / 'data'}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            *self.extra_args,
        ]


class Redline(_Server):
    """The exporter itself (``python -m exporter run``) with the caller's config file."""

    name = "redline"

    def __init__(
        self,
        workdir: Path,
        config_file: Path,
        port: int | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        super().__init__(workdir, port)
        self.config_file = config_file
        self.extra_args = extra_args

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "exporter",
            "run",
            "--config.file",
            str(self.config_file),
            "--web.listen-address",
            f"127.0.0.1:{self.port}",
            *self.extra_args,
        ]


class Receiver(_Server):
    """The demo's webhook receiver (exporter/demo/receiver.py): every notification it gets."""

    name = "receiver"

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "exporter.demo.receiver",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--file",
            str(self.workdir / "notifications.jsonl"),
        ]

    def notifications(self, since: float = 0.0) -> list[dict[str, Any]]:
        return list(self.get_json("/notifications", {"since": str(since)}))
