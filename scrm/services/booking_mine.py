"""A follower's own side of booking, shared by the chat and the H5 pages: who is booking (the bound
customer record and its vehicles), and "my bookings" (the follower's, and those of the records bound to it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    Booking,
    BookingStatus,
    Customer,
    CustomerBinding,
    Dealer,
    DemoCar,
    ServiceKind,
    ServiceType,
    Vehicle,
)
from scrm.services import booking_config
from scrm.services.booking_rules import can_cancel
from scrm.services.errors import NotFound

ACTIVE = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)


@dataclass(frozen=True)
class VehicleChoice:
    """One of the bound customer's vehicles, as the follower sees it."""

    id: int
    label: str  # "沪A12345 极氪001" (plate first; the VIN's last 6 when there is no plate)


@dataclass(frozen=True)
class Owner:
    """Who books at a dealer: the bound customer record (if any) and its vehicles."""

    dealer_id: int
    customer_id: int | None
    name: str
    mobile: str  # the record's mobile (whole: the follower proved it when binding), "" without a record
    vehicles: tuple[VehicleChoice, ...]


@dataclass(frozen=True)
class BookingView:
    """One booking as its owner sees it; `start_local` is in the dealer's time zone."""

    id: int
    dealer_id: int
    dealer_name: str
    dealer_phone: str
    service_type_id: int
    service_name: str
    kind: ServiceKind
    start_at: datetime
    start_local: datetime
    duration_minutes: int
    status: BookingStatus
    vehicle_label: str
    demo_model: str
    can_change: bool  # confirmed and still before the dealer's cancellation cut-off
    satisfaction: int | None


def vehicle_label(plate: str | None, model: str | None, vin: str | None) -> str:
    """How a vehicle is named to its owner."""
    first = plate or (f"VIN…{vin[-6:]}" if vin else "")
    return " ".join(p for p in (first, model or "") if p)


def _bound_customer(s: Session, follower_id: int, dealer_id: int) -> Customer | None:
    return s.scalar(sa.select(Customer).join(CustomerBinding, CustomerBinding.customer_id == Customer.id)
                    .where(CustomerBinding.follower_id == follower_id, CustomerBinding.dealer_id == dealer_id,
                           Customer.merged_into_id.is_(None), Customer.erased_at.is_(None)))


def owner_for(follower_id: int, dealer_id: int) -> Owner:
    """The follower's bound record at this dealer and its vehicles (an Owner without a record if unbound)."""
    s = db.session()
    try:
        c = _bound_customer(s, follower_id, dealer_id)
        if c is None:
            return Owner(dealer_id=dealer_id, customer_id=None, name="", mobile="", vehicles=())
        rows = s.execute(sa.select(Vehicle.id, Vehicle.plate, Vehicle.model, Vehicle.vin)
                         .where(Vehicle.customer_id == c.id).order_by(Vehicle.id)).all()
        return Owner(dealer_id=dealer_id, customer_id=c.id, name=c.name or "", mobile=c.mobile or "",
                     vehicles=tuple(VehicleChoice(r.id, vehicle_label(r.plate, r.model, r.vin)) for r in rows))
    finally:
        s.rollback()


def _mine(s: Session, follower_id: int) -> sa.ColumnElement[bool]:
    bound = sa.select(CustomerBinding.customer_id).where(CustomerBinding.follower_id == follower_id)
    return sa.or_(Booking.follower_id == follower_id, Booking.customer_id.in_(bound))


def _views(s: Session, rows: list[Booking], now: datetime) -> list[BookingView]:
    out = []
    for b in rows:
        cfg = booking_config.load(s, b.dealer_id)
        st = s.get(ServiceType, b.service_type_id)
        dealer = s.get(Dealer, b.dealer_id)
        v = s.get(Vehicle, b.vehicle_id) if b.vehicle_id else None
        car = s.get(DemoCar, b.demo_car_id) if b.demo_car_id else None
        out.append(BookingView(
            id=b.id, dealer_id=b.dealer_id, dealer_name=dealer.name if dealer else "",
            dealer_phone=dealer.phone if dealer else "", service_type_id=b.service_type_id,
            service_name=st.name if st else "", kind=st.kind if st else ServiceKind.OTHER, start_at=b.start_at,
            start_local=b.start_at.astimezone(cfg.rules.tz),
            duration_minutes=int((b.end_at - b.start_at).total_seconds() // 60), status=b.status,
            vehicle_label=vehicle_label(v.plate, v.model, v.vin) if v else "", demo_model=car.model if car else "",
            can_change=b.status == BookingStatus.CONFIRMED and can_cancel(b.start_at, cfg.rules, now),
            satisfaction=b.satisfaction))
    return out


def for_follower(follower_id: int, *, upcoming_only: bool = True, limit: int = 20,
                 now: datetime | None = None) -> list[BookingView]:
    """The follower's bookings: active ones from now on, soonest first (or all, newest first)."""
    now = now or db.utcnow()
    s = db.session()
    try:
        q = sa.select(Booking).where(_mine(s, follower_id))
        if upcoming_only:
            q = q.where(Booking.status.in_(ACTIVE), Booking.end_at > now).order_by(Booking.start_at)
        else:
            q = q.order_by(Booking.start_at.desc())
        return _views(s, list(s.scalars(q.limit(limit))), now)
    finally:
        s.rollback()


def one_for_follower(follower_id: int, booking_id: int, now: datetime | None = None) -> BookingView:
    """One booking of the follower's; NotFound for anyone else's."""
    now = now or db.utcnow()
    s = db.session()
    try:
        b = s.scalar(sa.select(Booking).where(Booking.id == booking_id, _mine(s, follower_id)))
        if b is None:
            raise NotFound()
        return _views(s, [b], now)[0]
    finally:
        s.rollback()


def is_followers(s: Session, b: Booking, follower_id: int) -> bool:
    """Whether the booking is the follower's own or belongs to a customer record bound to the follower."""
    if b.follower_id == follower_id:
        return True
    if b.customer_id is None:
        return False
    return s.scalar(sa.select(CustomerBinding.id).where(CustomerBinding.follower_id == follower_id,
                                                        CustomerBinding.customer_id == b.customer_id)) is not None
