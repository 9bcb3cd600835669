"""Rows left `sending` past their lease were caught mid-call by a crash: mark them `unknown`.

Whether WeChat received such a message cannot be known, so it is reported and never resent:
a missed push is better than a double one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from scrm import db, metrics, runtime
from scrm.db import utcnow
from scrm.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)
REASON = "worker stopped mid-send (lease expired); the message may or may not have been delivered"


def reap(now: datetime | None = None) -> int:
    """Mark every row whose lease has expired as `unknown`; return how many."""
    now = now or utcnow()
    lease = timedelta(seconds=runtime.get().settings.outbox.lease_seconds)
    stmt = (sa.update(Delivery)
            .where(Delivery.status == DeliveryStatus.SENDING, Delivery.claimed_at < now - lease)
            .values(status=DeliveryStatus.UNKNOWN, error=REASON, updated_at=now)
            .returning(Delivery.id, Delivery.channel, Delivery.claimed_by)
            .execution_options(synchronize_session=False))
    with db.transaction() as s:
        rows = s.execute(stmt).all()
    for row in rows:
        log.error("delivery %s (%s) was left sending by %s: marked unknown, not resent",
                  row.id, row.channel, row.claimed_by)
        metrics.DELIVERIES.labels(channel=str(row.channel), status="unknown").inc()
    return len(rows)
