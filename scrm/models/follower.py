"""Followers of an account, the QR scenes they come from, and the message log."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


class SceneKind(enum.StrEnum):
    """Where a follow came from."""

    DEALER = "dealer"
    STAFF = "staff"
    REFERRAL = "referral"
    EVENT = "event"
    BIND = "bind"  # a one-time binding QR: `bind:<token>`
    OTHER = "other"
    NONE = "none"


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class Follower(Base):
    """One openid of one account."""

    __tablename__ = "followers"
    # Every push updates the row's interaction columns: none of them is indexed, and pages keep room, so
    # that update is heap-only (migration 0004).
    __table_args__ = (sa.UniqueConstraint("account_id", "openid"), {"postgresql_with": {"fillfactor": 90}})
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    openid: Mapped[str] = mapped_column(sa.String(64))
    unionid: Mapped[str | None] = mapped_column(sa.String(64))
    subscribed: Mapped[bool] = mapped_column(default=False)
    subscribed_at: Mapped[datetime | None]
    unsubscribed_at: Mapped[datetime | None]
    first_subscribed_at: Mapped[datetime | None]
    scene: Mapped[str] = mapped_column(sa.String(64), default="")
    scene_kind: Mapped[SceneKind] = mapped_column(_enum(SceneKind), default=SceneKind.NONE)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    referrer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followers.id"))
    subscribe_scene: Mapped[str] = mapped_column(sa.String(40), default="")
    remark: Mapped[str] = mapped_column(sa.String(64), default="")
    language: Mapped[str] = mapped_column(sa.String(8), default="")
    last_interaction_at: Mapped[datetime | None]
    interaction_kind: Mapped[str] = mapped_column(sa.String(16), default="")  # message|click|follow|scan
    last_message_at: Mapped[datetime | None]
    cs_sent_since_interaction: Mapped[int] = mapped_column(default=0)
    latitude: Mapped[Decimal | None] = mapped_column(sa.Numeric(9, 6))
    longitude: Mapped[Decimal | None] = mapped_column(sa.Numeric(9, 6))
    location_at: Mapped[datetime | None]
    opt_out_marketing: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Whether a segment's follower is reachable, index-only (scrm/services/segment_compile.py).
sa.Index("ix_followers_id_reachable", Follower.id, postgresql_include=["subscribed", "opt_out_marketing"])


class QrScene(Base):
    """A parametric QR code: which dealer, staff member or referrer a scan belongs to."""

    __tablename__ = "qr_scenes"
    __table_args__ = (sa.UniqueConstraint("account_id", "scene"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    scene: Mapped[str] = mapped_column(sa.String(64))
    kind: Mapped[SceneKind] = mapped_column(_enum(SceneKind))
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    follower_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followers.id"))
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    permanent: Mapped[bool] = mapped_column(default=True)
    ticket: Mapped[str] = mapped_column(sa.String(255), default="")
    url: Mapped[str] = mapped_column(sa.String(255), default="")
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Direction(enum.StrEnum):
    IN = "in"
    OUT = "out"


class MessageLog(Base):
    """Inbound messages and events, and what we answered; feeds stats and the timeline."""

    __tablename__ = "message_logs"
    __table_args__ = (sa.Index("ix_message_logs_account_created", "account_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    follower_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followers.id"), index=True)
    direction: Mapped[Direction] = mapped_column(_enum(Direction, 4))
    msg_type: Mapped[str] = mapped_column(sa.String(32))
    event: Mapped[str] = mapped_column(sa.String(48), default="")
    content: Mapped[str] = mapped_column(sa.Text, default="")
    msg_id: Mapped[str] = mapped_column(sa.String(32), default="")
    handler: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
