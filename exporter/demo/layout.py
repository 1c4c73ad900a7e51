"""Where every part of ``make demo`` lives: one place for its addresses, ports and files, read by
the runner, the fault controls, the drills, the jobs and the demo profile of the generated
configs (exporter/rules/demo.py).

Everything listens on 127.0.0.1 only. Paths are under ``.demo/`` at the top of the repository;
exporter/default.yml names the same files relatively (``.demo/backups``, ...), which is why the
runner starts the exporter in the repository's top directory.

Every port is a base port plus ``REDLINE_DEMO_PORT_OFFSET`` (default 0), read once here, so
several demos on one machine (two checkouts, or the test suite's stacks side by side) each run
without meeting on a port or a file: ``REDLINE_DEMO_PORT_OFFSET=100 make demo`` puts the exporter
on 9977, Prometheus on 9190, the stand-ins on 13100..., its state in ``.demo-100/`` instead of
``.demo/``, and the exporter's config is exporter/default.yml with its loopback ports and its
``.demo/`` paths moved the same way (:func:`as_run`, written to ``.demo-100/redline.yml`` by
the runner).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
OFFSET_VARIABLE = "REDLINE_DEMO_PORT_OFFSET"

# The ports with no offset: the ones exporter/default.yml, docs/demo.md and the stand-ins' table
# name. Every port of the demo is one of these plus the offset.
BASE_EXPORTER_PORT = 9877
BASE_PROMETHEUS_PORT = 9090
BASE_ALERTMANAGER_PORTS = ((9093, 9094), (9095, 9096))  # (web, gossip) of each peer
BASE_RECEIVER_PORT = 9097
BASE_PLATFORM_PORT = 13004  # Fly's and Supabase's stand-in (exporter/demo/platform.py)
BASE_POSTGRES_PORT = 15432  # exporter/default.yml's databases connect here
# The stand-ins of the services (exporter/demo/standins.py), as exporter/default.yml's URLs name
# them.
BASE_STANDIN_PORTS: dict[str, int] = {
    "hotdash-app": 13000,
    "agent-service": 18787,
    "llamaindex-mcp": 18080,
    "chatwoot": 13001,
    "shopify": 13002,
    "vendor-status": 13003,
}
_BASE_PORTS = (
    BASE_EXPORTER_PORT,
    BASE_PROMETHEUS_PORT,
    *(p for pair in BASE_ALERTMANAGER_PORTS for p in pair),
    BASE_RECEIVER_PORT,
    BASE_PLATFORM_PORT,
    BASE_POSTGRES_PORT,
    *BASE_STANDIN_PORTS.values(),
)
MAX_OFFSET = 65535 - max(_BASE_PORTS)


def port_offset(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    """The offset of every demo port: ``REDLINE_DEMO_PORT_OFFSET``, 0 when unset or empty.

    Raises ValueError naming the variable when it is not a whole number in 0..MAX_OFFSET."""
    raw = environ.get(OFFSET_VARIABLE, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_OFFSET:
        raise ValueError(
            f"{OFFSET_VARIABLE}={raw!r}: must be a whole number from 0 to {MAX_OFFSET} "
            "(added to every port of the demo)"
        )
    return value


try:
    OFFSET = port_offset()
except ValueError as _e:
    # read when the demo's modules are imported: a wrong value stops here, before anything
    # listens anywhere, with the variable named (not a traceback)
    sys.exit(f"redline demo: {_e}")

EXPORTER_PORT = BASE_EXPORTER_PORT + OFFSET
PROMETHEUS_PORT = BASE_PROMETHEUS_PORT + OFFSET
RECEIVER_PORT = BASE_RECEIVER_PORT + OFFSET
PLATFORM_PORT = BASE_PLATFORM_PORT + OFFSET
POSTGRES_PORT = BASE_POSTGRES_PORT + OFFSET
STANDIN_PORTS: dict[str, int] = {name: p + OFFSET for name, p in BASE_STANDIN_PORTS.items()}
POSTGRES_DB = "shop"


@dataclass(frozen=True)
class Peer:
    """One Alertmanager of the demo's cluster: its web port and its gossip port."""

    name: str
    port: int
    cluster_port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


# Two peers gossiping on loopback; Prometheus sends every alert to both (never to one of them).
ALERTMANAGERS = tuple(
    Peer(name, web + OFFSET, gossip + OFFSET)
    for name, (web, gossip) in zip(
        ("alertmanager-a", "alertmanager-b"), BASE_ALERTMANAGER_PORTS, strict=True
    )
)

# exporter/default.yml's heartbeat and backup set of the demo's backup job
HEARTBEAT_TOKEN = "demo-heartbeat-token"  # the demo's fixed token (loopback only); not a secret
BACKUP_HEARTBEAT = "shop-backup"
BACKUP_SET = "shop"
# exporter/default.yml's database entry the services depend_on (the pooler view): its outage
# pages; the direct entry's is a ticket
SERVICES_DATABASE = "supabase-pooler"
BACKUP_GLOB_PREFIX = "shop-"  # files shop-<UTC time>.dump, as the set's glob says


def state_name(offset: int) -> str:
    """The state directory's name (at the top of the repository) of the demo at ``offset``."""
    return ".demo" if not offset else f".demo-{offset}"


def repo() -> Path:
    """The repository holding this package (an editable install), else the working directory."""
    top = Path(__file__).resolve().parents[2]
    return top if (top / "pyproject.toml").exists() else Path.cwd()


# .demo/ with no offset (what exporter/default.yml names), .demo-<offset>/ with one: a demo's pid
# files, database and notifications are its own
STATE_NAME = state_name(OFFSET)
STATE_DIR = repo() / STATE_NAME
LOG_DIR = STATE_DIR / "logs"  # the stand-ins' Fly-style NDJSON logs (default.yml: logs)
BACKUP_DIR = STATE_DIR / "backups"  # the backup job's dumps (default.yml: backups)
SECRETS_DIR = STATE_DIR / "secrets"  # the demo database's monitoring password
NOTIFICATIONS = STATE_DIR / "notifications.jsonl"
# exporter/default.yml's platform token and key files; the demo's fixed values (loopback only),
# not secrets. Prometheus's generated jobs and the exporter read them as production reads Fly's
# token and Supabase's key.
FLY_TOKEN_FILE = SECRETS_DIR / "fly-token"
SUPABASE_KEY_FILE = SECRETS_DIR / "supabase-key"
FLY_TOKEN = "demo-fly-token"
SUPABASE_KEY = "demo-supabase-service-role-key"
PLATFORM_URL = f"http://{HOST}:{PLATFORM_PORT}"  # every notification the receiver got
REPORTS_DIR = STATE_DIR / "drills"  # drill reports (Markdown)
BACKUP_FAULT_FILE = STATE_DIR / "backup-job.fault"  # "failing": the job's pg_dump fails

EXPORTER_URL = f"http://{HOST}:{EXPORTER_PORT}"
PROMETHEUS_URL = f"http://{HOST}:{PROMETHEUS_PORT}"
RECEIVER_URL = f"http://{HOST}:{RECEIVER_PORT}"


_LOOPBACK_PORT = re.compile(r"(?<=127\.0\.0\.1:)(\d+)\b")
# a relative path into the state directory, as exporter/default.yml writes them (.demo/logs/...)
_STATE_PATH = re.compile(r"(?<![\w./-])\.demo/")


def moved(text: str, offset: int | None = None) -> str:
    """``text`` (exporter/default.yml) with each ``127.0.0.1:PORT`` of a demo base port moved by
    ``offset`` (the layout's by default); other ports stay as written."""
    shift = OFFSET if offset is None else offset
    if not shift:
        return text
    bases = set(_BASE_PORTS)

    def move(m: re.Match[str]) -> str:
        port = int(m.group(1))
        return str(port + shift) if port in bases else m.group(1)

    return _LOOPBACK_PORT.sub(move, text)


def relocated(text: str, offset: int | None = None) -> str:
    """``text`` with each relative ``.demo/`` path in the state directory of the demo at
    ``offset`` (the layout's by default); other paths stay as written."""
    shift = OFFSET if offset is None else offset
    return _STATE_PATH.sub(f"{state_name(shift)}/", text) if shift else text


def as_run(text: str) -> str:
    """exporter/default.yml as the demo at this layout's offset runs it: its demo ports moved
    and its state paths in this demo's directory (the runner writes it to ``redline.yml``)."""
    return relocated(moved(text))
