"""A follower tells us their purchase plans on the phone; the nightly scoring ranks them; the manager sees
them on the best-leads list in Chromium and invites them to a test drive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.db import utcnow
from scrm.models import Delivery, Follower, LeadScore, Role
from scrm.services import lead_scoring
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import make_shop

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/leads")


def _shot(page: Any, name: str) -> None:
    screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _newest_follower() -> Follower:
    with db.transaction() as s:
        f = s.scalar(sa.select(Follower).where(Follower.account_id == account_id("demo"))
                     .order_by(Follower.id.desc()).limit(1))
        assert f is not None
        return f


def test_intent_form_then_best_leads_and_invite(page: Any, live_server: Any) -> None:
    shop = make_shop()
    make_follower(dealer_id=shop.dealer.id, remark="冷淡的粉丝")          # a lower lead on the list
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()
    with db.transaction() as s:
        me = s.get_one(Follower, _newest_follower().id)
        me.dealer_id, me.remark = shop.dealer.id, "陈先生"
        follower_id = me.id
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/")
    page.click("a.h5-link[href$='/intent']")
    page.wait_for_url("**/h5/demo/intent")
    page.click("#intent-submit")                                      # nothing chosen: told what is missing
    expect(page.locator("#err-model")).to_contain_text("请选择您感兴趣的车型")
    _shot(page, "intent-error")
    page.select_option("#it-model", "极氪001")
    page.click("label.it-chip:has(input[value='200k_300k'])")
    page.click("label.it-chip:has(input[value='within_1m'])")
    page.fill("#it-note", "想周末带家人一起看车")
    _shot(page, "intent-filled")
    page.click("#intent-submit")
    expect(page.locator("#intent-done")).to_contain_text("感谢填写")
    href = page.locator("#book-test-drive").get_attribute("href") or ""
    assert f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.test_drive.id}&model=" in href
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    _shot(page, "intent-thanks")

    with db.transaction() as s:
        lead_scoring.score_all(s, account_id("demo"), utcnow())
    manager = make_staff(Role.DEALER_MANAGER, dealer=shop.dealer)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, manager.username)
    page.click("a.nav-link:has-text('优质线索')")
    page.wait_for_url("**/admin/leads/")
    first = page.locator("#leads-table tbody tr").first
    expect(first).to_contain_text("陈先生")
    expect(first).to_contain_text("计划 1 个月内购车")
    expect(first).to_contain_text("预算 20-30 万")
    expect(first).to_contain_text("询问过 极氪001")
    _shot(page, "best-leads")
    first.locator("button:has-text('邀约试驾')").click()
    expect(page.locator(".flash-success")).to_contain_text("试驾邀约已发出")
    expect(page.locator("#leads-table tbody tr").first).to_contain_text("已于")
    _shot(page, "invited")
    with db.transaction() as s:
        sent = list(s.scalars(sa.select(Delivery).where(Delivery.follower_id == follower_id,
                                                         Delivery.purpose == "lead_invite")))
        assert len(sent) == 1 and "极氪001" in sent[0].payload["text"]["content"]
        assert s.scalar(sa.select(LeadScore.invited_at).where(LeadScore.follower_id == follower_id)) is not None
