"""Claiming due rows, committed before any send, and releasing rows a worker did not start.

PostgreSQL: `WITH due AS MATERIALIZED (SELECT ... FOR UPDATE SKIP LOCKED) UPDATE ... RETURNING`, so
concurrent workers never claim the same row. SQLite has no SKIP LOCKED; its writers are serialised anyway
(one process), and the `status = 'pending'` guard keeps a row from being claimed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import Channel, Delivery, DeliveryStatus


@dataclass(frozen=True)
class Claimed:
    """A snapshot of a claimed row: all a worker needs to send it."""

    id: int
    account_id: int
    follower_id: int | None
    openid: str
    dedupe_key: str
    channel: Channel
    purpose: str
    payload: dict[str, Any]
    attempts: int
    claimed_at: datetime


_COLUMNS = (Delivery.id, Delivery.account_id, Delivery.follower_id, Delivery.openid, Delivery.dedupe_key,
            Delivery.channel, Delivery.purpose, Delivery.payload, Delivery.attempts)


def claim(limit: int, worker: str, now: datetime | None = None) -> list[Claimed]:
    """Mark up to `limit` due pending rows as `sending` by `worker` and commit; oldest due first."""
    now = now or utcnow()
    due = (sa.select(Delivery.id)
           .where(Delivery.status == DeliveryStatus.PENDING, Delivery.next_try_at <= now)
           .order_by(Delivery.next_try_at, Delivery.id)
           .limit(limit))
    values = dict(status=DeliveryStatus.SENDING, claimed_at=now, claimed_by=worker[:64],
                  attempts=Delivery.attempts + 1, updated_at=now)
    if db.is_postgres():
        # A materialised CTE runs the locking SELECT exactly once. As `id IN (subquery)` PostgreSQL
        # may re-run the subquery per outer row, and each run skips only *other* transactions' locks,
        # so one worker would claim far more than `limit` rows.
        locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        stmt = sa.update(Delivery).where(Delivery.id == locked.c.id)
    else:
        stmt = sa.update(Delivery).where(Delivery.id.in_(due.scalar_subquery()),
                                         Delivery.status == DeliveryStatus.PENDING)
    stmt = stmt.values(**values).returning(*_COLUMNS).execution_options(synchronize_session=False)
    with db.transaction() as s:
        rows = s.connection().execute(stmt).all()   # Core: no ORM bulk-update bookkeeping per claim
    claimed = [Claimed(id=r.id, account_id=r.account_id, follower_id=r.follower_id, openid=r.openid,
                       dedupe_key=r.dedupe_key, channel=Channel(r.channel), purpose=r.purpose,
                       payload=dict(r.payload or {}), attempts=r.attempts, claimed_at=now) for r in rows]
    claimed.sort(key=lambda c: c.id)
    return claimed


def release(rows: list[Claimed], worker: str, next_try_at: datetime | None = None, note: str = "") -> int:
    """Put rows this worker claimed but never started back to `pending` (the claim does not count)."""
    if not rows:
        return 0
    now = utcnow()
    # Not sent: the claim does not count, and a place it took under the frequency cap is free again.
    values: dict[str, Any] = dict(status=DeliveryStatus.PENDING, claimed_at=None, claimed_by="", capped_at=None,
                                  attempts=Delivery.attempts - 1, updated_at=now)
    if next_try_at is not None:
        values["next_try_at"] = next_try_at
    if note:
        values["error"] = note[:255]
    with db.transaction() as s:
        result = s.execute(sa.update(Delivery)
                           .where(db.among(Delivery.id, [r.id for r in rows]), Delivery.claimed_by == worker[:64],
                                  Delivery.status == DeliveryStatus.SENDING)
                           .values(**values)
                           .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
