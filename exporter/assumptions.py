"""Facts nobody has confirmed: a config's ``assumptions`` list.

A value written in the operator's file because it is what the service is believed to do (a
version pin, a route, a log field, a status feed's URL, a placeholder host) is marked by one
entry naming it by path (exporter/configpath.py), saying what is assumed and what to look at to
confirm it. ``redline check`` lists them under "to confirm" with the value as it stands.

Entries name a value of the config itself, validated at load (a path to nothing is an error with
the file, line and path), or, with ``file``, a value of another file of the stack (relative to
the config's directory, e.g. ``../alert_rules/routing.yml``), validated by ``redline check``:
the exporter host need not carry the alert rules.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import field_validator

from exporter import configpath
from exporter.configtypes import Model

# A value under a key like these is never printed: it may hold a credential.
_SECRET_KEY = re.compile(r"token|auth|key|secret|password|cookie", re.IGNORECASE)
MAX_SHOWN = 100  # characters of a value shown by `redline check`


class Assumption(Model):
    path: str  # by names: services[agent-service].probes[health].expect_json[2]
    note: str  # what is assumed
    confirm: str  # what to look at to confirm it (a command, a page, a person)
    file: str | None = None  # another file, relative to the config's directory

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        configpath.parse(value)  # PathError is a ValueError: reported with the entry's path
        return value

    @field_validator("note", "confirm")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("say what is assumed (note) and what to look at (confirm)")
        return " ".join(value.split())

    @field_validator("file")
    @classmethod
    def _relative(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or os.path.isabs(value)):
            raise ValueError("a path relative to the config's directory")
        return value


def unresolved(raw: dict[str, Any]) -> list[tuple[int, str]]:
    """(index, message) of each entry of the config's own values whose path names nothing in
    ``raw`` (the file's data as written, before defaults). Malformed entries are left to the
    model's validation."""
    entries = raw.get("assumptions")
    out: list[tuple[int, str]] = []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or entry.get("file") is not None:
            continue
        path = entry.get("path")
        if not isinstance(path, str):
            continue
        try:
            configpath.resolve(raw, path)
        except configpath.PathError as e:
            out.append((i, f"names nothing in this file: {e}"))
    return out


@dataclass(frozen=True)
class Listed:
    """One assumption as `redline check` prints it."""

    where: str  # FILE:LINE of the value
    path: str
    value: str  # the value as it stands, shortened; '' when not shown
    note: str
    confirm: str


def shown(value: Any, key: str | int | None) -> str:
    if isinstance(key, str) and _SECRET_KEY.search(key):
        return "(not shown: it may be a credential)"
    if isinstance(value, str):
        text = "'" + " ".join(value.split()) + "'"  # as written, on one line
    else:
        text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def display_path(base: Path, file: str) -> str:
    """``file`` (relative to the directory ``base``) as the user reaches it from here."""
    return os.path.normpath(os.path.join(base, file))


# A reader of a stack file: its data and the line of a place in it (exporter/config.py's
# read_yaml, passed in by the caller so this module needs nothing of the config loader).
Reader = Callable[[str], tuple[Any, Callable[[configpath.Place], int | None]]]


def listing(
    entries: tuple[Assumption, ...], name: str, read: Reader
) -> tuple[list[Listed], list[tuple[int, str, str]]]:
    """Every entry with the value it names (the config ``name``'s own, or its ``file``'s), and
    (index, key, message) of each entry whose file cannot be read (key ``file``) or whose path
    names nothing (key ``path``)."""
    base = Path(os.path.dirname(name))
    listed: list[Listed] = []
    problems: list[tuple[int, str, str]] = []
    cache: dict[str, tuple[Any, Callable[[configpath.Place], int | None]]] = {}
    for i, entry in enumerate(entries):
        target = name if entry.file is None else display_path(base, entry.file)
        try:
            if target not in cache:
                cache[target] = read(target)
            data, line = cache[target]
            places = configpath.resolve(data, entry.path)
        except configpath.PathError as e:
            problems.append((i, "path", f"names nothing in {target}: {e}"))
            continue
        except ValueError as e:  # the reader's error: file missing, unreadable, not YAML
            problems.append((i, "file", f"{target}: {e}"))
            continue
        for place in places:
            at = line(place)
            listed.append(
                Listed(
                    where=f"{target}:{at}" if at else target,
                    path=configpath.show(data, place),
                    value=shown(configpath.get(data, place), place[-1] if place else None),
                    note=entry.note,
                    confirm=entry.confirm,
                )
            )
    return listed, problems
