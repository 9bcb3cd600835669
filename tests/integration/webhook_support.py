"""Helpers for the gateway's integration tests: state snapshots and test-only routers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Delivery, Follower, MessageLog
from scrm.wechat.gateway import gateway_for
from scrm.wechat.router import Router


def snapshot() -> dict[str, int]:
    """Row counts and dedupe keys: what a refused request must not change."""
    rt = runtime.get()
    with db.transaction() as s:
        counts = {name: int(s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)
                  for name, model in (("followers", Follower), ("logs", MessageLog), ("deliveries", Delivery))}
    counts["seen_keys"] = len(list(rt.redis.scan_iter(match=rt.key("seen", "*"), count=1000)))
    counts["conv_keys"] = len(list(rt.redis.scan_iter(match=rt.key("conv", "*"), count=1000)))
    return counts


@contextmanager
def extra_router(app: Any, router: Router, index: int = 0) -> Iterator[Router]:
    """Put a test-only router in the app's dispatcher for the duration of a test."""
    dispatcher = gateway_for(app).dispatcher
    dispatcher.add(router, index)
    try:
        yield router
    finally:
        dispatcher.remove(router)


def logs(direction: str | None = None) -> list[MessageLog]:
    """Message log rows in insertion order."""
    with db.transaction() as s:
        stmt = sa.select(MessageLog).order_by(MessageLog.id)
        if direction:
            stmt = stmt.where(MessageLog.direction == direction)
        return list(s.scalars(stmt))


def follower(openid: str) -> Follower | None:
    """The follower row with this openid."""
    with db.transaction() as s:
        return s.scalar(sa.select(Follower).where(Follower.openid == openid))


def deliveries() -> list[Delivery]:
    """Every outbox row."""
    with db.transaction() as s:
        return list(s.scalars(sa.select(Delivery).order_by(Delivery.id)))
