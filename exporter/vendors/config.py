"""The ``vendors:`` section of the config: status feeds to follow and vendor APIs to call.

Checks are listed per kind (``checks.shopify``, ``checks.chatwoot``, ``checks.google_analytics``)
rather than as one list with a ``kind`` tag, so every kind keeps its own typed model and a config
error's path reads ``vendors.checks.shopify[0].shop`` with no union tag in it.

Every label these produce is bounded by this config: ``feed`` and ``check`` are the configured
names, ``component`` the configured component (or product) names; states and reasons are closed
sets. Nothing a feed says becomes a label.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from exporter.configtypes import Duration, Model, Name, SecretFile, Size, Template, unique_names

Provider = Literal["auto", "statuspage", "google", "betterstack", "instatus"]

# A vendor's own limits matter more than our curiosity: nothing is fetched more often than this.
MIN_INTERVAL = 1.0


def _http_url(value: str) -> str:
    if not re.match(r"^(https?://|\$\{)", value):
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value


class _Scheduled(Model):
    name: Name
    # How often to fetch, in the background; scrapes only read what was fetched last.
    interval: Duration = 60.0
    # One fetch's limit (a hanging vendor is reported as reason timeout, then tried again).
    timeout: Duration = 10.0

    @model_validator(mode="after")
    def _times(self) -> _Scheduled:
        if self.interval < MIN_INTERVAL:
            raise ValueError(f"interval must be at least {MIN_INTERVAL:g}s")
        if not 0 < self.timeout <= self.interval:
            raise ValueError("timeout must be more than 0 and at most the interval")
        return self


class Feed(_Scheduled):
    """A vendor's public status feed."""

    # The feed's URL (…/api/v2/summary.json, …/index.json, …/summary.json, …/incidents.json), or
    # the status page's base URL: then the provider's path is added, and with provider auto
    # each supported path is tried until one answers with a feed redline recognises.
    url: Template
    # auto: told from the response (a page that moves between providers keeps working).
    provider: Provider = "auto"
    # The components (Google feeds: the products) to export, by name as the page shows them;
    # matched with surrounding whitespace trimmed and case ignored. Only these get series: the
    # page's other components are not exported.
    components: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    # Google's incidents.json holds the dashboard's whole history (megabytes): the cap is high.
    max_body_bytes: Size = 16 * 1024 * 1024

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("components")
    @classmethod
    def _unique_components(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for name in names:
            key = " ".join(name.split()).casefold()
            if not key:
                raise ValueError("a component name cannot be blank")
            if key in seen:
                raise ValueError(f"component {name!r} is listed twice")
            seen.add(key)
        return names


class _Check(_Scheduled):
    max_body_bytes: Size = 1024 * 1024


class ShopifyCheck(_Check):
    """Admin GraphQL ``{ shop { name } }`` with the app's access token."""

    # The store: ``hotrodan``, ``hotrodan.myshopify.com`` or ``${SHOPIFY_STORE_DOMAIN}``.
    shop: Template
    access_token: Template | None = None
    access_token_file: SecretFile | None = None
    api_version: Annotated[str, Field(pattern=r"^\d{4}-\d{2}$|^unstable$")] = "2025-10"
    # The endpoint, when not https://{shop}/admin/api/{api_version}/graphql.json (a proxy, a
    # test server).
    url: Template | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @model_validator(mode="after")
    def _one_token(self) -> ShopifyCheck:
        if (self.access_token is None) == (self.access_token_file is None):
            raise ValueError("set access_token or access_token_file (one of them)")
        return self


class ChatwootCheck(_Check):
    """Chatwoot's unauthenticated ``/api`` (queue and data services) and, with a token, the
    authenticated ``/api/v1/profile``."""

    base_url: Template
    # An agent's access token; without one only /api is checked.
    api_token: Template | None = None
    api_token_file: SecretFile | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _http_url(value)

    @model_validator(mode="after")
    def _one_token(self) -> ChatwootCheck:
        if self.api_token is not None and self.api_token_file is not None:
            raise ValueError("set api_token or api_token_file, not both")
        return self


class GoogleAnalyticsCheck(_Check):
    """A one-row GA4 Data API ``runReport`` with a service account (needs the ``ga`` extra:
    ``pip install 'redline[ga]'``)."""

    property_id: Template  # the GA4 property, digits (``${GA_PROPERTY_ID}``)
    # The service account's JSON key file (``${GOOGLE_APPLICATION_CREDENTIALS}``).
    credentials_file: Template
    api_base_url: Template = "https://analyticsdata.googleapis.com"
    # Where the signed assertion is exchanged for an access token; default: the key file's
    # token_uri (Google's).
    token_url: Template | None = None
    # GA4 quotas are per property and per day: every five minutes costs a few hundred tokens a day.
    interval: Duration = 300.0

    @field_validator("api_base_url", "token_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)


class Checks(Model):
    shopify: tuple[ShopifyCheck, ...] = ()
    chatwoot: tuple[ChatwootCheck, ...] = ()
    google_analytics: tuple[GoogleAnalyticsCheck, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Checks:
        # one label (check) for all kinds: names must differ across them
        unique_names(
            [c.name for c in (*self.shopify, *self.chatwoot, *self.google_analytics)], "check"
        )
        return self

    def all(self) -> list[ShopifyCheck | ChatwootCheck | GoogleAnalyticsCheck]:
        return [*self.shopify, *self.chatwoot, *self.google_analytics]


class VendorsConfig(Model):
    feeds: tuple[Feed, ...] = ()
    checks: Checks = Checks()

    @field_validator("feeds")
    @classmethod
    def _unique(cls, feeds: tuple[Feed, ...]) -> tuple[Feed, ...]:
        unique_names([f.name for f in feeds], "feed")
        return feeds


def check_kind(check: ShopifyCheck | ChatwootCheck | GoogleAnalyticsCheck) -> str:
    if isinstance(check, ShopifyCheck):
        return "shopify"
    if isinstance(check, ChatwootCheck):
        return "chatwoot"
    return "google_analytics"
