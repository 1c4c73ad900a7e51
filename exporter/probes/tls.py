"""TLS helpers shared by the HTTP, JSON, MCP and TCP probes."""

from __future__ import annotations

import functools
import ssl
from types import ModuleType
from typing import Any

from exporter.config import TLSConfig

_VERSIONS = {"TLS1.2": ssl.TLSVersion.TLSv1_2, "TLS1.3": ssl.TLSVersion.TLSv1_3}


@functools.lru_cache(maxsize=256)
def ssl_context(cfg: TLSConfig) -> ssl.SSLContext:
    """One context per distinct TLS config: building one loads the CA bundle, which costs
    milliseconds, so it must not happen per probe. A bad ca_file raises OSError/SSLError, which
    the caller turns into reason ``tls``."""
    ctx = ssl.create_default_context(cafile=cfg.ca_file)
    if not cfg.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.min_version:
        ctx.minimum_version = _VERSIONS[cfg.min_version]
    return ctx


@functools.cache
def load_decoder() -> ModuleType:
    """cryptography's x509 module, imported once, when a TLS probe is configured
    (exporter/probes/__init__.py prepares it): about 8 MB of an exporter's memory that a config
    without TLS does not need."""
    from cryptography import x509

    return x509


def peer_cert_expiry(ssl_object: Any) -> float | None:
    """Expiry (Unix seconds) of the peer's leaf certificate, also when verification is off
    (``getpeercert()`` is empty then, so the DER form is decoded). Python 3.11 exposes only the
    leaf, not the chain."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        cert = load_decoder().load_der_x509_certificate(der)
    except ValueError:
        return None
    return cert.not_valid_after_utc.timestamp()


def tls_version(ssl_object: Any) -> str | None:
    return ssl_object.version() if ssl_object is not None else None


def describe_ssl_error(err: BaseException) -> str:
    """A short operator-facing text for a handshake failure."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {err.verify_message}"
    reason = getattr(err, "reason", None)
    return f"TLS handshake failed: {reason or err}"
