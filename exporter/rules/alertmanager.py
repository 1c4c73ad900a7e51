"""alert_rules/routing.yml -> alertmanager/alertmanager.yml (Alertmanager 0.25).

The spec is close to Alertmanager's own shape; this stage adds what must be the same everywhere:
credentials as files under ``secrets_dir`` (never values: Slack ``api_url_file``, PagerDuty
``routing_key_file``, SMTP ``auth_password_file``, webhook bearer ``credentials_file``),
notification texts that carry the runbook and dashboard links, the route defaults, and checks
that every receiver, time interval and alert name a route or an inhibition names exists.
"""

from __future__ import annotations

import re
from typing import Any

from exporter.rules.render import Ordered
from exporter.rules.spec import Receiver, Route, RoutingSpec, SpecError

# What a notification says. Slack: one line per alert with its links; PagerDuty: the summary,
# with the runbook and the dashboard as links on the incident.
SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.service }}, {{ .CommonLabels.severity }})"
)
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "<{{ .Annotations.runbook_url }}|runbook> | <{{ .Annotations.dashboard }}|dashboard>\n{{ end }}"
)
# PagerDuty's summary must never be empty: it refuses such an event (400, not retried), and the
# page is lost. The summary is common to a group only when all its alerts say the same thing;
# a group of differing alerts (two probes, two databases, two values) has none, so the first
# alert's stands in, with how many the group holds. Alertname and service come first: always
# set (every route groups by alertname; service is on every alert).
FIRST_SUMMARY = (
    "{{ range $i, $a := .Alerts }}{{ if eq $i 0 }}"
    "{{ or $a.Annotations.summary $a.Labels.alertname }}{{ end }}{{ end }}"
)
PAGERDUTY_DESCRIPTION = (
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.service }}): "
    "{{ if .CommonAnnotations.summary }}{{ .CommonAnnotations.summary }}{{ else }}"
    + FIRST_SUMMARY
    + "{{ if gt (len .Alerts) 1 }} (first of {{ len .Alerts }} alerts){{ end }}{{ end }}"
)
# The first alert's links when the group's differ (one alertname per group: they rarely do).
RUNBOOK_LINK = (
    "{{ if .CommonAnnotations.runbook_url }}{{ .CommonAnnotations.runbook_url }}{{ else }}"
    "{{ range $i, $a := .Alerts }}{{ if eq $i 0 }}{{ $a.Annotations.runbook_url }}{{ end }}"
    "{{ end }}{{ end }}"
)
DASHBOARD_LINK = RUNBOOK_LINK.replace("runbook_url", "dashboard")


def secret(spec: RoutingSpec, name: str) -> str:
    return f"{spec.secrets_dir.rstrip('/')}/{name}"


def secret_files(spec: RoutingSpec) -> list[str]:
    """Every credential file the generated config reads, for the preamble and the docs."""
    files = [secret(spec, "smtp-password")]
    for r in spec.receivers:
        if r.pagerduty is not None:
            files.append(secret(spec, f"{r.name}-pagerduty-routing-key"))
        if r.slack is not None:
            files.append(secret(spec, f"{r.name}-slack-api-url"))
        if r.webhook is not None:
            files.append(secret(spec, f"{r.name}-webhook-token"))
    return files


def receiver(spec: RoutingSpec, r: Receiver) -> Ordered:
    out = Ordered(name=r.name)
    if r.pagerduty is not None:
        out["pagerduty_configs"] = [
            {
                "routing_key_file": secret(spec, f"{r.name}-pagerduty-routing-key"),
                "severity": "critical",
                "description": PAGERDUTY_DESCRIPTION,
                "links": [
                    {"href": RUNBOOK_LINK, "text": "runbook"},
                    {"href": DASHBOARD_LINK, "text": "dashboard"},
                ],
                "send_resolved": True,
            }
        ]
    if r.slack is not None:
        out["slack_configs"] = [
            {
                "api_url_file": secret(spec, f"{r.name}-slack-api-url"),
                "channel": r.slack.channel,
                "title": SLACK_TITLE,
                "title_link": DASHBOARD_LINK,
                "text": SLACK_TEXT,
                "send_resolved": True,
            }
        ]
    if r.email is not None:
        out["email_configs"] = [{"to": r.email.to, "send_resolved": True}]
    if r.webhook is not None:
        out["webhook_configs"] = [
            {
                "url": r.webhook.url,
                "http_config": {
                    "authorization": {
                        "type": "Bearer",
                        "credentials_file": secret(spec, f"{r.name}-webhook-token"),
                    }
                },
                "max_alerts": r.webhook.max_alerts,
                # a dead man's switch wants pings, not resolutions
                "send_resolved": False,
            }
        ]
    return out


def route(r: Route) -> Ordered:
    out = Ordered(matchers=list(r.matchers), receiver=r.receiver)
    if r.continue_:
        out["continue"] = True
    for key in ("group_by", "group_wait", "group_interval", "repeat_interval"):
        value = getattr(r, key)
        if value is not None:
            out[key] = list(value) if isinstance(value, tuple) else value
    if r.active_time_intervals:
        out["active_time_intervals"] = list(r.active_time_intervals)
    if r.mute_time_intervals:
        out["mute_time_intervals"] = list(r.mute_time_intervals)
    if r.routes:
        out["routes"] = [route(child) for child in r.routes]
    return out


def walk(routes: tuple[Route, ...]) -> list[Route]:
    out: list[Route] = []
    for r in routes:
        out.append(r)
        out.extend(walk(r.routes))
    return out


_MATCHER = re.compile(r'^([a-zA-Z_][a-zA-Z0-9_]*)(=|!=|=~|!~)"(.*)"$')


def check(spec: RoutingSpec, known: dict[str, set[str]]) -> None:
    """Every receiver and time interval a route names must exist, and every value a matcher
    names for a label of ``known`` (alertname, service, feed, database, ...: what the alerts and
    config/hotrod.yml can produce) must be one of them, so a typo never routes or inhibits
    nothing."""
    receivers = {r.name for r in spec.receivers}
    problems = []
    if spec.receiver not in receivers:
        problems.append(f"receiver: {spec.receiver} is not a receiver")
    matchers: list[str] = []
    for r in walk(spec.routes):
        if r.receiver not in receivers:
            problems.append(f"route {list(r.matchers)}: unknown receiver {r.receiver}")
        for name in (*r.active_time_intervals, *r.mute_time_intervals):
            if name not in spec.time_intervals:
                problems.append(f"route {list(r.matchers)}: unknown time interval {name}")
        matchers.extend(r.matchers)
    for rule in spec.inhibit_rules:
        matchers.extend((*rule.source_matchers, *rule.target_matchers))
    for matcher in matchers:
        match = _MATCHER.match(matcher)
        if match is None or match.group(1) not in known:
            continue
        label, op, value = match.groups()
        values = value.split("|") if "~" in op else [value]
        for v in values:
            if v and v not in known[label]:
                problems.append(f"{matcher}: no alert or config has {label} {v!r}")
    if problems:
        raise SpecError("alert_rules/routing.yml: " + "; ".join(problems))


def config(spec: RoutingSpec, known: dict[str, set[str]]) -> dict[str, Any]:
    check(spec, known)
    d = spec.defaults
    return {
        "global": {
            "resolve_timeout": spec.resolve_timeout,
            "smtp_smarthost": spec.smtp.smarthost,
            "smtp_from": spec.smtp.from_,
            "smtp_auth_username": spec.smtp.username,
            "smtp_auth_password_file": secret(spec, "smtp-password"),
            "smtp_require_tls": True,
        },
        "route": Ordered(
            receiver=spec.receiver,
            group_by=list(d.group_by),
            group_wait=d.group_wait,
            group_interval=d.group_interval,
            repeat_interval=d.repeat_interval,
            routes=[route(r) for r in spec.routes],
        ),
        "receivers": [receiver(spec, r) for r in spec.receivers],
        "time_intervals": [
            Ordered(
                name=name,
                time_intervals=[
                    {k: _plain(v) for k, v in ti.model_dump(exclude_defaults=True).items()}
                    for ti in intervals
                ],
            )
            for name, intervals in sorted(spec.time_intervals.items())
        ],
        "inhibit_rules": [
            Ordered(
                source_matchers=list(rule.source_matchers),
                target_matchers=list(rule.target_matchers),
                **({"equal": list(rule.equal)} if rule.equal else {}),
            )
            for rule in spec.inhibit_rules
        ],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def preamble(spec: RoutingSpec) -> str:
    files = "\n".join(f"  {f}" for f in secret_files(spec))
    rules = "\n".join(f"  {i}. {r.name}" for i, r in enumerate(spec.inhibit_rules, 1))
    return f"""\
Alertmanager 0.25. Credentials are read from these files (mode 0400, owned by the alertmanager
user); create them before starting it:
{files}

Cluster mode (several Alertmanagers deduplicating notifications by gossip) is command-line flags,
not config: start every peer with --cluster.listen-address=0.0.0.0:9094 and one
--cluster.peer=HOST:9094 per other peer, and list every peer in prometheus.yml's alertmanagers
(never a load balancer). Check: amtool check-config; amtool config routes test.

Inhibitions, in order:
{rules}
"""
