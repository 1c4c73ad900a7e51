"""Sharded exporters: ``redline run --shard=I/N`` keeps the I-th of N shares of the services.

Every shard reads the same config file. A service belongs to shard
``1 + (first 8 bytes of sha256(service name), big-endian) mod N``: stable across restarts,
machines and Python versions (never ``hash()``, which is salted per process), and a service's
probes stay together, so RedlineExporterDown of one shard inhibits exactly the alerts of the
services it measures. Adding a service moves no other; changing N reshuffles, which is fine for
probes (they keep no state between scrapes).

The sources that are not per machine (databases, logs and their ingest endpoint, vendors,
backups, heartbeats and their ping endpoint, the launch window) run on shard 1 only, so no
series is served twice; ``host`` runs on every shard, as it measures the machine that shard
runs on. alert_rules/stack.yml lists each shard's address with ``shard: I/N``; the generated
scrape config labels it ``shard="I/N"`` and the exporter says which share it serves in
``redline_shard_info{running="I/N"}``: the two differ when an exporter was started with another
--shard than stack.yml gives it (tests/test_shards.py checks that they agree).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from exporter.backups.config import BackupsConfig
from exporter.config import Config
from exporter.heartbeats.config import HeartbeatsConfig
from exporter.logs.config import LogsConfig
from exporter.vendors.config import VendorsConfig

_SHARD = re.compile(r"^([1-9][0-9]*)/([1-9][0-9]*)$")
# Sources that measure the machine the exporter runs on: every shard runs them.
PER_MACHINE = frozenset({"host"})


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not I/N (e.g. 1/2: the first of two shards)")
        index, count = int(match.group(1)), int(match.group(2))
        if index > count:
            raise ValueError(f"{text!r}: shard {index} of {count} does not exist")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def first(self) -> bool:
        return self.index == 1

    def owns(self, service: str) -> bool:
        return of(service, self.count) == self.index

    def runs_source(self, name: str) -> bool:
        return self.first or name in PER_MACHINE

    def apply(self, config: Config) -> Config:
        """``config`` with this shard's services only, and without the areas shard 1 serves
        (on the other shards)."""
        update: dict[str, object] = {
            "services": tuple(s for s in config.services if self.owns(s.name))
        }
        if not self.first:
            update |= {
                "databases": (),
                "logs": LogsConfig(),
                "vendors": VendorsConfig(),
                "backups": BackupsConfig(),
                "heartbeats": HeartbeatsConfig(),
            }
        return config.model_copy(update=update)


UNSHARDED = Shard(1, 1)


def of(service: str, count: int) -> int:
    """The shard (1..count) that serves ``service``."""
    digest = hashlib.sha256(service.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count
