"""redline's Grafana dashboards as code (issue 7).

``dashboards/*.dashboard.py`` each define one ``dashboard`` with grafanalib, in the house style of
:mod:`dashboards.style`; :mod:`dashboards.build` (``make dashboards``, also run by ``make
generate``) renders them into ``dashboards/json/`` with the Grafana provisioning files.
"""
