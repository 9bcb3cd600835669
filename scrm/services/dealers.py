"""Dealers (4S stores) of an account and their dealer QR codes, as brand admins manage them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from scrm import db
from scrm.models import Dealer, QrScene, SceneKind, StaffUser
from scrm.services import audit, content_cache  # noqa: F401  (content_cache: bumps bot caches on commit)
from scrm.services.accounts import settings_for_id
from scrm.services.errors import DomainError
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems, utf8_len

CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,31}$")
PHONE = re.compile(r"^[0-9+()\- ]{0,30}$")
MAX_QR_DAYS = 30


@dataclass(frozen=True)
class DealerInput:
    """The dealer form; coordinates as typed (validated here)."""

    code: str
    name: str
    city: str = ""
    address: str = ""
    phone: str = ""
    latitude: str = ""
    longitude: str = ""
    welcome_text: str = ""
    active: bool = True


def list_dealers(scope: Scope, page: int = 1, per_page: int = 50) -> Page[Dealer]:
    """Dealers in scope by code."""
    stmt = scope.apply(sa.select(Dealer), Dealer).order_by(Dealer.active.desc(), Dealer.code)
    return paginate(db.session(), stmt, page, per_page)


def get_dealer(scope: Scope, dealer_id: int) -> Dealer:
    """One dealer in scope, else NotFound."""
    return scope.get(db.session(), Dealer, dealer_id)


def _coordinate(p: Problems, field: str, raw: str, limit: int) -> Decimal | None:
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or not -limit <= value <= limit:
        p.add(field, "Enter a number between %(min)s and %(max)s.", min=-limit, max=limit)
        return None
    return value.quantize(Decimal("0.000001"))


def _validate(scope: Scope, data: DealerInput, exclude_id: int | None) -> tuple[Decimal | None, Decimal | None]:
    p = Problems()
    if not CODE.match(data.code):
        p.add("code", "Code: 1-32 capital letters, digits, _ or -, starting with a letter or digit.")
    elif db.session.scalar(sa.select(Dealer.id).where(
            Dealer.account_id == scope.account_id, Dealer.code == data.code,
            Dealer.id != (exclude_id or 0))) is not None:
        p.add("code", "Another dealer already uses this code.")
    if not 1 <= len(data.name) <= 100:
        p.add("name", "Name: 1 to %(max)s characters.", max=100)
    if len(data.city) > 50:
        p.add("city", "City: at most %(max)s characters.", max=50)
    if len(data.address) > 200:
        p.add("address", "Address: at most %(max)s characters.", max=200)
    if not PHONE.match(data.phone):
        p.add("phone", "Phone: digits, spaces, + - ( ) only, at most 30.")
    lat = _coordinate(p, "latitude", data.latitude, 90)
    lng = _coordinate(p, "longitude", data.longitude, 180)
    if bool(data.latitude) != bool(data.longitude) and not (p.has("latitude") or p.has("longitude")):
        p.add("longitude" if data.latitude else "latitude", "Enter both latitude and longitude, or neither.")
    if utf8_len(data.welcome_text) > 2048:
        p.add("welcome_text", "The welcome text is %(size)s bytes; WeChat allows at most %(max)s bytes.",
              size=utf8_len(data.welcome_text), max=2048)
    p.raise_if_any()
    return lat, lng


def create_dealer(actor: StaffUser, data: DealerInput, ip: str = "") -> Dealer:
    """Create a dealer in the actor's account."""
    scope = Scope.of(actor)
    scope.require(Perm.DEALERS_MANAGE)
    lat, lng = _validate(scope, data, None)
    with db.transaction() as s:
        dealer = Dealer(account_id=scope.account_id, code=data.code, name=data.name, city=data.city,
                        address=data.address, phone=data.phone, latitude=lat, longitude=lng,
                        welcome_text=data.welcome_text, active=data.active)
        s.add(dealer)
        s.flush()
        audit.record(s, staff=actor, action="dealer.create", target_type="dealer", target_id=dealer.id,
                     detail={"code": dealer.code, "name": dealer.name}, ip=ip, dealer_id=dealer.id)
    return dealer


def update_dealer(actor: StaffUser, dealer_id: int, data: DealerInput, ip: str = "") -> Dealer:
    """Edit a dealer; the audit row lists what changed."""
    scope = Scope.of(actor)
    scope.require(Perm.DEALERS_MANAGE)
    dealer = get_dealer(scope, dealer_id)
    lat, lng = _validate(scope, data, dealer.id)
    values = dict(code=data.code, name=data.name, city=data.city, address=data.address, phone=data.phone,
                  latitude=lat, longitude=lng, welcome_text=data.welcome_text, active=data.active)
    with db.transaction() as s:
        changes = {k: [_json(getattr(dealer, k)), _json(v)] for k, v in values.items() if getattr(dealer, k) != v}
        for key, value in values.items():
            setattr(dealer, key, value)
        audit.record(s, staff=actor, action="dealer.update", target_type="dealer", target_id=dealer.id,
                     detail={"code": dealer.code, "changes": changes}, ip=ip, dealer_id=dealer.id)
    return dealer


def _json(value: object) -> object:
    return str(value) if isinstance(value, Decimal) else value


def list_scenes(scope: Scope) -> list[QrScene]:
    """QR scenes in scope, by dealer and label."""
    stmt = scope.apply(sa.select(QrScene), QrScene).order_by(QrScene.dealer_id, QrScene.label, QrScene.id)
    return list(db.session.scalars(stmt))


def qr_image_url(scene: QrScene) -> str:
    """Where the scene's QR image is served ('' when it has no ticket yet)."""
    if not scene.ticket:
        return ""
    from scrm.wechat.client import api_for

    return api_for(settings_for_id(scene.account_id)).qrcode_image_url(scene.ticket)


def create_dealer_qr(actor: StaffUser, dealer_id: int, label: str, permanent: bool, days: int = MAX_QR_DAYS,
                     ip: str = "") -> QrScene:
    """Create the dealer's QR scene (`dealer:<CODE>`) and its WeChat ticket.

    An existing scene whose temporary ticket has expired gets a new ticket; one still valid is refused.
    """
    from scrm.wechat.client import api_for
    from scrm.wechat.errors import WeChatError

    scope = Scope.of(actor)
    scope.require(Perm.QR_MANAGE)
    dealer = get_dealer(scope, dealer_id)
    label = label.strip() or dealer.name
    p = Problems()
    if len(label) > 100:
        p.add("label", "Label: at most %(max)s characters.", max=100)
    if not permanent and not 1 <= days <= MAX_QR_DAYS:
        p.add("days", "A temporary code lasts 1 to %(max)s days.", max=MAX_QR_DAYS)
    scene_str = f"dealer:{dealer.code}"
    existing = db.session.scalar(sa.select(QrScene).where(QrScene.account_id == scope.account_id,
                                                          QrScene.scene == scene_str))
    now = db.utcnow()
    if existing is not None and existing.ticket and (existing.expires_at is None or existing.expires_at > now):
        p.add("dealer_id", "This dealer already has a valid QR code.")
    p.raise_if_any()
    try:
        ticket = api_for(settings_for_id(scope.account_id)).create_qrcode(
            scene_str, permanent=permanent, expire_seconds=days * 86400)
    except WeChatError as exc:
        raise DomainError("WeChat did not create the QR code: %(error)s", error=exc.describe()) from exc
    with db.transaction() as s:
        row = existing or QrScene(account_id=scope.account_id, scene=scene_str, kind=SceneKind.DEALER,
                                  dealer_id=dealer.id)
        row.label, row.permanent = label, permanent
        row.ticket, row.url = ticket["ticket"][:255], ticket["url"][:255]
        row.expires_at = None if permanent else now + timedelta(seconds=int(ticket["expire_seconds"] or 0))
        s.add(row)
        s.flush()
        audit.record(s, staff=actor, action="qr.create", target_type="qr_scene", target_id=row.id,
                     detail={"scene": scene_str, "label": label, "permanent": permanent}, ip=ip,
                     dealer_id=dealer.id)
    return row
