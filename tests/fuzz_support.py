"""What the property tests (tests/test_fuzz_*.py) share: one settings profile and the strategies
for JSON documents.

Runs are reproducible by default: ``derandomize=True`` makes Hypothesis derive its examples from
each test's name, so CI and a laptop try the same inputs and a failure replays as is. To search
further by hand, with fresh random inputs and more of them::

    REDLINE_FUZZ_RANDOM=1 REDLINE_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/test_fuzz_*.py

(Hypothesis prints the failing example and a ``@reproduce_failure`` line to paste.)
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("REDLINE_FUZZ_EXAMPLES", "0") or 0)
RANDOM = bool(os.environ.get("REDLINE_FUZZ_RANDOM"))


def fuzz(max_examples: int = 100) -> settings:
    """The settings of one property: ``max_examples`` by default (kept small so the whole fuzz
    suite runs in seconds), REDLINE_FUZZ_EXAMPLES when set."""
    return settings(
        max_examples=EXAMPLES or max_examples,
        derandomize=not RANDOM,
        database=None,
        deadline=None,  # CI machines stall; slowness is the soak's and the benchmark's business
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


# Words the code under test branches on, so random documents reach past the first type check.
WORDS = (
    "ok", "status", "name", "components", "page", "incidents", "operational", "major_outage",
    "none", "minor", "critical", "resolved", "in_progress", "group", "impact", "end", "begin",
    "service_name", "affected_products", "title", "SERVICE_OUTAGE", "high", "UP", "HASISSUES",
    "MAJOROUTAGE", "INPROGRESS", "data", "attributes", "included", "status_page",
    "status_page_resource", "status_report", "aggregate_state", "downtime", "maintenance",
    "public_name", "report_type", "starts_at", "ends_at", "2025-10-13T12:00:00Z",
    "2025-10-13T12:00:00+02:00", "0001-01-01T00:00:00", "level", "info", "error", "WARN", "30",
    "timestamp", "message", "duration", "path", "method", "GET", "service", "200", "5xx",
)  # fmt: skip
words = st.sampled_from(WORDS)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | words
)


def json_values(max_leaves: int = 25) -> st.SearchStrategy[Any]:
    """Any JSON document (what json.loads can return, NaN and infinities left out)."""
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=5)
            | st.dictionaries(st.text(max_size=12) | words, inner, max_size=6)
        ),
        max_leaves=max_leaves,
    )


def objects_with(keys: tuple[str, ...], values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """JSON objects whose keys are mostly among ``keys``."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), values, max_size=len(keys))
