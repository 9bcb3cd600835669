"""The message preferences page in Chromium on a phone-sized screen: switch marketing off, then back on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import Follower
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/tracking")


def _newest_follower() -> Follower:
    with db.transaction() as s:
        f = s.scalar(sa.select(Follower).where(Follower.account_id == account_id("demo"))
                     .order_by(Follower.id.desc()).limit(1))
        assert f is not None
        return f


def _shot(page: Any, name: str) -> None:
    screenshot(page, name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_switch_marketing_off_and_on(page: Any, live_server: Any) -> None:
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/")
    _shot(page, "account-with-preferences-link")
    page.click("a.h5-link[href$='/preferences']")
    page.wait_for_url("**/h5/demo/preferences")
    switch = page.locator("#marketing-switch")
    expect(switch).to_have_attribute("aria-checked", "true")
    expect(page.locator("#marketing-state")).to_have_text("已开启")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    _shot(page, "preferences-on")
    switch.click()
    expect(page.locator("#done")).to_contain_text("已关闭")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.locator("#marketing-state")).to_have_text("已关闭")
    assert _newest_follower().opt_out_marketing is True
    _shot(page, "preferences-off")
    switch.click()
    expect(page.locator("#done")).to_contain_text("已开启")
    expect(switch).to_have_attribute("aria-checked", "true")
    assert _newest_follower().opt_out_marketing is False


def test_unknown_tracked_link_is_a_plain_404(page: Any, live_server: Any) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    resp = page.goto("/l/unknowntoken/1-000000000000")
    assert resp is not None and resp.status == 404 and resp.url.endswith("/l/unknowntoken/1-000000000000")
    expect(page.locator("h1")).to_have_text("链接不存在")
    _shot(page, "link-not-found")
