"""Where the shop runs: the Fly machines (from redline's Machines API source and Fly's own
series) and the Supabase instance (its Metrics API), and the platform data itself going stale.

Which process groups work the customers' messages (an OOM kill of one pages) comes from the
shipped config's ``fly:`` blocks (config/hotrod.yml), so the rules name only groups that exist.
Fly's and Supabase's series reach Prometheus through the generated jobs fly-federate and
supabase (exporter/rules/prometheus_config.py), whose ``job`` label the test inputs carry.
"""

from __future__ import annotations

from collections.abc import Callable

from exporter import metrics as m
from exporter.metrics import Metric
from exporter.platform.config import FLY_JOB, SUPABASE_JOB
from exporter.rules.alerts.common import (
    UP,
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
from exporter.rules.model import Alert, Rule, labels_of, n, sel
from exporter.rules.spec import seconds

# test inputs of the platforms' own series: what the generated jobs give them
FLY_TARGET = {"job": FLY_JOB}
SUPA_TARGET = {"job": SUPABASE_JOB, "instance": "ref.supabase.co:443"}
SUPA_LABELS = {"service": "database", "supabase_project_ref": "ref", "service_type": "db"}


def _fly(metric: Metric, **labels: str) -> str:
    body = ", ".join(f'{k}="{v}"' for k, v in {**labels, **FLY_TARGET}.items())
    return f"{metric.name}{{{body}}}"


def _supa(metric: Metric, **labels: str) -> str:
    body = ", ".join(f'{k}="{v}"' for k, v in {**SUPA_LABELS, **labels, **SUPA_TARGET}.items())
    return f"{metric.name}{{{body}}}"


def alerts(ctx: Context) -> list[Alert]:
    out: list[Alert] = []
    pairs = [
        (app, g.name)
        for app, s in ctx.config.fly_apps().items()
        for g in (s.fly.groups if s.fly else ())
        if g.customer_messages
    ]
    w = {"service": "chatwoot", "app": "hotdash-chatwoot", "group": "worker"}
    web = {"service": "chatwoot", "app": "hotdash-chatwoot", "group": "web"}

    def customer(metric: Metric, suffix: str = "") -> str:
        """``metric`` of the customer-message groups only (app and group matched as pairs)."""
        terms = [sel(metric, suffix, app=a, group=g) for a, g in pairs]
        return " or ".join(terms) if len(terms) > 1 else terms[0]

    # --- machines (the Machines API source) ------------------------------------------------------
    spec = ctx.alert("FlyMachineOOMKilled")
    # which groups work the customers' messages: the page's; every other group: the ticket's
    customers = f"on (app, group) ({customer(m.FLY_MACHINES_WANTED)})"
    rules: list[Rule] = []
    for severity in spec.levels():
        (window,) = ctx.values(spec, "FlyMachineOOMKilled", severity, "window")
        kills = f"increase({sel(m.FLY_OOM_KILLS)}[{window}]) > 0"
        op = "and" if severity == "page" else "unless"
        rules.append(ctx.rule(spec, severity, f"{kills}\n{op} {customers}"))
    oom_w = series(m.FLY_OOM_KILLS, **w)
    oom_web = series(m.FLY_OOM_KILLS, **web)
    wants = {
        series(m.FLY_MACHINES_WANTED, **w): seq((1, 40)),
        series(m.FLY_MACHINES_WANTED, **web): seq((1, 40)),
    }
    out.append(
        Alert(
            "FlyMachineOOMKilled",
            "platform",
            "{{ $labels.group }} machine of {{ $labels.app }} was OOM-killed",
            "A machine of process group {{ $labels.group }} of the Fly app {{ $labels.app }} "
            "({{ $labels.service }}) ran out of memory and its process was killed "
            "({{ $value | humanize }} time(s) in the last [[window]]). For Chatwoot's worker the "
            "customers' messages wait until it is back; at launch its 512 MB machine died this "
            "way. redline_fly_machine_last_exit_code and the machine's memory panel show it.",
            spec.dashboard,
            tuple(rules),
            (
                # the first OOM kill counted at step 5: increase() over a counter that was 0
                case(
                    {oom_w: seq((0, 5), (1, 30)), oom_web: seq((0, 35)), **wants},
                    target(**w),
                    fires("page", 5, 1),
                ),
                case(
                    {oom_web: seq((0, 5), (1, 30)), oom_w: seq((0, 35)), **wants},
                    target(**web),
                    fires("ticket", 5, 1),
                ),
            ),
            quiet({oom_w: seq((2, 40)), oom_web: seq((1, 40)), **wants}),
        )
    )

    spec = ctx.alert("FlyMachineRestarting")
    window, threshold = ctx.values(spec, "FlyMachineRestarting", "ticket", "window", "threshold")
    restarts = series(m.FLY_RESTARTS, **web)
    out.append(
        Alert(
            "FlyMachineRestarting",
            "platform",
            "{{ $labels.group }} machines of {{ $labels.app }} are crash-looping",
            "Machines of process group {{ $labels.group }} of {{ $labels.app }} exited and were "
            "restarted by Fly {{ $value | humanize }} times in [[window]]: a crash loop. `fly logs "
            "-a {{ $labels.app }}` says why; redline_fly_machine_last_exit_code gives the code.",
            spec.dashboard,
            (
                ctx.rule(
                    spec, "ticket", f"increase({sel(m.FLY_RESTARTS)}[{window}]) > {n(threshold)}"
                ),
            ),
            # a counter from 0, one restart a step: above 2 from step 3 (value: the step)
            (case({restarts: ramp(0, 1, 40)}, target(**web), fires("ticket", 3, float)),),
            quiet({restarts: seq((5, 40))}),
        )
    )

    spec = ctx.alert("FlyMachineDown")
    started = (
        f"sum without ({labels_of(m.FLY_MACHINES, 'state')}) "
        f"({sel(m.FLY_MACHINES, state='started')})"
    )
    wanted = sel(m.FLY_MACHINES_WANTED)
    rules = []
    for severity in spec.levels():
        if severity == "page":
            expr = f"({started} < {wanted})\nand ({customer(m.FLY_MACHINES_WANTED)})"
        else:
            expr = f"{started} < {wanted}"
        rules.append(ctx.rule(spec, severity, expr))
    st_w = series(m.FLY_MACHINES, **w, state="started")
    sp_w = series(m.FLY_MACHINES, **w, state="stopped")
    want_w = series(m.FLY_MACHINES_WANTED, **w)
    st_web = series(m.FLY_MACHINES, **web, state="started")
    want_web = series(m.FLY_MACHINES_WANTED, **web)
    out.append(
        Alert(
            "FlyMachineDown",
            "platform",
            "{{ $labels.app }} {{ $labels.group }} runs {{ $value | humanize }} machine(s), "
            "fewer than it wants",
            "Only {{ $value | humanize }} machine(s) of process group {{ $labels.group }} of "
            "{{ $labels.app }} are started, fewer than the app wants "
            "(redline_fly_machines_wanted). The machine stopped, failed or is being replaced; "
            "for Chatwoot's worker nothing processes the customers' messages meanwhile. "
            "`fly machines list -a {{ $labels.app }}` shows its state.",
            spec.dashboard,
            tuple(rules),
            (
                case(
                    {st_w: seq((1, 4), (0, 30)), sp_w: seq((0, 4), (1, 30)), want_w: seq((1, 34))},
                    target(**w),
                    fires("page", 4, 0),
                    fires("ticket", 4, 0),
                ),
                case(
                    {st_web: seq((1, 4), (0, 30)), want_web: seq((1, 34))},
                    target(**web),
                    fires("ticket", 4, 0),
                ),
            ),
            quiet({st_w: seq((1, 40)), want_w: seq((1, 40))}),
        )
    )

    spec = ctx.alert("FlyMachinesApiFailing")
    api = series(m.FLY_API_UP, app="hotdash-chatwoot")
    out.append(
        Alert(
            "FlyMachinesApiFailing",
            "platform",
            "redline cannot read the machines of {{ $labels.app }}",
            "redline's polls of Fly's Machines API for {{ $labels.app }} have failed for "
            "[[for]] (redline_fly_api_up = {{ $value | humanize }}): machine states, OOM kills "
            "and restarts are stale, so FlyMachineOOMKilled and FlyMachineDown are blind. "
            "redline_fly_api_failure_reason says why (auth: the "
            "token in platform.fly.token_file was refused or expired; rate_limited; http_status).",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(m.FLY_API_UP)} == 0", {"service": "redline"}),),
            (
                case(
                    {api: seq((1, 4), (0, 60))},
                    target(app="hotdash-chatwoot"),
                    fires("ticket", 4, 0),
                ),
            ),
            quiet({api: seq((1, 60))}),
        )
    )

    # --- Fly's own series -------------------------------------------------------------------------
    inst = {
        "service": "chatwoot",
        "app": "hotdash-chatwoot",
        "region": "ord",
        "host": "ab12",
        "instance": "e784079b449483",
    }
    spec = ctx.alert("FlyMachineMemoryLow")
    avail_ratio = f"{sel(m.FLY_MEM_AVAILABLE)} / {sel(m.FLY_MEM_TOTAL)}"
    rules = [
        ctx.rule(
            spec, sev, f"{avail_ratio}\n  < {n(ctx.level(spec, 'FlyMachineMemoryLow', sev)[1])}"
        )
        for sev in spec.levels()
    ]
    total = _fly(m.FLY_MEM_TOTAL, **inst)
    avail = _fly(m.FLY_MEM_AVAILABLE, **inst)
    out.append(
        Alert(
            "FlyMachineMemoryLow",
            "platform",
            "Machine {{ $labels.instance }} of {{ $labels.app }} has "
            "{{ $value | humanizePercentage }} of its memory left",
            "Only {{ $value | humanizePercentage }} of the memory of machine "
            "{{ $labels.instance }} ({{ $labels.app }}, {{ $labels.region }}) is available "
            "(MemAvailable / MemTotal; warn below 10%, critical below 5%): the OOM killer is "
            "next. Raise the machine's memory (`fly scale memory`) or find the leak.",
            spec.dashboard,
            tuple(rules),
            (
                case(
                    {total: seq((1000, 40)), avail: seq((500, 4), (80, 36))},
                    {**inst, **FLY_TARGET},
                    fires("ticket", 4, 0.08),
                ),
                case(
                    {total: seq((1000, 40)), avail: seq((500, 4), (30, 36))},
                    {**inst, **FLY_TARGET},
                    fires("page", 4, 0.03),
                    fires("ticket", 4, 0.03),
                ),
            ),
            quiet({total: seq((1000, 40)), avail: seq((300, 40))}),
        )
    )

    vol = {
        "service": "chatwoot",
        "app": "hotdash-chatwoot",
        "region": "ord",
        "host": "ab12",
        "id": "vol_1234",
    }
    used = _fly(m.FLY_VOLUME_USED_PCT, **vol)
    spec = ctx.alert("FlyVolumeFull")
    (_, full) = ctx.level(spec, "FlyVolumeFull", "ticket")
    out.append(
        Alert(
            "FlyVolumeFull",
            "platform",
            "Volume {{ $labels.id }} of {{ $labels.app }} is {{ $value | humanize }}% full",
            "The Fly volume {{ $labels.id }} of {{ $labels.app }} ({{ $labels.region }}) is "
            "{{ $value | humanize }}% full (warn at 80%). `fly volumes extend` grows it; the "
            "app stops writing when it is full.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(m.FLY_VOLUME_USED_PCT)} > {n(full * 100)}"),),
            (case({used: seq((50, 4), (85, 36))}, {**vol, **FLY_TARGET}, fires("ticket", 4, 85)),),
            quiet({used: seq((70, 40))}),
        )
    )

    spec = ctx.alert("FlyVolumeFillingUp")
    window, horizon, guard = ctx.values(
        spec, "FlyVolumeFillingUp", "ticket", "window", "horizon", "guard"
    )
    expr = (
        f"{sel(m.FLY_VOLUME_USED_PCT)} > {n(guard * 100)}\n"
        f"and predict_linear({sel(m.FLY_VOLUME_USED_PCT)}[{window}], "
        f"{duration_expr(seconds(horizon))}) >= 100"
    )

    def filling(start: float) -> Callable[[int], float]:
        return lambda step: start + 0.1 * step

    out.append(
        Alert(
            "FlyVolumeFillingUp",
            "platform",
            "Volume {{ $labels.id }} of {{ $labels.app }} fills up within a day "
            "({{ $value | humanize }}% used)",
            "At the rate of the last hours, the Fly volume {{ $labels.id }} of {{ $labels.app }} "
            "is full within [[horizon]]; {{ $value | humanize }}% is used now. Extend it (`fly "
            "volumes extend`) or find what grows.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", expr),),
            # 0.1 points per 30 s step: full in 12 h from 60%; predict_linear needs two samples
            (
                case(
                    {used: ramp(60, 0.1, 200)},
                    {**vol, **FLY_TARGET},
                    fires("ticket", 1, filling(60)),
                ),
            ),
            quiet({used: seq((75, 200))}),
        )
    )

    spec = ctx.alert("FlyEdgeTLSErrors")
    window, threshold = ctx.values(spec, "FlyEdgeTLSErrors", "ticket", "window", "threshold")
    tls = {
        "service": "hotdash-app",
        "app": "hotdash-staging",
        "region": "ord",
        "host": "ab12",
        "servername": "hotdash-staging.fly.dev",
    }
    tls_s = _fly(m.FLY_EDGE_TLS_ERRORS, **tls)
    by = labels_of(m.FLY_EDGE_TLS_ERRORS, "service", "app", "servername")
    out.append(
        Alert(
            "FlyEdgeTLSErrors",
            "platform",
            "{{ $value | humanize }} TLS handshakes failed at Fly's edge for "
            "{{ $labels.servername }}",
            "Fly's edge failed {{ $value | humanize }} TLS handshakes for "
            "{{ $labels.servername }} ({{ $labels.app }}) in [[window]]: an expired or missing "
            "certificate (`fly certs show`), or clients that cannot speak its TLS. Users see a "
            "browser error, not the app.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"sum by ({by}) (increase({sel(m.FLY_EDGE_TLS_ERRORS)}[{window}]))"
                    f" > {n(threshold)}",
                ),
            ),
            # 5 failed handshakes a step from far above 0: increase() of the partial window
            # extrapolates half a step back, 5k + 2.5, over 50 from step 10; at the boundary
            # (step 20) the 10 min window is full: 100
            (
                case(
                    {tls_s: ramp(1000, 5, 60)},
                    {k: tls[k] for k in ("service", "app", "servername")},
                    fires("ticket", 10, 100),
                ),
            ),
            quiet({tls_s: ramp(1000, 0.2, 60)}),
        )
    )
    out += _supabase(ctx)
    out.append(_stale(ctx))
    return out


def _supabase(ctx: Context) -> list[Alert]:
    """The Supabase instance: CPU, memory, /data, connections, the pooler, replication."""
    out: list[Alert] = []
    supa = ctx.config.platform.supabase
    sl = {"service": supa.service if supa else "database"}
    where = {**SUPA_LABELS, **SUPA_TARGET}

    def levels(name: str, expr: Callable[[str], str]) -> tuple[Rule, ...]:
        spec = ctx.alert(name)
        return tuple(
            ctx.rule(spec, sev, f"{expr(n(ctx.level(spec, name, sev)[1]))}", sl)
            for sev in spec.levels()
        )

    spec = ctx.alert("SupabaseCPUHigh")
    (window,) = ctx.values(spec, "SupabaseCPUHigh", "ticket", "window")
    idle = sel(m.SUPA_CPU, mode="idle")
    by = labels_of(m.SUPA_CPU, "cpu", "mode")
    cpu = _supa(m.SUPA_CPU, cpu="0", mode="idle")
    out.append(
        Alert(
            "SupabaseCPUHigh",
            "platform",
            "The Supabase instance is {{ $value | humanizePercentage }} busy",
            "The database instance of Supabase project {{ $labels.supabase_project_ref }} has "
            "been {{ $value | humanizePercentage }} busy (all CPUs, averaged over [[window]]) for "
            "[[for]]: queries queue and every service slows. pg_stat_statements (the database "
            "dashboard) shows which statements; a larger compute size is the other way out.",
            spec.dashboard,
            levels(
                "SupabaseCPUHigh",
                lambda t: f"1 - avg without ({by}) (rate({idle}[{window}]))\n  > {t}",
            ),
            # idle seconds per 30 s step: 3 -> 90% busy; 15 -> 50%
            (case({cpu: ramp(1000, 3, 60)}, where, fires("ticket", 1, 0.9)),),
            quiet({cpu: ramp(1000, 15, 60)}),
        )
    )

    mem_total = _supa(m.SUPA_MEM_TOTAL)
    mem_avail = _supa(m.SUPA_MEM_AVAILABLE)
    spec = ctx.alert("SupabaseMemoryHigh")
    used = f"1 - {sel(m.SUPA_MEM_AVAILABLE)} / {sel(m.SUPA_MEM_TOTAL)}"
    out.append(
        Alert(
            "SupabaseMemoryHigh",
            "platform",
            "The Supabase instance uses {{ $value | humanizePercentage }} of its memory",
            "{{ $value | humanizePercentage }} of the database instance's memory is in use "
            "(1 - MemAvailable/MemTotal): Postgres's cache shrinks and connections risk being "
            "killed. Fewer connections (the pooler) or a larger compute size.",
            spec.dashboard,
            levels("SupabaseMemoryHigh", lambda t: f"{used}\n  > {t}"),
            (
                case(
                    {mem_total: seq((1000, 40)), mem_avail: seq((500, 4), (50, 36))},
                    where,
                    fires("ticket", 4, 0.95),
                ),
            ),
            quiet({mem_total: seq((1000, 40)), mem_avail: seq((300, 40))}),
        )
    )

    fs = {"device": "/dev/nvme1n1", "fstype": "ext4", "mountpoint": "/data"}
    size = _supa(m.SUPA_FS_SIZE, **fs)
    free = _supa(m.SUPA_FS_AVAIL, **fs)
    spec = ctx.alert("SupabaseDiskFull")
    data = {"mountpoint": "/data"}
    ratio = f"1 - {sel(m.SUPA_FS_AVAIL, **data)} / {sel(m.SUPA_FS_SIZE, **data)}"
    out.append(
        Alert(
            "SupabaseDiskFull",
            "platform",
            "The Supabase database disk (/data) is {{ $value | humanizePercentage }} full",
            "{{ $value | humanizePercentage }} of /data, the disk Postgres writes to, is used "
            "(warn 80%, critical 90%). Supabase grows the disk by itself only so often, and a "
            "full disk puts the database in read-only mode: every write of the shop fails. "
            "The database sizes (supabase_pg_database_size_bytes) show what grew.",
            spec.dashboard,
            levels("SupabaseDiskFull", lambda t: f"{ratio}\n  > {t}"),
            (
                case(
                    {size: seq((1000, 40)), free: seq((500, 4), (150, 36))},
                    {**where, **fs},
                    fires("ticket", 4, 0.85),
                ),
                case(
                    {size: seq((1000, 40)), free: seq((500, 4), (50, 36))},
                    {**where, **fs},
                    fires("page", 4, 0.95),
                    fires("ticket", 4, 0.95),
                ),
            ),
            quiet({size: seq((1000, 40)), free: seq((400, 40))}),
        )
    )

    backends = _supa(m.SUPA_BACKENDS, server="localhost:5432")
    limit = _supa(m.SUPA_MAX_CONNECTIONS, server="localhost:5432")
    fallback = supa.max_connections if supa and supa.max_connections else None
    spec = ctx.alert("SupabaseConnectionsHigh")
    # the metric's limit where Supabase publishes it, else the configured one
    denominator = f"max({sel(m.SUPA_MAX_CONNECTIONS)})"
    if fallback is not None:
        denominator = f"({denominator} or vector({fallback}))"
    conn = f"sum({sel(m.SUPA_BACKENDS)}) / {denominator}"
    out.append(
        Alert(
            "SupabaseConnectionsHigh",
            "platform",
            "The Supabase instance has {{ $value | humanizePercentage }} of its connections taken",
            "{{ $value | humanizePercentage }} of the instance's max_connections are in use "
            "(warn 80%, critical 90%): the next deploy or burst is refused connections. Direct "
            "connections that should go through the pooler are the usual cause.",
            spec.dashboard,
            levels("SupabaseConnectionsHigh", lambda t: f"{conn}\n  > {t}"),
            (
                case(
                    {backends: seq((10, 4), (85, 36)), limit: seq((100, 40))},
                    {},
                    fires("ticket", 4, 0.85),
                ),
                case(
                    {backends: seq((10, 4), (95, 36)), limit: seq((100, 40))},
                    {},
                    fires("page", 4, 0.95),
                    fires("ticket", 4, 0.95),
                ),
            ),
            quiet({backends: seq((30, 40)), limit: seq((100, 40))}),
        )
    )

    spec = ctx.alert("SupabasePoolerSaturated")
    waiting = _supa(m.SUPA_POOLER_WAITING, database="postgres", user="app")
    out.append(
        Alert(
            "SupabasePoolerSaturated",
            "platform",
            "{{ $value | humanize }} clients wait for a connection in Supabase's pooler",
            "{{ $value | humanize }} clients have waited for a server connection in the pooler "
            "(transaction mode, port 6543) for [[for]]: its pool is exhausted and the app's "
            "queries queue behind it. Long transactions (PostgresLongTransaction) or a pool too "
            "small for the compute size.",
            spec.dashboard,
            levels(
                "SupabasePoolerSaturated",
                lambda t: f"sum({sel(m.SUPA_POOLER_WAITING)}) > {t}",
            ),
            (case({waiting: seq((0, 4), (12, 36))}, {}, fires("ticket", 4, 12)),),
            quiet({waiting: seq((0, 40))}),
        )
    )

    spec = ctx.alert("SupabaseReplicationLag")
    lag = _supa(m.SUPA_REPLICATION_LAG, server="localhost:5432")
    out.append(
        Alert(
            "SupabaseReplicationLag",
            "platform",
            "Supabase's replica is {{ $value | humanizeDuration }} behind",
            "The read replica of the Supabase project is {{ $value | humanizeDuration }} behind "
            "the primary: reads from it are stale, and a failover would lose that much.",
            spec.dashboard,
            levels("SupabaseReplicationLag", lambda t: f"{sel(m.SUPA_REPLICATION_LAG)} > {t}"),
            (
                case(
                    {lag: seq((5, 4), (900, 36))},
                    {**where, "server": "localhost:5432"},
                    fires("ticket", 4, 900),
                ),
            ),
            quiet({lag: seq((5, 40))}),
        )
    )
    return out


def _stale(ctx: Context) -> Alert:
    """The platform data itself: a federation or Supabase scrape that fails, or a series the
    dashboards and alerts rely on that a platform stopped sending."""
    spec = ctx.alert("PlatformDataStale")
    jobs = [
        j
        for j, on in (
            (FLY_JOB, ctx.config.platform.fly),
            (SUPABASE_JOB, ctx.config.platform.supabase),
        )
        if on is not None
    ] or [FLY_JOB, SUPABASE_JOB]
    from exporter.rules.model import alternatives

    up = sel(UP, job=("=~", alternatives(jobs)))
    # a series gone while the scrape works: the platform changed its names (both are beta)
    kept = [(m.FLY_INSTANCE_UP, FLY_JOB), (m.SUPA_BACKENDS, SUPABASE_JOB)]
    missing = "\nor\n".join(
        f'(label_replace(absent({metric.name}), "job", "{job}", "", "")'
        f" and on () {sel(UP, job=job)} == 1)"
        for metric, job in kept
    )
    expr = f"{up} == 0\nor\n{missing}"
    fly_up = f'up{{job="{FLY_JOB}", instance="api.fly.io:443"}}'
    supa_up = f'up{{job="{SUPABASE_JOB}", instance="{SUPA_TARGET["instance"]}"}}'
    inst_up = _fly(m.FLY_INSTANCE_UP, service="chatwoot", app="hotdash-chatwoot", instance="x")
    backends = _supa(m.SUPA_BACKENDS, server="localhost:5432")
    return Alert(
        "PlatformDataStale",
        "platform",
        "Platform data from {{ $labels.job }} is stale",
        "Prometheus has not had the platform data of job {{ $labels.job }} for [[for]] "
        "(value {{ $value | humanize }}: 0 is a failing scrape, 1 a series gone): the "
        "scrape fails (a refused Fly token or Supabase key, an outage of the endpoint, a body "
        "cut short: the target's last error on Prometheus's targets page says which) or a "
        "series the alerts rely on is gone from it. Every Fly and Supabase alert is blind "
        "meanwhile.",
        spec.dashboard,
        (ctx.rule(spec, "ticket", expr, {"service": "redline"}),),
        (
            case(
                {
                    fly_up: seq((1, 4), (0, 36)),
                    inst_up: seq((1, 4)),
                    supa_up: seq((1, 40)),
                    backends: seq((5, 40)),
                },
                {"job": FLY_JOB, "instance": "api.fly.io:443"},
                fires("ticket", 4, 0),
            ),
            # Supabase answers, but the connections series is gone (its API is beta)
            case(
                {
                    fly_up: seq((1, 60)),
                    inst_up: seq((1, 60)),
                    supa_up: seq((1, 60)),
                    backends: seq((5, 4)),
                },
                {"job": SUPABASE_JOB},
                # the last sample at step 3 is still read for 5 min (the lookback): absent
                # from step 14
                fires("ticket", 14, 1),
            ),
        ),
        quiet(
            {
                fly_up: seq((1, 40)),
                inst_up: seq((1, 40)),
                supa_up: seq((1, 40)),
                backends: seq((5, 40)),
            }
        ),
    )
