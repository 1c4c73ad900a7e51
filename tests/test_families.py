"""exporter/families.py's row families: what a source builds with Families renders to the same
text, and reads back as the same Samples, as the label dicts and Samples it used to hold."""

from __future__ import annotations

import math

from prometheus_client.metrics_core import Metric as Family
from prometheus_client.samples import Sample

from exporter import metrics as m
from exporter.collector import merge, text_exposition
from exporter.families import Families, RowFamily

# metrics of every kind the renderer treats apart: counter (named without _total), gauge
# without labels, a state set, labels in an order other than the sorted one
COUNTER = m.NODE_NETWORK_RECEIVE_BYTES  # ("device",)
GAUGE = m.NODE_LOAD1  # no labels
FILESYSTEM = m.NODE_FILESYSTEM_SIZE  # ("device", "fstype", "mountpoint")
STATE = m.PROBE_STATUS  # (service, probe, status)
VALUES = [0.0, 1.0, -2.5, 1e-9, 123456789012345.0, math.inf, -math.inf, math.nan, 7]
AWKWARD = ['a"b', "back\\slash", "new\nline", "ünïcode", ""]


def build() -> Families:
    out = Families()
    for i, value in enumerate(VALUES):
        out.values(COUNTER, value, f"eth{i}")
        out.values(FILESYSTEM, value, AWKWARD[i % len(AWKWARD)], "ext4", f"/m{i}")
    out.values(GAUGE, 0.25)
    out.set(FILESYSTEM, 3.0, mountpoint="/kw", fstype="xfs", device="/dev/x")  # keywords
    out.add(COUNTER, {"device": "by-dict"}, 5)
    out.states(STATE, ("up", "down"), "down", service="s", probe="p")
    return out


def the_old_way() -> list[Family]:
    """The same samples as prometheus-client Families holding Samples, as families.py built
    them before rows."""
    fams: dict[str, Family] = {}

    def add(metric: m.Metric, labels: dict[str, str], value: float) -> None:
        kind = {"counter": "counter"}.get(metric.type, "gauge")
        name = metric.name.removesuffix("_total") if kind == "counter" else metric.name
        family = fams.setdefault(metric.name, Family(name, metric.help, kind))
        family.samples.append(Sample(metric.name, labels, float(value), None, None, None))

    for i, value in enumerate(VALUES):
        add(COUNTER, {"device": f"eth{i}"}, value)
        labels = {"device": AWKWARD[i % len(AWKWARD)], "fstype": "ext4", "mountpoint": f"/m{i}"}
        add(FILESYSTEM, labels, value)
    add(GAUGE, {}, 0.25)
    add(FILESYSTEM, {"device": "/dev/x", "fstype": "xfs", "mountpoint": "/kw"}, 3.0)
    add(COUNTER, {"device": "by-dict"}, 5)
    for state in ("up", "down"):
        add(STATE, {"service": "s", "probe": "p", "status": state}, float(state == "down"))
    return list(fams.values())


def test_rows_render_as_samples_did() -> None:
    families = build().families()
    assert all(isinstance(f, RowFamily) and f.rows is not None for f in families)
    old = the_old_way()
    assert text_exposition(families) == text_exposition(old)
    # twice: the second render comes from the cached series texts
    assert text_exposition(build().families()) == text_exposition(old)


def test_rows_read_back_as_the_samples_they_stand_for() -> None:
    families = build().families()
    old = the_old_way()
    for new, before in zip(families, old, strict=True):
        head = (new.name, new.documentation, new.type)
        assert head == (before.name, before.documentation, before.type)
        got = [(s.name, s.labels, s.value) for s in new.samples]
        want = [(s.name, s.labels, s.value) for s in before.samples]
        assert repr(got) == repr(want)  # NaN == NaN only as text
        assert isinstance(new, RowFamily) and new.rows is None  # Samples from now on
    assert text_exposition(families) == text_exposition(old)


def test_a_family_read_then_added_to_keeps_every_sample() -> None:
    out = Families()
    out.values(COUNTER, 1.0, "a")
    (family,) = out.families()
    assert [s.labels for s in family.samples] == [{"device": "a"}]
    out.values(COUNTER, 2.0, "b")  # after the Samples were made: appended as a Sample
    out.add(COUNTER, {"device": "c"}, 3.0)
    assert [(s.labels["device"], s.value) for s in family.samples] == [
        ("a", 1.0),
        ("b", 2.0),
        ("c", 3.0),
    ]


def test_merged_sources_render_as_before() -> None:
    """Each source's redline_source_up rows join into one family, as merge joined Samples."""
    parts, old_parts = [], []
    for source in ("host", "logs", 'we"ird'):
        out = Families()
        out.add(m.SOURCE_UP, {"source": source}, 1.0)
        parts.extend(out.families())
        old = Family(m.SOURCE_UP.name, m.SOURCE_UP.help, "gauge")
        old.samples.append(Sample(m.SOURCE_UP.name, {"source": source}, 1.0, None, None, None))
        old_parts.append(old)
    merged = merge(parts)
    assert len(merged) == 1 and isinstance(merged[0], RowFamily) and merged[0].rows is not None
    assert text_exposition(merged) == text_exposition(merge(old_parts))


def test_a_wrong_number_of_label_values_fails_as_it_did() -> None:
    out = Families()
    try:
        out.values(FILESYSTEM, 1.0, "only-one")
    except ValueError as e:
        assert "zip()" in str(e)
    else:
        raise AssertionError("accepted one label value for three labels")


def test_numbers_are_written_as_before() -> None:
    from exporter.collector import _number

    def old(value: float) -> str:  # the renderer's _number before it read repr's text
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "+Inf" if value > 0 else "-Inf"
        return repr(float(value))

    for value in [*VALUES, True, 10**15, -0.0, 2.0**-1074, 1.7976931348623157e308]:
        assert _number(value) == old(value), value
