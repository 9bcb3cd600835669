"""An event's registrations for staff (masked phones per role), the attendee CSV and the check-in QR code.

The check-in QR is a temporary WeChat QR (scene `event:<token>`) made on first view and cached in Redis
until it expires (at most 30 days, or until the event ends), so there is always a scannable image.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import (
    ClubEvent,
    Customer,
    CustomerBinding,
    EventRegistration,
    Follower,
    Member,
    RegistrationStatus,
    StaffUser,
)
from scrm.security import mask_phone
from scrm.services import audit, club_notify
from scrm.services.accounts import settings_for_id
from scrm.services.errors import DomainError
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope

QR_MAX_SECONDS = 30 * 24 * 3600
HEADERS = [N_("Name"), N_("Mobile number"), N_("Companions"), N_("Status"), N_("Registered at"),
           N_("Checked in at")]
UNNAMED = N_("Member #%(id)s")   # a member without a customer record or a remark
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Row:
    """One registration as staff see it."""

    id: int
    member_id: int
    name: str
    phone: str
    companions: int
    status: RegistrationStatus
    registered_at: datetime
    checked_in_at: datetime | None
    position: int | None


def rows(scope: Scope, ev: ClubEvent) -> list[Row]:
    """The event's registrations: registered, waitlist in order, then the rest; phones masked per role."""
    s = db.session()
    names: dict[int, tuple[str, str]] = {}
    regs = list(s.scalars(sa.select(EventRegistration).where(EventRegistration.event_id == ev.id)
                          .order_by(EventRegistration.registered_at, EventRegistration.id)))
    members = [r.member_id for r in regs]
    if members:
        for r in s.execute(sa.select(Member.id, Customer.name, Customer.mobile)
                           .join(CustomerBinding, CustomerBinding.follower_id == Member.follower_id)
                           .join(Customer, Customer.id == CustomerBinding.customer_id)
                           .where(Member.id.in_(members), Customer.erased_at.is_(None))
                           .order_by(CustomerBinding.bound_at)):
            names.setdefault(int(r.id), (r.name or "", r.mobile or ""))
        for fr in s.execute(sa.select(Member.id, Follower.remark).join(Follower, Follower.id == Member.follower_id)
                            .where(Member.id.in_(members))):
            names.setdefault(int(fr.id), (fr.remark or "", ""))
    full = scope.can(Perm.CUSTOMER_PHONES)
    out, waiting = [], 0
    for reg in regs:
        name, phone = names.get(reg.member_id, ("", ""))
        position = None
        if reg.status == RegistrationStatus.WAITLISTED:
            waiting += 1
            position = waiting
        out.append(Row(reg.id, reg.member_id, name, phone if full or not phone
                       else mask_phone(phone), reg.companions, reg.status, reg.registered_at, reg.checked_in_at,
                       position))
    order = {RegistrationStatus.REGISTERED: 0, RegistrationStatus.ATTENDED: 1, RegistrationStatus.WAITLISTED: 2,
             RegistrationStatus.NO_SHOW: 3, RegistrationStatus.CANCELLED: 4}
    return sorted(out, key=lambda r: order[r.status])


def counts(found: list[Row]) -> dict[str, int]:
    """Registrations by status value."""
    out = {st.value: 0 for st in RegistrationStatus}
    for r in found:
        out[r.status.value] += 1
    return out


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(actor: StaffUser, ev: ClubEvent, label: Callable[[str], str], ip: str = "") -> str:
    """The attendee list as CSV (UTF-8 BOM for Excel), masked as on screen; audited."""
    scope = Scope.of(actor)
    scope.require(Perm.EVENTS_MANAGE)
    tz = club_notify.event_tz(db.session(), ev)
    found = [r for r in rows(scope, ev) if r.status != RegistrationStatus.CANCELLED]
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow([label(h) for h in HEADERS])
    for r in found:
        name = r.name or label(UNNAMED) % {"id": r.member_id}
        w.writerow([_cell(c) for c in [name, r.phone, str(r.companions), label(r.status.value),
                                       r.registered_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                                       r.checked_in_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                                       if r.checked_in_at else ""]])
    with db.transaction() as s:
        audit.record(s, staff=actor, action="club.export", target_type="club_event", target_id=ev.id,
                     detail={"rows": len(found), "masked": not scope.can(Perm.CUSTOMER_PHONES)}, ip=ip,
                     dealer_id=ev.dealer_id)
    return out.getvalue()


def checkin_qr_url(ev: ClubEvent) -> str:
    """The image URL of the event's check-in QR (scene `event:<token>`), made and cached on first use."""
    from scrm.wechat.client import api_for
    from scrm.wechat.errors import WeChatError

    rt = runtime.get()
    key = rt.key("club", "qr", ev.id, ev.checkin_token)
    api = api_for(settings_for_id(ev.account_id))
    cached = rt.redis.get(key)
    if cached:
        return api.qrcode_image_url(cached.decode() if isinstance(cached, bytes) else str(cached))
    left = int((ev.ends_at - db.utcnow()).total_seconds())
    if left <= 0:
        return ""
    try:
        ticket = api.create_qrcode(f"event:{ev.checkin_token}", permanent=False,
                                   expire_seconds=min(QR_MAX_SECONDS, left + 3600))
    except WeChatError as exc:
        raise DomainError(N_("WeChat did not create the QR code: %(error)s"), error=exc.describe()) from exc
    seconds = int(ticket.get("expire_seconds") or 0) or min(QR_MAX_SECONDS, left)
    rt.redis.set(key, str(ticket["ticket"]), ex=max(60, seconds - 300))
    return api.qrcode_image_url(str(ticket["ticket"]))


def seat_use(ev: ClubEvent) -> tuple[int, int]:
    """(seats taken, capacity)."""
    return ev.seats_taken, ev.capacity

