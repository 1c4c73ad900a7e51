"""Shopify Admin GraphQL: ``{ shop { name } }`` with the app's own access token.

Proves the token, the API version and Shopify's API together, and reads the GraphQL cost bucket
the app and redline share (``extensions.cost.throttleStatus``): ``currentlyAvailable`` near 0
means the app itself is about to be throttled. The query costs 1 point.

Shopify answers a refused token with 401 (``[API] Invalid API key or access token``), a
throttled query with 200 and ``errors[].extensions.code == "THROTTLED"``, and a REST-style
throttle with 429 and ``Retry-After: 2.0``.
"""

from __future__ import annotations

import json
from typing import Any

from exporter import metrics as m
from exporter.probes.base import Sample
from exporter.vendors.common import (
    CheckContext,
    VendorFailure,
    parse_json,
    raise_for_status,
    request,
    short,
)
from exporter.vendors.config import ShopifyCheck

QUERY = json.dumps({"query": "{ shop { name } }"})


def shop_host(shop: str) -> str:
    """``hotrodan``, ``hotrodan.myshopify.com`` or ``https://hotrodan.myshopify.com/`` -> the
    store's host."""
    host = shop.strip().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return host if "." in host else f"{host}.myshopify.com"


def _throttle(doc: dict[str, Any]) -> list[Sample]:
    extensions = doc.get("extensions")
    cost = extensions.get("cost") if isinstance(extensions, dict) else None
    status = cost.get("throttleStatus") if isinstance(cost, dict) else None
    if not isinstance(status, dict):
        return []
    out = []
    for metric, key in (
        (m.VENDOR_SHOPIFY_THROTTLE_AVAILABLE, "currentlyAvailable"),
        (m.VENDOR_SHOPIFY_THROTTLE_MAXIMUM, "maximumAvailable"),
        (m.VENDOR_SHOPIFY_THROTTLE_RESTORE_RATE, "restoreRate"),
    ):
        value = status.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(Sample(metric, float(value)))
    return out


class ShopifyRunner:
    def __init__(self, cfg: ShopifyCheck) -> None:
        self.cfg = cfg

    async def run(self, ctx: CheckContext) -> list[Sample]:
        cfg = self.cfg
        if cfg.url is not None:
            url, shown = await ctx.secret(cfg.url), cfg.url
        else:
            path = f"/admin/api/{cfg.api_version}/graphql.json"
            url, shown = (
                f"https://{shop_host(await ctx.secret(cfg.shop))}{path}",
                f"{cfg.shop}{path}",
            )
        token_ref = cfg.access_token if cfg.access_token is not None else cfg.access_token_file
        assert token_ref is not None  # the model requires one of them
        token = await ctx.secret(token_ref)
        answer = await request(
            ctx.session,
            "POST",
            url,
            shown_url=shown,
            max_bytes=cfg.max_body_bytes,
            follow_redirects=False,
            headers={
                "X-Shopify-Access-Token": token,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            data=QUERY,
        )
        raise_for_status(answer, shown)
        doc = parse_json(answer.body, shown)
        if not isinstance(doc, dict):
            raise VendorFailure("unknown_format", f"{shown}: not a GraphQL response object")
        samples = _throttle(doc)
        errors = doc.get("errors")
        if errors:
            codes = (
                [
                    e.get("extensions", {}).get("code")
                    for e in errors
                    if isinstance(e, dict) and isinstance(e.get("extensions"), dict)
                ]
                if isinstance(errors, list)
                else []
            )
            if "THROTTLED" in codes:
                # The bucket is empty: the values just read say so, and are worth serving.
                raise VendorFailure("rate_limited", f"{shown}: THROTTLED", samples=samples)
            first = errors[0] if isinstance(errors, list) and errors else errors
            text = first.get("message") if isinstance(first, dict) else first
            raise VendorFailure(
                "api_error", f"{shown}: GraphQL error: {short(str(text), 160)}", samples=samples
            )
        data = doc.get("data")
        shop = data.get("shop") if isinstance(data, dict) else None
        if not isinstance(shop, dict) or not isinstance(shop.get("name"), str):
            raise VendorFailure("unknown_format", f"{shown}: no data.shop.name in the answer")
        return samples
