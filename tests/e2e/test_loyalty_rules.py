"""Earning rules in Chromium: a brand admin sets the account's booking rule, a dealer manager overrides it
for their dealer, a completed booking pays the override, the manager goes back to the account's rule.
Screenshots: loyalty-rules-*.png."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Member, PointsEntry, Role, Trigger
from scrm.services import booking, booking_status
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import at, make_shop, request
from tests.integration.loyalty_support import make_rule

pytestmark = pytest.mark.e2e


def test_account_rule_dealer_override_and_back(page: Any, live_server: Any) -> None:
    shop = make_shop()
    make_rule(Trigger.CHECKIN, 5, daily_cap=5)
    make_staff(Role.BRAND_ADMIN, username="brand.admin", display_name="品牌管理员")
    manager = make_staff(Role.DEALER_MANAGER, dealer=shop.dealer, username="sh.manager", display_name="王经理")

    sign_in(page, "brand.admin")
    page.click("nav.sidenav >> text=积分获取规则")
    page.wait_for_url("**/admin/loyalty/rules/")
    page.click("tr[data-trigger='booking_completed'] >> text=编辑")
    page.fill("#points", "50")
    page.fill("#daily_cap", "100")
    page.fill("#monthly_cap", "20")
    page.click("#rule-form button[type=submit]")
    assert "每月上限不能小于每日上限。" in page.inner_text("#rule-form")
    screenshot(page, "loyalty-rules-invalid")
    page.fill("#monthly_cap", "300")
    page.click("#rule-form button[type=submit]")
    page.wait_for_url("**/admin/loyalty/rules/")
    row = page.inner_text("tr[data-trigger='booking_completed']")
    assert "50" in row and "100" in row and "300" in row and "启用" in row
    screenshot(page, "loyalty-rules-account")
    page.click("form.logout button")
    page.wait_for_url("**/admin/login**")

    sign_in(page, "sh.manager")
    page.goto(f"{live_server.url}/admin/loyalty/rules/")
    assert "全账号规则" in page.inner_text("tr[data-trigger='booking_completed']")
    page.click("tr[data-trigger='booking_completed'] >> text=编辑")
    assert page.input_value("#points") == "50"  # an override starts from the account's rule
    page.fill("#points", "80")
    page.click("#rule-form button[type=submit]")
    row = page.inner_text("tr[data-trigger='booking_completed']")
    assert "80" in row and "该经销商自有规则" in row
    screenshot(page, "loyalty-rules-dealer")

    f = make_follower()
    b = booking.book(request(shop, shop.maintenance, at(10), follower_id=f.id))
    booking_status.complete(b.id, manager)
    db.session.remove()
    paid = db.session.scalars(sa.select(PointsEntry.points).join(Member, Member.id == PointsEntry.member_id)
                              .where(Member.follower_id == f.id)).all()
    assert paid == [80]
    page.reload()
    assert "80" in page.inner_text("tr[data-trigger='booking_completed'] td:nth-child(6)")

    page.click("tr[data-trigger='booking_completed'] >> text=编辑")
    screenshot(page, "loyalty-rules-override-edit")
    page.click("#rule-reset button")
    row = page.inner_text("tr[data-trigger='booking_completed']")
    assert "全账号规则" in row and "50" in row
