"""The Postgres source: one small asyncpg pool per configured database and one sub-collector per
area (availability, activity, database, tables, replication, statements, custom SQL).

The sub-collector registry is :data:`exporter.postgres.source.COLLECTORS`. This package's
``__init__`` imports nothing on purpose: ``exporter.config`` imports ``exporter.postgres.config``,
and the source (which imports the app's modules) must load only when the app asks for it.
"""
