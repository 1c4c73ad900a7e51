"""The host redline runs on: CPU, memory, disks, filesystems, network, processes."""

from __future__ import annotations

from collections.abc import Callable

from exporter import metrics as m
from exporter.rules.alerts.common import (
    Context,
    case,
    duration_expr,
    fires,
    quiet,
    ramp,
    seq,
    series,
    target,
)
from exporter.rules.model import (
    Alert,
    Measure,
    labels_of,
    n,
    sel,
)
from exporter.rules.spec import seconds

# --- host ----------------------------------------------------------------------------------------


def alerts(ctx: Context) -> list[Alert]:
    out = []
    hl = {"service": "host"}

    spec = ctx.alert("HostCPUHigh")
    rules = []
    for severity in spec.levels():
        window, threshold = ctx.values(spec, "HostCPUHigh", severity, "window", "threshold")
        idle = sel(m.NODE_CPU_SECONDS, mode="idle")
        busy = (
            f"1 - avg without ({labels_of(m.NODE_CPU_SECONDS, 'cpu', 'mode')}) "
            f"(rate({idle}[{window}]))"
        )
        measure = Measure(busy, threshold, ("instance",), "ratio", "usage", window, target=True)
        rules.append(ctx.measured(spec, severity, measure, hl))
    idle_s = series(m.NODE_CPU_SECONDS, cpu="0", mode="idle")
    # idle seconds per 30 s step: 6 -> 20% idle, 1.5 -> 5%, 27 -> 90%. rate() needs two samples
    # (onset step 1); by the boundary the 5 min window is full and the value exact.
    out.append(
        Alert(
            "HostCPUHigh",
            "host",
            "CPU of {{ $labels.instance }} is {{ $value | humanizePercentage }} busy",
            "The host redline runs on ({{ $labels.instance }}) has been {{ $value | "
            "humanizePercentage }} busy (all CPUs, averaged over [[window]]): warn above "
            "[[threshold.ticket|percent]] for [[for.ticket]], critical above "
            "[[threshold.page|percent]] for [[for.page]]. Which process group uses it: "
            "redline_process_group_cpu_seconds_total.",
            spec.dashboard,
            tuple(rules),
            (
                case({idle_s: ramp(1000, 6, 60)}, target(), fires("ticket", 1, 0.8)),
                case(
                    {idle_s: ramp(1000, 1.5, 60)},
                    target(),
                    fires("page", 1, 0.95),
                    fires("ticket", 1, 0.95),
                ),
            ),
            quiet({idle_s: ramp(1000, 27, 60)}),
        )
    )

    spec = ctx.alert("HostMemoryHigh")
    used = f"1 - {sel(m.NODE_MEMORY_MEMAVAILABLE)} / {sel(m.NODE_MEMORY_MEMTOTAL)}"
    rules = [
        ctx.measured(
            spec,
            sev,
            Measure(
                used,
                ctx.level(spec, "HostMemoryHigh", sev)[1],
                ("instance",),
                "ratio",
                "usage",
                target=True,
            ),
            hl,
        )
        for sev in spec.levels()
    ]
    total = series(m.NODE_MEMORY_MEMTOTAL)
    avail = series(m.NODE_MEMORY_MEMAVAILABLE)
    out.append(
        Alert(
            "HostMemoryHigh",
            "host",
            "Memory of {{ $labels.instance }} is {{ $value | humanizePercentage }} used",
            "{{ $value | humanizePercentage }} of the memory of {{ $labels.instance }} is in use "
            "(1 - MemAvailable/MemTotal; warn 70%, critical 85%). Near the limit the kernel's OOM "
            "killer picks a process: find the biggest with "
            "redline_process_group_resident_memory_bytes.",
            spec.dashboard,
            tuple(rules),
            (
                case(
                    {total: seq((1000, 40)), avail: seq((600, 4), (200, 36))},
                    target(),
                    fires("ticket", 4, 0.8),
                ),
                case(
                    {total: seq((1000, 40)), avail: seq((600, 4), (100, 36))},
                    target(),
                    fires("page", 4, 0.9),
                    fires("ticket", 4, 0.9),
                ),
            ),
            quiet({total: seq((1000, 40)), avail: seq((400, 40))}),
        )
    )

    fs = {"device": "/dev/vda1", "fstype": "ext4", "mountpoint": "/"}
    size = series(m.NODE_FILESYSTEM_SIZE, **fs)
    free = series(m.NODE_FILESYSTEM_AVAIL, **fs)
    ro = series(m.NODE_FILESYSTEM_READONLY, **fs)
    writable = f"{sel(m.NODE_FILESYSTEM_READONLY)} == 0"
    free_ratio = f"{sel(m.NODE_FILESYSTEM_AVAIL)} / {sel(m.NODE_FILESYSTEM_SIZE)}"

    spec = ctx.alert("HostDiskUsageHigh")
    _, full = ctx.level(spec, "HostDiskUsageHigh", "ticket")
    out.append(
        Alert(
            "HostDiskUsageHigh",
            "host",
            "{{ $labels.mountpoint }} on {{ $labels.instance }} is "
            "{{ $value | humanizePercentage }} full",
            "The filesystem {{ $labels.mountpoint }} ({{ $labels.device }}) of "
            "{{ $labels.instance }} is {{ $value | humanizePercentage }} full (warn at 80%). "
            "Logs, backups and Postgres temp files are the usual suspects: `du -xh "
            "{{ $labels.mountpoint }} | sort -h | tail`.",
            spec.dashboard,
            (
                ctx.measured(
                    spec,
                    "ticket",
                    Measure(
                        f"1 - {free_ratio}",
                        full,
                        ("instance", "mountpoint"),
                        "ratio",
                        "usage",
                        guard=writable,
                        target=True,
                    ),
                    hl,
                ),
            ),
            (
                case(
                    {size: seq((1000, 40)), free: seq((500, 4), (150, 36)), ro: seq((0, 40))},
                    target(**fs),
                    fires("ticket", 4, 0.85),
                ),
            ),
            # full, but read-only (an image or a snapshot mount): nothing will be written there
            quiet({size: seq((1000, 40)), free: seq((50, 40)), ro: seq((1, 40))}),
        )
    )

    spec = ctx.alert("HostFilesystemFillingUp")
    rules = []
    for severity in spec.levels():
        window, horizon, guard = ctx.values(
            spec, "HostFilesystemFillingUp", severity, "window", "horizon", "guard"
        )
        predicted = (
            f"predict_linear({sel(m.NODE_FILESYSTEM_AVAIL)}[{window}], "
            f"{duration_expr(seconds(horizon))}) < 0"
        )
        expr = f"{free_ratio} < {n(guard)}\nand {predicted}\nand {writable}"
        rules.append(ctx.rule(spec, severity, expr, hl))

    def draining(start: int) -> Callable[[int], float]:
        # free bytes fall by 1 per step out of 1000; the value is the free share
        return lambda step: (start - step) / 1000

    out.append(
        Alert(
            "HostFilesystemFillingUp",
            "host",
            "{{ $labels.mountpoint }} on {{ $labels.instance }} will fill up "
            "({{ $value | humanizePercentage }} free)",
            "At the rate of the last hours, {{ $labels.mountpoint }} ({{ $labels.device }}) of "
            "{{ $labels.instance }} fills up within [[horizon.ticket]] (ticket) or "
            "[[horizon.page]] (page); "
            "{{ $value | humanizePercentage }} is free now. Find what grows before it is full: "
            "Postgres, logs and backups stop when it is.",
            spec.dashboard,
            tuple(rules),
            (
                # predict_linear needs two samples: onset step 1. 35% free stays above the page's
                # 20% guard for the whole case.
                case(
                    {size: seq((1000, 200)), free: ramp(350, -1, 200), ro: seq((0, 200))},
                    target(**fs),
                    fires("ticket", 1, draining(350)),
                ),
                case(
                    {size: seq((1000, 200)), free: ramp(190, -1, 150), ro: seq((0, 200))},
                    target(**fs),
                    fires("page", 1, draining(190)),
                    fires("ticket", 1, draining(190)),
                ),
            ),
            # little free space, but not shrinking
            quiet({size: seq((1000, 200)), free: seq((150, 200)), ro: seq((0, 200))}),
        )
    )

    spec = ctx.alert("ProcessGroupDown")
    grp = series(m.PROCESS_GROUP_PROCESSES, group="sidekiq")
    out.append(
        Alert(
            "ProcessGroupDown",
            "host",
            "No {{ $labels.group }} process runs on {{ $labels.instance }}",
            "The process group {{ $labels.group }} on {{ $labels.instance }} has had "
            "{{ $value | humanize }} processes for [[for]]: whatever it does (Chatwoot's Sidekiq "
            "works the message queue) has stopped.",
            spec.dashboard,
            (ctx.rule(spec, "page", f"{sel(m.PROCESS_GROUP_PROCESSES)} == 0", hl),),
            (case({grp: seq((2, 4), (0, 20))}, target(group="sidekiq"), fires("page", 4, 0)),),
            quiet({grp: seq((2, 20))}),
        )
    )

    spec = ctx.alert("ProcessGroupRestarting")
    window, threshold = ctx.values(spec, "ProcessGroupRestarting", "ticket", "window", "threshold")
    restarts = series(m.PROCESS_GROUP_RESTARTS, group="sidekiq")
    out.append(
        Alert(
            "ProcessGroupRestarting",
            "host",
            "{{ $labels.group }} on {{ $labels.instance }} is crash-looping",
            "The process group {{ $labels.group }} on {{ $labels.instance }} restarted "
            "{{ $value | humanize }} times in [[window]]: a crash loop (at launch: Chatwoot's "
            "worker OOM-killed). `journalctl -k | grep -i oom` and the group's own log say why.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"increase({sel(m.PROCESS_GROUP_RESTARTS)}[{window}]) > {n(threshold)}",
                    hl,
                ),
            ),
            # a counter from 0: increase() does not extrapolate below zero, so it is exactly the
            # restarts so far; above 2 from step 3
            (case({restarts: ramp(0, 1, 40)}, target(group="sidekiq"), fires("ticket", 3, 13)),),
            quiet({restarts: seq((5, 40))}),
        )
    )
    return out
