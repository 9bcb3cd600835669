"""Earning points from business events: bookings, bindings, profiles, repair orders, birthdays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import BindMethod, Customer, Member, PointsEntry, Role, Trigger
from scrm.services import binding, booking, booking_status, ledger, loyalty_earning, loyalty_earning_scan
from scrm.services.booking_events import BookingCompleted, event_of
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import at, make_shop, request
from tests.integration.customer_support import make_customer, make_repair_order, make_vehicle
from tests.integration.loyalty_support import make_rule

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _entries(follower_id: int) -> list[tuple[str, int, str, int | None]]:
    with db.transaction() as s:
        return [(e.reason, e.points, e.idempotency_key, e.dealer_id) for e in s.scalars(
            sa.select(PointsEntry).join(Member, Member.id == PointsEntry.member_id)
            .where(Member.follower_id == follower_id).order_by(PointsEntry.id))]


def _member_id(follower_id: int) -> int | None:
    with db.transaction() as s:
        return s.scalar(sa.select(Member.id).where(Member.follower_id == follower_id))


def _bind(follower_id: int, customer: Customer) -> None:
    binding.link(follower_id=follower_id, customer_id=customer.id, method=BindMethod.CHAT,
                 consent_text="同意", language="zh")


def test_a_completed_visit_pays_every_bound_member_once(app_ctx: Any) -> None:
    shop = make_shop()
    make_rule(Trigger.BOOKING_COMPLETED, 50)
    c = make_customer(shop.dealer)
    wife, husband, gone, booker = make_follower(), make_follower(), make_follower(), make_follower()
    for f in (wife, husband, gone):
        _bind(f.id, c)
    with db.transaction() as s:
        s.get(type(gone), gone.id).subscribed = False  # type: ignore[union-attr]
    b = booking.book(request(shop, shop.maintenance, at(10), customer_id=c.id, follower_id=booker.id))
    staff = make_staff(Role.DEALER_MANAGER, dealer=shop.dealer)
    booking_status.complete(b.id, staff)
    for f in (wife, husband, booker):
        m = _member_id(f.id)
        assert _entries(f.id) == [("booking_completed", 50, f"booking:{b.id}:{m}", shop.dealer.id)]
    assert _entries(gone.id) == []  # unsubscribed followers earn nothing
    with db.transaction() as s:  # a replayed event pays nothing more
        done = s.get(type(b), b.id)
        assert done is not None
        loyalty_earning.on_booking_completed(s, event_of(BookingCompleted, done))  # type: ignore[arg-type]
    assert [len(_entries(f.id)) for f in (wife, husband, booker)] == [1, 1, 1]


def test_test_drives_pay_nothing_and_the_dealer_rule_wins(app_ctx: Any) -> None:
    shop = make_shop()
    make_rule(Trigger.BOOKING_COMPLETED, 50)
    make_rule(Trigger.BOOKING_COMPLETED, 80, dealer_id=shop.dealer.id)
    staff = make_staff(Role.DEALER_MANAGER, dealer=shop.dealer)
    f = make_follower()
    drive = booking.book(request(shop, shop.test_drive, at(10), follower_id=f.id, demo_car_id=shop.cars[0].id,
                                 licence_confirmed=True))
    booking_status.complete(drive.id, staff)
    assert _entries(f.id) == []
    assert _member_id(f.id) is None  # no member row for nothing
    repair = booking.book(request(shop, shop.repair, at(14), follower_id=f.id))
    booking_status.complete(repair.id, staff)
    assert [p for _, p, _, _ in _entries(f.id)] == [80]


def test_binding_pays_once_per_member_and_dealer_and_a_complete_profile_once(app_ctx: Any) -> None:
    shop = make_shop()
    make_rule(Trigger.BINDING, 100)
    make_rule(Trigger.PROFILE_COMPLETED, 30)
    c = make_customer(shop.dealer, birthday=date(1990, 5, 1), city="上海")
    make_vehicle(c, plate="沪A12345")
    f = make_follower()
    _bind(f.id, c)
    binding.unbind(f.id, shop.dealer.id)
    _bind(f.id, c)  # bound again: nothing more
    m = _member_id(f.id)
    assert _entries(f.id) == [("binding", 100, f"binding:{shop.dealer.id}:{m}", shop.dealer.id),
                              ("profile_completed", 30, f"profile:{m}", shop.dealer.id)]
    other = make_shop()
    _bind(f.id, make_customer(other.dealer, birthday=date(1990, 5, 1), city="杭州"))
    assert [k for _, _, k, _ in _entries(f.id)][2:] == [f"binding:{other.dealer.id}:{m}"]


def test_a_profile_completed_after_binding_pays_in_the_daily_job(app_ctx: Any) -> None:
    shop = make_shop()
    make_rule(Trigger.PROFILE_COMPLETED, 30)
    c = make_customer(shop.dealer, city="上海")
    f = make_follower()
    _bind(f.id, c)
    assert loyalty_earning_scan.pay_completed_profiles(NOW) == 0  # no birthday, no vehicle yet
    with db.transaction() as s:
        row = s.get(Customer, c.id)
        assert row is not None
        row.birthday = date(1988, 3, 3)
    assert loyalty_earning_scan.pay_completed_profiles(NOW) == 0  # still no vehicle
    make_vehicle(c, plate="沪B22222")
    assert loyalty_earning_scan.pay_completed_profiles(NOW) == 30
    assert loyalty_earning_scan.pay_completed_profiles(NOW) == 0
    assert [r for r, _, _, _ in _entries(f.id)] == ["profile_completed"]


def test_repair_orders_pay_by_amount_exactly_once_even_when_the_watermark_is_lost(app_ctx: Any) -> None:
    shop = make_shop()
    make_rule(Trigger.REPAIR_ORDER, 1, per_amount=10, daily_cap=150)
    c = make_customer(shop.dealer)
    a, b = make_follower(), make_follower()
    _bind(a.id, c)
    _bind(b.id, c)
    redis = runtime.get().redis
    redis.delete(loyalty_earning_scan.WATERMARK_KEY)
    today = datetime.now(UTC).date()
    o1 = make_repair_order(c, today, amount=Decimal("1234.50"))
    make_repair_order(c, today - timedelta(days=400), amount=Decimal("5000"))  # history import: nothing
    now = datetime.now(UTC) + timedelta(seconds=1)
    assert loyalty_earning_scan.pay_repair_orders(now) == 2 * 123
    assert redis.get(loyalty_earning_scan.WATERMARK_KEY)
    # an import stamps its rows with its start time, long before they commit
    o2 = make_repair_order(c, today, amount=Decimal("800"), created_at=now - timedelta(hours=2))
    later = datetime.now(UTC) + timedelta(seconds=2)
    assert loyalty_earning_scan.pay_repair_orders(later) == 2 * 27  # the daily cap (150) clips 80 to 27
    assert loyalty_earning_scan.pay_repair_orders(later) == 0
    redis.delete(loyalty_earning_scan.WATERMARK_KEY)  # lost: rescans 7 days, pays nothing twice
    assert loyalty_earning_scan.pay_repair_orders(later) == 0
    ma = _member_id(a.id)
    assert [(p, k) for _, p, k, _ in _entries(a.id)] == [(123, f"repair:{o1.id}:{ma}"), (27, f"repair:{o2.id}:{ma}")]


def test_birthdays_pay_once_a_year_and_29_february_on_28_february(app_ctx: Any) -> None:
    shop = make_shop()
    make_rule(Trigger.BIRTHDAY, 88)
    today, leapling, other = make_follower(), make_follower(), make_follower()
    _bind(today.id, make_customer(shop.dealer, birthday=date(1990, 2, 28)))
    _bind(leapling.id, make_customer(shop.dealer, birthday=date(1992, 2, 29)))
    _bind(other.id, make_customer(shop.dealer, birthday=date(1990, 3, 1)))
    feb28 = datetime(2027, 2, 28, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert loyalty_earning_scan.pay_birthdays(feb28) == 2 * 88
    assert loyalty_earning_scan.pay_birthdays(feb28 + timedelta(hours=1)) == 0  # a rerun pays nothing
    assert [k for _, _, k, _ in _entries(leapling.id)] == [f"birthday:2027:{_member_id(leapling.id)}"]
    assert _entries(other.id) == []
    leap_feb28 = datetime(2028, 2, 28, 1, 0, tzinfo=UTC)  # in a leap year the 29th waits for its day
    assert loyalty_earning_scan.pay_birthdays(leap_feb28) == 88
    assert loyalty_earning_scan.pay_birthdays(leap_feb28 + timedelta(days=1)) == 88
    assert [k.split(":")[1] for _, _, k, _ in _entries(leapling.id)] == ["2027", "2028"]


def test_monthly_cap_applies_across_bookings(app_ctx: Any) -> None:
    shop = make_shop()
    make_rule(Trigger.BOOKING_COMPLETED, 50, monthly_cap=70)
    staff = make_staff(Role.DEALER_MANAGER, dealer=shop.dealer)
    f = make_follower()
    for hour in (10, 11):
        b = booking.book(request(shop, shop.maintenance, at(hour), follower_id=f.id))
        booking_status.complete(b.id, staff)
    assert [p for _, p, _, _ in _entries(f.id)] == [50, 20]
    with db.transaction() as s:
        m = ledger.member_in(s, f.id)
        assert m.balance == 70
