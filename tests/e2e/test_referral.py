"""Referrals in Chromium: the member's code page, a friend following by its scene in the phone simulator, the admin."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import BindMethod, Follower, Role, Trigger
from scrm.services import binding, referrals_points
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import make_customer
from tests.integration.loyalty_support import make_rule

pytestmark = pytest.mark.e2e


def _newest_follower() -> int:
    with db.transaction() as s:
        fid = s.scalar(sa.select(Follower.id).where(Follower.account_id == account_id("demo"))
                       .order_by(Follower.id.desc()).limit(1))
    assert fid is not None
    return fid


def _new_person_follows(page: Any, scene: str | None = None) -> int:
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    if scene is None:
        page.click("#sbx-follow")
    else:
        page.select_option("#sbx-scene", scene)
        page.click("#sbx-scene-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()
    return _newest_follower()


def test_invite_a_friend_and_see_the_progress(page: Any, live_server: Any) -> None:
    make_rule(Trigger.REFERRAL_BIND, 50)
    dealer = make_dealer(name="杭州滨江店")
    member = _new_person_follows(page)
    wang = make_customer(dealer, name="王小明", mobile="13812345678")
    binding.link(follower_id=member, customer_id=wang.id, method=BindMethod.H5, consent_text="同意", language="zh")
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/referral")                                  # signs in through the sandbox's OAuth
    expect(page.locator("[data-view=code] .rf-qr")).to_be_visible()
    page.wait_for_function("() => { const i = document.querySelector('.rf-qr');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    expect(page.locator("[data-view=empty]")).to_contain_text("还没有邀请到好友")

    friend = _new_person_follows(page, f"referral:{member}")       # a friend follows by the code's scene
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="王**").last).to_contain_text("邀请您的好友：王**")
    screenshot(page, "referral-friend-greeting")
    li = make_customer(dealer, name="李雷", mobile="13900001234")
    binding.link(follower_id=friend, customer_id=li.id, method=BindMethod.H5, consent_text="同意", language="zh")
    referrals_points.scan_bindings()

    page.goto("/h5/demo/referral")
    expect(page.locator("[data-friend]")).to_have_count(1)
    expect(page.locator("[data-friend]")).to_contain_text("李*")
    expect(page.locator(".rf-points")).to_contain_text("50")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "referral-h5")

    page.set_viewport_size({"width": 1280, "height": 860})
    sign_in(page, make_staff(Role.DEALER_MANAGER, dealer=dealer).username)
    page.goto("/admin/referrals/")
    expect(page.locator("#referrals-table tbody tr")).to_have_count(1)
    expect(page.locator("#referrals-table")).to_contain_text("王小明")
    expect(page.locator("#top-referrers")).to_contain_text("王小明")
    screenshot(page, "referral-admin")
