"""What a dealer offers, as staff edit it: service types with duration and capacity, and the demo fleet.

Capacity changes apply to slots already in use (see booking_slots._take: the current capacity wins): a
raise lets more bookings in at once; a cut keeps every existing booking and admits none beyond the new
capacity. A service type with bookings is never deleted, only deactivated.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Booking, DemoCar, ServiceKind, ServiceType, StaffUser
from scrm.services import audit, booking_config
from scrm.services.booking_setup import UPCOMING, Clash, clash_of, dealer_of
from scrm.services.errors import DomainError, NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope
from scrm.services.validation import Problems

MAX_DURATION = 8 * 60
MAX_CAPACITY = 99


@dataclass(frozen=True)
class TypeInput:
    """The service type form as typed."""

    name: str
    kind: str
    duration_minutes: str
    capacity: str
    sort_order: str = "0"
    active: bool = True


@dataclass(frozen=True)
class TypeRow:
    """A service type for the list, with its count of upcoming bookings."""

    st: ServiceType
    upcoming: int
    ever_booked: bool


def _int(p: Problems, name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        p.add(name, N_("Enter a whole number from %(min)s to %(max)s."), min=lo, max=hi)
    return value


def _validate_type(data: TypeInput) -> tuple[str, ServiceKind, int, int, int]:
    p = Problems()
    name = " ".join(data.name.split())
    if not name:
        p.add("name", N_("Enter a name."))
    elif len(name) > 50:
        p.add("name", N_("At most %(n)s characters."), n=50)
    kind = ServiceKind.OTHER
    try:
        kind = ServiceKind(data.kind)
    except ValueError:
        p.add("kind", N_("Choose a kind."))
    duration = _int(p, "duration_minutes", data.duration_minutes, 5, MAX_DURATION)
    capacity = _int(p, "capacity", data.capacity, 1, MAX_CAPACITY)
    order = _int(p, "sort_order", data.sort_order or "0", 0, 999)
    p.raise_if_any()
    return name, kind, duration, capacity, order


def types_of(scope: Scope, dealer_id: int, now: datetime | None = None) -> list[TypeRow]:
    """The dealer's service types in their display order, each with its upcoming bookings."""
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
        upcoming: dict[int, int] = {r[0]: r[1] for r in s.execute(
            sa.select(Booking.service_type_id, sa.func.count()).where(
                Booking.dealer_id == dealer_id, Booking.status.in_(UPCOMING), Booking.end_at > (now or db.utcnow()))
            .group_by(Booking.service_type_id))}
        booked = set(s.scalars(sa.select(Booking.service_type_id).where(Booking.dealer_id == dealer_id).distinct()))
        return [TypeRow(st, upcoming.get(st.id, 0), st.id in booked) for st in s.scalars(
            sa.select(ServiceType).where(ServiceType.dealer_id == dealer_id)
            .order_by(ServiceType.active.desc(), ServiceType.sort_order, ServiceType.id))]
    finally:
        s.rollback()


def _type(s: Session, staff: StaffUser, type_id: int) -> ServiceType:
    st = s.scalar(sa.select(ServiceType).where(ServiceType.id == type_id).with_for_update())
    if st is None:
        raise NotFound()
    dealer_of(s, Scope.of(staff), st.dealer_id)
    return st


def get_type(scope: Scope, type_id: int) -> ServiceType:
    """One service type in scope (read-only)."""
    s = db.session()
    try:
        st = s.get(ServiceType, type_id)
        if st is None:
            raise NotFound()
        dealer_of(s, scope, st.dealer_id)
        return st
    finally:
        s.rollback()


def create_type(staff: StaffUser, dealer_id: int, data: TypeInput, ip: str = "") -> ServiceType:
    """Add a service type (active unless told otherwise)."""
    with db.transaction() as s:
        dealer = dealer_of(s, Scope.of(staff), dealer_id)
        name, kind, duration, capacity, order = _validate_type(data)
        st = ServiceType(account_id=dealer.account_id, dealer_id=dealer_id, code=f"T{secrets.token_hex(6).upper()}",
                         name=name, kind=kind, duration_minutes=duration, capacity=capacity, sort_order=order,
                         active=data.active)
        s.add(st)
        s.flush()
        audit.record(s, staff=staff, action="booking_setup.type_create", target_type="service_type", target_id=st.id,
                     ip=ip, dealer_id=dealer_id, detail={"name": name, "kind": kind.value, "duration": duration,
                                                         "capacity": capacity})
        return st


def update_type(staff: StaffUser, type_id: int, data: TypeInput, ip: str = "") -> ServiceType:
    """Edit a service type; a new capacity applies to slots already in use (existing bookings stay)."""
    with db.transaction() as s:
        st = _type(s, staff, type_id)
        name, kind, duration, capacity, order = _validate_type(data)
        before = {"name": st.name, "kind": st.kind.value, "duration": st.duration_minutes, "capacity": st.capacity,
                  "order": st.sort_order, "active": st.active}
        st.name, st.kind, st.duration_minutes, st.capacity, st.sort_order = name, kind, duration, capacity, order
        st.active = data.active
        after = {"name": name, "kind": kind.value, "duration": duration, "capacity": capacity, "order": order,
                 "active": data.active}
        audit.record(s, staff=staff, action="booking_setup.type_update", target_type="service_type",
                     target_id=st.id, ip=ip, dealer_id=st.dealer_id,
                     detail={k: [before[k], after[k]] for k in after if before[k] != after[k]})
        return st


def set_type_active(staff: StaffUser, type_id: int, active: bool, ip: str = "") -> ServiceType:
    """Deactivate (no new bookings; existing ones stay) or reactivate a service type."""
    with db.transaction() as s:
        st = _type(s, staff, type_id)
        if st.active != active:
            st.active = active
            audit.record(s, staff=staff, action="booking_setup.type_update", target_type="service_type",
                         target_id=st.id, ip=ip, dealer_id=st.dealer_id, detail={"active": [not active, active]})
        return st


def delete_type(staff: StaffUser, type_id: int, ip: str = "") -> ServiceType:
    """Delete a service type that was never booked; one with bookings can only be deactivated."""
    with db.transaction() as s:
        st = _type(s, staff, type_id)
        if s.scalar(sa.select(Booking.id).where(Booking.service_type_id == st.id).limit(1)) is not None:
            raise DomainError(N_("This service type has bookings; deactivate it instead."))
        s.delete(st)
        audit.record(s, staff=staff, action="booking_setup.type_delete", target_type="service_type",
                     target_id=type_id, ip=ip, dealer_id=st.dealer_id, detail={"name": st.name})
        return st


@dataclass(frozen=True)
class CarInput:
    """The demo car form as typed."""

    model: str
    plate: str = ""
    active: bool = True


def _validate_car(data: CarInput) -> tuple[str, str]:
    p = Problems()
    model = " ".join(data.model.split())
    if not model:
        p.add("model", N_("Enter the car model."))
    elif len(model) > 100:
        p.add("model", N_("At most %(n)s characters."), n=100)
    plate = "".join(data.plate.split()).replace("·", "").upper()
    if len(plate) > 10:
        p.add("plate", N_("At most %(n)s characters."), n=10)
    p.raise_if_any()
    return model, plate


def cars_of(scope: Scope, dealer_id: int) -> list[DemoCar]:
    """The dealer's demo fleet: active cars first, by model."""
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
        return list(s.scalars(sa.select(DemoCar).where(DemoCar.dealer_id == dealer_id)
                              .order_by(DemoCar.active.desc(), DemoCar.model, DemoCar.id)))
    finally:
        s.rollback()


def get_car(scope: Scope, car_id: int) -> DemoCar:
    """One demo car in scope (read-only)."""
    s = db.session()
    try:
        car = s.get(DemoCar, car_id)
        if car is None:
            raise NotFound()
        dealer_of(s, scope, car.dealer_id)
        return car
    finally:
        s.rollback()


def _car(s: Session, staff: StaffUser, car_id: int) -> DemoCar:
    car = s.scalar(sa.select(DemoCar).where(DemoCar.id == car_id).with_for_update())
    if car is None:
        raise NotFound()
    dealer_of(s, Scope.of(staff), car.dealer_id)
    return car


def future_drives(s: Session, car: DemoCar, now: datetime) -> list[Clash]:
    """The upcoming test drives booked on `car`."""
    tz = booking_config.load(s, car.dealer_id).rules.tz
    rows = s.execute(sa.select(Booking, ServiceType.name).join(ServiceType, ServiceType.id == Booking.service_type_id)
                     .where(Booking.demo_car_id == car.id, Booking.status.in_(UPCOMING), Booking.end_at > now)
                     .order_by(Booking.start_at, Booking.id)).all()
    return [clash_of(b, tz, name) for b, name in rows]


def create_car(staff: StaffUser, dealer_id: int, data: CarInput, ip: str = "") -> DemoCar:
    """Add a demo car to the fleet."""
    with db.transaction() as s:
        dealer = dealer_of(s, Scope.of(staff), dealer_id)
        model, plate = _validate_car(data)
        car = DemoCar(account_id=dealer.account_id, dealer_id=dealer_id, model=model, plate=plate, active=data.active)
        s.add(car)
        s.flush()
        audit.record(s, staff=staff, action="booking_setup.car_create", target_type="demo_car", target_id=car.id,
                     ip=ip, dealer_id=dealer_id, detail={"model": model, "plate": plate})
        return car


def update_car(staff: StaffUser, car_id: int, data: CarInput, ip: str = "",
               now: datetime | None = None) -> tuple[DemoCar, list[Clash]]:
    """Edit a demo car; when it is retired, the upcoming test drives booked on it (they stay booked)."""
    with db.transaction() as s:
        car = _car(s, staff, car_id)
        model, plate = _validate_car(data)
        before = {"model": car.model, "plate": car.plate, "active": car.active}
        car.model, car.plate, car.active = model, plate, data.active
        after = {"model": model, "plate": plate, "active": data.active}
        audit.record(s, staff=staff, action="booking_setup.car_update", target_type="demo_car", target_id=car.id,
                     ip=ip, dealer_id=car.dealer_id,
                     detail={k: [before[k], after[k]] for k in after if before[k] != after[k]})
        return car, ([] if car.active else future_drives(s, car, now or db.utcnow()))


def set_car_active(staff: StaffUser, car_id: int, active: bool, ip: str = "",
                   now: datetime | None = None) -> tuple[DemoCar, list[Clash]]:
    """Retire (no new test drives) or return a demo car; on retiring, the upcoming test drives booked on it."""
    with db.transaction() as s:
        car = _car(s, staff, car_id)
        if car.active != active:
            car.active = active
            audit.record(s, staff=staff, action="booking_setup.car_update", target_type="demo_car",
                         target_id=car.id, ip=ip, dealer_id=car.dealer_id, detail={"active": [not active, active]})
        return car, ([] if active else future_drives(s, car, now or db.utcnow()))


def retired_drives(scope: Scope, dealer_id: int, now: datetime | None = None) -> dict[int, list[Clash]]:
    """Retired demo cars that still carry upcoming test drives, with those drives (by car id)."""
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
        out = {}
        for car in s.scalars(sa.select(DemoCar).where(DemoCar.dealer_id == dealer_id, DemoCar.active.is_(False))):
            drives = future_drives(s, car, now or db.utcnow())
            if drives:
                out[car.id] = drives
        return out
    finally:
        s.rollback()
