"""Follow-up tasks in Chromium: an advisor opens the task list (overdue first, in red), records an outcome, and
finds it on the customer's timeline."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from scrm import db
from scrm.models import ChurnBand, Role
from scrm.services import task_rules
from tests.e2e.conftest import sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import make_customer, make_vehicle
from tests.integration.test_task_rules import local_today, score

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/tasks")


def shot(page: Any, name: str) -> None:
    """A full-page screenshot under /tmp/shots/tasks/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_advisor_records_an_outcome_that_reaches_the_timeline(page: Any) -> None:
    dealer = make_dealer(name="上海浦东店")
    advisor = make_staff(Role.DEALER_STAFF, dealer=dealer, display_name="王顾问")
    today = local_today()
    buyer = make_customer(dealer, name="张伟", mobile="13812345678")
    make_vehicle(buyer, purchase_date=today - timedelta(days=18), model="极氪001")
    risky = make_customer(dealer, name="李娜")
    score(risky, 82, ChurnBand.HIGH)
    with db.transaction() as s:
        counts = task_rules.run_rules(s, dealer.account_id, today - timedelta(days=3))   # made 3 days ago
    assert counts["after_purchase"] == 1 and counts["churn_risk"] == 1

    sign_in(page, advisor.username)
    page.goto("/admin/tasks/")
    rows = page.locator("#tasks-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("张伟")                     # due 3 days ago: overdue, first
    expect(rows.first.locator(".tk-overdue")).to_contain_text("逾期 3 天")
    expect(rows.nth(1)).to_contain_text("流失风险 82 分")
    expect(rows.first).to_contain_text("138****5678")
    expect(page.locator("[data-count=overdue]")).to_have_text("2")             # the churn task was due yesterday
    shot(page, "tasks-list")

    rows.first.locator("text=记录结果").click()
    page.wait_for_url("**/admin/tasks/*")
    page.check("input[name=outcome][value=reached]")
    page.fill("#tk-note", "车主对提车体验满意，约定 5000 公里首保")
    shot(page, "task-outcome-form")
    page.click("#close-form button[type=submit]")
    page.wait_for_url("**/admin/tasks/")
    expect(page.locator(".flash, .flashes, [role=status], .alert").first).to_contain_text("回访结果已记录")
    expect(page.locator("#tasks-table tbody tr")).to_have_count(1)
    shot(page, "tasks-list-after")

    page.goto(f"/admin/customers/{buyer.id}")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("完成回访")
    shot(page, "customer-timeline")
