"""Badges and the leaderboard in Chromium: the standard set, the editor, a manual award, both leaderboards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

import scrm.h5.leaderboard  # noqa: F401  (registers h5.leaderboard until scrm/h5/__init__.py imports it)
from scrm import db
from scrm.models import Badge, BadgeRule, Follower, Member, Role, Trigger
from scrm.services import ledger
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.loyalty_support import make_member

pytestmark = pytest.mark.e2e


def _earn(member_id: int, points: int) -> None:
    with db.transaction() as s:
        ledger.earn_in(s, member_id, Trigger.CHECKIN, key=f"e2e:{member_id}", source="member", points=points,
                       now=datetime.now(UTC))


def test_badges_admin_and_leaderboards(page: Any, live_server: Any) -> None:
    dealer = make_dealer(name="杭州西湖4S店")
    staff = make_staff(Role.BRAND_ADMIN)
    owners = [make_member(dealer_id=dealer.id, remark=r) for r in ("陈大文", "林小姐", "王先生", "")]
    for m, pts in zip(owners, (120, 95, 95, 40), strict=True):
        _earn(m.id, pts)
    sign_in(page, staff.username)
    page.goto("/admin/badges/")
    expect(page.locator("h1")).to_have_text("徽章")
    page.click("text=添加标准徽章")
    expect(page.locator(".flash")).to_contain_text("已添加 5 个标准徽章")
    expect(page.locator("#badges-table tbody tr")).to_have_count(5)
    expect(page.locator("tr[data-badge='streak_7']")).to_contain_text("连续签到天数")
    screenshot(page, "badges-admin-list")

    page.click("text=新建徽章")
    page.fill("#name", "贵宾车主")
    page.fill("#code", "vip")
    page.fill("#icon", "")
    page.select_option("#rule", "manual")
    page.click("#badge-form button[type=submit]")
    expect(page.locator("#badge-form")).to_contain_text("图标请填写一个字符或表情")
    expect(page.locator("#name")).to_have_value("贵宾车主")
    screenshot(page, "badges-admin-form-error")
    page.fill("#icon", "贵")
    page.click("#badge-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("徽章“贵宾车主”已保存")
    expect(page.locator("#badges-table tbody tr")).to_have_count(6)

    page.goto(f"/admin/badges/leaderboard?dealer={dealer.id}")
    rows = page.locator("#leaderboard tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_contain_text("陈**")
    expect(rows.nth(1).locator("td").first).to_have_text("2")
    expect(rows.nth(2).locator("td").first).to_have_text("2")          # a tie shares the rank
    expect(rows.nth(3).locator("td").first).to_have_text("4")
    screenshot(page, "badges-admin-leaderboard")
    rows.nth(0).locator("a").click()
    page.select_option("#award-badge", label="贵 贵宾车主")
    page.click("#award-form button")
    expect(page.locator(".flash")).to_contain_text("已授予徽章")
    expect(page.locator("#member-badges")).to_contain_text("贵宾车主")
    screenshot(page, "badges-admin-member")
    with db.transaction() as s:
        vip = s.scalar(sa.select(Badge.id).where(Badge.account_id == account_id("demo"), Badge.code == "vip",
                                                 Badge.rule == BadgeRule.MANUAL))
    assert vip is not None

    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()
    with db.transaction() as s:
        fid = s.scalar(sa.select(Follower.id).where(Follower.account_id == account_id("demo"))
                       .order_by(Follower.id.desc()).limit(1))
        assert fid is not None
        me = ledger.member_in(s, fid)
        s.execute(sa.update(Member).where(Member.id == me.id).values(dealer_id=dealer.id))
        me_id = me.id
    _earn(me_id, 60)
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/leaderboard")
    expect(page.locator("#my-rank")).to_contain_text("第 4 名")
    expect(page.locator("#leaderboard li")).to_have_count(5)
    expect(page.locator("#leaderboard li.me")).to_contain_text("我")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "badges-h5-leaderboard")
