"""Badges, referrals, the rewards catalogue with vouchers, and owners' club events with registrations.

Seat and stock counters are the database's gate: a registration or a redemption raises the counter with
a conditional update and a CHECK constraint is the last word, so capacity and stock hold whatever the
concurrency.
"""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class BadgeRule(enum.StrEnum):
    """How a badge is earned; `Badge.threshold` is the number that rule counts to."""

    FIRST_SERVICE = "first_service"        # a completed service booking or a repair order
    CHECKIN_STREAK = "checkin_streak"      # a check-in streak of `threshold` days
    CLUB_REGULAR = "club_regular"          # attended `threshold` club events
    TOP_REFERRER = "top_referrer"          # `threshold` friends referred who bound
    BOOKINGS = "bookings"                  # `threshold` completed bookings
    MANUAL = "manual"                      # given by staff


class Badge(Base):
    """A badge of an account."""

    __tablename__ = "badges"
    __table_args__ = (sa.UniqueConstraint("account_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(50))
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    icon: Mapped[str] = mapped_column(sa.String(8), default="★")
    rule: Mapped[BadgeRule] = mapped_column(_enum(BadgeRule, 16))
    threshold: Mapped[int] = mapped_column(default=1)
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberBadge(Base):
    """A badge a member holds (once)."""

    __tablename__ = "member_badges"
    __table_args__ = (sa.UniqueConstraint("member_id", "badge_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    badge_id: Mapped[int] = mapped_column(sa.ForeignKey("badges.id"), index=True)
    awarded_at: Mapped[datetime] = mapped_column(default=utcnow)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))


class Referral(Base):
    """A friend brought in by a member's personal QR code; one referrer per friend, never oneself."""

    __tablename__ = "referrals"
    __table_args__ = (sa.CheckConstraint("referrer_id <> referee_id", name="not_self"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    referrer_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    referee_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    bound_at: Mapped[datetime | None]
    test_drive_at: Mapped[datetime | None]
    purchased_at: Mapped[datetime | None]


class RedemptionStatus(enum.StrEnum):
    ISSUED = "issued"
    USED = "used"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Reward(Base):
    """An item of a dealer's catalogue (or account-wide when `dealer_id` is empty)."""

    __tablename__ = "rewards"
    __table_args__ = (sa.CheckConstraint("cost > 0", name="cost"),
                      sa.CheckConstraint("stock >= 0", name="stock"),
                      sa.CheckConstraint("per_member_limit IS NULL OR per_member_limit > 0", name="limit"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    cost: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)            # left to redeem; the redemption's gate
    per_member_limit: Mapped[int | None]
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    voucher_days: Mapped[int] = mapped_column(default=30)    # a voucher can be used this long after redeeming
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Redemption(Base):
    """A redeemed reward: the points spent and the voucher the member shows; staff use it once."""

    __tablename__ = "redemptions"
    __table_args__ = (sa.Index("ix_redemptions_member_reward", "member_id", "reward_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    reward_id: Mapped[int] = mapped_column(sa.ForeignKey("rewards.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    entry_id: Mapped[int | None] = mapped_column(sa.ForeignKey("points_entries.id"))
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    request_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    points: Mapped[int]
    status: Mapped[RedemptionStatus] = mapped_column(_enum(RedemptionStatus, 12), default=RedemptionStatus.ISSUED)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class Audience(enum.StrEnum):
    """Who may register for a club event."""

    ALL = "all"            # every member of the account
    DEALER = "dealer"      # members whose home dealer is the event's dealer
    TIER = "tier"          # members at `min_tier_id` or above
    SEGMENT = "segment"    # members in a saved segment (issue 6)


class ClubEvent(Base):
    """An owners' club event; `seats_taken` (registrants and companions) never exceeds `capacity`."""

    __tablename__ = "club_events"
    __table_args__ = (sa.CheckConstraint("seats_taken >= 0 AND seats_taken <= capacity", name="seats"),
                      sa.CheckConstraint("ends_at > starts_at", name="span"),
                      sa.Index("ix_club_events_account_starts", "account_id", "starts_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(60))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    place: Mapped[str] = mapped_column(sa.String(200), default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    registration_deadline: Mapped[datetime]
    capacity: Mapped[int] = mapped_column(default=20)
    seats_taken: Mapped[int] = mapped_column(default=0)
    max_companions: Mapped[int] = mapped_column(default=2)
    points: Mapped[int] = mapped_column(default=0)            # paid once on attending (check-in)
    audience: Mapped[Audience] = mapped_column(_enum(Audience, 8), default=Audience.ALL)
    min_tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tiers.id"))
    segment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("segments.id"))
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus, 10), default=EventStatus.DRAFT)
    checkin_token: Mapped[str] = mapped_column(sa.String(32), unique=True)  # the QR scene `event:<token>`
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None]
    pushed_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]


class RegistrationStatus(enum.StrEnum):
    REGISTERED = "registered"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class EventRegistration(Base):
    """A member's registration (with companions); the waitlist is ordered by `registered_at`, then id."""

    __tablename__ = "event_registrations"
    __table_args__ = (sa.UniqueConstraint("event_id", "member_id"),
                      sa.CheckConstraint("companions >= 0", name="companions"),
                      sa.Index("ix_event_registrations_event_status", "event_id", "status", "registered_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("club_events.id"))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    companions: Mapped[int] = mapped_column(default=0)
    status: Mapped[RegistrationStatus] = mapped_column(_enum(RegistrationStatus, 12))
    registered_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    checked_in_at: Mapped[datetime | None]
