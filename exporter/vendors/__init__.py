"""Third parties (issue 5, items 3 and 4): vendors' status feeds and synthetic calls to vendors'
APIs with our own credentials, both fetched in the background and served from memory.

One file per feed format (``statuspage``, ``google_status``, ``betterstack``, ``instatus``, with
``detect`` telling them apart) and one per API check (``shopify``, ``chatwoot``,
``google_analytics``); ``common`` holds what they share (reasons, the normalised feed snapshot,
the bounded HTTP fetch), ``source`` the :class:`~exporter.sources.Source` that schedules them and
renders their cached state.

This module imports nothing, so ``exporter.config`` can import ``exporter.vendors.config``
without pulling in the source (which imports ``exporter.config`` itself).
"""
