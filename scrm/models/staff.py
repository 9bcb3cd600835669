"""Staff users and the audit log of their actions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


class Role(enum.StrEnum):
    """Staff roles, from widest to narrowest."""

    BRAND_ADMIN = "brand_admin"
    DEALER_MANAGER = "dealer_manager"
    DEALER_STAFF = "dealer_staff"


class StaffUser(Base):
    """Someone who logs in to the admin pages."""

    __tablename__ = "staff_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(64), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[Role] = mapped_column(sa.Enum(Role, native_enum=False, length=20,
                                               values_callable=lambda e: [m.value for m in e]))
    language: Mapped[str] = mapped_column(sa.String(8), default="zh")
    # the staff member's own WeChat follower (linked by a code sent in chat), for test sends. Not a foreign
    # key: followers already point at staff (followers.staff_id) and the cycle would need an ALTER in the
    # migration; followers are never deleted, and a stale id only makes a test send say "link your WeChat".
    follower_id: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def is_brand_admin(self) -> bool:
        """True for brand (HQ) admins, who see every dealer."""
        return self.role == Role.BRAND_ADMIN


class AuditLog(Base):
    """One staff action; append-only."""

    __tablename__ = "audit_logs"
    id: Mapped[int] = mapped_column(primary_key=True)
    # NULL only for failed logins with an unknown username: no account can be named for them.
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(32), default="")
    target_id: Mapped[str] = mapped_column(sa.String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
