"""The bookkeeping of a push that does not decide its reply, and how a batch of it is written.

One `Entry` per push: the follower's touch (last interaction, kind, the customer-service allowance
reset, creation if new), the message-log rows, keyword hits. `write(entries)` stores a batch in ONE
transaction of three multi-row statements: the followers upsert (`ON CONFLICT (account_id, openid)
DO UPDATE ... RETURNING id`), the logs with those ids, and the hit counters (`UPDATE ... FROM
(VALUES ...)`). Entries may arrive late and out of order (several processes buffer them), so the
upsert only moves times forward and only re-subscribes a follower for an interaction after their
last unfollow. Rows are sorted by key so concurrent writers lock them in the same order.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from scrm import db
from scrm.models import Follower, KeywordReply, MessageLog

_FOLLOWERS: sa.Table = Follower.__table__  # type: ignore[assignment]
_LOGS: sa.Table = MessageLog.__table__  # type: ignore[assignment]
_KW: sa.Table = KeywordReply.__table__  # type: ignore[assignment]
_INSERT_LOG = sa.insert(_LOGS)
_RELAXED = sa.text("SET LOCAL synchronous_commit TO OFF")
# Pushes that prove the person follows the account right now (WECHAT.md §4.3).
PROVES_FOLLOWING = frozenset({"message", "click", "scan"})


@dataclass
class Entry:
    """One push's bookkeeping; `openid` empty for a bare hit count (no follower, no log)."""

    account_id: int
    openid: str = ""
    at: datetime | None = None           # when the push arrived
    kind: str | None = None              # interaction kind; None refreshes nothing
    is_message: bool = False
    subscribed: bool = True              # for a follower created by this entry
    logs: list[dict[str, Any]] = field(default_factory=list)  # message_logs rows without follower_id
    hits: list[int] = field(default_factory=list)             # keyword reply ids used


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


def _touch_rows(entries: Sequence[Entry]) -> list[dict[str, Any]]:
    """One row per follower (a statement may not update a row twice), merged, sorted by key."""
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for e in entries:
        if not e.openid or e.at is None:
            continue
        interaction = e.at if e.kind is not None else None
        new: dict[str, Any] = {
            "account_id": e.account_id, "openid": e.openid, "subscribed": e.subscribed, "created_at": e.at,
            "last_interaction_at": interaction, "interaction_kind": e.kind or "", "cs_sent_since_interaction": 0,
            "last_message_at": e.at if e.is_message else None}
        old = rows.get((e.account_id, e.openid))
        if old is None:
            rows[(e.account_id, e.openid)] = new
            continue
        old["created_at"] = min(old["created_at"], new["created_at"])
        if new["last_interaction_at"] is not None and _newest(new["last_interaction_at"],
                                                              old["last_interaction_at"]) is new["last_interaction_at"]:
            old["last_interaction_at"], old["interaction_kind"] = new["last_interaction_at"], new["interaction_kind"]
        old["last_message_at"] = _newest(old["last_message_at"], new["last_message_at"])
    return [rows[k] for k in sorted(rows)]


_TOUCH = ("account_id", "openid", "subscribed", "created_at", "last_interaction_at", "interaction_kind",
          "cs_sent_since_interaction", "last_message_at")
_LOG = ("account_id", "follower_id", "direction", "msg_type", "event", "content", "msg_id", "handler", "created_at")


@functools.cache
def _upsert(dialect: str) -> Any:
    """The batch touch: insert new followers; for known ones move times forward only.

    PostgreSQL: the rows as one array per column (`db.unnest`), one statement text for any batch; SQLite: an
    executemany of single-row VALUES.
    """
    ins: Any
    if dialect == "postgresql":
        v = db.unnest(_FOLLOWERS, _TOUCH)
        ins = postgresql.insert(_FOLLOWERS).from_select(list(_TOUCH), sa.select(*(v.c[c] for c in _TOUCH)))
    else:
        ins = sqlite.insert(_FOLLOWERS).values({c: sa.bindparam(c) for c in _TOUCH})
    ex, f = ins.excluded, _FOLLOWERS.c
    newer = sa.and_(ex.last_interaction_at.is_not(None),
                    sa.or_(f.last_interaction_at.is_(None), ex.last_interaction_at >= f.last_interaction_at))
    later_message = sa.and_(ex.last_message_at.is_not(None),
                            sa.or_(f.last_message_at.is_(None), ex.last_message_at > f.last_message_at))
    # Only an interaction after the last unfollow proves they follow again (a late entry must not
    # undo an unsubscribe that happened after it).
    # Literal kinds, not an expanding IN: on SQLite the statement runs as an executemany.
    proving = sa.or_(*(ex.interaction_kind == sa.literal_column(f"'{k}'") for k in sorted(PROVES_FOLLOWING)))
    resubscribe = sa.and_(proving, ex.last_interaction_at.is_not(None),
                          sa.or_(f.unsubscribed_at.is_(None), ex.last_interaction_at > f.unsubscribed_at))
    return ins.on_conflict_do_update(index_elements=[f.account_id, f.openid], set_={
        "last_interaction_at": sa.case((newer, ex.last_interaction_at), else_=f.last_interaction_at),
        "interaction_kind": sa.case((newer, ex.interaction_kind), else_=f.interaction_kind),
        "cs_sent_since_interaction": sa.case((newer, 0), else_=f.cs_sent_since_interaction),
        "last_message_at": sa.case((later_message, ex.last_message_at), else_=f.last_message_at),
        "subscribed": sa.case((resubscribe, sa.true()), else_=f.subscribed),
    }).returning(f.id, f.account_id, f.openid)


@functools.cache
def _insert_logs() -> Any:
    """PostgreSQL: the message logs as one array per column (the direction passed as its text value)."""
    v = db.unnest(_LOGS, _LOG, {"direction": sa.String()})
    return sa.insert(_LOGS).from_select(list(_LOG), sa.select(*(v.c[c] for c in _LOG)))


def _columns(rows: Sequence[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    """`db.unnest`'s parameters: one list per column, in the rows' order."""
    return {f"a_{c}": [r[c] for r in rows] for c in names}


@functools.cache
def _hit_update() -> Any:
    """PostgreSQL: the keyword hits as two arrays (ids, counts): one statement text for any batch."""
    v = db.unnest(_KW, ("id", "n"), {"n": sa.Integer()})
    return sa.update(_KW).where(_KW.c.id == v.c.id).values(hits=_KW.c.hits + v.c.n)


def write(entries: Sequence[Entry]) -> None:
    """Store a batch of entries in one transaction (commit without waiting for the disk)."""
    touches = _touch_rows(entries)
    hits: Counter[int] = Counter(h for e in entries for h in e.hits)
    if not touches and not hits:
        return
    with db.engine().begin() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            conn.execute(_RELAXED)
        ids: dict[tuple[int, str], int] = {}
        pg = dialect == "postgresql"
        if touches:
            for row in conn.execute(_upsert(dialect), _columns(touches, _TOUCH) if pg else touches):
                ids[(row.account_id, row.openid)] = row.id
        if pg:
            logs = [(e, r) for e in entries for r in e.logs]
            if logs:  # the columns straight from the rows: no copy of each row to add its follower
                columns = {f"a_{c}": [r[c] for _, r in logs] for c in _LOG if c != "follower_id"}
                columns["a_follower_id"] = [ids.get((e.account_id, e.openid)) for e, _ in logs]
                conn.execute(_insert_logs(), columns)
        elif rows := [dict(r, follower_id=ids.get((e.account_id, e.openid))) for e in entries for r in e.logs]:
            conn.execute(_INSERT_LOG, rows)
        if hits and dialect == "postgresql":
            ordered = sorted(hits.items())
            conn.execute(_hit_update(), {"a_id": [i for i, _ in ordered], "a_n": [n for _, n in ordered]})
        elif hits:   # SQLite cannot name a VALUES list's columns (`AS v (id, n)`): one UPDATE per reply
            conn.execute(sa.update(_KW).where(_KW.c.id == sa.bindparam("b_id"))
                         .values(hits=_KW.c.hits + sa.bindparam("b_n")),
                         [{"b_id": i, "b_n": n} for i, n in sorted(hits.items())])
