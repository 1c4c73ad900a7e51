"""alert_rules/stack.yml -> prometheus/prometheus.yml (and prometheus-<replica>.yml).

The scrape job of the exporter (scrape_timeout below the interval: Prometheus announces it as
X-Prometheus-Scrape-Timeout-Seconds and the exporter keeps every probe inside it), Prometheus and
Alertmanager themselves, the generated rule files and every Alertmanager. Growing past one
machine is a matter of settings in stack.yml (exporters, alertmanagers, remote_write,
external_labels, replicas); the commented examples at the end of the file show the rest.

An HA pair is two servers scraping the same targets with the same rules. Each gets the external
label ``replica`` (its name in stack.yml's ``replicas``), which long-term stores need to tell the
two copies of a series apart, and an ``alert_relabel_configs`` rule that drops that label from
the alerts it sends. That drop is what lets Alertmanager deduplicate the pair: it identifies an
alert by its label set, so the pair's alerts are one alert only when their labels are equal.
With the replica label kept, every alert reaches the receivers twice (tests/test_ha_pair.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exporter.config import Config
from exporter.platform.config import FLY_JOB, SUPABASE_JOB
from exporter.rules.alerts import JOB
from exporter.rules.render import Ordered
from exporter.rules.spec import REPLICA_LABEL, SHARD_LABEL, StackSpec


def _targets(addresses: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    return [{"targets": list(addresses)}]


def _auth(stack: StackSpec) -> dict[str, Any]:
    """scheme, basic_auth and tls_config of the exporter job: what the exporters'
    --web.config.file asks for. Passwords and keys are files, never values."""
    auth = stack.exporter_auth
    if auth is None:
        return {}
    out: dict[str, Any] = {"scheme": auth.scheme}
    if auth.basic_auth is not None:
        out["basic_auth"] = auth.basic_auth.model_dump()
    if auth.tls_config is not None:
        out["tls_config"] = auth.tls_config.model_dump(exclude_none=True)
    return out


# Alerts leave an HA pair's servers without the label that tells the servers apart.
DROP_REPLICA = {"action": "labeldrop", "regex": REPLICA_LABEL}


def _alerting(stack: StackSpec, replica: str | None) -> dict[str, Any]:
    """Every Alertmanager of the cluster, each sent every alert (never a load balancer: the
    peers share notification logs by gossip, not alerts)."""
    out: dict[str, Any] = {}
    if replica is not None:
        out["alert_relabel_configs"] = [DROP_REPLICA]
    out["alertmanagers"] = [{"static_configs": _targets(stack.alertmanagers)}]
    return out


def _remote_write(stack: StackSpec, replica: str | None) -> list[dict[str, Any]]:
    writes = []
    for rw in stack.remote_write:
        w: dict[str, Any] = {"name": rw.name, "url": rw.url}
        if rw.headers:
            w["headers"] = dict(rw.headers)
        if rw.bearer_token_file:
            w["authorization"] = {"type": "Bearer", "credentials_file": rw.bearer_token_file}
        if rw.basic_auth:
            w["basic_auth"] = rw.basic_auth.model_dump()
        if replica is not None and rw.drop_replica:
            w["write_relabel_configs"] = [DROP_REPLICA]
        writes.append(w)
    return writes


def config(
    stack: StackSpec,
    rule_files: list[str],
    replica: str | None = None,
    extra_jobs: list[Ordered] | None = None,
) -> dict[str, Any]:
    """prometheus.yml's data; ``replica``: one of stack.replicas, for that server of the pair;
    ``extra_jobs``: scrape jobs from the operator's file (:func:`platform_jobs`)."""
    if replica is not None and replica not in stack.replicas:
        raise ValueError(f"{replica!r} is not one of stack.yml's replicas {stack.replicas}")
    exporters: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for e in stack.exporters:
        labels = {**e.labels, **({SHARD_LABEL: e.shard} if e.shard else {})}
        exporters.setdefault(tuple(sorted(labels.items())), []).append(e.address)
    labels = dict(stack.external_labels)
    if replica is not None:
        labels[REPLICA_LABEL] = replica
    out: dict[str, Any] = {
        "global": {
            "scrape_interval": stack.scrape_interval,
            "scrape_timeout": stack.scrape_timeout,
            "evaluation_interval": stack.evaluation_interval,
            **({"external_labels": labels} if labels else {}),
        },
        "rule_files": rule_files,
        "alerting": _alerting(stack, replica),
        "scrape_configs": [
            Ordered(
                job_name=JOB,
                scrape_interval=stack.scrape_interval,
                scrape_timeout=stack.scrape_timeout,
                metrics_path="/metrics",
                **_auth(stack),
                static_configs=[
                    {"targets": addresses, **({"labels": dict(labels)} if labels else {})}
                    for labels, addresses in exporters.items()
                ],
            ),
            Ordered(job_name="prometheus", static_configs=_targets(stack.prometheus)),
            Ordered(job_name="alertmanager", static_configs=_targets(stack.alertmanagers)),
            *(extra_jobs or []),
        ],
    }
    if stack.remote_write:
        out["remote_write"] = _remote_write(stack, replica)
    return out


# --- the platforms' own metrics (config/hotrod.yml's platform: section) -------------------------

# Every series of the Supabase instance is stored under this prefix: its node_*, pg_* and
# process_* names are those of redline's own host and database series, and without it the host
# and Postgres alerts would read the Supabase instance as if it were redline's host.
SUPABASE_PREFIX = "supabase_"
PLATFORM_INTERVAL = "60s"  # both platforms publish once a minute (docs/platform.md)
PLATFORM_TIMEOUT = "30s"


def _split(url: str) -> tuple[str, str, str, dict[str, list[str]]]:
    """scheme, host:port, path and query parameters of a URL."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    params: dict[str, list[str]] = {}
    for pair in filter(None, parts.query.split("&")):
        key, _, value = pair.partition("=")
        params.setdefault(key, []).append(value)
    return parts.scheme, f"{parts.hostname}:{port}", parts.path or "/", params


def platform_jobs(config: Config, base: Path | None = None) -> list[Ordered]:
    """The Fly federation job and the Supabase job of ``config``'s ``platform:`` section.

    Fly: ``/federate`` of the org's managed store with ``match[]`` limited to the ``fly_*``
    series of the shop's apps (the org may run others), the token from its file, ``honor_labels``
    so Fly's own ``app``, ``region``, ``host`` and ``instance`` labels are kept, and ``service``
    set from the app -> service map. Supabase: its metrics endpoint with basic auth (user
    service_role, the key from its file), ``service`` from the config, names prefixed (see
    :data:`SUPABASE_PREFIX`). ``base``: the directory relative token and key paths are read
    from (the demo's, which runs in the repository); Prometheus would read them relative to its
    config file.
    """

    def secret_file(p: str) -> str:
        return str(base / p) if base is not None and not Path(p).is_absolute() else p

    jobs: list[Ordered] = []
    fly = config.platform.fly
    apps = config.fly_apps()
    if fly is not None and apps:
        scheme, address, path, params = _split(fly.federate)
        token = secret_file(fly.token_file.path)
        names = "|".join(sorted(apps))
        params["match[]"] = [f'{{__name__=~"fly_.+", app=~"{names}"}}']
        relabel = [
            Ordered(
                source_labels=["app"],
                regex=app.replace(".", "\\."),
                target_label="service",
                replacement=service.name,
            )
            for app, service in sorted(apps.items())
        ]
        jobs.append(
            Ordered(
                job_name=FLY_JOB,
                scrape_interval=PLATFORM_INTERVAL,
                scrape_timeout=PLATFORM_TIMEOUT,
                honor_labels=True,
                scheme=scheme,
                metrics_path=path,
                params=params,
                authorization={"type": "Bearer", "credentials_file": token},
                static_configs=[{"targets": [address]}],
                metric_relabel_configs=relabel,
            )
        )
    supa = config.platform.supabase
    if supa is not None:
        scheme, address, path, params = _split(supa.url)
        key = secret_file(supa.key_file.path)
        jobs.append(
            Ordered(
                job_name=SUPABASE_JOB,
                scrape_interval=PLATFORM_INTERVAL,
                scrape_timeout=PLATFORM_TIMEOUT,
                scheme=scheme,
                metrics_path=path,
                **({"params": params} if params else {}),
                basic_auth={"username": "service_role", "password_file": key},
                static_configs=[
                    {"targets": [address], "labels": {"service": supa.service}},
                ],
                metric_relabel_configs=[
                    Ordered(
                        source_labels=["__name__"],
                        regex="(.+)",
                        target_label="__name__",
                        replacement=f"{SUPABASE_PREFIX}$1",
                    )
                ],
            )
        )
    return jobs


PREAMBLE = """\
Prometheus 2.42+. Check: promtool check config prometheus/prometheus.yml (it checks the rule
files too); promtool test rules prometheus/tests/*.yml.
"""

APPENDIX = """\
--- growing past one machine -----------------------------------------------------------------
These are settings of alert_rules/stack.yml; regenerate after changing them.

Several exporters, sharded by service: run each with the same config and --shard=I/N (a stable
hash of the service name picks the shard; docs/scaling.md) and list each under `exporters:`:
  exporters:
    - {address: "redline-1:9877", shard: 1/2}
    - {address: "redline-2:9877", shard: 2/2}
Alerts keep `instance`, so RedlineExporterDown silences only the alerts of the shard it names.

One probe per request, on its own schedule (the /probe endpoint), e.g. a rate-limited vendor
probed every 5 min instead of at every scrape; leave it out of the shard's /metrics config:
  - job_name: redline-probe-slow
    metrics_path: /probe
    scrape_interval: 5m
    scrape_timeout: 25s
    static_configs: [{targets: ["shopify/graphql"]}]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: target}
      - {target_label: __address__, replacement: "localhost:9877"}

Prometheus pairs (HA): `replicas: [a, b]` in stack.yml writes prometheus-a.yml and
prometheus-b.yml beside this file; run one server with each. They differ in the external label
replica only, and both drop it from their alerts (alert_relabel_configs) and send every alert to
every Alertmanager: the two copies of an alert then have equal labels, which is what makes
Alertmanager treat them as one alert, and the peers' gossip makes one of them notify.

Long-term storage (remote_write in stack.yml; tokens and passwords are files):
  remote_write:
    # Thanos Receive
    - {name: thanos, url: "http://thanos-receive:19291/api/v1/receive"}
    # Grafana Mimir (tenant in X-Scope-OrgID)
    - name: mimir
      url: "http://mimir:9009/api/v1/push"
      headers: {X-Scope-OrgID: hotrod}
      basic_auth: {username: hotrod, password_file: /etc/prometheus/secrets/mimir-password}
    # VictoriaMetrics (single node)
    - {name: victoriametrics, url: "http://victoriametrics:8428/api/v1/write"}

Alertmanager peers: list every Alertmanager of the cluster under `alertmanagers:` (never a load
balancer: each must receive every alert), and start them with --cluster.peer flags (see the
preamble of alertmanager/alertmanager.yml).
"""


def replica_preamble(replica: str, replicas: tuple[str, ...]) -> str:
    others = ", ".join(f"prometheus-{r}.yml" for r in replicas if r != replica)
    return f"""\
Prometheus {replica} of the HA pair (alert_rules/stack.yml: replicas). The same scrapes, rules
and Alertmanagers as its peer ({others}); only external_labels.replica differs, and the
alert_relabel_configs drop it, so Alertmanager receives the pair's alerts as one. Run this server
with --config.file=prometheus-{replica}.yml from this directory (rule_files are relative).
Check: promtool check config prometheus/prometheus-{replica}.yml.
"""
