"""Identity and consent: one-time binding codes, the consent history, and privacy (PIPL) requests."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class BindMethod(enum.StrEnum):
    """How a follower came to be linked to a customer."""

    CHAT = "chat"    # the 绑定 conversation: mobile + plate / VIN check
    QR = "qr"        # a one-time binding QR code staff made in the showroom
    H5 = "h5"        # the binding form of the H5 pages
    STAFF = "staff"  # linked by staff in the admin pages
    API = "api"      # pushed by the dealer system


class BindingCode(Base):
    """A one-time binding QR for one customer; the scene is `bind:<token>`."""

    __tablename__ = "binding_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    token: Mapped[str] = mapped_column(sa.String(32), unique=True)
    ticket: Mapped[str] = mapped_column(sa.String(255), default="")
    url: Mapped[str] = mapped_column(sa.String(255), default="")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    follower_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followers.id"))
    revoked_at: Mapped[datetime | None]


class ConsentRecord(Base):
    """One grant or withdrawal of consent to be contacted, with the exact wording shown; append-only."""

    __tablename__ = "consent_records"
    __table_args__ = (sa.Index("ix_consent_records_customer_created", "customer_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))
    follower_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followers.id"))
    granted: Mapped[bool] = mapped_column(default=True)
    channel: Mapped[BindMethod] = mapped_column(_enum(BindMethod, 8))
    text: Mapped[str] = mapped_column(sa.Text, default="")  # the wording the customer saw
    language: Mapped[str] = mapped_column(sa.String(8), default="zh")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PrivacyKind(enum.StrEnum):
    EXPORT = "export"
    ERASE = "erase"


class PrivacyRequest(Base):
    """A customer's request under PIPL, as carried out: an export of their data or its erasure."""

    __tablename__ = "privacy_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    kind: Mapped[PrivacyKind] = mapped_column(_enum(PrivacyKind, 8))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # counts of what was erased
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
