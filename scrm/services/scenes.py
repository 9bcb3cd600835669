"""Resolve a QR scene to what it implies: a dealer, a staff member, a referrer or an event.

A `QrScene` row wins; without one, `dealer:<CODE>`, `staff:<id>` and `referral:<follower id>` still
resolve by prefix, and `bind:<token>` names a one-time binding code (services.binding_codes).
Anything else is recorded as an "other" scene with nothing implied.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import BindingCode, Dealer, Follower, QrScene, SceneKind, StaffUser


@dataclass(frozen=True)
class SceneInfo:
    """What a scene names; ids are checked to belong to the account (and be active)."""

    scene: str
    kind: SceneKind
    dealer_id: int | None = None
    staff_id: int | None = None
    referrer_id: int | None = None
    label: str = ""


NO_SCENE = SceneInfo(scene="", kind=SceneKind.NONE)


def _dealer(s: Session, account_id: int, dealer_id: int | None) -> int | None:
    if dealer_id is None:
        return None
    d = s.get(Dealer, dealer_id)
    return d.id if d is not None and d.account_id == account_id and d.active else None


def _staff(s: Session, account_id: int, staff_id: int | None) -> StaffUser | None:
    if staff_id is None:
        return None
    u = s.get(StaffUser, staff_id)
    return u if u is not None and u.account_id == account_id and u.active else None


def _referrer(s: Session, account_id: int, follower_id: int | None) -> Follower | None:
    if follower_id is None:
        return None
    f = s.get(Follower, follower_id)
    return f if f is not None and f.account_id == account_id else None


def _from_row(s: Session, account_id: int, row: QrScene) -> SceneInfo:
    dealer_id = _dealer(s, account_id, row.dealer_id)
    staff = _staff(s, account_id, row.staff_id)
    referrer = _referrer(s, account_id, row.follower_id) if row.kind == SceneKind.REFERRAL else None
    if staff is not None and dealer_id is None:
        dealer_id = _dealer(s, account_id, staff.dealer_id)
    if referrer is not None and dealer_id is None:
        dealer_id = _dealer(s, account_id, referrer.dealer_id)
    return SceneInfo(scene=row.scene, kind=row.kind, dealer_id=dealer_id, staff_id=staff.id if staff else None,
                     referrer_id=referrer.id if referrer else None, label=row.label)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 12 else None


def _by_prefix(s: Session, account_id: int, scene: str) -> SceneInfo:
    prefix, _, rest = scene.partition(":")
    if prefix == "dealer" and rest:
        d = s.scalar(sa.select(Dealer).where(Dealer.account_id == account_id, Dealer.code == rest,
                                             Dealer.active.is_(True)))
        if d is not None:
            return SceneInfo(scene=scene, kind=SceneKind.DEALER, dealer_id=d.id, label=d.name)
    elif prefix == "staff":
        staff = _staff(s, account_id, _int(rest))
        if staff is not None:
            return SceneInfo(scene=scene, kind=SceneKind.STAFF, staff_id=staff.id,
                             dealer_id=_dealer(s, account_id, staff.dealer_id), label=staff.display_name)
    elif prefix == "referral":
        ref = _referrer(s, account_id, _int(rest))
        if ref is not None:
            return SceneInfo(scene=scene, kind=SceneKind.REFERRAL, referrer_id=ref.id,
                             dealer_id=_dealer(s, account_id, ref.dealer_id))
    elif prefix == "bind" and rest:
        # Used or expired codes still name their dealer: the scan is told the code is spent.
        code = s.scalar(sa.select(BindingCode).where(BindingCode.account_id == account_id, BindingCode.token == rest))
        return SceneInfo(scene=scene, kind=SceneKind.BIND,
                         dealer_id=_dealer(s, account_id, code.dealer_id) if code is not None else None)
    return SceneInfo(scene=scene, kind=SceneKind.OTHER)


def resolve_in(s: Session, account_id: int, scene: str) -> SceneInfo:
    """Resolve `scene` in the caller's session."""
    scene = scene.strip()[:64]
    if not scene:
        return NO_SCENE
    row = s.scalar(sa.select(QrScene).where(QrScene.account_id == account_id, QrScene.scene == scene))
    if row is not None:
        return _from_row(s, account_id, row)
    return _by_prefix(s, account_id, scene)


def resolve_scene(account_id: int, scene: str) -> SceneInfo:
    """Resolve `scene` of the account (QrScene row first, then the prefixes)."""
    with db.transaction() as s:
        return resolve_in(s, account_id, scene)
