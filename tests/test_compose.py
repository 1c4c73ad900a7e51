"""docker-compose.yml's secrets, checked by parsing it (no Docker engine runs here; the Compose
schema, mounts and addresses are checked in tests/test_dashboards.py): no password is written
in it, every secret is a file in the git-ignored secrets directory that a service mounts and
reads from /run/secrets, and the exporter's password file is made by deploy/compose/pgpass.sh,
which is run here against a real PostgreSQL.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from tests import pg

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
PGPASS = ROOT / "deploy" / "compose" / "pgpass.sh"
SECRETS_DIR = "${REDLINE_SECRETS_DIR:-./.secrets}"
# an environment variable that holds a credential by its name
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|PRIVATE_KEY", re.IGNORECASE)
URL_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")  # scheme://user:password@host


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _environment(service: dict[str, Any]) -> Iterator[tuple[str, str | None]]:
    env = service.get("environment", {})
    if isinstance(env, dict):
        yield from ((k, None if v is None else str(v)) for k, v in env.items())
    else:
        for entry in env:
            name, sep, value = entry.partition("=")
            yield name, value if sep else None  # no "=": passed on from the shell


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def written_passwords(data: dict[str, Any]) -> list[str]:
    """Every password the file writes itself: a credential variable with a value (or a default
    value) that is not a file under /run/secrets, and any URL with a password in it."""
    found = []
    for name, service in data["services"].items():
        for var, value in _environment(service):
            if value is None or not SECRET_NAME.search(var):
                continue
            if var.endswith("_FILE") and value.startswith("/run/secrets/"):
                continue
            if re.fullmatch(r"\$\{[A-Z_]+\}", value):  # from the shell, no default
                continue
            found.append(f"{name}: {var}={value}")
    found += [f"URL with a password: {s}" for s in _strings(data) if URL_PASSWORD.search(s)]
    return found


def test_no_password_is_written_in_the_compose_file() -> None:
    assert written_passwords(compose()) == []


def test_the_check_finds_a_written_password() -> None:
    """The check has teeth: the forms the file once had (a password in the Postgres service,
    in the database URL's default, and as Grafana's default) are each found."""
    data = compose()
    data["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] = "redline-demo"
    data["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] = (
        "${GRAFANA_ADMIN_PASSWORD:-admin}"
    )
    data["services"]["exporter"]["environment"].append(
        "X_URL=${X_URL:-postgresql://postgres:redline-demo@127.0.0.1:5432/postgres}"
    )
    found = written_passwords(data)
    assert len(found) == 3, found


def test_every_secret_is_a_file_in_the_ignored_directory_that_a_service_reads() -> None:
    data = compose()
    declared = data["secrets"]
    used: set[str] = set()
    for name, service in data["services"].items():
        mounted = {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}
        assert mounted <= set(declared), f"{name} mounts undeclared secrets"
        used |= mounted
        # a *_FILE variable names a secret this service mounts
        for var, value in _environment(service):
            if var.endswith("_FILE") and value and value.startswith("/run/secrets/"):
                assert value.removeprefix("/run/secrets/") in mounted, (name, var)
    assert used == set(declared), f"declared, never mounted: {set(declared) - used}"
    for secret, spec in declared.items():
        assert spec == {"file": f"{SECRETS_DIR}/{secret}"}, secret
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".secrets/" in ignored
    postgres = data["services"]["postgres"]
    assert dict(_environment(postgres))["POSTGRES_PASSWORD_FILE"] == (
        "/run/secrets/postgres-password"
    )


def test_the_exporter_reads_the_database_password_from_the_secret() -> None:
    exporter = compose()["services"]["exporter"]
    assert "postgres-password" in exporter["secrets"]
    assert "./deploy/compose/pgpass.sh:/usr/local/bin/pgpass.sh:ro" in exporter["volumes"]
    script = " ".join(exporter["command"])
    assert (
        "/usr/local/bin/pgpass.sh /run/secrets/postgres-password /tmp/pgpass 127.0.0.1 5432 "
        "postgres &&" in script
    )
    env = dict(_environment(exporter))
    assert env["PGPASSFILE"] == "/tmp/pgpass"
    # the default URLs name the user and host the password file is written for
    for var in ("REDLINE_DIRECT_DATABASE_URL", "REDLINE_DATABASE_URL"):
        assert ":-postgresql://postgres@127.0.0.1:5432/" in str(env[var]), var


# --- deploy/compose/pgpass.sh, run --------------------------------------------------------------

ROLE = "compose_pgpass"
PASSWORD = "pA+s/w0rd=Zq8 x"  # what `openssl rand -base64` writes, and a space


@pytest.fixture(scope="module")
def cluster() -> pg.Cluster:
    c = pg.shared_cluster()
    c.psql(f"DROP ROLE IF EXISTS {ROLE}; CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
    return c


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(PGPASS), *args], capture_output=True, text=True, timeout=10, check=False
    )


async def test_pgpass_lets_asyncpg_log_in_without_a_password_in_the_url(
    cluster: pg.Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "postgres-password"
    secret.write_text(PASSWORD + "\n")  # as `openssl rand ... > file` leaves it: a newline
    out = tmp_path / "pgpass"
    done = _run(str(secret), str(out), "127.0.0.1", str(cluster.port), ROLE)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text() == f"127.0.0.1:{cluster.port}:*:{ROLE}:{PASSWORD}\n"

    dsn = f"postgresql://{ROLE}@127.0.0.1:{cluster.port}/postgres?sslmode=disable"
    monkeypatch.setenv("PGPASSFILE", str(out))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        assert await conn.fetchval("SELECT current_user") == ROLE
    finally:
        await conn.close()
    # and without it, the same URL is refused: the password came from the file
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(dsn, timeout=5)


def test_pgpass_refuses_a_missing_or_empty_secret(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    done = _run(str(missing), str(tmp_path / "out"), "127.0.0.1", "5432", "postgres")
    assert done.returncode == 1
    assert done.stderr == (
        f"pgpass.sh: cannot read the secret file {missing} (docker-compose.yml's header says "
        "how to create it)\n"
    )
    empty = tmp_path / "empty"
    empty.write_text("\n")
    done = _run(str(empty), str(tmp_path / "out"), "127.0.0.1", "5432", "postgres")
    assert (done.returncode, done.stderr) == (1, f"pgpass.sh: the secret file {empty} is empty\n")
    assert not (tmp_path / "out").exists()
    # asyncpg reads pgpass escapes as part of the password: refused here, not at login
    for bad in ("a:b", "a\\b"):
        empty.write_text(bad + "\n")
        done = _run(str(empty), str(tmp_path / "out"), "127.0.0.1", "5432", "postgres")
        assert done.returncode == 1 and "holds ':' or '\\'" in done.stderr, done.stderr
        assert not (tmp_path / "out").exists()
    assert _run().returncode == 2
    assert os.access(PGPASS, os.X_OK)


# --- every reference resolves; backups and heartbeats; the configs it runs -----------------------

DEMO_CONFIG = "/src/exporter/default.yml"  # the header's `REDLINE_CONFIG=... --profile demo`


def _volumes(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read-only) of every volume entry."""
    out = []
    for v in service.get("volumes", []):
        parts = v.split(":")
        out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def test_every_reference_in_the_compose_file_resolves() -> None:
    data = compose()
    named = set(data["volumes"])
    used: set[str] = set()
    for name, service in data["services"].items():
        for s in service.get("secrets", []):
            source = s if isinstance(s, str) else s["source"]
            assert source in data["secrets"], f"{name}: undeclared secret {source}"
            if isinstance(s, dict) and "target" in s:
                assert s["target"].startswith("/"), (name, s)
        for source, target, _ in _volumes(service):
            assert target.startswith("/"), (name, target)
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}, not in the repository"
            else:
                assert source in named, f"{name}: undeclared volume {source}"
                used.add(source)
        for dep in service.get("depends_on", []):
            assert dep in data["services"], f"{name} depends on unknown {dep}"
            # a service of every profile cannot wait for one that runs in the demo only
            if not service.get("profiles"):
                assert not data["services"][dep].get("profiles"), (name, dep)
    assert used == named, f"declared, never mounted: {named - used}"


def _repo_path(container: str) -> Path:
    """The repository file an exporter's container path is, through its bind mounts."""
    for source, target, _ in _volumes(compose()["services"]["exporter"]):
        if source.startswith(".") and (container + "/").startswith(target + "/"):
            return ROOT / source / container.removeprefix(target).lstrip("/")
    raise AssertionError(f"{container} is mounted from no file of the repository")


def _configs() -> list[str]:
    env = dict(_environment(compose()["services"]["exporter"]))
    default = re.fullmatch(r"\$\{REDLINE_CONFIG:-(.+)\}", str(env["REDLINE_CONFIG"]))
    assert default is not None
    assert f"REDLINE_CONFIG={DEMO_CONFIG} docker compose --profile demo" in COMPOSE.read_text()
    return [default.group(1), DEMO_CONFIG]


def test_the_configs_the_exporter_runs_are_mounted_and_pass_redline_check() -> None:
    for container in _configs():
        path = _repo_path(container)
        assert path.exists(), container
        done = subprocess.run(
            [sys.executable, "-m", "exporter", "check", str(path)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{path.relative_to(ROOT)}: OK" in done.stdout or ": OK" in done.stdout


def test_what_nobody_confirmed_of_the_backup_stays_listed_by_redline_check() -> None:
    """The production backup the compose job imitates (directory, file names, 03:00 UTC) is a
    proposal: `redline check config/hotrod.yml` lists it to confirm."""
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "check", str(ROOT / "config" / "hotrod.yml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    listed = [line.split(" = ")[0].split(": ", 1)[-1] for line in done.stdout.splitlines()]
    assert "backups.files[agent-tables]" in listed, done.stdout
    assert "heartbeats.jobs" in listed, done.stdout


def test_the_backup_job_runs_the_exporters_config_and_shares_its_dumps() -> None:
    """backup-job reads the same REDLINE_CONFIG from the same /src, pings the exporter, and
    writes every set directory of both configs into a volume the exporter mounts read-only."""
    from exporter.config import load_config

    data = compose()
    job, exporter = data["services"]["backup-job"], data["services"]["exporter"]
    job_env, exporter_env = dict(_environment(job)), dict(_environment(exporter))
    assert job_env["REDLINE_CONFIG"] == exporter_env["REDLINE_CONFIG"]
    assert job["working_dir"] == exporter["working_dir"] == "/src"
    script = " ".join(job["command"])
    assert 'python /usr/local/bin/backup_job.py --config "$$REDLINE_CONFIG"' in script
    assert "--password-file /run/secrets/postgres-password" in script
    assert "--exporter http://127.0.0.1:9877" in script
    assert "127.0.0.1:9877" in " ".join(exporter["command"])
    assert "postgres-password" in job["secrets"]
    assert "./deploy/compose/backup_job.py:/usr/local/bin/backup_job.py:ro" in job["volumes"]
    writes = {t: s for s, t, ro in _volumes(job) if not ro and not s.startswith(".")}
    reads = {t: s for s, t, ro in _volumes(exporter) if ro and not s.startswith(".")}
    for container in _configs():
        config, _ = load_config(_repo_path(container))
        for backup in config.backups.files:
            directory = str(Path("/src", backup.directory))  # relative: from working_dir
            assert directory in writes, (container, directory)
            assert reads.get(directory) == writes[directory], (container, directory)


def test_the_demo_password_files_are_secrets_where_the_demo_config_reads_them() -> None:
    from exporter.config import load_config

    data = compose()
    config, _ = load_config(_repo_path(DEMO_CONFIG))
    files = {str(Path("/src", d.password_file.path)) for d in config.databases if d.password_file}
    files |= {
        str(Path("/src", t.server.password_file.path))
        for t in config.backups.restore.tests
        if t.server.password_file
    }
    assert len(files) == 2, files
    for name in ("exporter", "demo-db-init"):
        targets = {s["target"] for s in data["services"][name]["secrets"] if isinstance(s, dict)}
        assert files <= targets, (name, files - targets)
    demo = data["services"]["demo-postgres"]
    assert demo["profiles"] == ["demo"]
    assert "port=15432" in demo["command"]
    assert dict(_environment(demo))["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres-password"
