"""Hosts and capacity: the machine redline runs on (node_exporter's names and meanings) and the
configured process groups. When will something run out?"""

from dashboards import style as s
from dashboards.style import Q, m, sel, var

HOST = {"instance": var("instance")}
RATE = s.RATE
FS = HOST
AVAIL = sel(m.NODE_FILESYSTEM_AVAIL, **FS)
SIZE = sel(m.NODE_FILESYSTEM_SIZE, **FS)
WRITABLE = sel(m.NODE_FILESYSTEM_READONLY, **FS)
MOUNT = "{{instance}} {{mountpoint}}"

# HostFilesystemFillingUp: the trend it reads and the horizons of its ticket and page.
TICKET_TREND = s.window("HostFilesystemFillingUp", "ticket")
PAGE_TREND = s.window("HostFilesystemFillingUp", "page")
TIME_TO_FULL_CAP = 30 * 86400  # shown as "30 days" when the disk is not filling


def _predicted(severity: str) -> Q:
    trend = s.window("HostFilesystemFillingUp", severity)
    horizon = s.num(s.threshold("HostFilesystemFillingUp", severity, "horizon"))
    return Q(
        f"predict_linear({AVAIL}[{trend}], {horizon})\n  and {WRITABLE} == 0",
        f"{MOUNT} in {horizon // 3600} h",
    )


cpu_memory = s.row(
    "CPU and memory",
    s.timeseries(
        "CPU busy",
        "Share of CPU time not idle, all CPUs; orange and red where HostCPUHigh opens a ticket "
        "and pages (targets: warn 70% for 10 min, critical 90% for 5 min).",
        Q(
            f"1 - avg by (instance) (rate({sel(m.NODE_CPU_SECONDS, mode='idle', **HOST)}[{RATE}]))",
            "{{instance}}",
        ),
        unit=s.RATIO,
        max_=1,
        thresholds=s.above("HostCPUHigh"),
        alerts=("HostCPUHigh",),
        w=8,
    ),
    s.timeseries(
        "CPU by mode",
        "CPU time by mode, as CPUs busy (user, system, iowait, steal, ...).",
        Q(
            f"sum by (mode) (rate({sel(m.NODE_CPU_SECONDS, mode=('!=', 'idle'), **HOST)}[{RATE}]))",
            "{{mode}}",
        ),
        unit=s.COUNT,
        stack=True,
        w=8,
    ),
    s.timeseries(
        "Load average",
        "1, 5 and 15 minute load averages against the number of CPUs.",
        Q(sel(m.NODE_LOAD1, **HOST), "{{instance}} 1m"),
        Q(sel(m.NODE_LOAD5, **HOST), "{{instance}} 5m"),
        Q(sel(m.NODE_LOAD15, **HOST), "{{instance}} 15m"),
        Q(
            f"count by (instance) ({sel(m.NODE_CPU_SECONDS, mode='idle', **HOST)})",
            "{{instance}} CPUs",
        ),
        unit=s.COUNT,
        w=8,
    ),
    s.timeseries(
        "Memory used",
        "1 - MemAvailable / MemTotal; orange and red where HostMemoryHigh opens a ticket and "
        "pages (targets: warn 70%, critical 85%).",
        Q(
            f"1 - {sel(m.NODE_MEMORY_MEMAVAILABLE, **HOST)}\n"
            f"  / {sel(m.NODE_MEMORY_MEMTOTAL, **HOST)}",
            "{{instance}}",
        ),
        unit=s.RATIO,
        max_=1,
        thresholds=s.above("HostMemoryHigh"),
        alerts=("HostMemoryHigh",),
        w=8,
    ),
    s.timeseries(
        "Memory",
        "Total, available, page cache and buffers, and swap in use.",
        Q(sel(m.NODE_MEMORY_MEMTOTAL, **HOST), "{{instance}} total"),
        Q(sel(m.NODE_MEMORY_MEMAVAILABLE, **HOST), "{{instance}} available"),
        Q(sel(m.NODE_MEMORY_CACHED, **HOST), "{{instance}} cached"),
        Q(sel(m.NODE_MEMORY_BUFFERS, **HOST), "{{instance}} buffers"),
        Q(
            f"{sel(m.NODE_MEMORY_SWAPTOTAL, **HOST)} - {sel(m.NODE_MEMORY_SWAPFREE, **HOST)}",
            "{{instance}} swap used",
        ),
        unit=s.BYTES,
        w=8,
    ),
    s.timeseries(
        "Pressure stalls",
        "Share of time some task waited for CPU, memory or I/O (Linux PSI): rising before "
        "anything runs out.",
        Q(f"rate({sel(m.NODE_PRESSURE_CPU_WAITING, **HOST)}[{RATE}])", "{{instance}} cpu"),
        Q(f"rate({sel(m.NODE_PRESSURE_MEMORY_WAITING, **HOST)}[{RATE}])", "{{instance}} memory"),
        Q(f"rate({sel(m.NODE_PRESSURE_IO_WAITING, **HOST)}[{RATE}])", "{{instance}} io"),
        unit=s.RATIO,
        w=8,
    ),
)

disk = s.row(
    "Disk",
    s.timeseries(
        "Disk space used",
        "Used share of each filesystem; orange where HostDiskUsageHigh opens a ticket "
        "(targets: disk warn 80%).",
        Q(f"1 - {AVAIL} / {SIZE}", MOUNT),
        unit=s.RATIO,
        max_=1,
        thresholds=s.above("HostDiskUsageHigh"),
        alerts=("HostDiskUsageHigh",),
        w=8,
    ),
    s.stat(
        "Time until full",
        f"When each writable filesystem is full at its trend over the last {TICKET_TREND} "
        "(linear; 30 days or more reads as not filling); red and orange within the horizons "
        "HostFilesystemFillingUp pages and opens a ticket for.",
        Q(
            f"clamp_max(\n  {AVAIL}\n  / clamp_min(-deriv({AVAIL}[{TICKET_TREND}]), 1e-06),\n"
            f"  {TIME_TO_FULL_CAP}\n)\nand {WRITABLE} == 0",
            MOUNT,
        ),
        unit=s.DURATION,
        thresholds=s.below("HostFilesystemFillingUp", "horizon"),
        alerts=("HostFilesystemFillingUp",),
        w=8,
        h=8,
    ),
    s.timeseries(
        "Free space predicted",
        f"predict_linear as HostFilesystemFillingUp reads it: free space in "
        f"{s.num(s.threshold('HostFilesystemFillingUp', 'page', 'horizon')) // 3600} h at the "
        f"{PAGE_TREND} trend (page) and in "
        f"{s.num(s.threshold('HostFilesystemFillingUp', 'ticket', 'horizon')) // 3600} h at the "
        f"{TICKET_TREND} trend (ticket); below 0 it will be full by then.",
        _predicted("page"),
        _predicted("ticket"),
        unit=s.BYTES,
        thresholds=s.steps(s.CRITICAL, (0, s.OK)),
        alerts=("HostFilesystemFillingUp",),
        w=8,
    ),
    s.timeseries(
        "Disk throughput",
        "Bytes read and written per second, per device.",
        Q(f"rate({sel(m.NODE_DISK_READ_BYTES, **HOST)}[{RATE}])", "{{device}} read"),
        Q(f"-rate({sel(m.NODE_DISK_WRITTEN_BYTES, **HOST)}[{RATE}])", "{{device}} written"),
        unit=s.BYTES_PER_SECOND,
        w=8,
    ),
    s.timeseries(
        "Disk utilisation",
        "Share of time each device had I/O in progress.",
        Q(f"rate({sel(m.NODE_DISK_IO_TIME, **HOST)}[{RATE}])", "{{device}}"),
        unit=s.RATIO,
        max_=1,
        w=8,
    ),
    s.timeseries(
        "Inodes used",
        "Used share of each filesystem's file nodes: a disk with space left can still be full.",
        Q(
            f"1 - {sel(m.NODE_FILESYSTEM_FILES_FREE, **FS)} / {sel(m.NODE_FILESYSTEM_FILES, **FS)}",
            MOUNT,
        ),
        unit=s.RATIO,
        max_=1,
        w=8,
    ),
)

network = s.row(
    "Network",
    s.timeseries(
        "Network traffic",
        "Bytes received and sent per second, per interface.",
        Q(f"rate({sel(m.NODE_NETWORK_RECEIVE_BYTES, **HOST)}[{RATE}])", "{{device}} in"),
        Q(f"-rate({sel(m.NODE_NETWORK_TRANSMIT_BYTES, **HOST)}[{RATE}])", "{{device}} out"),
        unit=s.BYTES_PER_SECOND,
    ),
    s.timeseries(
        "Network errors and drops",
        "Receive and transmit errors and dropped packets per second, per interface.",
        Q(f"rate({sel(m.NODE_NETWORK_RECEIVE_ERRS, **HOST)}[{RATE}])", "{{device}} rx errors"),
        Q(f"rate({sel(m.NODE_NETWORK_TRANSMIT_ERRS, **HOST)}[{RATE}])", "{{device}} tx errors"),
        Q(f"rate({sel(m.NODE_NETWORK_RECEIVE_DROP, **HOST)}[{RATE}])", "{{device}} rx drops"),
        Q(f"rate({sel(m.NODE_NETWORK_TRANSMIT_DROP, **HOST)}[{RATE}])", "{{device}} tx drops"),
        unit=s.OPS,
    ),
)

processes = s.row(
    "Processes and restarts",
    s.stat(
        "Process groups",
        "Processes in each configured group now; a group with none left pages (ProcessGroupDown).",
        Q(sel(m.PROCESS_GROUP_PROCESSES, **HOST), "{{group}}"),
        unit=s.COUNT,
        thresholds=s.steps(s.CRITICAL, (1, s.OK)),
        alerts=("ProcessGroupDown",),
        w=6,
        h=8,
    ),
    s.timeseries(
        f"Restarts ({s.window('ProcessGroupRestarting')})",
        f"Processes that replaced an ended member over the last "
        f"{s.window('ProcessGroupRestarting')}; above the dashed line it is a crash loop "
        "(ProcessGroupRestarting).",
        Q(
            f"increase({sel(m.PROCESS_GROUP_RESTARTS, **HOST)}"
            f"[{s.window('ProcessGroupRestarting')}])",
            "{{group}}",
        ),
        unit=s.COUNT,
        thresholds=s.above("ProcessGroupRestarting"),
        alerts=("ProcessGroupRestarting",),
        w=6,
    ),
    s.timeseries(
        "Process group CPU",
        "CPU used by each group, in CPUs.",
        Q(f"rate({sel(m.PROCESS_GROUP_CPU_SECONDS, **HOST)}[{RATE}])", "{{group}}"),
        unit=s.COUNT,
        w=6,
    ),
    s.timeseries(
        "Process group memory",
        "Resident memory of each group.",
        Q(sel(m.PROCESS_GROUP_RESIDENT_MEMORY, **HOST), "{{group}}"),
        unit=s.BYTES,
        w=6,
    ),
    s.timeseries(
        "Open files",
        "File descriptors open on the host against its limit, and per group.",
        Q(sel(m.NODE_FILEFD_ALLOCATED, **HOST), "{{instance}} host"),
        Q(sel(m.NODE_FILEFD_MAXIMUM, **HOST), "{{instance}} host limit"),
        Q(sel(m.PROCESS_GROUP_OPEN_FDS, **HOST), "{{group}}"),
        unit=s.COUNT,
        w=12,
    ),
    s.stat(
        "Up since",
        "When the host booted and when each group's oldest process started.",
        Q(f"{sel(m.NODE_BOOT_TIME, **HOST)} * 1000", "{{instance}} boot"),
        Q(f"{sel(m.PROCESS_GROUP_OLDEST_START, **HOST)} * 1000", "{{group}}"),
        unit=s.FROM_NOW,
        text_mode="value_and_name",
        w=12,
        h=8,
    ),
)

dashboard = s.dashboard(
    "hosts",
    "How busy is the machine, and when will CPU, memory or disk run out? With the process "
    "groups redline watches.",
    [cpu_memory, disk, network, processes],
    variables=[s.variable("instance", "Host", m.NODE_LOAD1, "instance")],
)
