"""Followers: follow and unfollow, the last interaction (the customer-service window), location.

`touch` runs on every push before anything else and costs one upsert plus one log insert.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrm import db
from scrm.db import utcnow
from scrm.models import Delivery, DeliveryStatus, Follower, SceneKind, StaffUser
from scrm.security import mask_openid
from scrm.services import messages, scenes
from scrm.services.dealer_cards import DealerCard, card_in

logger = logging.getLogger(__name__)
INTERACTION_KINDS = ("message", "click", "follow", "scan")
# A message, a click or a scan proves the person follows the account right now.
_PROVES_FOLLOWING = ("message", "click", "scan")


@dataclass(frozen=True)
class FollowerRef:
    """The few facts about a follower that routing needs."""

    id: int
    openid: str
    subscribed: bool
    dealer_id: int | None


@dataclass(frozen=True)
class SubscribeResult:
    """What a follow did: who, whether they came back, and what the scene implied."""

    follower_id: int
    returning: bool
    scene: scenes.SceneInfo
    dealer: DealerCard | None
    staff_name: str
    referred: bool


@dataclass(frozen=True)
class ScanResult:
    """What a follower's scan of a QR code named."""

    scene: scenes.SceneInfo
    dealer: DealerCard | None


_FOLLOWERS: sa.Table = Follower.__table__  # type: ignore[assignment]
_upserts: dict[tuple[str, bool, bool, bool], Any] = {}


def _upsert_statement(dialect: str, refresh: bool, is_message: bool, proves_following: bool) -> Any:
    """The touch upsert, built once per shape with bind parameters (Core, no ORM overhead)."""
    key = (dialect, refresh, is_message, proves_following)
    stmt = _upserts.get(key)
    if stmt is not None:
        return stmt
    ins: Any = postgresql.insert(_FOLLOWERS) if dialect == "postgresql" else sqlite.insert(_FOLLOWERS)
    now: Any = sa.bindparam("now")
    values: dict[str, Any] = {"account_id": sa.bindparam("account_id"), "openid": sa.bindparam("openid"),
                              "subscribed": sa.bindparam("subscribed"), "created_at": now}
    update: dict[str, Any] = {}
    if refresh:
        values.update(last_interaction_at=now, interaction_kind=sa.bindparam("kind"), cs_sent_since_interaction=0)
        update.update(last_interaction_at=ins.excluded.last_interaction_at,
                      interaction_kind=ins.excluded.interaction_kind, cs_sent_since_interaction=0)
        if proves_following:
            update["subscribed"] = sa.true()
    if is_message:
        values["last_message_at"] = now
        update["last_message_at"] = ins.excluded.last_message_at
    if not update:
        update = {"openid": ins.excluded.openid}  # a no-op write so RETURNING yields the row
    c = _FOLLOWERS.c
    stmt = (ins.values(**values)
            .on_conflict_do_update(index_elements=[c.account_id, c.openid], set_=update)
            .returning(c.id, c.subscribed, c.dealer_id))
    _upserts[key] = stmt
    return stmt


def touch(account_id: int, openid: str, *, kind: str | None, is_message: bool = False, create: bool = True,
          assume_subscribed: bool = True) -> FollowerRef | None:
    """Record a push from `openid`: refresh the interaction when `kind` is one; create the row if new.

    `kind` is message/click/follow/scan (WECHAT.md §4.3) or None for pushes that open no window.
    With `create=False` an unknown openid is only looked up (job reports come from WeChat itself).
    One upsert, committed without waiting for the disk (see messages.relaxed).
    """
    if kind is not None and kind not in INTERACTION_KINDS:
        raise ValueError(f"unknown interaction kind {kind!r}")
    with db.transaction() as s:
        if create:
            messages.relaxed(s)
            stmt = _upsert_statement(s.get_bind().dialect.name, kind is not None, is_message,
                                     kind in _PROVES_FOLLOWING)
            row: Any = s.execute(stmt, {"account_id": account_id, "openid": openid,
                                        "subscribed": assume_subscribed, "now": utcnow(), "kind": kind or ""}).one()
        else:
            row = s.execute(sa.select(_FOLLOWERS.c.id, _FOLLOWERS.c.subscribed, _FOLLOWERS.c.dealer_id)
                            .where(_FOLLOWERS.c.account_id == account_id, _FOLLOWERS.c.openid == openid)).first()
    return FollowerRef(id=row.id, openid=openid, subscribed=row.subscribed, dealer_id=row.dealer_id) if row else None


def _locked(s: Session, account_id: int, openid: str) -> Follower | None:
    stmt = sa.select(Follower).where(Follower.account_id == account_id, Follower.openid == openid)
    if s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return s.scalar(stmt)


def _get_or_create(s: Session, account_id: int, openid: str) -> Follower:
    f = _locked(s, account_id, openid)
    if f is None:
        f = Follower(account_id=account_id, openid=openid, subscribed=False)
        s.add(f)
        s.flush()
    return f


def subscribe(account_id: int, openid: str, *, scene: str = "") -> SubscribeResult:
    """Create or reactivate the follower and record the scene and what it implies."""
    now = utcnow()
    with db.transaction() as s:
        f = _get_or_create(s, account_id, openid)
        returning = f.first_subscribed_at is not None or f.unsubscribed_at is not None
        info = scenes.resolve_in(s, account_id, scene)
        if info.referrer_id == f.id:
            info = scenes.SceneInfo(scene=info.scene, kind=info.kind, dealer_id=info.dealer_id,
                                    staff_id=info.staff_id, label=info.label)
        if info.kind != SceneKind.NONE or not returning:
            f.scene, f.scene_kind = info.scene, info.kind
        if info.dealer_id is not None:
            f.dealer_id = info.dealer_id
        if info.staff_id is not None:
            f.staff_id = info.staff_id
        # Only a first follow credits a referrer: unfollowing and refollowing must not earn points.
        referred = info.referrer_id is not None and not returning and f.referrer_id is None
        if referred:
            f.referrer_id = info.referrer_id
        f.subscribed, f.subscribed_at = True, now
        f.first_subscribed_at = f.first_subscribed_at or now
        staff = s.get(StaffUser, info.staff_id) if info.staff_id else None
        result = SubscribeResult(follower_id=f.id, returning=returning, scene=info,
                                 dealer=card_in(s, f.dealer_id),
                                 staff_name=(staff.display_name or staff.username) if staff else "",
                                 referred=info.referrer_id is not None)
    logger.info("follow %s scene=%s kind=%s returning=%s", mask_openid(openid), info.scene, info.kind, returning)
    return result


def unsubscribe(account_id: int, openid: str) -> int:
    """Mark the follower unsubscribed and cancel their pending outbox rows; return how many."""
    now = utcnow()
    with db.transaction() as s:
        f = _get_or_create(s, account_id, openid)
        f.subscribed, f.unsubscribed_at = False, now
        cancelled = len(s.execute(
            sa.update(Delivery)
            .where(Delivery.account_id == account_id,
                   Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.HELD]),
                   sa.or_(Delivery.follower_id == f.id, Delivery.openid == openid))
            .values(status=DeliveryStatus.CANCELLED, error="unsubscribed", updated_at=now)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        ).all())
    logger.info("unfollow %s, %d pending deliveries cancelled", mask_openid(openid), cancelled)
    return cancelled


def record_scan(account_id: int, openid: str, scene: str) -> ScanResult:
    """A follower scanned a QR code: attach the dealer/staff it names if they have none yet."""
    with db.transaction() as s:
        f = _get_or_create(s, account_id, openid)
        info = scenes.resolve_in(s, account_id, scene)
        if f.dealer_id is None and info.dealer_id is not None:
            f.dealer_id = info.dealer_id
        if f.staff_id is None and info.staff_id is not None:
            f.staff_id = info.staff_id
        return ScanResult(scene=info, dealer=card_in(s, info.dealer_id))


def _coordinate(value: float | None, bound: int) -> Decimal | None:
    if value is None or not -bound <= value <= bound:
        return None
    return Decimal(f"{value:.6f}")


def record_location(account_id: int, openid: str, latitude: float | None, longitude: float | None) -> bool:
    """Store the follower's reported position; False when the coordinates are unusable."""
    lat, lng = _coordinate(latitude, 90), _coordinate(longitude, 180)
    if lat is None or lng is None:
        return False
    with db.transaction() as s:
        done = s.execute(sa.update(Follower)
                         .where(Follower.account_id == account_id, Follower.openid == openid)
                         .values(latitude=lat, longitude=lng, location_at=utcnow())
                         .returning(Follower.id)
                         .execution_options(synchronize_session=False)).first()
    return done is not None


def get_follower(account_id: int, openid: str) -> FollowerRef | None:
    """The follower's routing facts, if known."""
    with db.transaction() as s:
        row = s.execute(sa.select(Follower.id, Follower.subscribed, Follower.dealer_id)
                        .where(Follower.account_id == account_id, Follower.openid == openid)).first()
    return FollowerRef(id=row.id, openid=openid, subscribed=row.subscribed, dealer_id=row.dealer_id) if row else None
