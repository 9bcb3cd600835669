"""Loyalty: members, the append-only points ledger, earning rules with caps, and tiers.

A member is one follower of one account (points belong to the WeChat identity, so they start before a
follower binds to a customer record). The ledger is append-only: an earn entry is a "lot" whose
`remaining` falls as points are spent (soonest-expiring first, recorded in PointsAllocation) or expire;
nothing is ever deleted or rewritten except a lot's `remaining`. Every entry has a unique
idempotency key: the same cause never pays twice.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class EntryKind(enum.StrEnum):
    EARN = "earn"      # positive; a lot that can be spent until it expires
    SPEND = "spend"    # negative; drawn from the lots that expire soonest
    EXPIRE = "expire"  # negative; what was left of a lot at its expiry
    ADJUST = "adjust"  # staff correction with a reason: positive (a lot) or negative (drawn like a spend)


class Trigger(enum.StrEnum):
    """What an earning rule pays for."""

    CHECKIN = "checkin"                    # daily 签到
    STREAK_BONUS = "streak_bonus"          # params: {"days": 7} -> points on reaching a streak of 7, 14, ...
    BINDING = "binding"                    # first binding to a customer record at a dealer
    BOOKING_COMPLETED = "booking_completed"
    REPAIR_ORDER = "repair_order"          # `points` per `per_amount` yuan of the order
    EVENT_ATTENDED = "event_attended"
    BIRTHDAY = "birthday"
    PROFILE_COMPLETED = "profile_completed"
    REFERRAL_BIND = "referral_bind"        # to the referrer, when the friend binds
    REFERRAL_TEST_DRIVE = "referral_test_drive"
    REFERRAL_PURCHASE = "referral_purchase"


class LoyaltySettings(Base):
    """An account's points policy; an account without a row uses these defaults."""

    __tablename__ = "loyalty_settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), unique=True)
    valid_months: Mapped[int] = mapped_column(default=24)         # an earned lot expires this long after
    expiry_warning_days: Mapped[int] = mapped_column(default=30)  # tell the member this long before
    tier_warning_days: Mapped[int] = mapped_column(default=30)    # ...and before a tier would drop
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Member(Base):
    """A follower taking part in loyalty; the cached figures are checked against the ledger (see ledger.verify)."""

    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    follower_id: Mapped[int] = mapped_column(sa.ForeignKey("followers.id"), unique=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)  # home dealer
    referral_code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    referrer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    balance: Mapped[int] = mapped_column(default=0)             # cache of sum(points)
    tier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tiers.id"))
    tier_since: Mapped[datetime | None]
    streak: Mapped[int] = mapped_column(default=0)              # consecutive local days checked in
    best_streak: Mapped[int] = mapped_column(default=0)
    last_checkin_on: Mapped[date | None]
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsEntry(Base):
    """One line of the ledger; `points` is signed. Earn and positive adjust entries are lots."""

    __tablename__ = "points_entries"
    __table_args__ = (
        sa.CheckConstraint("points <> 0", name="nonzero"),
        sa.CheckConstraint("remaining IS NULL OR (remaining >= 0 AND remaining <= points)", name="remaining"),
        # a member's history and the rolling 12-month earned figure (covering: the sum reads the index only)
        sa.Index("ix_points_entries_member_created", "member_id", "created_at",
                 postgresql_include=["points", "kind"]),
        # caps: what a rule paid a member in a day or month
        sa.Index("ix_points_entries_member_reason_created", "member_id", "reason", "created_at"),
        # the expiry job and spending: open lots by expiry
        sa.Index("ix_points_entries_open_lots", "member_id", "expires_at",
                 postgresql_where=sa.text("remaining > 0"), sqlite_where=sa.text("remaining > 0")),
        sa.Index("ix_points_entries_expiring", "expires_at",
                 postgresql_where=sa.text("remaining > 0"), sqlite_where=sa.text("remaining > 0")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    kind: Mapped[EntryKind] = mapped_column(_enum(EntryKind, 8))
    points: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(32))       # a Trigger value, "redemption", "staff", ...
    source: Mapped[str] = mapped_column(sa.String(16))       # booking, repair_order, event, staff, member, system
    source_id: Mapped[str] = mapped_column(sa.String(64), default="")
    idempotency_key: Mapped[str] = mapped_column(sa.String(128), unique=True)
    remaining: Mapped[int | None]                            # lots only
    expires_at: Mapped[datetime | None]                      # lots only
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PointsAllocation(Base):
    """Which lots a spend (or negative adjust, or expiry) drew on, and how much from each."""

    __tablename__ = "points_allocations"
    __table_args__ = (sa.CheckConstraint("points > 0", name="positive"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("points_entries.id"), index=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("points_entries.id"), index=True)
    points: Mapped[int]


class EarningRule(Base):
    """Points for one trigger, account-wide (`dealer_id` empty) or for one dealer (which then wins)."""

    __tablename__ = "earning_rules"
    __table_args__ = (sa.UniqueConstraint("account_id", "dealer_id", "trigger"),
                      sa.CheckConstraint("points >= 0", name="points"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"))
    trigger: Mapped[Trigger] = mapped_column(_enum(Trigger, 24))
    points: Mapped[int] = mapped_column(default=0)
    per_amount: Mapped[int | None]        # repair orders: `points` per this many yuan
    daily_cap: Mapped[int | None]         # points this rule may pay one member in a local day
    monthly_cap: Mapped[int | None]       # ...and in a local calendar month
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tier(Base):
    """A level reached by points earned over the last 12 months (not the balance)."""

    __tablename__ = "tiers"
    __table_args__ = (sa.UniqueConstraint("account_id", "code"),
                      sa.CheckConstraint("threshold >= 0", name="threshold"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    code: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(50))
    threshold: Mapped[int] = mapped_column(default=0)
    benefits: Mapped[str] = mapped_column(sa.Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
