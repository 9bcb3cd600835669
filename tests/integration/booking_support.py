"""Test rows for bookings: a dealer open every day (with a lunch break), its services and demo cars."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scrm import db
from scrm.models import BookingSettings, BookingSource, Dealer, DemoCar, OpeningHours, ServiceKind, ServiceType
from scrm.services import booking_slots
from scrm.services.booking import BookingRequest
from tests.factories import make_dealer

SH = ZoneInfo("Asia/Shanghai")


@dataclass
class Shop:
    dealer: Dealer
    maintenance: ServiceType  # 60 min, 2 per slot
    repair: ServiceType       # 30 min, 5 per slot
    test_drive: ServiceType   # 30 min, 3 per slot
    cars: list[DemoCar]       # two of 极氪001, one of 007


def make_shop(**settings: Any) -> Shop:
    """A dealer with booking settings, hours 08:30-12:00 and 13:00-18:00 every day, services and demo cars."""
    d = make_dealer()
    with db.transaction() as s:
        s.add(BookingSettings(account_id=d.account_id, dealer_id=d.id, timezone="Asia/Shanghai", **settings))
        for wd in range(7):
            s.add(OpeningHours(account_id=d.account_id, dealer_id=d.id, weekday=wd, opens=time(8, 30),
                               closes=time(12, 0)))
            s.add(OpeningHours(account_id=d.account_id, dealer_id=d.id, weekday=wd, opens=time(13, 0),
                               closes=time(18, 0)))
        types = [ServiceType(account_id=d.account_id, dealer_id=d.id, code=code, name=name, kind=kind,
                             duration_minutes=mins, capacity=cap, sort_order=i)
                 for i, (code, name, kind, mins, cap) in enumerate([
                     ("MAINT", "保养", ServiceKind.MAINTENANCE, 60, 2), ("REPAIR", "维修", ServiceKind.REPAIR, 30, 5),
                     ("TD", "试驾", ServiceKind.TEST_DRIVE, 30, 3)])]
        s.add_all(types)
        cars = [DemoCar(account_id=d.account_id, dealer_id=d.id, model=m, plate=p)
                for m, p in (("极氪001", "沪A00001"), ("极氪001", "沪A00002"), ("极氪007", "沪A00007"))]
        s.add_all(cars)
    return Shop(d, types[0], types[1], types[2], cars)


def day_ahead(n: int = 3) -> date:
    """The local day `n` days from today."""
    return (db.utcnow().astimezone(SH) + timedelta(days=n)).date()


def at(hh: int, mm: int = 0, days: int = 3) -> datetime:
    """A local Shanghai time `days` days from today."""
    return datetime.combine(day_ahead(days), time(hh, mm), SH)


def request(shop: Shop, st: ServiceType, start: datetime, **kw: Any) -> BookingRequest:
    """A booking request with a contact mobile unless told otherwise."""
    values: dict[str, Any] = dict(source=BookingSource.STAFF, contact_name="王先生", contact_mobile="13900001111")
    values.update(kw)
    return BookingRequest(dealer_id=shop.dealer.id, service_type_id=st.id, start_at=start, **values)


def assert_slot_invariant(dealer_id: int) -> None:
    """SlotUse equals what the bookings that are not cancelled hold, slot by slot."""
    db.session.remove()
    stored, expected = booking_slots.recount(db.session(), dealer_id)
    db.session.remove()
    assert stored == expected
