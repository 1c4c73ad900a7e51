"""The platform-health row the overview and launch dashboards share: where the shop runs, at a
glance (Fly machines started, OOM kills, the tightest machine's memory, Supabase's /data and
connections), each tile linking to the Fly apps or Supabase instance dashboard."""

from dashboards import style as s
from dashboards.style import Q, m, sel


def row() -> s.Row:
    oom_window = s.window("FlyMachineOOMKilled", "page")
    data = {"mountpoint": "/data"}
    return s.row(
        "Platform health",
        s.stat(
            "Fly machines missing",
            "Machines the apps want started minus those started, over every app and group "
            "(Fly's Machines API); above 0 is FlyMachineDown.",
            Q(
                f"sum({sel(m.FLY_MACHINES_WANTED)}) - sum({sel(m.FLY_MACHINES, state='started')})",
                "missing",
            ),
            thresholds=s.steps(s.OK, (1, s.CRITICAL)),
            alerts=("FlyMachineDown",),
            links=(s.goto("fly"),),
            w=5,
        ),
        s.stat(
            f"OOM kills ({oom_window})",
            "Fly machines OOM-killed in the window, every app (the Chatwoot worker's pages).",
            Q(f"sum(increase({sel(m.FLY_OOM_KILLS)}[{oom_window}]))", "OOM kills"),
            thresholds=s.steps(s.OK, (1, s.CRITICAL)),
            alerts=("FlyMachineOOMKilled",),
            links=(s.goto("fly"),),
            w=5,
        ),
        s.stat(
            "Tightest machine memory",
            "The smallest share of memory still available on any Fly machine.",
            Q(f"min({sel(m.FLY_MEM_AVAILABLE)} / {sel(m.FLY_MEM_TOTAL)})", "available"),
            unit=s.RATIO,
            thresholds=s.below("FlyMachineMemoryLow"),
            alerts=("FlyMachineMemoryLow",),
            links=(s.goto("fly"),),
            w=5,
        ),
        s.stat(
            "Supabase /data used",
            "Share of the database disk in use; full makes the database read-only.",
            Q(f"max(1 - {sel(m.SUPA_FS_AVAIL, **data)} / {sel(m.SUPA_FS_SIZE, **data)})", "/data"),
            unit=s.RATIO,
            thresholds=s.above("SupabaseDiskFull"),
            alerts=("SupabaseDiskFull",),
            links=(s.goto("supabase"),),
            w=5,
        ),
        s.stat(
            "Supabase connections",
            "Connections to the Supabase instance.",
            Q(f"sum({sel(m.SUPA_BACKENDS)})", "connections"),
            unit=s.COUNT,
            alerts=("SupabaseConnectionsHigh",),
            links=(s.goto("supabase"),),
            w=4,
        ),
    )
