"""Booking, moving, cancelling and completing, and every refusal, against the real database."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Booking, BookingStatus, Closure, Role, ServiceType, SlotUse, TimelineEntry, Vehicle
from scrm.services import booking, booking_status, events_bus
from scrm.services.booking_availability import availability
from scrm.services.booking_events import BookingCompleted
from scrm.services.errors import DomainError, Invalid, NotFound
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import assert_slot_invariant, at, day_ahead, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration


def _used(dealer_id: int) -> dict[str, int]:
    db.session.remove()
    rows = db.session.execute(sa.select(SlotUse.resource, SlotUse.slot_start, SlotUse.used)
                              .where(SlotUse.dealer_id == dealer_id)).all()
    return {f"{r.resource}@{r.slot_start:%H:%M}": r.used for r in rows if r.used}


def test_book_takes_every_covered_slot_and_fills_up(app_ctx: Any) -> None:
    shop = make_shop()
    b1 = booking.book(request(shop, shop.maintenance, at(10)))
    assert b1.status == BookingStatus.CONFIRMED and b1.end_at - b1.start_at == timedelta(minutes=60)
    t = f"type:{shop.maintenance.id}"
    assert _used(shop.dealer.id) == {f"{t}@02:00": 1, f"{t}@02:30": 1}  # 10:00 and 10:30 local, in UTC
    booking.book(request(shop, shop.maintenance, at(10, 30), contact_mobile="13900002222"))
    with pytest.raises(booking.SlotTaken) as exc:  # 10:30 now holds two: capacity 2
        booking.book(request(shop, shop.maintenance, at(10), contact_mobile="13900003333"))
    alts = exc.value.alternatives
    assert alts and at(10) not in alts and at(9) in alts  # nearest free starts, 9:00 and 9:30 both fit
    assert _used(shop.dealer.id)[f"{t}@02:30"] == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 2  # the refused one left nothing
    assert_slot_invariant(shop.dealer.id)


def test_double_confirm_makes_one_booking(app_ctx: Any) -> None:
    shop = make_shop()
    first = booking.book(request(shop, shop.repair, at(9), request_key="tap-123"))
    again = booking.book(request(shop, shop.repair, at(9), request_key="tap-123"))
    assert again.id == first.id
    assert _used(shop.dealer.id) == {f"type:{shop.repair.id}@01:00": 1}


def test_availability_lists_only_free_times(app_ctx: Any) -> None:
    shop = make_shop()
    day = day_ahead(3)
    with db.transaction() as s:
        s.add(Closure(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, day=day_ahead(4), reason="培训"))
        s.add(Closure(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, day=day, from_time=time(15),
                      to_time=None, reason="盘点"))
    for mobile in ("13900000001", "13900000002"):
        booking.book(request(shop, shop.maintenance, at(10), contact_mobile=mobile))
    days = availability(shop.dealer.id, shop.maintenance.id, day, days=3)
    assert [d.day for d in days] == [day, day_ahead(4), day_ahead(5)]
    times = [f.local.strftime("%H:%M") for f in days[0].slots]
    assert "09:00" in times and "09:30" not in times and "10:00" not in times and "10:30" not in times
    assert "11:00" in times and "11:30" not in times and times[-1] == "14:00"  # lunch; closed from 15:00
    assert days[1].slots == []                                             # closed all day
    assert days[2].slots[0].local == time(8, 30)
    cars = availability(shop.dealer.id, shop.test_drive.id, day, days=1, demo_model="极氪007")
    assert cars[0].slots[0].demo_car_id == shop.cars[2].id


def test_refusals(app_ctx: Any) -> None:
    shop = make_shop()
    with pytest.raises(DomainError, match="notice"):
        booking.book(request(shop, shop.repair, db.utcnow() + timedelta(minutes=30)))
    with pytest.raises(DomainError, match="ahead"):
        booking.book(request(shop, shop.repair, at(9, days=40)))
    with pytest.raises(DomainError, match="not open"):
        booking.book(request(shop, shop.repair, at(12)))
    with pytest.raises(DomainError, match="not open"):
        booking.book(request(shop, shop.maintenance, at(11, 30)))  # would run into lunch
    with db.transaction() as s:
        s.add(Closure(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, day=day_ahead(3), reason="节日"))
    with pytest.raises(DomainError, match="closed"):
        booking.book(request(shop, shop.repair, at(9)))
    with db.transaction() as s:
        s.get(ServiceType, shop.repair.id).active = False  # type: ignore[union-attr]
    with pytest.raises(DomainError, match="cannot be booked"):
        booking.book(request(shop, shop.repair, at(9, days=5)))
    with pytest.raises(Invalid, match="licence"):
        booking.book(request(shop, shop.test_drive, at(9, days=5)))
    with pytest.raises(DomainError, match="demo car"):
        booking.book(request(shop, shop.test_drive, at(9, days=5), licence_confirmed=True, demo_model="不存在"))
    with pytest.raises(Invalid, match="mobile"):
        booking.book(request(shop, shop.maintenance, at(9, days=5), contact_mobile=""))
    other = make_shop()
    with pytest.raises(NotFound):  # another dealer's service type
        booking.book(request(shop, other.maintenance, at(9, days=5)))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 0
    assert _used(shop.dealer.id) == {}


def test_test_drive_takes_a_free_car_of_the_model(app_ctx: Any) -> None:
    shop = make_shop()
    kw: dict[str, Any] = dict(licence_confirmed=True, demo_model="极氪001")
    a = booking.book(request(shop, shop.test_drive, at(9), contact_mobile="13900000001", **kw))
    b = booking.book(request(shop, shop.test_drive, at(9), contact_mobile="13900000002", **kw))
    assert {a.demo_car_id, b.demo_car_id} == {shop.cars[0].id, shop.cars[1].id}
    with pytest.raises(booking.SlotTaken):  # both 001s are out; the type still has room (3)
        booking.book(request(shop, shop.test_drive, at(9), contact_mobile="13900000003", **kw))
    c = booking.book(request(shop, shop.test_drive, at(9), contact_mobile="13900000004", licence_confirmed=True,
                             demo_car_id=shop.cars[2].id))
    assert c.demo_car_id == shop.cars[2].id
    assert_slot_invariant(shop.dealer.id)


def test_vehicle_overlap_and_active_limit(app_ctx: Any) -> None:
    shop = make_shop()
    c = make_customer(shop.dealer)
    v = make_vehicle(c, plate="沪B12345")
    booking.book(request(shop, shop.maintenance, at(9), customer_id=c.id, vehicle_id=v.id))
    with pytest.raises(DomainError, match="vehicle already"):
        booking.book(request(shop, shop.repair, at(9, 30), customer_id=c.id, vehicle_id=v.id))
    booking.book(request(shop, shop.repair, at(10), customer_id=c.id, vehicle_id=v.id))  # back to back is fine
    booking.book(request(shop, shop.repair, at(11), customer_id=c.id))
    with pytest.raises(DomainError, match="open bookings"):
        booking.book(request(shop, shop.repair, at(15), customer_id=c.id))
    stranger = make_customer(shop.dealer)
    with pytest.raises(NotFound):  # someone else's car
        booking.book(request(shop, shop.repair, at(16), customer_id=stranger.id, vehicle_id=v.id))
    with pytest.raises(NotFound):  # a follower of another official account
        booking.book(request(shop, shop.repair, at(16), follower_id=make_follower(account="safe").id))
    with pytest.raises(NotFound):  # another dealer's customer
        other = make_shop()
        booking.book(request(other, other.repair, at(16), customer_id=c.id))


def test_capacity_edits_apply_to_slots_in_use(app_ctx: Any) -> None:
    shop = make_shop()
    booking.book(request(shop, shop.maintenance, at(10), contact_mobile="13900000001"))
    with db.transaction() as s:
        s.get(ServiceType, shop.maintenance.id).capacity = 1  # type: ignore[union-attr]
    with pytest.raises(booking.SlotTaken):
        booking.book(request(shop, shop.maintenance, at(10), contact_mobile="13900000002"))
    assert [f.local for f in availability(shop.dealer.id, shop.maintenance.id, day_ahead(3), 1)[0].slots
            if f.local in (time(9, 30), time(10), time(10, 30))] == []
    with db.transaction() as s:
        s.get(ServiceType, shop.maintenance.id).capacity = 3  # type: ignore[union-attr]
    booking.book(request(shop, shop.maintenance, at(10), contact_mobile="13900000003"))
    assert_slot_invariant(shop.dealer.id)


def test_cancel_and_move_release_and_take_slots(app_ctx: Any) -> None:
    shop = make_shop()
    f = make_follower()
    b = booking.book(request(shop, shop.maintenance, at(9), follower_id=f.id))
    moved = booking.move(b.id, at(9, 30), follower_id=f.id)  # overlaps itself at 09:30
    assert moved.start_at == at(9, 30)
    t = f"type:{shop.maintenance.id}"
    assert _used(shop.dealer.id) == {f"{t}@01:30": 1, f"{t}@02:00": 1}
    with pytest.raises(NotFound):  # someone else's follower
        booking.move(b.id, at(14), follower_id=make_follower().id)
    with pytest.raises(DomainError, match="not open"):
        booking.move(b.id, at(12), follower_id=f.id)
    for mobile in ("13900000001", "13900000002"):
        booking.book(request(shop, shop.maintenance, at(14), contact_mobile=mobile))
    with pytest.raises(booking.SlotTaken):
        booking.move(b.id, at(14), follower_id=f.id)
    assert db.session.get(Booking, b.id).start_at == at(9, 30)  # type: ignore[union-attr]
    assert_slot_invariant(shop.dealer.id)
    cancelled = booking_status.cancel(b.id, follower_id=f.id, reason="有事")
    assert cancelled.status == BookingStatus.CANCELLED and cancelled.cancelled_at is not None
    assert f"{t}@01:30" not in _used(shop.dealer.id)
    with pytest.raises(DomainError, match="no longer"):
        booking_status.cancel(b.id, follower_id=f.id)
    assert_slot_invariant(shop.dealer.id)


def test_cut_off_binds_customers_not_staff(app_ctx: Any) -> None:
    shop = make_shop(cancel_cutoff_minutes=3 * 24 * 60)
    f = make_follower()
    b = booking.book(request(shop, shop.repair, at(9, days=1), follower_id=f.id))
    with pytest.raises(DomainError, match="too late"):
        booking_status.cancel(b.id, follower_id=f.id)
    with pytest.raises(DomainError, match="too late"):
        booking.move(b.id, at(9, days=2), follower_id=f.id)
    manager = make_staff(role=Role.DEALER_MANAGER, dealer=shop.dealer)
    assert booking_status.cancel(b.id, staff=manager, reason="客户来电").status == BookingStatus.CANCELLED
    actions = db.session.scalars(sa.select(AuditLog.action)).all()
    assert "booking.cancel" in actions


def test_staff_scope_and_audit(app_ctx: Any) -> None:
    shop, other = make_shop(), make_shop()
    mine, theirs = make_staff(dealer=shop.dealer), make_staff(dealer=other.dealer)
    b = booking.book(request(shop, shop.repair, at(9)), staff=mine, ip="10.0.0.1")
    assert b.created_by == mine.id
    with pytest.raises(NotFound):
        booking.book(request(shop, shop.repair, at(10)), staff=theirs)
    with pytest.raises(NotFound):
        booking_status.check_in(b.id, theirs)
    assert booking_status.check_in(b.id, mine).status == BookingStatus.CHECKED_IN
    with pytest.raises(DomainError, match="no longer"):  # checked in: customers cannot cancel any more
        booking_status.cancel(b.id)
    with pytest.raises(DomainError, match="only after"):
        booking_status.no_show(booking.book(request(shop, shop.repair, at(11))).id, mine)
    rows = db.session.execute(sa.select(AuditLog.action, AuditLog.ip, AuditLog.dealer_id)).all()
    assert ("booking.create", "10.0.0.1", shop.dealer.id) in rows and any(r[0] == "booking.check_in" for r in rows)


def test_complete_publishes_the_event_and_subscribers_run(app_ctx: Any) -> None:
    shop = make_shop()
    c = make_customer(shop.dealer)
    v = make_vehicle(c, plate="沪C55555")
    f = make_follower()
    b = booking.book(request(shop, shop.maintenance, at(9), customer_id=c.id, vehicle_id=v.id, follower_id=f.id))
    seen: list[BookingCompleted] = []
    events_bus.subscribe(BookingCompleted, lambda s, e: seen.append(e), name="test.seen")
    try:
        staff = make_staff(dealer=shop.dealer)
        done = booking_status.complete(b.id, staff)
    finally:
        events_bus.unsubscribe(BookingCompleted, "test.seen")
    assert done.status == BookingStatus.COMPLETED and [e.booking_id for e in seen] == [b.id]
    assert events_bus.handlers(BookingCompleted)[:2] == ["booking.timeline", "booking.last_service"]
    entry = db.session.scalar(sa.select(TimelineEntry).where(TimelineEntry.customer_id == c.id))
    assert entry is not None and entry.kind == "booking" and entry.detail["booking_id"] == b.id
    db.session.remove()
    assert db.session.get(Vehicle, v.id).last_service_date is not None  # type: ignore[union-attr]
    with pytest.raises(Invalid):
        booking_status.rate(b.id, 6, follower_id=f.id)
    with pytest.raises(NotFound):
        booking_status.rate(b.id, 5, follower_id=make_follower().id)
    assert booking_status.rate(b.id, 5, follower_id=f.id).satisfaction == 5
    assert_slot_invariant(shop.dealer.id)  # a completed visit still holds its slots


def test_a_failing_subscriber_rolls_the_completion_back(app_ctx: Any) -> None:
    shop = make_shop()
    bid = booking.book(request(shop, shop.repair, at(9))).id

    def broken(s: Any, e: BookingCompleted) -> None:
        raise RuntimeError("boom")

    events_bus.subscribe(BookingCompleted, broken, name="test.broken")
    try:
        with pytest.raises(RuntimeError):
            booking_status.complete(bid, make_staff(dealer=shop.dealer))
    finally:
        events_bus.unsubscribe(BookingCompleted, "test.broken")
    db.session.remove()
    assert db.session.get(Booking, bid).status == BookingStatus.CONFIRMED  # type: ignore[union-attr]


def test_a_merge_moves_bookings_to_the_survivor_and_unmerge_brings_them_back(app_ctx: Any) -> None:
    from scrm.services import merge, merge_undo

    shop = make_shop()
    keep, dup = make_customer(shop.dealer, name="张伟"), make_customer(shop.dealer, name="张伟")
    b = booking.book(request(shop, shop.repair, at(9), customer_id=dup.id))
    manager = make_staff(role=Role.DEALER_MANAGER, dealer=shop.dealer)
    record = merge.merge_customers(manager, keep.id, dup.id)
    assert record.moved["bookings"] == [b.id]
    db.session.remove()
    assert db.session.get(Booking, b.id).customer_id == keep.id  # type: ignore[union-attr]
    merge_undo.unmerge(manager, record.id)
    db.session.remove()
    assert db.session.get(Booking, b.id).customer_id == dup.id  # type: ignore[union-attr]


def test_a_booking_being_moved_frees_its_own_slots_in_the_offer(app_ctx: Any) -> None:
    """Moving a one-hour visit by half an hour in a slot of capacity 1: the overlap is its own, so it is offered."""
    shop = make_shop()
    with db.transaction() as s:
        s.get(ServiceType, shop.maintenance.id).capacity = 1  # type: ignore[union-attr]
    b = booking.book(request(shop, shop.maintenance, at(10)))
    starts = [f.local for f in availability(shop.dealer.id, shop.maintenance.id, day_ahead(), 1)[0].slots]
    assert time(9, 30) not in starts and time(10, 30) not in starts   # others: 10:00-11:00 is taken
    mine = [f.local for f in availability(shop.dealer.id, shop.maintenance.id, day_ahead(), 1, moving=b.id)[0].slots]
    assert time(9, 30) in mine and time(10, 0) in mine and time(10, 30) in mine
    moved = booking.move(b.id, at(10, 30))
    assert moved.start_at == at(10, 30)
    assert_slot_invariant(shop.dealer.id)
    other = make_shop()  # another dealer's booking id changes nothing
    assert availability(other.dealer.id, other.maintenance.id, day_ahead(), 1, moving=b.id)[0].slots == \
        availability(other.dealer.id, other.maintenance.id, day_ahead(), 1)[0].slots
