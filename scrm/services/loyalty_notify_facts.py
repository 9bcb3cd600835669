"""A member's loyalty figures as the member reads them (chat replies and notices): balance, tier, progress,
streak and the points about to expire. Read-only: nothing is created for a follower who never took part.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Follower, Member, PointsEntry
from scrm.services import checkin, ledger, loyalty_rules, tiers


@dataclass(frozen=True)
class Figures:
    """What 积分 shows: `expiring` points leave by `expiring_on` (a local date), within `warning_days`."""

    balance: int
    tier: str
    next_tier: str
    to_next: int
    earned_12m: int
    streak: int
    best_streak: int
    checked_in_today: bool
    expiring: int
    expiring_on: date | None
    warning_days: int


def expiring_in(s: Session, member_id: int, now: datetime, days: int) -> tuple[int, datetime | None]:
    """Points left in the member's lots expiring after `now` and within `days`, and the soonest expiry."""
    total, first = s.execute(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.remaining), 0),
                                       sa.func.min(PointsEntry.expires_at)).where(
        PointsEntry.member_id == member_id, PointsEntry.remaining > 0,
        PointsEntry.expires_at > now, PointsEntry.expires_at <= now + timedelta(days=days))).one()
    return int(total or 0), first


def local_day(value: datetime) -> date:
    """The local date (the ledger's time zone: the one lot expiries are cut in) of an instant."""
    if value.tzinfo is None:   # SQLite hands back naive UTC
        value = value.replace(tzinfo=db.utcnow().tzinfo)
    return value.astimezone(ledger.local_tz()).date()


def figures(follower_id: int, now: datetime | None = None) -> Figures:
    """The follower's figures (zeros, and the entry tier, before their first loyalty use)."""
    now = now or db.utcnow()
    st = checkin.status(follower_id, now)   # its own read, before ours
    s = db.session()
    try:
        account_id = s.scalar(sa.select(Follower.account_id).where(Follower.id == follower_id))
        days = loyalty_rules.settings_of(s, int(account_id)).expiry_warning_days if account_id else 30
        m = s.scalar(sa.select(Member).where(Member.follower_id == follower_id))
        if m is None:
            ladder = tiers.ladder(s, int(account_id)) if account_id else []
            first, above = tiers.tier_for(ladder, 0), [t for t in ladder if t.threshold > 0]
            return Figures(0, first.name if first else "", above[0].name if above else "",
                           above[0].threshold if above else 0, 0, 0, 0, False, 0, None, days)
        p = tiers.progress_in(s, m, now)
        points, soonest = expiring_in(s, m.id, now, days)
        return Figures(balance=m.balance, tier=p.tier.name if p.tier else "",
                       next_tier=p.next_tier.name if p.next_tier else "", to_next=p.to_next,
                       earned_12m=p.earned_12m, streak=st.streak if st else 0,
                       best_streak=st.best_streak if st else 0,
                       checked_in_today=bool(st and st.checked_in_today), expiring=points,
                       expiring_on=local_day(soonest) if soonest else None, warning_days=days)
    finally:
        s.rollback()
