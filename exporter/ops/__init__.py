"""Operating the shop's reliability from what Prometheus already holds (issue 9):

- ``redline baseline``: what is normal, per service, and which configured thresholds are noisy
  or blind against it (:mod:`exporter.ops.baseline`);
- ``redline capacity``: when each resource runs out at the current trend and under a growth
  scenario (:mod:`exporter.ops.capacity`, charts in :mod:`exporter.ops.charts`);
- ``redline postmortem``: a draft post-mortem of a time range in the template of
  docs/incident-response.md (:mod:`exporter.ops.postmortem`).

Every command reads Prometheus's HTTP API through :mod:`exporter.ops.promapi`, writes its report
even when parts could not be computed (the report says which, and why), and never invents a
number: a value that cannot be computed is shown as such.
"""
