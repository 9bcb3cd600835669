"""Read helpers over the outbox for the admin pages: counts by status, recent rows, one row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import Channel, Delivery, DeliveryStatus
from scrm.services.errors import NotFound
from scrm.services.scope import Scope

MAX_RECENT = 200


@dataclass(frozen=True)
class DeliveryView:
    """One delivery as a page shows it (no payload secrets, openid kept for masking by the view)."""

    id: int
    dealer_id: int | None
    follower_id: int | None
    openid: str
    channel: str
    channel_used: str
    purpose: str
    status: str
    attempts: int
    next_try_at: datetime
    sent_at: datetime | None
    error_code: int | None
    error: str
    result: str
    created_at: datetime


def _view(d: Delivery) -> DeliveryView:
    return DeliveryView(id=d.id, dealer_id=d.dealer_id, follower_id=d.follower_id, openid=d.openid,
                        channel=Channel(d.channel).value, channel_used=d.channel_used, purpose=d.purpose,
                        status=DeliveryStatus(d.status).value, attempts=d.attempts, next_try_at=d.next_try_at,
                        sent_at=d.sent_at, error_code=d.error_code, error=d.error, result=d.result,
                        created_at=d.created_at)


def counts_by_status(scope: Scope, *, since: datetime | None = None, purpose: str | None = None) -> dict[str, int]:
    """How many deliveries in scope are in each status (every status present, zeros included)."""
    stmt = (sa.select(Delivery.status, sa.func.count()).where(scope.condition(Delivery))
            .group_by(Delivery.status))
    if since is not None:
        stmt = stmt.where(Delivery.created_at >= since)
    if purpose:
        stmt = stmt.where(Delivery.purpose == purpose)
    counts = {s.value: 0 for s in DeliveryStatus}
    with db.transaction() as s:
        for status, n in s.execute(stmt):
            counts[DeliveryStatus(status).value] = int(n)
    return counts


def recent(scope: Scope, *, limit: int = 50, status: str | None = None, follower_id: int | None = None,
           purpose: str | None = None) -> list[DeliveryView]:
    """The newest deliveries in scope, optionally of one status, follower or purpose."""
    stmt = scope.apply(sa.select(Delivery), Delivery)
    if status:
        try:
            stmt = stmt.where(Delivery.status == DeliveryStatus(status))
        except ValueError:
            return []
    if follower_id is not None:
        stmt = stmt.where(Delivery.follower_id == follower_id)
    if purpose:
        stmt = stmt.where(Delivery.purpose == purpose)
    stmt = stmt.order_by(Delivery.id.desc()).limit(max(1, min(limit, MAX_RECENT)))
    with db.transaction() as s:
        return [_view(d) for d in s.scalars(stmt)]


def get_delivery(scope: Scope, delivery_id: int) -> DeliveryView:
    """One delivery in scope; NotFound otherwise."""
    with db.transaction() as s:
        return _view(scope.get(s, Delivery, delivery_id))


def needs_attention(scope: Scope, limit: int = 50) -> list[DeliveryView]:
    """Rows staff should look at: `unknown` (maybe delivered, never resent) and `failed`, newest first."""
    stmt = scope.apply(sa.select(Delivery), Delivery).where(
        Delivery.status.in_([DeliveryStatus.UNKNOWN, DeliveryStatus.FAILED]))
    stmt = stmt.order_by(Delivery.id.desc()).limit(max(1, min(limit, MAX_RECENT)))
    with db.transaction() as s:
        return [_view(d) for d in s.scalars(stmt)]


def payload_of(scope: Scope, delivery_id: int) -> dict[str, Any]:
    """The message body of one delivery in scope (for a detail page)."""
    with db.transaction() as s:
        row = s.get(Delivery, delivery_id)
        if row is None or not scope.allows(row):
            raise NotFound()
        return dict(row.payload or {})
