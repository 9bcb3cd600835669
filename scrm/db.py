"""SQLAlchemy 2.0 engine and session, the declarative Base with a naming convention, time helpers."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy import MetaData, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

from scrm import inline

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; we put it back)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use scrm.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every model; stable constraint names for Alembic."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class _Session(Session):
    """The ORM session: refuses to reach the database inside an inline attempt (scrm.inline)."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        """The engine (or connection) for a statement; every statement and flush asks for it first."""
        inline.check("database")
        return super().get_bind(*args, **kwargs)


_factory: sessionmaker[Session] = sessionmaker(class_=_Session, expire_on_commit=False)
session: scoped_session[Session] = scoped_session(_factory)
_engine: Engine | None = None


@event.listens_for(_factory, "do_orm_execute")
def _locked_rows_are_read_fresh(state: ORMExecuteState) -> None:
    # Objects outlive commits (expire_on_commit=False): without this, a FOR UPDATE read of a row the session
    # loaded earlier would lock it but hand back the earlier values, and a read-then-write would lose an update.
    if state.is_select and getattr(state.statement, "_for_update_arg", None) is not None:
        state.update_execution_options(populate_existing=True)


PING_AFTER_IDLE_SECONDS = 1.0
_LAST_USED = "scrm.last_used"


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection on checkout only when it sat unused for more than `idle_seconds`.

    Replaces `pool_pre_ping` (a round trip on every checkout): a connection returned moments ago was
    alive moments ago, so under load no ping runs, while one that idled (e.g. across a database restart)
    is still tested before use. A failed ping invalidates every pooled connection and the pool retries
    with a new one, as pre-ping does. A connection killed within `idle_seconds` of its last use surfaces
    as an error on its next statement; SQLAlchemy then invalidates it and the pool, so the next checkout
    reconnects.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_LAST_USED, 0.0) <= idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_conn, None):
                raise sa_exc.InvalidatePoolError() from err  # the pool reconnects and retries the checkout
            raise


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5,
                ping_after_idle: float = PING_AFTER_IDLE_SECONDS) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout; a pool pings idle connections."""
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size * 2)
    engine = sa.create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "savepoint")
        def _sqlite_begin_first(conn: Any, _name: str) -> None:
            # pysqlite opens a transaction only before a write, so a SAVEPOINT that comes first would open one
            # of its own, and its RELEASE would commit: a later rollback of the session could not undo it.
            _begin_immediate(conn)   # a savepoint wraps writes: take the write lock now, waiting if busy

        @event.listens_for(engine, "before_cursor_execute")
        def _sqlite_for_update(conn: Any, _cursor: Any, _sql: str, _params: Any, context: Any, _many: bool) -> None:
            # SQLite has no FOR UPDATE (SQLAlchemy leaves it out), so a locking read takes the database's write
            # lock instead: the read-then-write it guards cannot interleave with another writer's.
            stmt = getattr(getattr(context, "compiled", None), "statement", None)
            if getattr(stmt, "_for_update_arg", None) is not None:
                _begin_immediate(conn)
    else:
        _ping_when_idle(engine, ping_after_idle)
    return engine


def _begin_immediate(conn: Any) -> None:
    """SQLite: open the connection's transaction with the database's write lock, unless one is open already."""
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


def init_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    """Bind the global session factory to a new engine and return it."""
    global _engine
    if _engine is not None:
        session.remove()
        _engine.dispose()
    _engine = make_engine(url, echo=echo, pool_size=pool_size)
    _factory.configure(bind=_engine)
    return _engine


def engine() -> Engine:
    """The engine bound by init_engine."""
    inline.check("database")
    if _engine is None:
        raise RuntimeError("database not initialised: call init_engine() first")
    return _engine


def is_postgres() -> bool:
    """True when the bound database is PostgreSQL."""
    return engine().dialect.name == "postgresql"


@contextmanager
def transaction() -> Iterator[Session]:
    """Commit the scoped session on success, roll back on error (services use this)."""
    s = session()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise


def commit_without_flush_wait(s: Session) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL only).

    For bookkeeping that a database crash may lose without harm: a send's recorded outcome (the row then
    reads `sending` and the reaper reports it unknown, never resent) or its place under the frequency cap.
    Never for a claim: losing one could send a row twice.
    """
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sa.text("SET LOCAL synchronous_commit = off"))


def among(column: Any, values: Iterable[int] | Iterable[str], *, postgres: bool | None = None) -> Any:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one statement text (cached, prepared) whatever the count.

    An IN list renders one placeholder per value, so each batch size is a new statement for SQLAlchemy's
    cache, psycopg's parser and the server's planner. `postgres` names the dialect when the statement runs
    elsewhere than on the app's engine.
    """
    items = list(values)
    if not (is_postgres() if postgres is None else postgres):
        return column.in_(items)
    if not items:  # an empty array would need the column's type; nothing is among no values
        return sa.false()
    return column == sa.any_(_array(items))


def not_among(column: Any, values: Iterable[int] | Iterable[str], *, postgres: bool | None = None) -> Any:
    """`column NOT IN values`, as `among` (`<> ALL(array)` on PostgreSQL)."""
    items = list(values)
    if not (is_postgres() if postgres is None else postgres):
        return column.not_in(items)
    if not items:  # `<> ALL` of an empty array holds for every row, NULL included
        return sa.true()
    return column != sa.all_(_array(items))


class _ArrayText(sa.types.UserDefinedType[str]):
    """An array parameter given as the text of its literal (`{1,2}`), typed on the placeholder
    (`$1::BIGINT[]`): the server reads it once as the parameter's value, not as a cast done per row."""

    cache_ok = True
    render_bind_cast = True

    def __init__(self, item: str) -> None:
        self.item = item

    def get_col_spec(self, **kw: Any) -> str:
        return f"{self.item}[]"

    def bind_processor(self, dialect: Any) -> None:
        return None


_BIGINTS, _TEXTS = _ArrayText("BIGINT"), _ArrayText("VARCHAR")


def _array(items: list[Any]) -> Any:
    """The items as one array parameter, sent as the text of an array literal.

    psycopg adapts a list item by item in Python (about 1 µs each: a tenth of an import's lookups); the
    literal is built here with a few string operations over the whole list instead.
    """
    if all(isinstance(v, int) for v in items):
        return sa.bindparam(None, "{" + ",".join(map(int.__repr__, items)) + "}", type_=_BIGINTS)
    body = "\x00".join(items) if all(isinstance(v, str) for v in items) else None
    if body is None or body.count("\x00") != len(items) - 1:  # not all text, or a NUL (text has none)
        return sa.bindparam(None, items, type_=postgresql.ARRAY(sa.String()))
    literal = '{"' + body.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", '","') + '"}'
    return sa.bindparam(None, literal, type_=_TEXTS)


def _quoted_each(items: list[Any]) -> str:
    return ",".join("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for v in items)


def _quoted(items: list[Any]) -> str:
    """Text items (None as NULL) as an array literal's elements.

    Escaped in one pass over the joined text (a NUL between items, SOH standing for a NULL) rather than item
    by item: a batch's columns are mostly short repeated text, where the per-item work dominated. Text
    holding NUL (PostgreSQL stores none) or SOH takes the item-by-item way.
    """
    nulls = items.count(None)
    try:
        body = "\x00".join(["\x01" if v is None else v for v in items] if nulls else items)
    except TypeError:
        return _quoted_each(items)  # not all text: fails there as it always has
    if body.count("\x00") != len(items) - 1 or body.count("\x01") != nulls:
        return _quoted_each(items)
    text = '"' + body.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", '","') + '"'
    return text.replace('"\x01"', "NULL") if nulls else text


_TIME_TEXT: dict[datetime, str] = {}  # recent times as elements: a push's arrival time fills several columns


def _time_text(v: datetime) -> str:
    if v.tzinfo is UTC:  # what utcnow() gives: no conversion
        return '"' + v.isoformat() + '"'
    if v.tzinfo is None:
        raise ValueError("naive datetime given; use scrm.db.utcnow()")
    return '"' + v.astimezone(UTC).isoformat() + '"'


def _times(items: list[Any]) -> str:
    """Aware datetimes (None as NULL) as an array literal's elements, in UTC."""
    memo = _TIME_TEXT
    if len(memo) > 8192:
        memo.clear()
    out = []
    for v in items:
        if v is None:
            out.append("NULL")
            continue
        text = memo.get(v)  # equal aware times are the same instant, whatever their zone: the same text
        if text is None:
            text = memo[v] = _time_text(v)
        out.append(text)
    return ",".join(out)


def _bigints(items: list[Any]) -> str:
    """Integers (None as NULL) as an array literal's elements; a list of ints alone in one C-level pass."""
    try:
        return ",".join(map(int.__repr__, items))
    except TypeError:  # a None, or an integer given as another type
        return ",".join("NULL" if v is None else int.__repr__(int(v)) for v in items)


def _booleans(items: list[Any]) -> str:
    """Truth values (None as NULL) as an array literal's elements."""
    if None not in items:
        return ",".join(["t" if v else "f" for v in items])
    return ",".join("NULL" if v is None else ("t" if v else "f") for v in items)


_ELEMENTS: dict[str, Any] = {
    "BIGINT": _bigints,
    "BOOLEAN": _booleans,
    "VARCHAR": _quoted,
    "TIMESTAMP WITH TIME ZONE": _times,
}


class _LiteralArray(_ArrayText):
    """An array parameter of ints, booleans, text or aware times given as a list, sent as its literal's text.

    psycopg adapts a list element by element in Python (its ListDumper took 7 % of a web worker's CPU
    writing the webhook's bookkeeping); the literal is built here in one pass. The element types are the
    unbounded ones (BIGINT, VARCHAR), so storing into a narrower column is an assignment cast: too long
    or too large fails, as a direct insert would, and is never cut.
    """

    cache_ok = True  # SQLAlchemy asks each class for its own

    def bind_processor(self, dialect: Any) -> Any:
        elements = _ELEMENTS[self.item]
        return lambda items: None if items is None else "{" + elements(list(items)) + "}"


def _literal_array(kind: Any) -> _LiteralArray | None:
    """The literal-array type for a column type, None when its elements need psycopg's own adaptation."""
    if isinstance(kind, TypeDecorator):
        kind = kind.impl_instance if hasattr(kind, "impl_instance") else kind.impl
    if isinstance(kind, sa.Enum):
        return None
    if isinstance(kind, sa.Boolean):
        return _LiteralArray("BOOLEAN")
    if isinstance(kind, sa.Integer):
        return _LiteralArray("BIGINT")
    if isinstance(kind, sa.String):
        return _LiteralArray("VARCHAR")
    if isinstance(kind, sa.DateTime) and kind.timezone:
        return _LiteralArray("TIMESTAMP WITH TIME ZONE")
    return None


def unnest(table: sa.Table, columns: tuple[str, ...], types: dict[str, Any] | None = None) -> Any:
    """PostgreSQL `unnest(:a_column, ...) AS v(column, ...)`: rows passed as one array parameter per column
    (named `a_<column>`), each typed as `table`'s column unless `types` says otherwise.

    One statement text whatever the number of rows: cached by SQLAlchemy and psycopg, prepared by the server,
    where a multi-row VALUES list is a new statement of one placeholder per value each time.
    """
    types = types or {}
    kinds = {c: types.get(c) or table.c[c].type for c in columns}
    arrays = [sa.bindparam(f"a_{c}", type_=_literal_array(kinds[c]) or postgresql.ARRAY(kinds[c])) for c in columns]
    return sa.func.unnest(*arrays).table_valued(*(sa.column(c, kinds[c]) for c in columns)).render_derived(name="v")
