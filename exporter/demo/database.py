"""The demo's PostgreSQL: a real PostgreSQL 15 on 127.0.0.1:15432 made the way the tests make
theirs (tests/pg.py: a copy of an initdb'd template, pg_stat_statements preloaded, run as the
``postgres`` user when we are root), holding the shop of exporter/demo/workload.py.

The cluster lives in a temporary directory; ``.demo/postgres.json`` says where, so the fault
controls can stop and start it and ``make demo-stop`` can remove it. The exporter reads it as the
least-privilege role ``redline`` (pg_monitor) with a password made at creation and kept in
``.demo/secrets/postgres-password`` (exporter/default.yml's ``password_file``); the demo's own
jobs (workload, backups) connect as the superuser over the unix socket.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from exporter.demo import layout

STATE = layout.STATE_DIR / "postgres.json"
PASSWORD_FILE = layout.SECRETS_DIR / "postgres-password"
# The restore test's least-privilege role (docs/backups.md): LOGIN CREATEDB, nothing more; it
# restores the shop's dumps into scratch databases of its own on this same server.
RESTORE_USER = "redline_restore"
RESTORE_PASSWORD_FILE = layout.SECRETS_DIR / "restore-password"


def _pg() -> ModuleType:
    """tests/pg.py, which starts the tests' PostgreSQL: the demo's is made the same way. It is
    no part of the installed package, so it is imported from the checkout (as make generate
    imports dashboards/)."""
    root = str(layout.repo())
    if root not in sys.path:
        sys.path.insert(0, root)
    from tests import pg

    return pg


def cluster() -> Any | None:
    """The demo's cluster (a tests/pg.py Cluster), or None if the demo made none."""
    try:
        state = json.loads(STATE.read_text())
    except (OSError, ValueError):
        return None
    base = Path(state["base"])
    if not (base / "data").exists():
        STATE.unlink(missing_ok=True)
        return None
    return _pg().Cluster(base, int(state["port"]))


def socket_dsn(c: Any, db: str = layout.POSTGRES_DB) -> str:
    """The superuser over the unix socket (trust): the demo's jobs, never the exporter."""
    return f"postgresql://postgres@/{db}?host={c.sockdir}&port={c.port}"


def running() -> bool:
    c = cluster()
    return c is not None and bool(c.running())


def create(schema_sql: str) -> Any:
    """A new cluster on the demo's port with the shop database, its schema and seed data, the
    exporter's role with a fresh password, and pg_stat_statements in the shop database."""
    pg = _pg()
    c = pg.new_cluster(port=layout.POSTGRES_PORT)
    STATE.parent.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps({"base": str(c.base), "port": c.port}) + "\n")
    c.start()
    c.psql(f"CREATE DATABASE {layout.POSTGRES_DB}")
    c.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", db=layout.POSTGRES_DB)
    c.psql(schema_sql, db=layout.POSTGRES_DB)
    # the one table default.yml's custom query reads; pg_monitor covers the statistics
    c.psql(f"GRANT SELECT ON orders TO {pg.MONITOR_USER}", db=layout.POSTGRES_DB)
    password = secrets.token_urlsafe(18)
    c.psql(f"ALTER ROLE {pg.MONITOR_USER} PASSWORD '{password}'")
    _write_secret(PASSWORD_FILE, password)
    restore_password = secrets.token_urlsafe(18)
    c.psql(f"CREATE ROLE {RESTORE_USER} LOGIN CREATEDB PASSWORD '{restore_password}'")
    _write_secret(RESTORE_PASSWORD_FILE, restore_password)
    return c


def _write_secret(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")


def start() -> None:
    c = cluster()
    if c is not None and not c.running():
        c.start()


def stop(mode: str = "fast") -> None:
    c = cluster()
    if c is not None and c.running():
        c.stop(mode)


def destroy() -> None:
    c = cluster()
    if c is not None:
        c.destroy()
    STATE.unlink(missing_ok=True)
    PASSWORD_FILE.unlink(missing_ok=True)
    RESTORE_PASSWORD_FILE.unlink(missing_ok=True)
