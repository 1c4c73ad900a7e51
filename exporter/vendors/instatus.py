"""Instatus pages' ``/summary.json``.

``page {name, url, status}`` with status ``UP``, ``HASISSUES`` or ``UNDERMAINTENANCE``;
``activeIncidents [{id, name, started, status, impact, url}]`` with impact ``OPERATIONAL``,
``DEGRADEDPERFORMANCE``, ``PARTIALOUTAGE``, ``MAJOROUTAGE`` or ``UNDERMAINTENANCE``;
``activeMaintenances [{id, name, start, status, duration, url}]`` with status ``NOTSTARTEDYET``,
``INPROGRESS`` or ``COMPLETED``. The summary lists no components (Instatus serves them from
another endpoint), so a configured component reads ``missing`` unless the document has a
``components`` array, which is read when present.
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
    worse_impact,
    worse_state,
)

PATH = "/summary.json"

_PAGE = {"UP": "none", "HASISSUES": "minor", "UNDERMAINTENANCE": "maintenance"}
_IMPACT = {
    "OPERATIONAL": "none",
    "DEGRADEDPERFORMANCE": "minor",
    "PARTIALOUTAGE": "major",
    "MAJOROUTAGE": "critical",
    "UNDERMAINTENANCE": "maintenance",
}
_COMPONENT = {
    "OPERATIONAL": "operational",
    "DEGRADEDPERFORMANCE": "degraded_performance",
    "PARTIALOUTAGE": "partial_outage",
    "MAJOROUTAGE": "major_outage",
    "UNDERMAINTENANCE": "under_maintenance",
}


def looks_like(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and isinstance(doc.get("page"), dict)
        and ("activeIncidents" in doc or "activeMaintenances" in doc)
    )


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def parse(doc: Any, now: float) -> Snapshot:
    if not looks_like(doc):
        raise shape_error("Instatus", "no page object with activeIncidents/activeMaintenances")
    read = Reader()
    incidents = tuple(
        Incident(impact=read.word(_upper(incident.get("impact")), _IMPACT))
        for incident in items(doc.get("activeIncidents"))
        if _upper(incident.get("status")) != "RESOLVED"
    )
    maintenances = sum(
        1 for m in items(doc.get("activeMaintenances")) if _upper(m.get("status")) == "INPROGRESS"
    )
    indicator = read.word(_upper(doc["page"].get("status")), _PAGE)
    if indicator == "minor":
        # HASISSUES says something is wrong without saying how badly: the open incidents do.
        for incident in incidents:
            if incident.impact != "unknown":
                indicator = worse_impact(indicator, incident.impact)
    components: dict[str, str] = {}
    for component in items(doc.get("components")):
        if isinstance(component.get("name"), str):
            key = norm(component["name"])
            state = read.word(_upper(component.get("status")), _COMPONENT)
            components[key] = worse_state(components.get(key), state)
    return Snapshot(
        provider="instatus",
        indicator=indicator,
        components=components,
        incidents=incidents,
        maintenances=maintenances,
        unknown_words=frozenset(read.unknown),
    )


FORMAT = FeedFormat("instatus", PATH, looks_like, parse)
