"""The frequency cap: at most N marketing messages per follower in a rolling window, across all
campaigns and journeys.

A row takes its place under the cap (`capped_at`) in a short transaction that locks the follower's row
first, so two workers sending two campaigns to one follower at the same moment cannot both pass. A row
that ends up not sent gives its place back (see scrm.outbox.outcome.record).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Delivery, Follower


def limits() -> tuple[int, int]:
    """(messages, days) of the account-wide cap; messages 0 means no cap."""
    outbox = runtime.get().settings.outbox
    return outbox.cap_count, outbox.cap_days


def reserve(delivery_id: int, follower_id: int, now: datetime) -> bool:
    """Give the row a place under the follower's cap; False when the cap is already reached."""
    count, days = limits()
    if count <= 0:
        return True
    since = now - timedelta(days=days)
    with db.transaction() as s:
        db.commit_without_flush_wait(s)   # a crash may only forget the place, never send twice
        lock = sa.select(Follower.id).where(Follower.id == follower_id)
        if db.is_postgres():
            lock = lock.with_for_update()
        s.execute(lock)
        used = s.scalar(sa.select(sa.func.count()).select_from(Delivery)
                        .where(Delivery.follower_id == follower_id, Delivery.capped_at >= since,
                               Delivery.id != delivery_id)) or 0
        if used >= count:
            return False
        s.execute(sa.update(Delivery).where(Delivery.id == delivery_id).values(capped_at=now)
                  .execution_options(synchronize_session=False))
    return True
