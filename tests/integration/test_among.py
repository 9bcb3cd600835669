"""`db.among` / `db.not_among`: the array literal built by hand on PostgreSQL matches exactly the values given,
whatever characters they hold, and the same statement runs on SQLite as an IN list."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db

pytestmark = pytest.mark.integration
AWKWARD = ['plain', 'has "quotes"', "back\\slash", 'both \\" at once', "comma,inside", "{braces}", "", " spaced ",
           "NULL", "张伟", "tab\there", "new\nline", "end\\"]


def _values(column: str, items: list[Any]) -> Any:
    kind = sa.BigInteger() if isinstance(items[0], int) else sa.String()
    return sa.union_all(*(sa.select(sa.literal(item, kind).label(column)) for item in items)).subquery("v")


def _matched(items: list[Any], wanted: list[Any], negate: bool = False) -> list[Any]:
    table = _values("x", items)
    test = db.not_among(table.c.x, wanted) if negate else db.among(table.c.x, wanted)
    found = db.session.scalars(sa.select(table.c.x).where(test)).all()
    db.session.remove()
    return sorted(found)


def test_every_awkward_string_matches_itself_and_nothing_else(app_ctx: Any) -> None:
    everything = [*AWKWARD, "plain2", "quotes", "back", "slash"]
    for item in AWKWARD:
        assert _matched(everything, [item]) == [item]
    assert _matched(everything, AWKWARD) == sorted(AWKWARD)
    assert _matched(everything, AWKWARD, negate=True) == sorted(["plain2", "quotes", "back", "slash"])


def test_integers_and_empty_lists(app_ctx: Any) -> None:
    numbers = [1, 2, 3, 2**40, -7]
    assert _matched(numbers, [2, 2**40, -7, 99]) == [-7, 2, 2**40]
    assert _matched(numbers, [2, 3], negate=True) == [-7, 1, 2**40]
    assert _matched(numbers, []) == []
    assert _matched(numbers, [], negate=True) == sorted(numbers)
    assert _matched(["a", "b"], []) == []


def test_the_statement_text_does_not_depend_on_the_values(app_ctx: Any) -> None:
    if not db.is_postgres():
        pytest.skip("SQLite renders an IN list, one placeholder per value: the statement text changes by design")
    table = _values("x", ["a"])
    texts = {str(sa.select(table.c.x).where(db.among(table.c.x, wanted)).compile(db.engine()))
             for wanted in (["a"], ["a", "b", "c"], ['q"uote', "x" * 50])}
    assert len(texts) == 1
