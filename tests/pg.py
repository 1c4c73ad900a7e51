"""A real PostgreSQL for tests and the benchmark: initdb into a temp dir, listen on 127.0.0.1 on a
free port with the unix socket in the temp dir, pg_stat_statements preloaded.

Postgres refuses to run as root, and tests run as root: the cluster then belongs to the
``postgres`` system user (created if missing) and every server binary runs as that user.
Durability is off (fsync, full_page_writes): these clusters are thrown away.

One template cluster is initialised per process and copied for every other cluster, which is
much faster than initdb.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BIN = Path(os.environ.get("REDLINE_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
MONITOR_USER = "redline"
MONITOR_PASSWORD = "Mon1tor-s3cret-pw"  # a test password; tests check it never leaks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> dict[str, Any]:
    """subprocess arguments that drop root for the postgres user; nothing when not root."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "postgres"],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam("postgres")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _chown_tree(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


class Cluster:
    """One PostgreSQL data directory and the server on it."""

    def __init__(self, base: Path, port: int | None = None) -> None:
        self.base = base
        self.data = base / "data"
        self.sockdir = base / "sock"
        self.logfile = base / "server.log"
        self.port = port or free_port()
        self.as_user = _run_as()
        self.env = {**os.environ, "PGHOST": str(self.sockdir), "PGPORT": str(self.port)}
        self.env.pop("PGPASSWORD", None)

    # --- life cycle ---------------------------------------------------------------------------

    @classmethod
    def create(cls, port: int | None = None, template: Cluster | None = None) -> Cluster:
        base = Path(tempfile.mkdtemp(prefix="redline-pg-"))
        cluster = cls(base, port)
        cluster.sockdir.mkdir()
        if template is not None:
            shutil.copytree(template.data, cluster.data, symlinks=True)
            (cluster.data / "postmaster.pid").unlink(missing_ok=True)
        else:
            pwfile = base / "pw"
            pwfile.write_text("postgres-superuser-pw\n")
            _chown_tree(base)
            cluster._bin(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            )
        _chown_tree(base)
        return cluster

    def start(self, timeout: float = 20.0) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.sockdir}",
                "-c shared_preload_libraries=pg_stat_statements",
                "-c pg_stat_statements.track=top",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c synchronous_commit=off",
                "-c max_connections=40",
                "-c max_wal_senders=2",
                "-c wal_level=replica",
            ]
        )
        self._bin(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.logfile),
            "-w",
            "-t",
            str(int(timeout)),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._bin("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def running(self) -> bool:
        result = self._bin("pg_ctl", "-D", str(self.data), "status", check=False)
        return result.returncode == 0

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    # --- using it -----------------------------------------------------------------------------

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run SQL as the superuser over the unix socket; return the unaligned output."""
        result = self._bin(
            "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql
        )
        return result.stdout.strip()

    def pgbench(self, *args: str, timeout: float = 30.0) -> None:
        self._bin("pgbench", *args, timeout=timeout)

    def dsn(
        self, user: str = MONITOR_USER, password: str = MONITOR_PASSWORD, db: str = "postgres"
    ) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{db}?sslmode=disable"

    def setup_monitoring(self, user: str = MONITOR_USER, password: str = MONITOR_PASSWORD) -> None:
        """The least-privilege role of docs/postgres.md and the extension."""
        self.psql(
            f"CREATE ROLE {user} LOGIN PASSWORD '{password}' CONNECTION LIMIT 5; "
            f"GRANT pg_monitor TO {user};"
        )
        self.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;")

    def _bin(
        self,
        name: str,
        *args: str,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        path = BIN / name if (BIN / name).exists() else Path(shutil.which(name) or name)
        result = subprocess.run(
            [str(path), *args],
            env=self.env,
            cwd=str(self.base),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **self.as_user,
        )
        if check and result.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise RuntimeError(
                f"{name} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{log[-2000:]}"
            )
        return result


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        time.sleep(interval)


def pgbench_workload(cluster: Cluster, transactions: int = 300, clients: int = 2) -> None:
    """A bounded pgbench load: scale 1, ``transactions`` per client."""
    cluster.pgbench("-i", "-q", "-s", "1", "postgres")
    cluster.pgbench("-n", "-t", str(transactions), "-c", str(clients), "postgres", timeout=60)


# --- scraping the Postgres source ------------------------------------------------------------


class Scrape:
    """One rendered exposition and lookups into it."""

    def __init__(self, text: str) -> None:
        from prometheus_client.parser import text_string_to_metric_families

        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = [
            (s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
        ]

    def series(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        """Every sample of ``name`` whose labels include ``labels``."""
        return [
            (lbls, value)
            for n, lbls, value in self.samples
            if n == name and all(lbls.get(k) == v for k, v in labels.items())
        ]

    def value(self, name: str, **labels: str) -> float:
        found = self.series(name, **labels)
        assert len(found) == 1, f"{name}{labels}: {len(found)} samples, expected 1\n{self.text}"
        return found[0][1]


def render(families: Any) -> str:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.registry import Collector, CollectorRegistry

    class _Fixed(Collector):
        def collect(self) -> Any:
            return list(families)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed())
    return generate_latest(registry).decode()


async def scrape(source: Any, timeout: float = 5.0) -> Scrape:
    import asyncio

    loop = asyncio.get_running_loop()
    return Scrape(render(await source.collect(loop.time() + timeout)))


_TEMPLATE: list[Cluster] = []
_SHARED: list[Cluster] = []


def template() -> Cluster:
    """The initialised cluster others are copied from (stopped), with the monitoring role and
    pg_stat_statements: initdb runs once per process."""
    if not _TEMPLATE:
        cluster = Cluster.create()
        atexit.register(cluster.destroy)
        cluster.start()
        try:
            cluster.setup_monitoring()
        finally:
            cluster.stop()
        _TEMPLATE.append(cluster)
    return _TEMPLATE[0]


def new_cluster(port: int | None = None) -> Cluster:
    """A fresh copy of the template, not started; the caller destroys it."""
    return Cluster.create(port, template=template())


def shared_cluster() -> Cluster:
    """One running cluster for the whole test session, after a bounded pgbench workload. Tests
    that stop or break a server use a cluster of their own (new_cluster)."""
    if not _SHARED:
        cluster = new_cluster()
        atexit.register(cluster.destroy)
        cluster.start()
        pgbench_workload(cluster)
        _SHARED.append(cluster)
    return _SHARED[0]


__all__: Sequence[str] = (
    "Cluster",
    "free_port",
    "new_cluster",
    "pgbench_workload",
    "shared_cluster",
    "template",
    "wait_until",
)
