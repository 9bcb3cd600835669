"""The outbox: one row per intended outbound message or API call."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow
from scrm.models.follower import _enum


class Channel(enum.StrEnum):
    """How a message reaches the follower."""

    CUSTOM = "custom"          # customer-service message (48-hour window)
    TEMPLATE = "template"      # template message
    MASS = "mass"              # mass send by tag
    AUTO = "auto"              # choose at send time: custom inside the window, template otherwise


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    HELD = "held"              # a paused campaign's row: not claimed until the campaign resumes
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Delivery(Base):
    """An outbound message; `dedupe_key` makes writing it twice a no-op."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # the claim's order (oldest due first, then id): read from the index, whatever the statistics say
        sa.Index("ix_deliveries_due", "status", "next_try_at", "id"),
        # TEMPLATESENDJOBFINISH / MASSSENDJOBFINISH: only rows WeChat gave a msgid (none when written)
        sa.Index("ix_deliveries_wechat_msgid", "account_id", "wechat_msgid",
                 postgresql_where=sa.text("wechat_msgid <> ''"), sqlite_where=sa.text("wechat_msgid <> ''")),
        # progress and results of one campaign or journey, by status (a row belongs to one or neither)
        sa.Index("ix_deliveries_campaign_status", "campaign_id", "status",
                 postgresql_where=sa.text("campaign_id IS NOT NULL"), sqlite_where=sa.text("campaign_id IS NOT NULL")),
        sa.Index("ix_deliveries_journey_status", "journey_id", "status",
                 postgresql_where=sa.text("journey_id IS NOT NULL"), sqlite_where=sa.text("journey_id IS NOT NULL")),
        # the frequency cap: a follower's marketing sends in the cap window
        sa.Index("ix_deliveries_follower_capped", "follower_id", "capped_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # references without per-row foreign-key checks: see scrm/models/guards.py
    account_id: Mapped[int]                                 # accounts.id
    dealer_id: Mapped[int | None] = mapped_column(index=True)   # dealers.id
    follower_id: Mapped[int | None]   # followers.id; see ix_deliveries_follower_capped
    openid: Mapped[str] = mapped_column(sa.String(64), default="")
    dedupe_key: Mapped[str] = mapped_column(sa.String(191), unique=True)
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    purpose: Mapped[str] = mapped_column(sa.String(32), default="reply")
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str] = mapped_column(sa.String(64), default="")
    sent_at: Mapped[datetime | None]
    channel_used: Mapped[str] = mapped_column(sa.String(16), default="")
    wechat_msgid: Mapped[str] = mapped_column(sa.String(32), default="")
    error_code: Mapped[int | None]
    error: Mapped[str] = mapped_column(sa.String(255), default="")
    result: Mapped[str] = mapped_column(sa.String(64), default="")
    campaign_id: Mapped[int | None]   # campaigns.id
    journey_id: Mapped[int | None]    # journeys.id
    arm: Mapped[str] = mapped_column(sa.String(16), default="")         # the campaign variant, or a journey step
    capped_at: Mapped[datetime | None]   # when it took a place under the follower's frequency cap
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
