"""Chatwoot: the unauthenticated ``GET /api`` and, with an agent's token, ``GET /api/v1/profile``.

``/api`` answers ``{version, timestamp, queue_services, data_services}``: ``queue_services`` is
Redis (what Sidekiq's jobs and webhooks go through), ``data_services`` Postgres, each ``ok`` or
``failing``. ``/api/v1/profile`` with the ``api_access_token`` header answers the agent's
profile (with an ``id``) or 401: it proves the token, the database and the Rails app together.

The service states are served even when the token is refused: they were read, and they say
something else (is Chatwoot itself healthy) than the token's failure does.
"""

from __future__ import annotations

from typing import Any

from exporter import metrics as m
from exporter.probes.base import Sample
from exporter.vendors.common import (
    CheckContext,
    VendorFailure,
    parse_json,
    raise_for_status,
    request,
)
from exporter.vendors.config import ChatwootCheck

SERVICES = ("queue_services", "data_services")
STATES = ("ok", "failing", "unknown")


def _states(doc: Any, shown: str) -> list[Sample]:
    if not isinstance(doc, dict) or not any(key in doc for key in (*SERVICES, "version")):
        raise VendorFailure("unknown_format", f"{shown}: not Chatwoot's /api answer")
    out: list[Sample] = []
    for service in SERVICES:
        value = doc.get(service)
        state = value if value in ("ok", "failing") else "unknown"
        out.extend(
            Sample(
                m.VENDOR_CHATWOOT_SERVICE_STATUS,
                1.0 if s == state else 0.0,
                {"service": service, "status": s},
            )
            for s in STATES
        )
    return out


class ChatwootRunner:
    def __init__(self, cfg: ChatwootCheck) -> None:
        self.cfg = cfg

    async def run(self, ctx: CheckContext) -> list[Sample]:
        cfg = self.cfg
        base = (await ctx.secret(cfg.base_url)).rstrip("/")
        shown_base = cfg.base_url.rstrip("/")
        shown = f"{shown_base}/api"
        answer = await request(
            ctx.session,
            "GET",
            f"{base}/api",
            shown_url=shown,
            max_bytes=cfg.max_body_bytes,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )
        raise_for_status(answer, shown)
        samples = _states(parse_json(answer.body, shown), shown)

        token_ref = cfg.api_token if cfg.api_token is not None else cfg.api_token_file
        if token_ref is None:
            return samples
        shown = f"{shown_base}/api/v1/profile"
        try:
            token = await ctx.secret(token_ref)
            answer = await request(
                ctx.session,
                "GET",
                f"{base}/api/v1/profile",
                shown_url=shown,
                max_bytes=cfg.max_body_bytes,
                follow_redirects=False,
                headers={"api_access_token": token, "Accept": "application/json"},
            )
            raise_for_status(answer, shown)
            profile = parse_json(answer.body, shown)
            if not isinstance(profile, dict) or "id" not in profile:
                raise VendorFailure("unknown_format", f"{shown}: no id in the profile")
        except VendorFailure as e:
            e.samples = samples
            raise
        return samples
