"""Paths into a config file by names, as a person reads them:
``services[agent-service].probes[health].expect_json[2]``.

A path is a chain of steps over the file's plain data (what the YAML says, before any default is
applied):

- ``.key`` (or a leading ``key``): a key of a mapping; ``[key]`` too, for keys with other
  characters (``headers[X-Shopify-Access-Token]``);
- ``[name]``: the item of a list whose ``name`` is ``name`` (services, probes, feeds, ...);
- ``[2]``: the third item of a list (for lists without names: ``expect_json``, ``paths``);
- ``[*]``: every item of a list, or every value of a mapping.

Used by the ``assumptions`` of a config (exporter/config.py), which must each name a value, and
by the demo config's generator (exporter/rules/demo_config.py), whose edits must each match.
Nothing here changes data: :func:`resolve` returns the concrete places a path names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Place = tuple[str | int, ...]  # a concrete place: mapping keys and list indexes

_KEY = r"[A-Za-z0-9_][\w-]*"
_STEP = re.compile(rf"\.({_KEY})|\[([^\[\]]+)\]")
_FIRST = re.compile(rf"({_KEY})|\[([^\[\]]+)\]")


class PathError(ValueError):
    """A path that cannot be parsed, or that names nothing in the data."""


@dataclass(frozen=True)
class Step:
    text: str  # as written
    bracket: bool  # [text] rather than .text

    def __str__(self) -> str:
        return f"[{self.text}]" if self.bracket else f".{self.text}"


def parse(path: str) -> tuple[Step, ...]:
    """The steps of ``path``; PathError saying where it stops making sense."""
    if not isinstance(path, str) or not path.strip():
        raise PathError("a path such as services[agent-service].probes[health].url")
    steps: list[Step] = []
    pos = 0
    pattern = _FIRST
    while pos < len(path):
        match = pattern.match(path, pos)
        if match is None:
            raise PathError(f"{path!r}: cannot read {path[pos:]!r} (steps are .key, [name], [n])")
        key, inside = match.groups()
        steps.append(Step(key if key is not None else inside.strip(), key is None))
        pos = match.end()
        pattern = _STEP
    return tuple(steps)


def show(data: Any, place: Place) -> str:
    """A concrete place as a path by names, e.g. ``services[chatwoot].probes[api].url``: list
    items that have a ``name`` are shown by it, others by their index."""
    out = ""
    node = data
    for seg in place:
        if isinstance(seg, int):
            item = node[seg] if isinstance(node, list) and seg < len(node) else None
            name = item.get("name") if isinstance(item, dict) else None
            out += f"[{name}]" if isinstance(name, str) else f"[{seg}]"
            node = item
        else:
            plain = re.fullmatch(_KEY, seg) is not None
            out += (f".{seg}" if out else seg) if plain else f"[{seg}]"
            node = node.get(seg) if isinstance(node, dict) else None
    return out


def _names(items: list[Any]) -> str:
    names = [i["name"] for i in items if isinstance(i, dict) and isinstance(i.get("name"), str)]
    return ", ".join(names) if names else f"{len(items)} unnamed item(s)"


def _step(node: Any, step: Step, here: str) -> Iterator[tuple[str | int, Any]]:
    """The (key or index, value) pairs ``step`` selects in ``node``; PathError if none."""
    text = step.text
    if isinstance(node, dict):
        if text == "*" and step.bracket:
            yield from node.items()
            return
        if text in node:
            yield text, node[text]
            return
        keys = ", ".join(str(k) for k in node) or "nothing"
        raise PathError(f"{here or 'the top'} has no key {text!r} (it has {keys})")
    if isinstance(node, list):
        if not step.bracket:
            raise PathError(f"{here} is a list: select an item with [name] or [n], not .{text}")
        if text == "*":
            yield from enumerate(node)
            return
        if re.fullmatch(r"\d+", text):
            index = int(text)
            if index >= len(node):
                raise PathError(f"{here} has {len(node)} item(s): no [{index}]")
            yield index, node[index]
            return
        found = [
            (i, v) for i, v in enumerate(node) if isinstance(v, dict) and v.get("name") == text
        ]
        if not found:
            raise PathError(f"{here} has no item named {text!r} (it has {_names(node)})")
        yield from found
        return
    raise PathError(f"{here} is a single value ({node!r}): nothing below it")


def resolve(data: Any, path: str) -> list[Place]:
    """Every concrete place ``path`` names in ``data`` (several only through ``[*]``).
    PathError naming the first step that matches nothing."""
    steps = parse(path)
    frontier: list[Place] = [()]
    for i, step in enumerate(steps):
        nxt: list[Place] = []
        errors: list[str] = []
        for place in frontier:
            node = get(data, place)
            here = show(data, place)
            try:
                nxt.extend((*place, key) for key, _ in _step(node, step, here))
            except PathError as e:
                # under [*], an item without the step is skipped; the path must still name
                # something somewhere
                if any(s.text == "*" and s.bracket for s in steps[:i]):
                    errors.append(str(e))
                    continue
                raise PathError(f"{path}: {e}") from None
        if not nxt:
            raise PathError(f"{path}: {errors[0] if errors else 'names nothing'}")
        frontier = nxt
    return frontier


def get(data: Any, place: Place) -> Any:
    node = data
    for seg in place:
        node = node[seg]
    return node
