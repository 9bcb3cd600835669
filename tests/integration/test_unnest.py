"""`db.unnest`: rows passed as one array literal per column arrive exactly as given."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db

pytestmark = pytest.mark.integration

_META = sa.MetaData()
_T = sa.Table("test_unnest_rows", _META,
              sa.Column("id", sa.BigInteger, primary_key=True),
              sa.Column("n", sa.Integer, nullable=True),
              sa.Column("name", sa.String(12), nullable=True),
              sa.Column("flag", sa.Boolean, nullable=True),
              sa.Column("at", db.UTCDateTime(), nullable=True))
COLUMNS = ("id", "n", "name", "flag", "at")
NAMES = ['a"b', "back\\slash", "c,d", "{braces}", "NULL", "", " spaced ", "tab\there", "new\nline", "中文",
         "'single'", None]


@pytest.fixture
def table(app: Any) -> Iterator[sa.Table]:
    if not db.is_postgres():
        pytest.skip("db.unnest is PostgreSQL's: SQLite writes these rows with an executemany instead")
    _META.create_all(db.engine())
    try:
        yield _T
    finally:
        _META.drop_all(db.engine())


def _insert(rows: list[dict[str, Any]]) -> None:
    v = db.unnest(_T, COLUMNS)
    stmt = sa.insert(_T).from_select(list(COLUMNS), sa.select(*(v.c[c] for c in COLUMNS)))
    with db.engine().begin() as conn:
        conn.execute(stmt, {f"a_{c}": [r[c] for r in rows] for c in COLUMNS})


def test_every_awkward_value_arrives_as_given(table: sa.Table) -> None:
    shanghai = timezone(timedelta(hours=8))
    rows = [{"id": i + 1, "n": None if i % 3 == 0 else i * 1000 - 5000, "name": name,
             "flag": None if i % 4 == 0 else i % 2 == 0,
             "at": None if i % 5 == 0 else datetime(2026, 11, 24, 13, 5, 7, 123456, tzinfo=shanghai)
             + timedelta(days=i)}
            for i, name in enumerate(NAMES)]
    _insert(rows)
    with db.engine().connect() as conn:
        got = [dict(r._mapping) for r in conn.execute(sa.select(_T).order_by(_T.c.id))]
    assert got == [{**r, "at": r["at"].astimezone(UTC) if r["at"] else None} for r in rows]


def test_text_longer_than_the_column_is_refused_not_cut(table: sa.Table) -> None:
    with pytest.raises(sa.exc.DataError):
        _insert([{"id": 1, "n": 1, "name": "x" * 13, "flag": True, "at": None}])
    with db.engine().connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(_T)) == 0


def test_a_naive_time_is_refused(table: sa.Table) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        _insert([{"id": 1, "n": 1, "name": "x", "flag": True, "at": datetime(2026, 1, 1)}])


def test_the_statement_text_does_not_depend_on_the_rows(table: sa.Table) -> None:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine(), "before_cursor_execute", record)
    try:
        _insert([{"id": 1, "n": 1, "name": "a", "flag": True, "at": None}])
        _insert([{"id": i, "n": i, "name": str(i), "flag": False, "at": None} for i in range(2, 40)])
    finally:
        sa.event.remove(db.engine(), "before_cursor_execute", record)
    assert len(seen) == 2 and seen[0] == seen[1]
    assert "::BIGINT[]" in seen[0] and "::VARCHAR[]" in seen[0] and "::BOOLEAN[]" in seen[0]
