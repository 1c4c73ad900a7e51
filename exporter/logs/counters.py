"""The stream-fed state of the log sources: counters and histograms that only grow, kept by the
source object for the life of the process, so a config reload never resets them
(docs/architecture.md, "Naming": the one place where global counters are right, as they are fed
by streams).

Readers (threads following files, ingest requests) tally a batch of lines in a local
:class:`Tally` without any lock, then :meth:`LogState.merge` adds it under the lock in one go;
a scrape copies the state under the same lock and builds its families outside it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exporter import metrics as m

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric as Family

# Closed label sets: what a line says is mapped into these, never exposed as written.
LEVELS = ("debug", "info", "warn", "error", "fatal", "unknown")
PARSE_ERROR_REASONS = ("format", "field")
DROP_REASONS = ("too_long", "partial")
ROTATION_KINDS = ("rename", "delete", "truncate")
INGEST_CODES = ("200", "400", "401", "413", "503")
# Request series start at 0, as rate() and increase() need: a series whose first sample is 1
# (the first 5xx of a route) shows no increase, and the error it counts is lost to every
# alert and SLO. So every status class of a (service, route, method) is exported once any of
# them is seen, at 0 until counted, and a series new to the exporter is exported at 0 for its
# first ZERO_SCRAPES scrapes before its count: two, so each Prometheus of an HA pair, scraping
# in turn, reads the 0 (stack.yml replicas).
REQUEST_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
ZERO_SCRAPES = 2


@dataclass
class Tally:
    """What one batch of lines adds. Keys are label values in the order of the metric's labels."""

    lines: dict[str, int] = field(default_factory=dict)  # level -> lines
    parse_errors: dict[str, int] = field(default_factory=dict)  # reason -> lines
    patterns: dict[str, int] = field(default_factory=dict)  # pattern -> lines
    requests: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    # (service, route) -> [count per bucket (not cumulative)..., count above the last bound, sum]
    durations: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> lines
    buckets: tuple[float, ...] = ()  # the bounds ``durations`` were counted with
    newest: float | None = None  # Unix time of the newest line of the batch

    @property
    def total(self) -> int:
        return sum(self.lines.values())


class LogState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.buckets: tuple[float, ...] | None = None  # fixed when first set, see set_buckets
        self.lines: dict[tuple[str, str], float] = {}
        self.parse_errors: dict[tuple[str, str], float] = {}
        self.patterns: dict[tuple[str, str], float] = {}
        self.dropped: dict[tuple[str, str], float] = {}
        self.newest: dict[str, float] = {}
        self.bytes_read: dict[str, float] = {}
        self.file_errors: dict[str, float] = {}
        self.rotations: dict[tuple[str, str], float] = {}
        self.files: dict[str, float] = {}
        self.ingest: dict[tuple[str, str], float] = {}
        self.requests: dict[tuple[str, str, str, str], float] = {}
        self.durations: dict[tuple[str, str], list[float]] = {}
        # request series -> scrapes that have exported it (at 0) so far, up to ZERO_SCRAPES
        self._zero_scrapes: dict[tuple[str, str, str, str], int] = {}

    def set_buckets(self, buckets: tuple[float, ...]) -> bool:
        """Adopt the histogram buckets; False when they differ from the ones in use, which are
        kept (changing a histogram's buckets in place would break its counts)."""
        with self._lock:
            if self.buckets is None or not self.durations:
                self.buckets = buckets
                return True
            return self.buckets == buckets

    def declare(self, source: str, kind: str, patterns: tuple[str, ...]) -> None:
        """Start every series of a source at 0, so the first lines show as an increase."""
        with self._lock:
            for level in LEVELS:
                self.lines.setdefault((source, level), 0.0)
            for reason in PARSE_ERROR_REASONS:
                self.parse_errors.setdefault((source, reason), 0.0)
            for reason in DROP_REASONS:
                self.dropped.setdefault((source, reason), 0.0)
            for pattern in patterns:
                self.patterns.setdefault((source, pattern), 0.0)
            self.bytes_read.setdefault(source, 0.0)
            if kind == "file":
                self.file_errors.setdefault(source, 0.0)
                self.files.setdefault(source, 0.0)
                for kind_ in ROTATION_KINDS:
                    self.rotations.setdefault((source, kind_), 0.0)
            else:
                for code in INGEST_CODES:
                    self.ingest.setdefault((source, code), 0.0)

    def forget(self, sources: dict[str, str], patterns: set[str]) -> None:
        """Drop the series of sources no longer configured (or whose kind changed) and of
        patterns removed, so a removed source does not expose a frozen counter forever.
        ``sources`` maps each kept source to its kind. Request series, by service, stay."""
        with self._lock:
            for table in (self.lines, self.parse_errors, self.dropped):
                for key in [k for k in table if k[0] not in sources]:
                    del table[key]
            for key in [k for k in self.patterns if k[0] not in sources or k[1] not in patterns]:
                del self.patterns[key]
            for name in [k for k in self.newest if k not in sources]:
                del self.newest[name]
            for name in [k for k in self.bytes_read if k not in sources]:
                del self.bytes_read[name]
            files = {s for s, kind in sources.items() if kind == "file"}
            for single in (self.file_errors, self.files):
                for name in [k for k in single if k not in files]:
                    del single[name]
            for key in [k for k in self.rotations if k[0] not in files]:
                del self.rotations[key]
            for key in [k for k in self.ingest if sources.get(k[0]) != "ingest"]:
                del self.ingest[key]

    def merge(self, source: str, tally: Tally) -> None:
        with self._lock:
            lines = self.lines
            for level, n in tally.lines.items():
                key = (source, level)
                lines[key] = lines.get(key, 0.0) + n
            for reason, n in tally.parse_errors.items():
                key = (source, reason)
                self.parse_errors[key] = self.parse_errors.get(key, 0.0) + n
            for pattern, n in tally.patterns.items():
                key = (source, pattern)
                self.patterns[key] = self.patterns.get(key, 0.0) + n
            for reason, n in tally.dropped.items():
                key = (source, reason)
                self.dropped[key] = self.dropped.get(key, 0.0) + n
            requests = self.requests
            for rkey, n in tally.requests.items():
                requests[rkey] = requests.get(rkey, 0.0) + n
            # A batch counted by a pipeline built before the buckets were first set (a reload
            # racing a poll) has other bounds: its durations are left out, not mixed in.
            durations = tally.durations if tally.buckets == self.buckets else {}
            for dkey, counts in durations.items():
                have = self.durations.get(dkey)
                if have is None:
                    self.durations[dkey] = list(counts)
                else:
                    for i, count in enumerate(counts):
                        have[i] += count
            if tally.newest is not None and tally.newest > self.newest.get(source, 0.0):
                self.newest[source] = tally.newest

    def add(self, table: str, key: str | tuple[str, str], n: float = 1.0) -> None:
        """Add to one of the file/ingest counters (bytes_read, file_errors, rotations,
        dropped, ingest)."""
        with self._lock:
            counts: dict[object, float] = getattr(self, table)
            counts[key] = counts.get(key, 0.0) + n

    def set_files(self, source: str, n: int) -> None:
        with self._lock:
            self.files[source] = float(n)

    def _exported_requests(self) -> dict[tuple[str, str, str, str], float]:
        """The request counters as a scrape shows them (under the lock): every status class of
        each seen (service, route, method), and each series at 0 for its first ZERO_SCRAPES
        scrapes (REQUEST_CLASSES says why)."""
        shown = dict(self.requests)
        for service, route, method, _ in self.requests:
            for code_class in REQUEST_CLASSES:
                shown.setdefault((service, route, method, code_class), 0.0)
        zero = self._zero_scrapes
        for key in shown:
            scrapes = zero.get(key, 0)
            if scrapes < ZERO_SCRAPES:
                zero[key] = scrapes + 1
                shown[key] = 0.0
        return shown

    def families(self) -> list[Family]:
        # Imported here: the readers count without prometheus-client, whose package pulls in
        # its HTTP servers (http.server, wsgiref, ssl): 4.7 MB a process that only follows logs
        # does not need (docs/performance.md); the exporter has it loaded anyway.
        from prometheus_client.metrics_core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )
        from prometheus_client.utils import floatToGoString

        with self._lock:
            copy: dict[str, dict[Any, float]] = {
                "lines": dict(self.lines),
                "parse_errors": dict(self.parse_errors),
                "patterns": dict(self.patterns),
                "dropped": dict(self.dropped),
                "bytes_read": dict(self.bytes_read),
                "file_errors": dict(self.file_errors),
                "rotations": dict(self.rotations),
                "ingest": dict(self.ingest),
                "requests": self._exported_requests(),
            }
            newest = dict(self.newest)
            files = dict(self.files)
            durations = {k: list(v) for k, v in self.durations.items()}
            buckets = self.buckets or ()
        out: list[Family] = []
        for metric, table in (
            (m.LOG_LINES, "lines"),
            (m.LOG_PARSE_ERRORS, "parse_errors"),
            (m.LOG_PATTERN_MATCHES, "patterns"),
            (m.LOG_LINES_DROPPED, "dropped"),
            (m.LOG_READ_BYTES, "bytes_read"),
            (m.LOG_FILE_ERRORS, "file_errors"),
            (m.LOG_ROTATIONS, "rotations"),
            (m.LOG_INGEST_REQUESTS, "ingest"),
            (m.LOG_HTTP_REQUESTS, "requests"),
        ):
            values = copy[table]
            if not values:
                continue
            counter = CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
            for key, value in sorted(values.items()):
                counter.add_metric(list(key) if isinstance(key, tuple) else [key], value)
            out.append(counter)
        for metric, gauges in ((m.LOG_LAST_LINE, newest), (m.LOG_FILES, files)):
            if gauges:
                gauge = GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
                for name, value in sorted(gauges.items()):
                    gauge.add_metric([name], value)
                out.append(gauge)
        if durations:
            bounds = [floatToGoString(b) for b in buckets] + ["+Inf"]
            histogram = HistogramMetricFamily(
                m.LOG_HTTP_DURATION.name,
                m.LOG_HTTP_DURATION.help,
                labels=m.LOG_HTTP_DURATION.labels,
            )
            for key, counts in sorted(durations.items()):
                cumulative, running = [], 0.0
                for bound, n in zip(bounds, counts[:-1], strict=True):
                    running += n
                    cumulative.append((bound, running))
                histogram.add_metric(list(key), cumulative, counts[-1])
            out.append(histogram)
        return out
