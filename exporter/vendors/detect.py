"""The feed formats by name, and telling them apart from a document when a feed's provider is not
configured (a status page that moves between providers keeps being read).

The shapes do not overlap: Statuspage has ``page``, ``components`` and ``status`` objects;
Instatus a ``page`` with ``activeIncidents``/``activeMaintenances``; Better Stack a JSON:API
``data`` object of type ``status_page``; Google an array of incidents.
"""

from __future__ import annotations

from typing import Any

from exporter.vendors import betterstack, google_status, instatus, statuspage
from exporter.vendors.common import FeedFormat

FORMATS: dict[str, FeedFormat] = {
    f.name: f
    for f in (statuspage.FORMAT, betterstack.FORMAT, instatus.FORMAT, google_status.FORMAT)
}

# The paths tried, in this order, when a feed's URL is a status page's base URL and its provider
# is auto. Google's dashboards are never at a page's base: their URL is configured whole.
DISCOVERY_ORDER = ("statuspage", "betterstack", "instatus")


def detect(doc: Any) -> str | None:
    """The name of the format ``doc`` is in, or None when it is none of them."""
    for name, fmt in FORMATS.items():
        if fmt.looks_like(doc):
            return name
    return None
