"""JSON assertions: parsing at config load, evaluation on real-shaped documents."""

from __future__ import annotations

import pytest

from exporter.assertions import evaluate, parse

HEALTH = {
    "status": "ok",
    "version": "1.4.2",
    "checks": {"database": {"status": "ok", "responseTime": 12}},
    "tools": ["query_support", "refresh_index"],
    "ready": True,
    "count": 1,
}


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ('status == "ok"', True),
        ('status == "degraded"', False),
        ('checks.database.status == "ok"', True),
        ('version == "1.4.2"', True),
        ('version != "1.4.2"', False),
        ("checks.database.responseTime < 100", True),
        ("checks.database.responseTime >= 13", False),
        ('tools[1] == "refresh_index"', True),
        ("tools[5] exists", False),
        ("checks exists", True),
        ("error missing", True),
        ('status in ["ok", "degraded"]', True),
        ('version =~ "^1\\\\.4\\\\."', True),
        ("ready == true", True),
        ("count == true", False),  # JSON keeps 1 and true apart
        ("ready == 1", False),
        ('checks["database"].status == "ok"', True),
    ],
)
def test_evaluate(text: str, holds: bool) -> None:
    assert (evaluate(parse(text), HEALTH) is None) is holds


def test_failure_messages_say_what_was_found() -> None:
    assert evaluate(parse('status == "ok"'), {"status": "down"}) == ('status == "ok": found "down"')
    assert evaluate(parse("a.b < 3"), {"a": {"b": "x"}}) == 'a.b < 3: found "x", not a number'
    assert evaluate(parse('a.b == "x"'), {"a": []}) == 'a.b == "x": path is missing'
    long = evaluate(parse('v == "x"'), {"v": "y" * 500})
    assert long is not None and len(long) < 120


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("status == ok", "is not a JSON value"),
        ("status", "cannot read assertion"),
        ('x < "a"', "needs a number"),
        ("x in 3", "needs a JSON list"),
        ('x =~ "("', "bad regex"),
        ('.x == "a"', "bad path"),
    ],
)
def test_parse_errors(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse(text)


def test_evaluate_never_raises_on_odd_documents() -> None:
    for doc in (None, [], "text", 3, {"status": None}, {"status": {"nested": 1}}):
        for text in ('status == "ok"', "status < 1", "status exists", 'status =~ "o"'):
            result = evaluate(parse(text), doc)
            assert result is None or isinstance(result, str)
