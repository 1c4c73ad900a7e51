"""Database: the Supabase Postgres every service writes to, as redline's least-privilege role
reads it (postgres_exporter's names where the meaning is the same)."""

from dashboards import style as s
from dashboards.style import Q, m, sel, var

DB = {"database": var("database")}
RATE = s.RATE
STMT = "database, datname, user, queryid"
DB_STATS = m.PG_STAT_DATABASE_COUNTERS


def _counter(column: str) -> str:
    return sel(DB_STATS[column], **DB)


def _with_text(expr: str) -> str:
    """A per-statement series with the statement's text (label query) joined on."""
    return f"{expr}\n  * on ({STMT}) group_left (query) {sel(m.PG_STATEMENT_INFO, **DB)}"


HIT = f"sum by (database, datname) (rate({_counter('blks_hit')}[{RATE}]))"
READ = f"sum by (database, datname) (rate({_counter('blks_read')}[{RATE}]))"

health = s.row(
    "Up and connections",
    s.stat(
        "Database up",
        "UP when the database answered redline's canary query in the last scrape.",
        Q(sel(m.PG_UP, **DB), "{{database}}"),
        mappings=s.state_mappings(s.UP_DOWN),
        alerts=("PostgresDown",),
        w=6,
    ),
    s.stat(
        "Canary round trip",
        "The canary query's round trip on an open connection: the database as the app feels it.",
        Q(sel(m.PG_CANARY_DURATION, **DB), "{{database}}"),
        unit=s.SECONDS,
        w=6,
    ),
    s.stat(
        "Connections used",
        "Client connections over the slots ordinary roles may use; orange and red where "
        "PostgresConnectionsHigh opens a ticket and pages.",
        Q(sel(m.PG_CONNECTIONS_USAGE, **DB), "{{database}}"),
        unit=s.RATIO,
        thresholds=s.above("PostgresConnectionsHigh"),
        alerts=("PostgresConnectionsHigh",),
        w=6,
    ),
    s.stat(
        "Server started",
        "When the server last started: a recent start is a restart or a failover.",
        Q(f"{sel(m.PG_POSTMASTER_START, **DB)} * 1000", "{{database}}"),
        unit=s.FROM_NOW,
        w=6,
    ),
    s.timeseries(
        "Connections against the maximum",
        "Client connections (all states) and the server's max_connections.",
        Q(f"sum by (database) ({sel(m.PG_ACTIVITY_COUNT, **DB)})", "{{database}} connections"),
        Q(sel(m.PG_MAX_CONNECTIONS, **DB), "{{database}} max_connections"),
        unit=s.COUNT,
        min_=0,
        alerts=("PostgresConnectionsHigh",),
        w=8,
    ),
    s.timeseries(
        "Connections by state",
        "Client connections by state and wait event type.",
        Q(
            f"sum by (state, wait_event_type) ({sel(m.PG_ACTIVITY_COUNT, **DB)})",
            "{{state}} {{wait_event_type}}",
        ),
        unit=s.COUNT,
        stack=True,
        w=8,
    ),
    s.timeseries(
        "Idle in transaction",
        "Connections idle inside a transaction: they hold locks and, through the pooler, pin a "
        "server connection (PostgresIdleInTransaction above the dashed line).",
        Q(sel(m.PG_IDLE_IN_TRANSACTION, **DB), "{{database}}"),
        unit=s.COUNT,
        thresholds=s.above("PostgresIdleInTransaction"),
        alerts=("PostgresIdleInTransaction",),
        w=8,
    ),
)

transactions = s.row(
    "Transactions and locks",
    s.timeseries(
        "Oldest transaction and query",
        "Age of the oldest open transaction and of the oldest running query of any other "
        "connection (PostgresLongTransaction above the dashed line).",
        Q(sel(m.PG_OLDEST_TRANSACTION, **DB), "{{database}} transaction"),
        Q(sel(m.PG_OLDEST_QUERY, **DB), "{{database}} query"),
        unit=s.SECONDS,
        thresholds=s.above("PostgresLongTransaction"),
        alerts=("PostgresLongTransaction",),
        w=8,
    ),
    s.timeseries(
        "Connections waiting on a lock",
        "How many connections wait on a lock now (a count; how long the longest waits is the "
        "next panel).",
        Q(sel(m.PG_LOCK_WAITING, **DB), "{{database}}"),
        unit=s.COUNT,
        alerts=("PostgresLockWaits",),
        w=8,
    ),
    s.timeseries(
        "Longest lock wait",
        "The longest current wait for a lock, in seconds (PostgresLockWaits above the dashed "
        "line).",
        Q(sel(m.PG_LOCK_WAIT_MAX, **DB), "{{database}}"),
        unit=s.SECONDS,
        thresholds=s.above("PostgresLockWaits"),
        alerts=("PostgresLockWaits",),
        w=8,
    ),
    s.timeseries(
        "Commits and rollbacks",
        "Transactions committed and rolled back per second, per database.",
        Q(f"rate({_counter('xact_commit')}[{RATE}])", "{{datname}} commits"),
        Q(f"rate({_counter('xact_rollback')}[{RATE}])", "{{datname}} rollbacks"),
        unit=s.OPS,
        w=8,
    ),
    s.timeseries(
        "Deadlocks",
        "Deadlocks detected per second; any is an ordering bug in the app (PostgresDeadlocks).",
        Q(f"rate({_counter('deadlocks')}[{RATE}])", "{{datname}}"),
        unit=s.OPS,
        alerts=("PostgresDeadlocks",),
        w=8,
    ),
    s.timeseries(
        "Cache hit ratio",
        "Blocks found in the buffer cache over blocks needed; below the dashed line the working "
        "set no longer fits in memory (PostgresCacheHitRatioLow).",
        Q(f"{HIT}\n  / ({HIT} + {READ})", "{{datname}}"),
        unit=s.RATIO,
        thresholds=s.below("PostgresCacheHitRatioLow"),
        alerts=("PostgresCacheHitRatioLow",),
        w=8,
    ),
    s.timeseries(
        "Temporary files",
        "Bytes written to temporary files per second (work_mem too small for a query).",
        Q(f"rate({_counter('temp_bytes')}[{RATE}])", "{{datname}}"),
        unit=s.BYTES_PER_SECOND,
        w=8,
    ),
)

sizes = s.row(
    "Sizes and tables",
    s.timeseries(
        "Database size",
        "Disk space used by each database.",
        Q(sel(m.PG_DATABASE_SIZE, **DB), "{{datname}}"),
        unit=s.BYTES,
        w=8,
    ),
    s.stat(
        "Growth over the time range",
        "How much each database grew over the dashboard's time range.",
        Q(f"delta({sel(m.PG_DATABASE_SIZE, **DB)}[{s.RANGE}])", "{{datname}}"),
        unit=s.BYTES,
        w=4,
    ),
    s.timeseries(
        "Dead rows",
        "Share of dead rows of the tables with the most (bloat vacuum has not reclaimed).",
        Q(f"topk(10, {sel(m.PG_TABLE_DEAD_RATIO, **DB)})", "{{schemaname}}.{{relname}}"),
        unit=s.RATIO,
        w=12,
    ),
    s.table(
        "Largest tables",
        "The largest tables of the connected database: table and index sizes, rows, dead rows "
        "and scans.",
        Q(sel(m.PG_TABLE_SIZE, **DB)),
        Q(sel(m.PG_TABLE_INDEX_SIZE, **DB)),
        Q(sel(m.PG_TABLE_LIVE, **DB)),
        Q(sel(m.PG_TABLE_DEAD, **DB)),
        Q(f"increase({sel(m.PG_TABLE_SEQ_SCAN, **DB)}[{s.RANGE}])"),
        Q(f"increase({sel(m.PG_TABLE_IDX_SCAN, **DB)}[{s.RANGE}])"),
        join=("database", "schemaname", "relname"),
        columns={
            "Value #A": "table size",
            "Value #B": "index size",
            "Value #C": "live rows",
            "Value #D": "dead rows",
            "Value #E": "seq scans",
            "Value #F": "index scans",
        },
        sort="table size",
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": ".* size"},
                "properties": [{"id": "unit", "value": s.BYTES}],
            }
        ],
        h=9,
    ),
)

replication = s.row(
    "Replication",
    s.stat(
        "Role",
        "replica when the server is in recovery, else primary.",
        Q(sel(m.PG_IS_REPLICA, **DB), "{{database}}"),
        mappings=s.state_mappings({"primary": s.OK, "replica": s.INFO}),
        w=4,
    ),
    s.timeseries(
        "Replication lag",
        "On a replica, seconds since the last replayed transaction was committed on the primary "
        "(PostgresReplicationLag above the dashed line).",
        Q(sel(m.PG_REPLICATION_LAG, **DB), "{{database}}"),
        unit=s.SECONDS,
        thresholds=s.above("PostgresReplicationLag"),
        alerts=("PostgresReplicationLag",),
        w=10,
    ),
    s.timeseries(
        "WAL kept by replication slots",
        "WAL each slot makes the server keep; an inactive slot that grows fills the disk.",
        Q(sel(m.PG_SLOT_RETAINED, **DB), "{{slot_name}}"),
        unit=s.BYTES,
        w=10,
    ),
    s.stat(
        "Replication slots",
        "Whether a client is connected to each replication slot (an inactive slot keeps WAL).",
        Q(sel(m.PG_SLOT_ACTIVE, **DB), "{{slot_name}} ({{slot_type}})"),
        mappings=s.state_mappings({"inactive": s.WARNING, "active": s.OK}),
        w=24,
    ),
)

statements = s.row(
    "Statements",
    s.table(
        "Top statements by total time",
        "The statements that took the most execution time over the time range "
        "(pg_stat_statements), with their text, calls and mean time "
        "(PostgresStatementRegressed watches their means).",
        Q(_with_text(f"topk(10, increase({sel(m.PG_STATEMENT_SECONDS, **DB)}[{s.RANGE}]))")),
        Q(_with_text(f"increase({sel(m.PG_STATEMENT_CALLS, **DB)}[{s.RANGE}])")),
        Q(_with_text(sel(m.PG_STATEMENT_MEAN, **DB))),
        join=("database", "datname", "user", "queryid", "query"),
        columns={"Value #A": "total time", "Value #B": "calls", "Value #C": "mean time"},
        hide=("queryid",),
        sort="total time",
        overrides=[
            {
                "matcher": {"id": "byRegexp", "options": ".* time"},
                "properties": [{"id": "unit", "value": s.SECONDS}],
            }
        ],
        alerts=("PostgresStatementRegressed",),
        h=10,
    ),
    s.state_stat(
        "Custom queries",
        "The state of each custom SQL query of the config (ok, error, timeout, bad_result, "
        "too_many_rows).",
        Q(
            s.state_code(m.PG_QUERY_STATUS, "status", s.QUERY_STATES, ("database", "query"), **DB),
            "{{database}} {{query}}",
        ),
        states=s.QUERY_STATES,
        w=24,
    ),
)

dashboard = s.dashboard(
    "database",
    "Is the database answering, and what is it short of: connections, locks, cache, space, "
    "replicas, or a slow statement?",
    [health, transactions, sizes, replication, statements],
    variables=[s.variable("database", "Database", m.PG_UP, "database")],
)
