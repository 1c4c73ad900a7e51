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


def test_own_metrics_read_from_their_values_as_collect_gives_them() -> None:
    """registry_text against prometheus-client's collect(), on every kind the exporter's own
    registry has (and the process, platform and function-gauge collectors it collects)."""
    from prometheus_client import (
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        PlatformCollector,
    )

    from exporter import selfmetrics
    from exporter.collector import registry_text

    registry = CollectorRegistry(auto_describe=True)
    PlatformCollector(registry=registry)
    runs = Counter("t_runs_total", "Runs.", ("service", "probe"), registry=registry)
    plain = Counter("t_plain", "Plain, named without _total.", registry=registry)
    gauge = Gauge(
        "t_gauge", 'Help with "quotes" and \\ and\nnewline.', ("area",), registry=registry
    )
    single = Gauge("t_single", "Single.", registry=registry)
    Gauge("t_function", "A function.", registry=registry).set_function(lambda: 4.5)
    bounds = (0.01, 0.5, 25)
    hist = Histogram("t_seconds", "Hist.", ("endpoint",), buckets=bounds, registry=registry)
    negative = Histogram("t_negative", "From below zero.", buckets=(-1, 0, 1), registry=registry)
    Gauge("t_empty", "No child yet.", ("x",), registry=registry)

    def same() -> None:
        assert registry_text(registry) == text_exposition(registry.collect())

    same()
    runs.labels("shop", 'a"b').inc()
    runs.labels("shop", "c\\d").inc(2.5)
    plain.inc()
    gauge.labels("probes").set(1000)
    gauge.labels("ünï\ncode").set(math.nan)
    single.set(-math.inf)
    for value in (0.001, 0.2, 3, 100, math.inf):
        hist.labels("metrics").observe(value)
    hist.labels("probe").observe(0.02)
    negative.observe(-3)
    same()
    gauge.clear()
    same()
    selfmetrics.SCRAPE_DURATION.labels("metrics").observe(0.004)
    own = selfmetrics.REGISTRY

    def steady(text: str) -> str:  # the process's own CPU and memory move between two reads
        return "".join(line for line in text.splitlines(True) if not line.startswith("process_"))

    assert steady(registry_text(own)) == steady(text_exposition(own.collect()))


def test_own_process_metrics_are_prometheus_clients() -> None:
    """The exporter's process collector reads kept file descriptors: the same families, HELP,
    types and (for what does not move between two reads) values as prometheus-client's."""
    from prometheus_client import ProcessCollector

    from exporter.selfmetrics import _ProcessCollector

    mine = list(_ProcessCollector(registry=None).collect())
    theirs = list(ProcessCollector(registry=None).collect())
    assert [(f.name, f.documentation, f.type) for f in mine] == [
        (f.name, f.documentation, f.type) for f in theirs
    ]
    values = {f.name: f.samples[0].value for f in mine}
    for family in theirs:
        (sample,) = family.samples
        if family.name in ("process_start_time_seconds", "process_max_fds"):
            assert values[family.name] == sample.value, family.name
        else:  # CPU, memory and fds move a little between the two reads
            assert abs(values[family.name] - sample.value) <= max(0.05 * sample.value, 2)


def test_process_readings_render_as_their_families() -> None:
    from exporter.collector import _readings_text
    from exporter.selfmetrics import _ProcessCollector

    collector = _ProcessCollector(registry=None)
    fixed = collector.readings()
    assert fixed is not None and len(fixed) == 6
    collector.readings = lambda: fixed  # type: ignore[method-assign]  # one reading for both
    assert _readings_text(collector) == text_exposition(collector.collect())
