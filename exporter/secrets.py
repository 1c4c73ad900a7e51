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


class Redactor:
    """Remembers every secret value resolved so far and removes them from text."""

    MIN_LEN = 4  # shorter values would scrub ordinary words and digits

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        if len(value) >= self.MIN_LEN:
            with self._lock:
                self._values.add(value)

    def redact(self, text: str) -> str:
        if not text or not self._values:
            return text
        # longest first, so a secret that contains another is removed whole
        values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, REDACTED)
        if TRUNCATED in text:
            # Messages quote what a target sent cut short ("found \"abc..."), and the cut can
            # fall inside a secret: the start of a secret just before "..." is removed too.
            for value in values:
                text = _redact_cut(text, value)
        return text


def _redact_cut(text: str, value: str) -> str:
    out: list[str] = []
    start = 0
    while (end := text.find(TRUNCATED, start)) != -1:
        piece = text[start:end]
        last = piece[-1:]
        for length in range(min(len(value) - 1, len(piece)), Redactor.MIN_LEN - 1, -1):
            # the cheap test first: values can be long (a private key), messages are many
            if value[length - 1] == last and piece.endswith(value[:length]):
                piece = piece[:-length] + REDACTED
                break
        out.append(piece + TRUNCATED)
        start = end + len(TRUNCATED)
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
