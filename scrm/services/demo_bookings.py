"""Demo bookings for `scrm demo`: each dealer's rules, hours (with a lunch break), services, demo fleet,
and some bookings of its customers, past (completed) and coming (confirmed), with true slot counters."""

from __future__ import annotations

import random
from datetime import time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.db import utcnow
from scrm.models import (
    Booking,
    BookingSettings,
    BookingSource,
    BookingStatus,
    Customer,
    Dealer,
    DemoCar,
    OpeningHours,
    ServiceKind,
    ServiceType,
    Vehicle,
)
from scrm.services import booking_config, booking_slots
from scrm.services.booking_rules import grid

SERVICES = [("MAINT", "保养", ServiceKind.MAINTENANCE, 60, 4), ("REPAIR", "维修", ServiceKind.REPAIR, 60, 3),
            ("BODY", "钣喷", ServiceKind.BODYWORK, 120, 2), ("TD", "试驾", ServiceKind.TEST_DRIVE, 30, 3)]
FLEET = [("极氪001", "沪A·D0001"), ("极氪001", "沪A·D0002"), ("极氪007", "沪A·D0007"), ("极氪7X", "沪A·D0070")]


def seed_bookings(s: Session, acc_id: int, dealers: list[Dealer], per_dealer: int = 24) -> int:
    """Configure booking for each dealer and add `per_dealer` bookings; return how many bookings."""
    rng = random.Random(20261123)
    count = 0
    for dealer in dealers:
        s.add(BookingSettings(account_id=acc_id, dealer_id=dealer.id))
        for wd in range(7):
            s.add(OpeningHours(account_id=acc_id, dealer_id=dealer.id, weekday=wd, opens=time(8, 30),
                               closes=time(12, 0)))
            s.add(OpeningHours(account_id=acc_id, dealer_id=dealer.id, weekday=wd, opens=time(13, 0),
                               closes=time(18, 0)))
        types = [ServiceType(account_id=acc_id, dealer_id=dealer.id, code=code, name=name, kind=kind,
                             duration_minutes=mins, capacity=cap, sort_order=i)
                 for i, (code, name, kind, mins, cap) in enumerate(SERVICES)]
        cars = [DemoCar(account_id=acc_id, dealer_id=dealer.id, model=m, plate=p.replace("·", "")) for m, p in FLEET]
        s.add_all(types)
        s.add_all(cars)
        s.flush()
        count += _bookings(s, dealer, types, cars, rng, per_dealer)
    return count


def _bookings(s: Session, dealer: Dealer, types: list[ServiceType], cars: list[DemoCar], rng: random.Random,
              n: int) -> int:
    cfg = booking_config.load(s, dealer.id)
    owners = s.execute(sa.select(Customer.id, Customer.name, Customer.mobile, Vehicle.id.label("vehicle_id"))
                       .join(Vehicle, Vehicle.customer_id == Customer.id)
                       .where(Customer.dealer_id == dealer.id, Customer.mobile.is_not(None))
                       .order_by(Customer.id).limit(n)).all()
    now = utcnow()
    made = 0
    for i, owner in enumerate(owners):
        past = i % 3 == 0
        st = types[3] if i % 6 == 5 else types[rng.randrange(3)]
        offset = -rng.randint(1, 30) if past else rng.randint(1, 10)
        day = (now.astimezone(cfg.rules.tz) + timedelta(days=offset)).date()
        starts = grid(day, cfg.hours_on(day), [], st.duration_minutes, cfg.rules)
        car = cars[i % len(cars)].id if st.kind == ServiceKind.TEST_DRIVE else None
        rng.shuffle(starts)
        for _, start in starts:
            b = Booking(account_id=dealer.account_id, dealer_id=dealer.id, customer_id=owner.id,
                        vehicle_id=None if car else owner.vehicle_id, service_type_id=st.id, demo_car_id=car,
                        start_at=start, end_at=start + timedelta(minutes=st.duration_minutes),
                        slot_minutes=cfg.rules.slot_minutes,
                        status=BookingStatus.COMPLETED if past else BookingStatus.CONFIRMED,
                        source=rng.choice([BookingSource.CHAT, BookingSource.H5, BookingSource.STAFF]),
                        contact_name=owner.name or "", contact_mobile=owner.mobile or "",
                        licence_confirmed=car is not None, request_key=f"demo-{dealer.code}-{i}",
                        satisfaction=rng.choice([None, 4, 5, 5]) if past else None,
                        created_at=start - timedelta(days=2), updated_at=start,
                        completed_at=start + timedelta(minutes=st.duration_minutes) if past else None)
            caps = {booking_slots.type_resource(st.id): st.capacity}
            if car:
                caps[booking_slots.car_resource(car)] = 1
            if booking_slots.apply(s, dealer.id, booking_slots.held(b), [], caps):
                s.add(b)
                made += 1
                break
    s.flush()
    return made


