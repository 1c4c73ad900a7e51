"""The probe registry: config ``kind`` -> the module holding its ``probe`` function. Explicit,
so a reader sees every probe kind in one place; each lives in its own file behind the signature
in probes/base.py.

A kind's module is imported when a config that uses it is loaded (:func:`prepare`, at start and
at every reload), not when redline starts: an exporter without DNS probes never loads dnspython,
one without TLS never loads cryptography (which decodes peer certificates). Importing at config
time, not at the first probe, keeps the import out of every probe's measured duration.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.probes.base import ProbeFn

PROBES: dict[str, str] = {
    "http": "exporter.probes.http",
    "json": "exporter.probes.json_metrics",
    "tcp": "exporter.probes.tcp",
    "dns": "exporter.probes.dns",
    "mcp": "exporter.probes.mcp",
}

_loaded: dict[str, ProbeFn] = {}


def probe_function(kind: str) -> ProbeFn:
    """The probe function of ``kind`` (a key of :data:`PROBES`), imported on first use."""
    fn = _loaded.get(kind)
    if fn is None:
        fn = _loaded[kind] = import_module(PROBES[kind]).probe
    return fn


def uses_tls(probe: Any) -> bool:
    """Whether ``probe`` may read a peer certificate: an https URL, or a TCP probe with a TLS
    handshake."""
    url = getattr(probe, "url", None)
    return (isinstance(url, str) and url.lower().startswith("https:")) or getattr(
        probe, "tls", None
    ) is True


def prepare(config: Config) -> None:
    """Import what the configured probes need before any of them runs: their kinds' modules,
    and the certificate decoder when one of them speaks TLS."""
    probes = [probe for _, probe in config.targets().values()]
    for kind in sorted({p.kind for p in probes}):
        probe_function(kind)
    if any(uses_tls(p) for p in probes):
        from exporter.probes import tls

        tls.load_decoder()
