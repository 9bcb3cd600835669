"""The database gate against overbooking: per-slot use counters raised with a conditional upsert.

Every change to a slot's `used` goes through `apply`, which touches the slots in one global order
(resource, then time), so two transactions that both book, move or cancel never wait on each other in
a cycle. A raise is `INSERT .. ON CONFLICT DO UPDATE SET used = used + 1 WHERE used < capacity
RETURNING id` (PostgreSQL and SQLite both speak it): no row back means the slot is full. The CHECK
(used BETWEEN 0 AND capacity) is the last word should anything else ever write the table.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrm.models import Booking, BookingStatus, SlotUse

Key = tuple[str, datetime]  # (resource, UTC slot start)
HOLDING = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN, BookingStatus.COMPLETED, BookingStatus.NO_SHOW)


def type_resource(service_type_id: int) -> str:
    """The resource of a service type's capacity."""
    return f"type:{service_type_id}"


def car_resource(demo_car_id: int) -> str:
    """The resource of one demo car."""
    return f"car:{demo_car_id}"


def keys_of(service_type_id: int, demo_car_id: int | None, slots: Iterable[datetime]) -> list[Key]:
    """The slot keys one booking holds."""
    slots = list(slots)
    keys = [(type_resource(service_type_id), t) for t in slots]
    if demo_car_id is not None:
        keys += [(car_resource(demo_car_id), t) for t in slots]
    return keys


def held(booking: Booking) -> list[Key]:
    """The slot keys a booking holds (on the slot grid it was booked on, whatever the settings say now)."""
    step = timedelta(minutes=booking.slot_minutes)
    n = max(1, math.ceil((booking.end_at - booking.start_at) / step))
    return keys_of(booking.service_type_id, booking.demo_car_id, [booking.start_at + k * step for k in range(n)])


def _order(key: Key) -> tuple[str, datetime]:
    return key


def _take(s: Session, dealer_id: int, key: Key, capacity: int) -> bool:
    """Raise one slot's use by one unless it is full; True when it was raised."""
    dialect = s.get_bind().dialect.name
    ins = postgresql.insert(SlotUse) if dialect == "postgresql" else sqlite.insert(SlotUse)
    values = dict(dealer_id=dealer_id, resource=key[0], slot_start=key[1], used=1, capacity=capacity)
    stmt = ins.values(**values)
    # the current capacity wins, so a capacity edited by staff applies to slots already in use
    upsert = stmt.on_conflict_do_update(
        index_elements=[SlotUse.dealer_id, SlotUse.resource, SlotUse.slot_start],
        set_={"used": SlotUse.used + 1, "capacity": stmt.excluded.capacity},
        where=SlotUse.used < stmt.excluded.capacity,
    ).returning(SlotUse.id)
    return s.execute(upsert).first() is not None


def _give_back(s: Session, dealer_id: int, key: Key) -> None:
    s.execute(sa.update(SlotUse).where(SlotUse.dealer_id == dealer_id, SlotUse.resource == key[0],
                                       SlotUse.slot_start == key[1], SlotUse.used > 0)
              .values(used=SlotUse.used - 1).execution_options(synchronize_session=False))


def apply(s: Session, dealer_id: int, take: Iterable[Key], release: Iterable[Key],
          capacity: Mapping[str, int]) -> bool:
    """Take and release slots in one global order; False (caller rolls back) as soon as one is full.

    A key both taken and released (a move that overlaps itself) is left alone.
    """
    delta: Counter[Key] = Counter()
    for k in take:
        delta[k] += 1
    for k in release:
        delta[k] -= 1
    for key in sorted(delta, key=_order):
        if delta[key] > 0:
            if not _take(s, dealer_id, key, capacity[key[0]]):
                return False
        elif delta[key] < 0:
            _give_back(s, dealer_id, key)
    return True


def uses(s: Session, dealer_id: int, resources: list[str], start: datetime, end: datetime) -> dict[Key, int]:
    """Used counts of the resources' slots in [start, end) (slots never used are absent)."""
    rows = s.execute(sa.select(SlotUse.resource, SlotUse.slot_start, SlotUse.used).where(
        SlotUse.dealer_id == dealer_id, SlotUse.resource.in_(resources),
        SlotUse.slot_start >= start, SlotUse.slot_start < end))
    return {(r.resource, r.slot_start): r.used for r in rows}


def recount(s: Session, dealer_id: int) -> tuple[dict[Key, int], dict[Key, int]]:
    """(what SlotUse says, what the bookings say) for every slot of the dealer: the invariant check.

    Every booking that is not cancelled holds its slots; the two maps must be equal (zeros left out).
    """
    stored = {(r.resource, r.slot_start): r.used for r in s.execute(
        sa.select(SlotUse.resource, SlotUse.slot_start, SlotUse.used).where(SlotUse.dealer_id == dealer_id))
        if r.used}
    expected: Counter[Key] = Counter()
    for b in s.scalars(sa.select(Booking).where(Booking.dealer_id == dealer_id, Booking.status.in_(HOLDING))):
        for key in held(b):
            expected[key] += 1
    return stored, dict(expected)
