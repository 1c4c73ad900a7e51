"""The web configuration file (``redline run --web.config.file FILE``), in the format of the
Prometheus exporter-toolkit, so the file written for node_exporter or blackbox_exporter works
here too::

    tls_server_config:
      cert_file: redline.crt          # relative paths are relative to this file's directory
      key_file: redline.key
      min_version: TLS12              # TLS12 (default) or TLS13
      max_version: TLS13              # optional
      client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
      client_ca_file: clients-ca.crt  # needed by the two verifying types
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}
    basic_auth_users:
      prometheus: $2b$12$...          # bcrypt hash (htpasswd -nBC 12 "" | tr -d ':')

It is read once, at start (a change needs a restart). Every error names the file, the key and
the line, like the main config's, and the TLS files are loaded at once so a wrong path or a key
that does not match its certificate stops the start rather than the first handshake.

Toolkit keys redline does not implement (``cipher_suites``, ``client_allowed_sans``, ...) are
refused with a message saying so: a security setting silently ignored would be worse than none.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ValidationError, field_validator, model_validator

from exporter.config import (
    ConfigError,
    ConfigIssue,
    _issues,
    _Lines,
    read_config_file,
    read_yaml,
)
from exporter.configtypes import Model

# $2a$, $2b$ or $2y$ (htpasswd, Go's bcrypt, Python's), a cost of 4-31, 22 characters of salt
# and 31 of hash in bcrypt's base64 alphabet.
_BCRYPT = re.compile(r"^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$")

# Keys of the exporter-toolkit format that redline does not implement.
_UNSUPPORTED_TLS = {
    "cert": "inline certificates are not supported: use cert_file",
    "key": "inline keys are not supported: use key_file",
    "client_ca": "an inline client CA is not supported: use client_ca_file",
    "cipher_suites": "cipher_suites is not supported: Python's TLS defaults are used",
    "curve_preferences": "curve_preferences is not supported",
    "prefer_server_cipher_suites": "prefer_server_cipher_suites is not supported",
    "client_allowed_sans": "client_allowed_sans is not supported",
}
_CLIENT_AUTH_UNSUPPORTED = ("RequestClientCert", "RequireAnyClientCert")
# The response headers the exporter-toolkit lets a web config set.
_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
)
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


def _bcrypt_hash(value: Any) -> str:
    if not isinstance(value, str) or not _BCRYPT.match(value):
        # never echo the value: a password pasted in place of its hash must not reach a log
        raise ValueError(
            "expected a bcrypt hash ($2b$, $2a$ or $2y$, cost 04-31), e.g. from "
            "htpasswd -nBC 12 '' | tr -d ':' or python -c \"import bcrypt; "
            "print(bcrypt.hashpw(b'PASSWORD', bcrypt.gensalt()).decode())\""
        )
    return value


BcryptHash = Annotated[str, BeforeValidator(_bcrypt_hash)]
TLSVersionName = Literal["TLS12", "TLS13"]


class TLSServerConfig(Model):
    cert_file: str
    key_file: str
    min_version: TLSVersionName = "TLS12"
    max_version: TLSVersionName | None = None
    client_auth_type: Literal[
        "NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"
    ] = "NoClientCert"
    client_ca_file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, why in _UNSUPPORTED_TLS.items():
                if key in data:
                    raise ValueError(f"{key}: {why} by redline")
            if data.get("client_auth_type") in _CLIENT_AUTH_UNSUPPORTED:
                raise ValueError(
                    f"client_auth_type {data['client_auth_type']}: a client certificate that "
                    "is not verified is not supported (Python's TLS cannot ask for one without "
                    "verifying it); use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                )
            for key in ("min_version", "max_version"):
                if data.get(key) in ("TLS10", "TLS11"):
                    raise ValueError(f"{key}: TLS 1.0 and 1.1 are not allowed; use TLS12 or TLS13")
        return data

    @field_validator("cert_file", "key_file", "client_ca_file")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expected a file path")
        return value

    @model_validator(mode="after")
    def _check(self) -> TLSServerConfig:
        verifying = self.client_auth_type != "NoClientCert"
        if verifying and self.client_ca_file is None:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if not verifying and self.client_ca_file is not None:
            raise ValueError(
                "client_ca_file is set but client_auth_type is NoClientCert: set "
                "client_auth_type to RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
            )
        if self.max_version == "TLS12" and self.min_version == "TLS13":
            raise ValueError("max_version TLS12 is below min_version TLS13")
        return self


class HTTPServerConfig(Model):
    # redline serves HTTP/1.1 only: the key is accepted (the toolkit's files carry it) and ignored.
    http2: bool = True
    headers: dict[str, str] = {}

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if name not in _HEADERS:
                raise ValueError(f"header {name!r} cannot be set; allowed: {', '.join(_HEADERS)}")
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name}: a value cannot hold a line break")
        return headers


class WebConfig(Model):
    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    # user name -> bcrypt hash of the password
    basic_auth_users: dict[str, BcryptHash] = {}

    @field_validator("basic_auth_users")
    @classmethod
    def _users(cls, users: dict[str, str]) -> dict[str, str]:
        for name in users:
            if not name or ":" in name:
                raise ValueError(
                    f"user name {name!r}: a basic auth user name is not empty and has no ':'"
                )
        return users


@dataclass
class LoadedWebConfig:
    """A validated web config with its TLS files loaded."""

    name: str
    config: WebConfig
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash


def parse_web_config(text: str, file: str) -> WebConfig:
    """Parse and validate the text of a web config; raise ConfigError listing every problem."""
    return _parse(text, file)[0]


def _parse(text: str, file: str) -> tuple[WebConfig, _Lines]:
    raw, lines = read_yaml(text, file)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        line = lines.find(()) or 1
        raise ConfigError([ConfigIssue(file, "", line, "the web config must be a mapping")])
    try:
        return WebConfig.model_validate(raw), lines
    except ValidationError as e:
        raise ConfigError(_issues(e, lines, file)) from None


def load_web_config(path: str | Path) -> LoadedWebConfig:
    """Read, validate and load ``path`` (certificates and keys included); raise ConfigError."""
    name = str(path)
    text = read_config_file(path)
    config, lines = _parse(text, name)  # lines: for errors found when loading the files
    loaded = LoadedWebConfig(
        name=name,
        config=config,
        users={user: h.encode("ascii") for user, h in config.basic_auth_users.items()},
    )
    if config.tls_server_config is not None:
        base = Path(path).resolve().parent
        loaded.ssl_context = _ssl_context(config.tls_server_config, base, name, lines)
    return loaded


def _ssl_context(tls: TLSServerConfig, base: Path, file: str, lines: _Lines) -> ssl.SSLContext:
    def issue(key: str, message: str) -> ConfigError:
        at = ("tls_server_config", key)
        return ConfigError([ConfigIssue(file, ".".join(at), lines.find(at), message)])

    def resolve(key: str, value: str) -> str:
        path = (base / value) if not Path(value).is_absolute() else Path(value)
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as e:
            raise issue(key, f"cannot read {path}: {e.strerror}") from None
        return str(path)

    cert = resolve("cert_file", tls.cert_file)
    key = resolve("key_file", tls.key_file)
    # create_default_context(CLIENT_AUTH) is a server context with Python's safe defaults
    # (no compression, no renegotiation, single-use DH keys).
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version is not None:
        context.maximum_version = _TLS_VERSIONS[tls.max_version]
    try:
        # the password callback stops OpenSSL from prompting on the terminal for an encrypted key
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as e:
        raise issue(
            "key_file",
            f"the certificate {cert} and key {key} cannot be used together "
            f"({e.reason or e.strerror}): is each PEM, the key unencrypted and the pair matching?",
        ) from None
    if tls.client_auth_type != "NoClientCert":
        assert tls.client_ca_file is not None  # the model checks it
        ca = resolve("client_ca_file", tls.client_ca_file)
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError as e:
            raise issue(
                "client_ca_file", f"{ca} holds no usable PEM certificate ({e.reason})"
            ) from None
        context.verify_mode = (
            ssl.CERT_REQUIRED
            if tls.client_auth_type == "RequireAndVerifyClientCert"
            else ssl.CERT_OPTIONAL
        )
    return context
