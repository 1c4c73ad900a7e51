"""Property tests of the status-feed parsers (exporter/vendors/statuspage.py, google_status.py,
betterstack.py, instatus.py, detect.py) and of reading a body as JSON: any document gives either
the documented failure (VendorFailure, reason unknown_format / invalid_json / not_json /
truncated) or a snapshot whose every word is in the closed sets, whatever the page says. Also
Supabase's backups answer (exporter/backups/supabase.py): a snapshot or ValueError."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from exporter.backups import supabase
from exporter.vendors import common, detect
from exporter.vendors.common import VendorFailure
from tests.fuzz_support import fuzz, json_values, objects_with, words

NOW = 1760356800.0  # 2025-10-13T12:00:00Z
anything = json_values()
small = json_values(max_leaves=6)

component = objects_with(("name", "status", "group", "group_id", "id"), words | small)
statuspage_doc = st.fixed_dictionaries(
    {
        "page": objects_with(("id", "name", "url"), small),
        "components": st.lists(component, max_size=6),
        "status": objects_with(("indicator", "description"), words | small),
    },
    optional={
        "incidents": st.lists(
            objects_with(("status", "impact", "components", "name"), words | st.lists(component)),
            max_size=4,
        ),
        "scheduled_maintenances": st.lists(objects_with(("status",), words | small), max_size=3),
    },
)
google_incident = objects_with(
    ("begin", "end", "status_impact", "severity", "service_name", "affected_products"),
    words | small | st.lists(objects_with(("title", "id"), words | small), max_size=3),
)
google_doc = st.lists(google_incident, max_size=6)
instatus_doc = st.fixed_dictionaries(
    {"page": objects_with(("name", "url", "status"), words | small)},
    optional={
        "activeIncidents": st.lists(objects_with(("status", "impact", "name"), words | small)),
        "activeMaintenances": st.lists(objects_with(("status", "name"), words | small)),
        "components": st.lists(component, max_size=4),
    },
)
betterstack_item = objects_with(
    ("type", "attributes", "id"),
    words
    | objects_with(
        ("public_name", "status", "aggregate_state", "report_type", "starts_at", "ends_at"),
        words | small,
    ),
)
betterstack_doc = st.fixed_dictionaries(
    {
        "data": objects_with(
            ("type", "attributes"),
            words | objects_with(("aggregate_state",), words | small),
        )
    },
    optional={"included": st.lists(betterstack_item, max_size=6)},
)
documents = anything | statuspage_doc | google_doc | instatus_doc | betterstack_doc

# hypothesis runs hundreds of generated documents: make check leaves it out, make test runs it
pytestmark = pytest.mark.slow


def check_snapshot(snap: common.Snapshot, provider: str) -> None:
    assert snap.provider == provider
    assert snap.indicator is None or snap.indicator in common.INDICATORS
    assert all(state in common.COMPONENT_STATES for state in snap.components.values())
    assert snap.default_state in common.COMPONENT_STATES
    assert all(i.impact in common.IMPACTS for i in snap.incidents)
    assert snap.maintenances is None or snap.maintenances >= 0
    assert len(snap.unknown_words) <= 20 and all(len(w) <= 60 for w in snap.unknown_words)
    # names are normalised: what a configured name is matched against
    assert all(name == common.norm(name) for name in snap.components)
    for name in snap.components:
        assert snap.state_of(name) == snap.components[name]


@fuzz(200)
@given(documents)
@example({"page": {}, "components": [], "status": {}})
@example([{"begin": "x", "severity": None, "affected_products": [{"title": " "}]}])
@example({"data": {"type": "status_page", "attributes": None}, "included": [{"attributes": []}]})
def test_every_format_reads_any_document_or_says_it_is_not_its_own(doc: Any) -> None:
    found = detect.detect(doc)
    assert found is None or found in detect.FORMATS
    for name, fmt in detect.FORMATS.items():
        own = fmt.looks_like(doc)
        assert isinstance(own, bool)
        try:
            snap = fmt.parse(doc, NOW)
        except VendorFailure as e:
            assert e.reason == "unknown_format" and not own, (name, e.message)
            continue
        assert own, name  # a document is read only when it is the format's own
        check_snapshot(snap, "google" if name == "google" else name)
    if found is not None:
        assert detect.FORMATS[found].looks_like(doc)


@fuzz(100)
@given(documents)
def test_parse_json_reads_what_json_dumps_wrote(doc: Any) -> None:
    body = json.dumps(doc).encode()
    assert common.parse_json(body, "feed") == doc
    # cut anywhere inside, the same document is a documented failure, never a crash
    for cut in {1, len(body) // 2, len(body) - 1}:
        if 0 < cut < len(body):
            try:
                common.parse_json(body[:cut], "feed")
            except VendorFailure as e:
                assert e.reason in ("truncated", "invalid_json", "not_json")


@fuzz(300)
@given(st.binary(max_size=200) | st.text(max_size=100).map(str.encode))
@example(b"\xef\xbb\xbf{}")  # a byte order mark
@example(b"[" * 100_000)
@example(b"<html>")
@example(b"   ")
@example(b'{"a": NaN}')
def test_parse_json_any_bytes(body: bytes) -> None:
    try:
        common.parse_json(body, "feed")
    except VendorFailure as e:
        assert e.reason in ("truncated", "invalid_json", "not_json")
        assert body.decode("utf-8", "replace")[:20] not in e.message or len(body) < 3


backup = objects_with(("status", "inserted_at", "is_physical_backup"), words | small)
supabase_doc = anything | st.fixed_dictionaries(
    {"backups": st.lists(backup, max_size=5)},
    optional={
        "pitr_enabled": st.booleans() | small,
        "physical_backup_data": objects_with(
            ("latest_physical_backup_date_unix", "earliest_physical_backup_date_unix"),
            small | st.floats(),
        ),
    },
)


@fuzz(200)
@given(supabase_doc)
@example({"backups": [{"status": "COMPLETED", "inserted_at": "0001-01-01T00:00:00"}]})
@example({"backups": [], "pitr_enabled": True, "physical_backup_data": {
    "latest_physical_backup_date_unix": float("nan")}})  # fmt: skip
def test_supabase_answer_is_a_snapshot_or_value_error(doc: Any) -> None:
    try:
        snap = supabase.parse(doc)
    except ValueError:
        assert not (isinstance(doc, dict) and isinstance(doc.get("backups"), list))
        return
    assert snap.backups == len(doc["backups"])
    assert snap.latest_status is None or snap.latest_status in supabase.BACKUP_STATUSES
    for value in (snap.newest_completed, snap.latest_restorable):
        assert value is None or math.isfinite(value)


def test_closed_sets_are_what_the_metrics_declare() -> None:
    # the snapshot checks above are only as good as these sets
    assert "unknown" in common.COMPONENT_STATES and "missing" in common.COMPONENT_STATES
    assert set(common.IMPACT_TO_STATE) == set(common.IMPACTS)
    with pytest.raises(ValueError):
        VendorFailure("no-such-reason", "x")
