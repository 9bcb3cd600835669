"""Customer scores on crafted data: RFM quintiles and segments within a dealer, each churn reason with its
points, the cap, the bands, live customers only, and re-running replaces the rows."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import (
    Booking,
    BookingSource,
    BookingStatus,
    Channel,
    ChurnBand,
    ChurnReason,
    Customer,
    CustomerScore,
    Delivery,
    DeliveryStatus,
    Journey,
    JourneyKind,
    ValueSegment,
)
from scrm.services.accounts import account_id
from scrm.services.analytics_common import churn_band
from scrm.services.analytics_scores import score_all
from tests.factories import make_dealer, make_follower
from tests.integration.booking_support import make_shop
from tests.integration.customer_support import bind, make_customer, make_repair_order, make_vehicle

pytestmark = pytest.mark.integration

TODAY = date(2026, 6, 30)
_keys = itertools.count(1)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def stamp(days_ago: int) -> datetime:
    return datetime.combine(ago(days_ago), time(4), UTC)


def visits(c: Customer, days_ago: list[int], amount: int = 0) -> None:
    for i, d in enumerate(sorted(days_ago)):
        make_repair_order(c, ago(d), amount=Decimal(amount if i == 0 else 0))


def scores() -> dict[int, CustomerScore]:
    db.session.remove()
    return {r.customer_id: r for r in db.session.scalars(sa.select(CustomerScore))}


def run() -> int:
    with db.transaction() as s:
        return score_all(s, account_id("demo"), TODAY)


def test_rfm_quintiles_and_segments(app_ctx: Any) -> None:
    a, b = make_dealer(), make_dealer()
    last = [5, 10, 20, 40, 60, 80, 100, 150, 200, 300]
    spend = [9000, 100, 8000, 200, 7000, 300, 6000, 400, 5000, 500]
    cs = []
    for k in range(10):
        c = make_customer(a)
        visits(c, [last[k] + 30 * j for j in range(k + 1)], spend[k])
        cs.append(c)
    none = make_customer(a)
    for _ in range(3):  # another dealer's big spenders must not shift dealer a's quintiles
        visits(make_customer(b), [1, 2, 3, 4, 5, 6, 7], 99999)
    assert run() == 14
    got = scores()
    assert [(got[c.id].r_score, got[c.id].f_score, got[c.id].m_score) for c in cs] == [
        (5, 1, 5), (5, 1, 1), (4, 2, 5), (4, 2, 1), (3, 3, 4), (3, 3, 2), (2, 4, 4), (2, 4, 2), (1, 5, 3), (1, 5, 3)]
    seg = [got[c.id].value_segment for c in cs]
    assert seg[0] == ValueSegment.IMPORTANT_DEVELOP and seg[1] == ValueSegment.GENERAL_DEVELOP
    assert seg[4] == ValueSegment.IMPORTANT_VALUE and seg[5] == ValueSegment.GENERAL_VALUE
    assert seg[6] == seg[8] == seg[9] == ValueSegment.IMPORTANT_KEEP and seg[7] == ValueSegment.GENERAL_KEEP
    assert got[cs[9].id].visits_24m == 10 and got[cs[9].id].spend_24m == Decimal(500)
    assert got[cs[0].id].last_visit_on == ago(5)
    n = got[none.id]
    assert (n.r_score, n.f_score, n.m_score, n.value_segment) == (0, 0, 0, ValueSegment.NO_HISTORY)
    assert n.last_visit_on is None and n.visits_24m == 0


def _booking(shop: Any, c: Customer, satisfaction: int, days_ago: int) -> None:
    with db.transaction() as s:
        start = stamp(days_ago + 1)
        s.add(Booking(account_id=c.account_id, dealer_id=c.dealer_id, customer_id=c.id,
                      service_type_id=shop.maintenance.id, start_at=start, end_at=start + timedelta(hours=1),
                      status=BookingStatus.COMPLETED, source=BookingSource.STAFF, request_key=f"k{next(_keys)}",
                      satisfaction=satisfaction, completed_at=stamp(days_ago)))


def _pushes(c: Customer, journey: Journey, n: int, quiet_since: int) -> None:
    f = make_follower(last_interaction_at=stamp(quiet_since))
    bind(c, f)
    with db.transaction() as s:
        for i in range(n):
            s.add(Delivery(account_id=c.account_id, dealer_id=c.dealer_id, follower_id=f.id,
                           dedupe_key=f"push{next(_keys)}", channel=Channel.TEMPLATE, payload={},
                           status=DeliveryStatus.DELIVERED, sent_at=stamp(quiet_since - 1 - i),
                           journey_id=journey.id, purpose="journey"))


def test_churn_reasons_points_and_cap(app_ctx: Any) -> None:
    shop = make_shop()
    d = shop.dealer
    with db.transaction() as s:
        journey = Journey(account_id=d.account_id, dealer_id=d.id, kind=JourneyKind.REENGAGEMENT)
        s.add(journey)
    overdue = make_customer(d)
    visits(overdue, [400, 300, 200])              # median gap 100, 200 days since: ratio 2 -> 40
    clamp = make_customer(d)
    visits(clamp, [80, 70])                        # gap 10 -> 60 days expected; 70 days since -> 25
    falling = make_customer(d)
    visits(falling, [500, 450, 30])                # 1 visit in 12 months against 2 before -> 15
    never = make_customer(d)
    make_vehicle(never, purchase_date=date(2025, 1, 1))
    lead = make_customer(d)
    warranty = make_customer(d)
    visits(warranty, [10])
    make_vehicle(warranty, warranty_expiry=TODAY + timedelta(days=30))
    make_vehicle(warranty, warranty_expiry=ago(100))
    rating = make_customer(d)
    visits(rating, [10])
    _booking(shop, rating, 2, 30)
    _booking(shop, rating, 1, 60)
    _booking(shop, rating, 1, 400)                 # older than 12 months: not the lowest counted
    ignored = make_customer(d)
    visits(ignored, [10])
    _pushes(ignored, journey, 3, 60)
    answered = make_customer(d)
    visits(answered, [10])
    _pushes(answered, journey, 2, 60)              # only two pushes: not ignored
    gone = make_customer(d)
    visits(gone, [10])
    bind(gone, make_follower(subscribed=False))
    worst = make_customer(d)
    visits(worst, [500, 400])                      # ratio 4 -> 55, falling 15
    _booking(shop, worst, 2, 100)
    _pushes(worst, journey, 4, 80)
    bind(worst, make_follower(subscribed=False))  # the pushed follower still follows: not every one left
    merged, erased = make_customer(d, merged_into_id=overdue.id), make_customer(d, erased_at=stamp(1))
    visits(merged, [500])
    run()
    got = scores()
    assert merged.id not in got and erased.id not in got

    def check(c: Customer, score: int, bits: int) -> CustomerScore:
        row = got[c.id]
        assert (row.churn_score, row.churn_reasons) == (score, bits), (row.churn_score, row.churn_reasons)
        assert row.churn_band == churn_band(score)
        return row

    r = check(overdue, 40, ChurnReason.OVERDUE)
    assert (r.expected_interval_days, r.overdue_days, r.churn_band) == (100, 100, ChurnBand.MEDIUM)
    assert check(clamp, 25, ChurnReason.OVERDUE).expected_interval_days == 60
    r = check(falling, 15, ChurnReason.FALLING)
    assert (r.visits_last_12m, r.visits_prev_12m, r.expected_interval_days) == (1, 2, 235)
    r = check(never, 30, ChurnReason.OVERDUE)
    assert r.overdue_days is None and r.expected_interval_days is None
    r = check(lead, 0, 0)
    assert r.churn_band == ChurnBand.LOW
    assert check(warranty, 10, ChurnReason.WARRANTY).warranty_expiry == TODAY + timedelta(days=30)
    assert check(rating, 15, ChurnReason.LOW_RATING).low_rating == 1
    assert check(ignored, 10, ChurnReason.IGNORED).ignored_pushes == 3
    assert check(answered, 0, 0).ignored_pushes == 2
    assert check(gone, 20, ChurnReason.UNFOLLOWED).unfollowed is True
    r = check(worst, 95, ChurnReason.OVERDUE | ChurnReason.FALLING | ChurnReason.LOW_RATING | ChurnReason.IGNORED)
    assert r.churn_band == ChurnBand.HIGH and r.unfollowed is False
    # the warranty ends and the last follower leaves too: 125 points, capped at 100
    make_vehicle(worst, warranty_expiry=ago(10))
    with db.transaction() as s:
        s.execute(sa.text("UPDATE followers SET subscribed = :f WHERE id IN "
                          "(SELECT follower_id FROM customer_bindings WHERE customer_id = :c)"),
                  {"f": False, "c": worst.id})
    n = len(got)
    run()
    again = scores()
    assert len(again) == n
    assert (again[worst.id].churn_score, again[worst.id].churn_reasons) == (100, 63)
    # the customer comes back: no longer overdue
    make_repair_order(overdue, ago(1))
    with db.transaction() as s:
        s.execute(sa.update(Customer).where(Customer.id == clamp.id).values(erased_at=stamp(0)))
    run()
    final = scores()
    assert final[overdue.id].churn_score == 0 and final[overdue.id].last_visit_on == ago(1)
    assert clamp.id not in final


def test_band_thresholds() -> None:
    assert [churn_band(x) for x in (0, 29, 30, 59, 60, 100)] == [
        ChurnBand.LOW, ChurnBand.LOW, ChurnBand.MEDIUM, ChurnBand.MEDIUM, ChurnBand.HIGH, ChurnBand.HIGH]
