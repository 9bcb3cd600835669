"""Pre-aggregated daily figures on a crafted world of two dealers: follows by local day and scene (a follow at
00:30 Shanghai time is the local day, not the UTC one), following at the end of each day, the funnel, bookings
by kind, points, service cohorts at the exact 6-month boundary, score snapshots, and a refresh run twice."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import (
    Booking,
    BookingSource,
    BookingStatus,
    ChurnBand,
    Customer,
    CustomerScore,
    Dealer,
    EntryKind,
    Follower,
    PointsEntry,
    Role,
    SceneKind,
    StaffUser,
    StatDaily,
    ValueSegment,
)
from scrm.services import analytics_agg, ledger
from scrm.services.accounts import account_id
from scrm.services.errors import Invalid
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import Shop, make_shop
from tests.integration.customer_support import bind, make_customer, make_repair_order, make_vehicle

pytestmark = pytest.mark.integration

SH = ZoneInfo("Asia/Shanghai")
D10, D11, D12 = date(2026, 10, 10), date(2026, 10, 11), date(2026, 10, 12)
_seq = itertools.count(1)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """A Shanghai wall-clock time as a UTC instant."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SH).astimezone(UTC)


@dataclass
class World:
    a: Shop
    b: Shop
    staff_a: StaffUser
    staff_b: StaffUser
    f: dict[str, Follower]
    c: dict[str, Customer]


def _follower(dealer: Dealer | None, scene: SceneKind, sub: datetime, first: datetime | None = None,
              unsub: datetime | None = None, **kw: Any) -> Follower:
    return make_follower(subscribed=unsub is None, subscribed_at=sub, first_subscribed_at=first or sub,
                         unsubscribed_at=unsub, scene_kind=scene, dealer_id=dealer.id if dealer else None, **kw)


def _booking(shop: Shop, kind: str, created: datetime, start: datetime, status: BookingStatus,
             **kw: Any) -> None:
    st = {"maintenance": shop.maintenance, "repair": shop.repair, "test_drive": shop.test_drive}[kind]
    with db.transaction() as s:
        s.add(Booking(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, service_type_id=st.id,
                      start_at=start, end_at=start + timedelta(hours=1), status=status, source=BookingSource.STAFF,
                      request_key=f"agg-{next(_seq)}", created_at=created, updated_at=created, **kw))


def _points(member_id: int, dealer: Dealer, kind: EntryKind, pts: int, when: datetime) -> None:
    with db.transaction() as s:
        s.add(PointsEntry(account_id=dealer.account_id, member_id=member_id, dealer_id=dealer.id, kind=kind,
                          points=pts, reason="staff", source="staff", idempotency_key=f"agg-{next(_seq)}",
                          remaining=pts if pts > 0 else None, created_at=when))


def _score(customer: Customer, score: int, band: ChurnBand, segment: ValueSegment, spend: str) -> None:
    with db.transaction() as s:
        s.add(CustomerScore(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                            churn_score=score, churn_band=band, value_segment=segment, spend_24m=Decimal(spend)))


def world() -> World:
    """Two dealers, eight followers, bookings, points, repair orders and scores with known figures."""
    a, b = make_shop(), make_shop()
    staff_a = make_staff(Role.DEALER_STAFF, dealer=a.dealer, display_name="王顾问")
    staff_b = make_staff(Role.DEALER_STAFF, dealer=b.dealer, display_name="")
    f = {
        "f1": _follower(a.dealer, SceneKind.DEALER, at(D10, 0, 30)),          # 09-16:30 UTC: local day 10-10
        "f2": _follower(a.dealer, SceneKind.STAFF, at(D10, 15), first=at(date(2026, 9, 1), 9), staff_id=staff_a.id),
        "f3": _follower(a.dealer, SceneKind.STAFF, at(D11, 10), unsub=at(D12, 9), staff_id=staff_a.id),
        "f4": _follower(b.dealer, SceneKind.REFERRAL, at(D10, 23, 59)),
        "f5": _follower(None, SceneKind.NONE, at(D11, 12)),
        "f6": _follower(a.dealer, SceneKind.DEALER, at(date(2026, 9, 15), 9)),
        "f7": _follower(a.dealer, SceneKind.DEALER, at(date(2026, 9, 1), 9), unsub=at(D10, 20)),
        "f8": _follower(b.dealer, SceneKind.BIND, at(D12, 11), staff_id=staff_b.id),
    }
    c = {"a1": make_customer(a.dealer), "a2": make_customer(a.dealer), "b1": make_customer(b.dealer),
         "a3": make_customer(a.dealer)}
    bind(c["a1"], f["f1"])
    bind(c["a2"], f["f3"])
    bind(c["b1"], f["f8"])
    make_vehicle(c["a1"], purchase_date=date(2026, 10, 20))
    make_vehicle(c["b1"], purchase_date=date(2025, 3, 1))                 # bought before following: no
    _booking(a, "maintenance", at(D10, 12), at(D12, 10), BookingStatus.COMPLETED, customer_id=c["a1"].id)
    _booking(a, "test_drive", at(D11, 9), at(D12, 14), BookingStatus.CANCELLED, follower_id=f["f2"].id)
    _booking(a, "repair", at(D11, 23, 30), at(date(2026, 10, 14), 9), BookingStatus.CONFIRMED,
             customer_id=c["a3"].id)
    _booking(b, "maintenance", at(D12, 8), at(date(2026, 10, 14), 9), BookingStatus.CONFIRMED)
    make_repair_order(c["a2"], date(2026, 10, 5))                          # before f3 followed
    make_repair_order(c["a2"], date(2026, 10, 15))                         # after: a visit
    make_repair_order(c["b1"], date(2026, 10, 1))
    with db.transaction() as s:
        m_a, m_b = ledger.member_in(s, f["f1"].id).id, ledger.member_in(s, f["f4"].id).id
    for kind, pts in ((EntryKind.EARN, 100), (EntryKind.ADJUST, 20), (EntryKind.ADJUST, -5),
                      (EntryKind.SPEND, -30), (EntryKind.EXPIRE, -10)):
        _points(m_a, a.dealer, kind, pts, at(D10, 10))
    _points(m_a, a.dealer, EntryKind.EARN, 50, at(D11, 10))
    _points(m_b, b.dealer, EntryKind.EARN, 7, at(D10, 10))
    # service cohorts of June 2025 (dealer A): back at exactly 6 months, at 6 months and a day, the same month
    for key, visits in {"c1": ["2025-06-10", "2025-12-10"], "c2": ["2025-06-15", "2025-12-16"],
                        "c3": ["2025-06-20", "2025-06-25"], "c4": ["2025-06-05"]}.items():
        c[key] = make_customer(a.dealer)
        for v in visits:
            make_repair_order(c[key], date.fromisoformat(v))
    _score(c["a1"], 95, ChurnBand.HIGH, ValueSegment.IMPORTANT_VALUE, "1000.40")
    _score(c["a2"], 100, ChurnBand.HIGH, ValueSegment.IMPORTANT_VALUE, "500.30")
    _score(c["c1"], 45, ChurnBand.MEDIUM, ValueSegment.GENERAL_KEEP, "99.50")
    _score(c["c2"], 5, ChurnBand.LOW, ValueSegment.NO_HISTORY, "0")
    _score(c["b1"], 62, ChurnBand.HIGH, ValueSegment.GENERAL_VALUE, "300")
    return World(a, b, staff_a, staff_b, f, c)


def refresh(start: date = D10, end: date = D12) -> int:
    """Run the refresh for the demo account in its own transaction."""
    with db.transaction() as s:
        return analytics_agg.refresh(s, account_id("demo"), start, end)


def stats(metric: str) -> dict[tuple[int | None, date, str], int]:
    """stat_daily rows of one metric as {(dealer, day, dim): value}."""
    with db.transaction() as s:
        rows = s.execute(sa.select(StatDaily.dealer_id, StatDaily.day, StatDaily.dim, StatDaily.value)
                         .where(StatDaily.metric == metric)).all()
    return {(d, day, dim): v for d, day, dim, v in rows}


def test_follows_unfollows_and_following_by_local_day(app_ctx: Any) -> None:
    w = world()
    refresh()
    a, b = w.a.dealer.id, w.b.dealer.id
    assert stats("follows") == {(a, D10, "dealer"): 1, (a, D10, "staff"): 1, (b, D10, "referral"): 1,
                                (a, D11, "staff"): 1, (None, D11, "none"): 1, (b, D12, "bind"): 1}
    assert stats("follows_staff") == {(a, D10, str(w.staff_a.id)): 1, (a, D11, str(w.staff_a.id)): 1,
                                      (b, D12, str(w.staff_b.id)): 1}
    assert stats("unfollows") == {(a, D10, ""): 1, (a, D12, ""): 1}
    # A: f2 (first follow 09-01), f6 and f1 on 10-10 (f7 left that evening); f3 joins 10-11, leaves 10-12
    assert stats("following") == {(a, D10, ""): 3, (a, D11, ""): 4, (a, D12, ""): 3,
                                  (b, D10, ""): 1, (b, D11, ""): 1, (b, D12, ""): 2,
                                  (None, D10, ""): 0, (None, D11, ""): 1, (None, D12, ""): 1}


def test_funnel_bookings_and_points(app_ctx: Any) -> None:
    w = world()
    refresh()
    a, b = w.a.dealer.id, w.b.dealer.id
    funnel = {m: stats(f"funnel_{m}") for m in ("follow", "bind", "book", "visit", "buy")}
    assert funnel["follow"] == {(a, D10, ""): 2, (a, D11, ""): 1, (b, D10, ""): 1, (None, D11, ""): 1,
                                (b, D12, ""): 1, (a, date(2026, 9, 15), ""): 1, (a, date(2026, 9, 1), ""): 1}
    assert funnel["bind"] == {(a, D10, ""): 1, (a, D11, ""): 1, (b, D12, ""): 1}
    assert funnel["book"] == {(a, D10, ""): 2}                     # f1 by its customer, f2 by itself
    assert funnel["visit"] == {(a, D10, ""): 1, (a, D11, ""): 1}   # f1 completed; f3's order after following
    assert funnel["buy"] == {(a, D10, ""): 1}                      # f8's car was bought before it followed
    assert stats("bookings") == {(a, D10, "maintenance"): 1, (a, D11, "test_drive"): 1, (a, D11, "repair"): 1,
                                 (b, D12, "maintenance"): 1}
    assert stats("bookings_cancelled") == {(a, D11, "test_drive"): 1}
    assert stats("points_earned") == {(a, D10, ""): 120, (a, D11, ""): 50, (b, D10, ""): 7}
    assert stats("points_spent") == {(a, D10, ""): 30}
    assert stats("points_expired") == {(a, D10, ""): 10}


def test_cohorts_and_score_snapshots(app_ctx: Any) -> None:
    w = world()
    refresh()
    a, b = w.a.dealer.id, w.b.dealer.id
    june, dec, octo = date(2025, 6, 1), date(2025, 12, 1), date(2026, 10, 1)
    assert stats("cohort_size") == {(a, june, ""): 4, (a, dec, ""): 2, (a, octo, ""): 1, (b, octo, ""): 1}
    # c1 back at exactly 6 months and c3 the same month count in 6; c2 (6 months and a day) only in 12
    assert stats("cohort_back6") == {(a, june, ""): 2, (a, dec, ""): 0, (a, octo, ""): 1, (b, octo, ""): 0}
    assert stats("cohort_back12") == {(a, june, ""): 3, (a, dec, ""): 0, (a, octo, ""): 1, (b, octo, ""): 0}
    assert stats("churn_bucket") == {(a, D12, "9"): 2, (a, D12, "4"): 1, (a, D12, "0"): 1, (b, D12, "6"): 1}
    assert stats("churn_band") == {(a, D12, "high"): 2, (a, D12, "medium"): 1, (a, D12, "low"): 1,
                                   (b, D12, "high"): 1}
    assert stats("value_segment") == {(a, D12, "important_value"): 2, (a, D12, "general_keep"): 1,
                                      (a, D12, "no_history"): 1, (b, D12, "general_value"): 1}
    assert stats("value_spend") == {(a, D12, "important_value"): 1501, (a, D12, "general_keep"): 100,
                                    (a, D12, "no_history"): 0, (b, D12, "general_value"): 300}


def test_refresh_twice_writes_the_same_rows(app_ctx: Any) -> None:
    world()
    first = refresh()
    with db.transaction() as s:
        before = sorted(s.execute(sa.select(StatDaily.dealer_id, StatDaily.day, StatDaily.metric, StatDaily.dim,
                                            StatDaily.value)).all(), key=repr)
    assert first == len(before) > 0
    assert refresh() == first
    with db.transaction() as s:
        after = sorted(s.execute(sa.select(StatDaily.dealer_id, StatDaily.day, StatDaily.metric, StatDaily.dim,
                                           StatDaily.value)).all(), key=repr)
    assert after == before
    # a one-day refresh keeps the other days and the earlier snapshot
    refresh(D11, D11)
    assert stats("follows")[(None, D11, "none")] == 1
    assert (None, D10, "") in stats("following") and stats("churn_bucket").get((None, D12, "9")) is None
    assert sum(stats("churn_bucket").values()) == 10     # five customers on 10-12 and again on 10-11


def test_end_before_start_is_refused(app_ctx: Any) -> None:
    with db.transaction() as s, pytest.raises(Invalid):
        analytics_agg.refresh(s, account_id("demo"), D12, D10)


def test_light_refresh_keeps_cohorts_and_the_earlier_funnel(app_ctx: Any) -> None:
    w = world()
    refresh()
    cohorts, funnel = stats("cohort_size"), stats("funnel_follow")
    with db.transaction() as s:   # the 10-minute job: one day, without the slow parts
        analytics_agg.refresh(s, account_id("demo"), D12, D12, light=True)
    assert stats("cohort_size") == cohorts                       # left to the nightly run
    assert stats("funnel_follow") == funnel                      # earlier follow days untouched, D12 rewritten
    assert stats("follows")[(w.b.dealer.id, D12, "bind")] == 1
