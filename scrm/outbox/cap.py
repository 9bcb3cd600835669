"""The frequency cap: at most N marketing messages per follower in a rolling window, across all
campaigns and journeys.

A row takes its place under the cap (`capped_at`) in a short transaction that locks its follower's row
first, so two workers sending two campaigns to one follower at the same moment cannot both pass. A
worker reserves the places of a whole claimed batch in one such transaction (three statements, the
followers locked in id order so two batches cannot deadlock). A row that ends up not sent gives its
place back (see scrm.outbox.outcome.record_many).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Delivery, Follower


def limits() -> tuple[int, int]:
    """(messages, days) of the account-wide cap; messages 0 means no cap."""
    outbox = runtime.get().settings.outbox
    return outbox.cap_count, outbox.cap_days


def reserve(delivery_id: int, follower_id: int, now: datetime) -> bool:
    """Give one row a place under its follower's cap; False when the cap is already reached."""
    return delivery_id in reserve_many([(delivery_id, follower_id)], now)


def reserve_many(rows: Iterable[tuple[int, int]], now: datetime) -> set[int]:
    """Give each (delivery id, follower id) a place under the cap, in id order; return the ids that got one.

    Rows of one follower in the same batch count against each other, exactly as if reserved one by one.
    """
    wanted = sorted(set(rows))
    count, days = limits()
    if count <= 0 or not wanted:
        return {d for d, _f in wanted}
    since = now - timedelta(days=days)
    ids = [d for d, _f in wanted]
    followers = sorted({f for _d, f in wanted})
    granted: set[int] = set()
    with db.transaction() as s:
        db.commit_without_flush_wait(s)   # a crash may only forget the places, never send twice
        lock = sa.select(Follower.id).where(db.among(Follower.id, followers)).order_by(Follower.id)
        if db.is_postgres():
            lock = lock.with_for_update()
        s.execute(lock)
        used: dict[int, int] = {f: int(n) for f, n in s.execute(
            sa.select(Delivery.follower_id, sa.func.count()).select_from(Delivery)
            .where(db.among(Delivery.follower_id, followers), Delivery.capped_at >= since,
                   db.not_among(Delivery.id, ids))
            .group_by(Delivery.follower_id)) if f is not None}
        for delivery_id, follower_id in wanted:
            if used.get(follower_id, 0) < count:
                used[follower_id] = used.get(follower_id, 0) + 1
                granted.add(delivery_id)
        if granted:
            s.execute(sa.update(Delivery).where(db.among(Delivery.id, sorted(granted))).values(capped_at=now)
                      .execution_options(synchronize_session=False))
    return granted
