"""redline's own requests in the request SLIs (issue 21.8): which probes' requests each SLI's
source counts with the users', so that the rules leave them out (the promtool cases of
prometheus/tests/slo-*.yml check the rules themselves)."""

from __future__ import annotations

from exporter.config import load_config
from exporter.rules import stackmodel
from exporter.rules.spec import ROOT, ProbeTraffic


def _traffic() -> dict[str, tuple[ProbeTraffic, ...] | None]:
    config, _ = load_config(str(ROOT / "config" / "hotrod.yml"))
    out: dict[str, tuple[ProbeTraffic, ...] | None] = {}
    for slo in stackmodel.slos_of(config).slos:
        sli = getattr(slo.sli, slo.sli.kind())
        out[slo.name] = getattr(sli, "probe_traffic", None)
    return out


def test_fly_s_proxy_counts_every_request_probe_of_the_app() -> None:
    traffic = _traffic()
    # the HTTP, JSON and MCP probes, one request a run; the TLS and DNS probes send no request
    assert traffic["hotdash-app-fly-requests"] == (
        ProbeTraffic(probe="health"),
        ProbeTraffic(probe="monitoring"),
        ProbeTraffic(probe="page"),
    )
    assert traffic["hotdash-app-fly-latency"] == traffic["hotdash-app-fly-requests"]
    assert [t.probe for t in traffic["llamaindex-mcp-fly-requests"] or ()] == ["health", "tools"]
    assert [t.probe for t in traffic["chatwoot-fly-requests"] or ()] == ["health", "api", "profile"]


def test_a_log_sli_counts_the_probes_whose_path_falls_in_its_routes() -> None:
    traffic = _traffic()
    # llamaindex-mcp's tools probe posts to /mcp, the route of the MCP query latency SLO
    assert traffic["llamaindex-mcp-query-latency"] == (ProbeTraffic(probe="tools"),)
    # agent-service's probes request /health and /queue/stats: synthetic routes, already left out
    assert traffic["agent-service-requests"] == ()
    # HotDash's probes request /health, /api/monitoring/health (health, first match) and /
    assert traffic["hotdash-app-api-latency"] == ()
    assert traffic["hotdash-app-tiles-latency"] == ()


def test_requests_per_run_and_paths() -> None:
    config, _ = load_config(str(ROOT / "config" / "hotrod.yml"))
    probes = {(s.name, p.name): p for s in config.services for p in s.probes}
    assert stackmodel.requests_per_run(probes[("llamaindex-mcp", "tools")]) == 1  # plain
    streamable = probes[("llamaindex-mcp", "tools")].model_copy(update={"flavor": "streamable"})
    assert stackmodel.requests_per_run(streamable) == 3
    assert stackmodel.requests_per_run(probes[("chatwoot", "tls")]) == 0
    assert stackmodel.requests_per_run(probes[("chatwoot", "dns")]) == 0
    assert stackmodel._url_path("${CHATWOOT_BASE_URL}/rails/health") == "/rails/health"
    assert stackmodel._url_path("https://hotdash-staging.fly.dev/") == "/"
    assert stackmodel._url_path("https://h.fly.dev") == "/"
    assert stackmodel._url_path("https://h.fly.dev/queue/stats?x=1") == "/queue/stats"


def test_log_error_rate_counts_the_probes_on_the_users_routes() -> None:
    config, _ = load_config(str(ROOT / "config" / "hotrod.yml"))
    traffic = stackmodel.log_probe_traffic(config)
    # every route but the synthetic ones (health, queue): HotDash's page probe on / (app),
    # llamaindex-mcp's tools probe on /mcp, Chatwoot's api and profile probes on /api and
    # /api/v1/profile (chatwoot-api); Shopify's probes are Shopify's, in no log source here
    assert traffic == {
        "hotdash-app": (ProbeTraffic(probe="page"),),
        "llamaindex-mcp": (ProbeTraffic(probe="tools"),),
        "chatwoot": (ProbeTraffic(probe="api"), ProbeTraffic(probe="profile")),
    }
