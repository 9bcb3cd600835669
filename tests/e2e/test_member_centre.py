"""The member centre in Chromium on a phone-sized screen: check in, see the points, the tier and the history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import Badge, BadgeRule, Follower, MemberBadge, Trigger
from scrm.services import ledger
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot
from tests.integration.loyalty_support import make_rule, make_tiers

pytestmark = pytest.mark.e2e


def _newest_member() -> int:
    """The member row of the follower the phone simulator just made."""
    with db.transaction() as s:
        fid = s.scalar(sa.select(Follower.id).where(Follower.account_id == account_id("demo"))
                       .order_by(Follower.id.desc()).limit(1))
        assert fid is not None
        return ledger.member_in(s, fid).id


def test_check_in_on_the_page_and_see_the_points(page: Any, live_server: Any) -> None:
    make_tiers()
    make_rule(Trigger.CHECKIN, 10)
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()
    mid = _newest_member()
    now = db.utcnow()
    with db.transaction() as s:
        for n, (trigger, pts, days) in enumerate([(Trigger.BINDING, 200, 40), (Trigger.BOOKING_COMPLETED, 500, 12),
                                                  (Trigger.EVENT_ATTENDED, 380, 3)]):
            ledger.earn_in(s, mid, trigger, key=f"e2e-{n}", source="test", points=pts, now=now - timedelta(days=days))
        ledger.spend_in(s, mid, 150, reason="redemption", key="e2e-spend", source="reward",
                        now=now - timedelta(days=1))
        badge = Badge(account_id=account_id("demo"), code="first", name="首次保养", icon="★", rule=BadgeRule.MANUAL)
        s.add(badge)
        s.flush()
        s.add(MemberBadge(member_id=mid, badge_id=badge.id))
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/member")
    expect(page.locator("[data-balance]")).to_have_attribute("data-balance", "930")
    expect(page.locator("[data-tier]")).to_contain_text("金卡")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "member-centre")
    page.click("#checkin-btn")
    expect(page.locator("[data-result]")).to_contain_text("签到成功！+10 积分")
    expect(page.locator("[data-balance]")).to_have_attribute("data-balance", "940")
    expect(page.locator("#checkin-btn")).to_have_text("今日已签到")
    expect(page.locator("[data-entry]").first).to_contain_text("每日签到")
    expect(page.locator("[data-entry]").first).to_contain_text("+10")
    screenshot(page, "member-centre-checked-in")
    page.click("#checkin-btn")
    expect(page.locator("[data-result]")).to_contain_text("今天已经签过到了")
    expect(page.locator("[data-balance]")).to_have_attribute("data-balance", "940")
    assert ledger.verify() == []
