"""The followers list as staff see it: filters, search, sort, pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from scrm import db
from scrm.models import Follower, SceneKind
from scrm.services.paging import Page, paginate
from scrm.services.scope import Scope

WINDOW = timedelta(hours=48)
PER_PAGE = 50


@dataclass(frozen=True)
class FollowerFilter:
    """`following`: True/False/None (all); `dealer` only narrows a brand admin's view."""

    following: bool | None = None
    scene_kind: str = ""
    dealer: int | None = None
    q: str = ""
    oldest_first: bool = False


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_followers(scope: Scope, flt: FollowerFilter, page: int = 1) -> Page[Follower]:
    """Followers in scope, most recent interaction first (or oldest first)."""
    stmt = scope.apply(sa.select(Follower), Follower)
    if flt.following is not None:
        stmt = stmt.where(Follower.subscribed.is_(flt.following))
    if flt.scene_kind in {k.value for k in SceneKind}:
        stmt = stmt.where(Follower.scene_kind == SceneKind(flt.scene_kind))
    if flt.dealer is not None:
        stmt = stmt.where(Follower.dealer_id == flt.dealer)
    q = flt.q.strip()[:64]
    if q:
        like = f"%{_escape_like(q)}%"
        stmt = stmt.where(sa.or_(Follower.openid.ilike(like, escape="\\"), Follower.remark.ilike(like, escape="\\")))
    order = Follower.last_interaction_at.asc() if flt.oldest_first else Follower.last_interaction_at.desc()
    stmt = stmt.order_by(order.nulls_last(), Follower.id.desc())
    return paginate(db.session(), stmt, page, PER_PAGE)


def window_open(follower: Follower, now: datetime) -> bool:
    """True while customer-service messages may reach the follower (48 h after their last message)."""
    if not follower.subscribed:
        return False
    last_message = follower.last_message_at
    if last_message is None and follower.interaction_kind in ("", "message"):
        last_message = follower.last_interaction_at
    return last_message is not None and now - last_message < WINDOW


def short_openid(openid: str) -> str:
    """The first 8 and last 4 characters: enough to tell followers apart in a table."""
    return openid if len(openid) <= 14 else f"{openid[:8]}…{openid[-4:]}"
