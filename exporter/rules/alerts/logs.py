"""Logs: request error ratios and latency derived from the services' log lines, and log sources
that fall silent or drop lines."""

from __future__ import annotations

from exporter import metrics as m
from exporter.rules.alerts.common import (
    Context,
    case,
    duration_expr,
    fires,
    probe_runs,
    quiet,
    ramp,
    seq,
    series,
    target,
)
from exporter.rules.model import (
    Alert,
    Match,
    Measure,
    alternatives,
    labels_of,
    n,
    sel,
)
from exporter.rules.spec import ProbeTraffic
from exporter.rules.stackmodel import log_probe_traffic, synthetic_routes

# --- logs ----------------------------------------------------------------------------------------


def _probe_rate(traffic: dict[str, tuple[ProbeTraffic, ...]], by: str, window: str) -> str:
    """Per service, the rate of redline's own requests the logs count with the users': each
    probe's runs (summed over every exporter that runs it) times the requests a run sends."""
    terms = [
        f"rate({runs}[{window}])" if per_run == 1 else f"{per_run} * rate({runs}[{window}])"
        for service, probes in traffic.items()
        for per_run, runs in probe_runs(service, probes)
    ]
    union = "\n    or ".join(terms)
    return f"sum by ({by}) (\n    {union}\n  )"


def _users(
    traffic: dict[str, tuple[ProbeTraffic, ...]], by: str, window: str, total: str, bad: str
) -> tuple[str, str]:
    """(the users' requests, the users' 5xx) per service from all the logged ones, as the
    request SLIs count them (exporter/rules/slo.py): all requests less redline's (never below 0;
    a service none of whose probes the logs count keeps all), and the 5xx at most the users'
    requests, since a 5xx redline got is not told apart from a user's. With redline's probes
    alone, failing, there are no users' requests: the guard is not met, and the ratio is 0/0."""
    ours = f"({_probe_rate(traffic, by, window)}\n  or {total} * 0)"
    users = f"clamp_min(\n  {total}\n  - {ours},\n  0\n)"
    return f"({users})", f"({bad} < {users}\n  or {users})"


def _count(rate_expr: str) -> str:
    """The count over the window of a sum of rate() terms over it."""
    return rate_expr.replace("rate(", "increase(")


def alerts(ctx: Context) -> list[Alert]:
    out = []
    spec = ctx.alert("LogErrorRateHigh")
    req = m.LOG_HTTP_REQUESTS
    by = labels_of(req, "service")
    # the users' requests: not the synthetic route groups redline's own probes request (their
    # 2xx diluted the ratio, and met the guard by themselves)
    synthetic = synthetic_routes(ctx.config)
    users: dict[str, Match] = {"route": ("!~", alternatives(synthetic))} if synthetic else {}
    # redline's requests on the other routes (llamaindex-mcp's tools probe on /mcp, Chatwoot's
    # api and profile probes on /api...): subtracted, as the request SLIs do (docs/slos.md)
    redline_s = log_probe_traffic(ctx.config)
    rules = []
    for severity in spec.levels():
        window, threshold, guard, min_bad = ctx.values(
            spec, "LogErrorRateHigh", severity, "window", "threshold", "guard", "min_bad"
        )
        # no 5xx series yet reads 0, not nothing, so baseline judges a clean service too
        errors, every = sel(req, **users, code_class="5xx"), sel(req, **users)
        total = f"sum by ({by}) (rate({every}[{window}]))"
        errors_rate = f"(sum by ({by}) (rate({errors}[{window}]))\n  or {total} * 0)"
        bad = errors_rate
        if redline_s:
            total, bad = _users(redline_s, by, window, total, errors_rate)
        ratio = f"{bad}\n  / {total}"
        # The guard counts the users' requests (increase() of the ratio's denominator), so
        # redline's alone never meet it. min_bad counts every 5xx: the users' 5xx, at most
        # their requests, reach min_bad exactly when all do, once the guard (>= min_bad) holds.
        ctx.check_min_bad(
            "LogErrorRateHigh",
            severity,
            guard,
            min_bad,
            "min_bad counts every 5xx and the guard the users' requests",
        )
        enough = (
            f"{_count(total)} >= {n(guard)}\n"
            f"and sum by ({by}) (increase({errors}[{window}])) >= {n(min_bad)}"
        )
        measure = Measure(
            ratio, threshold, ("service",), "ratio", "ratio", window, enough, target=True
        )
        rules.append(ctx.measured(spec, severity, measure))
    r = {"service": "agent-service", "route": "api", "method": "POST"}
    ok_s = series(req, **r, code_class="2xx")
    err_s = series(req, **r, code_class="5xx")

    # redline's /health probes answer 200, 100 a step, all along: the ratio must leave them out
    # (counted, they halved it, and the 2% ticket and 10% page cases did not fire)
    probes_s = series(req, **{**r, "route": "health", "method": "GET"}, code_class="2xx")

    # 100 requests per step; counters far from 0, so both rates extrapolate alike
    def traffic(errors: float) -> dict[str, str]:
        return {
            ok_s: ramp(10000, 100 - errors, 60),
            err_s: ramp(100, errors, 60),
            probes_s: ramp(10000, 100, 60),
        }

    # a quiet night: 2 good requests a step and `per_window` 5xx at once every 10 steps, so each
    # full 5 min window from step 10 on holds exactly that many (none before)
    def few_errors(where: dict[str, str], per_window: int) -> dict[str, str]:
        return {
            series(req, **where, code_class="2xx"): ramp(10000, 2, 90),
            series(req, **where, code_class="5xx"): seq(
                *((100 + per_window * k, 10) for k in range(9))
            ),
        }

    night = {**r, "service": "hotdash-app"}

    # redline's own requests on a counted route, `runs` a step: each run one log line (a plain
    # MCP probe and the HTTP/JSON probes send one request), answered `code_class`
    def ours(target_: str, route: str, method: str, runs: int, code_class: str) -> dict[str, str]:
        service, probe = ctx.check_probe(target_)
        where = {"service": service, "route": route, "method": method}
        return {
            series(m.PROBE_RUNS, service=service, probe=probe): ramp(10000, runs, 60),
            series(req, **where, code_class=code_class): ramp(10000, runs, 60),
        }

    # llamaindex-mcp's users: 20 requests a step on /mcp, 2 of them 5xx (10%), while redline's
    # tools probe, run 30 times a step (a config with faster probes), gets 200s: counted, they
    # diluted the ratio to 4%, below the page's 5%
    mcp = {"service": "llamaindex-mcp", "route": "mcp", "method": "POST"}
    mcp_users = {
        series(req, **mcp, code_class="2xx"): ramp(10000, 18 + 30, 60),
        series(req, **mcp, code_class="5xx"): ramp(100, 2, 60),
        series(m.PROBE_RUNS, service="llamaindex-mcp", probe="tools"): ramp(10000, 30, 60),
    }
    ctx.check_probe("llamaindex-mcp/tools")
    # redline's probes alone, every answer a 5xx, nobody else: llamaindex-mcp's tools probe 3
    # times a step (30 a window) and Chatwoot's api and profile probes (1 and 2 a step, 30 a
    # window; at the shipped 30 s, 20: the guard already). Counted, they met the guard and
    # min_bad at 100% and paged.
    alone = {
        **ours("llamaindex-mcp/tools", "mcp", "POST", 3, "5xx"),
        **ours("chatwoot/api", "chatwoot-api", "GET", 1, "5xx"),
        **ours("chatwoot/profile", "chatwoot-api", "GET", 2, "5xx"),
    }

    out.append(
        Alert(
            "LogErrorRateHigh",
            "logs",
            "{{ $labels.service }} answers {{ $value | humanizePercentage }} of requests with 5xx",
            "{{ $value | humanizePercentage }} of the requests {{ $labels.service }} logged over "
            "the last [[window]] were server errors (target below 0.5%; warn "
            "[[threshold.ticket|percent]], critical [[threshold.page|percent]]). "
            "redline_http_requests_total by route shows where; the log lines say why.",
            spec.dashboard,
            tuple(rules),
            (
                case(traffic(2), {"service": "agent-service"}, fires("ticket", 1, 0.02)),
                case(
                    traffic(10),
                    {"service": "agent-service"},
                    fires("page", 1, 0.1),
                    fires("ticket", 1, 0.1),
                ),
                # 3 of 23 requests a window (13%, above the page's 5%): a ticket, and no page
                # for 3 failed requests (the page's min_bad)
                case(few_errors(r, 3), {"service": "agent-service"}, fires("ticket", 10, 3 / 23)),
                # the users' 10%, redline's requests left out: a page (once the 5xx of the
                # window reach its min_bad, at step 2)
                case(
                    mcp_users,
                    {"service": "llamaindex-mcp"},
                    fires("page", 2, 0.1),
                    fires("ticket", 1, 0.1),
                ),
            ),
            # 2 of 22 (9%): below the ticket's min_bad too; redline's probes alone, failing: no
            # user's request; checked past both levels' `for`
            quiet({**traffic(0.5), **few_errors(night, 2), **alone}, at=35),
        )
    )

    spec = ctx.alert("LogSourceSilent")
    _, silence = ctx.level(spec, "LogSourceSilent", "ticket")
    last = series(m.LOG_LAST_LINE, source="fly")
    out.append(
        Alert(
            "LogSourceSilent",
            "logs",
            "No log line from {{ $labels.source }} for {{ $value | humanizeDuration }}",
            "The log source {{ $labels.source }} has delivered no line for "
            "{{ $value | humanizeDuration }}, although redline's own probes make the services "
            "log every 30 s: the log shipper or the ingest path is broken, and error rates from "
            "logs are blind.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"time() - {sel(m.LOG_LAST_LINE)} > {duration_expr(silence)}",
                    {"service": "logs"},
                ),
            ),
            # lines arrive every step until step 9 (t = 270 s); silent for 600 s after step 29
            (
                case(
                    {last: f"{ramp(0, 30, 10)} {seq((270, 50))}"},
                    target(source="fly"),
                    fires("ticket", 30, lambda step: 30.0 * step - 270),
                ),
            ),
            quiet({last: ramp(0, 30, 60)}),
        )
    )

    pat = m.LOG_PATTERN_MATCHES
    spec = ctx.alert("LogOutOfMemory")
    window, threshold = ctx.values(spec, "LogOutOfMemory", "ticket", "window", "threshold")
    oom = series(pat, source="fly", pattern="oom")
    other = series(pat, source="fly", pattern="econnreset")
    out.append(
        Alert(
            "LogOutOfMemory",
            "logs",
            "Out-of-memory in the logs of {{ $labels.source }}",
            "{{ $value | humanize }} out-of-memory line(s) in the last [[window]] from log source "
            "{{ $labels.source }}: a process was killed or is about to be (Chatwoot's worker at "
            "launch). Find the line and the app: `fly logs` filtered for the pattern.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"increase({sel(pat, pattern='oom')}[{window}]) > {n(threshold)}",
                    {"service": "logs"},
                ),
            ),
            # the first OOM line at step 10; a counter from 0 is not extrapolated below zero
            (
                case(
                    {oom: seq((0, 10), (1, 30))},
                    target(source="fly", pattern="oom"),
                    fires("ticket", 10, 1),
                ),
            ),
            quiet({oom: seq((0, 40)), other: ramp(0, 5, 40)}),
        )
    )

    spec = ctx.alert("LogErrorPatternSpike")
    window, threshold = ctx.values(spec, "LogErrorPatternSpike", "ticket", "window", "threshold")
    out.append(
        Alert(
            "LogErrorPatternSpike",
            "logs",
            "{{ $labels.pattern }} errors in {{ $labels.source }}: "
            "{{ $value | humanize }} in [[window]]",
            "The error pattern {{ $labels.pattern }} matched {{ $value | humanize }} lines of log "
            "source {{ $labels.source }} in the last [[window]] (more than [[threshold]]): a "
            "dependency is "
            "failing (econnreset, etimedout, econnrefused), or the app is (unhandled_rejection, "
            "prisma_error), or Shopify throttles it (shopify_throttled).",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"increase({sel(pat, pattern=('!=', 'oom'))}[{window}]) > {n(threshold)}",
                    {"service": "logs"},
                ),
            ),
            # 2 matches per step from 0: above 20 from step 11; at the boundary (step 21) the
            # 10 min window is full: 40
            (
                case(
                    {other: ramp(0, 2, 40)},
                    target(source="fly", pattern="econnreset"),
                    fires("ticket", 11, 40),
                ),
            ),
            quiet({other: ramp(0, 0.5, 40), oom: ramp(0, 5, 40)}),
        )
    )

    spec = ctx.alert("LogParseErrorsHigh")
    window, threshold = ctx.values(spec, "LogParseErrorsHigh", "ticket", "window", "threshold")
    src = labels_of(m.LOG_LINES, "source", "job", "instance")
    expr = (
        f"sum by ({src}) (rate({sel(m.LOG_PARSE_ERRORS)}[{window}]))\n"
        f"  / sum by ({src}) (rate({sel(m.LOG_LINES)}[{window}]))\n  > {n(threshold)}"
    )
    lines = series(m.LOG_LINES, source="nginx", level="info")
    perr = series(m.LOG_PARSE_ERRORS, source="nginx", reason="format")
    out.append(
        Alert(
            "LogParseErrorsHigh",
            "logs",
            "{{ $value | humanizePercentage }} of {{ $labels.source }}'s log lines do not parse",
            "{{ $value | humanizePercentage }} of the lines of log source {{ $labels.source }} "
            "failed to parse over the last [[window]]: the log format changed, so request counts, "
            "error rates and latencies from it are incomplete. Compare a line with the source's "
            "parsers in config/hotrod.yml.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", expr, {"service": "redline"}),),
            (
                case(
                    {lines: ramp(10000, 100, 60), perr: ramp(1000, 20, 60)},
                    target(source="nginx"),
                    fires("ticket", 1, 0.2),
                ),
            ),
            quiet({lines: ramp(10000, 100, 60), perr: ramp(1000, 5, 60)}),
        )
    )
    return out
