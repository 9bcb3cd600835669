"""Members in Chromium: a manager finds a member, reads the ledger and adjusts points; a brand admin edits a
tier and recomputes. Screenshots: members-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from scrm import db
from scrm.models import Follower, Role, Trigger
from scrm.services import ledger
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import bind, make_customer
from tests.integration.loyalty_support import make_member, make_tiers

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded(live_server: Any) -> dict[str, Any]:
    dealer = make_dealer(name="上海浦东4S店")
    make_tiers()
    wang = make_member(dealer_id=dealer.id, remark="王先生")
    for name, remark in (("李娜", "李女士"), ("赵强", "")):
        m = make_member(dealer_id=dealer.id, remark=remark)
        f = db.session.get(Follower, m.follower_id)
        assert f is not None
        bind(make_customer(dealer, name=name), f)
        with db.transaction() as s:
            ledger.earn_in(s, m.id, Trigger.CHECKIN, key=f"e2e:ci:{m.id}", source="member", points=5)
    f = db.session.get(Follower, wang.follower_id)
    assert f is not None
    bind(make_customer(dealer, name="王建国", mobile="13812345678"), f)
    with db.transaction() as s:
        ledger.earn_in(s, wang.id, Trigger.BOOKING_COMPLETED, key="e2e:bk", source="booking", points=1200)
        ledger.earn_in(s, wang.id, Trigger.CHECKIN, key="e2e:ci", source="member", points=5)
    with db.transaction() as s:
        ledger.spend_in(s, wang.id, 200, reason="redemption", key="e2e:sp", source="reward")
    make_staff(Role.DEALER_MANAGER, dealer=dealer, username="mb.manager", display_name="店长老陈")
    make_staff(Role.BRAND_ADMIN, username="mb.brand", display_name="总部小周")
    return {"wang": wang}


def test_member_ledger_adjust_and_tiers(page: Any, seeded: dict[str, Any]) -> None:
    sign_in(page, "mb.manager")
    page.click("nav.sidenav a[href='/admin/members/']")
    page.wait_for_url("**/admin/members/")
    assert page.locator("#members-table tbody tr").count() == 3
    screenshot(page, "members-list")
    page.fill("#m-q", "5678")
    page.click("button:has-text('筛选')")
    assert page.locator("#members-table tbody tr").count() == 1
    page.click("#members-table >> text=查看")
    page.wait_for_url(f"**/admin/members/{seeded['wang'].id}")
    assert page.locator("#member-balance").inner_text() == "1,005"
    assert page.locator("#member-tier").inner_text() == "金卡"
    assert "完成预约" in page.locator("#ledger-table").inner_text()

    page.fill("#points", "-2000")
    page.fill("#note", "测试扣减")
    page.click("button:has-text('确认调整')")
    assert "积分不足" in page.locator(".flash-error").inner_text()
    page.fill("#points", "50")
    page.fill("#note", "到店活动补发")
    page.click("button:has-text('确认调整')")
    assert "积分已调整 +50" in page.locator(".flash-success").inner_text()
    assert page.locator("#member-balance").inner_text() == "1,055"
    first = page.locator("#ledger-table tbody tr").first.inner_text()
    assert "到店活动补发" in first and "店长老陈" in first
    screenshot(page, "members-view")

    page.context.clear_cookies()
    sign_in(page, "mb.brand")
    page.goto("/admin/members/tiers")
    page.locator("tr[data-tier='gold'] >> text=编辑").click()
    page.fill("#threshold", "1500")
    page.click("#tier-form button:has-text('保存')")
    assert page.locator("#recompute-hint").is_visible()
    page.locator("tr[data-tier='gold'] >> button:has-text('删除')").click()
    assert "无法删除" in page.locator(".flash-error").inner_text()
    page.click("#recompute")
    assert "1 位会员的等级有变化" in page.locator(".flash-success").inner_text()
    screenshot(page, "members-tiers")
    page.goto(f"/admin/members/{seeded['wang'].id}")
    assert page.locator("#member-tier").inner_text() == "银卡"
