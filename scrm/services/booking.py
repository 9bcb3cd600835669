"""Booking a visit and moving it: rules first, then the slot gate, all in one transaction.

No overbooking whatever the concurrency: the slots are taken with a conditional upsert (see
booking_slots) and a full slot rolls the whole booking back. A double tap on "confirm" sends the same
`request_key` twice and gets the same booking back (the key is UNIQUE; the loser of a race finds the
winner's row). A vehicle never holds two active bookings that overlap (its row is locked first), and a
customer (or a follower without a customer record) holds at most MAX_ACTIVE active bookings.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Booking, BookingSource, BookingStatus, Customer, Follower, ServiceKind, StaffUser, Vehicle
from scrm.services import audit, booking_config, booking_slots, events_bus, merge_movers
from scrm.services.booking_availability import free_days
from scrm.services.booking_events import BookingConfirmed, BookingMoved, event_of
from scrm.services.booking_rules import covered_slots, nearest, refusal
from scrm.services.errors import DomainError, Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope

MAX_ACTIVE = 3  # active (confirmed or checked-in) bookings one customer or follower may hold
ACTIVE = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)

audit.ACTIONS.update({"booking.create": N_("Booked a visit for a customer"),
                      "booking.move": N_("Moved a booking"), "booking.cancel": N_("Cancelled a booking"),
                      "booking.check_in": N_("Checked a booking in"), "booking.complete": N_("Completed a booking"),
                      "booking.no_show": N_("Marked a booking as no-show")})
merge_movers.register_table("bookings", N_("bookings"), Booking)


class SlotTaken(DomainError):
    """The time filled up between showing it and confirming; `alternatives` are the nearest free starts."""

    message = N_("That time was just taken; here are the nearest free times.")

    def __init__(self, alternatives: list[datetime] | None = None) -> None:
        super().__init__()
        self.alternatives = alternatives or []


@dataclass(frozen=True)
class BookingRequest:
    """Everything one booking needs; `start_at` is timezone-aware (any zone)."""

    dealer_id: int
    service_type_id: int
    start_at: datetime
    source: BookingSource
    request_key: str = ""
    customer_id: int | None = None
    follower_id: int | None = None
    vehicle_id: int | None = None
    demo_car_id: int | None = None
    demo_model: str | None = None
    contact_name: str = ""
    contact_mobile: str = ""
    licence_confirmed: bool = False
    note: str = ""


def book(req: BookingRequest, *, staff: StaffUser | None = None, ip: str = "",
         now: datetime | None = None) -> Booking:
    """Confirm a booking, or raise a DomainError saying why not (SlotTaken with alternatives when full)."""
    key = req.request_key or uuid.uuid4().hex
    now = now or db.utcnow()
    try:
        with db.transaction() as s:
            existing = s.scalar(sa.select(Booking).where(Booking.request_key == key))
            if existing is not None:
                return existing
            return _book(s, req, key, staff, ip, now)
    except (IntegrityError, DomainError, _Full) as exc:
        # a twin tap with the same key may have won while this one waited on a lock: whatever stopped this
        # one (the key's UNIQUE, the vehicle or the open-bookings rule, a full slot), hand back the twin
        twin = db.session.scalar(sa.select(Booking).where(Booking.request_key == key))
        if twin is not None:
            return twin
        if isinstance(exc, DomainError):
            raise
        raise SlotTaken(alternatives(req.dealer_id, req.service_type_id, req.start_at, now,
                                     req.demo_model, req.demo_car_id)) from None


class _Full(Exception):
    """Internal: a slot was full; the transaction has been rolled back."""


def _book(s: Session, req: BookingRequest, key: str, staff: StaffUser | None, ip: str, now: datetime) -> Booking:
    if staff is not None and not Scope.of(staff).dealer_ok(req.dealer_id):
        raise NotFound()
    cfg = booking_config.load(s, req.dealer_id)
    st = booking_config.service_type(s, req.dealer_id, req.service_type_id)
    cars = booking_config.demo_cars(s, st, req.demo_model, req.demo_car_id)
    if st.kind == ServiceKind.TEST_DRIVE and not req.licence_confirmed:
        raise Invalid(N_("Please confirm that the driver holds a driving licence."), field="licence_confirmed")
    if req.customer_id is None and req.follower_id is None and not req.contact_mobile:
        raise Invalid(N_("Please give a mobile number we can reach you on."), field="contact_mobile")
    start = req.start_at
    day = start.astimezone(cfg.rules.tz).date()
    why = refusal(start, cfg.hours_on(day), booking_config.closures(s, req.dealer_id, day, day).get(day, []),
                  st.duration_minutes, cfg.rules, now)
    if why:
        raise DomainError(why, minutes=cfg.rules.min_notice_minutes, days=cfg.rules.horizon_days)
    end = start + timedelta(minutes=st.duration_minutes)
    _lock_owner(s, req, cfg.account_id)
    if req.vehicle_id is not None:
        _check_vehicle(s, req, start, end)
    slots = covered_slots(start, st.duration_minutes, cfg.rules)
    car = _pick_car(s, req.dealer_id, [c.id for c in cars], slots) if cars else None
    b = Booking(account_id=cfg.account_id, dealer_id=req.dealer_id, customer_id=req.customer_id,
                follower_id=req.follower_id, vehicle_id=req.vehicle_id, service_type_id=st.id, demo_car_id=car,
                start_at=start, end_at=end, slot_minutes=cfg.rules.slot_minutes, status=BookingStatus.CONFIRMED,
                source=req.source, contact_name=req.contact_name[:64], contact_mobile=req.contact_mobile[:11],
                licence_confirmed=req.licence_confirmed, note=req.note[:500], request_key=key,
                created_by=staff.id if staff else None, created_at=now, updated_at=now)
    s.add(b)
    s.flush()  # a second tap with the same key stops here (UNIQUE), before it takes any slot
    if not booking_slots.apply(s, req.dealer_id, booking_slots.held(b), [], {
            booking_slots.type_resource(st.id): st.capacity, **({booking_slots.car_resource(car): 1} if car else {})}):
        s.rollback()
        raise _Full()
    in_chat = req.follower_id if req.source == BookingSource.CHAT else None
    events_bus.publish(s, event_of(BookingConfirmed, b, staff.id if staff else None, chat_follower_id=in_chat))
    if staff is not None:
        audit.record(s, staff=staff, action="booking.create", target_type="booking", target_id=b.id, ip=ip,
                     dealer_id=b.dealer_id, detail={"start_at": start.isoformat(), "service": st.name})
    return b


def _lock_owner(s: Session, req: BookingRequest, account_id: int) -> None:
    """Lock the customer (or follower) row, then count its active bookings: concurrent bookings queue here."""
    if req.follower_id is not None:
        lock = sa.select(Follower.account_id).where(Follower.id == req.follower_id)
        if s.scalar(lock if req.customer_id is not None else lock.with_for_update()) != account_id:
            raise NotFound()
    if req.customer_id is not None:
        c = s.scalar(sa.select(Customer).where(Customer.id == req.customer_id).with_for_update())
        if c is None or c.dealer_id != req.dealer_id or c.merged_into_id is not None or c.erased_at is not None:
            raise NotFound()
        mine = Booking.customer_id == req.customer_id
    elif req.follower_id is not None:
        mine = Booking.follower_id == req.follower_id
    else:
        return
    active = s.scalar(sa.select(sa.func.count()).select_from(Booking).where(mine, Booking.status.in_(ACTIVE)))
    if (active or 0) >= MAX_ACTIVE:
        raise DomainError(N_("You already have %(count)s open bookings; please cancel one first."), count=MAX_ACTIVE)


def _check_vehicle(s: Session, req: BookingRequest, start: datetime, end: datetime, skip: int | None = None) -> None:
    """The vehicle is the customer's, and holds no other active booking overlapping [start, end)."""
    v = s.scalar(sa.select(Vehicle).where(Vehicle.id == req.vehicle_id).with_for_update())
    if v is None or v.dealer_id != req.dealer_id or (req.customer_id is not None and v.customer_id != req.customer_id):
        raise NotFound()
    clash = sa.select(Booking.id).where(Booking.vehicle_id == v.id, Booking.status.in_(ACTIVE),
                                        Booking.start_at < end, Booking.end_at > start)
    if skip is not None:
        clash = clash.where(Booking.id != skip)
    if s.scalar(clash.limit(1)) is not None:
        raise DomainError(N_("This vehicle already has a booking at that time."))


def _pick_car(s: Session, dealer_id: int, cars: list[int], slots: list[datetime]) -> int:
    """The first demo car free in every slot (the gate still decides: a race makes it SlotTaken)."""
    used = booking_slots.uses(s, dealer_id, [booking_slots.car_resource(c) for c in cars],
                              slots[0], slots[-1] + timedelta(seconds=1))
    for car in cars:
        if all(used.get((booking_slots.car_resource(car), t), 0) < 1 for t in slots):
            return car
    raise _Full()


def alternatives(dealer_id: int, service_type_id: int, wanted: datetime, now: datetime,
                 demo_model: str | None = None, demo_car_id: int | None = None, count: int = 3,
                 moving: int | None = None) -> list[datetime]:
    """The free starts nearest to `wanted` (within a week either side, from today; `moving`: see free_days)."""
    s = db.session()
    try:
        cfg = booking_config.load(s, dealer_id)
        today = now.astimezone(cfg.rules.tz).date()
        first = max(today, wanted.astimezone(cfg.rules.tz).date() - timedelta(days=7))
        days = free_days(s, dealer_id, service_type_id, first, 15, demo_model, demo_car_id, now, moving)
        return nearest([f.start_at for d in days for f in d.slots], wanted, count)
    except DomainError:
        return []
    finally:
        s.rollback()


def move(booking_id: int, new_start: datetime, *, staff: StaffUser | None = None, follower_id: int | None = None,
         ip: str = "", now: datetime | None = None, in_chat: bool = False) -> Booking:
    """Move a confirmed booking: take the new slots and give back the old ones, all or nothing.

    `in_chat`: the follower did it in the chat, whose reply already told them (no separate notice to them).
    """
    from scrm.services.booking_status import load_for_change

    now = now or db.utcnow()
    try:
        with db.transaction() as s:
            b, cfg = load_for_change(s, booking_id, staff, follower_id, now)
            st = booking_config.service_type(s, b.dealer_id, b.service_type_id)
            day = new_start.astimezone(cfg.rules.tz).date()
            why = refusal(new_start, cfg.hours_on(day), booking_config.closures(s, b.dealer_id, day, day).get(day, []),
                          st.duration_minutes, cfg.rules, now)
            if why:
                raise DomainError(why, minutes=cfg.rules.min_notice_minutes, days=cfg.rules.horizon_days)
            new_end = new_start + timedelta(minutes=st.duration_minutes)
            if b.vehicle_id is not None:
                req = BookingRequest(dealer_id=b.dealer_id, service_type_id=st.id, start_at=new_start,
                                     source=b.source, customer_id=b.customer_id, vehicle_id=b.vehicle_id)
                _check_vehicle(s, req, new_start, new_end, skip=b.id)
            old_keys, old_start = booking_slots.held(b), b.start_at
            b.start_at, b.end_at, b.slot_minutes = new_start, new_end, cfg.rules.slot_minutes
            b.updated_at = now
            caps = {booking_slots.type_resource(st.id): st.capacity}
            if b.demo_car_id is not None:
                caps[booking_slots.car_resource(b.demo_car_id)] = 1
            if not booking_slots.apply(s, b.dealer_id, booking_slots.held(b), old_keys, caps):
                s.rollback()
                raise _Full()
            events_bus.publish(s, event_of(BookingMoved, b, staff.id if staff else None, old_start_at=old_start,
                                           chat_follower_id=follower_id if in_chat else None))
            if staff is not None:
                audit.record(s, staff=staff, action="booking.move", target_type="booking", target_id=b.id, ip=ip,
                             dealer_id=b.dealer_id, detail={"from": old_start.isoformat(), "to": new_start.isoformat()})
            return b
    except _Full:
        b2 = db.session.get(Booking, booking_id)
        assert b2 is not None
        raise SlotTaken(alternatives(b2.dealer_id, b2.service_type_id, new_start, now,
                                     demo_car_id=b2.demo_car_id, moving=booking_id)) from None
