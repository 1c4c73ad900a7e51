"""Better Stack status pages' ``/index.json`` (JSON:API).

``data`` is the page (``type: status_page``, ``attributes.aggregate_state``: ``operational``,
``degraded``, ``downtime``, ``maintenance``); ``included`` holds the page's resources
(``type: status_page_resource``, ``attributes.public_name`` and ``status``), its sections, and
its status reports (``type: status_report``, ``attributes.report_type`` ``manual`` or
``maintenance``, ``starts_at``, ``ends_at``, ``aggregate_state``, ``resolved`` once over).
"""

from __future__ import annotations

from datetime import datetime
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

PATH = "/index.json"

_COMPONENT = {
    "operational": "operational",
    "degraded": "degraded_performance",
    "downtime": "major_outage",
    "maintenance": "under_maintenance",
    # a resource shown without a monitor behind it: the page itself does not know
    "not_monitored": "unknown",
}
_INDICATOR = {
    "operational": "none",
    "degraded": "minor",
    "downtime": "critical",
    "maintenance": "maintenance",
}
_IMPACT = {**_INDICATOR, "resolved": "none"}


def looks_like(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), dict):
        return False
    data = doc["data"]
    attributes = data.get("attributes")
    return data.get("type") == "status_page" or (
        isinstance(attributes, dict) and "aggregate_state" in attributes
    )


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def parse(doc: Any, now: float) -> Snapshot:
    if not looks_like(doc):
        raise shape_error("Better Stack", "no data object of type status_page")
    read = Reader()
    attributes = doc["data"].get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    indicator = read.word(attributes.get("aggregate_state"), _INDICATOR)
    components: dict[str, str] = {}
    incidents: list[Incident] = []
    maintenances = 0
    for item in items(doc.get("included")):
        attrs = item.get("attributes")
        if not isinstance(attrs, dict):
            continue
        if item.get("type") == "status_page_resource" and isinstance(attrs.get("public_name"), str):
            key = norm(attrs["public_name"])
            components[key] = worse_state(
                components.get(key), read.word(attrs.get("status"), _COMPONENT)
            )
        elif item.get("type") == "status_report":
            if attrs.get("aggregate_state") == "resolved":
                continue
            starts, ends = _time(attrs.get("starts_at")), _time(attrs.get("ends_at"))
            if (starts is not None and starts > now) or (ends is not None and ends <= now):
                continue  # announced for later, or already over
            if attrs.get("report_type") == "maintenance":
                maintenances += 1
            else:
                incidents.append(Incident(impact=read.word(attrs.get("aggregate_state"), _IMPACT)))
    return Snapshot(
        provider="betterstack",
        indicator=indicator,
        components=components,
        incidents=tuple(incidents),
        maintenances=maintenances,
        unknown_words=frozenset(read.unknown),
    )


FORMAT = FeedFormat("betterstack", PATH, looks_like, parse)
