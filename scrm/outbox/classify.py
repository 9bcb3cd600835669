"""What WeChat's answer to a send means for the row: sent, retry later, pause the account, or give up."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Channel, Delivery, DeliveryStatus
from scrm.outbox import policy
from scrm.outbox.claim import Claimed
from scrm.outbox.outcome import Outcome
from scrm.wechat.errors import (
    AccountMisconfigured,
    AlreadySent,
    NetworkError,
    QuotaExceeded,
    RateLimited,
    Unsubscribed,
    WeChatError,
)

log = logging.getLogger(__name__)
MISCONFIG_PAUSE = timedelta(minutes=10)


def _backoff(row: Claimed, now: datetime, error: WeChatError) -> Outcome:
    """Try again later, or give up once the row has used its attempts."""
    max_attempts = runtime.get().settings.outbox.max_attempts
    if row.attempts >= max_attempts:
        return Outcome(DeliveryStatus.FAILED, error_code=error.errcode,
                       error=f"gave up after {row.attempts} attempts: {error.describe()}")
    delay = 5 * row.attempts if isinstance(error, RateLimited) else min(30 * 2 ** (row.attempts - 1), 3600)
    return Outcome(DeliveryStatus.PENDING, error_code=error.errcode, error=error.describe(),
                   next_try_at=now + timedelta(seconds=delay))


def _defer_quota(row: Claimed, api: str, error: QuotaExceeded, now: datetime) -> Outcome:
    """45009: pause this API of the account until the quota resets and park its pending rows there."""
    reset = policy.next_quota_reset(now)
    policy.pause(row.account_id, api, reset, error.describe())
    with db.transaction() as s:
        s.execute(sa.update(Delivery)
                  .where(Delivery.account_id == row.account_id, Delivery.channel == Channel(api),
                         Delivery.status == DeliveryStatus.PENDING, Delivery.next_try_at < reset)
                  .values(next_try_at=reset, updated_at=now)
                  .execution_options(synchronize_session=False))
    log.warning("account %s: %s quota exhausted (45009), paused until %s", row.account_id, api, reset.isoformat())
    return Outcome(DeliveryStatus.PENDING, error_code=error.errcode, counts=False, next_try_at=reset,
                   error=f"daily quota exhausted, paused until {reset.isoformat()}")


def classify(row: Claimed, exc: WeChatError, channel: Channel, now: datetime) -> Outcome:
    """Turn a WeChat error into the row's next state."""
    used = channel.value
    if isinstance(exc, AlreadySent):
        # Our clientmsgid is per row: WeChat took this very row before (a retry after a lost answer).
        return Outcome(DeliveryStatus.SENT, channel_used=used, error_code=exc.errcode, result="already_sent",
                       error="WeChat already accepted this send earlier (clientmsgid reused)", at=now)
    if isinstance(exc, QuotaExceeded):
        return _defer_quota(row, used, exc, now)
    if isinstance(exc, AccountMisconfigured):
        policy.pause(row.account_id, policy.ALL_APIS, now + MISCONFIG_PAUSE, exc.describe())
        log.error("account %s cannot call WeChat: %s (sending paused for 10 minutes)", row.account_id, exc)
        return Outcome(DeliveryStatus.PENDING, error_code=exc.errcode, error=exc.describe(), counts=False,
                       next_try_at=now + MISCONFIG_PAUSE)
    if isinstance(exc, NetworkError) and exc.unknown_outcome:
        log.warning("delivery %s: outcome unknown (%s); not resending", row.id, exc)
        return Outcome(DeliveryStatus.UNKNOWN, channel_used=used, error=f"outcome unknown: {exc.describe()}")
    if exc.transient:
        return _backoff(row, now, exc)
    return Outcome(DeliveryStatus.FAILED, channel_used=used, error_code=exc.errcode, error=exc.describe(),
                   follower_unsubscribed=isinstance(exc, Unsubscribed))
