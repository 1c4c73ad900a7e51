"""Where every part of ``make demo`` lives: one place for its addresses, ports and files, read by
the runner, the fault controls, the drills, the jobs and the demo profile of the generated
configs (exporter/rules/demo.py).

Everything listens on 127.0.0.1 only. Paths are under ``.demo/`` at the top of the repository;
exporter/default.yml names the same files relatively (``.demo/backups``, ...), which is why the
runner starts the exporter in the repository's top directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"

EXPORTER_PORT = 9877
PROMETHEUS_PORT = 9090
RECEIVER_PORT = 9097
PLATFORM_PORT = 13004  # Fly's and Supabase's stand-in (exporter/demo/platform.py)
POSTGRES_PORT = 15432  # exporter/default.yml's databases[0] connects here
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
ALERTMANAGERS = (Peer("alertmanager-a", 9093, 9094), Peer("alertmanager-b", 9095, 9096))

# exporter/default.yml's heartbeat and backup set of the demo's backup job
HEARTBEAT_TOKEN = "demo-heartbeat-token"  # the demo's fixed token (loopback only); not a secret
BACKUP_HEARTBEAT = "shop-backup"
BACKUP_SET = "shop"
# exporter/default.yml's database entry the services depend_on (the pooler view): its outage
# pages; the direct entry's is a ticket
SERVICES_DATABASE = "supabase-pooler"
BACKUP_GLOB_PREFIX = "shop-"  # files shop-<UTC time>.dump, as the set's glob says


def repo() -> Path:
    """The repository holding this package (an editable install), else the working directory."""
    top = Path(__file__).resolve().parents[2]
    return top if (top / "pyproject.toml").exists() else Path.cwd()


STATE_DIR = repo() / ".demo"
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
