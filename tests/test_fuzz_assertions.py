"""Property tests of the JSON assertions (exporter/assertions.py): parsing any text raises only
ValueError (a config error with its line, never a crash), and evaluating a parsed assertion on
any JSON document never raises and agrees with a direct lookup."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from exporter import assertions
from tests.fuzz_support import fuzz, json_values, words

segment = st.from_regex(r"[A-Za-z_$][\w$-]{0,8}", fullmatch=True) | words.filter(
    lambda w: w.isidentifier()
)
path_parts = st.lists(
    segment | st.integers(min_value=0, max_value=4) | st.text(max_size=6), min_size=1, max_size=4
)

# hypothesis runs hundreds of generated expressions: make check leaves it out, make test runs it
pytestmark = pytest.mark.slow


NAME = re.compile(r"[A-Za-z_$][\w$-]*")


def path_text(parts: list[Any]) -> str:
    """A path as an assertion writes it: names bare, other keys as JSON strings, indexes."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def writable(key: str | int) -> bool:
    """A key an assertion's path can name: no spaces and no operator characters (the grammar
    reads the path up to the first of them)."""
    return isinstance(key, int) or not re.search(r"[\s=!<>~]", key)


literal = json_values(max_leaves=6).map(json.dumps)
op = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", " in ", "=~", " exists", " missing"])


@st.composite
def assertion_texts(draw: st.DrawFn) -> str:
    """Text shaped like an assertion, often valid, often not."""
    path = path_text(draw(path_parts))
    chosen = draw(op)
    if chosen.strip() in ("exists", "missing"):
        return path + chosen
    right = draw(literal | st.text(max_size=10) | st.sampled_from(['"(unclosed"', "[1, 2]", "3"]))
    space = draw(st.sampled_from(["", " ", "  "]))
    return f"{path}{space}{chosen}{space}{right}"


@fuzz(300)
@given(st.text(max_size=60) | assertion_texts())
@example("a == " + "[" * 100_000)  # nested deeper than json.loads can recurse
@example('a["\\x"] == 1')
@example("[0] == 1")
@example(".a == 1")
def test_parse_raises_only_value_error(text: str) -> None:
    try:
        parsed = assertions.parse(text)
    except ValueError:
        return
    assert parsed.text == text
    assert parsed.op in (*assertions.OPS, "exists", "missing")
    assert parsed.path


def test_parse_rejects_what_is_not_a_string() -> None:
    for value in (None, 1, ["a == 1"], {"a": 1}):
        with pytest.raises(ValueError):
            assertions.parse(value)  # type: ignore[arg-type]


name_parts = st.lists(
    st.from_regex(r"[A-Za-z_$][\w$-]{0,6}", fullmatch=True)
    | words.filter(writable)
    | st.integers(min_value=0, max_value=3),
    min_size=1,
    max_size=3,
)
numbers = st.integers(min_value=-(10**20), max_value=10**20) | st.floats(
    allow_nan=False, allow_infinity=False
)
patterns = st.sampled_from(["^ok$", "err", "[0-9]+", "(?i)DEGRADED", ""]) | st.text(max_size=5).map(
    re.escape
)


@st.composite
def valid_assertions(draw: st.DrawFn) -> assertions.Assertion:
    """Assertions built to parse: a writable path, an operator and a literal it takes."""
    path = path_text(draw(name_parts))
    chosen = draw(st.sampled_from([*assertions.OPS, "exists", "missing"]))
    if chosen in ("exists", "missing"):
        text = f"{path} {chosen}"
    else:
        if chosen in ("<", "<=", ">", ">="):
            right: Any = draw(numbers)
        elif chosen == "in":
            right = draw(st.lists(json_values(max_leaves=3), max_size=4))
        elif chosen == "=~":
            right = draw(patterns)
        else:
            right = draw(json_values(max_leaves=4))
        text = f"{path} {chosen} {json.dumps(right)}"
    return assertions.parse(text)


@st.composite
def assertion_and_document(draw: st.DrawFn) -> tuple[assertions.Assertion, Any]:
    parsed = draw(valid_assertions())
    doc = draw(json_values())
    if draw(st.booleans()):
        # put something at the assertion's path, so lookups succeed as often as they fail
        value = draw(json_values(max_leaves=4) | st.just(parsed.value))
        for seg in reversed(parsed.path):
            value = [None] * seg + [value] if isinstance(seg, int) else {seg: value}
        doc = value
    return parsed, doc


@fuzz(150)
@given(assertion_and_document())
def test_evaluate_never_raises_and_agrees_with_lookup(
    case: tuple[assertions.Assertion, Any],
) -> None:
    parsed, doc = case
    outcome = assertions.evaluate(parsed, doc)
    assert outcome is None or (isinstance(outcome, str) and outcome.startswith(parsed.text))
    found = assertions.lookup(doc, parsed.path)
    if parsed.op == "exists":
        assert (outcome is None) == (not assertions.is_missing(found))
    elif parsed.op == "missing":
        assert (outcome is None) == assertions.is_missing(found)
    elif assertions.is_missing(found):
        assert outcome is not None and outcome.endswith("path is missing")
    if parsed.op in ("==", "!="):
        # != is exactly the negation of ==
        twin = assertions.Assertion(parsed.text, parsed.path, "!=" if parsed.op == "==" else "==",
                                    parsed.value)  # fmt: skip
        if not assertions.is_missing(found):
            assert (assertions.evaluate(twin, doc) is None) != (outcome is None)


@fuzz(200)
@given(json_values())
def test_a_value_equals_itself_wherever_it_is(doc: Any) -> None:
    """For every leaf of a document, ``PATH == <the leaf as JSON>`` holds and ``PATH exists``."""

    def leaves(node: Any, at: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], Any]]:
        if isinstance(node, dict) and node:
            return [leaf for k, v in node.items() for leaf in leaves(v, (*at, k))]
        if isinstance(node, list) and node:
            return [leaf for i, v in enumerate(node) for leaf in leaves(v, (*at, i))]
        return [(at, node)] if at else []

    for at, value in leaves(doc, ()):
        if not all(writable(key) for key in at):
            continue
        text = path_text(list(at))
        eq = assertions.parse(f"{text} == {json.dumps(value)}")
        assert eq.path == at
        assert assertions.evaluate(eq, doc) is None, (eq, doc)
        assert assertions.evaluate(assertions.parse(f"{text} exists"), doc) is None
