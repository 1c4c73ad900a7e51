"""Atlassian Statuspage v2, ``/api/v2/summary.json`` (Shopify, Supabase, Fly.io, OpenAI, ...).

The document: ``page``; ``status {indicator, description}``; ``components`` (each with a
``status``; group containers carry ``group: true`` and list their children, which carry
``group_id``); ``incidents`` (the unresolved ones, each with an ``impact`` and the
``components`` it affects); ``scheduled_maintenances`` (upcoming and in progress).
"""

from __future__ import annotations

from typing import Any

from exporter.vendors.common import (
    FeedFormat,
    Incident,
    Reader,
    Snapshot,
    items,
    norm,
    shape_error,
    worse_state,
)

PATH = "/api/v2/summary.json"

_COMPONENT = {
    "operational": "operational",
    "degraded_performance": "degraded_performance",
    "partial_outage": "partial_outage",
    "major_outage": "major_outage",
    "under_maintenance": "under_maintenance",
}
_INDICATOR = {w: w for w in ("none", "minor", "major", "critical", "maintenance")}
# An incident's impact uses the indicator's words.
_IMPACT = _INDICATOR
# Statuspage's incident lifecycle: the summary lists unresolved incidents only, but a page
# caught mid-update can still show one that has just been resolved.
_CLOSED_INCIDENT = {"resolved", "postmortem", "completed"}
_ACTIVE_MAINTENANCE = {"in_progress", "verifying"}


def _text(value: Any) -> str | None:
    """A status word, or None: a list or an object where a word belongs cannot be looked up in
    a set (unhashable), and is no word of ours anyway."""
    return value if isinstance(value, str) else None


def looks_like(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("page"), dict)
        and isinstance(doc.get("components"), list)
        and isinstance(doc.get("status"), dict)
    )


def parse(doc: Any, now: float) -> Snapshot:
    if not looks_like(doc):
        raise shape_error("Statuspage", "no page, components and status objects")
    read = Reader()
    components: dict[str, str] = {}
    for component in items(doc["components"]):
        name = component.get("name")
        # A group container's status only summarises its children, which are listed too.
        if component.get("group") is True or not isinstance(name, str):
            continue
        key = norm(name)
        # The same name can appear under several groups (regions): the worst one stands.
        components[key] = worse_state(
            components.get(key), read.word(component.get("status"), _COMPONENT)
        )
    indicator = read.word(doc["status"].get("indicator"), _INDICATOR)
    incidents = tuple(
        Incident(
            impact=read.word(incident.get("impact"), _IMPACT),
            components=frozenset(
                norm(c["name"])
                for c in items(incident.get("components"))
                if isinstance(c.get("name"), str)
            ),
        )
        for incident in items(doc.get("incidents"))
        if _text(incident.get("status")) not in _CLOSED_INCIDENT
    )
    maintenances = sum(
        1
        for m in items(doc.get("scheduled_maintenances"))
        if _text(m.get("status")) in _ACTIVE_MAINTENANCE
    )
    return Snapshot(
        provider="statuspage",
        indicator=indicator,
        components=components,
        incidents=incidents,
        incidents_name_components=True,
        maintenances=maintenances,
        unknown_words=frozenset(read.unknown),
    )


FORMAT = FeedFormat("statuspage", PATH, looks_like, parse)
