"""What staff edit: keyword auto-replies and the account's menu."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow
from scrm.models.follower import _enum


class MatchMode(enum.StrEnum):
    EXACT = "exact"
    CONTAINS = "contains"


class ReplyKind(enum.StrEnum):
    TEXT = "text"
    NEWS = "news"


class KeywordReply(Base):
    """An auto-reply: when a message matches the keyword, answer with text or a news card."""

    __tablename__ = "keyword_replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    keyword: Mapped[str] = mapped_column(sa.String(60))
    match: Mapped[MatchMode] = mapped_column(_enum(MatchMode), default=MatchMode.EXACT)
    kind: Mapped[ReplyKind] = mapped_column(_enum(ReplyKind), default=ReplyKind.TEXT)
    text: Mapped[str] = mapped_column(sa.Text, default="")
    news_title: Mapped[str] = mapped_column(sa.String(64), default="")
    news_description: Mapped[str] = mapped_column(sa.String(120), default="")
    news_url: Mapped[str] = mapped_column(sa.String(1024), default="")
    news_pic_url: Mapped[str] = mapped_column(sa.String(1024), default="")
    priority: Mapped[int] = mapped_column(default=0)
    enabled: Mapped[bool] = mapped_column(default=True)
    hits: Mapped[int] = mapped_column(default=0)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MenuVersion(Base):
    """A saved version of the account's menu; the newest is the one in force."""

    __tablename__ = "menu_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    synced_at: Mapped[datetime | None]
    sync_error: Mapped[str] = mapped_column(sa.String(255), default="")
