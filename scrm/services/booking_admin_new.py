"""Booking on behalf of a caller: staff find the customer (or take a new caller's name and mobile), pick the
vehicle, the service and a free time, and the booking is made through scrm.services.booking.book with
source STAFF, so every booking rule, the slot gate, the events and the audit row are the same as everywhere.

A hidden request key from the form makes a double submit one booking. Every problem of the input is
reported at once (FormInvalid) before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from scrm import db
from scrm.models import Booking, BookingSource, Customer, DemoCar, ServiceKind, ServiceType, StaffUser, Vehicle
from scrm.services import booking, booking_availability, normalize
from scrm.services.booking_availability import DayFree
from scrm.services.booking_mine import vehicle_label
from scrm.services.customer_admin import CustomerFilter, CustomerRow, list_customers, show_phone
from scrm.services.errors import NotFound
from scrm.services.normalize_base import N_, FieldError
from scrm.services.scope import Scope
from scrm.services.validation import Problems

REQUEST_KEY = re.compile(r"[A-Za-z0-9-]{16,64}")
SEARCH_LIMIT = 20
DAYS_SHOWN = 14


@dataclass(frozen=True)
class Caller:
    """Who is being booked: a customer record of the dealer, or a new caller's name and mobile."""

    customer: Customer | None
    name: str
    mobile: str  # as the staff member may see it
    vehicles: list[tuple[int, str]]  # (vehicle id, label)


@dataclass(frozen=True)
class OnBehalf:
    """The submitted form, as raw as it came (the service validates)."""

    dealer_id: int
    request_key: str
    customer_id: int | None = None
    name: str = ""
    mobile: str = ""
    vehicle_id: int | None = None
    service_type_id: int | None = None
    demo_model: str = ""
    licence_confirmed: bool = False
    start_at: str = ""  # an ISO instant with offset, as the time buttons send it
    note: str = ""


def find_customers(scope: Scope, dealer_id: int, q: str) -> list[CustomerRow]:
    """Customers of the dealer matching a name, a mobile (or its last 4 digits) or a plate."""
    if not scope.dealer_ok(dealer_id) or not q.strip():
        return []
    page = list_customers(scope, CustomerFilter(q=q.strip()[:64], dealer=dealer_id), per_page=SEARCH_LIMIT)
    return [r for r in page.rows if r.customer.dealer_id == dealer_id]


def _customer(scope: Scope, dealer_id: int, customer_id: int) -> Customer:
    c = db.session.get(Customer, customer_id)
    if (c is None or not scope.allows(c) or c.dealer_id != dealer_id or c.merged_into_id is not None
            or c.erased_at is not None):
        raise NotFound()
    return c


def caller(scope: Scope, dealer_id: int, customer_id: int | None, name: str = "", mobile: str = "") -> Caller:
    """The caller shown on the form: a customer record with its vehicles, or the typed name and mobile."""
    if customer_id is None:
        return Caller(customer=None, name=name, mobile=mobile, vehicles=[])
    c = _customer(scope, dealer_id, customer_id)
    rows = db.session.execute(sa.select(Vehicle.id, Vehicle.plate, Vehicle.model, Vehicle.vin)
                              .where(Vehicle.customer_id == c.id).order_by(Vehicle.id)).all()
    return Caller(customer=c, name=c.name or "", mobile=show_phone(scope, c.mobile),
                  vehicles=[(r.id, vehicle_label(r.plate, r.model, r.vin)) for r in rows])


def demo_models(scope: Scope, dealer_id: int) -> list[str]:
    """The models of the dealer's active demo fleet."""
    if not scope.dealer_ok(dealer_id):
        return []
    return list(db.session.scalars(sa.select(DemoCar.model).distinct().where(
        scope.condition(DemoCar), DemoCar.dealer_id == dealer_id, DemoCar.active.is_(True)).order_by(DemoCar.model)))


def free_days(dealer_id: int, service_type_id: int, from_day: date, demo_model: str = "",
              now: datetime | None = None) -> list[DayFree]:
    """The next DAYS_SHOWN days with their free times (days without room have no slots)."""
    return booking_availability.availability(dealer_id, service_type_id, from_day, DAYS_SHOWN,
                                             demo_model or None, None, now)


def _check(scope: Scope, form: OnBehalf, p: Problems) -> tuple[str, str, int | None, datetime | None]:
    """Validate what the booking rules do not: the caller, the key, the start; (name, mobile, customer, start)."""
    name, mobile, customer_id = "", "", form.customer_id
    if customer_id is not None:
        c = _customer(scope, form.dealer_id, customer_id)
        name, mobile = c.name or "", c.mobile or ""
    else:
        try:
            name = normalize.person_name(form.name, field="name") or ""
        except FieldError as exc:
            p.add("name", exc.message, **exc.params)
        if not name and not p.has("name"):
            p.add("name", N_("Please enter the caller's name."))
        try:
            number = normalize.phone(form.mobile, field="mobile")
        except FieldError:
            number = None
        if number is None or number.kind != "mobile":
            p.add("mobile", N_("Please enter an 11-digit mainland mobile number."))
        else:
            mobile = number.value
            customer_id = db.session.scalar(sa.select(Customer.id).where(
                Customer.dealer_id == form.dealer_id, Customer.mobile == mobile, Customer.merged_into_id.is_(None),
                Customer.erased_at.is_(None)).order_by(Customer.id).limit(1))
    if form.service_type_id is None:
        p.add("service", N_("Please choose a service."))
    start: datetime | None = None
    try:
        start = datetime.fromisoformat(form.start_at) if form.start_at else None
    except ValueError:
        start = None
    if start is None or start.tzinfo is None:
        p.add("start_at", N_("Please choose a time."))
        start = None
    if not REQUEST_KEY.fullmatch(form.request_key):
        p.add("", N_("The form has expired; please start the booking again."))
    if len(form.note) > 500:
        p.add("note", N_("The note may be at most %(max)s characters."), max=500)
    return name, mobile, customer_id, start


def book_on_behalf(staff: StaffUser, form: OnBehalf, *, ip: str = "", now: datetime | None = None) -> Booking:
    """Make the booking with source STAFF; FormInvalid, SlotTaken or another DomainError when it cannot be."""
    scope = Scope.of(staff)
    if not scope.dealer_ok(form.dealer_id):
        raise NotFound()
    p = Problems()
    name, mobile, customer_id, start = _check(scope, form, p)
    if form.vehicle_id is not None and form.customer_id is None:
        p.add("vehicle", N_("Choose a customer record before choosing a vehicle."))
    p.raise_if_any()
    assert start is not None and form.service_type_id is not None
    db.session.rollback()  # end the read snapshot: book() runs its own transaction
    st_kind = _kind(form.dealer_id, form.service_type_id)
    req = booking.BookingRequest(
        dealer_id=form.dealer_id, service_type_id=form.service_type_id, start_at=start, source=BookingSource.STAFF,
        request_key=form.request_key, customer_id=customer_id, vehicle_id=form.vehicle_id,
        demo_model=(form.demo_model or None) if st_kind == ServiceKind.TEST_DRIVE else None,
        contact_name=name, contact_mobile=mobile, licence_confirmed=form.licence_confirmed,
        note=form.note.replace("\r\n", "\n").strip())
    return booking.book(req, staff=staff, ip=ip, now=now)


def _kind(dealer_id: int, service_type_id: int) -> ServiceKind | None:
    st = db.session.get(ServiceType, service_type_id)
    return st.kind if st is not None and st.dealer_id == dealer_id else None
