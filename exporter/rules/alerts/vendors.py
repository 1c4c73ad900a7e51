"""Vendors: status-feed outages and redline's own synthetic calls to vendor APIs."""

from __future__ import annotations

from exporter import metrics as m
from exporter.rules.alerts.common import (
    Context,
    case,
    duration_expr,
    fires,
    quiet,
    seq,
    series,
    target,
)
from exporter.rules.model import (
    Alert,
    alternatives,
    labels_of,
    n,
    sel,
)
from exporter.rules.spec import Severity

# --- vendors --------------------------------------------------------------------------------------


def _as_service(expr: str, label: str) -> str:
    """Vendor alerts carry service = the feed's or check's name (e.g. shopify), the name our own
    alerts about that vendor use, so routing and inhibitions match them."""
    return f'label_replace(\n  {expr},\n  "service", "$1", "{label}", "(.*)"\n)'


def alerts(ctx: Context) -> list[Alert]:
    out = []
    feed = {"feed": "shopify"}
    comp = {**feed, "component": "Admin API"}
    status = m.VENDOR_COMPONENT_STATUS
    component_alerts: tuple[tuple[str, tuple[str, ...], Severity, str], ...] = (
        ("VendorComponentDown", ("partial_outage", "major_outage"), "ticket", "in an outage"),
        (
            "VendorComponentDegraded",
            ("degraded_performance", "under_maintenance"),
            "info",
            "degraded",
        ),
    )
    for name, states, severity, word in component_alerts:
        spec = ctx.alert(name)
        bad = series(status, **comp, status=states[0])
        expr = _as_service(f"{sel(status, status=('=~', alternatives(states)))} == 1", "feed")
        out.append(
            Alert(
                name,
                "vendors",
                "{{ $labels.feed }}: {{ $labels.component }} is " + word,
                "{{ $labels.feed }}'s status page reports {{ $labels.component }} as "
                "{{ $labels.status }} (value {{ $value | humanize }}). Nothing to fix on our "
                "side: tell the operator, and expect our own alerts about it (silenced while "
                "this fires).",
                spec.dashboard,
                (ctx.rule(spec, severity, expr),),
                (
                    case(
                        {bad: seq((0, 4), (1, 10))},
                        target(**comp, status=states[0], service="shopify"),
                        fires(severity, 4, 1),
                    ),
                ),
                quiet(
                    {bad: seq((0, 10)), series(status, **comp, status="operational"): seq((1, 10))}
                ),
            )
        )

    spec = ctx.alert("VendorStatusFeedStale")
    _, stale = ctx.level(spec, "VendorStatusFeedStale", "ticket")
    age = sel(m.VENDOR_FEED_DATA_AGE)
    never = (
        f"({sel(m.VENDOR_FEED_UP)} == 0\n"
        f"  unless on ({labels_of(m.VENDOR_FEED_UP, 'feed', 'job', 'instance')}) {age})"
    )
    age_s = series(m.VENDOR_FEED_DATA_AGE, **feed)
    up_s = series(m.VENDOR_FEED_UP, **feed)
    out.append(
        Alert(
            "VendorStatusFeedStale",
            "vendors",
            "Status feed {{ $labels.feed }} is stale",
            "redline's last good data from the {{ $labels.feed }} status feed is "
            "{{ $value | humanizeDuration }} old (0s: none since redline started): a vendor outage "
            "would go unseen and would not silence our alerts about it. "
            "redline_vendor_feed_failure_reason says why fetches fail.",
            spec.dashboard,
            (
                ctx.rule(
                    spec,
                    "ticket",
                    f"{age} > {duration_expr(stale)}\nor {never}",
                    {"service": "redline"},
                ),
            ),
            (
                case(
                    {age_s: seq((60, 4), (1200, 20)), up_s: seq((1, 4), (0, 20))},
                    target(**feed),
                    fires("ticket", 4, 1200),
                ),
                # never fetched successfully: no data age at all
                case({up_s: seq((0, 24))}, target(**feed), fires("ticket", 0, 0)),
            ),
            quiet({age_s: seq((60, 24)), up_s: seq((1, 24))}),
        )
    )

    check = {"check": "shopify-admin"}
    spec = ctx.alert("VendorApiFailing")
    cu = series(m.VENDOR_CHECK_UP, **check)
    out.append(
        Alert(
            "VendorApiFailing",
            "vendors",
            "{{ $labels.check }} API calls fail",
            "redline's synthetic call to the {{ $labels.check }} API has failed for [[for]] "
            "(value {{ $value | humanize }}), so the app's calls most likely fail too. "
            "redline_vendor_check_failure_reason says how (auth, status, timeout, ...); the "
            "vendor's status page says whether it is them.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", _as_service(f"{sel(m.VENDOR_CHECK_UP)} == 0", "check")),),
            (
                case(
                    {cu: seq((1, 4), (0, 30))},
                    target(**check, service="shopify-admin"),
                    fires("ticket", 4, 0),
                ),
            ),
            quiet({cu: seq((1, 30))}),
        )
    )

    spec = ctx.alert("VendorApiThrottled")
    _, low = ctx.level(spec, "VendorApiThrottled", "ticket")
    avail = series(m.VENDOR_SHOPIFY_THROTTLE_AVAILABLE, **check)
    maximum = series(m.VENDOR_SHOPIFY_THROTTLE_MAXIMUM, **check)
    ratio = (
        f"{sel(m.VENDOR_SHOPIFY_THROTTLE_AVAILABLE)}\n  / {sel(m.VENDOR_SHOPIFY_THROTTLE_MAXIMUM)}"
    )
    out.append(
        Alert(
            "VendorApiThrottled",
            "vendors",
            "{{ $labels.check }} API budget at {{ $value | humanizePercentage }}",
            "Only {{ $value | humanizePercentage }} of the app's Shopify GraphQL cost bucket has "
            "been left for [[for]]: the app's calls are being throttled (THROTTLED errors in its "
            "logs). A bulk job or a retry loop is spending it.",
            spec.dashboard,
            (ctx.rule(spec, "ticket", _as_service(f"{ratio} < {n(low)}", "check")),),
            (
                case(
                    {avail: seq((1000, 4), (50, 20)), maximum: seq((1000, 24))},
                    target(**check, service="shopify-admin"),
                    fires("ticket", 4, 0.05),
                ),
            ),
            quiet({avail: seq((150, 24)), maximum: seq((1000, 24))}),
        )
    )

    spec = ctx.alert("GoogleAnalyticsNoData")
    ga = {"check": "google-analytics"}
    rows = series(m.VENDOR_GA_ROWS_LAST_HOUR, **ga)
    out.append(
        Alert(
            "GoogleAnalyticsNoData",
            "vendors",
            "Google Analytics has no recent data",
            "GA4 answers, but has had no data for the current or the previous hour for [[for]] "
            "(rows = {{ $value | humanize }}): the storefront's tag or the data stream is broken "
            "and the shop's analytics are being lost.",
            spec.dashboard,
            (
                ctx.rule(
                    spec, "ticket", _as_service(f"{sel(m.VENDOR_GA_ROWS_LAST_HOUR)} == 0", "check")
                ),
            ),
            (
                case(
                    {rows: seq((1, 4), (0, 250))},
                    target(**ga, service="google-analytics"),
                    fires("ticket", 4, 0),
                ),
            ),
            quiet({rows: seq((1, 250))}),
        )
    )
    return out
