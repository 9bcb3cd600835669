"""The badge engine: award a badge once, in the transaction of its cause, when its rule is met.

Causes: a completed booking (FIRST_SERVICE for service kinds, BOOKINGS), a check-in (CHECKIN_STREAK),
and for club attendance and referrals `check_member_in`, called by those areas and by the daily job.
MemberBadge's UNIQUE (member, badge) is the gate: a repeated or raced cause awards once, and only the
winner publishes `BadgeAwarded` and writes the member's notice (outbox, deduplicated too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    Badge,
    BadgeRule,
    Booking,
    BookingStatus,
    CustomerBinding,
    EventRegistration,
    Follower,
    Member,
    MemberBadge,
    Referral,
    RegistrationStatus,
    RepairOrder,
    ServiceType,
)
from scrm.services import badges_notice, events_bus
from scrm.services.booking_events import SERVICE_KINDS, BookingCompleted
from scrm.services.ledger import member_in
from scrm.services.loyalty_events import PointsChanged

AUTOMATIC = (BadgeRule.FIRST_SERVICE, BadgeRule.CHECKIN_STREAK, BadgeRule.CLUB_REGULAR,
             BadgeRule.TOP_REFERRER, BadgeRule.BOOKINGS)


@dataclass(frozen=True)
class BadgeAwarded:
    """A member received a badge (by rule, or from staff when the badge is MANUAL)."""

    member_id: int
    account_id: int
    badge_id: int
    at: datetime


def award_in(s: Session, member: Member, badge: Badge, now: datetime, staff_id: int | None = None) -> bool:
    """Give `badge` to `member` unless held; True when this call awarded it (then published and noticed)."""
    held = sa.select(MemberBadge.id).where(MemberBadge.member_id == member.id, MemberBadge.badge_id == badge.id)
    if s.scalar(held) is not None:
        return False
    try:
        with s.begin_nested():
            s.add(MemberBadge(member_id=member.id, badge_id=badge.id, awarded_at=now, staff_id=staff_id))
    except IntegrityError:
        return False  # a concurrent cause awarded it first
    events_bus.publish(s, BadgeAwarded(member_id=member.id, account_id=member.account_id, badge_id=badge.id,
                                       at=now))
    badges_notice.enqueue_awarded(s, member, badge)
    return True


def _bound(member: Member) -> sa.Select[int]:
    """The customer records the member's follower is bound to."""
    return sa.select(CustomerBinding.customer_id).where(CustomerBinding.follower_id == member.follower_id)


def _follower_bookings(member: Member) -> sa.ColumnElement[bool]:
    """Bookings that are the member's: made by their follower, or of a customer record they are bound to."""
    return sa.or_(Booking.follower_id == member.follower_id, Booking.customer_id.in_(_bound(member)))


def progress_in(s: Session, member: Member, rule: BadgeRule) -> int:
    """The member's figure that `rule` counts (a streak, completed bookings, events attended, friends bound)."""
    if rule == BadgeRule.CHECKIN_STREAK:
        return member.streak
    if rule in (BadgeRule.BOOKINGS, BadgeRule.FIRST_SERVICE):
        stmt = sa.select(sa.func.count(sa.distinct(Booking.id))).where(
            Booking.account_id == member.account_id, Booking.status == BookingStatus.COMPLETED,
            _follower_bookings(member))
        if rule == BadgeRule.BOOKINGS:
            return int(s.scalar(stmt) or 0)
        visits = int(s.scalar(stmt.join(ServiceType, ServiceType.id == Booking.service_type_id).where(
            ServiceType.kind.in_(SERVICE_KINDS))) or 0)
        orders = int(s.scalar(sa.select(sa.func.count()).select_from(RepairOrder).where(
            RepairOrder.account_id == member.account_id, RepairOrder.customer_id.in_(_bound(member)))) or 0)
        return visits + orders
    if rule == BadgeRule.CLUB_REGULAR:
        return int(s.scalar(sa.select(sa.func.count()).select_from(EventRegistration).where(
            EventRegistration.member_id == member.id,
            EventRegistration.status == RegistrationStatus.ATTENDED)) or 0)
    if rule == BadgeRule.TOP_REFERRER:
        return int(s.scalar(sa.select(sa.func.count()).select_from(Referral).where(
            Referral.referrer_id == member.id, Referral.bound_at.is_not(None))) or 0)
    return 0


def _candidates(s: Session, member: Member, rules: tuple[BadgeRule, ...]) -> list[Badge]:
    """The account's active badges of `rules` that the member does not hold yet."""
    held = sa.select(MemberBadge.badge_id).where(MemberBadge.member_id == member.id)
    return list(s.scalars(sa.select(Badge).where(
        Badge.account_id == member.account_id, Badge.active.is_(True), Badge.rule.in_(rules),
        Badge.id.not_in(held)).order_by(Badge.sort_order, Badge.id)))


def check_in_session(s: Session, member: Member, now: datetime,
                     rules: tuple[BadgeRule, ...] = AUTOMATIC) -> list[int]:
    """Award every badge of `rules` whose threshold the member has reached; return the new badge ids."""
    awarded: list[int] = []
    figures: dict[BadgeRule, int] = {}
    for badge in _candidates(s, member, rules):
        if badge.rule not in figures:
            figures[badge.rule] = progress_in(s, member, badge.rule)
        if figures[badge.rule] >= max(badge.threshold, 1) and award_in(s, member, badge, now):
            awarded.append(badge.id)
    return awarded


def check_member_in(s: Session, member_id: int, now: datetime | None = None) -> list[int]:
    """Re-check every automatic badge of one member in the caller's transaction (club check-in, referrals)."""
    member = s.get(Member, member_id)
    if member is None:
        return []
    return check_in_session(s, member, now or db.utcnow())


def booking_followers_in(s: Session, b: Booking) -> list[int]:
    """The booking's follower, else the subscribed followers bound to its customer at its dealer."""
    if b.follower_id is not None:
        return [b.follower_id]
    if b.customer_id is None:
        return []
    return list(s.scalars(
        sa.select(CustomerBinding.follower_id).join(Follower, Follower.id == CustomerBinding.follower_id)
        .where(CustomerBinding.customer_id == b.customer_id, CustomerBinding.dealer_id == b.dealer_id,
               Follower.subscribed.is_(True), Follower.account_id == b.account_id)
        .order_by(CustomerBinding.id)))


def on_booking_completed(s: Session, event: BookingCompleted) -> None:
    """A completed visit: FIRST_SERVICE (service kinds) and BOOKINGS for the booking's members."""
    s.flush()
    b = s.get(Booking, event.booking_id)
    if b is None:
        return
    kind = s.scalar(sa.select(ServiceType.kind).where(ServiceType.id == b.service_type_id))
    rules = (BadgeRule.FIRST_SERVICE, BadgeRule.BOOKINGS) if kind in SERVICE_KINDS else (BadgeRule.BOOKINGS,)
    has_badges = s.scalar(sa.select(Badge.id).where(Badge.account_id == b.account_id, Badge.active.is_(True),
                                                    Badge.rule.in_(rules)).limit(1))
    if has_badges is None:
        return
    now = event.completed_at or db.utcnow()
    for follower_id in dict.fromkeys(booking_followers_in(s, b)):
        check_in_session(s, member_in(s, follower_id), now, rules)


_ON_POINTS = {"checkin": (BadgeRule.CHECKIN_STREAK,), "repair_order": (BadgeRule.FIRST_SERVICE,)}


def on_points_changed(s: Session, event: PointsChanged) -> None:
    """A check-in (CHECKIN_STREAK) or a repair order paid (FIRST_SERVICE): award what is now reached."""
    rules = _ON_POINTS.get(event.reason)
    if rules is None or event.points <= 0:
        return
    member = s.get(Member, event.member_id)
    if member is not None:
        check_in_session(s, member, event.at, rules)


def recheck_all(now: datetime | None = None, batch: int = 500) -> int:
    """The daily job: re-check club attendance, referrals and streaks (badges added since, missed causes)."""
    now = now or db.utcnow()
    rules = (BadgeRule.CLUB_REGULAR, BadgeRule.TOP_REFERRER, BadgeRule.CHECKIN_STREAK)
    with db.transaction() as s:
        accounts = list(s.scalars(sa.select(Badge.account_id).where(
            Badge.active.is_(True), Badge.rule.in_(rules)).distinct()))
        attended = sa.select(EventRegistration.member_id).where(
            EventRegistration.status == RegistrationStatus.ATTENDED)
        referred = sa.select(Referral.referrer_id).where(Referral.bound_at.is_not(None))
        least_streak = s.scalar(sa.select(sa.func.min(Badge.threshold)).where(
            Badge.active.is_(True), Badge.rule == BadgeRule.CHECKIN_STREAK)) or 0
        streaked = Member.streak >= least_streak if least_streak else sa.false()
        ids = list(s.scalars(sa.select(Member.id).where(
            Member.account_id.in_(accounts),
            sa.or_(Member.id.in_(attended), Member.id.in_(referred), streaked))
            .order_by(Member.id))) if accounts else []
    total = 0
    for i in range(0, len(ids), batch):
        with db.transaction() as s:
            for member in s.scalars(sa.select(Member).where(Member.id.in_(ids[i:i + batch])).order_by(Member.id)):
                total += len(check_in_session(s, member, now, rules))
    return total


events_bus.subscribe(BookingCompleted, on_booking_completed, name="badges.booking_completed")
events_bus.subscribe(PointsChanged, on_points_changed, name="badges.points_changed")
