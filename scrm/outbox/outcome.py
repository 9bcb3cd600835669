"""What became of one send attempt, and recording it in its own transaction after the call."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from scrm import db, metrics
from scrm.db import utcnow
from scrm.models import Delivery, DeliveryStatus, Follower
from scrm.outbox.claim import Claimed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """The result of handling one claimed row.

    `status` PENDING means "try again at `next_try_at`"; with `counts` False the claim is not
    counted as an attempt (quiet hours, a paused quota, a stop request: nothing was sent).
    """

    status: DeliveryStatus
    channel_used: str = ""
    wechat_msgid: str = ""
    error_code: int | None = None
    error: str = ""
    result: str = ""
    next_try_at: datetime | None = None
    counts: bool = True
    follower_unsubscribed: bool = False
    custom_sent: bool = False

    @property
    def label(self) -> str:
        """The metrics label: the final status, or retry/deferred for rows that stay pending."""
        if self.status == DeliveryStatus.PENDING:
            return "retry" if self.counts else "deferred"
        return self.status.value


def record(row: Claimed, worker: str, outcome: Outcome) -> bool:
    """Store the outcome; False when the row is no longer this worker's (the reaper took it)."""
    now = utcnow()
    values: dict[str, Any] = {"updated_at": now, "error_code": outcome.error_code, "error": outcome.error[:255]}
    if outcome.status == DeliveryStatus.PENDING:
        values.update(status=DeliveryStatus.PENDING, next_try_at=outcome.next_try_at or now,
                      claimed_at=None, claimed_by="")
        if not outcome.counts:
            values["attempts"] = Delivery.attempts - 1
    else:
        values.update(status=outcome.status, channel_used=outcome.channel_used,
                      wechat_msgid=outcome.wechat_msgid[:32], result=outcome.result[:64])
        if outcome.status == DeliveryStatus.SENT:
            values["sent_at"] = now
    if outcome.status not in (DeliveryStatus.SENT, DeliveryStatus.UNKNOWN):
        values["capped_at"] = None   # not sent: its place under the frequency cap is free again
    with db.transaction() as s:
        db.commit_without_flush_wait(s)   # lost in a crash -> the row reads `sending` -> unknown, never resent
        # `unknown` too: a slow call the reaper gave up on may still report its real outcome.
        done = s.execute(sa.update(Delivery)
                         .where(Delivery.id == row.id, Delivery.claimed_by == worker[:64],
                                Delivery.status.in_([DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN]))
                         .values(**values)
                         .execution_options(synchronize_session=False))
        if row.follower_id is not None and outcome.custom_sent:
            s.execute(sa.update(Follower).where(Follower.id == row.follower_id)
                      .values(cs_sent_since_interaction=Follower.cs_sent_since_interaction + 1)
                      .execution_options(synchronize_session=False))
        if row.follower_id is not None and outcome.follower_unsubscribed:
            s.execute(sa.update(Follower).where(Follower.id == row.follower_id, Follower.subscribed.is_(True))
                      .values(subscribed=False, unsubscribed_at=now)
                      .execution_options(synchronize_session=False))
    matched = bool(done.rowcount)  # type: ignore[attr-defined]
    if not matched:
        log.warning("delivery %s: outcome %s not recorded, the row is no longer claimed by %s",
                    row.id, outcome.label, worker)
    metrics.DELIVERIES.labels(channel=outcome.channel_used or row.channel.value, status=outcome.label).inc()
    return matched
