"""docker-compose.yml's demo database: the shop that ``make demo`` creates
(exporter/demo/database.py), made in the compose profile's PostgreSQL from the config the
exporter runs (exporter/default.yml), so names and passwords are the ones it reads:

- the database its ``databases`` entries connect to, with the demo's shop schema and seed rows
  (exporter/demo/workload.py ``SCHEMA``) and pg_stat_statements;
- each entry's role (LOGIN, pg_monitor, ``SELECT`` on orders, the one table its custom query
  reads) with the password of the entry's ``password_file``;
- each restore test's role (LOGIN CREATEDB, nothing more) with its ``password_file``'s.

In compose those files are the Docker secrets mounted where the config names them
(``/src/.demo/secrets/...``). Idempotent: run at every start, it sets the passwords again (a
rotated secret takes effect) and creates only what is missing. Connects as the superuser with
the password in ``--superuser-password-file``; waits up to ``--wait`` seconds for the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import asyncpg

from exporter.config import ConfigError, load_config
from exporter.demo.workload import SCHEMA
from exporter.secrets import MissingSecret, Redactor, SecretSource


class InitError(Exception):
    pass


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def roles(config_path: str) -> tuple[str, int, str, dict[str, str], dict[str, str]]:
    """(host, port, database, monitoring roles, restore roles) with their passwords."""
    try:
        config, _ = load_config(config_path)
    except ConfigError as e:
        raise InitError(str(e)) from None
    secrets = SecretSource(Redactor())
    monitors: dict[str, str] = {}
    where: set[tuple[str, int, str]] = set()
    try:
        for entry in config.databases:
            url = urllib.parse.urlsplit(secrets.resolve(entry.dsn or entry.dsn_file))
            where.add((url.hostname or "", url.port or 5432, url.path.lstrip("/")))
            monitors[url.username or ""] = secrets.resolve(entry.password or entry.password_file)
        restorers = {}
        for test in config.backups.restore.tests:
            url = urllib.parse.urlsplit(secrets.resolve(test.server.dsn or test.server.dsn_file))
            password = secrets.resolve(test.server.password or test.server.password_file)
            restorers[url.username or ""] = password
    except MissingSecret as e:
        raise InitError(str(e)) from None
    if len(where) != 1:
        raise InitError(f"the databases entries name {len(where)} servers/databases, not one")
    host, port, database = where.pop()
    if "" in monitors or "" in restorers or not all([*monitors.values(), *restorers.values()]):
        raise InitError("every database entry and restore test needs a user and a password")
    return host, port, database, monitors, restorers


async def init(args: argparse.Namespace) -> None:
    host, port, database, monitors, restorers = roles(args.config)
    password = Path(args.superuser_password_file).read_text().splitlines()[0].strip()
    deadline = time.monotonic() + args.wait
    while True:
        try:
            conn: Any = await asyncpg.connect(
                host=host, port=port, user="postgres", password=password, database="postgres"
            )
            break
        except (OSError, asyncpg.CannotConnectNowError) as e:
            if time.monotonic() > deadline:
                raise InitError(f"the server at {host}:{port} did not answer: {e}") from None
            await asyncio.sleep(1.0)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f"CREATE DATABASE {_ident(database)}")
        for user, secret in {**monitors, **restorers}.items():
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user):
                await conn.execute(f"CREATE ROLE {_ident(user)} LOGIN")
            await conn.execute(f"ALTER ROLE {_ident(user)} PASSWORD {_literal(secret)}")
        for user in monitors:
            await conn.execute(f"ALTER ROLE {_ident(user)} CONNECTION LIMIT 5")
            await conn.execute(f"GRANT pg_monitor TO {_ident(user)}")
        for user in restorers:
            await conn.execute(f"ALTER ROLE {_ident(user)} CREATEDB")
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await conn.close()
    shop = await asyncpg.connect(
        host=host, port=port, user="postgres", password=password, database=database
    )
    try:
        await shop.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await shop.execute(SCHEMA)
        for user in monitors:
            await shop.execute(f"GRANT SELECT ON orders TO {_ident(user)}")
    finally:
        await shop.close()
    print(
        f"demo database {database} on {host}:{port}: roles {', '.join(sorted(monitors))} "
        f"(pg_monitor), {', '.join(sorted(restorers))} (CREATEDB)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="demo_database.py", description=__doc__)
    parser.add_argument("--config", required=True, help="the config the exporter runs")
    parser.add_argument("--superuser-password-file", required=True)
    parser.add_argument("--wait", type=float, default=60.0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(init(args))
    except (InitError, OSError, asyncpg.PostgresError) as e:
        print(f"demo_database: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
