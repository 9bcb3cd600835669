"""Daily check-in (签到): once per member and local day, with streaks and streak bonuses.

The member row is locked first, so a burst of taps (or two devices) makes one check-in; the ledger's
idempotency key `checkin:<member>:<day>` is the final gate. A streak counts consecutive local days; the
STREAK_BONUS rule (params {"days": 7}) pays again each time the streak reaches a multiple of its days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from scrm import db
from scrm.models import Member, Trigger
from scrm.services import ledger, loyalty_rules


@dataclass(frozen=True)
class CheckIn:
    """The outcome: `already` when the member had checked in today (nothing paid again)."""

    member_id: int
    day: date
    already: bool
    points: int
    bonus: int
    streak: int
    best_streak: int
    balance: int
    bonus_every: int  # the streak bonus's period in days (0: no bonus rule)


def check_in(follower_id: int, now: datetime | None = None) -> CheckIn:
    """Check the follower in for today (their member row is made on first use)."""
    now = now or db.utcnow()
    today = now.astimezone(ledger.local_tz()).date()
    with db.transaction() as s:
        m = ledger.member_in(s, follower_id, lock=True)
        bonus_rule = loyalty_rules.resolve(s, m.account_id, m.dealer_id, Trigger.STREAK_BONUS)
        every = int((bonus_rule.params or {}).get("days", 0)) if bonus_rule is not None else 0
        if m.last_checkin_on == today:
            return CheckIn(m.id, today, True, 0, 0, m.streak, m.best_streak, m.balance, every)
        m.streak = m.streak + 1 if m.last_checkin_on == today - timedelta(days=1) else 1
        m.best_streak = max(m.best_streak, m.streak)
        m.last_checkin_on = today
        paid = ledger.earn_in(s, m.id, Trigger.CHECKIN, key=f"checkin:{m.id}:{today.isoformat()}",
                              source="member", source_id=today.isoformat(), now=now)
        bonus = 0
        if every > 0 and m.streak % every == 0:
            bonus = ledger.earn_in(s, m.id, Trigger.STREAK_BONUS, key=f"streak:{m.id}:{today.isoformat()}",
                                   source="member", source_id=str(m.streak), now=now).points
        return CheckIn(m.id, today, False, paid.points, bonus, m.streak, m.best_streak, m.balance, every)


@dataclass(frozen=True)
class Status:
    """A member's figures as the member sees them (a broken streak shows as 0)."""

    member_id: int
    balance: int
    tier_id: int | None
    streak: int
    best_streak: int
    checked_in_today: bool


def status(follower_id: int, now: datetime | None = None) -> Status | None:
    """The follower's loyalty figures, or None before their first loyalty use."""
    now = now or db.utcnow()
    today = now.astimezone(ledger.local_tz()).date()
    s = db.session()
    try:
        m = s.scalar(sa.select(Member).where(Member.follower_id == follower_id))
        if m is None:
            return None
        alive = m.last_checkin_on is not None and m.last_checkin_on >= today - timedelta(days=1)
        return Status(m.id, m.balance, m.tier_id, m.streak if alive else 0, m.best_streak,
                      m.last_checkin_on == today)
    finally:
        s.rollback()
