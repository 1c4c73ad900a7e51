"""Launch day (docs/launch-day.md): the ``launch:`` section of the config (:mod:`.config`), the
``redline_launch_window`` series (:mod:`.source`) and the ``redline launch-check`` pre-flight
(:mod:`.check`).

Kept light: exporter/config.py imports :mod:`.config`, so nothing heavy is imported here.
"""
