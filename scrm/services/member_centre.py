"""What the member centre shows a follower: balance, tier progress, streak, expiring points, history, badges.

Read-only: figures come from the ledger (scrm.services.ledger), tiers.progress_in and checkin's streak rule;
a follower without a member row yet sees zeros (the row is made by their first check-in or earning).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Badge, EntryKind, Member, MemberBadge, PointsEntry
from scrm.services import checkin, ledger, loyalty_rules, tiers
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate

PER_PAGE = 20
REASON_LABELS: dict[str, str] = {
    "checkin": N_("Daily check-in"),
    "streak_bonus": N_("Check-in streak bonus"),
    "binding": N_("Linked your owner account"),
    "booking_completed": N_("Completed a booking"),
    "repair_order": N_("Service and repair order"),
    "event_attended": N_("Attended an owners' event"),
    "birthday": N_("Birthday gift"),
    "profile_completed": N_("Completed your profile"),
    "referral_bind": N_("A friend you invited linked up"),
    "referral_test_drive": N_("A friend you invited took a test drive"),
    "referral_purchase": N_("A friend you invited bought a car"),
    "redemption": N_("Redeemed a reward"),
    "staff": N_("Adjusted by the dealer"),
    "expiry": N_("Points expired"),
}
OTHER_REASON = N_("Points")


@dataclass(frozen=True)
class HistoryLine:
    """One ledger entry as the member reads it (time already local)."""

    at: datetime
    points: int
    reason: str  # a msgid from REASON_LABELS
    kind: EntryKind


@dataclass(frozen=True)
class Expiring:
    """Points of open lots that expire on one local day."""

    day: date
    points: int


@dataclass(frozen=True)
class BadgeHeld:
    """A badge the member holds."""

    icon: str
    name: str
    description: str
    awarded_on: date


@dataclass(frozen=True)
class Overview:
    """Everything on the member centre page."""

    member_id: int | None
    balance: int
    earned_12m: int
    tier_name: str
    tier_benefits: str
    next_tier_name: str
    to_next: int
    percent: int  # progress from this tier's threshold to the next one, 0-100
    streak: int
    best_streak: int
    checked_in_today: bool
    expiring: list[Expiring] = field(default_factory=list)
    warning_days: int = 30
    badges: list[BadgeHeld] = field(default_factory=list)
    history: Page[HistoryLine] | None = None


def reason_label(reason: str) -> str:
    """The msgid naming a ledger reason."""
    return REASON_LABELS.get(reason, OTHER_REASON)


def _percent(earned: int, progress: tiers.Progress) -> int:
    if progress.next_tier is None:
        return 100
    low = progress.tier.threshold if progress.tier is not None else 0
    span = progress.next_tier.threshold - low
    return max(0, min(100, (earned - low) * 100 // span)) if span > 0 else 0


def _expiring(s: Session, member_id: int, now: datetime, days: int) -> list[Expiring]:
    tz = ledger.local_tz()
    rows = s.execute(sa.select(PointsEntry.expires_at, PointsEntry.remaining).where(
        PointsEntry.member_id == member_id, PointsEntry.remaining > 0, PointsEntry.expires_at > now,
        PointsEntry.expires_at <= now + timedelta(days=days)).order_by(PointsEntry.expires_at))
    by_day: dict[date, int] = {}
    for expires_at, remaining in rows:
        if expires_at is None:
            continue
        day = expires_at.astimezone(tz).date()
        by_day[day] = by_day.get(day, 0) + int(remaining or 0)
    return [Expiring(d, p) for d, p in by_day.items()]


def _badges(s: Session, member_id: int) -> list[BadgeHeld]:
    tz = ledger.local_tz()
    rows = s.execute(sa.select(Badge.icon, Badge.name, Badge.description, MemberBadge.awarded_at)
                     .join(MemberBadge, MemberBadge.badge_id == Badge.id)
                     .where(MemberBadge.member_id == member_id)
                     .order_by(Badge.sort_order, MemberBadge.awarded_at, Badge.id))
    return [BadgeHeld(icon or "★", name, description or "", at.astimezone(tz).date())
            for icon, name, description, at in rows]


def _history(s: Session, member_id: int, page: int) -> Page[HistoryLine]:
    tz = ledger.local_tz()
    stmt = (sa.select(PointsEntry.created_at, PointsEntry.points, PointsEntry.reason, PointsEntry.kind)
            .where(PointsEntry.member_id == member_id)
            .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc()))
    raw = paginate(s, cast("sa.Select[Any]", stmt), page, PER_PAGE)
    lines = [HistoryLine(at.astimezone(tz), int(points), reason_label(reason), kind)
             for at, points, reason, kind in raw.items]
    return Page(items=lines, page=raw.page, per_page=raw.per_page, total=raw.total)


def overview(follower_id: int, page: int = 1, now: datetime | None = None) -> Overview:
    """The follower's member centre figures (history page `page`, newest first)."""
    now = now or db.utcnow()
    status = checkin.status(follower_id, now)
    with db.transaction() as s:
        m = s.scalar(sa.select(Member).where(Member.follower_id == follower_id))
        if m is None or status is None:
            empty: Page[HistoryLine] = Page(items=[], page=1, per_page=PER_PAGE, total=0)
            return Overview(None, 0, 0, "", "", "", 0, 0, 0, 0, False, history=empty)
        progress = tiers.progress_in(s, m, now)
        warning = loyalty_rules.settings_of(s, m.account_id).expiry_warning_days
        return Overview(
            member_id=m.id, balance=m.balance, earned_12m=progress.earned_12m,
            tier_name=progress.tier.name if progress.tier else "",
            tier_benefits=progress.tier.benefits if progress.tier else "",
            next_tier_name=progress.next_tier.name if progress.next_tier else "", to_next=progress.to_next,
            percent=_percent(progress.earned_12m, progress), streak=status.streak, best_streak=status.best_streak,
            checked_in_today=status.checked_in_today, expiring=_expiring(s, m.id, now, warning),
            warning_days=warning, badges=_badges(s, m.id), history=_history(s, m.id, page))
