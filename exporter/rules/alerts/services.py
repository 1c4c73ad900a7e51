"""The shop's services, from probes: down, wrong version, latency against its budget, rate
limits, certificates, DNS, and the services' own JSON figures (queues, MCP tools)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from exporter import metrics as m
from exporter.metrics import Metric
from exporter.rules.alerts.common import (
    MCP_QUERY_TOOLS,
    NOT_DOWN_REASONS,
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
    Case,
    Match,
    Measure,
    Rule,
    alternatives,
    labels_of,
    n,
    sel,
)
from exporter.rules.spec import AlertSpec, Severity, SpecError

# --- services, from probes ------------------------------------------------------------------------


def alerts(ctx: Context) -> list[Alert]:
    out = []
    svc = {"service": "agent-service", "probe": "health"}

    # The probes that pin the deployed version: failing their JSON checks is a wrong release
    # (ServiceWrongVersion, a ticket: the service answers), not the service being down.
    version_spec = ctx.alert("ServiceWrongVersion")
    if not version_spec.probes:
        raise SpecError("alert_rules/alerts.yml: alerts.ServiceWrongVersion.probes: none listed")
    pinned = [ctx.check_probe(t) for t in version_spec.probes]
    wrong_version = "\nor\n".join(
        f"{sel(m.PROBE_REASON, reason='json', service=service, probe=probe)} == 1"
        for service, probe in pinned
    )

    spec = ctx.alert("ServiceDown")
    not_down = sel(m.PROBE_REASON, reason=("=~", alternatives(NOT_DOWN_REASONS)))
    same_probe = f"unless on ({labels_of(m.PROBE_REASON, 'job', 'instance', 'service', 'probe')})"
    indented = wrong_version.replace("\n", "\n    ")
    # a vendor's platform (vendor: true in the operator's file, Shopify) failing our probes is a
    # ticket, never a page: we cannot fix it, and VendorComponentDown says when they admit it
    vendors = [s.name for s in ctx.config.services if s.vendor]

    def down_expr(**where: Match) -> str:
        return (
            f"{sel(m.PROBE_SUCCESS, '', **where)} == 0\n"
            f"{same_probe}\n  {not_down} == 1\n"
            f"{same_probe}\n  (\n    {indented}\n  )"
        )

    down_rules = (
        (
            ctx.rule(spec, "page", down_expr(service=("!~", alternatives(vendors)))),
            ctx.rule(spec, "ticket", down_expr(service=("=~", alternatives(vendors)))),
        )
        if vendors
        else (ctx.rule(spec, "page", down_expr()),)
    )
    success = series(m.PROBE_SUCCESS, **svc)
    version_service, version_probe = pinned[0]
    out.append(
        Alert(
            "ServiceDown",
            "probes",
            "{{ $labels.service }} is down ({{ $labels.probe }} probe failing)",
            "The {{ $labels.probe }} probe of {{ $labels.service }} has failed every scrape for "
            "[[for.page]] ([[for.ticket]] for a vendor's) (probe_success = "
            "{{ $value | humanize }}). redline_probe_failure_reason says "
            "why: timeout, connect, tls, status, body, json, ...",
            spec.dashboard,
            down_rules,
            # one case per configured service (its first probe), so a service added to the
            # operator's file is proven to page too (a vendor's: to open a ticket, never page)
            tuple(
                case(
                    {
                        series(m.PROBE_SUCCESS, **down): seq((1, 4), (0, 20)),
                        series(m.PROBE_REASON, **down, reason="timeout"): seq((0, 4), (1, 20)),
                        series(m.PROBE_REASON, **down, reason="dns"): seq((0, 24)),
                    },
                    target(**down),
                    fires("ticket" if down["service"] in vendors else "page", 4, 0),
                )
                for down in (
                    {"service": s.name, "probe": s.probes[0].name} for s in ctx.config.services
                )
            ),
            # failing because the name does not resolve (DNSLookupFailing's job), and a pinned
            # probe failing its JSON checks (ServiceWrongVersion's)
            quiet(
                {
                    success: seq((0, 20)),
                    series(m.PROBE_REASON, **svc, reason="dns"): seq((1, 20)),
                    series(m.PROBE_SUCCESS, service=version_service, probe=version_probe): seq(
                        (0, 20)
                    ),
                    series(
                        m.PROBE_REASON, service=version_service, probe=version_probe, reason="json"
                    ): seq((1, 20)),
                }
            ),
        )
    )

    spec = version_spec
    service, probe = pinned[0]
    json_bad = series(m.PROBE_REASON, service=service, probe=probe, reason="json")
    out.append(
        Alert(
            "ServiceWrongVersion",
            "probes",
            "{{ $labels.service }} answers with an unexpected release",
            "The {{ $labels.probe }} probe of {{ $labels.service }} fails its JSON checks, which "
            "pin the deployed version (value {{ $value | humanize }}): a rollback, a stale Fly "
            "machine or an unplanned release is serving. Compare the version it reports with "
            "config/hotrod.yml.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", wrong_version),),
            (
                case(
                    {json_bad: seq((0, 4), (1, 20))},
                    target(service=service, probe=probe, reason="json"),
                    fires("ticket", 4, 1),
                ),
            ),
            # a JSON check failing on a probe that does not pin a version
            quiet(
                {
                    series(
                        m.PROBE_REASON, service="hotdash-app", probe="health", reason="json"
                    ): seq((1, 20))
                }
            ),
        )
    )

    out.append(_latency(ctx))

    spec = ctx.alert("ServiceRateLimited")
    mcp = {"service": "llamaindex-mcp", "probe": "tools"}
    limited = series(m.PROBE_REASON, **mcp, reason="rate_limited")
    out.append(
        Alert(
            "ServiceRateLimited",
            "probes",
            "{{ $labels.service }} rate-limits redline ({{ $labels.probe }})",
            "{{ $labels.service }} has answered the {{ $labels.probe }} probe with 429 for "
            "[[for]] (value {{ $value | humanize }}): it is up, but the request budget it shares "
            "with the app is spent, so the app's own calls are being refused too.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(m.PROBE_REASON, reason='rate_limited')} == 1"),),
            (
                case(
                    {limited: seq((0, 4), (1, 30))},
                    target(**mcp, reason="rate_limited"),
                    fires("ticket", 4, 1),
                ),
            ),
            quiet({limited: seq((0, 30))}),
        )
    )

    spec = ctx.alert("TLSCertificateExpiring")
    _, t_left = ctx.level(spec, "TLSCertificateExpiring", "ticket")
    _, p_left = ctx.level(spec, "TLSCertificateExpiring", "page")
    left = f"({sel(m.SSL_EARLIEST_CERT_EXPIRY)} - time())"
    tls = {"service": "hotdash-app", "probe": "tls"}
    expiry = series(m.SSL_EARLIEST_CERT_EXPIRY, **tls)

    def remaining(expires: int) -> Callable[[int], float]:
        return lambda step: float(expires - 30 * step)

    out.append(
        Alert(
            "TLSCertificateExpiring",
            "probes",
            "{{ $labels.service }}'s certificate expires in {{ $value | humanizeDuration }}",
            "The certificate {{ $labels.service }} serves ({{ $labels.probe }} probe) expires in "
            "{{ $value | humanizeDuration }}. Fly renews it about 30 days ahead, so renewal is "
            "failing: check `fly certs show` for the hostname and its DNS records.",
            spec.dashboard,
            (
                ctx.rule(spec, "ticket", f"{left} < {duration_expr(t_left)}"),
                ctx.rule(spec, "page", f"{left} < {duration_expr(p_left)}"),
            ),
            (
                # expiry as a Unix time; time() is 0 at step 0 of a test
                case(
                    {expiry: seq((10 * 86400, 40))},
                    target(**tls),
                    fires("ticket", 0, remaining(864000)),
                ),
                case(
                    {expiry: seq((2 * 86400, 40))},
                    target(**tls),
                    fires("page", 0, remaining(172800)),
                    fires("ticket", 0, remaining(172800)),
                ),
            ),
            quiet({expiry: seq((30 * 86400, 40))}),
        )
    )

    spec = ctx.alert("DNSLookupFailing")
    dns = {"service": "chatwoot", "probe": "dns"}
    dns_s = series(m.PROBE_REASON, **dns, reason="dns")
    out.append(
        Alert(
            "DNSLookupFailing",
            "probes",
            "{{ $labels.service }}'s name does not resolve",
            "The {{ $labels.probe }} probe of {{ $labels.service }} has failed to resolve its "
            "hostname for [[for]] (value {{ $value | humanize }}): clients cannot reach the "
            "service either. Check the record with `dig` against a public resolver and Fly's "
            "`fly ips list`.",
            spec.dashboard,
            (ctx.rule(spec, "page", f"{sel(m.PROBE_REASON, reason='dns')} == 1"),),
            (
                case(
                    {dns_s: seq((0, 4), (1, 20))}, target(**dns, reason="dns"), fires("page", 4, 1)
                ),
            ),
            quiet({dns_s: seq((0, 20))}),
        )
    )

    spec = ctx.alert("AppHealthDegraded")
    status = ctx.json_metric("app_monitoring_status")
    app = {"service": "hotdash-app", "probe": "monitoring"}
    degraded = series(status, **app, state="degraded")
    out.append(
        Alert(
            "AppHealthDegraded",
            "probes",
            "HotDash reports itself degraded",
            'HotDash\'s /api/monitoring/health has said "degraded" for [[for]] (value '
            "{{ $value | humanize }}): it works, but a dependency (Shopify, the database) is slow "
            "or failing. Its /health `checks` say which.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", f"{sel(status, state='degraded')} == 1"),),
            (
                case(
                    {degraded: seq((0, 4), (1, 40))},
                    target(**app, state="degraded"),
                    fires("ticket", 4, 1),
                ),
            ),
            quiet({degraded: seq((0, 40))}),
        )
    )

    spec = ctx.alert("ChatwootComponentFailing")
    cw = ctx.json_metric("chatwoot_service_status")
    cw_l = {"service": "chatwoot", "probe": "api", "component": "queue_services"}
    failing = series(cw, **cw_l, state="failing")
    out.append(
        Alert(
            "ChatwootComponentFailing",
            "probes",
            "Chatwoot's {{ $labels.component }} are failing",
            "Chatwoot's /api has reported {{ $labels.component }} failing (value "
            "{{ $value | humanize }}): queue_services is Sidekiq and Redis (messages and webhooks "
            "wait, so no AI drafts), data_services is its Postgres connection.",
            spec.dashboard,
            (
                ctx.rule(spec, "ticket", f"{sel(cw, state='failing')} == 1"),
                ctx.rule(spec, "page", f"{sel(cw, state='failing')} == 1"),
            ),
            (
                case(
                    {failing: seq((0, 4), (1, 80))},
                    target(**cw_l, state="failing"),
                    fires("ticket", 4, 1),
                ),
                case(
                    {failing: seq((0, 4), (1, 80))},
                    target(**cw_l, state="failing"),
                    fires("page", 4, 1),
                    fires("ticket", 4, 1),
                ),
            ),
            quiet({failing: seq((0, 80))}),
        )
    )

    spec = ctx.alert("AgentQueueBacklog")
    _, backlog = ctx.level(spec, "AgentQueueBacklog", "ticket")
    jobs = ctx.json_metric("queue_jobs")
    q = {"service": "agent-service", "probe": "queue"}
    pending = series(jobs, **q, state="pending")
    out.append(
        Alert(
            "AgentQueueBacklog",
            "probes",
            "agent-service has {{ $value | humanize }} jobs waiting",
            "The agent-service queue has held {{ $value | humanize }} pending jobs for [[for]]: "
            "AI drafts for customer conversations are minutes late. Is the worker running, and "
            "are OpenAI calls slow or failing?",
            spec.dashboard,
            (
                ctx.measured(
                    spec,
                    "ticket",
                    Measure(sel(jobs, state="pending"), backlog, ("service",), "jobs", "count"),
                ),
            ),
            (
                case(
                    {pending: seq((10, 4), (150, 40))},
                    target(**q, state="pending"),
                    fires("ticket", 4, 150),
                ),
            ),
            quiet({pending: seq((100, 40))}),
        )
    )

    out.append(_agent_failures(ctx, jobs, ctx.json_metric("queue_processed")))
    out.append(_mcp_errors(ctx))

    spec = ctx.alert("MCPQueryLatencyHigh")
    _, warn = ctx.level(spec, "MCPQueryLatencyHigh", "ticket")
    _, crit = ctx.level(spec, "MCPQueryLatencyHigh", "page")
    p95 = ctx.json_metric("mcp_tool_p95_latency_seconds")
    p95_sel = sel(p95, tool=("=~", alternatives(MCP_QUERY_TOOLS)))
    mq = {"service": "llamaindex-mcp", "probe": "health", "tool": "query_support"}
    p95_s = series(p95, **mq)
    out.append(
        Alert(
            "MCPQueryLatencyHigh",
            "probes",
            "MCP tool {{ $labels.tool }} p95 is {{ $value | humanizeDuration }}",
            "llamaindex-mcp reports a p95 latency of {{ $value | humanizeDuration }} for "
            "{{ $labels.tool }} (target below 500 ms): support answers and AI drafts are slow. "
            "Is the index being refreshed, or the LLM provider slow?",
            spec.dashboard,
            (
                ctx.measured(
                    spec,
                    "ticket",
                    Measure(p95_sel, warn, ("service", "tool"), "seconds", "latency", target=True),
                ),
                ctx.measured(
                    spec,
                    "page",
                    Measure(p95_sel, crit, ("service", "tool"), "seconds", "latency", target=True),
                ),
            ),
            (
                case({p95_s: seq((0.2, 4), (0.75, 40))}, target(**mq), fires("ticket", 4, 0.75)),
                case(
                    {p95_s: seq((0.2, 4), (1.5, 40))},
                    target(**mq),
                    fires("page", 4, 1.5),
                    fires("ticket", 4, 1.5),
                ),
            ),
            # a slow tool that is not a query tool
            quiet(
                {
                    p95_s: seq((0.2, 40)),
                    series(p95, **{**mq, "tool": "refresh_index"}): seq((5, 40)),
                }
            ),
        )
    )

    spec = ctx.alert("MCPServerRestarted")
    (window,) = ctx.values(spec, "MCPServerRestarted", "info", "window")
    uptime = ctx.json_metric("mcp_uptime_seconds")
    mu = {"service": "llamaindex-mcp", "probe": "health"}
    out.append(
        Alert(
            "MCPServerRestarted",
            "probes",
            "llamaindex-mcp restarted",
            "llamaindex-mcp's uptime went back to zero {{ $value | humanize }} time(s) in the last "
            "[[window]]: it was redeployed, crashed or was OOM-killed, and its per-tool counters "
            "started again. `fly logs -a hotdash-llamaindex-mcp` says which.",
            spec.dashboard,
            (ctx.rule(spec, "info", f"resets({sel(uptime)}[{window}]) > 0"),),
            # the uptime drops at step 10
            (
                case(
                    {series(uptime, **mu): f"{ramp(1000, 30, 10)} {ramp(5, 30, 30)}"},
                    target(**mu),
                    fires("info", 10, 1),
                ),
            ),
            quiet({series(uptime, **mu): ramp(1000, 30, 40)}),
        )
    )
    return out


def _latency(ctx: Context) -> Alert:
    spec = ctx.alert("ServiceLatencyHigh")
    rules: list[Rule] = []
    cases: list[Case] = []
    quiet_series: dict[str, str] = {}
    for budget in spec.budgets:
        for service in budget.services:
            ctx.check_probe(f"{service}/{budget.probe}")
        selector = sel(
            m.PROBE_DURATION, service=("=~", alternatives(budget.services)), probe=budget.probe
        )
        limits: dict[Severity, Decimal] = {"ticket": budget.ticket}
        if budget.page is not None:
            limits["page"] = budget.page
        for severity, limit in limits.items():
            (window,) = ctx.values(spec, "ServiceLatencyHigh", severity, "window")
            key = "degraded_after" if severity == "ticket" else "page_after"
            measure = Measure(
                f"quantile_over_time(0.95, {selector}[{window}])",
                limit,
                ("service", "probe"),
                "seconds",
                "latency",
                window,
                target=True,
                where=f"config/hotrod.yml: services[{budget.services[0]}].probes[{budget.probe}]"
                f".{key}",
                scope=f"{', '.join(budget.services)} / {budget.probe}",
            )
            # the probe as a static label too: rules of one name must differ in their labels
            rules.append(
                ctx.measured(spec, severity, measure, {"probe": budget.probe}, budget.probe)
            )
        # constant from step 0: the p95 of the window is that value at every step
        slow = (budget.ticket + budget.page) / 2 if budget.page else budget.ticket * Decimal("1.5")
        for service in budget.services:  # each service of the budget is proven on its own
            labels = target(service=service, probe=budget.probe)
            name = series(m.PROBE_DURATION, service=service, probe=budget.probe)
            cases.append(
                case({name: seq((slow, 60))}, labels, fires("ticket", 0, float(slow), budget.probe))
            )
            if budget.page is not None:
                worse = budget.page * Decimal("1.5")
                cases.append(
                    case(
                        {name: seq((worse, 60))},
                        labels,
                        fires("page", 0, float(worse), budget.probe),
                        fires("ticket", 0, float(worse), budget.probe),
                    )
                )
            quiet_series[name] = seq((budget.ticket / 2, 104))
    # after a fast half hour, three isolated slow probes 5 min apart (steps 62, 72, 82), each
    # far past the page budget: 3 of the window's 61 runs, so its p95 stays at the fast ones'
    # (over 5 min it was half-way to the slow one, and paged at step 82); checked at step 90
    paged = [b for b in spec.budgets if b.page is not None]
    if paged:
        first = paged[0]
        assert first.page is not None  # for mypy: paged
        fast, slow = first.ticket / 2, first.page * 3
        isolated = [(fast, 62), (slow, 1), (fast, 9), (slow, 1), (fast, 9), (slow, 1), (fast, 20)]
        name = series(m.PROBE_DURATION, service=first.services[0], probe=first.probe)
        quiet_series[name] = seq(*isolated)
    return Alert(
        "ServiceLatencyHigh",
        "probes",
        "{{ $labels.service }} is slow: {{ $labels.probe }} p95 {{ $value | humanizeDuration }}",
        "The {{ $labels.probe }} probe of {{ $labels.service }} has taken "
        "{{ $value | humanizeDuration }} at the 95th percentile over [[window]], above its budget "
        "(the probe's degraded_after or page_after in the operator's file, from the business's "
        "latency targets). "
        "probe_http_duration_seconds{phase} shows where the time goes.",
        spec.dashboard,
        tuple(rules),
        tuple(cases),
        quiet(quiet_series, at=90),
    )


def _ratio_alert_levels(
    ctx: Context,
    name: str,
    errors: str,
    total: str,
    counted: tuple[str, str],
    matching: str = "",
    errors_gauge: bool = False,
) -> tuple[AlertSpec, list[Rule]]:
    """Rules for 'errors over total above threshold, with at least guard events and min_bad
    errors' per level. ``counted``: what the errors and the total are (failed jobs, finished
    jobs), for the refusal of a min_bad above the guard. ``errors_gauge``: the errors are a
    gauge (a count of failed jobs held in a queue, which a cleanup lowers), read by its rise,
    not by increase(), which takes a drop for a counter reset and counts the whole remaining
    value as new errors."""
    spec = ctx.alert(name)
    rules = []
    for severity in spec.levels():
        window, threshold, guard, min_bad = ctx.values(
            spec, name, severity, "window", "threshold", "guard", "min_bad"
        )
        # The errors are among the events the guard counts: with min_bad above the guard,
        # min_bad errors already make more events than the guard asks, and the guard, which
        # alerts.yml presents as the level's traffic floor, never decides anything.
        ctx.check_min_bad(
            name,
            severity,
            guard,
            min_bad,
            f"min_bad counts {counted[0]} and the guard {counted[1]}, the failed ones among "
            "them: above the guard, the guard never decides",
        )
        bad = (
            f"clamp_min(delta({errors}[{window}]), 0)"
            if errors_gauge
            else f"increase({errors}[{window}])"
        )
        expr = (
            f"{bad}\n"
            f"  / {matching}increase({total}[{window}])\n"
            f"  > {n(threshold)}\n"
            f"and increase({total}[{window}]) >= {n(guard)}\n"
            f"and {matching}{bad} >= {n(min_bad)}"
        )
        rules.append(ctx.rule(spec, severity, expr))
    return spec, rules


def _agent_failures(ctx: Context, jobs: Metric, processed: Metric) -> Alert:
    # failed jobs carry state="failed", processed jobs no state: match ignoring it
    spec, rules = _ratio_alert_levels(
        ctx,
        "AgentJobsFailing",
        sel(jobs, state="failed"),
        sel(processed),
        ("failed jobs", "finished jobs"),
        matching=f"ignoring ({labels_of(jobs, 'state')}) ",
        errors_gauge=True,
    )
    q = {"service": "agent-service", "probe": "queue"}
    failed = series(jobs, **q, state="failed")
    done = series(processed, **q)

    # both counters sampled together, so extrapolation scales them alike: the ratio is exact
    def inputs(failed_per_step: int) -> dict[str, str]:
        return {failed: ramp(10, failed_per_step, 60), done: ramp(1000, 50, 60)}

    low = {"service": "agent-service", "probe": "queue-low"}
    # a cleanup of the queue's failed jobs (100 -> 95 at step 30) while no job fails: read with
    # increase() the drop was a counter reset and 95 new failures, and paged
    cleanup = {"service": "agent-service", "probe": "queue-cleanup"}
    cleaned = {
        series(jobs, **cleanup, state="failed"): seq((100, 30), (95, 60)),
        series(processed, **cleanup): ramp(1000, 1, 90),
    }

    return Alert(
        "AgentJobsFailing",
        "probes",
        "agent-service jobs failing: {{ $value | humanizePercentage }}",
        "{{ $value | humanizePercentage }} of the jobs agent-service finished in the last "
        "[[window]] failed (limit [[threshold.ticket|percent]], critical "
        "[[threshold.page|percent]]): customer conversations get no AI draft. The "
        "failed jobs' errors are in its logs.",
        spec.dashboard,
        tuple(rules),
        (
            # one failure a step: the window's (extrapolated, t + 0.5) failures reach the
            # ticket's min_bad of 3 at step 3
            case(inputs(1), target(**q), fires("ticket", 3, 0.02)),
            case(inputs(5), target(**q), fires("page", 1, 0.1), fires("ticket", 1, 0.1)),
            # a quiet hour: 30 jobs per window and 3 of them failed (10%, above the page's 5%):
            # a ticket, but 3 failed jobs do not wake anyone (the page's min_bad)
            case(few_failures(failed, done, 3), target(**q), fires("ticket", 30, 0.1)),
        ),
        # 2 failed of 30 (6.7%) from step 30: below the ticket's min_bad too; checked past
        # both levels' `for`
        quiet(
            {
                **inputs(0),
                **few_failures(series(jobs, **low, state="failed"), series(processed, **low), 2),
                **cleaned,
            },
            at=55,
        ),
    )


def few_failures(bad: str, total: str, per_window: int) -> dict[str, str]:
    """A quiet hour for a ratio alert with a 15 min window: the ``total`` counter grows by 1 a
    step (30 events per window) and ``bad`` by ``per_window`` at once every 30 steps, so every
    full window from step 30 on holds exactly that many bad events (none before)."""
    return {bad: seq(*((10 + per_window * k, 30) for k in range(3))), total: ramp(1000, 1, 90)}


def _mcp_errors(ctx: Context) -> Alert:
    calls = ctx.json_metric("mcp_tool_calls")
    errors = ctx.json_metric("mcp_tool_errors")
    spec, rules = _ratio_alert_levels(
        ctx, "MCPToolErrorRateHigh", sel(errors), sel(calls), ("failed calls", "calls")
    )
    t = {"service": "llamaindex-mcp", "probe": "health", "tool": "query_support"}

    def inputs(errors_per_step: int) -> dict[str, str]:
        return {
            series(errors, **t): ramp(10, errors_per_step, 60),
            series(calls, **t): ramp(1000, 50, 60),
        }

    few = {**t, "tool": "query_knowledge_base"}
    return Alert(
        "MCPToolErrorRateHigh",
        "probes",
        "MCP tool {{ $labels.tool }} fails {{ $value | humanizePercentage }} of calls",
        "{{ $value | humanizePercentage }} of the calls to llamaindex-mcp's {{ $labels.tool }} "
        "failed over the last [[window]] (limit [[threshold.ticket|percent]], critical "
        "[[threshold.page|percent]]): agents get no knowledge-base "
        "answers. The server's log has the errors.",
        spec.dashboard,
        tuple(rules),
        (
            # min_bad 3 reached at step 3, as AgentJobsFailing's
            case(inputs(1), target(**t), fires("ticket", 3, 0.02)),
            case(inputs(5), target(**t), fires("page", 1, 0.1), fires("ticket", 1, 0.1)),
            # a quiet hour: 3 failed calls of 30 (10%) open a ticket, and page nobody
            case(
                few_failures(series(errors, **t), series(calls, **t), 3),
                target(**t),
                fires("ticket", 30, 0.1),
            ),
        ),
        # 2 failed of 30 (6.7%) from step 30: below the ticket's min_bad too
        quiet({**inputs(0), **few_failures(series(errors, **few), series(calls, **few), 2)}, at=55),
    )
