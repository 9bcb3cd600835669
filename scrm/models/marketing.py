"""Segments, campaigns with their audiences, journeys with their enrolments, and tracked links.

A campaign's audience is materialised per occurrence (a recurring campaign runs many) into
`campaign_members`, one row per follower with its arm: a variant key, or `holdout` for the control
group that is measured but never sent to. Deliveries for the sending arms are written from it in one
statement; their dedupe keys make a second write a no-op.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow

HOLDOUT = "holdout"


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class Segment(Base):
    """A saved audience definition: AND/OR groups of field conditions (see scrm.services.segment_compile)."""

    __tablename__ = "segments"
    __table_args__ = (sa.Index("ix_segments_account_dealer", "account_id", "dealer_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"))  # None: every dealer of the account
    name: Mapped[str] = mapped_column(sa.String(100))
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    definition: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    last_count: Mapped[int | None]
    last_counted_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived_at: Mapped[datetime | None]


class CampaignChannel(enum.StrEnum):
    """How a campaign reaches its audience."""

    AUTO = "auto"          # customer-service message inside the 48-hour window, template message otherwise
    CUSTOM = "custom"      # customer-service message only (followers outside the window are skipped)
    TEMPLATE = "template"  # template message only
    MASS = "mass"          # one mass send to a WeChat tag holding the audience


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"    # waiting for its time (or its next recurrence)
    RUNNING = "running"        # deliveries materialised and being sent
    PAUSED = "paused"          # by staff, or by WeChat's daily quota (see pause_reason)
    DONE = "done"
    CANCELLED = "cancelled"


class ScheduleKind(enum.StrEnum):
    NOW = "now"
    AT = "at"
    RECURRING = "recurring"


class Campaign(Base):
    """Segment + message variants + channel + schedule; results are read from its deliveries and members."""

    __tablename__ = "campaigns"
    __table_args__ = (sa.Index("ix_campaigns_account_dealer", "account_id", "dealer_id"),
                      sa.Index("ix_campaigns_due", "status", "next_run_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    segment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("segments.id"), index=True)
    channel: Mapped[CampaignChannel] = mapped_column(_enum(CampaignChannel), default=CampaignChannel.AUTO)
    # [{"key": "A", "weight": 50, "message": {...}}]: see scrm.services.compose for the message shape
    variants: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    holdout_pct: Mapped[int] = mapped_column(default=0)
    schedule: Mapped[ScheduleKind] = mapped_column(_enum(ScheduleKind), default=ScheduleKind.NOW)
    send_at: Mapped[datetime | None]
    # {"every": "day"|"week"|"month", "at": "HH:MM", "weekday": 0-6, "day": 1-28, "until": "YYYY-MM-DD"}
    recurrence: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    next_run_at: Mapped[datetime | None]
    quiet_hours: Mapped[str] = mapped_column(sa.String(11), default="")  # "" = the account's setting
    conversion_days: Mapped[int] = mapped_column(default=14)
    status: Mapped[CampaignStatus] = mapped_column(_enum(CampaignStatus), default=CampaignStatus.DRAFT)
    pause_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    occurrences: Mapped[int] = mapped_column(default=0)  # runs materialised so far
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    launched_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    launched_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]


class CampaignRun(Base):
    """One occurrence of a campaign: when it was materialised and how big its audience was."""

    __tablename__ = "campaign_runs"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "occurrence"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"))
    occurrence: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    audience: Mapped[int] = mapped_column(default=0)     # followers in the segment who may be sent to
    holdout: Mapped[int] = mapped_column(default=0)
    excluded: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # reason -> count (not subscribed...)
    mass_tag_id: Mapped[int | None]                      # the WeChat tag a mass send goes to
    finished_at: Mapped[datetime | None]


class CampaignMember(Base):
    """A follower in one occurrence's audience and the arm it fell in (a variant key, or holdout)."""

    __tablename__ = "campaign_members"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "occurrence", "follower_id"),
                      sa.Index("ix_campaign_members_follower", "follower_id"))
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    # references without per-row foreign-key checks: see scrm/models/guards.py
    campaign_id: Mapped[int]            # campaigns.id
    occurrence: Mapped[int]
    follower_id: Mapped[int]            # followers.id
    customer_id: Mapped[int | None]     # customers.id
    arm: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JourneyKind(enum.StrEnum):
    """The built-in journeys; each dealer enables and words its own."""

    WELCOME = "welcome"                # after purchase: day 0, 7, 30
    MAINTENANCE = "maintenance"        # service due by months or kilometres, whichever first
    BIRTHDAY = "birthday"              # on the day at 9:00, every year
    INSURANCE = "insurance"            # 30 and 7 days before expiry
    SEASONAL = "seasonal"              # seasonal care (winter driving tips...)
    TEST_DRIVE = "test_drive"          # day 1, 3, 14 after a test drive, until the prospect buys
    SATISFACTION = "satisfaction"      # the post-visit satisfaction question
    REENGAGEMENT = "reengagement"      # when the owner has drifted away


class Journey(Base):
    """One built-in journey of one dealer: enabled or not, its settings and each step's wording."""

    __tablename__ = "journeys"
    __table_args__ = (sa.UniqueConstraint("dealer_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    kind: Mapped[JourneyKind] = mapped_column(_enum(JourneyKind))
    enabled: Mapped[bool] = mapped_column(default=False)
    channel: Mapped[CampaignChannel] = mapped_column(_enum(CampaignChannel), default=CampaignChannel.AUTO)
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)   # e.g. {"months": 6, "km": 5000}
    steps: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)  # [{"key", "message"}] wording
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class JourneyEnrolment(Base):
    """A follower on a journey for one occurrence (a birthday year, a purchase, a test drive...)."""

    __tablename__ = "journey_enrolments"
    __table_args__ = (sa.UniqueConstraint("journey_id", "follower_id", "occurrence"),
                      sa.Index("ix_journey_enrolments_open", "journey_id", "exited_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    journey_id: Mapped[int] = mapped_column(sa.ForeignKey("journeys.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    follower_id: Mapped[int] = mapped_column(sa.ForeignKey("followers.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    occurrence: Mapped[str] = mapped_column(sa.String(64))
    anchor: Mapped[date]                                  # the day the steps are counted from
    context: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # e.g. {"vehicle_id": 3}
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    steps_done: Mapped[int] = mapped_column(default=0)
    exited_at: Mapped[datetime | None]
    exit_reason: Mapped[str] = mapped_column(sa.String(32), default="")


class TrackedLink(Base):
    """A link in a campaign or journey message, sent through our redirect so clicks are recorded."""

    __tablename__ = "tracked_links"
    __table_args__ = (sa.UniqueConstraint("account_id", "url", "campaign_id", "journey_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    token: Mapped[str] = mapped_column(sa.String(16), unique=True)
    url: Mapped[str] = mapped_column(sa.String(1000))
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    journey_id: Mapped[int | None] = mapped_column(sa.ForeignKey("journeys.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkClick(Base):
    """One click on a tracked link; the follower and delivery are known when the link was personal."""

    __tablename__ = "link_clicks"
    __table_args__ = (sa.Index("ix_link_clicks_follower_at", "follower_id", "clicked_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(sa.ForeignKey("tracked_links.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    follower_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followers.id"))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deliveries.id"), index=True)
    clicked_at: Mapped[datetime] = mapped_column(default=utcnow)
