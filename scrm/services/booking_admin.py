"""Bookings as staff see them: the filtered list and one booking's page, scoped to the staff member's dealer.

Times are shown in the dealer's booking time zone; phone numbers are masked for roles without
Perm.CUSTOMER_PHONES. Writes (check-in, complete, cancel, move, booking on behalf) go through
scrm.services.booking / booking_status (see booking_admin_new for booking on behalf of a caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    AuditLog,
    Booking,
    BookingSource,
    BookingStatus,
    Customer,
    Dealer,
    DemoCar,
    ServiceType,
    StaffUser,
    Vehicle,
)
from scrm.services import audit, booking_config
from scrm.services.customer_admin import Search, show_phone, understand
from scrm.services.errors import NotFound
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate
from scrm.services.scope import Scope

PER_PAGE = 50
ORDERS = ("soonest", "newest")  # by start time ascending, or by booking time newest first


@dataclass(frozen=True)
class BookingFilter:
    """The list's filters: local days `first`..`last` (inclusive) of the start time, and the rest exact."""

    first: date | None = None
    last: date | None = None
    status: str = ""
    service_type_id: int | None = None
    source: str = ""
    q: str = ""
    order: str = "soonest"


@dataclass(frozen=True)
class BookingRow:
    """One booking as a list line or a calendar entry shows it."""

    id: int
    start_local: datetime
    end_local: datetime
    status: BookingStatus
    source: BookingSource
    service_name: str
    customer_id: int | None
    name: str
    phone: str  # masked per role
    plate: str
    note: str


def _check_dealer(scope: Scope, dealer_id: int) -> None:
    if not scope.dealer_ok(dealer_id):
        raise NotFound()


def dealer_zone(s: Session, dealer_id: int) -> ZoneInfo:
    """The dealer's booking time zone."""
    return booking_config.load(s, dealer_id).rules.tz


def zone_of(dealer_id: int) -> ZoneInfo:
    """The dealer's booking time zone (read in the request's session)."""
    return dealer_zone(db.session(), dealer_id)


def today_of(dealer_id: int, now: datetime | None = None) -> date:
    """Today's date in the dealer's time zone."""
    return (now or db.utcnow()).astimezone(zone_of(dealer_id)).date()


def service_types(scope: Scope, dealer_id: int, *, active_only: bool = False) -> list[ServiceType]:
    """The dealer's service types in their display order."""
    _check_dealer(scope, dealer_id)
    stmt = sa.select(ServiceType).where(scope.condition(ServiceType), ServiceType.dealer_id == dealer_id)
    if active_only:
        stmt = stmt.where(ServiceType.active.is_(True))
    return list(db.session.scalars(stmt.order_by(ServiceType.sort_order, ServiceType.id)))


def row_of(scope: Scope, tz: ZoneInfo, b: Booking, c: Customer | None, v: Vehicle | None,
           st: ServiceType) -> BookingRow:
    """A booking, its customer, vehicle and service as one display row."""
    name = (c.name if c is not None and c.name else "") or b.contact_name
    phone = b.contact_mobile or (c.mobile if c is not None else "") or ""
    return BookingRow(id=b.id, start_local=b.start_at.astimezone(tz), end_local=b.end_at.astimezone(tz),
                      status=b.status, source=b.source, service_name=st.name, customer_id=b.customer_id,
                      name=name, phone=show_phone(scope, phone), plate=(v.plate or "") if v is not None else "",
                      note=b.note)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(scope: Scope, search: Search) -> sa.ColumnElement[bool]:
    """Bookings matching the search box: name prefix, mobile (or its last 4 digits), plate or VIN."""
    if search.kind in ("plate", "vin"):
        column = Vehicle.plate if search.kind == "plate" else Vehicle.vin
        return Booking.vehicle_id.in_(sa.select(Vehicle.id).where(scope.condition(Vehicle), column == search.value))
    if search.kind == "mobile":
        return sa.or_(Booking.contact_mobile == search.value, Customer.mobile == search.value)
    if search.kind == "mobile_last4":
        return sa.or_(sa.func.substr(Booking.contact_mobile, 8, 4) == search.value,
                      sa.func.substr(Customer.mobile, 8, 4) == search.value)
    if search.kind == "landline":
        return Customer.landline == search.value
    prefix = _escape_like(search.value.lower()) + "%"
    return sa.or_(sa.func.lower(Customer.name).like(prefix, escape="\\"),
                  sa.func.lower(Booking.contact_name).like(prefix, escape="\\"))


def statement(scope: Scope, dealer_id: int, flt: BookingFilter, tz: ZoneInfo) -> tuple[sa.Select[Any], Search | None]:
    """The list's query (booking, customer, vehicle, service type rows) and how the search box was understood."""
    _check_dealer(scope, dealer_id)
    stmt = (sa.select(Booking, Customer, Vehicle, ServiceType)
            .join(ServiceType, ServiceType.id == Booking.service_type_id)
            .outerjoin(Customer, Customer.id == Booking.customer_id)
            .outerjoin(Vehicle, Vehicle.id == Booking.vehicle_id)
            .where(scope.condition(Booking), Booking.dealer_id == dealer_id))
    if flt.first is not None:
        stmt = stmt.where(Booking.start_at >= datetime.combine(flt.first, time(0), tz))
    if flt.last is not None:
        stmt = stmt.where(Booking.start_at < datetime.combine(flt.last + timedelta(days=1), time(0), tz))
    if flt.status in {x.value for x in BookingStatus}:
        stmt = stmt.where(Booking.status == BookingStatus(flt.status))
    if flt.source in {x.value for x in BookingSource}:
        stmt = stmt.where(Booking.source == BookingSource(flt.source))
    if flt.service_type_id is not None:
        stmt = stmt.where(Booking.service_type_id == flt.service_type_id)
    search = understand(flt.q) if flt.q else None
    if search is not None:
        stmt = stmt.where(_search(scope, search))
    if flt.order == "newest":
        stmt = stmt.order_by(Booking.created_at.desc(), Booking.id.desc())
    else:
        stmt = stmt.order_by(Booking.start_at, Booking.id)
    return cast("sa.Select[Any]", stmt), search


def list_bookings(scope: Scope, dealer_id: int, flt: BookingFilter, page: int = 1,
                  per_page: int = PER_PAGE) -> tuple[Page[BookingRow], Search | None]:
    """One page of the dealer's bookings matching `flt`, and how the search box was understood."""
    _check_dealer(scope, dealer_id)
    s = db.session()
    tz = dealer_zone(s, dealer_id)
    stmt, search = statement(scope, dealer_id, flt, tz)
    raw = paginate(s, stmt, page, per_page)
    rows = [row_of(scope, tz, b, c, v, st) for b, c, v, st in raw.items]
    return Page(items=rows, page=raw.page, per_page=raw.per_page, total=raw.total), search


@dataclass(frozen=True)
class HistoryLine:
    """One step of a booking's life: `label` is an English msgid; `who` is a staff name or ''."""

    at: datetime
    label: str
    who: str
    detail: str = ""
    source: str = ""  # a BookingSource value, on the line of the booking itself


@dataclass(frozen=True)
class BookingDetail:
    """Everything the booking page shows."""

    booking: Booking
    row: BookingRow
    tz: ZoneInfo
    dealer_name: str
    service: ServiceType
    customer: Customer | None
    vehicle: Vehicle | None
    demo_car: DemoCar | None
    contact_phone: str
    history: list[HistoryLine]
    started: bool  # the start time has passed (no-show allowed)


CUSTOMER_CANCELLED = N_("Cancelled by the customer")
BOOKED = N_("Booked")


def _history(s: Session, b: Booking, tz: ZoneInfo) -> list[HistoryLine]:
    """The audit rows of the booking (staff actions), plus what the customer did on their own."""
    rows = s.execute(sa.select(AuditLog, StaffUser.display_name, StaffUser.username)
                     .outerjoin(StaffUser, StaffUser.id == AuditLog.staff_id)
                     .where(AuditLog.target_type == "booking", AuditLog.target_id == str(b.id),
                            AuditLog.dealer_id == b.dealer_id)
                     .order_by(AuditLog.created_at, AuditLog.id)).all()
    out: list[HistoryLine] = []
    actions = {r[0].action for r in rows}
    if "booking.create" not in actions:
        out.append(HistoryLine(b.created_at.astimezone(tz), BOOKED, "", source=b.source.value))
    for entry, display, username in rows:
        detail = ""
        if entry.action == "booking.move":
            detail = " → ".join(_local_text(str(entry.detail.get(k, "")), tz) for k in ("from", "to"))
        elif entry.action == "booking.cancel":
            detail = str(entry.detail.get("reason", ""))
        out.append(HistoryLine(entry.created_at.astimezone(tz), audit.ACTIONS.get(entry.action, entry.action),
                               display or username or "", detail))
    if b.cancelled_at is not None and "booking.cancel" not in actions:
        out.append(HistoryLine(b.cancelled_at.astimezone(tz), CUSTOMER_CANCELLED, "", b.cancel_reason))
    return sorted(out, key=lambda h: h.at)


def _local_text(iso: str, tz: ZoneInfo) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone(tz).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def detail(scope: Scope, booking_id: int, now: datetime | None = None) -> BookingDetail:
    """One booking with its customer, vehicle, service, demo car and history; NotFound when out of scope."""
    s = db.session()
    b = scope.get(s, Booking, booking_id)
    tz = dealer_zone(s, b.dealer_id)
    st = s.get(ServiceType, b.service_type_id)
    assert st is not None
    c = s.get(Customer, b.customer_id) if b.customer_id is not None else None
    v = s.get(Vehicle, b.vehicle_id) if b.vehicle_id is not None else None
    car = s.get(DemoCar, b.demo_car_id) if b.demo_car_id is not None else None
    dealer = s.get(Dealer, b.dealer_id)
    row = row_of(scope, tz, b, c, v, st)
    return BookingDetail(booking=b, row=row, tz=tz, dealer_name=dealer.name if dealer else "", service=st,
                         customer=c, vehicle=v, demo_car=car, contact_phone=row.phone,
                         history=_history(s, b, tz), started=(now or db.utcnow()) >= b.start_at)


def for_customer(scope: Scope, customer_id: int, limit: int = 5) -> tuple[list[BookingRow], int]:
    """A customer's latest bookings (by visit time, newest first) and how many there are, in scope."""
    s = db.session()
    stmt = (sa.select(Booking, Customer, Vehicle, ServiceType)
            .join(ServiceType, ServiceType.id == Booking.service_type_id)
            .join(Customer, Customer.id == Booking.customer_id)
            .outerjoin(Vehicle, Vehicle.id == Booking.vehicle_id)
            .where(scope.condition(Booking), Booking.customer_id == customer_id))
    total = s.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    rows = []
    for b, c, v, st in s.execute(stmt.order_by(Booking.start_at.desc(), Booking.id.desc()).limit(limit)):
        rows.append(row_of(scope, dealer_zone(s, b.dealer_id), b, c, v, st))
    return rows, int(total)
