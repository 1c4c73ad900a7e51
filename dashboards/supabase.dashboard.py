"""Supabase instance: the database server behind every service, from Supabase's own metrics
(scraped by the generated supabase job, names prefixed supabase_): CPU, memory, the /data disk,
connections against max_connections, the pooler and replication."""

from dashboards import style as s
from dashboards.style import Q, m, sel

RATE = s.RATE
DATA = {"mountpoint": "/data"}

instance = s.row(
    "The instance",
    s.timeseries(
        "CPU busy",
        "Share of the instance's CPU time not idle, all CPUs; orange above SupabaseCPUHigh's "
        "threshold.",
        Q(
            f"1 - avg by (supabase_project_ref) (rate({sel(m.SUPA_CPU, mode='idle')}[{RATE}]))",
            "{{supabase_project_ref}}",
        ),
        unit=s.RATIO,
        max_=1,
        thresholds=s.above("SupabaseCPUHigh"),
        alerts=("SupabaseCPUHigh",),
        w=8,
    ),
    s.timeseries(
        "Memory used",
        "1 - MemAvailable / MemTotal of the instance; orange above SupabaseMemoryHigh's threshold.",
        Q(
            f"1 - {sel(m.SUPA_MEM_AVAILABLE)} / {sel(m.SUPA_MEM_TOTAL)}",
            "{{supabase_project_ref}}",
        ),
        unit=s.RATIO,
        max_=1,
        thresholds=s.above("SupabaseMemoryHigh"),
        alerts=("SupabaseMemoryHigh",),
        w=8,
    ),
    s.timeseries(
        "Disk used (/data)",
        "Share of /data, the disk Postgres writes to, in use; a full disk makes the database "
        "read-only (SupabaseDiskFull: ticket, then page).",
        Q(f"1 - {sel(m.SUPA_FS_AVAIL, **DATA)} / {sel(m.SUPA_FS_SIZE, **DATA)}", "/data"),
        unit=s.RATIO,
        max_=1,
        thresholds=s.above("SupabaseDiskFull"),
        alerts=("SupabaseDiskFull",),
        w=8,
    ),
)

postgres = s.row(
    "Postgres and the pooler",
    s.timeseries(
        "Connections against max_connections",
        "Connections to the server and its limit (pg_settings_max_connections; where Supabase "
        "does not publish it, platform.supabase.max_connections in config/hotrod.yml is the "
        "limit the alert uses).",
        Q(f"sum({sel(m.SUPA_BACKENDS)})", "connections"),
        Q(f"max({sel(m.SUPA_MAX_CONNECTIONS)})", "max_connections"),
        unit=s.COUNT,
        alerts=("SupabaseConnectionsHigh",),
        w=8,
    ),
    s.timeseries(
        "Pooler clients waiting",
        "Clients waiting for a server connection in the pooler (SupabasePoolerSaturated), and "
        "whether the pooler answers.",
        Q(f"sum({sel(m.SUPA_POOLER_WAITING)})", "waiting"),
        Q(f"max({sel(m.SUPA_POOLER_UP)})", "pooler up"),
        unit=s.COUNT,
        alerts=("SupabasePoolerSaturated",),
        w=8,
    ),
    s.timeseries(
        "Replication lag",
        "How far the read replica is behind the primary (SupabaseReplicationLag).",
        Q(sel(m.SUPA_REPLICATION_LAG), "{{server}}"),
        unit=s.SECONDS,
        thresholds=s.above("SupabaseReplicationLag"),
        alerts=("SupabaseReplicationLag",),
        w=8,
    ),
    s.timeseries(
        "Database size",
        "Size of each database on the instance.",
        Q(f"{sel(m.SUPA_DB_SIZE)} > 0", "{{datname}}"),
        unit=s.BYTES,
        w=24,
    ),
)

dashboard = s.dashboard(
    "supabase",
    "The Supabase instance behind every service: CPU, memory, the /data disk, connections, the "
    "pooler and replication, from Supabase's own metrics.",
    [instance, postgres],
)
