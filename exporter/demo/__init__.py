"""The demo: loopback stand-ins of the Hot Rod AN services (``standins``) and the ``make demo``
runner (``run``) that starts them with the exporter on its embedded default config."""
