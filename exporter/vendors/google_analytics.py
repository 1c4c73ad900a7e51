"""Google Analytics: a one-row GA4 Data API ``runReport`` with a service account.

The report asks for the newest hour with data over yesterday and today (dimension ``dateHour``,
metric ``eventCount``, ordered newest first, ``limit 1``). GA answers in the property's own time
zone (``metadata.timeZone``), so the row's hour is placed on the clock without knowing the
property's zone beforehand. Two values come out: whether that hour is the current or the
previous one (``rows_last_hour``, 1 or 0: "GA answers but no data arrives" shows as 0 while the
check is up), and when it started.

Authentication uses Google's own library, ``google-auth`` (the optional ``ga`` extra), for what
is easy to get wrong: reading the service account key and signing the OAuth 2.0 JWT assertion
(``google.oauth2.service_account``, ``google.auth.jwt``, both public API). The assertion is then
exchanged for an access token with the exporter's own aiohttp session rather than with
``Credentials.refresh``, because refresh is a blocking call through ``requests`` (a thread per
refresh, no cancellation at the timeout, proxies taken from the environment) and newer releases
add lookups to Google endpoints of their own; here every request is bounded by the check's
timeout and goes only to ``token_url`` and ``api_base_url``, which tests point at loopback.
The token is cached until five minutes before it expires.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exporter import metrics as m
from exporter.probes.base import Sample
from exporter.vendors.common import (
    CheckContext,
    VendorFailure,
    items,
    parse_json,
    raise_for_status,
    request,
)
from exporter.vendors.config import GoogleAnalyticsCheck

SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REPORT = json.dumps(
    {
        "dateRanges": [{"startDate": "yesterday", "endDate": "today"}],
        "dimensions": [{"name": "dateHour"}],
        "metrics": [{"name": "eventCount"}],
        "orderBys": [{"dimension": {"dimensionName": "dateHour"}, "desc": True}],
        "limit": "1",
    }
)
TOKEN_LIFETIME = 3600  # what Google grants a service account's assertion
TOKEN_MARGIN = 300  # refresh this long before the token expires


def _google_auth() -> tuple[Any, Any]:
    """google-auth's modules, or reason dependency_missing (the exporter runs without it)."""
    try:
        from google.auth import jwt
        from google.oauth2 import service_account
    except ImportError:
        raise VendorFailure(
            "dependency_missing",
            "google-auth is not installed: install redline with the ga extra "
            "(pip install 'redline[ga]')",
        ) from None
    return jwt, service_account


def _read_key(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise VendorFailure(
            "secret", f"the credentials file cannot be read: {e.strerror or type(e).__name__}"
        ) from None
    except UnicodeDecodeError:
        raise VendorFailure("credentials", "the credentials file is not UTF-8 text") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        raise VendorFailure("credentials", "the credentials file is not JSON") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise VendorFailure(
            "credentials", "the credentials file is not a service account key (type)"
        )
    return info


def _load_key(path: str, service_account: Any, ctx: CheckContext) -> tuple[dict[str, Any], Any]:
    info = _read_key(path)
    for key in ("private_key", "private_key_id"):
        if isinstance(info.get(key), str):
            ctx.redactor.add(info[key])
    try:
        credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    except (ValueError, KeyError, TypeError) as e:
        # the class only: the library's text may quote the key
        raise VendorFailure(
            "credentials", f"the service account key is not usable ({type(e).__name__})"
        ) from None
    return info, credentials


def _hour_start(value: Any, zone: Any) -> float | None:
    """``2025101314`` in the property's time zone -> Unix time of that hour's start."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{10}", value):
        return None
    try:
        tz = ZoneInfo(zone) if isinstance(zone, str) and zone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    try:
        return datetime.strptime(value, "%Y%m%d%H").replace(tzinfo=tz).timestamp()
    except ValueError:
        return None


class GoogleAnalyticsRunner:
    def __init__(self, cfg: GoogleAnalyticsCheck) -> None:
        self.cfg = cfg
        self._token: tuple[tuple[str, str], str, float] | None = None  # (who, where), token, until

    async def run(self, ctx: CheckContext) -> list[Sample]:
        cfg = self.cfg
        jwt, service_account = _google_auth()
        path = await ctx.secret(cfg.credentials_file)
        # a file read and a PEM key parse: off the event loop
        info, credentials = await asyncio.to_thread(_load_key, path, service_account, ctx)
        if cfg.token_url is not None:
            token_url, shown_token_url = await ctx.secret(cfg.token_url), cfg.token_url
        else:
            token_url, shown_token_url = str(info.get("token_uri", "")), "the key's token_uri"
        token = await self._access_token(ctx, jwt, credentials, token_url, shown_token_url)

        property_id = (await ctx.secret(cfg.property_id)).strip().removeprefix("properties/")
        api = (await ctx.secret(cfg.api_base_url)).rstrip("/")
        path = f"/v1beta/properties/{quote(property_id, safe='')}:runReport"
        shown = f"{cfg.api_base_url.rstrip('/')}/v1beta/properties/{cfg.property_id}:runReport"
        answer = await request(
            ctx.session,
            "POST",
            api + path,
            shown_url=shown,
            max_bytes=cfg.max_body_bytes,
            follow_redirects=False,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            data=REPORT,
        )
        if answer.status == 401:
            self._token = None  # revoked or expired early: get a new one next time
        raise_for_status(answer, shown)
        doc = parse_json(answer.body, shown)
        if not isinstance(doc, dict) or not (
            "kind" in doc or "metadata" in doc or "dimensionHeaders" in doc
        ):
            raise VendorFailure("unknown_format", f"{shown}: not a runReport response")
        metadata = doc.get("metadata")
        zone = metadata.get("timeZone") if isinstance(metadata, dict) else None
        latest = 0.0
        rows = items(doc.get("rows"))  # GA leaves "rows" out when there is no data
        if rows:
            values = items(rows[0].get("dimensionValues"))
            start = _hour_start(values[0].get("value") if values else None, zone)
            if start is None:
                raise VendorFailure("unknown_format", f"{shown}: the row has no dateHour")
            latest = start
        # The newest hour with data is the current or the previous hour (in any time zone, the
        # previous hour started less than two hours ago).
        recent = latest > 0 and latest > ctx.clock.time() - 7200
        return [
            Sample(m.VENDOR_GA_ROWS_LAST_HOUR, 1.0 if recent else 0.0),
            Sample(m.VENDOR_GA_LATEST_DATA, latest),
        ]

    async def _access_token(
        self, ctx: CheckContext, jwt: Any, credentials: Any, token_url: str, shown: str
    ) -> str:
        who = (str(credentials.service_account_email), token_url)
        now = ctx.clock.time()
        if self._token is not None and self._token[0] == who and now < self._token[2]:
            return self._token[1]
        if not token_url:
            raise VendorFailure("credentials", "the key has no token_uri and no token_url is set")
        issued = int(now)
        assertion = jwt.encode(
            credentials.signer,
            {
                "iss": credentials.service_account_email,
                "scope": SCOPE,
                "aud": token_url,
                "iat": issued,
                "exp": issued + TOKEN_LIFETIME,
            },
        )
        if isinstance(assertion, bytes):
            assertion = assertion.decode("ascii")
        answer = await request(
            ctx.session,
            "POST",
            token_url,
            shown_url=shown,
            max_bytes=64 * 1024,
            follow_redirects=False,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            data=urlencode({"grant_type": GRANT_TYPE, "assertion": assertion}),
        )
        if answer.status in (400, 401, 403):
            # OAuth's error code (invalid_grant, unauthorized_client, ...) says why; the
            # description may quote the assertion, so it is left out.
            code = ""
            try:
                error = json.loads(answer.body).get("error")
                if isinstance(error, str) and re.fullmatch(r"[a-z_]{1,40}", error):
                    code = f" ({error})"
            except (ValueError, AttributeError):
                pass
            raise VendorFailure(
                "auth", f"{shown}: HTTP {answer.status}: the service account was refused{code}"
            )
        raise_for_status(answer, shown)
        doc = parse_json(answer.body, shown)
        token = doc.get("access_token") if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise VendorFailure("unknown_format", f"{shown}: no access_token in the answer")
        ctx.redactor.add(token)
        expires_in = doc.get("expires_in", TOKEN_LIFETIME)
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool):
            expires_in = TOKEN_LIFETIME
        self._token = (who, token, now + max(60.0, float(expires_in) - TOKEN_MARGIN))
        return token
