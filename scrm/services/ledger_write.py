"""The ledger's hot write path in Core statements (no ORM objects, no flush round trips), built once.

1. lock the member row (`SELECT ... FOR UPDATE`): one member's writes queue, caps stay exact;
2. insert the entry once (`INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`): no
   separate key check, and a raced or retried twin inserts nothing;
3. credit the balance (`UPDATE members SET balance = balance + :p ... RETURNING balance, tier_id,
   <12-month earned>`): the earned figure is read after the lock, so it includes every committed entry.
On PostgreSQL 2 and 3 are one statement (the INSERT as a CTE feeding the UPDATE). A copy of the member
already loaded in the session gets the new balance without becoming dirty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from scrm import runtime
from scrm.models import Member, PointsEntry
from scrm.services import tiers
from scrm.services.errors import NotFound

_ENTRIES: sa.Table = PointsEntry.__table__  # type: ignore[assignment]
_MEMBERS: sa.Table = Member.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Locked:
    """The locked member's figures the write needs."""

    id: int
    account_id: int
    dealer_id: int | None
    balance: int


def local_tz() -> ZoneInfo:
    """The time zone of days and months for caps, expiry dates and check-ins (the app's)."""
    return runtime.get().settings.app.tz


def lot_expiry(now: datetime, valid_months: int) -> datetime:
    """A lot earned at `now` lasts to the end of the local month `valid_months` months later."""
    local = now.astimezone(local_tz()).date()
    y, m = divmod(local.month - 1 + valid_months + 1, 12)
    first_after = date(local.year + y, m + 1, 1)
    return datetime.combine(first_after, time(0), local_tz()) - timedelta(microseconds=1)


def _statements() -> dict[str, Any]:
    """The hot path's statements, built once with bind parameters (building them costs more than running)."""
    e, m = _ENTRIES, _MEMBERS
    earned = tiers.earned_query(sa.bindparam("w_mid"), sa.bindparam("w_now"), sa.bindparam("w_start"))
    new = (pg_insert(e).values({c.name: sa.bindparam(f"v_{c.name}", type_=c.type) for c in e.c if c.name != "id"})
           .on_conflict_do_nothing(index_elements=[e.c.idempotency_key])
           .returning(e.c.id, e.c.member_id, e.c.points).cte("new_entry"))
    return {
        "pay": sa.update(m).where(m.c.id == new.c.member_id)
        .values(balance=m.c.balance + new.c.points, updated_at=sa.bindparam("w_now"))
        .returning(new.c.id, m.c.balance, m.c.tier_id, earned.scalar_subquery()),
        "lock": sa.select(m.c.id, m.c.account_id, m.c.dealer_id, m.c.balance)
        .where(m.c.id == sa.bindparam("w_mid")).with_for_update(),
        "key": sa.select(e.c.id).where(e.c.idempotency_key == sa.bindparam("w_key")),
        "postgresql": pg_insert(e).on_conflict_do_nothing(index_elements=[e.c.idempotency_key]).returning(e.c.id),
        "sqlite": sqlite_insert(e).on_conflict_do_nothing(index_elements=[e.c.idempotency_key]).returning(e.c.id),
        "credit": sa.update(m).where(m.c.id == sa.bindparam("w_mid"))
        .values(balance=m.c.balance + sa.bindparam("w_points"), updated_at=sa.bindparam("w_now"))
        .returning(m.c.balance, m.c.tier_id, earned.scalar_subquery()),
    }


_SQL = _statements()


def lock(s: Session, member_id: int) -> Locked:
    """Lock the member row (pending ORM changes are flushed first); NotFound when there is none."""
    s.flush()  # a Core statement does not autoflush: the caller's pending changes go first, as before
    row = s.connection().execute(_SQL["lock"], {"w_mid": member_id}).one_or_none()
    if row is None:
        raise NotFound()
    return Locked(int(row[0]), int(row[1]), row[2], int(row[3]))


def existing_id(s: Session, key: str) -> int | None:
    """The id of the entry already written for `key`, if any."""
    return s.connection().scalar(_SQL["key"], {"w_key": key[:128]})


def insert_once(s: Session, values: dict[str, Any]) -> int | None:
    """Insert the entry; its id, or None when its idempotency key is already taken."""
    c = s.connection()
    found = c.execute(_SQL[c.dialect.name], values).scalar()
    return None if found is None else int(found)


def pay(s: Session, values: dict[str, Any], now: datetime) -> tuple[int, int, int | None, int] | None:
    """Insert the entry once and credit its points in one round trip; None when the key is taken.

    (entry id, balance, tier id, points earned in the 12 months up to `now` including this entry.)
    PostgreSQL: one statement (the INSERT as a CTE feeding the UPDATE); elsewhere insert_once + credit.
    """
    c = s.connection()
    if c.dialect.name != "postgresql":
        entry_id = insert_once(s, values)
        return None if entry_id is None else (entry_id, *credit(s, values["member_id"], values["points"], now))
    params = {f"v_{k}": v for k, v in values.items()}
    params.update(w_mid=values["member_id"], w_now=now, w_start=now - tiers.WINDOW)
    row = c.execute(_SQL["pay"], params).one_or_none()
    if row is None:
        return None
    _sync(s, values["member_id"], int(row[1]), now)
    # the CTE's row is not visible to the statement's own snapshot: add it to the 12-month figure
    return int(row[0]), int(row[1]), row[2], int(row[3] or 0) + int(values["points"])


def _sync(s: Session, member_id: int, balance: int, now: datetime) -> None:
    loaded = s.identity_map.get(identity_key(Member, member_id))
    if loaded is not None:
        set_committed_value(loaded, "balance", balance)
        set_committed_value(loaded, "updated_at", now)


def credit(s: Session, member_id: int, points: int, now: datetime) -> tuple[int, int | None, int]:
    """Add `points` to the balance; (balance, tier id, points earned in the 12 months up to `now`)."""
    row = s.connection().execute(_SQL["credit"], {"w_mid": member_id, "w_points": points, "w_now": now,
                                     "w_start": now - tiers.WINDOW}).one()
    balance = int(row[0])
    _sync(s, member_id, balance, now)
    return balance, row[1], int(row[2] or 0)
