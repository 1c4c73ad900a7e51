"""Every metric name redline exposes, defined once.

Collectors, the docs generator (docs/metrics.md), dashboards and rule generators import these
objects instead of spelling names. Names follow docs/architecture.md, "Naming": blackbox_exporter's
``probe_*`` where the meaning is the same, otherwise ``redline_<area>_<what>_<unit>``.

Every series about a configured probe carries ``service`` and ``probe`` (the names from the
config), so cardinality is bounded by the config, never by what a target answers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    type: str  # gauge | counter | histogram | stateset | info
    help: str
    labels: tuple[str, ...] = ()


P = ("service", "probe")

# --- probe results (common to every probe kind; owned by the probe wrapper) -------------------
PROBE_SUCCESS = Metric("probe_success", "gauge", "1 if the probe succeeded, else 0.", P)
PROBE_DURATION = Metric(
    "probe_duration_seconds", "gauge", "How long the probe took to complete, in seconds.", P
)
PROBE_STATUS = Metric(
    "redline_probe_status",
    "stateset",
    "State of the probe: up, degraded (succeeded but slower than degraded_after) or down.",
    (*P, "status"),
)
PROBE_REASON = Metric(
    "redline_probe_failure_reason",
    "stateset",
    "Why the probe is down or degraded: exactly one reason is 1 then; all are 0 when up.",
    (*P, "reason"),
)
PROBE_RESULT_AGE = Metric(
    "redline_probe_result_age_seconds",
    "gauge",
    "Age of the result served: 0 when probed for this scrape, more when a shared or "
    "rate-limited (min_interval, Retry-After) result was reused.",
    P,
)

# --- HTTP (probes/http.py, probes/json_metrics.py) ---------------------------------------------
HTTP_STATUS_CODE = Metric(
    "probe_http_status_code", "gauge", "HTTP status code of the last response (0 if none).", P
)
HTTP_DURATION = Metric(
    "probe_http_duration_seconds",
    "gauge",
    "Duration of each phase of the HTTP request, as blackbox_exporter's: resolve, connect "
    "(TCP), tls (the TLS handshake; 0 over plain HTTP), processing (request sent to response "
    "headers), transfer (body). Summed over redirects.",
    (*P, "phase"),
)
HTTP_CONTENT_LENGTH = Metric(
    "probe_http_content_length",
    "gauge",
    "The response's Content-Length header, in bytes (-1 when it has none, e.g. chunked; 0 with "
    "no response), as blackbox_exporter reports it.",
    P,
)
HTTP_UNCOMPRESSED_BODY_LENGTH = Metric(
    "probe_http_uncompressed_body_length",
    "gauge",
    "Bytes of the response body read, after any Content-Encoding is undone (at most "
    "max_body_bytes plus one), as blackbox_exporter's series of that name.",
    P,
)
HTTP_REDIRECTS = Metric("probe_http_redirects", "gauge", "Number of redirects followed.", P)
HTTP_SSL = Metric("probe_http_ssl", "gauge", "1 if the final response came over TLS.", P)
HTTP_RETRY_AFTER = Metric(
    "redline_probe_http_retry_after_seconds",
    "gauge",
    "Retry-After the target asked for on its last 429/503 (0 if none); redline waits that long "
    "before probing it again.",
    P,
)
SSL_EARLIEST_CERT_EXPIRY = Metric(
    "probe_ssl_earliest_cert_expiry",
    "gauge",
    "Expiry of the peer's certificate, as a Unix timestamp in seconds.",
    P,
)
TLS_VERSION_INFO = Metric(
    "probe_tls_version_info", "gauge", "TLS version used (label version), value 1.", (*P, "version")
)

# --- JSON-derived values (probes/json_metrics.py) ----------------------------------------------
# The names of JSON-derived gauges come from the config (``metrics[].name``) and are exposed with
# this prefix, so they can never collide with redline's own names.
JSON_METRIC_PREFIX = "redline_json_"
JSON_FIELD_STATE = Metric(
    "redline_json_field_state",
    "stateset",
    "State of each configured JSON field: ok, missing (absent from the response) or invalid "
    "(present but not a number, or not one of the configured states).",
    (*P, "field", "state"),
)

# --- TCP (probes/tcp.py) -----------------------------------------------------------------------
TCP_CONNECT_DURATION = Metric(
    "redline_probe_tcp_connect_seconds", "gauge", "Time to establish the TCP connection.", P
)
TLS_HANDSHAKE_DURATION = Metric(
    "redline_probe_tls_handshake_seconds", "gauge", "Time of the TLS handshake (TCP probe).", P
)

# --- DNS (probes/dns.py) -----------------------------------------------------------------------
DNS_LOOKUP_TIME = Metric(
    "probe_dns_lookup_time_seconds", "gauge", "Time taken for the DNS lookup, in seconds.", P
)
DNS_ANSWER_RRS = Metric(
    "probe_dns_answer_rrs",
    "gauge",
    "Number of records in the answer section (0 on NXDOMAIN, SERVFAIL or no reply, as "
    "blackbox_exporter reports).",
    P,
)

# --- MCP (probes/mcp.py) -----------------------------------------------------------------------
MCP_TOOLS = Metric(
    "redline_mcp_tools",
    "gauge",
    "Number of tools the MCP server listed (0 when it could not be reached or read).",
    P,
)
MCP_TOOL_LISTED = Metric(
    "redline_mcp_tool_listed",
    "gauge",
    "1 if the configured tool is listed by the MCP server, else 0 (also when the server could "
    "not be reached or read).",
    (*P, "tool"),
)

# --- sources (exporter/sources.py): database, host, logs, ... -----------------------------------
SOURCE_UP = Metric(
    "redline_source_up",
    "gauge",
    "1 if the source (postgres, host, logs, ...) answered this scrape in time without error; "
    "absent for a source the config turns off (host: {enabled: false}).",
    ("source",),
)
SOURCE_DURATION = Metric(
    "redline_source_duration_seconds",
    "gauge",
    "How long the source took to collect for this scrape.",
    ("source",),
)

# --- host (exporter/host/): node_exporter's names where the meaning is the same ---------------
# Labels come only from the host's real CPUs, mounts and devices (filtered by config) and from
# configured process-group names, so cardinality is bounded by the machine and the config.
HC = ("collector",)
FS = ("device", "fstype", "mountpoint")
DEV = ("device",)
NODE_SCRAPE_COLLECTOR_SUCCESS = Metric(
    "node_scrape_collector_success",
    "gauge",
    "1 if the host collector (cpu, memory, filesystem, ...) succeeded in this scrape, else 0.",
    HC,
)
NODE_SCRAPE_COLLECTOR_DURATION = Metric(
    "node_scrape_collector_duration_seconds", "gauge", "How long the host collector took.", HC
)
NODE_CPU_SECONDS = Metric(
    "node_cpu_seconds_total",
    "counter",
    "Seconds the CPU spent in each mode (user, nice, system, idle, iowait, irq, softirq, steal).",
    ("cpu", "mode"),
)
NODE_CPU_GUEST_SECONDS = Metric(
    "node_cpu_guest_seconds_total",
    "counter",
    "Seconds the CPU spent running guests (virtual machines), by mode (user, nice); also "
    "counted in node_cpu_seconds_total's user and nice.",
    ("cpu", "mode"),
)
NODE_LOAD1 = Metric("node_load1", "gauge", "1m load average.")
NODE_LOAD5 = Metric("node_load5", "gauge", "5m load average.")
NODE_LOAD15 = Metric("node_load15", "gauge", "15m load average.")
NODE_MEMORY_MEMTOTAL = Metric(
    "node_memory_MemTotal_bytes", "gauge", "Usable RAM (/proc/meminfo MemTotal)."
)
NODE_MEMORY_MEMAVAILABLE = Metric(
    "node_memory_MemAvailable_bytes",
    "gauge",
    "Memory available for new work without swapping (/proc/meminfo MemAvailable); used memory "
    "is MemTotal - MemAvailable.",
)
NODE_MEMORY_MEMFREE = Metric(
    "node_memory_MemFree_bytes", "gauge", "Memory not used at all (/proc/meminfo MemFree)."
)
NODE_MEMORY_CACHED = Metric(
    "node_memory_Cached_bytes", "gauge", "Page cache (/proc/meminfo Cached)."
)
NODE_MEMORY_BUFFERS = Metric(
    "node_memory_Buffers_bytes", "gauge", "Block-device buffers (/proc/meminfo Buffers)."
)
NODE_MEMORY_SWAPTOTAL = Metric(
    "node_memory_SwapTotal_bytes", "gauge", "Swap space (/proc/meminfo SwapTotal)."
)
NODE_MEMORY_SWAPFREE = Metric(
    "node_memory_SwapFree_bytes", "gauge", "Unused swap space (/proc/meminfo SwapFree)."
)
NODE_FILESYSTEM_SIZE = Metric(
    "node_filesystem_size_bytes", "gauge", "Filesystem size in bytes.", FS
)
NODE_FILESYSTEM_AVAIL = Metric(
    "node_filesystem_avail_bytes",
    "gauge",
    "Filesystem space available to non-root users in bytes.",
    FS,
)
NODE_FILESYSTEM_FREE = Metric(
    "node_filesystem_free_bytes",
    "gauge",
    "Filesystem free space in bytes, including the blocks reserved for root.",
    FS,
)
NODE_FILESYSTEM_FILES = Metric(
    "node_filesystem_files", "gauge", "Filesystem total file nodes (inodes).", FS
)
NODE_FILESYSTEM_FILES_FREE = Metric(
    "node_filesystem_files_free", "gauge", "Filesystem free file nodes (inodes).", FS
)
NODE_FILESYSTEM_READONLY = Metric(
    "node_filesystem_readonly", "gauge", "1 if the filesystem is mounted read-only.", FS
)
NODE_FILESYSTEM_DEVICE_ERROR = Metric(
    "node_filesystem_device_error",
    "gauge",
    "1 if statfs failed or hung for this mount (its size series are then absent), else 0.",
    FS,
)
NODE_DISK_READS_COMPLETED = Metric(
    "node_disk_reads_completed_total", "counter", "Reads completed successfully.", DEV
)
NODE_DISK_WRITES_COMPLETED = Metric(
    "node_disk_writes_completed_total", "counter", "Writes completed successfully.", DEV
)
NODE_DISK_READ_BYTES = Metric(
    "node_disk_read_bytes_total", "counter", "Bytes read successfully.", DEV
)
NODE_DISK_WRITTEN_BYTES = Metric(
    "node_disk_written_bytes_total", "counter", "Bytes written successfully.", DEV
)
NODE_DISK_IO_TIME = Metric(
    "node_disk_io_time_seconds_total",
    "counter",
    "Seconds the device had I/O in progress (its rate is the utilisation, 0-1).",
    DEV,
)
NODE_NETWORK_RECEIVE_BYTES = Metric(
    "node_network_receive_bytes_total", "counter", "Bytes received by the interface.", DEV
)
NODE_NETWORK_TRANSMIT_BYTES = Metric(
    "node_network_transmit_bytes_total", "counter", "Bytes sent by the interface.", DEV
)
NODE_NETWORK_RECEIVE_PACKETS = Metric(
    "node_network_receive_packets_total", "counter", "Packets received by the interface.", DEV
)
NODE_NETWORK_TRANSMIT_PACKETS = Metric(
    "node_network_transmit_packets_total", "counter", "Packets sent by the interface.", DEV
)
NODE_NETWORK_RECEIVE_ERRS = Metric(
    "node_network_receive_errs_total", "counter", "Receive errors of the interface.", DEV
)
NODE_NETWORK_TRANSMIT_ERRS = Metric(
    "node_network_transmit_errs_total", "counter", "Transmit errors of the interface.", DEV
)
NODE_NETWORK_RECEIVE_DROP = Metric(
    "node_network_receive_drop_total", "counter", "Received packets dropped.", DEV
)
NODE_NETWORK_TRANSMIT_DROP = Metric(
    "node_network_transmit_drop_total", "counter", "Packets dropped before sending.", DEV
)
NODE_BOOT_TIME = Metric(
    "node_boot_time_seconds", "gauge", "When the host booted, as a Unix timestamp in seconds."
)
NODE_CONTEXT_SWITCHES = Metric(
    "node_context_switches_total", "counter", "Context switches since boot."
)
NODE_FILEFD_ALLOCATED = Metric(
    "node_filefd_allocated", "gauge", "File descriptors allocated (open) on the host."
)
NODE_FILEFD_MAXIMUM = Metric(
    "node_filefd_maximum", "gauge", "Most file descriptors the host allows (fs.file-max)."
)
NODE_PRESSURE_CPU_WAITING = Metric(
    "node_pressure_cpu_waiting_seconds_total",
    "counter",
    "Seconds in which some runnable task waited for a CPU (/proc/pressure/cpu some).",
)
NODE_PRESSURE_MEMORY_WAITING = Metric(
    "node_pressure_memory_waiting_seconds_total",
    "counter",
    "Seconds in which some task waited for memory (/proc/pressure/memory some).",
)
NODE_PRESSURE_MEMORY_STALLED = Metric(
    "node_pressure_memory_stalled_seconds_total",
    "counter",
    "Seconds in which no task could make progress for want of memory (/proc/pressure/memory full).",
)
NODE_PRESSURE_IO_WAITING = Metric(
    "node_pressure_io_waiting_seconds_total",
    "counter",
    "Seconds in which some task waited for I/O (/proc/pressure/io some).",
)
NODE_PRESSURE_IO_STALLED = Metric(
    "node_pressure_io_stalled_seconds_total",
    "counter",
    "Seconds in which no task could make progress for want of I/O (/proc/pressure/io full).",
)
G = ("group",)
# not "..._count": promtool reserves that suffix for histograms and summaries
PROCESS_GROUP_PROCESSES = Metric(
    "redline_process_group_processes", "gauge", "Processes in the configured group now.", G
)
PROCESS_GROUP_CPU_SECONDS = Metric(
    "redline_process_group_cpu_seconds_total",
    "counter",
    "CPU seconds (user + system) of the group's processes, including members that have ended "
    "(as last seen); monotonic across member exits and config reloads.",
    G,
)
PROCESS_GROUP_RESIDENT_MEMORY = Metric(
    "redline_process_group_resident_memory_bytes",
    "gauge",
    "Resident memory of the group's processes, summed.",
    G,
)
PROCESS_GROUP_THREADS = Metric(
    "redline_process_group_threads", "gauge", "Threads of the group's processes, summed.", G
)
PROCESS_GROUP_OPEN_FDS = Metric(
    "redline_process_group_open_fds",
    "gauge",
    "Open file descriptors (files, sockets, pipes) of the group's processes that redline may "
    "inspect, summed.",
    G,
)
PROCESS_GROUP_OLDEST_START = Metric(
    "redline_process_group_oldest_start_time_seconds",
    "gauge",
    "Start time of the group's oldest process, as a Unix timestamp (absent while the group is "
    "empty).",
    G,
)
PROCESS_GROUP_RESTARTS = Metric(
    "redline_process_group_restarts_total",
    "counter",
    "Processes that started in place of a member that ended (see docs/host.md: growth beyond "
    "the group's largest size is not a restart).",
    G,
)
HOST_METRICS: tuple[Metric, ...] = (
    NODE_SCRAPE_COLLECTOR_SUCCESS,
    NODE_SCRAPE_COLLECTOR_DURATION,
    NODE_CPU_SECONDS,
    NODE_CPU_GUEST_SECONDS,
    NODE_LOAD1,
    NODE_LOAD5,
    NODE_LOAD15,
    NODE_MEMORY_MEMTOTAL,
    NODE_MEMORY_MEMAVAILABLE,
    NODE_MEMORY_MEMFREE,
    NODE_MEMORY_CACHED,
    NODE_MEMORY_BUFFERS,
    NODE_MEMORY_SWAPTOTAL,
    NODE_MEMORY_SWAPFREE,
    NODE_FILESYSTEM_SIZE,
    NODE_FILESYSTEM_AVAIL,
    NODE_FILESYSTEM_FREE,
    NODE_FILESYSTEM_FILES,
    NODE_FILESYSTEM_FILES_FREE,
    NODE_FILESYSTEM_READONLY,
    NODE_FILESYSTEM_DEVICE_ERROR,
    NODE_DISK_READS_COMPLETED,
    NODE_DISK_WRITES_COMPLETED,
    NODE_DISK_READ_BYTES,
    NODE_DISK_WRITTEN_BYTES,
    NODE_DISK_IO_TIME,
    NODE_NETWORK_RECEIVE_BYTES,
    NODE_NETWORK_TRANSMIT_BYTES,
    NODE_NETWORK_RECEIVE_PACKETS,
    NODE_NETWORK_TRANSMIT_PACKETS,
    NODE_NETWORK_RECEIVE_ERRS,
    NODE_NETWORK_TRANSMIT_ERRS,
    NODE_NETWORK_RECEIVE_DROP,
    NODE_NETWORK_TRANSMIT_DROP,
    NODE_BOOT_TIME,
    NODE_CONTEXT_SWITCHES,
    NODE_FILEFD_ALLOCATED,
    NODE_FILEFD_MAXIMUM,
    NODE_PRESSURE_CPU_WAITING,
    NODE_PRESSURE_MEMORY_WAITING,
    NODE_PRESSURE_MEMORY_STALLED,
    NODE_PRESSURE_IO_WAITING,
    NODE_PRESSURE_IO_STALLED,
    PROCESS_GROUP_PROCESSES,
    PROCESS_GROUP_CPU_SECONDS,
    PROCESS_GROUP_RESIDENT_MEMORY,
    PROCESS_GROUP_THREADS,
    PROCESS_GROUP_OPEN_FDS,
    PROCESS_GROUP_OLDEST_START,
    PROCESS_GROUP_RESTARTS,
)

# --- logs (exporter/logs/): counters fed by the streams of lines, kept across reloads ---------
# A line is counted once, in redline_log_lines_total or (too long, or never finished) in
# redline_log_lines_dropped_total; parse errors and pattern matches are subsets of the former.
# Label values come from closed sets or the config, never from the lines (docs/logs.md).
LS = ("source",)
LOG_LINES = Metric(
    "redline_log_lines_total",
    "counter",
    "Log lines read, by source and level (debug, info, warn, error, fatal, unknown: what the "
    "line says, normalised; unknown when it says nothing recognisable).",
    (*LS, "level"),
)
LOG_LINES_DROPPED = Metric(
    "redline_log_lines_dropped_total",
    "counter",
    "Log lines not parsed: too_long (over the source's max_line, skipped without being held) "
    "or partial (a file truncated, rotated or deleted before the line ended).",
    (*LS, "reason"),
)
LOG_PARSE_ERRORS = Metric(
    "redline_log_parse_errors_total",
    "counter",
    "Log lines that failed to parse: format (no parser recognised the line, or an ingested "
    "line was not a JSON object) or field (a field had the wrong type and was ignored).",
    (*LS, "reason"),
)
LOG_PATTERN_MATCHES = Metric(
    "redline_log_pattern_matches_total",
    "counter",
    "Log lines matching each configured error pattern (logs.patterns), by source.",
    (*LS, "pattern"),
)
LOG_LAST_LINE = Metric(
    "redline_log_last_line_timestamp_seconds",
    "gauge",
    "Time of the newest line of the source, as a Unix timestamp: the line's own timestamp "
    "when it has one, else when redline read it.",
    LS,
)
LOG_READ_BYTES = Metric(
    "redline_log_read_bytes_total",
    "counter",
    "Bytes read from the source's files, or accepted in ingest request bodies.",
    LS,
)
LOG_FILES = Metric(
    "redline_log_files_followed", "gauge", "Files the source has open and follows now.", LS
)
LOG_FILE_ERRORS = Metric(
    "redline_log_file_errors_total",
    "counter",
    "Failures to open or read a file the source's globs match (permissions, I/O errors).",
    LS,
)
LOG_ROTATIONS = Metric(
    "redline_log_file_rotations_total",
    "counter",
    "Files the source saw rotated: rename (moved away), delete, or truncate (copytruncate).",
    (*LS, "kind"),
)
LOG_INGEST_REQUESTS = Metric(
    "redline_log_ingest_requests_total",
    "counter",
    "Requests to /ingest/<source>, by answer: 200 (counted), 401 (missing or wrong token), "
    "413 (body over max_body) or 503 (token unavailable); only 200 counts lines.",
    (*LS, "code"),
)
LOG_HTTP_REQUESTS = Metric(
    "redline_http_requests_total",
    "counter",
    "HTTP requests read from logs, by service, route group (logs.route_groups, else other), "
    "method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE, else OTHER) and "
    "status class (1xx to 5xx).",
    ("service", "route", "method", "code_class"),
)
LOG_HTTP_DURATION = Metric(
    "redline_http_request_duration_seconds",
    "histogram",
    "Duration of the HTTP requests read from logs that state one, by service and route group "
    "(buckets: logs.buckets).",
    ("service", "route"),
)
LOG_METRICS: tuple[Metric, ...] = (
    LOG_LINES,
    LOG_LINES_DROPPED,
    LOG_PARSE_ERRORS,
    LOG_PATTERN_MATCHES,
    LOG_LAST_LINE,
    LOG_READ_BYTES,
    LOG_FILES,
    LOG_FILE_ERRORS,
    LOG_ROTATIONS,
    LOG_INGEST_REQUESTS,
    LOG_HTTP_REQUESTS,
    LOG_HTTP_DURATION,
)

# --- Postgres (exporter/postgres/): postgres_exporter's pg_* names where the meaning is the same;
# counters end in _total (Prometheus naming, checked by promtool), so postgres_exporter's
# pg_stat_database_xact_commit is pg_stat_database_xact_commit_total here (docs/postgres.md).
# Every series carries ``database``, the configured name.
PGD = ("database",)
PG_DB = ("database", "datname")
PG_TABLE = ("database", "schemaname", "relname")
PG_STATEMENT = ("database", "datname", "user", "queryid")
PG_QUERY = ("database", "query")
PG_UP = Metric(
    "pg_up", "gauge", "1 if the database answered the canary query in this scrape, else 0.", PGD
)
PG_FAILURE_REASON = Metric(
    "redline_pg_failure_reason",
    "stateset",
    "Why pg_up is 0: exactly one reason is 1 then (secret, dsn, connect, auth, timeout, "
    "server, internal); all are 0 when up.",
    (*PGD, "reason"),
)
PG_CANARY_DURATION = Metric(
    "redline_pg_canary_duration_seconds",
    "gauge",
    "Round trip of the canary query on an open connection (connecting excluded).",
    PGD,
)
PG_POSTMASTER_START = Metric(
    "pg_postmaster_start_time_seconds",
    "gauge",
    "Time at which the server started, as a Unix timestamp in seconds.",
    PGD,
)
PG_SERVER_INFO = Metric(
    "redline_pg_server_info",
    "info",
    "The server's version (label version), value 1.",
    (*PGD, "version"),
)
PG_POOL_CONNECTIONS = Metric(
    "redline_pg_pool_connections",
    "gauge",
    "Connections redline's pool holds open to the database (never more than pool.max_size).",
    PGD,
)
PG_COLLECTOR_SUCCESS = Metric(
    "pg_scrape_collector_success",
    "gauge",
    "1 if the sub-collector (availability, activity, database, tables, replication, statements, "
    "custom) succeeded in this scrape, else 0.",
    (*PGD, "collector"),
)
PG_COLLECTOR_DURATION = Metric(
    "pg_scrape_collector_duration_seconds",
    "gauge",
    "How long the sub-collector took in this scrape.",
    (*PGD, "collector"),
)
# activity
PG_ACTIVITY_COUNT = Metric(
    "pg_stat_activity_count",
    "gauge",
    "Client connections by state and wait event type ('' when not waiting).",
    (*PGD, "state", "wait_event_type"),
)
PG_MAX_CONNECTIONS = Metric(
    "pg_settings_max_connections", "gauge", "The server's max_connections setting.", PGD
)
PG_SUPERUSER_RESERVED = Metric(
    "pg_settings_superuser_reserved_connections",
    "gauge",
    "Connection slots reserved for superusers (superuser_reserved_connections).",
    PGD,
)
PG_RESERVED = Metric(
    "pg_settings_reserved_connections",
    "gauge",
    "Connection slots reserved for roles with pg_use_reserved_connections (PostgreSQL 16+).",
    PGD,
)
PG_CONNECTIONS_USAGE = Metric(
    "redline_pg_connections_usage_ratio",
    "gauge",
    "Client connections over the slots ordinary roles can use (max_connections minus the "
    "reserved ones), 0-1.",
    PGD,
)
PG_IDLE_IN_TRANSACTION = Metric(
    "redline_pg_idle_in_transaction_connections",
    "gauge",
    "Connections idle inside a transaction (including aborted ones): they hold locks and "
    "snapshots.",
    PGD,
)
PG_OLDEST_TRANSACTION = Metric(
    "redline_pg_oldest_transaction_seconds",
    "gauge",
    "Age of the oldest open transaction of any other client connection (0 if none).",
    PGD,
)
PG_OLDEST_QUERY = Metric(
    "redline_pg_oldest_query_seconds",
    "gauge",
    "Age of the oldest running query of any other client connection (0 if none).",
    PGD,
)
PG_LOCK_WAITING = Metric(
    "redline_pg_lock_waiting_connections", "gauge", "Connections waiting on a lock.", PGD
)
PG_LOCK_WAIT_MAX = Metric(
    "redline_pg_lock_wait_max_seconds",
    "gauge",
    "Longest current wait for a lock (0 if none).",
    PGD,
)
# per database (pg_stat_database)
PG_STAT_DATABASE_NUMBACKENDS = Metric(
    "pg_stat_database_numbackends", "gauge", "Backends connected to this database.", PG_DB
)
PG_STAT_DATABASE_COUNTERS: dict[str, Metric] = {
    column: Metric(f"pg_stat_database_{column}_total", "counter", help_text, PG_DB)
    for column, help_text in (
        ("xact_commit", "Transactions committed in this database."),
        ("xact_rollback", "Transactions rolled back in this database."),
        ("deadlocks", "Deadlocks detected in this database."),
        ("conflicts", "Queries cancelled by conflicts with recovery (replicas only)."),
        ("blks_hit", "Disk blocks found in the buffer cache (cache hit ratio: hit/(hit+read))."),
        ("blks_read", "Disk blocks read (not found in the buffer cache)."),
        ("temp_files", "Temporary files created by queries (work_mem too small)."),
        ("temp_bytes", "Bytes written to temporary files by queries."),
        ("tup_returned", "Rows returned by sequential scans and index entries read."),
        ("tup_fetched", "Rows fetched by index scans."),
        ("tup_inserted", "Rows inserted."),
        ("tup_updated", "Rows updated."),
        ("tup_deleted", "Rows deleted."),
    )
}
PG_DATABASE_SIZE = Metric(
    "pg_database_size_bytes", "gauge", "Disk space used by the database.", PG_DB
)
# per table, the N largest of the connected database (pg_stat_user_tables)
PG_TABLE_SEQ_SCAN = Metric(
    "pg_stat_user_tables_seq_scan_total", "counter", "Sequential scans of the table.", PG_TABLE
)
PG_TABLE_IDX_SCAN = Metric(
    "pg_stat_user_tables_idx_scan_total", "counter", "Index scans of the table.", PG_TABLE
)
PG_TABLE_LIVE = Metric(
    "pg_stat_user_tables_n_live_tup", "gauge", "Estimated live rows of the table.", PG_TABLE
)
PG_TABLE_DEAD = Metric(
    "pg_stat_user_tables_n_dead_tup", "gauge", "Estimated dead rows of the table.", PG_TABLE
)
PG_TABLE_DEAD_RATIO = Metric(
    "redline_pg_table_dead_tuple_ratio",
    "gauge",
    "Dead rows over all rows of the table (bloat that vacuum has not reclaimed yet), 0-1.",
    PG_TABLE,
)
PG_TABLE_MAINTENANCE_AGE = Metric(
    "redline_pg_table_maintenance_age_seconds",
    "gauge",
    "Seconds since the table's last vacuum, autovacuum, analyze or autoanalyze (label "
    "operation); absent when it never ran since the statistics were reset.",
    (*PG_TABLE, "operation"),
)
PG_TABLE_SIZE = Metric(
    "pg_stat_user_tables_table_size_bytes",
    "gauge",
    "Disk space of the table with its TOAST data, indexes excluded.",
    PG_TABLE,
)
PG_TABLE_INDEX_SIZE = Metric(
    "pg_stat_user_tables_index_size_bytes", "gauge", "Disk space of the table's indexes.", PG_TABLE
)
# replication
PG_IS_REPLICA = Metric(
    "pg_replication_is_replica", "gauge", "1 if the server is a replica (in recovery), else 0.", PGD
)
PG_REPLICATION_LAG = Metric(
    "pg_replication_lag_seconds",
    "gauge",
    "On a replica, seconds since the last replayed transaction was committed on the primary "
    "(0 when all received WAL is replayed, and on a primary).",
    PGD,
)
PG_SLOT_ACTIVE = Metric(
    "pg_replication_slots_active",
    "gauge",
    "1 if a client is connected to the replication slot, else 0.",
    (*PGD, "slot_name", "slot_type"),
)
PG_SLOT_RETAINED = Metric(
    "pg_replication_slots_pg_wal_lsn_diff",
    "gauge",
    "WAL the replication slot makes the server keep (current WAL position minus the slot's "
    "restart_lsn), in bytes.",
    (*PGD, "slot_name", "slot_type"),
)
# pg_stat_statements, the top N by total execution time
PG_STATEMENT_CALLS = Metric(
    "pg_stat_statements_calls_total", "counter", "Times the statement was executed.", PG_STATEMENT
)
PG_STATEMENT_SECONDS = Metric(
    "pg_stat_statements_seconds_total",
    "counter",
    "Total time spent executing the statement, in seconds.",
    PG_STATEMENT,
)
PG_STATEMENT_MEAN = Metric(
    "pg_stat_statements_mean_seconds",
    "gauge",
    "Mean execution time of the statement since the statistics were reset, in seconds.",
    PG_STATEMENT,
)
PG_STATEMENT_ROWS = Metric(
    "pg_stat_statements_rows_total",
    "counter",
    "Rows retrieved or affected by the statement.",
    PG_STATEMENT,
)
PG_STATEMENT_BLKS_HIT = Metric(
    "pg_stat_statements_shared_blks_hit_total",
    "counter",
    "Shared buffer hits of the statement.",
    PG_STATEMENT,
)
PG_STATEMENT_BLKS_READ = Metric(
    "pg_stat_statements_shared_blks_read_total",
    "counter",
    "Shared blocks the statement read (not found in the buffer cache).",
    PG_STATEMENT,
)
PG_STATEMENT_INFO = Metric(
    "pg_stat_statements_query_info",
    "info",
    "The statement's normalised text (label query, cut to statements.query_length), value 1.",
    (*PG_STATEMENT, "query"),
)
# custom SQL metrics: their names come from the config (``queries[].metrics[].name``) and are
# exposed with this prefix, so they can never collide with redline's own names.
SQL_METRIC_PREFIX = "redline_sql_"
PG_QUERY_STATUS = Metric(
    "redline_pg_query_status",
    "stateset",
    "State of each custom query: ok, error (the server refused it: syntax, permission, "
    "read-only; or the connection failed), timeout, bad_result (a label or value column "
    "missing, a value not a number, duplicate labels) or too_many_rows (more than max_rows).",
    (*PG_QUERY, "status"),
)
PG_QUERY_DURATION = Metric(
    "redline_pg_query_duration_seconds", "gauge", "How long the custom query last took.", PG_QUERY
)
PG_QUERY_AGE = Metric(
    "redline_pg_query_result_age_seconds",
    "gauge",
    "Age of the custom query's result served: 0 when run for this scrape, more while "
    "min_interval holds it back.",
    PG_QUERY,
)
PG_METRICS: tuple[Metric, ...] = (
    PG_UP,
    PG_FAILURE_REASON,
    PG_CANARY_DURATION,
    PG_POSTMASTER_START,
    PG_SERVER_INFO,
    PG_POOL_CONNECTIONS,
    PG_COLLECTOR_SUCCESS,
    PG_COLLECTOR_DURATION,
    PG_ACTIVITY_COUNT,
    PG_MAX_CONNECTIONS,
    PG_SUPERUSER_RESERVED,
    PG_RESERVED,
    PG_CONNECTIONS_USAGE,
    PG_IDLE_IN_TRANSACTION,
    PG_OLDEST_TRANSACTION,
    PG_OLDEST_QUERY,
    PG_LOCK_WAITING,
    PG_LOCK_WAIT_MAX,
    PG_STAT_DATABASE_NUMBACKENDS,
    *PG_STAT_DATABASE_COUNTERS.values(),
    PG_DATABASE_SIZE,
    PG_TABLE_SEQ_SCAN,
    PG_TABLE_IDX_SCAN,
    PG_TABLE_LIVE,
    PG_TABLE_DEAD,
    PG_TABLE_DEAD_RATIO,
    PG_TABLE_MAINTENANCE_AGE,
    PG_TABLE_SIZE,
    PG_TABLE_INDEX_SIZE,
    PG_IS_REPLICA,
    PG_REPLICATION_LAG,
    PG_SLOT_ACTIVE,
    PG_SLOT_RETAINED,
    PG_STATEMENT_CALLS,
    PG_STATEMENT_SECONDS,
    PG_STATEMENT_MEAN,
    PG_STATEMENT_ROWS,
    PG_STATEMENT_BLKS_HIT,
    PG_STATEMENT_BLKS_READ,
    PG_STATEMENT_INFO,
    PG_QUERY_STATUS,
    PG_QUERY_DURATION,
    PG_QUERY_AGE,
)

# --- backups (exporter/backups/): one series set per configured backup set ----------------------
BK = ("backup",)
BACKUP_STATUS = Metric(
    "redline_backup_status",
    "stateset",
    "State of the backup set: ok; missing (the directory does not exist); unreadable (the "
    "directory or the API cannot be read); empty (no backup found); stale (the newest is older "
    "than max_age, the RPO); too_small (the newest file is below min_size); corrupt (the newest "
    "file failed an integrity check); failed (the latest managed backup failed).",
    (*BK, "status"),
)
BACKUP_NEWEST_TIMESTAMP = Metric(
    "redline_backup_newest_timestamp_seconds",
    "gauge",
    "Unix time of the newest backup: the newest file's modification time, or the newest "
    "completed (or, with PITR, restorable) point of a managed backup. Absent when none.",
    BK,
)
BACKUP_NEWEST_AGE = Metric(
    "redline_backup_newest_age_seconds",
    "gauge",
    "Age of the newest backup at scrape time. Absent when none.",
    BK,
)
BACKUP_MAX_AGE = Metric(
    "redline_backup_max_age_seconds",
    "gauge",
    "The backup set's configured max_age (its RPO), for alerts and dashboards.",
    BK,
)
BACKUP_NEWEST_SIZE = Metric(
    "redline_backup_newest_size_bytes", "gauge", "Size of the newest backup file.", BK
)
BACKUP_MIN_SIZE = Metric(
    "redline_backup_min_size_bytes",
    "gauge",
    "The backup set's configured min_size of its newest file.",
    BK,
)
BACKUP_FILES = Metric(
    "redline_backup_files", "gauge", "Number of files matching the backup set's glob.", BK
)
BACKUP_TOTAL_SIZE = Metric(
    "redline_backup_total_size_bytes",
    "gauge",
    "Total size of the files matching the backup set's glob.",
    BK,
)
BACKUP_VERIFY_STATUS = Metric(
    "redline_backup_verify_status",
    "stateset",
    "Last integrity check of the newest file, by check (gzip, pg_restore, pg_restore_full, "
    "sha256, sql_complete): ok; failed (the file is bad); error (the check could not run: tool "
    "missing, I/O error, timeout); pending (the newest file is not checked yet).",
    (*BK, "check", "status"),
)
BACKUP_VERIFY_REASON = Metric(
    "redline_backup_verify_failure_reason",
    "stateset",
    "Why the last check of the newest file failed or could not run: exactly one reason is 1 "
    "then; all are 0 when ok or pending.",
    (*BK, "check", "reason"),
)
BACKUP_VERIFY_TIMESTAMP = Metric(
    "redline_backup_verify_last_run_timestamp_seconds",
    "gauge",
    "Unix time the check last finished (on any file of the set). Absent before the first run.",
    (*BK, "check"),
)
BACKUP_VERIFY_DURATION = Metric(
    "redline_backup_verify_duration_seconds",
    "gauge",
    "How long the check's last run took.",
    (*BK, "check"),
)
BACKUP_SUPABASE_UP = Metric(
    "redline_backup_supabase_up",
    "gauge",
    "1 if the last call to Supabase's Management API for the backup set succeeded, else 0.",
    BK,
)
BACKUP_SUPABASE_REASON = Metric(
    "redline_backup_supabase_failure_reason",
    "stateset",
    "Why the last Management API call failed: exactly one reason is 1 then; all are 0 when up.",
    (*BK, "reason"),
)
BACKUP_SUPABASE_DATA_AGE = Metric(
    "redline_backup_supabase_data_age_seconds",
    "gauge",
    "Age of the last good Management API answer (still served while calls fail). Absent "
    "before the first good answer.",
    BK,
)
BACKUP_SUPABASE_PITR = Metric(
    "redline_backup_supabase_pitr_enabled",
    "gauge",
    "1 if point-in-time recovery is enabled on the project, else 0.",
    BK,
)
BACKUP_SUPABASE_BACKUPS = Metric(
    "redline_backup_supabase_backups",
    "gauge",
    "Number of backups the Management API lists for the project.",
    BK,
)
BACKUP_SUPABASE_LATEST_STATUS = Metric(
    "redline_backup_supabase_latest_status",
    "stateset",
    "Status of the project's most recent backup attempt: completed, failed, pending, removed, "
    "archived, cancelled or unknown. All 0 when none is listed.",
    (*BK, "status"),
)
# restore tests (exporter/backups/restore.py): the outcome recorded by the last run of each set
BACKUP_RESTORE_SUCCESS = Metric(
    "redline_backup_restore_success",
    "gauge",
    "1 if the last restore test of the set restored its newest backup into a scratch database "
    "and every check passed, else 0. Absent before the first run.",
    BK,
)
BACKUP_RESTORE_REASON = Metric(
    "redline_backup_restore_failure_reason",
    "stateset",
    "Why the last restore test failed: exactly one reason is 1 then; all are 0 after a success.",
    (*BK, "reason"),
)
BACKUP_RESTORE_DURATION = Metric(
    "redline_backup_restore_duration_seconds",
    "gauge",
    "Duration of each phase of the last restore test: inspect (read the dump's header), create "
    "(the scratch database), restore (pg_restore or psql), checks, drop. inspect + create + "
    "restore is the measured RTO.",
    (*BK, "phase"),
)
BACKUP_RESTORE_NEWEST_ROW_AGE = Metric(
    "redline_backup_restore_newest_row_age_seconds",
    "gauge",
    "Age of the newest restored row (checks.newest_row) when the last restore test ran: the "
    "data a restore of that backup would have lost then, the measured RPO. Absent without the "
    "check or a value.",
    BK,
)
BACKUP_RESTORE_BACKUP_SIZE = Metric(
    "redline_backup_restore_backup_size_bytes",
    "gauge",
    "Size of the backup file the last restore test restored.",
    BK,
)
BACKUP_RESTORE_LAST_RUN = Metric(
    "redline_backup_restore_last_run_timestamp_seconds",
    "gauge",
    "Unix time the last restore test of the set finished.",
    BK,
)
BACKUP_RESTORE_LAST_SUCCESS = Metric(
    "redline_backup_restore_last_success_timestamp_seconds",
    "gauge",
    "Unix time the last successful restore test of the set finished. Absent before the first.",
    BK,
)
BACKUP_RESTORE_SCHEDULED_SINCE = Metric(
    "redline_backup_restore_scheduled_since_timestamp_seconds",
    "gauge",
    "Unix time the restore test of the set was first scheduled: before any success, the time "
    "a success is measured from.",
    BK,
)
BACKUP_RESTORE_INTERVAL = Metric(
    "redline_backup_restore_interval_seconds",
    "gauge",
    "The restore test's configured interval (its schedule).",
    BK,
)
BACKUP_RESTORE_RTO_BUDGET = Metric(
    "redline_backup_restore_rto_budget_seconds",
    "gauge",
    "The restore test's configured rto_budget: the longest acceptable restore.",
    BK,
)
BACKUP_RESTORE_RPO_BUDGET = Metric(
    "redline_backup_restore_rpo_budget_seconds",
    "gauge",
    "The restore test's configured rpo_budget: the oldest acceptable newest restored row.",
    BK,
)
BACKUP_RESTORE_CHECK_STATUS = Metric(
    "redline_backup_restore_check_status",
    "stateset",
    "Result of each check of the last restore test (tables, row_count:<table>, query:<name>, "
    "newest_row:<table>.<column>, database): ok; failed (wrong or missing data); error (the "
    "check could not run); skipped (no reference yet, or a remark).",
    (*BK, "check", "status"),
)
BACKUP_RESTORE_RUNNING = Metric(
    "redline_backup_restore_running",
    "gauge",
    "1 while this exporter runs a restore test of the set, else 0.",
    BK,
)
BACKUP_RESTORE_SCRATCH_LEFT = Metric(
    "redline_backup_restore_scratch_databases_left",
    "gauge",
    "Scratch databases a restore test created and could not drop yet (the server was gone); "
    "the next run drops them.",
    BK,
)
BACKUP_RESTORE_STATE_OK = Metric(
    "redline_backup_restore_state_file_ok",
    "gauge",
    "1 if the restore tests' state file could be read at the last scrape (or does not exist "
    "yet), else 0.",
)
BACKUP_METRICS: tuple[Metric, ...] = (
    BACKUP_STATUS,
    BACKUP_NEWEST_TIMESTAMP,
    BACKUP_NEWEST_AGE,
    BACKUP_MAX_AGE,
    BACKUP_NEWEST_SIZE,
    BACKUP_MIN_SIZE,
    BACKUP_FILES,
    BACKUP_TOTAL_SIZE,
    BACKUP_VERIFY_STATUS,
    BACKUP_VERIFY_REASON,
    BACKUP_VERIFY_TIMESTAMP,
    BACKUP_VERIFY_DURATION,
    BACKUP_SUPABASE_UP,
    BACKUP_SUPABASE_REASON,
    BACKUP_SUPABASE_DATA_AGE,
    BACKUP_SUPABASE_PITR,
    BACKUP_SUPABASE_BACKUPS,
    BACKUP_SUPABASE_LATEST_STATUS,
    BACKUP_RESTORE_SUCCESS,
    BACKUP_RESTORE_REASON,
    BACKUP_RESTORE_DURATION,
    BACKUP_RESTORE_NEWEST_ROW_AGE,
    BACKUP_RESTORE_BACKUP_SIZE,
    BACKUP_RESTORE_LAST_RUN,
    BACKUP_RESTORE_LAST_SUCCESS,
    BACKUP_RESTORE_SCHEDULED_SINCE,
    BACKUP_RESTORE_INTERVAL,
    BACKUP_RESTORE_RTO_BUDGET,
    BACKUP_RESTORE_RPO_BUDGET,
    BACKUP_RESTORE_CHECK_STATUS,
    BACKUP_RESTORE_RUNNING,
    BACKUP_RESTORE_SCRATCH_LEFT,
    BACKUP_RESTORE_STATE_OK,
)

# --- heartbeats (exporter/heartbeats/): jobs that ping POST /heartbeat/NAME ---------------------
HB = ("heartbeat",)
HEARTBEAT_STATUS = Metric(
    "redline_heartbeat_status",
    "stateset",
    "State of the job, healthchecks.io style: up (pinged on time); started (a run began and "
    "has time left to finish); late (the ping is overdue but within the grace time); down (the "
    "grace time passed, a run took longer than it, or the job reported a failure); never (no "
    "ping yet).",
    (*HB, "status"),
)
HEARTBEAT_LAST_SUCCESS = Metric(
    "redline_heartbeat_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the job's last success ping. Absent before the first.",
    HB,
)
HEARTBEAT_LAST_FAILURE = Metric(
    "redline_heartbeat_last_failure_timestamp_seconds",
    "gauge",
    "Unix time of the job's last failure ping (/fail or a non-zero exit code). Absent before "
    "the first.",
    HB,
)
HEARTBEAT_NEXT_DUE = Metric(
    "redline_heartbeat_next_due_timestamp_seconds",
    "gauge",
    "Unix time the next ping is due (after it the job is late; a grace time later, down). "
    "Absent before the first ping.",
    HB,
)
HEARTBEAT_GRACE = Metric(
    "redline_heartbeat_grace_seconds", "gauge", "The job's configured grace time.", HB
)
HEARTBEAT_LAST_DURATION = Metric(
    "redline_heartbeat_last_duration_seconds",
    "gauge",
    "Duration of the job's last run, from its /start ping to its success or failure ping. "
    "Absent when no run was timed.",
    HB,
)
HEARTBEAT_SUCCESSES = Metric(
    "redline_heartbeat_successes_total",
    "counter",
    "Success pings received (kept across exporter restarts in the state file).",
    HB,
)
HEARTBEAT_FAILURES = Metric(
    "redline_heartbeat_failures_total",
    "counter",
    "Failure pings received: /fail or a non-zero exit code (kept across exporter restarts).",
    HB,
)
HEARTBEAT_REJECTED = Metric(
    "redline_heartbeat_rejected_pings_total",
    "counter",
    "Pings refused, by reason: unknown (no such heartbeat or action, 404), unauthorized (wrong "
    "or missing token, 401), too_large (body over max_body, 413), unavailable (the token's "
    "secret cannot be read, 503). A refused ping changes nothing.",
    ("reason",),
)
HEARTBEAT_STATE_FILE_STATUS = Metric(
    "redline_heartbeat_state_file_status",
    "stateset",
    "State of the heartbeat state file: ok (last save succeeded); missing (none found at start, "
    "as on a first start); corrupt (found unreadable at start, set aside as FILE.corrupt); "
    "unwritable (the last save failed: state is kept in memory and saving retried); disabled "
    "(no state_file configured).",
    ("status",),
)
HEARTBEAT_STATE_LAST_SAVE = Metric(
    "redline_heartbeat_state_last_save_timestamp_seconds",
    "gauge",
    "Unix time of the last successful save of the heartbeat state file. Absent before it.",
)
HEARTBEAT_METRICS: tuple[Metric, ...] = (
    HEARTBEAT_STATUS,
    HEARTBEAT_LAST_SUCCESS,
    HEARTBEAT_LAST_FAILURE,
    HEARTBEAT_NEXT_DUE,
    HEARTBEAT_GRACE,
    HEARTBEAT_LAST_DURATION,
    HEARTBEAT_SUCCESSES,
    HEARTBEAT_FAILURES,
    HEARTBEAT_REJECTED,
    HEARTBEAT_STATE_FILE_STATUS,
    HEARTBEAT_STATE_LAST_SAVE,
)

# --- vendors (exporter/vendors/): status feeds and vendor API checks, fetched in the background --
VF = ("feed",)
VC = ("check",)
VENDOR_FEED_UP = Metric(
    "redline_vendor_feed_up",
    "gauge",
    "1 if the last fetch of the vendor's status feed succeeded (a 304 Not Modified counts), "
    "else 0. Absent until the first fetch has finished.",
    VF,
)
VENDOR_FEED_REASON = Metric(
    "redline_vendor_feed_failure_reason",
    "stateset",
    "Why the last fetch failed: exactly one reason is 1 while the feed is down, all 0 while up.",
    (*VF, "reason"),
)
VENDOR_FEED_DATA_AGE = Metric(
    "redline_vendor_feed_data_age_seconds",
    "gauge",
    "Seconds since the vendor last sent (200) or confirmed (304) the data served; it grows while "
    "fetches fail and the last good data is served. Absent until the first good fetch.",
    VF,
)
VENDOR_FEED_LAST_FETCH = Metric(
    "redline_vendor_feed_last_fetch_timestamp_seconds",
    "gauge",
    "Unix time the last fetch attempt finished, whatever its outcome.",
    VF,
)
VENDOR_FEED_FETCH_DURATION = Metric(
    "redline_vendor_feed_fetch_duration_seconds",
    "gauge",
    "How long the last fetch attempt took.",
    VF,
)
VENDOR_FEED_INFO = Metric(
    "redline_vendor_feed_info",
    "info",
    "The format of the data served (provider: statuspage, google, betterstack, instatus), "
    "configured or detected; value 1.",
    (*VF, "provider"),
)
VENDOR_PAGE_INDICATOR = Metric(
    "redline_vendor_page_indicator",
    "stateset",
    "The status page's overall indicator: none, minor, major, critical, maintenance, or unknown "
    "(a word redline does not know). Absent for Google feeds, which have none.",
    (*VF, "indicator"),
)
VENDOR_COMPONENT_STATUS = Metric(
    "redline_vendor_component_status",
    "stateset",
    "State of each configured component (Google feeds: product): operational, "
    "degraded_performance, partial_outage, major_outage, under_maintenance, unknown (a status "
    "word redline does not know) or missing (the page does not list it).",
    (*VF, "component", "status"),
)
VENDOR_INCIDENTS_OPEN = Metric(
    "redline_vendor_incidents_open",
    "gauge",
    "Open incidents on the page by impact (none, minor, major, critical, maintenance, unknown); "
    "for Google feeds only those affecting a configured product.",
    (*VF, "impact"),
)
VENDOR_COMPONENT_INCIDENTS_OPEN = Metric(
    "redline_vendor_component_incidents_open",
    "gauge",
    "Open incidents affecting each configured component (product), for feeds that say which "
    "components an incident affects (Statuspage, Google).",
    (*VF, "component"),
)
VENDOR_MAINTENANCES_ACTIVE = Metric(
    "redline_vendor_maintenances_active",
    "gauge",
    "Scheduled maintenances in progress on the page (feeds that publish them).",
    VF,
)
VENDOR_CHECK_UP = Metric(
    "redline_vendor_check_up",
    "gauge",
    "1 if the last synthetic call to the vendor's API succeeded, else 0. Absent until the first "
    "call has finished.",
    VC,
)
VENDOR_CHECK_REASON = Metric(
    "redline_vendor_check_failure_reason",
    "stateset",
    "Why the last call failed: exactly one reason is 1 while the check is down, all 0 while up.",
    (*VC, "reason"),
)
VENDOR_CHECK_DURATION = Metric(
    "redline_vendor_check_duration_seconds",
    "gauge",
    "How long the last call took (its latency; the Google Analytics check includes a token "
    "exchange when its token is due).",
    VC,
)
VENDOR_CHECK_DATA_AGE = Metric(
    "redline_vendor_check_data_age_seconds",
    "gauge",
    "Seconds since the values served (throttle bucket, service states, rows) were read; it "
    "grows while calls fail. Absent until values were first read.",
    VC,
)
VENDOR_CHECK_LAST_RUN = Metric(
    "redline_vendor_check_last_run_timestamp_seconds",
    "gauge",
    "Unix time the last call finished, whatever its outcome.",
    VC,
)
VENDOR_CHECK_INFO = Metric(
    "redline_vendor_check_info",
    "info",
    "The kind of each configured check (shopify, chatwoot, google_analytics); value 1.",
    (*VC, "kind"),
)
VENDOR_SHOPIFY_THROTTLE_AVAILABLE = Metric(
    "redline_vendor_shopify_throttle_available_points",
    "gauge",
    "Shopify GraphQL cost points currently available to the app (throttleStatus."
    "currentlyAvailable); near 0 the app's own calls are throttled.",
    VC,
)
VENDOR_SHOPIFY_THROTTLE_MAXIMUM = Metric(
    "redline_vendor_shopify_throttle_maximum_points",
    "gauge",
    "Shopify GraphQL cost points the app's bucket holds when full (throttleStatus."
    "maximumAvailable).",
    VC,
)
VENDOR_SHOPIFY_THROTTLE_RESTORE_RATE = Metric(
    "redline_vendor_shopify_throttle_restore_rate_points_per_second",
    "gauge",
    "Shopify GraphQL cost points restored per second (throttleStatus.restoreRate).",
    VC,
)
VENDOR_CHATWOOT_SERVICE_STATUS = Metric(
    "redline_vendor_chatwoot_service_status",
    "stateset",
    "State of Chatwoot's services from its /api: queue_services (Redis, Sidekiq) and "
    "data_services (Postgres), each ok, failing or unknown.",
    (*VC, "service", "status"),
)
VENDOR_GA_ROWS_LAST_HOUR = Metric(
    "redline_vendor_ga_rows_last_hour",
    "gauge",
    "Rows the one-row GA4 report returned for the last hour: 1 when the newest hour with data "
    "is the current or the previous one (property time zone), 0 when GA answers but no recent "
    "data has arrived.",
    VC,
)
VENDOR_GA_LATEST_DATA = Metric(
    "redline_vendor_ga_latest_data_timestamp_seconds",
    "gauge",
    "Unix time of the start of the newest hour with GA4 data (yesterday or today); 0 if none.",
    VC,
)
VENDOR_METRICS: tuple[Metric, ...] = (
    VENDOR_FEED_UP,
    VENDOR_FEED_REASON,
    VENDOR_FEED_DATA_AGE,
    VENDOR_FEED_LAST_FETCH,
    VENDOR_FEED_FETCH_DURATION,
    VENDOR_FEED_INFO,
    VENDOR_PAGE_INDICATOR,
    VENDOR_COMPONENT_STATUS,
    VENDOR_INCIDENTS_OPEN,
    VENDOR_COMPONENT_INCIDENTS_OPEN,
    VENDOR_MAINTENANCES_ACTIVE,
    VENDOR_CHECK_UP,
    VENDOR_CHECK_REASON,
    VENDOR_CHECK_DURATION,
    VENDOR_CHECK_DATA_AGE,
    VENDOR_CHECK_LAST_RUN,
    VENDOR_CHECK_INFO,
    VENDOR_SHOPIFY_THROTTLE_AVAILABLE,
    VENDOR_SHOPIFY_THROTTLE_MAXIMUM,
    VENDOR_SHOPIFY_THROTTLE_RESTORE_RATE,
    VENDOR_CHATWOOT_SERVICE_STATUS,
    VENDOR_GA_ROWS_LAST_HOUR,
    VENDOR_GA_LATEST_DATA,
)

# --- launch day (exporter/launch/): the launch window of the config's launch: section ----------
LAUNCH_WINDOW = Metric(
    "redline_launch_window",
    "gauge",
    "1 inside the configured launch window (launch: in the config), else 0; rules and "
    "dashboards use it to be stricter during the launch.",
)
LAUNCH_WINDOW_START = Metric(
    "redline_launch_window_start_timestamp_seconds",
    "gauge",
    "Unix time the configured launch window starts.",
)
LAUNCH_WINDOW_END = Metric(
    "redline_launch_window_end_timestamp_seconds",
    "gauge",
    "Unix time the configured launch window ends (exclusive).",
)
LAUNCH_METRICS: tuple[Metric, ...] = (LAUNCH_WINDOW, LAUNCH_WINDOW_START, LAUNCH_WINDOW_END)

# --- maintenance windows (exporter/maintenance/): the config's maintenance: section --------------
# A database's window carries service="database" like the database's own alerts, and its name in
# `database`; a service's window leaves `database` empty.
MAINTENANCE_WINDOW = Metric(
    "redline_maintenance_window",
    "gauge",
    "1 while a planned maintenance window (maintenance: in the config) covers the service or "
    "database, else 0; the MaintenanceWindow alert inhibits their alerts from it.",
    ("window", "service", "database"),
)
MAINTENANCE_WINDOW_START = Metric(
    "redline_maintenance_window_start_timestamp_seconds",
    "gauge",
    "Unix time the window's current or next occurrence starts (absent once a one-off window "
    "is over).",
    ("window",),
)
MAINTENANCE_WINDOW_END = Metric(
    "redline_maintenance_window_end_timestamp_seconds",
    "gauge",
    "Unix time the window's current or next occurrence ends (exclusive).",
    ("window",),
)
MAINTENANCE_METRICS: tuple[Metric, ...] = (
    MAINTENANCE_WINDOW,
    MAINTENANCE_WINDOW_START,
    MAINTENANCE_WINDOW_END,
)

# --- the exporter's own behaviour (global counters/gauges in exporter/selfmetrics.py) ---------
SCRAPE_DURATION = Metric(
    "redline_scrape_duration_seconds",
    "histogram",
    "Wall time of /metrics and /probe requests, by endpoint.",
    ("endpoint",),
)
# Its buckets: fine from 10 s to the 25 s scrape timeout (alert_rules/stack.yml), where
# RedlineScrapeSlow reads its p90 (threshold 20 s, a bound here: make generate checks it). With
# nothing between 10 and 30 s, scrapes of 11 s read as a p90 of 28 s and alerted.
SCRAPE_DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 12.5, 15, 17.5, 20, 22.5, 25, 30,
)  # fmt: skip
PROBE_ERRORS = Metric(
    "redline_probe_errors_total",
    "counter",
    "Probe runs that failed, by service, probe and reason.",
    (*P, "reason"),
)
PROBE_RUNS = Metric(
    "redline_probe_runs_total",
    "counter",
    "Probe runs started (a run shared by concurrent scrapes counts once).",
    P,
)
CONFIG_RELOAD_SUCCESS = Metric(
    "redline_config_last_reload_successful",
    "gauge",
    "1 if the last configuration load or reload succeeded, else 0.",
)
CONFIG_RELOAD_TIMESTAMP = Metric(
    "redline_config_last_reload_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful configuration load or reload.",
)
CONFIG_TARGETS = Metric(
    "redline_config_targets",
    "gauge",
    "Targets in the config in force, per area (probes, databases, heartbeats, log_sources, "
    "backups, vendors); a sudden fall is what a cut or wrong config file looks like.",
    ("area",),
)
WEB_AUTH_FAILURES = Metric(
    "redline_web_auth_failures_total",
    "counter",
    "Requests refused by basic auth, by reason: missing (no credentials: a client's first "
    "try), malformed, unknown_user, wrong_password, rate_limited (a client over its share of "
    "password checks, answered 429 without checking).",
    ("reason",),
)
SHARD_INFO = Metric(
    "redline_shard_info",
    "gauge",
    "The share of the services this exporter serves (redline run --shard=I/N), as "
    'running="I/N" ("1/1" unsharded); value 1. Compare it with the shard label Prometheus '
    "scrapes it with (alert_rules/stack.yml exporters).",
    ("running",),
)
SHARD_COUNT = Metric(
    "redline_shards",
    "gauge",
    "N of this exporter's --shard=I/N: how many shards it was started to be one of (1 "
    "unsharded). RedlineShardMismatch compares it with the shares the shards serve.",
)
BUILD_INFO = Metric(
    "redline_build_info", "gauge", "redline's version, value 1.", ("version", "python_version")
)
ASYNCIO_TASKS = Metric(
    "redline_asyncio_tasks",
    "gauge",
    "asyncio tasks alive in the exporter when scraped (the scrape's own included): a number "
    "that keeps growing is a leak (tests/test_soak.py checks it comes back after a soak).",
)

# --- platform (exporter/platform/): Fly machines from the Machines API, polled in the background -
FLY = ("service", "app", "group")
FLY_MACHINES = Metric(
    "redline_fly_machines",
    "gauge",
    "Machines of each process group by state (created, starting, started, stopping, stopped, "
    "suspending, suspended, replacing, destroying, destroyed, failed, or unknown: a state redline "
    "does not know), as the Machines API last listed them; every state is present, 0 when none.",
    (*FLY, "state"),
)
FLY_MACHINES_WANTED = Metric(
    "redline_fly_machines_wanted",
    "gauge",
    "Machines the app wants started in the group (config: fly.groups[].machines).",
    FLY,
)
FLY_MACHINE_MEMORY = Metric(
    "redline_fly_machine_memory_bytes",
    "gauge",
    "Memory of each machine of the group as deployed (config: fly.groups[].memory): the limit "
    "an OOM kill hits.",
    FLY,
)
FLY_EXITS = Metric(
    "redline_fly_machine_exits_total",
    "counter",
    "Exit events of the group's machines seen in the Machines API (a main process that ended, "
    "for whatever reason); kept across restarts of redline in platform.fly.state_file.",
    FLY,
)
FLY_OOM_KILLS = Metric(
    "redline_fly_machine_oom_kills_total",
    "counter",
    "Exit events whose exit_event.oom_killed is true: the machine ran out of memory and its "
    "process was killed. Kept across restarts of redline.",
    FLY,
)
FLY_RESTARTS = Metric(
    "redline_fly_machine_restarts_total",
    "counter",
    "Exit events after which Fly restarts the machine (exit_event.restarting, the restart "
    "policy at work): a crash loop counts up here. Kept across restarts of redline.",
    FLY,
)
FLY_LAST_EXIT_CODE = Metric(
    "redline_fly_machine_last_exit_code",
    "gauge",
    "Exit code of the group's newest exit event (137: killed, as by the OOM killer). Absent "
    "until an exit was seen.",
    FLY,
)
FLY_LAST_EXIT = Metric(
    "redline_fly_machine_last_exit_timestamp_seconds",
    "gauge",
    "Unix time of the group's newest exit event. Absent until an exit was seen.",
    FLY,
)
FA = ("app",)
FLY_API_UP = Metric(
    "redline_fly_api_up",
    "gauge",
    "1 if the last Machines API poll of the app succeeded, else 0. Absent before the first poll.",
    FA,
)
FLY_API_REASON = Metric(
    "redline_fly_api_failure_reason",
    "stateset",
    "Why the last poll failed (auth: the token was refused; rate_limited: 429; http_status: "
    "5xx; truncated, invalid_json, unknown_format: a cut or malformed answer; secret: the token "
    "file cannot be read, ...): exactly one is 1 while down.",
    (*FA, "reason"),
)
FLY_API_DATA_AGE = Metric(
    "redline_fly_api_data_age_seconds",
    "gauge",
    "Seconds since the machines served were last listed; grows while polls fail (the cache age).",
    FA,
)
FLY_API_LAST_POLL = Metric(
    "redline_fly_api_last_poll_timestamp_seconds",
    "gauge",
    "Unix time the last poll of the app finished, whatever its outcome.",
    FA,
)
FLY_API_UNKNOWN_STATES = Metric(
    "redline_fly_api_unknown_states_total",
    "counter",
    "Machines listed in a state redline does not know (counted under state unknown) or without "
    "an id, per poll: the API's vocabulary changed.",
    FA,
)
FLY_STATE_FILE_STATUS = Metric(
    "redline_fly_state_file_status",
    "stateset",
    "The machine counters' state file: ok, missing (first start), corrupt (set aside, counters "
    "start again), unwritable (kept in memory), or disabled (no state_file).",
    ("status",),
)
PLATFORM_METRICS: tuple[Metric, ...] = (
    FLY_MACHINES,
    FLY_MACHINES_WANTED,
    FLY_MACHINE_MEMORY,
    FLY_EXITS,
    FLY_OOM_KILLS,
    FLY_RESTARTS,
    FLY_LAST_EXIT_CODE,
    FLY_LAST_EXIT,
    FLY_API_UP,
    FLY_API_REASON,
    FLY_API_DATA_AGE,
    FLY_API_LAST_POLL,
    FLY_API_UNKNOWN_STATES,
    FLY_STATE_FILE_STATUS,
)

# --- the platforms' own series (scraped by Prometheus, never served by redline) ------------------
# Fly.io's built-in metrics, federated by the fly-federate job (docs/platform.md); Fly labels
# them app, region, host and instance (the machine), the job adds redline's service. Names as
# Fly documents them: counters end in _count, not _total.
FLYS = ("service", "app", "region", "host", "instance")
FLY_INSTANCE_UP = Metric("fly_instance_up", "gauge", "1 while the machine reports.", FLYS)
FLY_MEM_TOTAL = Metric(
    "fly_instance_memory_mem_total", "gauge", "The machine's memory (MemTotal), bytes.", FLYS
)
FLY_MEM_AVAILABLE = Metric(
    "fly_instance_memory_mem_available",
    "gauge",
    "Memory available to new work on the machine (MemAvailable), bytes.",
    FLYS,
)
FLY_CPU = Metric(
    "fly_instance_cpu",
    "counter",
    "CPU time by cpu_id and mode, in centiseconds (Fly's unit).",
    (*FLYS, "cpu_id", "mode"),
)
FLY_VOLUME_SIZE = Metric(
    "fly_volume_size_bytes", "gauge", "A volume's size.", ("service", "app", "region", "host", "id")
)
FLY_VOLUME_USED_PCT = Metric(
    "fly_volume_used_pct",
    "gauge",
    "Share of a volume in use, 0-100.",
    ("service", "app", "region", "host", "id"),
)
FLY_EDGE_TLS_ERRORS = Metric(
    "fly_edge_tls_handshake_errors",
    "counter",
    "TLS handshakes that failed at Fly's edge, by servername.",
    ("service", "app", "region", "host", "servername"),
)
FLY_APP_RESPONSES = Metric(
    "fly_app_http_responses_count",
    "counter",
    "HTTP responses of the app through Fly's proxy, by status code.",
    (*FLYS, "status"),
)
FLY_APP_RESPONSE_TIME = Metric(
    "fly_app_http_response_time_seconds",
    "histogram",
    "Time the app took to answer through Fly's proxy, by status code.",
    (*FLYS, "status"),
)
# Supabase's Metrics API, scraped by the supabase job with every name prefixed supabase_ (their
# node_* and pg_* names are redline's own host and database series otherwise). Supabase labels
# them supabase_project_ref and service_type; the job adds service (database).
SUPA = ("service", "supabase_project_ref", "service_type")
SUPA_CPU = Metric(
    "supabase_node_cpu_seconds_total",
    "counter",
    "The database instance's CPU time by cpu and mode.",
    (*SUPA, "cpu", "mode"),
)
SUPA_MEM_TOTAL = Metric(
    "supabase_node_memory_MemTotal_bytes", "gauge", "The instance's memory.", SUPA
)
SUPA_MEM_AVAILABLE = Metric(
    "supabase_node_memory_MemAvailable_bytes", "gauge", "The instance's available memory.", SUPA
)
SUPA_FS = (*SUPA, "device", "fstype", "mountpoint")
SUPA_FS_SIZE = Metric(
    "supabase_node_filesystem_size_bytes",
    "gauge",
    "A filesystem's size (/data: Postgres).",
    SUPA_FS,
)
SUPA_FS_AVAIL = Metric(
    "supabase_node_filesystem_avail_bytes", "gauge", "A filesystem's available bytes.", SUPA_FS
)
SUPA_BACKENDS = Metric(
    "supabase_pg_stat_database_num_backends",
    "gauge",
    "Connections to the database server.",
    (*SUPA, "server"),
)
# ASSUMPTION: postgres_exporter's pg_settings_max_connections is in Supabase's list (other
# pg_settings_* are); where it is not, platform.supabase.max_connections stands in. Confirm with
# curl of the endpoint | grep max_connections.
SUPA_MAX_CONNECTIONS = Metric(
    "supabase_pg_settings_max_connections",
    "gauge",
    "The server's max_connections.",
    (*SUPA, "server"),
)
SUPA_DB_SIZE = Metric(
    "supabase_pg_database_size_bytes", "gauge", "Size of each database.", (*SUPA, "datname")
)
SUPA_POOLER_UP = Metric("supabase_pgbouncer_up", "gauge", "1 if the pooler answered.", SUPA)
# ASSUMPTION: pgbouncer_exporter's pools series (pgbouncer_up, which Supabase lists, is that
# exporter's): clients waiting for a server connection. Confirm on the endpoint.
SUPA_POOLER_WAITING = Metric(
    "supabase_pgbouncer_pools_client_waiting_connections",
    "gauge",
    "Clients waiting for a server connection in the pooler, by database and user.",
    (*SUPA, "database", "user"),
)
SUPA_REPLICATION_LAG = Metric(
    "supabase_physical_replication_lag_physical_replication_lag_seconds",
    "gauge",
    "How far the read replica is behind the primary (Supabase's example alerts use it).",
    (*SUPA, "server"),
)
PLATFORM_SERIES: tuple[Metric, ...] = (
    FLY_INSTANCE_UP,
    FLY_MEM_TOTAL,
    FLY_MEM_AVAILABLE,
    FLY_CPU,
    FLY_VOLUME_SIZE,
    FLY_VOLUME_USED_PCT,
    FLY_EDGE_TLS_ERRORS,
    FLY_APP_RESPONSES,
    FLY_APP_RESPONSE_TIME,
    SUPA_CPU,
    SUPA_MEM_TOTAL,
    SUPA_MEM_AVAILABLE,
    SUPA_FS_SIZE,
    SUPA_FS_AVAIL,
    SUPA_BACKENDS,
    SUPA_MAX_CONNECTIONS,
    SUPA_DB_SIZE,
    SUPA_POOLER_UP,
    SUPA_POOLER_WAITING,
    SUPA_REPLICATION_LAG,
)

ALL: tuple[Metric, ...] = (
    PROBE_SUCCESS,
    PROBE_DURATION,
    PROBE_STATUS,
    PROBE_REASON,
    PROBE_RESULT_AGE,
    HTTP_STATUS_CODE,
    HTTP_DURATION,
    HTTP_CONTENT_LENGTH,
    HTTP_UNCOMPRESSED_BODY_LENGTH,
    HTTP_REDIRECTS,
    HTTP_SSL,
    HTTP_RETRY_AFTER,
    SSL_EARLIEST_CERT_EXPIRY,
    TLS_VERSION_INFO,
    JSON_FIELD_STATE,
    TCP_CONNECT_DURATION,
    TLS_HANDSHAKE_DURATION,
    DNS_LOOKUP_TIME,
    DNS_ANSWER_RRS,
    MCP_TOOLS,
    MCP_TOOL_LISTED,
    SOURCE_UP,
    SOURCE_DURATION,
    *HOST_METRICS,
    *LOG_METRICS,
    *PG_METRICS,
    *BACKUP_METRICS,
    *HEARTBEAT_METRICS,
    *VENDOR_METRICS,
    *LAUNCH_METRICS,
    *MAINTENANCE_METRICS,
    *PLATFORM_METRICS,
    SCRAPE_DURATION,
    PROBE_ERRORS,
    PROBE_RUNS,
    CONFIG_RELOAD_SUCCESS,
    CONFIG_RELOAD_TIMESTAMP,
    CONFIG_TARGETS,
    WEB_AUTH_FAILURES,
    SHARD_INFO,
    SHARD_COUNT,
    BUILD_INFO,
    ASYNCIO_TASKS,
)
