"""Vendor API checks against loopback stand-ins of Shopify's Admin GraphQL, Chatwoot's API and
the GA4 Data API with its OAuth token endpoint: the values a person would read from the APIs'
answers, refused credentials, throttling, and secrets that never surface anywhere."""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from exporter import collector
from exporter.secrets import Redactor
from exporter.vendors.common import REASONS
from exporter.vendors.shopify import shop_host
from exporter.vendors.source import VendorSource
from tests.promtool import promtool_problems
from tests.vendors_support import FakeClock, Server, get, make_source, samples, state

SHOPIFY_TOKEN = "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"
CHATWOOT_TOKEN = "Xq7vN2kR9mLp4sT8wYc3hJ6d"
GQL = "/admin/api/2025-10/graphql.json"


@pytest.fixture
async def server(serve: Callable[..., Any]) -> Server:
    srv = Server()
    srv.url = await serve(srv.app())
    return srv


@pytest.fixture
async def sources() -> AsyncIterator[list[VendorSource]]:
    made: list[VendorSource] = []
    yield made
    for source in made:
        await source.close()


async def started(made: list[VendorSource], source: VendorSource) -> VendorSource:
    await source.start()
    made.append(source)
    return source


def reason(source: VendorSource, check: str) -> str | None:
    return state(source.families(), "redline_vendor_check_failure_reason", "reason", check=check)


# --- Shopify ------------------------------------------------------------------------------------


def shopify_answer(available: float = 1999.0) -> dict[str, Any]:
    """Shopify's answer to { shop { name } } (Admin API 2025-10)."""
    return {
        "data": {"shop": {"name": "Hot Rod AN"}},
        "extensions": {
            "cost": {
                "requestedQueryCost": 1,
                "actualQueryCost": 1,
                "throttleStatus": {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": available,
                    "restoreRate": 100.0,
                },
            }
        },
    }


def shopify_server(server: Server) -> None:
    async def graphql(request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-Shopify-Access-Token") != SHOPIFY_TOKEN:
            # Shopify's own words; a careless server might echo what it got, too
            text = "[API] Invalid API key or access token (unrecognized login or wrong password)"
            got = request.headers.get("X-Shopify-Access-Token", "")
            return web.json_response({"errors": f"{text}: {got}"}, status=401)
        query = json.loads(await request.read())["query"]
        assert query == "{ shop { name } }"
        return web.json_response(shopify_answer())

    server.routes[GQL] = graphql


def shopify_source(
    server: Server, clock: FakeClock, token: str = SHOPIFY_TOKEN, **kw: Any
) -> VendorSource:
    check = {
        "name": "shopify-admin",
        "shop": "${SHOPIFY_STORE_DOMAIN}",
        "access_token": "${SHOPIFY_ADMIN_TOKEN}",
        "url": server.url + GQL,
        **kw,
    }
    env = {"SHOPIFY_STORE_DOMAIN": "hotrodan.myshopify.com", "SHOPIFY_ADMIN_TOKEN": token}
    return make_source({"checks": {"shopify": [check]}}, clock, env)


async def test_shopify_graphql_success_latency_and_throttle_values(
    server: Server, sources: list[VendorSource]
) -> None:
    shopify_server(server)
    clock = FakeClock()
    source = await started(sources, shopify_source(server, clock))
    await source.run_due()
    f = source.families()
    labels = {"check": "shopify-admin"}
    assert get(f, "redline_vendor_check_up", **labels) == 1
    assert get(f, "redline_vendor_check_info", **labels, kind="shopify") == 1
    assert get(f, "redline_vendor_shopify_throttle_available_points", **labels) == 1999.0
    assert get(f, "redline_vendor_shopify_throttle_maximum_points", **labels) == 2000.0
    assert (
        get(f, "redline_vendor_shopify_throttle_restore_rate_points_per_second", **labels) == 100.0
    )
    latency = get(f, "redline_vendor_check_duration_seconds", **labels)
    assert latency is not None and 0 < latency < 5
    assert get(f, "redline_vendor_check_last_run_timestamp_seconds", **labels) == clock.wall
    assert server.last(GQL).method == "POST"


def test_shop_host() -> None:
    assert shop_host("hotrodan") == "hotrodan.myshopify.com"
    assert shop_host(" hotrodan.myshopify.com ") == "hotrodan.myshopify.com"
    assert shop_host("https://hotrodan.myshopify.com/") == "hotrodan.myshopify.com"


async def test_shopify_bad_token_is_auth(server: Server, sources: list[VendorSource]) -> None:
    shopify_server(server)
    source = await started(
        sources, shopify_source(server, FakeClock(), token="shpat_wrong_token_000")
    )
    await source.run_due()
    assert reason(source, "shopify-admin") == "auth"


async def test_shopify_throttled_serves_the_bucket_it_read(
    server: Server, sources: list[VendorSource]
) -> None:
    answer = {
        "errors": [
            {
                "message": "Throttled",
                "extensions": {
                    "code": "THROTTLED",
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
        ],
        "extensions": shopify_answer(available=0.0)["extensions"],
    }
    server.json(GQL, answer)
    source = await started(sources, shopify_source(server, FakeClock()))
    await source.run_due()
    f = source.families()
    assert reason(source, "shopify-admin") == "rate_limited"
    assert get(f, "redline_vendor_shopify_throttle_available_points", check="shopify-admin") == 0
    assert get(f, "redline_vendor_check_data_age_seconds", check="shopify-admin") == 0


async def test_shopify_429_retry_after_in_fractional_seconds(
    server: Server, sources: list[VendorSource]
) -> None:
    server.raw(
        GQL, b'{"errors":"Exceeded 2 calls per second"}', status=429, **{"Retry-After": "90.0"}
    )
    clock = FakeClock()
    source = await started(sources, shopify_source(server, clock, interval="30s"))
    await source.run_due()
    assert reason(source, "shopify-admin") == "rate_limited"
    clock.advance(60)
    await source.run_due()
    assert server.count(GQL) == 1  # the interval passed, Retry-After did not
    clock.advance(31)
    await source.run_due()
    assert server.count(GQL) == 2


async def test_shopify_graphql_errors_are_api_error(
    server: Server, sources: list[VendorSource]
) -> None:
    server.json(GQL, {"errors": [{"message": "Field 'shop' doesn't exist on type 'QueryRoot'"}]})
    source = await started(sources, shopify_source(server, FakeClock()))
    await source.run_due()
    assert reason(source, "shopify-admin") == "api_error"


async def test_a_failing_check_keeps_its_values_with_a_growing_age(
    server: Server, sources: list[VendorSource]
) -> None:
    shopify_server(server)
    clock = FakeClock()
    source = await started(sources, shopify_source(server, clock))
    await source.run_due()
    server.raw(GQL, b"<html><body>502 Bad Gateway</body></html>", status=502)
    clock.advance(60)
    await source.run_due()
    f = source.families()
    assert reason(source, "shopify-admin") == "http_status"
    assert get(f, "redline_vendor_check_data_age_seconds", check="shopify-admin") == 60
    assert get(f, "redline_vendor_shopify_throttle_available_points", check="shopify-admin") == 1999


async def test_a_check_never_follows_a_redirect_with_its_token(
    server: Server, sources: list[VendorSource]
) -> None:
    server.raw(GQL, b"", status=302, Location=server.url + "/elsewhere")
    server.json("/elsewhere", shopify_answer())
    source = await started(sources, shopify_source(server, FakeClock()))
    await source.run_due()
    assert reason(source, "shopify-admin") == "http_status"
    assert server.count("/elsewhere") == 0


# --- Chatwoot -----------------------------------------------------------------------------------


def chatwoot_server(server: Server, queue: str = "ok", data: str = "ok") -> None:
    server.json(
        "/api",
        {
            "version": "4.6.0",
            "timestamp": "2025-10-13 12:00:00",
            "queue_services": queue,
            "data_services": data,
        },
    )

    async def profile(request: web.Request) -> web.StreamResponse:
        if request.headers.get("api_access_token") != CHATWOOT_TOKEN:
            return web.json_response({"error": "Invalid Access Token"}, status=401)
        return web.json_response(
            {
                "id": 1,
                "name": "Redline Bot",
                "email": "redline@hotrodan.example",
                "account_id": 1,
                "role": "agent",
                "available_name": "Redline Bot",
            }
        )

    server.routes["/api/v1/profile"] = profile


def chatwoot_source(server: Server, token: str = CHATWOOT_TOKEN, **kw: Any) -> VendorSource:
    check = {
        "name": "chatwoot",
        "base_url": "${CHATWOOT_BASE_URL}",
        "api_token": "${CHATWOOT_API_TOKEN}",
        **kw,
    }
    env = {"CHATWOOT_BASE_URL": server.url + "/", "CHATWOOT_API_TOKEN": token}
    return make_source({"checks": {"chatwoot": [check]}}, FakeClock(), env)


def services(source: VendorSource) -> dict[str, str | None]:
    f = source.families()
    return {
        s: state(f, "redline_vendor_chatwoot_service_status", "status", check="chatwoot", service=s)
        for s in ("queue_services", "data_services")
    }


async def test_chatwoot_profile_and_service_states(
    server: Server, sources: list[VendorSource]
) -> None:
    chatwoot_server(server)
    source = await started(sources, chatwoot_source(server))
    await source.run_due()
    assert get(source.families(), "redline_vendor_check_up", check="chatwoot") == 1
    assert services(source) == {"queue_services": "ok", "data_services": "ok"}
    assert server.count("/api/v1/profile") == 1


async def test_chatwoot_bad_token_is_auth_and_service_states_still_served(
    server: Server, sources: list[VendorSource]
) -> None:
    chatwoot_server(server, queue="failing", data="degraded")
    source = await started(sources, chatwoot_source(server, token="not-the-token"))
    await source.run_due()
    assert reason(source, "chatwoot") == "auth"
    # failing is Chatwoot's word; "degraded" is not one of its words: unknown
    assert services(source) == {"queue_services": "failing", "data_services": "unknown"}


async def test_chatwoot_without_a_token_checks_only_the_api(
    server: Server, sources: list[VendorSource]
) -> None:
    chatwoot_server(server)
    source = make_source(
        {"checks": {"chatwoot": [{"name": "chatwoot", "base_url": server.url}]}}, FakeClock()
    )
    await started(sources, source)
    await source.run_due()
    assert get(source.families(), "redline_vendor_check_up", check="chatwoot") == 1
    assert server.count("/api/v1/profile") == 0


async def test_chatwoot_api_answering_html(server: Server, sources: list[VendorSource]) -> None:
    server.raw(
        "/api", b"<html><head><title>We're sorry, but something went wrong</title></head></html>"
    )
    source = await started(sources, chatwoot_source(server))
    await source.run_due()
    assert reason(source, "chatwoot") == "not_json"


# --- Google Analytics ---------------------------------------------------------------------------


async def test_ga_without_google_auth_is_dependency_missing(
    server: Server, sources: list[VendorSource], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes the import fail, as it does where google-auth is not installed
    for name in (
        "google",
        "google.auth",
        "google.auth.jwt",
        "google.oauth2",
        "google.oauth2.service_account",
    ):
        monkeypatch.setitem(sys.modules, name, None)
    source = make_source(
        {
            "checks": {
                "google_analytics": [
                    {
                        "name": "ga",
                        "property_id": "123456789",
                        "credentials_file": str(tmp_path / "key.json"),
                        "api_base_url": server.url,
                    }
                ]
            }
        },
        FakeClock(),
    )
    await started(sources, source)
    await source.run_due()
    assert reason(source, "ga") == "dependency_missing"
    assert "pip install 'redline[ga]'" in source.checks["ga"].state.message
    assert server.requests == []


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class GoogleStandIn:
    """Google's OAuth token endpoint and the GA4 Data API, on loopback. The token endpoint
    checks the assertion's RS256 signature with the service account's public key, as Google
    does; the API checks the bearer token and answers runReport."""

    ACCESS_TOKEN = "ya29.c.b0Aaekm1K-redline-test-access-token-9f8e7d"

    def __init__(self, server: Server, public_key: rsa.RSAPublicKey, clock: FakeClock) -> None:
        self.server = server
        self.public_key = public_key
        self.clock = clock
        self.time_zone = "America/Los_Angeles"
        self.hours_ago: int | None = 0  # the newest hour with data; None: no rows
        self.authorized = True
        self.claims: dict[str, Any] = {}
        server.routes["/token"] = self.token
        server.routes["/v1beta/properties/123456789:runReport"] = self.run_report

    async def token(self, request: web.Request) -> web.StreamResponse:
        form = parse_qs((await request.read()).decode())
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        header, payload, signature = form["assertion"][0].split(".")
        try:
            self.public_key.verify(
                unb64url(signature),
                f"{header}.{payload}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status=400,
            )
        self.claims = json.loads(unb64url(payload))
        return web.json_response(
            {"access_token": self.ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"}
        )

    async def run_report(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.ACCESS_TOKEN}":
            return web.json_response(
                {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status=401
            )
        if not self.authorized:
            return web.json_response(
                {
                    "error": {
                        "code": 403,
                        "message": "User does not have sufficient permissions for this property.",
                        "status": "PERMISSION_DENIED",
                    }
                },
                status=403,
            )
        body = json.loads(await request.read())
        assert body["limit"] == "1" and body["dimensions"] == [{"name": "dateHour"}]
        doc: dict[str, Any] = {
            "dimensionHeaders": [{"name": "dateHour"}],
            "metricHeaders": [{"name": "eventCount", "type": "TYPE_INTEGER"}],
            "metadata": {"currencyCode": "USD", "timeZone": self.time_zone},
            "kind": "analyticsData#runReport",
        }
        if self.hours_ago is not None:
            hour = datetime.fromtimestamp(
                self.clock.wall - self.hours_ago * 3600, ZoneInfo(self.time_zone)
            )
            doc["rows"] = [
                {
                    "dimensionValues": [{"value": hour.strftime("%Y%m%d%H")}],
                    "metricValues": [{"value": "1834"}],
                }
            ]
            doc["rowCount"] = 37
        return web.json_response(doc)


@pytest.fixture
def service_account(tmp_path: Path, server: Server) -> tuple[Path, rsa.RSAPrivateKey]:
    """A service account key made here, never Google's; its token_uri is the loopback server."""
    # not a skip: google-auth is in .[dev], and the real path must be tested
    assert importlib.util.find_spec("google.auth"), "google-auth is missing: run make install"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "hotrodan-analytics",
        "private_key_id": "3f1e2d4c5b6a79880a1b2c3d4e5f60718293a4b5",
        "private_key": pem,
        "client_email": "redline@hotrodan-analytics.iam.gserviceaccount.com",
        "client_id": "109876543210987654321",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": server.url + "/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }
    path = tmp_path / "ga-key.json"
    path.write_text(json.dumps(info))
    return path, key


def ga_source(server: Server, key_path: Path, clock: FakeClock, **kw: Any) -> VendorSource:
    check = {
        "name": "ga",
        "property_id": "${GA_PROPERTY_ID}",
        "credentials_file": "${GOOGLE_APPLICATION_CREDENTIALS}",
        "api_base_url": server.url,
        **kw,
    }
    env = {"GA_PROPERTY_ID": "123456789", "GOOGLE_APPLICATION_CREDENTIALS": str(key_path)}
    return make_source({"checks": {"google_analytics": [check]}}, clock, env)


async def test_ga_runreport_with_a_service_account(
    server: Server, sources: list[VendorSource], service_account: tuple[Path, rsa.RSAPrivateKey]
) -> None:
    path, key = service_account
    clock = FakeClock()
    google = GoogleStandIn(server, key.public_key(), clock)
    source = await started(sources, ga_source(server, path, clock))
    await source.run_due()
    f = source.families()
    assert reason(source, "ga") is None, source.checks["ga"].state.message
    assert get(f, "redline_vendor_check_up", check="ga") == 1
    assert get(f, "redline_vendor_ga_rows_last_hour", check="ga") == 1
    hour = datetime.fromtimestamp(clock.wall, ZoneInfo("America/Los_Angeles")).replace(
        minute=0, second=0, microsecond=0
    )
    assert get(f, "redline_vendor_ga_latest_data_timestamp_seconds", check="ga") == hour.timestamp()
    assert google.claims["iss"] == "redline@hotrodan-analytics.iam.gserviceaccount.com"
    assert google.claims["scope"] == "https://www.googleapis.com/auth/analytics.readonly"
    assert google.claims["aud"] == server.url + "/token"
    # the token is reused until it is about to expire
    clock.advance(300)
    await source.run_due()
    assert server.count("/token") == 1
    assert server.count("/v1beta/properties/123456789:runReport") == 2
    clock.advance(3600)
    await source.run_due()
    assert server.count("/token") == 2
    # GA answers, but the newest data is five hours old: visible while the check is up
    google.hours_ago = 5
    clock.advance(300)
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_check_up", check="ga") == 1
    assert get(f, "redline_vendor_ga_rows_last_hour", check="ga") == 0
    google.hours_ago = None  # no rows at all
    clock.advance(300)
    await source.run_due()
    f = source.families()
    assert get(f, "redline_vendor_ga_rows_last_hour", check="ga") == 0
    assert get(f, "redline_vendor_ga_latest_data_timestamp_seconds", check="ga") == 0


async def test_ga_token_url_configurable_and_refusals_are_auth(
    server: Server, sources: list[VendorSource], service_account: tuple[Path, rsa.RSAPrivateKey]
) -> None:
    path, key = service_account
    info = json.loads(path.read_text())
    info["token_uri"] = "https://oauth2.googleapis.com/token"  # never reached: token_url wins
    path.write_text(json.dumps(info))
    clock = FakeClock()
    google = GoogleStandIn(server, key.public_key(), clock)
    google.authorized = False  # the service account is not a user of the property
    source = await started(sources, ga_source(server, path, clock, token_url=server.url + "/token"))
    await source.run_due()
    assert reason(source, "ga") == "auth"
    assert server.count("/token") == 1
    # a key the token endpoint does not know (another key pair): refused, invalid_grant
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    google.public_key = other.public_key()
    source.checks["ga"].runner._token = None  # type: ignore[attr-defined]
    clock.advance(300)
    await source.run_due()
    assert reason(source, "ga") == "auth"
    assert "invalid_grant" in source.checks["ga"].state.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "secret"), ("not json", "credentials"), ('{"type": "authorized_user"}', "credentials")],
)
async def test_ga_unusable_key_files(
    server: Server, sources: list[VendorSource], tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "key.json"
    if content is not None:
        path.write_text(content)
    source = await started(sources, ga_source(server, path, FakeClock()))
    await source.run_due()
    assert reason(source, "ga") == expected
    assert server.requests == []


# --- secrets never surface ------------------------------------------------------------------------


async def test_tokens_never_appear_in_metrics_logs_or_messages(
    server: Server,
    sources: list[VendorSource],
    service_account: tuple[Path, rsa.RSAPrivateKey],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Known secrets set, every path that produces text exercised (success, refusal with the
    token echoed back, failure), then searched for them."""
    path, key = service_account
    clock = FakeClock()
    google = GoogleStandIn(server, key.public_key(), clock)
    shopify_server(server)
    chatwoot_server(server)
    redactor = Redactor()
    env = {
        "SHOPIFY_ADMIN_TOKEN": SHOPIFY_TOKEN,
        "CHATWOOT_BASE_URL": server.url,
        "CHATWOOT_API_TOKEN": CHATWOOT_TOKEN,
        "GA_PROPERTY_ID": "123456789",
        "GOOGLE_APPLICATION_CREDENTIALS": str(path),
    }
    vendors = {
        "checks": {
            "shopify": [
                {
                    "name": "shopify",
                    "shop": "hotrodan",
                    "access_token": "${SHOPIFY_ADMIN_TOKEN}",
                    "url": server.url + GQL,
                }
            ],
            "chatwoot": [
                {
                    "name": "chatwoot",
                    "base_url": "${CHATWOOT_BASE_URL}",
                    "api_token": "${CHATWOOT_API_TOKEN}",
                }
            ],
            "google_analytics": [
                {
                    "name": "ga",
                    "property_id": "${GA_PROPERTY_ID}",
                    "credentials_file": "${GOOGLE_APPLICATION_CREDENTIALS}",
                    "api_base_url": server.url,
                }
            ],
        },
        "feeds": [
            {"name": "page", "url": server.url + "/status/${SHOPIFY_ADMIN_TOKEN}/summary.json"}
        ],
    }
    source = await started(sources, make_source(vendors, clock, env, redactor))
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        await source.run_due()  # success for the checks, a 404 for the feed (token in its URL)

        async def echo(request: web.Request) -> web.StreamResponse:
            # a server that echoes every header back, in an HTML error page
            return web.Response(status=500, text=f"<html>{dict(request.headers)}</html>")

        for path_ in (GQL, "/api", "/api/v1/profile", "/v1beta/properties/123456789:runReport"):
            server.routes[path_] = echo
        clock.advance(600)
        await source.run_due()
        google.ACCESS_TOKEN = "ya29.other"  # the cached token is refused now
        server.routes["/v1beta/properties/123456789:runReport"] = google.run_report
        clock.advance(600)
        await source.run_due()
    body, _ = collector.render([], None, with_self=False, extra=source.families())
    texts.append(body.decode())
    # redline's own logs (the stand-ins' access logs are the vendor's, not ours)
    texts.extend(r.getMessage() for r in caplog.records if r.name.startswith("redline"))
    texts.extend(job.state.message for job in source.checks.values())
    texts.extend(job.state.message for job in source.feeds.values())
    blob = "\n".join(texts)
    pem = json.loads(path.read_text())["private_key"]
    for secret in (SHOPIFY_TOKEN, CHATWOOT_TOKEN, GoogleStandIn.ACCESS_TOKEN, pem.splitlines()[1]):
        assert secret not in blob
    # and the failures were there to be read
    assert {reason(source, c) for c in ("shopify", "chatwoot", "ga")} == {"http_status", "auth"}
    assert "${SHOPIFY_ADMIN_TOKEN}" in source.feeds["page"].state.message  # the URL as configured


# --- exposition -----------------------------------------------------------------------------------


async def test_promtool_accepts_every_check_kind(
    server: Server, sources: list[VendorSource], service_account: tuple[Path, rsa.RSAPrivateKey]
) -> None:
    path, key = service_account
    clock = FakeClock()
    GoogleStandIn(server, key.public_key(), clock)
    shopify_server(server)
    chatwoot_server(server)
    env = {
        "SHOPIFY_ADMIN_TOKEN": SHOPIFY_TOKEN,
        "CHATWOOT_API_TOKEN": CHATWOOT_TOKEN,
        "GOOGLE_APPLICATION_CREDENTIALS": str(path),
    }
    vendors = {
        "checks": {
            "shopify": [
                {
                    "name": "shopify",
                    "shop": "x",
                    "access_token": "${SHOPIFY_ADMIN_TOKEN}",
                    "url": server.url + GQL,
                }
            ],
            "chatwoot": [
                {"name": "chatwoot", "base_url": server.url, "api_token": "${CHATWOOT_API_TOKEN}"}
            ],
            "google_analytics": [
                {
                    "name": "ga",
                    "property_id": "123456789",
                    "credentials_file": "${GOOGLE_APPLICATION_CREDENTIALS}",
                    "api_base_url": server.url,
                },
                {
                    "name": "ga-down",
                    "property_id": "1",
                    "credentials_file": "/nonexistent",
                    "api_base_url": server.url,
                },
            ],
        }
    }
    source = await started(sources, make_source(vendors, clock, env))
    await source.run_due()
    families = source.families()
    body, _ = collector.render([], None, with_self=False, extra=families)
    assert promtool_problems(body.decode()) == []
    reasons = [k for (n, k) in samples(families) if n == "redline_vendor_check_failure_reason"]
    assert len(reasons) == len(REASONS) * 4
