"""Where the shop really runs: the Fly.io apps (their machines, through the Machines API) and
the Supabase instance. Their metrics are scraped by Prometheus itself (jobs generated from the
``platform:`` section, exporter/rules/prometheus_config.py); redline's own part is the one thing
that is no metric, the machines' states and exit events (exporter/platform/fly_machines.py).
"""
