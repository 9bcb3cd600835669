"""Free booking times: the rules' grid of each day minus the slots already full."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Booking, BookingStatus, ServiceType
from scrm.services import booking_config, booking_slots
from scrm.services.booking_rules import covered_slots, day_starts, local_instant


@dataclass(frozen=True)
class FreeSlot:
    """A time a booking can start: local wall-clock time and the UTC instant."""

    local: time
    start_at: datetime
    demo_car_id: int | None = None  # for test drives: the first free car


@dataclass(frozen=True)
class DayFree:
    """One local day and its free start times (empty when the day is full or closed)."""

    day: date
    slots: list[FreeSlot] = field(default_factory=list)


def availability(dealer_id: int, service_type_id: int, from_day: date, days: int = 14,
                 demo_model: str | None = None, demo_car_id: int | None = None,
                 now: datetime | None = None, moving: int | None = None) -> list[DayFree]:
    """The free start times of `days` local days from `from_day`, for one service (and demo model/car).

    `moving`: the id of a booking being moved; the slots it holds count as free (it gives them back).
    """
    s = db.session()
    try:
        return free_days(s, dealer_id, service_type_id, from_day, days, demo_model, demo_car_id, now or db.utcnow(),
                         moving)
    finally:
        s.rollback()  # read-only: end the snapshot, hold no locks


def free_days(s: Session, dealer_id: int, service_type_id: int, from_day: date, days: int,
              demo_model: str | None, demo_car_id: int | None, now: datetime,
              moving: int | None = None) -> list[DayFree]:
    """`availability` inside a caller's session."""
    cfg = booking_config.load(s, dealer_id)
    st = booking_config.service_type(s, dealer_id, service_type_id)
    cars = [c.id for c in booking_config.demo_cars(s, st, demo_model, demo_car_id)]
    last = from_day + timedelta(days=days - 1)
    shut = booking_config.closures(s, dealer_id, from_day, last)
    lo = local_instant(from_day, time(0), cfg.rules.tz) or datetime.combine(from_day, time(0), cfg.rules.tz)
    hi = datetime.combine(last + timedelta(days=2), time(0), cfg.rules.tz)
    resources = [booking_slots.type_resource(st.id)] + [booking_slots.car_resource(c) for c in cars]
    used = dict(booking_slots.uses(s, dealer_id, resources, lo, hi))
    if moving is not None:
        _give_back(s, dealer_id, moving, used)
    out = []
    for i in range(days):
        day = from_day + timedelta(days=i)
        starts = day_starts(day, cfg.hours_on(day), shut.get(day, []), st.duration_minutes, cfg.rules, now)
        free = []
        for local, start in starts:
            slots = covered_slots(start, st.duration_minutes, cfg.rules)
            ok, car = fits(st, cars, slots, used)
            if ok:
                free.append(FreeSlot(local, start, car))
        out.append(DayFree(day, free))
    return out


def _give_back(s: Session, dealer_id: int, booking_id: int, used: dict[booking_slots.Key, int]) -> None:
    """Count the slots held by the booking being moved as free: moving it releases them."""
    b = s.get(Booking, booking_id)
    if b is None or b.dealer_id != dealer_id or b.status != BookingStatus.CONFIRMED:
        return
    for key in booking_slots.held(b):
        if used.get(key, 0) > 0:
            used[key] -= 1


def fits(st: ServiceType, cars: Sequence[int], slots: Sequence[datetime],
         used: Mapping[booking_slots.Key, int]) -> tuple[bool, int | None]:
    """Whether every slot has room for the service (and one demo car); which car."""
    tkey = booking_slots.type_resource(st.id)
    if any(used.get((tkey, t), 0) >= st.capacity for t in slots):
        return False, None
    if not cars:
        return True, None
    for car in cars:
        ckey = booking_slots.car_resource(car)
        if all(used.get((ckey, t), 0) < 1 for t in slots):
            return True, car
    return False, None
