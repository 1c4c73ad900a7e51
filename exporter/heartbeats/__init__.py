"""Heartbeats (issue 5, item 2): scheduled jobs ping the exporter, healthchecks.io style, and
redline tells whether each ran on time, how it ended and how long it took.

The pieces, one file each: ``config`` (models), ``schedule`` (period or cron: when the next
ping is due, and the status that follows), ``state`` (per-job state, its atomic persistence),
``source`` (the :class:`~exporter.sources.Source` serving ``POST /heartbeat/...``).

This module imports nothing, so ``exporter.config`` can import ``exporter.heartbeats.config``
without pulling in the source (which imports ``exporter.config`` itself).
"""
