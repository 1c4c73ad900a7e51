"""Google's status dashboards' ``incidents.json`` (Google Cloud, and the Google Ads dashboard that
carries Google Analytics): an array of incidents, newest first, the dashboard's whole history.

Each incident has ``begin``, ``end`` (absent while it is open), ``status_impact``
(``SERVICE_INFORMATION``, ``SERVICE_DISRUPTION``, ``SERVICE_OUTAGE``), ``severity`` (``low``,
``medium``, ``high``), ``service_name`` and ``affected_products`` (``[{title, id}]``). There are
no component states: a configured product is operational unless an open incident names it (in
``service_name`` or an ``affected_products`` title), and then takes the state its worst open
incident's impact stands for.
"""

from __future__ import annotations

from typing import Any

from exporter.vendors.common import (
    IMPACT_TO_STATE,
    FeedFormat,
    Incident,
    Reader,
    Snapshot,
    items,
    norm,
    shape_error,
    worse_state,
)

PATH = "/incidents.json"

# The dashboard's icons: information, disruption, outage.
_STATUS_IMPACT = {
    "SERVICE_INFORMATION": "minor",
    "SERVICE_DISRUPTION": "major",
    "SERVICE_OUTAGE": "critical",
}
# Older incidents carry only a severity.
_SEVERITY = {"low": "minor", "medium": "major", "high": "critical"}


def looks_like(doc: Any) -> bool:
    if not isinstance(doc, list):
        return False
    # an empty dashboard is a valid feed; otherwise the first entries must be incidents
    return all(
        isinstance(i, dict) and ("begin" in i or "service_name" in i or "affected_products" in i)
        for i in doc[:5]
    )


def _names(incident: dict[str, Any]) -> frozenset[str]:
    names = set()
    if isinstance(incident.get("service_name"), str):
        names.add(norm(incident["service_name"]))
    for product in items(incident.get("affected_products")):
        if isinstance(product.get("title"), str):
            names.add(norm(product["title"]))
    names.discard("")
    return frozenset(names)


def parse(doc: Any, now: float) -> Snapshot:
    if not looks_like(doc):
        raise shape_error("Google status dashboard", "not an array of incidents")
    read = Reader()
    incidents: list[Incident] = []
    for entry in items(doc):
        if entry.get("end"):
            continue  # closed; most of the document is history
        if "status_impact" in entry:
            impact = read.word(entry.get("status_impact"), _STATUS_IMPACT)
        else:
            impact = read.word(entry.get("severity"), _SEVERITY)
        incidents.append(Incident(impact=impact, components=_names(entry)))
    components: dict[str, str] = {}
    for incident in incidents:
        for name in incident.components:
            components[name] = worse_state(components.get(name), IMPACT_TO_STATE[incident.impact])
    return Snapshot(
        provider="google",
        indicator=None,
        components=components,
        default_state="operational",
        incidents=tuple(incidents),
        incidents_name_components=True,
        incidents_scoped=True,
        unknown_words=frozenset(read.unknown),
    )


FORMAT = FeedFormat("google", PATH, looks_like, parse)
