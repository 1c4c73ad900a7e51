"""JSON assertions: ``status == "ok"``, ``checks.database.status == "ok"``,
``version == "1.4.2"``, ``metrics.query_support.avgLatencyMs < 500``, ``tools exists``.

Grammar (parsed once, at config load, so a typo is a config error with its line):

    assertion := path op literal | path "exists" | path "missing"
    path      := segment ("." segment | "[" index "]" | "[" json-string "]")*
    op        := == | != | < | <= | > | >= | in | =~
    literal   := a JSON value (strings in double quotes); for =~ a JSON string holding a regex

Evaluation never raises: it returns ``None`` when the assertion holds, else a message saying
what was found, which names only the path and the (truncated) value found at it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

OPS = ("==", "!=", "<=", ">=", "<", ">", "=~", "in")
_PATH_TOKEN = re.compile(r'\.?([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')
_MISSING = object()


@dataclass(frozen=True)
class Assertion:
    text: str
    path: tuple[str | int, ...]
    op: str  # one of OPS, or "exists" / "missing"
    value: Any = None
    pattern: re.Pattern[str] | None = None

    def __str__(self) -> str:
        return self.text


def parse_path(text: str) -> tuple[str | int, ...]:
    text = text.strip()
    if not text:
        raise ValueError("empty path")
    out: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _PATH_TOKEN.match(text, pos)
        if not match or (pos == 0 and text[0] == "."):
            raise ValueError(f"bad path {text!r} at character {pos + 1}")
        name, index, quoted = match.groups()
        if name is not None:
            out.append(name)
        elif index is not None:
            out.append(int(index))
        else:
            out.append(json.loads(quoted))
        pos = match.end()
    return tuple(out)


def parse(text: str) -> Assertion:
    if not isinstance(text, str):
        raise ValueError("an assertion is a string such as 'status == \"ok\"'")
    stripped = text.strip()
    for word in ("exists", "missing"):
        if stripped.endswith(" " + word):
            return Assertion(text, parse_path(stripped[: -len(word)]), word)
    # find the first operator outside the path (paths contain no spaces or operator chars)
    match = re.match(r"^(\S+?)\s*(==|!=|<=|>=|=~|<|>|\s+in\s+)\s*(.+)$", stripped)
    if not match:
        raise ValueError(
            f"cannot read assertion {text!r}: expected PATH OP VALUE (OP one of "
            f"{', '.join(OPS)}) or PATH exists / PATH missing"
        )
    path_text, op, literal_text = match.group(1), match.group(2).strip(), match.group(3)
    path = parse_path(path_text)
    try:
        value = json.loads(literal_text)
    except RecursionError:
        raise ValueError(f"in assertion {text[:40]!r}...: the value is nested too deeply") from None
    except json.JSONDecodeError:
        raise ValueError(
            f"in assertion {text!r}: {literal_text!r} is not a JSON value "
            '(strings need double quotes: status == "ok")'
        ) from None
    pattern = None
    if op in ("<", "<=", ">", ">=") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise ValueError(f"in assertion {text!r}: {op} needs a number on the right")
    if op == "in" and not isinstance(value, list):
        raise ValueError(f'in assertion {text!r}: "in" needs a JSON list on the right')
    if op == "=~":
        if not isinstance(value, str):
            raise ValueError(f"in assertion {text!r}: =~ needs a regex in a JSON string")
        try:
            pattern = re.compile(value)
        except re.error as e:
            raise ValueError(f"in assertion {text!r}: bad regex: {e}") from None
    return Assertion(text, path, op, value, pattern)


def lookup(doc: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path``, or the module's ``_MISSING`` sentinel."""
    cur = doc
    for seg in path:
        if isinstance(seg, int):
            if not isinstance(cur, list) or seg >= len(cur):
                return _MISSING
            cur = cur[seg]
        else:
            if not isinstance(cur, dict) or seg not in cur:
                return _MISSING
            cur = cur[seg]
    return cur


def is_missing(value: Any) -> bool:
    return value is _MISSING


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(a: Any, b: Any) -> bool:
    # JSON keeps true and 1 apart; Python's == does not.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    return bool(a == b)


def evaluate(assertion: Assertion, doc: Any) -> str | None:
    """None if the assertion holds, else why not."""
    found = lookup(doc, assertion.path)
    op = assertion.op
    if op == "exists":
        return None if found is not _MISSING else f"{assertion.text}: path is missing"
    if op == "missing":
        return None if found is _MISSING else f"{assertion.text}: found {_show(found)}"
    if found is _MISSING:
        return f"{assertion.text}: path is missing"
    ok: bool
    if op == "==":
        ok = _json_equal(found, assertion.value)
    elif op == "!=":
        ok = not _json_equal(found, assertion.value)
    elif op == "in":
        ok = any(_json_equal(found, v) for v in assertion.value)
    elif op == "=~":
        assert assertion.pattern is not None
        ok = isinstance(found, str) and assertion.pattern.search(found) is not None
    else:
        if not _is_number(found):
            return f"{assertion.text}: found {_show(found)}, not a number"
        ok = {
            "<": found < assertion.value,
            "<=": found <= assertion.value,
            ">": found > assertion.value,
            ">=": found >= assertion.value,
        }[op]
    return None if ok else f"{assertion.text}: found {_show(found)}"
