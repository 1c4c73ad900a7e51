"""The database: Postgres up, connections, replication, locks, long transactions, statements."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal

from exporter import metrics as m
from exporter.metrics import Metric
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
    alternatives,
    labels_of,
    n,
    sel,
)
from exporter.rules.spec import SpecError, seconds

# --- database -------------------------------------------------------------------------------------


def alerts(ctx: Context) -> list[Alert]:
    out = []
    dl = {"service": "database"}
    db = {"database": "supabase"}

    def simple(
        name: str,
        metric: Metric,
        op: str,
        summary: str,
        description: str,
        values: tuple[float, float, float],
        *,
        unit_days: bool = False,
        fixed: str | None = None,
        measure_as: tuple[str, str] | None = None,
    ) -> Alert:
        """An alert comparing one per-database gauge with each level's threshold (or with
        ``fixed``). values: the quiet value, the ticket case's value and the page case's (past
        both thresholds). measure_as: (unit, kind) of a threshold ``redline baseline`` judges."""
        spec = ctx.alert(name)
        rules = []
        for severity in spec.levels():
            if fixed is not None:
                rhs = fixed
            else:
                _, limit = ctx.level(spec, name, severity)
                rhs = duration_expr(limit) if unit_days else n(limit)
            if measure_as is not None and op == ">" and fixed is None and not unit_days:
                unit, kind = measure_as
                measure = Measure(sel(metric), limit, ("database",), unit, kind)
                rules.append(ctx.measured(spec, severity, measure, dl))
            else:
                rules.append(ctx.rule(spec, severity, f"{sel(metric)} {op} {rhs}", dl))
        s = series(metric, **db)
        quiet_v, ticket_v, page_v = values
        cases = []
        if "ticket" in spec.levels():
            cases.append(
                case(
                    {s: seq((quiet_v, 4), (ticket_v, 40))},
                    target(**db),
                    fires("ticket", 4, ticket_v),
                )
            )
        if "page" in spec.levels():
            expects = [fires("page", 4, page_v)]
            if "ticket" in spec.levels():
                expects.append(fires("ticket", 4, page_v))
            cases.append(case({s: seq((quiet_v, 4), (page_v, 40))}, target(**db), *expects))
        return Alert(
            name,
            "database",
            summary,
            description,
            spec.dashboard,
            tuple(rules),
            tuple(cases),
            quiet({s: seq((quiet_v, 40))}),
        )

    out.append(_postgres_down(ctx))
    out.append(
        simple(
            "PostgresConnectionsHigh",
            m.PG_CONNECTIONS_USAGE,
            ">",
            "{{ $labels.database }} uses {{ $value | humanizePercentage }} of its connections",
            "{{ $value | humanizePercentage }} of the connection slots of {{ $labels.database }} "
            "are taken (warn 80%, critical 90%): the next burst or deploy is refused connections. "
            "pg_stat_activity_count by state shows who holds them.",
            (0.5, 0.85, 0.95),
            measure_as=("ratio", "usage"),
        )
    )
    out.append(
        simple(
            "PostgresLongTransaction",
            m.PG_OLDEST_TRANSACTION,
            ">",
            "A transaction on {{ $labels.database }} has been open {{ $value | humanizeDuration }}",
            "The oldest transaction on {{ $labels.database }} has been open for "
            "{{ $value | humanizeDuration }}: it holds its locks, keeps vacuum from cleaning up "
            "and, through the pooler, pins a connection. Find it in pg_stat_activity "
            "(xact_start) and end it if nobody owns it.",
            (10, 600, 600),
            unit_days=True,
        )
    )
    out.append(
        simple(
            "PostgresIdleInTransaction",
            m.PG_IDLE_IN_TRANSACTION,
            ">=",
            "{{ $value | humanize }} connections idle in a transaction on {{ $labels.database }}",
            "{{ $value | humanize }} connections to {{ $labels.database }} have sat idle inside an "
            "open transaction: an app code path forgot to commit or roll back, and the pooler's "
            "connections are pinned. pg_stat_activity (state 'idle in transaction') names them.",
            (1, 4, 4),
        )
    )
    out.append(
        simple(
            "PostgresLockWaits",
            m.PG_LOCK_WAIT_MAX,
            ">",
            "A query on {{ $labels.database }} waits {{ $value | humanizeDuration }} for a lock",
            "A connection to {{ $labels.database }} has waited {{ $value | humanizeDuration }} for "
            "a lock: requests behind it time out. pg_blocking_pids() finds the blocker (often a "
            "long transaction or a migration).",
            (1, 45, 45),
            unit_days=True,
        )
    )
    out.append(
        simple(
            "PostgresReplicationLag",
            m.PG_REPLICATION_LAG,
            ">",
            "Replica {{ $labels.database }} is {{ $value | humanizeDuration }} behind",
            "The replica {{ $labels.database }} replays the primary's changes "
            "{{ $value | humanizeDuration }} late: reads from it are stale, and a failover to it "
            "would lose that much. On a primary this is always 0.",
            (0, 60, 60),
            unit_days=True,
        )
    )

    spec = ctx.alert("PostgresDeadlocks")
    window, threshold = ctx.values(spec, "PostgresDeadlocks", "ticket", "window", "threshold")
    deadlocks = m.PG_STAT_DATABASE_COUNTERS["deadlocks"]
    dls = series(deadlocks, **db, datname="postgres")
    out.append(
        Alert(
            "PostgresDeadlocks",
            "database",
            "Deadlocks on {{ $labels.database }} ({{ $labels.datname }})",
            "Postgres detected about {{ $value | humanize }} deadlock(s) in {{ $labels.datname }} "
            "over the last [[window]] and aborted a transaction each time: two code paths take "
            "the same locks in opposite order. The server log (Supabase: Logs > Postgres) shows "
            "both statements.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"increase({sel(deadlocks)}[{window}]) > {n(threshold)}",
                    dl,
                ),
            ),
            # one deadlock at step 10 (counter at 3 before): over the 5 min sampled, increase()
            # extrapolates 15 s towards the 15 min window's start: 1 x 315 / 300 = 1.05
            (
                case(
                    {dls: seq((3, 10), (4, 30))},
                    target(**db, datname="postgres"),
                    fires("ticket", 10, 1.05),
                ),
            ),
            quiet({dls: seq((3, 40))}),
        )
    )

    spec = ctx.alert("PostgresCacheHitRatioLow")
    window, threshold, guard = ctx.values(
        spec, "PostgresCacheHitRatioLow", "ticket", "window", "threshold", "guard"
    )
    hit_m = m.PG_STAT_DATABASE_COUNTERS["blks_hit"]
    read_m = m.PG_STAT_DATABASE_COUNTERS["blks_read"]
    by = labels_of(hit_m, "database", "datname", "job", "instance")
    hit = f"sum by ({by}) (rate({sel(hit_m)}[{window}]))"
    read = f"sum by ({by}) (rate({sel(read_m)}[{window}]))"
    hit_s = series(hit_m, **db, datname="postgres")
    read_s = series(read_m, **db, datname="postgres")
    out.append(
        Alert(
            "PostgresCacheHitRatioLow",
            "database",
            "Cache hit ratio of {{ $labels.database }} is {{ $value | humanizePercentage }}",
            "Only {{ $value | humanizePercentage }} of the blocks {{ $labels.datname }} read "
            "over the last [[window]] came from the buffer cache (below "
            "[[threshold|percent]]): the working set outgrew memory or a query scans a big "
            "table. Top statements by shared_blks_read point at it.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{hit}\n  / ({hit} + {read})\n  < {n(threshold)}\n"
                    f"and ({hit} + {read}) > {n(guard)}",
                    dl,
                ),
            ),
            # 16 hits and 4 reads per second: ratio 0.8 at once, but the guard's 15 min rate
            # reaches 10/s only at step 15 (the window is still mostly empty before)
            (
                case(
                    {hit_s: ramp(1000000, 480, 90), read_s: ramp(1000000, 120, 90)},
                    target(**db, datname="postgres"),
                    fires("ticket", 15, 0.8),
                ),
            ),
            quiet({hit_s: ramp(1000000, 570, 90), read_s: ramp(1000000, 30, 90)}),
        )
    )

    spec = ctx.alert("PostgresStatementRegressed")
    window, horizon, threshold, guard = ctx.values(
        spec, "PostgresStatementRegressed", "ticket", "window", "horizon", "threshold", "guard"
    )
    secs = sel(m.PG_STATEMENT_SECONDS)
    calls = sel(m.PG_STATEMENT_CALLS)
    recent = f"rate({secs}[{window}]) / rate({calls}[{window}])"
    usual = f"rate({secs}[{horizon}]) / rate({calls}[{horizon}])"
    st = {"database": "supabase", "datname": "postgres", "user": "hotdash", "queryid": "42"}
    secs_s = series(m.PG_STATEMENT_SECONDS, **st)
    calls_s = series(m.PG_STATEMENT_CALLS, **st)
    out.append(
        Alert(
            "PostgresStatementRegressed",
            "database",
            "Statement {{ $labels.queryid }} on {{ $labels.database }} slowed to "
            "{{ $value | humanizeDuration }}",
            "Statement {{ $labels.queryid }} (user {{ $labels.user }}) now takes "
            "{{ $value | humanizeDuration }} on average over 30 minutes, more than twice its mean "
            "over the last day: a plan changed, an index is missing or bloated, or the data grew. "
            'Its text: pg_stat_statements_query_info{queryid="{{ $labels.queryid }}"}.',
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{recent}\n  > {n(threshold)} * ({usual})\nand {recent} > {n(guard)}",
                    dl,
                ),
            ),
            # 10 calls per step; 20 ms each for 5 h, then 530 ms each. The recent mean (60 steps)
            # passes 100 ms at step 609 (10 slow steps in the window), far above twice the day's.
            (
                case(
                    {
                        calls_s: ramp(0, 10, 700),
                        secs_s: f"{ramp(0, 0.2, 600)} {ramp(125.1, 5.3, 100)}",
                    },
                    target(**st),
                    fires("ticket", 609, lambda step: (12 + 5.1 * (step - 599)) / 600),
                ),
            ),
            # always 500 ms: slow, but not slower than usual
            quiet({calls_s: ramp(0, 10, 100), secs_s: ramp(0, 5, 100)}),
        )
    )
    return out


def _postgres_down(ctx: Context) -> Alert:
    """PostgresDown: a page for the databases the services depend on (``depends_on`` in
    config/hotrod.yml), down now or flapping (its canary failing often enough over ``window``,
    in at least ``guard`` state changes, so ``for`` is not restarted by every success); a ticket
    for any other database entry that is down."""
    name = "PostgresDown"
    spec = ctx.alert(name)
    services_use = sorted({d for s in ctx.config.services for d in s.depends_on})
    if not services_use:
        raise SpecError(f"config/hotrod.yml: no service depends_on a database: {name} pages none")
    used = ("=~", alternatives(services_use))
    other = ("!~", alternatives(services_use))
    window, threshold, guard = ctx.values(spec, name, "page", "window", "threshold", "guard")
    up = sel(m.PG_UP, database=used)
    page = (
        f"{up} == 0\nor\n"
        f"avg_over_time({up}[{window}]) < {n(threshold)}\n"
        f"  and changes({up}[{window}]) >= {n(guard)}"
    )
    ticket = f"{sel(m.PG_UP, database=other)} == 0"
    dl = {"service": "database"}
    pooler = series(m.PG_UP, database=services_use[0])
    direct = series(m.PG_UP, database="supabase")
    # the flapping case: healthy for 40 steps, then every third canary fails
    flapping = [1] * 40 + [0 if k % 3 == 0 else 1 for k in range(60)]
    onset, value = _flapping_onset(flapping, window, threshold, guard)
    return Alert(
        name,
        "database",
        "Database {{ $labels.database }} is down",
        "redline's canary query to {{ $labels.database }} is failing: it answered "
        "{{ $value | humanizePercentage }} of the time (0% = down at this scrape; above that, "
        "flapping over the last [[window.page]]); every Hot Rod AN service depends on the database "
        "it reaches. redline_pg_failure_reason says why (connect, auth, timeout, ...); check "
        "Supabase's status page and dashboard.",
        spec.dashboard,
        (ctx.rule(spec, "page", page, dl), ctx.rule(spec, "ticket", ticket, dl)),
        (
            case(
                {pooler: seq((1, 4), (0, 20))},
                target(database=services_use[0]),
                fires("page", 4, 0),
            ),
            *(
                ()
                if onset is None
                else (
                    case(
                        {pooler: " ".join(str(v) for v in flapping)},
                        target(database=services_use[0]),
                        fires("page", onset, value),
                    ),
                )
            ),
            # redline's own direct connection failing (auth, say): a ticket, never the page
            case(
                {direct: seq((1, 4), (0, 20)), pooler: seq((1, 24))},
                target(database="supabase"),
                fires("ticket", 4, 0),
            ),
        ),
        # one failed canary in ten: a blip, not an outage
        quiet({pooler: " ".join("0" if k % 10 == 9 else "1" for k in range(60))}),
    )


def _flapping_onset(
    values: list[int], window: str, threshold: Decimal, guard: Decimal
) -> tuple[int | None, Callable[[int], float]]:
    """The first step from which the page condition holds at every later step, and the alert's
    value there (0 at a failed canary, else the window's average), as Prometheus evaluates it:
    a range of ``window`` holds the samples of both ends (30 s steps). None when it never holds
    for good: a window too short for 30 s steps to show a flap (the demo profile's 1 min, which
    renders rules and no tests)."""
    width = int(seconds(window) / 30)

    def holds(t: int) -> bool:
        w = values[max(0, t - width) : t + 1]
        changes = sum(1 for a, b in itertools.pairwise(w) if a != b)
        avg = Decimal(sum(w)) / len(w)
        return values[t] == 0 or (avg < threshold and changes >= guard)

    onset = next(
        (t for t in range(len(values)) if all(holds(u) for u in range(t, len(values)))), None
    )

    def value(t: int) -> float:
        w = values[max(0, t - width) : t + 1]
        return 0.0 if values[t] == 0 else sum(w) / len(w)

    return onset, value
