"""Analytics in Chromium: a dealer manager opens the dashboard, sees the charts, clicks a churn histogram
bucket, lands on the churn list filtered to that range, opens a customer and sees the analytics panel;
screenshots at 1280 and 390 pixels wide."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from scrm import db
from scrm.db import utcnow
from scrm.models import AnalyticsRun, ChurnBand, ChurnReason, CustomerScore, Dealer, Role, StatDaily, ValueSegment
from scrm.services.customer_profile import today
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import make_customer

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/pages")


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    screenshot(page, f"analytics-{name}")


def _world() -> Dealer:
    dealer = make_dealer(name="上海浦东店")
    end = today()
    rows: list[tuple[Any, str, str, int]] = []
    for i in range(30):
        day = end - timedelta(days=29 - i)
        rows += [(day, "follows", "staff", 3 + i % 5), (day, "follows", "dealer", 1 + i % 3),
                 (day, "unfollows", "", i % 2), (day, "following", "", 400 + i * 4),
                 (day, "bookings", "maintenance", 2 + i % 4), (day, "bookings", "repair", i % 3),
                 (day, "bookings", "test_drive", i % 2), (day, "points_earned", "", 120 + i * 3),
                 (day, "points_spent", "", 40 + (i * 7) % 50)]
    rows += [(end, "funnel_follow", "", 150), (end, "funnel_bind", "", 62), (end, "funnel_book", "", 30),
             (end, "funnel_visit", "", 18), (end, "funnel_buy", "", 4)]
    for b, n in enumerate([120, 95, 80, 61, 40, 33, 21, 14, 8, 3]):
        rows.append((end, "churn_bucket", str(b), n))
    for seg, n in (("important_value", 40), ("important_keep", 25), ("general_develop", 90), ("no_history", 60)):
        rows += [(end, "value_segment", seg, n), (end, "value_spend", seg, n * 3100)]
    with db.transaction() as s:
        s.add_all(StatDaily(account_id=dealer.account_id, dealer_id=dealer.id, day=d, metric=m, dim=dim, value=v)
                  for d, m, dim, v in rows)
        for step in ("aggregates", "scores"):
            s.add(AnalyticsRun(account_id=dealer.account_id, step=step, finished_at=utcnow(), rows=len(rows)))
    for name, score, bits in (("陈高危", 76, ChurnReason.OVERDUE | ChurnReason.FALLING), ("周一般", 35, 0)):
        c = make_customer(dealer, name=name)
        with db.transaction() as s:
            s.add(CustomerScore(account_id=dealer.account_id, dealer_id=dealer.id, customer_id=c.id,
                                churn_score=score, churn_band=ChurnBand.HIGH if score >= 60 else ChurnBand.MEDIUM,
                                churn_reasons=bits, overdue_days=95, expected_interval_days=180,
                                visits_last_12m=1, visits_prev_12m=3, value_segment=ValueSegment.IMPORTANT_KEEP,
                                visits_24m=4, spend_24m=Decimal("8600"), r_score=2, f_score=4, m_score=4,
                                last_visit_on=end - timedelta(days=275)))
    return dealer


def test_dashboard_to_churn_list_to_customer(page: Any) -> None:
    dealer = _world()
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)
    page.goto("/admin/analytics/")
    expect(page.locator("h1")).to_have_text("数据看板")
    expect(page.locator("#fig-followers_over_time .an-only-wide svg[role=img]")).to_be_visible()
    expect(page.locator("#fig-funnel svg")).to_be_visible()
    expect(page.locator("#fig-churn_distribution a.chart-link")).to_have_count(10)
    _shot(page, "dashboard-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "dashboard-390")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.locator("#fig-churn_distribution a.chart-link").nth(7).click()
    page.wait_for_url("**/admin/analytics/churn?min=70&max=79")
    expect(page.locator("#churn-table tbody tr")).to_have_count(1)
    expect(page.locator("#churn-table")).to_contain_text("陈高危")
    expect(page.locator("#churn-table")).to_contain_text("保养逾期 95 天（通常每 180 天一次）")
    expect(page.locator("#churn-table")).not_to_contain_text("周一般")
    _shot(page, "churn-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, "churn-390")
    page.set_viewport_size({"width": 1280, "height": 860})

    page.click("#churn-table >> text=陈高危")
    expect(page.locator("#analytics")).to_contain_text("重要保持客户")
    expect(page.locator("#analytics")).to_contain_text("近 12 个月到店 1 次，之前 12 个月 3 次")
    page.locator("#analytics").scroll_into_view_if_needed()
    _shot(page, "customer-panel-1280")


def test_must_show_dashboard_churn_drill_down_then_act_on_the_task(page: Any) -> None:
    """Issue 7's must-show path in one go: the dashboard, a churn bucket, the task made from the churn list,
    the outcome recorded on the task page, and the outcome on the customer's timeline."""
    dealer = _world()
    make_staff(Role.DEALER_STAFF, dealer=dealer, display_name="刘顾问")
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)
    page.goto("/admin/analytics/")
    page.locator("#fig-churn_distribution a.chart-link").nth(7).click()
    page.wait_for_url("**/admin/analytics/churn?min=70&max=79")
    row = page.locator("#churn-table tbody tr").filter(has_text="陈高危")
    row.locator("button[type=submit]").click()
    expect(page.locator("#churn-table tbody tr").filter(has_text="陈高危")).to_contain_text("回访任务进行中")

    page.goto("/admin/tasks/")
    task = page.locator("#tasks-table tbody tr").filter(has_text="陈高危")
    expect(task).to_contain_text("刘顾问")                       # the least loaded advisor got it
    task.locator("text=记录结果").click()
    page.wait_for_url("**/admin/tasks/*")
    page.check("input[name=outcome][value=booked]")
    page.fill("#tk-note", "已约周六上午到店保养")
    page.click("#close-form button[type=submit]")
    page.wait_for_url("**/admin/tasks/")
    expect(page.locator("body")).not_to_contain_text("陈高危")           # closed: off the open list

    page.locator("nav >> text=流失风险").click()
    page.click("#churn-table >> text=陈高危")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("完成回访")
    expect(timeline).to_contain_text("已约周六上午到店保养")
    _shot(page, "must-show-timeline")
