"""Bulk writes for imports: new rows go to PostgreSQL with COPY (ids drawn from the sequence first), not
through the ORM's unit of work; SQLite (the demo) keeps the plain ORM path.

New rows are `Record`s: plain objects with the model's column attributes and none of the ORM's
bookkeeping, so the import can use them like model instances while it plans a batch, then write each
table in one round trip.
"""

from __future__ import annotations

import enum
import json
import logging
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.db import Base

logger = logging.getLogger(__name__)

_COLUMNS: dict[type[Base], tuple[str, ...]] = {}
_EMPTY: dict[type[Base], dict[str, None]] = {}  # every column None, copied into each new record
_SEQUENCES: dict[type[Base], str] = {}  # the sequence of each model's id (the same in every database)


class Record:
    """A new row of `model`: every column attribute, None unless given (defaults apply when written)."""

    def __init__(self, model: type[Base], /, **values: Any) -> None:
        empty = _EMPTY.get(model)
        if empty is None:
            columns = _COLUMNS[model] = tuple(c.key for c in _table(model).columns)
            empty = _EMPTY[model] = dict.fromkeys(columns)
        self.__dict__.update(empty)
        self.__dict__.update(values)
        self._model = model
        self._orm: Base | None = None  # the ORM instance written for it (SQLite path)


def new(model: type[Base], /, **values: Any) -> Any:
    """A new `Record` of `model`, typed loosely so callers can treat it as the model."""
    return Record(model, **values)


def _table(model: type[Base]) -> sa.Table:
    return cast(sa.Table, model.__table__)


def _postgres(s: Session) -> bool:
    return s.get_bind().dialect.name == "postgresql"


def is_postgres(s: Session) -> bool:
    """True when `s` writes to PostgreSQL (COPY: a JSON column's text value is written as it is)."""
    return _postgres(s)


class PlannerStats:
    """Keep PostgreSQL's statistics current while an import grows the tables.

    A fresh dealer's import starts on empty tables with no statistics; psycopg prepares the batch lookups
    after a few executions and PostgreSQL may then keep a generic plan made for a tiny table, one that walks
    every customer of the dealer through a dealer_id-leading index on each batch, so the import slows down as
    it grows (measured: 200,000 rows in 534 s; 42 s with the statistics kept current). ANALYZE after the
    first batch and then whenever the rows created since the start have doubled (about 10 times for 1M rows;
    each invalidates the cached plans).
    """

    TABLES = "customers, vehicles, repair_orders"

    def __init__(self, first: int) -> None:
        self.next_at = max(1, first)
        self.enabled = True

    def created(self, total: int) -> None:
        """Tell how many rows the import has created so far; analyzes when that has doubled."""
        if not self.enabled or total < self.next_at:
            return
        self.next_at = total * 2
        try:
            with db.transaction() as s:
                if not _postgres(s):
                    self.enabled = False
                    return
                s.execute(sa.text(f"ANALYZE {self.TABLES}"))
        except sa.exc.DBAPIError:  # e.g. not the tables' owner: autovacuum will get to it later
            logger.warning("could not refresh planner statistics during the import", exc_info=True)
            self.enabled = False


def assign_ids(s: Session, records: Sequence[Record]) -> None:
    """Give new records their primary keys (PostgreSQL: from the table's sequence; SQLite: add and flush)."""
    if not records:
        return
    model = records[0]._model
    if not _postgres(s):
        for rec in records:
            rec._orm = _orm(rec)
        s.add_all([rec._orm for rec in records if rec._orm is not None])
        s.flush()
        for rec in records:
            rec.__dict__["id"] = rec._orm.id  # type: ignore[union-attr]
        return
    sequence = _SEQUENCES.get(model)
    if sequence is None:
        sequence = _SEQUENCES[model] = s.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                                 {"t": _table(model).name}).scalar_one()
    # The sequence named once (as regclass), not looked up again for every id.
    ids = s.execute(sa.text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)"),
                    {"seq": sequence, "n": len(records)}).scalars().all()
    for rec, new_id in zip(records, ids, strict=True):
        rec.__dict__["id"] = new_id


def insert(s: Session, records: Sequence[Record]) -> None:
    """Insert new records of one model (COPY on PostgreSQL); a unique clash raises IntegrityError."""
    if not records:
        return
    model = records[0]._model
    if not _postgres(s):
        for rec in records:
            if rec._orm is None:
                rec._orm = _orm(rec)
                s.add(rec._orm)
            else:
                for key in _COLUMNS[model]:
                    setattr(rec._orm, key, rec.__dict__[key])
        return
    table = _table(model)
    columns = [c for c in table.columns if not (c.primary_key and records[0].__dict__.get(c.key) is None)]
    try:
        _copy(s, table, [c.name for c in columns], _rows([c.key for c in columns], [_converter(c) for c in columns],
                                                         [rec.__dict__ for rec in records]))
    except Exception as exc:
        if type(exc).__module__.startswith("psycopg") and "IntegrityError" in [t.__name__ for t in type(exc).__mro__]:
            raise IntegrityError(f"COPY {table.name}", None, exc) from exc
        raise


def _rows(keys: list[str], converters: list[Callable[[Any], Any] | None],
          states: Sequence[dict[str, Any]]) -> Iterator[list[Any]]:
    """The COPY rows of `states` (records' or plain rows' values): one list per row, in `keys` order."""
    converted = [(i, convert) for i, convert in enumerate(converters) if convert is not None]
    get = operator.itemgetter(*keys) if len(keys) > 1 else (lambda state: (state[keys[0]],))
    for state in states:
        values = list(get(state))
        for i, convert in converted:
            values[i] = convert(values[i])
        yield values


def insert_rows(s: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert plain rows (all with the same keys) into `table`: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    if not _postgres(s):
        s.execute(sa.insert(table), rows)
        return
    keys = list(rows[0])
    _copy(s, table, [table.c[k].name for k in keys], _rows(keys, [_converter(table.c[k]) for k in keys], rows))


def _copy(s: Session, table: sa.Table, names: list[str], rows: Any) -> None:
    raw = s.connection().connection.driver_connection
    columns = ", ".join(f'"{n}"' for n in names)
    with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({columns}) FROM STDIN") as copy:  # type: ignore[union-attr]
        write = copy.write_row
        for row in rows:
            write(row)


def _orm(rec: Record) -> Base:
    values = {k: v for k, v in rec.__dict__.items() if not k.startswith("_") and v is not None}
    return rec._model(**values)


def _converter(column: sa.Column[Any]) -> Callable[[Any], Any] | None:
    """How a column's Python value is turned into what COPY takes (None: as it is): defaults applied,
    enums as their value, JSON as text."""
    default = column.default
    is_json, is_enum = isinstance(column.type, sa.JSON), isinstance(column.type, sa.Enum)
    if default is None and not (is_json or is_enum):
        return None
    arg: Any = None if default is None else getattr(default, "arg", None)
    call = default is not None and default.is_callable

    def make() -> Any:
        return arg(None) if call else arg

    if is_json:
        return lambda value: _json(make() if value is None else value)
    if is_enum:
        return lambda value: _plain(make() if value is None else value)
    return lambda value: make() if value is None else value


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _json(value: Any) -> Any:
    if isinstance(value, dict | list):
        if not value:
            return "{}" if isinstance(value, dict) else "[]"
        return json.dumps(value, ensure_ascii=False)
    return _plain(value)
