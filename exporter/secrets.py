"""Secrets: ``${ENV_VAR}`` references and ``*_file`` keys, resolved at probe time.

Config values that may carry a secret (URLs, header values, bodies, passwords, tokens) are kept
as written, with their ``${NAME}`` references unresolved, so a secret never sits in a config
model, a generated file or an error. A probe resolves them when it runs: a missing variable or
file fails that probe only (reason ``secret``), and ``redline check`` names it.

Every resolved value is given to the :class:`Redactor`, which scrubs it from any text redline
shows (errors, logs, traces) as a second line of defence.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_REF = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BAD_REF = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*\})")
REDACTED = "<redacted>"
TRUNCATED = "..."  # how redline's messages mark a value cut short


class MissingSecret(Exception):
    """A referenced environment variable or secret file is not available."""


@dataclass(frozen=True)
class FileSecret:
    """A secret read from a file (``password_file``, ``bearer_token_file``, ...). Trailing
    newlines are stripped, as Docker and Kubernetes secret files usually end with one."""

    path: str


def check_template(text: str) -> str:
    """Validate ``${NAME}`` syntax at config load; return the text unchanged."""
    bad = _BAD_REF.search(text)
    if bad:
        raise ValueError(
            f"malformed reference at character {bad.start() + 1}: write ${{NAME}} with a "
            "variable name of letters, digits and underscores (or $$ for a literal $)"
        )
    return text


def references(value: str | FileSecret | None) -> list[str]:
    """The environment variables or files a value needs, as shown to operators."""
    if value is None:
        return []
    if isinstance(value, FileSecret):
        return [f"file {value.path}"]
    return [f"environment variable {name}" for name in _REF.findall(value) if name]


# An Authorization header's credential echoed back by a target (debugging endpoints do):
# redacted whatever it is, even when no secret is known yet. 6+ token characters: a challenge
# such as `Bearer realm="x"` is left alone.
_AUTH_VALUE = re.compile(r"(?i)\b(basic|bearer|token)(\s+)([A-Za-z0-9._~+/-]{6,}=*)")
# The password of a URL's userinfo (http://alice:pw@host/, postgresql://u:p@db/): only in the
# authority part, so a path or query holding ':' and '@' is left alone.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/@\s:]*:)([^/@\s]+)(@)")
# Where a quoted value is cut: a secret's start just before one of these is a fragment of it.
_CUTS = (TRUNCATED, '"', "'")


class Redactor:
    """Remembers every secret value resolved so far and removes them from text: the values
    themselves, any run of ``FRAGMENT`` or more of their characters (a target that echoes only
    the first characters of a token), their start just before a cut or a closing quote, echoed
    ``Authorization`` credentials, and the password of any URL's userinfo. Every place that
    shows what a target answered (/status, /status.json, ``redline probe``, traces, log lines,
    post-mortems) goes through :meth:`redact`."""

    MIN_LEN = 4  # shorter values would scrub ordinary words and digits
    FRAGMENT = 8  # a run this long of a secret's characters is redacted wherever it is

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._grams: frozenset[str] = frozenset()  # every FRAGMENT-long run of every value
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) >= self.MIN_LEN and value not in self._values:
            size = self.FRAGMENT
            with self._lock:
                self._values.add(value)
                self._grams = self._grams | {
                    value[i : i + size] for i in range(len(value) - size + 1)
                }

    def redact(self, text: str) -> str:
        if not text:
            return text
        if self._values:
            # longest first, so a secret that contains another is removed whole
            values = sorted(self._values, key=len, reverse=True)
            for value in values:
                if value in text:
                    text = text.replace(value, REDACTED)
            text = _redact_fragments(text, self._grams, self.FRAGMENT)
            if any(cut in text for cut in _CUTS):
                for value in values:
                    text = _redact_cut(text, value)
        text = _AUTH_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)


def _redact_fragments(text: str, grams: frozenset[str], size: int) -> str:
    """Replace every run of ``size`` or more characters that also occurs in a secret: one set
    lookup per position of the text, however many secrets there are."""
    if not grams or len(text) < size:
        return text
    spans: list[list[int]] = []
    for i in range(len(text) - size + 1):
        if text[i : i + size] in grams:
            if spans and i <= spans[-1][1]:
                spans[-1][1] = i + size
            else:
                spans.append([i, i + size])
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out += [text[pos:start], REDACTED]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _redact_cut(text: str, value: str) -> str:
    """A secret's start (4 characters or more) just before a cut ("...") or a closing quote."""
    pattern = re.compile("|".join(re.escape(c) for c in _CUTS))
    out: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        end = match.start()
        if end < start:
            continue
        piece = text[start:end]
        last = piece[-1:]
        for length in range(min(len(value) - 1, len(piece)), Redactor.MIN_LEN - 1, -1):
            # the cheap test first: values can be long (a private key), messages are many
            if value[length - 1] == last and piece.endswith(value[:length]):
                piece = piece[:-length] + REDACTED
                break
        out.append(piece + match.group())
        start = match.end()
    out.append(text[start:])
    return "".join(out)


class SecretSource:
    """Resolves templated config values against the environment and secret files."""

    def __init__(self, redactor: Redactor, env: Mapping[str, str] | None = None) -> None:
        self.redactor = redactor
        self._env = env if env is not None else os.environ

    def resolve(self, value: str | FileSecret | None) -> str:
        if value is None:
            return ""
        if isinstance(value, FileSecret):
            try:
                with open(value.path, encoding="utf-8") as f:
                    secret = f.read().rstrip("\r\n")
            except OSError as e:
                raise MissingSecret(
                    f"secret file {value.path} cannot be read: {e.strerror}"
                ) from None
            except UnicodeDecodeError:
                raise MissingSecret(f"secret file {value.path} is not UTF-8 text") from None
            self.redactor.add(secret)
            return secret
        if "$" not in value:
            return value  # no reference to resolve: most values, resolved at every probe run

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:
                return "$"
            if name not in self._env:
                raise MissingSecret(f"environment variable {name} is not set")
            secret = self._env[name]
            self.redactor.add(secret)
            return secret

        return _REF.sub(sub, value)

    def missing(self, values: Iterable[str | FileSecret | None]) -> list[str]:
        """Names of the variables/files among ``values`` that cannot be resolved now."""
        out: list[str] = []
        for value in values:
            if value is None:
                continue
            if isinstance(value, FileSecret):
                if not os.access(value.path, os.R_OK):
                    out.append(f"file {value.path}")
                continue
            for name in _REF.findall(value):
                if name and name not in self._env:
                    out.append(f"environment variable {name}")
        return out
