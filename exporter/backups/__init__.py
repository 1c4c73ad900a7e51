"""Backup checks (issue 5, item 1): backup files found by directory and glob, their integrity,
and Supabase's managed backups through the Management API.

The pieces, one file each: ``config`` (models), ``files`` (the cheap directory scan a scrape
does), ``verify`` (integrity checks, run in the background), ``supabase`` (the Management API
client and its parser), ``source`` (the :class:`~exporter.sources.Source` that ties them).

This module imports nothing, so ``exporter.config`` can import ``exporter.backups.config``
without pulling in the source (which imports ``exporter.config`` itself).
"""
