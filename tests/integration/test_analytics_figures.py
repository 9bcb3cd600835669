"""Dashboard figures read from stat_daily against hand-computed values: per day and per ISO week, per scene and
staff member, the funnel, cohorts, churn buckets, value segments and campaign lift; dealer roles see their
own dealer only; and Newcombe's interval against the published worked example."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from scrm import db
from scrm.models import HOLDOUT, Campaign, CampaignMember, CampaignRun, CampaignStatus, Role
from scrm.services import analytics_figures as fig
from scrm.services.accounts import account_id
from scrm.services.analytics_agg_sql import add_months
from scrm.services.analytics_common import Period
from scrm.services.analytics_figures_read import local_today
from scrm.services.analytics_lift import diff_interval, wilson
from scrm.services.errors import Forbidden
from scrm.services.scope import Scope
from tests.integration.test_analytics_agg import D10, D11, D12, at, refresh, world

pytestmark = pytest.mark.integration

P = Period(D10, D12)


def admin() -> Scope:
    return Scope(account_id("demo"), None, Role.BRAND_ADMIN)


def manager(dealer_id: int) -> Scope:
    return Scope(account_id("demo"), dealer_id, Role.DEALER_MANAGER)


def test_newcombe_worked_example() -> None:
    low, high = diff_interval(56, 70, 48, 80)           # Newcombe (1998), method 10: 0.0524 to 0.3339
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)
    low, high = diff_interval(9, 10, 3, 10)             # his example (c): 0.1705 to 0.8090
    assert (round(low, 4), round(high, 4)) == (0.1705, 0.8090)
    assert tuple(round(x, 4) for x in wilson(0, 10)) == (0.0, 0.2775)
    assert diff_interval(1, 0, 1, 5) == (-1.0, 1.0)


def test_followers_figures_and_scoping(app_ctx: Any) -> None:
    w = world()
    refresh()
    a, b = w.a.dealer.id, w.b.dealer.id
    over = fig.followers_over_time(admin(), P)
    assert over.kind == "line" and over.columns == ["Day", "New follows", "Unfollows", "Net", "Following"]
    assert over.rows == [[D10, 3, 1, 2, 4], [D11, 2, 0, 2, 6], [D12, 1, 1, 0, 6]]
    assert fig.followers_over_time(manager(a), P).rows == [[D10, 2, 1, 1, 3], [D11, 1, 0, 1, 4],
                                                           [D12, 0, 1, -1, 3]]
    # the admin narrowed to dealer B; a day outside the data is filled with zeros
    assert fig.followers_over_time(admin(), Period(D12, date(2026, 10, 13), b)).rows == [
        [D12, 1, 0, 1, 2], [date(2026, 10, 13), 0, 0, 0, 0]]
    assert fig.followers_by_scene(admin(), P).rows == [
        ["staff", 2], ["dealer", 1], ["referral", 1], ["bind", 1], ["none", 1], ["event", 0], ["other", 0]]
    assert fig.followers_by_scene(manager(b), P).rows[:2] == [["referral", 1], ["bind", 1]]
    assert fig.followers_by_staff(admin(), P).rows == [["王顾问", 2], [w.staff_b.username, 1]]
    assert fig.followers_by_staff(manager(a), P).rows == [["王顾问", 2]]
    with pytest.raises(Forbidden):
        fig.followers_over_time(Scope(account_id("demo"), a, Role.DEALER_STAFF), P)


def test_funnel_bookings_points_and_weeks(app_ctx: Any) -> None:
    w = world()
    refresh()
    a, b = w.a.dealer.id, w.b.dealer.id
    assert fig.funnel(admin(), P).rows == [["Follow", 6, 100.0], ["Bound", 3, 50.0], ["Booked", 2, 33.3],
                                           ["Visited", 2, 33.3], ["Bought", 1, 16.7]]
    assert fig.funnel(manager(b), P).rows == [["Follow", 2, 100.0], ["Bound", 1, 50.0], ["Booked", 0, 0.0],
                                              ["Visited", 0, 0.0], ["Bought", 0, 0.0]]
    books = fig.bookings_by_type(admin(), P)
    assert books.columns == ["Day", "maintenance", "repair", "bodywork", "test_drive", "other"]
    assert books.rows == [[D10, 1, 0, 0, 0, 0], [D11, 0, 1, 0, 1, 0], [D12, 1, 0, 0, 0, 0]]
    assert fig.bookings_by_type(manager(a), P).rows[2] == [D12, 0, 0, 0, 0, 0]
    pts = fig.points(admin(), P)
    assert pts.rows == [[D10, 127, 30, 10], [D11, 50, 0, 0], [D12, 0, 0, 0]]
    assert fig.points(manager(b), P).total(1) == 7
    # 90 days: one row per ISO week, x = the Monday (10-10 and 10-11 fall in the week of 10-05)
    quarter = Period(date(2026, 9, 1), date(2026, 11, 29))
    weekly = fig.bookings_by_type(admin(), quarter)
    assert len(weekly.rows) == 13 and weekly.rows[0][0] == date(2026, 8, 31) and weekly.extra["weekly"]
    assert [r for r in weekly.rows if any(r[1:])] == [[date(2026, 10, 5), 1, 1, 0, 1, 0],
                                                       [date(2026, 10, 12), 1, 0, 0, 0, 0]]
    assert [r for r in fig.points(admin(), quarter).rows if any(r[1:])] == [[date(2026, 10, 5), 177, 30, 10]]


def test_cohorts_churn_and_segments(app_ctx: Any) -> None:
    w = world()
    refresh()
    a, b = w.a.dealer.id, w.b.dealer.id
    cohorts = fig.service_cohorts(admin(), P)
    assert len(cohorts.rows) == 18
    assert cohorts.rows[0][0] == date(2025, 5, 1) and cohorts.rows[-1][0] == date(2026, 10, 1)
    by_month = {r[0]: r[1:] for r in cohorts.rows}
    assert by_month[date(2025, 6, 1)] == [4, 50.0, 75.0]
    today = local_today()
    dec = by_month[date(2025, 12, 1)]
    assert dec[:2] == [2, 0.0] and dec[2] == (0.0 if add_months(date(2026, 1, 1), 12) <= today else None)
    octo = by_month[date(2026, 10, 1)]
    assert octo[0] == 2 and octo[1] == (50.0 if add_months(date(2026, 11, 1), 6) <= today else None)
    assert by_month[date(2025, 7, 1)] == [0, None, None]
    assert fig.service_cohorts(manager(b), P).rows[-1][1] == 1
    churn = fig.churn_distribution(admin(), P)
    assert churn.rows[0] == ["0-9", 1] and churn.rows[-1] == ["90-100", 2]
    assert [r[1] for r in churn.rows] == [1, 0, 0, 0, 1, 0, 1, 0, 0, 2]
    assert churn.extra == {"bands": {"low": 1, "medium": 1, "high": 3}, "as_of": D12}
    assert fig.churn_distribution(manager(b), P).extra["bands"] == {"low": 0, "medium": 0, "high": 1}
    assert fig.churn_distribution(admin(), Period(D10, D11)).extra == {
        "bands": {"low": 0, "medium": 0, "high": 0}, "as_of": None}
    seg = {r[0]: r[1:] for r in fig.value_segments(admin(), P).rows}
    assert seg["important_value"] == [2, 1501] and seg["general_keep"] == [1, 100]
    assert seg["general_value"] == [1, 300] and seg["important_keep"] == [0, 0]
    assert {r[0]: r[1] for r in fig.value_segments(manager(a), P).rows}["general_value"] == 0


def test_campaign_lift(app_ctx: Any) -> None:
    w = world()
    with db.transaction() as s:
        c = Campaign(account_id=account_id("demo"), dealer_id=w.a.dealer.id, name="秋季保养", holdout_pct=10,
                     variants=[{"key": "a"}], status=CampaignStatus.DONE, launched_at=at(date(2026, 10, 9), 10))
        s.add(c)
        s.flush()
        s.add(CampaignRun(campaign_id=c.id, occurrence=1, started_at=at(date(2026, 10, 9), 10)))
        for arm, keys in (("a", ["f1", "f2", "f3"]), (HOLDOUT, ["f6", "f7"])):
            for k in keys:
                cust = {"f1": w.c["a1"].id, "f3": w.c["a2"].id}.get(k)
                s.add(CampaignMember(campaign_id=c.id, occurrence=1, follower_id=w.f[k].id, customer_id=cust, arm=arm))
    # f1's customer booked on 10-10, f3's customer came in on 10-15; f2's booking was cancelled
    assert fig.campaign_lift(admin(), Period(date(2026, 10, 1), D12)).rows == []   # not aggregated yet
    refresh()
    lift = fig.campaign_lift(admin(), Period(date(2026, 10, 1), D12))
    low, high = diff_interval(2, 3, 0, 2)
    assert lift.rows == [["秋季保养", "a", 3, 2, 66.7, 66.7, round(low * 100, 1), round(high * 100, 1)],
                         ["秋季保养", HOLDOUT, 2, 0, 0.0, "—", None, None]]
    assert fig.campaign_lift(manager(w.b.dealer.id), Period(date(2026, 10, 1), D12)).rows == []
    assert fig.campaign_lift(admin(), Period(D10, D12)).rows == []     # launched the day before


def test_campaign_arms_are_rewritten_until_their_window_settles(app_ctx: Any) -> None:
    w = world()
    with db.transaction() as s:
        c = Campaign(account_id=account_id("demo"), dealer_id=w.a.dealer.id, name="秋季保养", holdout_pct=10,
                     variants=[{"key": "a"}], status=CampaignStatus.DONE, launched_at=at(date(2026, 10, 9), 10),
                     conversion_days=14)
        s.add(c)
        s.flush()
        s.add(CampaignRun(campaign_id=c.id, occurrence=1, started_at=at(date(2026, 10, 9), 10)))
        s.add(CampaignMember(campaign_id=c.id, occurrence=1, follower_id=w.f["f1"].id, arm="a"))
    refresh()
    period = Period(date(2026, 10, 1), D12)
    assert [r[2] for r in fig.campaign_lift(admin(), period).rows] == [1, 0]
    with db.transaction() as s:
        s.add(CampaignMember(campaign_id=c.id, occurrence=1, follower_id=w.f["f2"].id, arm="a"))
    refresh()                                            # 10-12: the window is open, the arm is recounted
    assert [r[2] for r in fig.campaign_lift(admin(), period).rows] == [2, 0]
    with db.transaction() as s:
        s.add(CampaignMember(campaign_id=c.id, occurrence=1, follower_id=w.f["f3"].id, arm="a"))
    refresh(date(2026, 11, 20), date(2026, 11, 20))      # settled (10-09 + 14 days + 3): left as it was
    assert [r[2] for r in fig.campaign_lift(admin(), period).rows] == [2, 0]
