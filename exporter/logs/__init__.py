"""Logs as metrics: files followed by glob and NDJSON batches posted to the exporter, parsed into
line, request, latency and error-pattern counters (issue 4, items 3 to 6).

The pieces, one file each: ``config`` (models), ``tail`` (file follower), ``ingest`` (HTTP
endpoint), ``parsers`` (JSON, regex, shipped formats), ``routes`` (route groups), ``pipeline``
(line -> tally), ``counters`` (the stream-fed state that survives reloads), ``source`` (the
:class:`~exporter.sources.Source` that ties them together).

This module imports nothing, so ``exporter.config`` can import ``exporter.logs.config`` without
pulling in the source (which imports ``exporter.config`` itself).
"""
