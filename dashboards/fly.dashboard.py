"""Fly apps: where the shop's services really run. Machines by state and process group, memory
against each machine's limit, restarts and OOM kills (redline's Machines API source); requests,
5xx and latency by app and region, volumes and edge TLS (Fly's own series, federated)."""

from dashboards import style as s
from dashboards.style import Q, m, sel, var

APP = {"app": var("app")}
RATE = s.RATE
FLY_JOB = "fly-federate"

machines = s.row(
    "Machines",
    s.stat(
        "Machines started / wanted",
        "Machines started in each process group against the number the app wants "
        "(config: fly.groups[].machines), from Fly's Machines API; red when fewer are started "
        "(FlyMachineDown).",
        Q(
            f"sum by (app, group) ({sel(m.FLY_MACHINES, state='started', **APP)})\n"
            f"  - sum by (app, group) ({sel(m.FLY_MACHINES_WANTED, **APP)})",
            "{{app}} {{group}}",
        ),
        thresholds=s.steps(s.CRITICAL, (0, s.OK)),
        alerts=("FlyMachineDown",),
        text_mode="value_and_name",
        w=8,
        h=6,
    ),
    s.timeseries(
        "Machines by state",
        "Machines of each group by state (started, stopped, replacing, failed, unknown, ...).",
        Q(
            f"sum by (app, group, state) ({sel(m.FLY_MACHINES, **APP)}) > 0",
            "{{app}} {{group}} {{state}}",
        ),
        unit=s.COUNT,
        w=8,
        h=6,
    ),
    s.timeseries(
        f"OOM kills and restarts ({s.window('FlyMachineOOMKilled', 'page')})",
        "OOM kills (FlyMachineOOMKilled: pages for the group that works the customers' "
        "messages) and restarts by Fly's restart policy (FlyMachineRestarting above the dashed "
        "line) per group.",
        Q(
            f"increase({sel(m.FLY_OOM_KILLS, **APP)}[{s.window('FlyMachineOOMKilled', 'page')}])",
            "{{app}} {{group}} OOM kills",
        ),
        Q(
            f"increase({sel(m.FLY_RESTARTS, **APP)}[{s.window('FlyMachineRestarting')}])",
            "{{app}} {{group}} restarts",
        ),
        unit=s.COUNT,
        thresholds=s.above("FlyMachineRestarting"),
        alerts=("FlyMachineOOMKilled", "FlyMachineRestarting"),
        w=8,
        h=6,
    ),
    s.stat(
        "Last exit code",
        "Exit code of each group's newest machine exit (137: killed, as by the OOM killer).",
        Q(sel(m.FLY_LAST_EXIT_CODE, **APP), "{{app}} {{group}}"),
        thresholds=s.steps(s.OK, (1, s.WARNING)),
        text_mode="value_and_name",
        w=8,
        h=5,
    ),
    s.stat(
        "Machines API",
        "Whether redline's last poll of Fly's Machines API worked, per app, and how old the "
        "machines shown are (FlyMachinesApiFailing after 15 minutes of failures).",
        Q(sel(m.FLY_API_DATA_AGE, **APP), "{{app}}"),
        unit=s.SECONDS,
        thresholds=s.steps(s.OK, (300, s.WARNING), (900, s.CRITICAL)),
        alerts=("FlyMachinesApiFailing",),
        text_mode="value_and_name",
        w=8,
        h=5,
    ),
    s.stat(
        "Platform data",
        "Whether Prometheus reads Fly's federation and Supabase's metrics (up of the generated "
        "jobs; PlatformDataStale after 10 minutes). Per scrape job: the app variable does not "
        "apply.",
        Q(f'up{{job=~"{FLY_JOB}|supabase"}}', "{{job}}"),
        thresholds=s.steps(s.CRITICAL, (1, s.OK)),
        alerts=("PlatformDataStale",),
        text_mode="value_and_name",
        w=8,
        h=5,
    ),
)

memory = s.row(
    "Memory and CPU",
    s.timeseries(
        "Memory used against the machine's limit",
        "1 - MemAvailable / MemTotal per machine: the limit an OOM kill hits is 100%. Orange "
        "and red where FlyMachineMemoryLow opens a ticket and pages.",
        Q(
            f"1 - {sel(m.FLY_MEM_AVAILABLE, **APP)}\n  / {sel(m.FLY_MEM_TOTAL, **APP)}",
            "{{app}} {{instance}}",
        ),
        unit=s.RATIO,
        max_=1,
        thresholds=s.steps(
            s.OK,
            (1 - s.threshold("FlyMachineMemoryLow", "ticket"), s.WARNING),
            (1 - s.threshold("FlyMachineMemoryLow", "page"), s.CRITICAL),
        ),
        alerts=("FlyMachineMemoryLow",),
        w=12,
    ),
    s.timeseries(
        "Machine memory",
        "Each machine's memory (MemTotal) and what is available, with the size the config says "
        "each group was deployed with.",
        Q(sel(m.FLY_MEM_TOTAL, **APP), "{{app}} {{instance}} total"),
        Q(sel(m.FLY_MEM_AVAILABLE, **APP), "{{app}} {{instance}} available"),
        Q(sel(m.FLY_MACHINE_MEMORY, **APP), "{{app}} {{group}} deployed"),
        unit=s.BYTES,
        w=12,
    ),
    s.timeseries(
        "CPU busy",
        "Share of each machine's CPU time not idle (Fly counts centiseconds).",
        Q(
            f"1 - sum by (app, instance) (rate({sel(m.FLY_CPU, mode='idle', **APP)}[{RATE}]))\n"
            f"  / sum by (app, instance) (rate({sel(m.FLY_CPU, **APP)}[{RATE}]))",
            "{{app}} {{instance}}",
        ),
        unit=s.RATIO,
        max_=1,
        w=24,
    ),
)

traffic = s.row(
    "Requests through Fly's proxy",
    s.timeseries(
        "Requests by app and region",
        "Responses per second the app gave through Fly's proxy: the real traffic.",
        Q(
            f"sum by (app, region) (rate({sel(m.FLY_APP_RESPONSES, **APP)}[{RATE}]))",
            "{{app}} {{region}}",
        ),
        unit=s.PER_SECOND,
        w=8,
    ),
    s.timeseries(
        "5xx share",
        "Share of responses with a 5xx status; the SLO target is below 0.1% for every app.",
        Q(
            f"(sum by (app) (rate({sel(m.FLY_APP_RESPONSES, status=('=~', '5..'), **APP)}"
            f"[{RATE}])) or sum by (app) (rate({sel(m.FLY_APP_RESPONSES, **APP)}[{RATE}])) * 0)"
            f"\n  / sum by (app) (rate({sel(m.FLY_APP_RESPONSES, **APP)}[{RATE}]))",
            "{{app}}",
        ),
        unit=s.RATIO,
        thresholds=s.steps(s.OK, (0.001, s.CRITICAL)),
        w=8,
    ),
    s.timeseries(
        "p95 latency by app and region",
        "95th percentile of the time the app took to answer through Fly's proxy; the API "
        "target is 1 s.",
        Q(
            "histogram_quantile(0.95, sum by (app, region, le) "
            f"(rate({sel(m.FLY_APP_RESPONSE_TIME, '_bucket', **APP)}[{RATE}])))",
            "{{app}} {{region}}",
        ),
        unit=s.SECONDS,
        thresholds=s.steps(s.OK, (1, s.CRITICAL)),
        w=8,
    ),
)

storage = s.row(
    "Volumes and edge",
    s.timeseries(
        "Volume used",
        "Share of each volume in use; orange where FlyVolumeFull opens a ticket. "
        "FlyVolumeFillingUp warns a day ahead.",
        Q(f"{sel(m.FLY_VOLUME_USED_PCT, **APP)} / 100", "{{app}} {{id}}"),
        unit=s.RATIO,
        max_=1,
        thresholds=s.above("FlyVolumeFull"),
        alerts=("FlyVolumeFull", "FlyVolumeFillingUp"),
        w=12,
    ),
    s.timeseries(
        f"Edge TLS handshake errors ({s.window('FlyEdgeTLSErrors')})",
        "TLS handshakes Fly's edge failed, by server name; above the dashed line "
        "FlyEdgeTLSErrors opens a ticket.",
        Q(
            "sum by (app, servername) "
            f"(increase({sel(m.FLY_EDGE_TLS_ERRORS, **APP)}[{s.window('FlyEdgeTLSErrors')}]))",
            "{{servername}}",
        ),
        unit=s.COUNT,
        thresholds=s.above("FlyEdgeTLSErrors"),
        alerts=("FlyEdgeTLSErrors",),
        w=12,
    ),
)

dashboard = s.dashboard(
    "fly",
    "Where the shop's services run: every Fly app's machines, their memory against its limit, "
    "OOM kills and restarts, and the requests Fly's proxy passed to them.",
    [machines, memory, traffic, storage],
    variables=[s.variable("app", "App", m.FLY_MACHINES_WANTED, "app")],
)
