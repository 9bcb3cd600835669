"""A member's personal QR code: a temporary WeChat QR (30 days, scene `referral:<follower id>`).

WeChat allows an account 100,000 permanent codes, too few for every member, so each member gets a
temporary one stored in QrScene (kind REFERRAL) and re-created through the API when it is expired or
about to expire. The scene stays the same, so a code printed or shared earlier still credits the member
while WeChat keeps it alive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from scrm import db
from scrm.db import utcnow
from scrm.models import Follower, QrScene, SceneKind
from scrm.services.accounts import settings_for_id
from scrm.services.errors import DomainError, NotFound
from scrm.services.normalize_base import N_
from scrm.services.referrals import scene_for

CODE_SECONDS = 30 * 24 * 3600
RENEW_BEFORE = timedelta(days=1)  # a code that would die within a day is replaced before it is shown


@dataclass(frozen=True)
class PersonalCode:
    """What the page needs of a member's code."""

    scene: str
    url: str
    expires_at: datetime


def _usable(row: QrScene | None, now: datetime) -> bool:
    return (row is not None and bool(row.url) and row.expires_at is not None
            and row.expires_at - RENEW_BEFORE > now)


def _current(account_id: int, scene: str) -> QrScene | None:
    with db.transaction() as s:
        return s.scalar(sa.select(QrScene).where(QrScene.account_id == account_id, QrScene.scene == scene))


def personal_code(account_id: int, follower_id: int, *, now: datetime | None = None) -> PersonalCode:
    """The follower's personal code, created (or renewed when expiring) through the WeChat QR API."""
    from scrm.wechat.client import api_for
    from scrm.wechat.errors import WeChatError

    now = now or utcnow()
    scene = scene_for(follower_id)
    row = _current(account_id, scene)
    if row is not None and _usable(row, now):
        assert row.expires_at is not None
        return PersonalCode(scene=scene, url=row.url, expires_at=row.expires_at)
    with db.transaction() as s:
        f = s.get(Follower, follower_id)
        if f is None or f.account_id != account_id:
            raise NotFound()
        dealer_id = f.dealer_id
    try:
        ticket = api_for(settings_for_id(account_id)).create_qrcode(scene, permanent=False,
                                                                   expire_seconds=CODE_SECONDS)
    except WeChatError as exc:
        raise DomainError(N_("WeChat did not create the QR code: %(error)s"), error=exc.describe()) from exc
    seconds = min(CODE_SECONDS, int(ticket.get("expire_seconds") or CODE_SECONDS))
    expires = now + timedelta(seconds=seconds)
    code, url = str(ticket["ticket"])[:255], str(ticket["url"])[:255]
    try:
        with db.transaction() as s:
            stored = s.scalar(sa.select(QrScene).where(QrScene.account_id == account_id, QrScene.scene == scene)
                              .with_for_update())
            if stored is None:
                s.add(QrScene(account_id=account_id, scene=scene, kind=SceneKind.REFERRAL, dealer_id=dealer_id,
                              follower_id=follower_id, label="", permanent=False, created_at=now, ticket=code,
                              url=url, expires_at=expires))
            else:
                stored.ticket, stored.url, stored.expires_at = code, url, expires
    except IntegrityError:
        pass  # a parallel request stored its own fresh code first: show that one
    row = _current(account_id, scene)
    if row is None or row.expires_at is None:
        raise NotFound()
    return PersonalCode(scene=scene, url=row.url, expires_at=row.expires_at)
