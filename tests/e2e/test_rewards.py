"""积分商城 in Chromium: a member redeems a reward on the phone and shows the voucher's QR code; a clerk at the
counter looks the code up and uses it once; the manager sees the catalogue and the redemption."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import Follower, Redemption, RedemptionStatus, Role, Trigger
from scrm.services import ledger
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.test_rewards import make_reward

pytestmark = pytest.mark.e2e


def _member_signed_in(page: Any) -> int:
    """A new follower in the phone simulator (the H5 pages sign in through the sandbox's OAuth); its id."""
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()
    with db.transaction() as s:
        found = s.scalar(sa.select(Follower.id).where(Follower.account_id == account_id("demo"))
                         .order_by(Follower.id.desc()).limit(1))
    assert found is not None
    return int(found)


def test_redeem_show_the_qr_code_and_use_it_at_the_counter(page: Any, live_server: Any) -> None:
    dealer = make_dealer(name="浦东4S店")
    wash = make_reward(dealer_id=dealer.id, name="精致洗车一次", description="到店出示券码，含内饰清洁",
                       cost=300, stock=8, per_member_limit=2, sort_order=1)
    make_reward(name="原厂保养套餐", description="机油、机滤更换", cost=5000, stock=3, sort_order=2)
    make_reward(name="车载香薰", cost=200, stock=0, sort_order=3)
    follower_id = _member_signed_in(page)
    with db.transaction() as s:
        m = ledger.member_in(s, follower_id, lock=True)
        ledger.earn_in(s, m.id, Trigger.CHECKIN, key="e2e-rewards", source="test", points=1200)

    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/rewards")
    expect(page.locator("#balance")).to_contain_text("1200")
    expect(page.locator(f"[data-reward='{wash.id}']")).to_contain_text("还可兑换 2 次")
    screenshot(page, "rewards-h5-catalogue")
    page.click(f"a[data-reward='{wash.id}']")
    expect(page.locator("#redeem-form")).to_be_visible()
    screenshot(page, "rewards-h5-confirm")
    page.click("#redeem-form button[type=submit]")
    expect(page.locator("#redeemed")).to_contain_text("兑换成功")
    qr = page.locator("img.rw-qr")
    expect(qr).to_be_visible()
    page.wait_for_function("() => { const i = document.querySelector('img.rw-qr');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert page.evaluate("document.querySelector('img.rw-qr').naturalWidth") > 100  # the PNG loaded
    code = page.locator("#code").inner_text().strip()
    assert len(code) == 10
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "rewards-h5-voucher")

    clerk = make_staff(Role.DEALER_STAFF, dealer=dealer, display_name="陈前台")
    page.set_viewport_size({"width": 1280, "height": 860})
    sign_in(page, clerk.username)
    page.goto("/admin/rewards/verify")
    page.fill("#code", code.lower())
    page.click("#verify-find button[type=submit]")
    expect(page.locator("#voucher")).to_contain_text("精致洗车一次")
    screenshot(page, "rewards-admin-verify")
    page.click("#use-form button[type=submit]")
    expect(page.locator(".flash").first).to_contain_text("核销成功")
    expect(page.locator("#used-by")).to_contain_text("陈前台")
    screenshot(page, "rewards-admin-used")
    with db.transaction() as s:
        assert s.scalar(sa.select(Redemption.status).where(Redemption.code == code)) == RedemptionStatus.USED

    manager = make_staff(Role.DEALER_MANAGER, dealer=dealer)
    page.context.clear_cookies()
    sign_in(page, manager.username)
    page.goto("/admin/rewards/")
    expect(page.locator("#rewards-table")).to_contain_text("精致洗车一次")
    screenshot(page, "rewards-admin-catalogue")
    page.goto("/admin/rewards/redemptions")
    expect(page.locator(f"tr[data-code='{code}']")).to_contain_text("已使用")
    screenshot(page, "rewards-admin-redemptions")
