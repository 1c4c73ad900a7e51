"""The one PromQL helper module: selectors and label lists built from the Metric objects of
exporter/metrics.py, never spelled by hand. The alert rules (exporter/rules/), the dashboards
(dashboards/style.py) and the ops commands (exporter/ops/) all write their queries with it, so
a rule or a panel cannot select a label the exporter never sets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from exporter.metrics import Metric

# Labels Prometheus adds to every scraped series; queries may select and keep them.
TARGET_LABELS = ("job", "instance")
_SUFFIXES = {"histogram": ("_bucket", "_count", "_sum")}

Match = str | tuple[str, str]  # "value" (=) or (op, value) with op one of =, !=, =~, !~
Matches = Match | list[Match]  # several matchers on one label must all hold


def _allowed(metric: Metric, suffix: str) -> set[str]:
    return set(metric.labels) | set(TARGET_LABELS) | ({"le"} if suffix == "_bucket" else set())


def sel(metric: Metric, suffix: str = "", /, **matchers: Matches) -> str:
    """A selector of ``metric``: ``sel(m.PROBE_SUCCESS, service="x", probe=("=~", "a|b"))``.
    Only the metric's own labels (and job, instance, and le of a histogram's buckets) may be
    matched."""
    if suffix and suffix not in _SUFFIXES.get(metric.type, ()):
        raise ValueError(f"{metric.name} ({metric.type}) has no series {metric.name}{suffix}")
    allowed = _allowed(metric, suffix)
    parts = []
    for label, matches in matchers.items():
        if label not in allowed:
            raise ValueError(f"{metric.name} has no label {label!r}")
        for match in matches if isinstance(matches, list) else [matches]:
            op, value = ("=", match) if isinstance(match, str) else match
            if op not in ("=", "!=", "=~", "!~"):
                raise ValueError(f"bad matcher operator {op!r}")
            parts.append(f'{label}{op}"{value}"')
    return f"{metric.name}{suffix}" + ("{" + ", ".join(parts) + "}" if parts else "")


def labels_of(metric: Metric, *names: str) -> str:
    """``service, probe`` for a ``by (...)`` clause, checked against the metric's labels (le
    allowed, for histogram_quantile over buckets)."""
    for name in names:
        if name not in _allowed(metric, "_bucket" if metric.type == "histogram" else ""):
            raise ValueError(f"{metric.name} has no label {name!r}")
    return ", ".join(names)


def alternatives(values: Sequence[str]) -> str:
    """A PromQL regex (anchored by PromQL) matching exactly these configured names. Names are
    letters, digits, ``_``, ``-``, ``:`` and ``.``; a dot is escaped, written ``\\.`` inside the
    PromQL string."""
    for v in values:
        if not re.match(r"^[A-Za-z0-9_.:-]+$", v):
            raise ValueError(f"{v!r} is not a plain name usable in a regex matcher")
    return "|".join(v.replace(".", "\\\\.") for v in values)
