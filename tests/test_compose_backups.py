"""docker-compose.yml's backup job (deploy/compose/backup_job.py), run for real: its pg_dump
against a real PostgreSQL 15 (tests/pg.py), its dumps read by the real exporter's backups
source, its pings answered by the real exporter's heartbeat endpoint (``redline run`` on a free
port), for both configs the compose exporter runs: exporter/default.yml (the demo profile: the
shop, ``shop-*.dump``) and config/hotrod.yml (``agent-tables-*.dump`` at 03:00 UTC).

No Docker engine runs here: what the compose stack adds around the script (images, volumes,
secrets) is checked by parsing the file (tests/test_compose.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.demo import layout
from exporter.demo.database import RESTORE_USER
from exporter.demo.servers import free_port
from exporter.demo.workload import SCHEMA
from tests import pg

ROOT = Path(__file__).resolve().parent.parent
JOB = ROOT / "deploy" / "compose" / "backup_job.py"
SUPERUSER_PASSWORD = "postgres-superuser-pw"  # tests/pg.py's initdb --pwfile
TOKEN = "compose-heartbeat-token-4f1c"
STAMP = re.compile(r"\d{8}T\d{6}Z")


@pytest.fixture(scope="module")
def cluster() -> Iterator[pg.Cluster]:
    """A server holding the demo's shop (the demo's schema, roles and grants) and the agent
    tables config/hotrod.yml backs up, with enough rows for its 100 KiB minimum."""
    c = pg.new_cluster()
    c.start()
    try:
        c.psql(f"CREATE DATABASE {layout.POSTGRES_DB}")
        c.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", db=layout.POSTGRES_DB)
        c.psql(SCHEMA, db=layout.POSTGRES_DB)
        c.psql(
            "INSERT INTO orders (customer_id, total_cents) SELECT 1 + g % 200, g FROM "
            "generate_series(1, 300) g",
            db=layout.POSTGRES_DB,
        )
        c.psql(f"GRANT SELECT ON orders TO {pg.MONITOR_USER}", db=layout.POSTGRES_DB)
        c.psql(f"CREATE ROLE {RESTORE_USER} LOGIN CREATEDB PASSWORD 'restore-pw-x1'")
        c.psql(
            "CREATE TABLE agent_approvals (id bigserial PRIMARY KEY, body text NOT NULL);"
            "CREATE TABLE agent_queries (id bigserial PRIMARY KEY, body text NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now());"
            "INSERT INTO agent_approvals (body) SELECT md5(g::text) || md5((g * 7)::text)"
            " FROM generate_series(1, 4000) g;"
            "INSERT INTO agent_queries (body) SELECT repeat(md5(g::text), 4)"
            " FROM generate_series(1, 3000) g;"
        )
        yield c
    finally:
        c.destroy()


def run_job(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(JOB), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the exporter ---------------------------------------------------------------------------------


class Exporter:
    def __init__(self, config: Path, cwd: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = cwd / "redline.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "exporter", "run", "--config.file", str(config)),
                    *("--web.listen-address", f"127.0.0.1:{self.port}", "--log.level", "warning"),
                ],
                cwd=cwd,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"redline exited:\n{self.tail()}"
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"redline not ready within 30 s:\n{self.tail()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def metrics(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=15) as r:
            return str(r.read().decode())

    def wait_for(self, *lines: str, timeout: float = 40.0) -> str:
        """The scrape once it holds every line (sample lines, value included)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.metrics()
            if all(line in text.splitlines() for line in lines):
                return text
            time.sleep(1.0)
        missing = [line for line in lines if line not in text.splitlines()]
        raise AssertionError(f"never scraped {missing}:\n{_related(text)}\n{self.tail()}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _related(text: str) -> str:
    return "\n".join(
        line for line in text.splitlines() if line.startswith(("redline_backup", "redline_heart"))
    )


def watched_sections(config: dict[str, Any]) -> dict[str, Any]:
    """The exporter's config reduced to what the job is watched by: its backup sets (no
    restore tests, no Supabase set) and its heartbeats, so the exporter started here contacts
    nothing but this machine. Every verify check stays; only its rounds are quickened."""
    files = []
    for backup in config["backups"]["files"]:
        verify = {**backup["verify"], "interval": "1s", "settle": "0s"}
        files.append({**backup, "verify": verify})
    return {"services": [], "backups": {"files": files}, "heartbeats": config["heartbeats"]}


def dumps(directory: Path, glob: str) -> list[Path]:
    return sorted(p for p in directory.glob(glob) if not p.name.startswith("."))


def check_dump(path: Path, counts: dict[str, int] | None) -> None:
    """The sidecars the set's checks and the restore test read, and a custom-format archive."""
    data = path.read_bytes()
    assert data.startswith(b"PGDMP"), "not a custom-format dump"
    sidecar = path.with_name(path.name + ".sha256").read_text()
    assert sidecar == f"{hashlib.sha256(data).hexdigest()}  {path.name}\n"
    if counts is not None:
        recorded = json.loads(path.with_name(path.name + ".counts.json").read_text())
        assert recorded == counts


# --- the demo profile: exporter/default.yml -----------------------------------------------------


def test_demo_profile_job_writes_what_the_demo_config_watches(
    cluster: pg.Cluster, tmp_path: Path
) -> None:
    """The compose demo's exporter runs exporter/default.yml from /src: the job, run with that
    config in the same working directory, writes ``.demo/backups/shop-<time>.dump`` (the set's
    glob) from the restore test's source database, pings ``shop-backup``, and the real
    exporter's backups source and heartbeat both report ok."""
    # the demo config as the compose demo runs it, its database port on this test's server
    text = layout.moved(
        (ROOT / "exporter" / "default.yml").read_text(),
        offset=cluster.port - layout.BASE_POSTGRES_PORT,
    )
    config = tmp_path / "redline.yml"
    config.write_text(text)
    parsed = yaml.safe_load(text)
    watched = tmp_path / "watched.yml"
    watched.write_text(yaml.safe_dump(watched_sections(parsed)))
    password = tmp_path / "postgres-password"
    password.write_text(SUPERUSER_PASSWORD + "\n")

    exporter = Exporter(watched, tmp_path, {})
    try:
        done = run_job(
            "--config", str(config), "--once", "--user", "postgres",
            "--password-file", str(password), "--exporter", exporter.url,
            cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert SUPERUSER_PASSWORD not in done.stdout + done.stderr
        written = dumps(tmp_path / ".demo" / "backups", f"{layout.BACKUP_GLOB_PREFIX}*.dump")
        assert len(written) == 1, list((tmp_path / ".demo").rglob("*"))
        assert STAMP.fullmatch(written[0].name.removeprefix("shop-").removesuffix(".dump"))
        expected = {
            f"{t}": int(cluster.psql(f"SELECT count(*) FROM {t}", db=layout.POSTGRES_DB))
            for t in ("customers", "products", "orders", "order_items")
        }
        check_dump(written[0], expected)
        # the real exporter: the set is ok and passed its checks, the heartbeat is up
        exporter.wait_for(
            f'redline_backup_status{{backup="{layout.BACKUP_SET}",status="ok"}} 1.0',
            f'redline_backup_verify_status{{backup="{layout.BACKUP_SET}",check="pg_restore",'
            'status="ok"} 1.0',
            f'redline_backup_verify_status{{backup="{layout.BACKUP_SET}",check="sha256",'
            'status="ok"} 1.0',
            f'redline_heartbeat_status{{heartbeat="{layout.BACKUP_HEARTBEAT}",status="up"}} 1.0',
        )
    finally:
        exporter.stop()
    state = json.loads((tmp_path / ".demo" / "heartbeats.json").read_text())
    job = state["jobs"][layout.BACKUP_HEARTBEAT]
    assert (job["successes"], job["failures"]) == (1, 0), job


# --- the default profile: config/hotrod.yml -----------------------------------------------------


def production_copy(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    """config/hotrod.yml with its backup directory and heartbeat state in ``tmp_path`` (their
    /var paths are the production host's); everything else as written. Its assumptions are
    left out: they name files beside config/ (redline check reads them there)."""
    parsed = yaml.safe_load((ROOT / "config" / "hotrod.yml").read_text())
    backup = parsed["backups"]["files"][0]
    assert (backup["name"], backup["directory"]) == ("agent-tables", "/var/backups/hotrod")
    backup["directory"] = str(tmp_path / "var-backups-hotrod")
    parsed["heartbeats"]["state_file"] = str(tmp_path / "heartbeats.json")
    del parsed["assumptions"]
    config = tmp_path / "hotrod.yml"
    config.write_text(yaml.safe_dump(parsed, sort_keys=False))
    return config, parsed


@contextlib.contextmanager
def hotrod_job_run(
    cluster: pg.Cluster, tmp_path: Path, password: str
) -> Iterator[tuple[Exporter, subprocess.CompletedProcess[str]]]:
    """The job run once with config/hotrod.yml (:func:`production_copy`), logging in with
    ``password``, while the real exporter watches that config's set and heartbeats; the
    exporter is stopped when the block ends."""
    config, parsed = production_copy(tmp_path)
    password_file = tmp_path / "postgres-password"
    password_file.write_text(password + "\n")
    watched = tmp_path / "watched.yml"
    watched.write_text(yaml.safe_dump(watched_sections(parsed)))
    env = {
        "REDLINE_HEARTBEAT_TOKEN": TOKEN,
        # compose's default: no password in the URL, the job reads it from the secret
        "REDLINE_DIRECT_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres",
    }
    exporter = Exporter(watched, tmp_path, env)
    try:
        done = run_job(
            "--config", str(config), "--once", "--password-file", str(password_file),
            "--exporter", exporter.url,
            cwd=tmp_path, env=env,
        )  # fmt: skip
        yield exporter, done
    finally:
        exporter.stop()


def test_default_profile_job_writes_what_config_hotrod_watches(
    cluster: pg.Cluster, tmp_path: Path
) -> None:
    """config/hotrod.yml's set is agent-tables-*.dump, custom format, at least 100 KiB,
    checked with pg_restore_full and sha256; its heartbeat agent-table-backup. The job run with
    it dumps the two tables the set's restore test checks, from the restore test's source
    (REDLINE_DIRECT_DATABASE_URL, as compose passes it), and the real exporter watching that
    config's set and heartbeats reports both ok."""
    with hotrod_job_run(cluster, tmp_path, SUPERUSER_PASSWORD) as (exporter, done):
        assert done.returncode == 0, done.stdout + done.stderr
        assert TOKEN not in done.stdout + done.stderr
        written = dumps(tmp_path / "var-backups-hotrod", "agent-tables-*.dump")
        assert len(written) == 1
        assert written[0].stat().st_size >= 100 * 1024
        check_dump(written[0], {"public.agent_approvals": 4000, "public.agent_queries": 3000})
        listed = subprocess.run(
            [str(pg.BIN / "pg_restore"), "--list", str(written[0])],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        tables = set(re.findall(r"TABLE DATA public (\w+) ", listed))
        assert tables == {"agent_approvals", "agent_queries"}, listed
        exporter.wait_for(
            'redline_backup_status{backup="agent-tables",status="ok"} 1.0',
            'redline_backup_verify_status{backup="agent-tables",check="pg_restore_full",'
            'status="ok"} 1.0',
            'redline_backup_verify_status{backup="agent-tables",check="sha256",status="ok"} 1.0',
            'redline_heartbeat_status{heartbeat="agent-table-backup",status="up"} 1.0',
        )


def test_a_failed_dump_is_reported_to_the_heartbeat_and_leaves_no_file(
    cluster: pg.Cluster, tmp_path: Path
) -> None:
    """A source that refuses the login: pg_dump's exit code goes to the heartbeat (down, one
    failure), no dump or temporary file is left, the password is in no message."""
    with hotrod_job_run(cluster, tmp_path, "not-the-password-9z") as (exporter, done):
        assert done.returncode == 1, done.stdout + done.stderr
        assert "password authentication failed" in done.stdout
        assert "not-the-password-9z" not in done.stdout + done.stderr
        assert TOKEN not in done.stdout + done.stderr
        assert list((tmp_path / "var-backups-hotrod").iterdir()) == []
        exporter.wait_for(
            'redline_heartbeat_status{heartbeat="agent-table-backup",status="down"} 1.0',
        )
    state = json.loads((tmp_path / "heartbeats.json").read_text())
    job = state["jobs"]["agent-table-backup"]
    assert (job["successes"], job["failures"]) == (0, 1), job


def test_the_job_refuses_what_it_cannot_derive(tmp_path: Path) -> None:
    """A clear message and exit 2, never a traceback: an unknown set or heartbeat, a token
    that is not set, a config that does not load."""
    config, _ = production_copy(tmp_path)
    env = {"REDLINE_DIRECT_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres"}
    cases = {
        ("--set", "nope"): "no backup set 'nope' in backups.files (sets: agent-tables)",
        ("--heartbeat", "nope"): "no heartbeat 'nope' in heartbeats.jobs (jobs: agent-table-backup",
        (): "heartbeat 'agent-table-backup': its token: environment variable "
        "REDLINE_HEARTBEAT_TOKEN is not set",
    }
    for extra, message in cases.items():
        done = run_job("--config", str(config), "--once", *extra, cwd=tmp_path, env=env)
        assert done.returncode == 2, (extra, done.stderr)
        assert message in done.stderr, (extra, done.stderr)
        assert "Traceback" not in done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("heartbeats: {jobs: [{name: x}]}\n")
    done = run_job("--config", str(broken), "--once", cwd=tmp_path)
    assert done.returncode == 2 and "broken.yml" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.glob("**/*.dump")) == []


# --- the demo profile's database: deploy/compose/demo_database.py --------------------------------


def test_demo_database_init_makes_what_the_demo_config_reads(tmp_path: Path) -> None:
    """Run twice (compose runs it at every start) on an empty server: the shop database with
    its schema and pg_stat_statements, the config's monitoring role logging in with its
    password file's password and reading orders, the restore role creating a database."""
    import asyncpg

    c = pg.new_cluster()
    c.start()
    try:
        text = layout.moved(
            (ROOT / "exporter" / "default.yml").read_text(),
            offset=c.port - layout.BASE_POSTGRES_PORT,
        )
        (tmp_path / "redline.yml").write_text(text)
        secrets = tmp_path / ".demo" / "secrets"
        secrets.mkdir(parents=True)
        (secrets / "postgres-password").write_text("m0nitor+pw/x\n")
        (secrets / "restore-password").write_text("rest0re+pw/y\n")
        (tmp_path / "su").write_text(SUPERUSER_PASSWORD + "\n")
        script = ROOT / "deploy" / "compose" / "demo_database.py"
        args = ["--config", "redline.yml", "--superuser-password-file", "su", "--wait", "5"]
        for _ in range(2):
            done = subprocess.run(
                [sys.executable, str(script), *args],
                cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
        assert "m0nitor+pw/x" not in done.stdout + done.stderr

        async def check() -> None:
            dsn = f"postgresql://127.0.0.1:{c.port}/{layout.POSTGRES_DB}"
            mon = await asyncpg.connect(dsn, user="redline", password="m0nitor+pw/x")
            try:
                assert await mon.fetchval("SELECT count(*) FROM orders") == 0
                assert await mon.fetchval("SELECT count(*) >= 0 FROM pg_stat_statements")
            finally:
                await mon.close()
            restore = await asyncpg.connect(
                f"postgresql://127.0.0.1:{c.port}/postgres",
                user=RESTORE_USER,
                password="rest0re+pw/y",
            )
            try:
                await restore.execute("CREATE DATABASE compose_scratch")
                await restore.execute("DROP DATABASE compose_scratch")
            finally:
                await restore.close()

        asyncio.run(check())
        assert c.psql("SELECT count(*) FROM customers", db=layout.POSTGRES_DB) == "200"
    finally:
        c.destroy()

    # a server that is not there: a clear message, no traceback
    done = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "did not answer" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
