"""Who each journey kind enrols, its occurrence and send time, and its exits at the tick and at send time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from scrm import db
from scrm.db import utcnow
from scrm.jobs import journey_jobs
from scrm.models import (
    Booking,
    BookingSource,
    BookingStatus,
    DeliveryStatus,
    Follower,
    JourneyKind,
    ServiceKind,
    ServiceType,
    Stage,
    Vehicle,
)
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from tests.factories import make_dealer
from tests.integration.customer_support import make_repair_order, make_vehicle
from tests.integration.test_journeys import at_local, enrolments, journey, local_today, owner, rows

pytestmark = pytest.mark.integration


@pytest.fixture
def app_id(live_server: Any, app_ctx: Any, settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


def _months_ago(today: date, months: int) -> date:
    y, m = divmod(today.year * 12 + today.month - 1 - months, 12)
    return date(y, m + 1, min(today.day, 28))


def _booking(customer: Any, kind: ServiceKind, *, status: BookingStatus = BookingStatus.CONFIRMED,
             follower_id: int | None = None, completed_at: datetime | None = None) -> Booking:
    start = utcnow() + timedelta(days=2)
    with db.transaction() as s:
        st = ServiceType(account_id=customer.account_id, dealer_id=customer.dealer_id, code=f"{kind}-{customer.id}",
                         name=str(kind), kind=kind)
        s.add(st)
        s.flush()
        b = Booking(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                    follower_id=follower_id, service_type_id=st.id, start_at=start, end_at=start + timedelta(hours=1),
                    source=BookingSource.STAFF, request_key=f"rk-{customer.id}-{kind}", status=status,
                    completed_at=completed_at)
        s.add(b)
    return b


def test_maintenance_by_months_and_by_kilometres(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.MAINTENANCE)
    today = local_today()
    by_months, _ = owner(app_id, d)
    v1 = make_vehicle(by_months, purchase_date=_months_ago(today, 30), last_service_date=_months_ago(today, 7))
    by_km, _ = owner(app_id, d)   # 2 months since service, but 150 km a day: ~9000 km
    v2 = make_vehicle(by_km, purchase_date=_months_ago(today, 30))
    make_repair_order(by_km, today - timedelta(days=160), vehicle_id=v2.id, mileage=10_000)
    make_repair_order(by_km, today - timedelta(days=60), vehicle_id=v2.id, mileage=25_000)
    fresh, _ = owner(app_id, d)   # serviced a month ago, 40 km a day: not due
    make_vehicle(fresh, purchase_date=_months_ago(today, 30), last_service_date=_months_ago(today, 1))
    journey_jobs.tick()
    got = {e.occurrence: e for e in enrolments(jid)}
    assert set(got) == {f"v{v1.id}:{_months_ago(today, 7)}", f"v{v2.id}:{today - timedelta(days=60)}"}
    assert all(e.anchor == today for e in got.values())
    assert {r.arm for r in rows(jid)} == {"due"}


def test_maintenance_exits_when_booked_at_the_tick_and_at_send_time(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.MAINTENANCE, send_at="00:00")
    today = local_today()
    a, fa = owner(app_id, d)
    make_vehicle(a, purchase_date=_months_ago(today, 30), last_service_date=_months_ago(today, 8))
    b, fb = owner(app_id, d)
    make_vehicle(b, purchase_date=_months_ago(today, 30), last_service_date=_months_ago(today, 8))
    journey_jobs.tick()
    assert len(rows(jid)) == 2
    _booking(a, ServiceKind.MAINTENANCE)          # A books before the message leaves
    drain()
    by_follower = {r.follower_id: r for r in rows(jid)}
    assert by_follower[fa.id].status == DeliveryStatus.SKIPPED and by_follower[fa.id].error == "exited: booked"
    assert by_follower[fb.id].status == DeliveryStatus.SENT
    assert sandbox.messages_for(app_id, fa.openid) == []
    make_repair_order(b, today)                   # B visits: the tick ends B's enrolment, no reminder follows
    counts = journey_jobs.tick(at_local(today + timedelta(days=14), 12))
    assert counts["maintenance.exited"] == 1 and counts["deliveries"] == 0
    assert {e.exit_reason for e in enrolments(jid)} == {"booked"}


def test_birthday_on_the_day_at_nine_once_a_year_and_29_february(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.BIRTHDAY)
    owner(app_id, d, birthday=date(1990, 3, 5))
    owner(app_id, d, birthday=date(1988, 2, 29))
    owner(app_id, d, birthday=date(1990, 3, 6))
    noon = at_local(date(2027, 3, 5), 12)
    journey_jobs.tick(noon)
    journey_jobs.tick(noon + timedelta(hours=1))
    [row] = rows(jid)
    assert row.next_try_at == at_local(date(2027, 3, 5), 9) and row.dedupe_key.startswith(f"j:{jid}:day:2027:")
    journey_jobs.tick(at_local(date(2027, 2, 28), 12))          # a common year: 29 Feb is celebrated on 28 Feb
    journey_jobs.tick(at_local(date(2028, 2, 28), 12))          # a leap year: not on the 28th...
    journey_jobs.tick(at_local(date(2028, 2, 29), 12))          # ...but on the 29th
    journey_jobs.tick(at_local(date(2028, 3, 5), 12))           # next year again
    assert sorted(e.occurrence for e in enrolments(jid)) == ["2027", "2027", "2028", "2028"]


def test_insurance_30_and_7_days_before_and_renewal_exit(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.INSURANCE)
    today = local_today()
    c, _ = owner(app_id, d)
    expiry = today + timedelta(days=30)
    v = make_vehicle(c, insurance_expiry=expiry)
    journey_jobs.tick()
    [row] = rows(jid)
    assert row.arm == "d30" and row.next_try_at == at_local(today, 10)
    assert enrolments(jid)[0].occurrence == f"v{v.id}:{expiry}"
    with db.transaction() as s:                                # renewed for a year
        s.get(Vehicle, v.id).insurance_expiry = expiry + timedelta(days=365)
    counts = journey_jobs.tick(at_local(today + timedelta(days=23), 12))
    assert counts["insurance.exited"] == 1 and [r.arm for r in rows(jid)] == ["d30"]


def test_seasonal_goes_to_owners_on_the_chosen_dates(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.SEASONAL, dates=["11-15", "06-01"])
    owner(app_id, d)
    owner(app_id, d, stage=Stage.PROSPECT)
    journey_jobs.tick(at_local(date(2027, 11, 14), 12))
    assert rows(jid) == []
    journey_jobs.tick(at_local(date(2027, 11, 16), 12))        # a day late still goes
    journey_jobs.tick(at_local(date(2027, 11, 17), 12))
    [row] = rows(jid)
    assert row.arm == "tip" and row.next_try_at == at_local(date(2027, 11, 15), 10)
    assert enrolments(jid)[0].occurrence == "2027-11-15"


def test_test_drive_follow_up_stops_when_the_prospect_buys(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.TEST_DRIVE)
    today = local_today()
    c, f = owner(app_id, d, stage=Stage.PROSPECT)
    done = at_local(today, 15)
    b = _booking(c, ServiceKind.TEST_DRIVE, status=BookingStatus.COMPLETED, follower_id=f.id, completed_at=done)
    journey_jobs.tick(at_local(today, 16))
    [e] = enrolments(jid)
    assert e.occurrence == f"b{b.id}" and e.anchor == today and rows(jid) == []
    journey_jobs.tick(at_local(today + timedelta(days=1), 8))
    assert [(r.arm, r.next_try_at) for r in rows(jid)] == [("d1", at_local(today + timedelta(days=1), 10))]
    make_vehicle(c, purchase_date=today + timedelta(days=2))
    counts = journey_jobs.tick(at_local(today + timedelta(days=3), 8))
    assert counts["test_drive.exited"] == 1 and [r.arm for r in rows(jid)] == ["d1"]
    assert enrolments(jid)[0].exit_reason == "bought"


def test_satisfaction_asks_the_day_after_a_repair_order(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.SATISFACTION)
    today = local_today()
    c, _ = owner(app_id, d)
    ro = make_repair_order(c, today - timedelta(days=1))
    make_repair_order(c, today - timedelta(days=10))
    journey_jobs.tick()
    journey_jobs.tick()
    [row] = rows(jid)
    assert row.arm == "ask" and row.dedupe_key.endswith(f":ro{ro.id}:{row.follower_id}")
    assert row.next_try_at == at_local(today, 10)


def test_reengagement_for_quiet_owners_at_most_twice_a_year(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.REENGAGEMENT)
    now = utcnow()
    _, fq = owner(app_id, d)
    owner(app_id, d)                               # interacted just now
    visited, fv = owner(app_id, d)
    make_repair_order(visited, local_today() - timedelta(days=100))
    with db.transaction() as s:
        for fid in (fq.id, fv.id):
            s.get(Follower, fid).last_interaction_at = now - timedelta(days=200)
    journey_jobs.tick(now)
    journey_jobs.tick(now + timedelta(days=20))
    [e] = enrolments(jid)
    assert e.follower_id == fq.id and e.occurrence.endswith(("H1", "H2"))
    assert len(rows(jid)) == 1

