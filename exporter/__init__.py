"""redline: the Prometheus exporter and monitoring-as-code bundle of Hot Rod AN."""

__version__ = "0.1.0"
