"""The issue's "must show", end to end in Chromium: a phone follows, gets the welcome and taps the menu;
a staff member edits a keyword reply in the admin, and the phone receives the new wording at once.

Two browser contexts run side by side against the live server: the phone simulator (which posts
signed XML to the real webhook) and the admin pages (a dealer manager signed in with a password).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_keyword, make_staff
from tests.integration.sandbox_api import get_token, post

pytestmark = pytest.mark.e2e


def _phone_says(phone: Any, text: str) -> None:
    expect(phone.locator(".phone-chat .msg:not(.me)", has_text=text).last).to_be_visible()


def _send(phone: Any, text: str) -> None:
    if phone.locator("#phone-to-input").is_visible():
        phone.click("#phone-to-input")
    phone.fill("#phone-text", text)
    phone.keyboard.press("Enter")


def test_staff_edit_reaches_the_phone(browser: Any, page: Any, live_server: Any, app_ctx: Any) -> None:
    from scrm.models import Role

    dealer = make_dealer(code="SH001", name="上海浦东4S店", address="张杨路1888号", phone="021-58881234")
    make_staff(Role.BRAND_ADMIN, username="hq.admin")
    make_keyword("营业时间", "展厅每天 9:00-18:00 营业。")
    menu = [{"type": "click", "name": "联系门店", "key": "CONTACT_DEALER"},
            {"type": "click", "name": "帮助", "key": "HELP"}]
    assert post(live_server, "cgi-bin/menu/create", get_token(live_server), {"button": menu})["errcode"] == 0

    # The phone: a new follower, the welcome, a menu tap, the keyword as it is today.
    phone = page
    phone.goto("/sandbox/phone/?account=demo")
    phone.fill("#sbx-label", "张先生")
    phone.click("#sbx-new")
    phone.click("#sbx-follow")
    _phone_says(phone, "欢迎关注测试品牌")
    phone.click(".menu-top > button:text('联系门店')")
    _phone_says(phone, dealer.name)
    _send(phone, "营业时间")
    _phone_says(phone, "展厅每天 9:00-18:00 营业。")

    # The admin, in its own browser context: sign in, change the reply's wording.
    admin_ctx = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 860})
    try:
        admin = admin_ctx.new_page()
        sign_in(admin, "hq.admin")
        admin.click("nav.sidenav >> text=关键词回复")
        admin.click("tr[data-keyword=营业时间] >> text=编辑")
        admin.fill("#text", "本周末延长营业至 20:00，欢迎到店！{{ dealer.name }}")
        admin.click("button[value=save]")
        admin.wait_for_url("**/admin/keywords/")
        expect(admin.locator(".flash-success")).to_be_visible()
        screenshot(admin, "journey-admin-edited")
    finally:
        admin_ctx.close()

    # The very next message from the phone gets the new wording (no cache delay, no restart).
    _send(phone, "营业时间")
    _phone_says(phone, "本周末延长营业至 20:00，欢迎到店！")
    screenshot(phone, "journey-phone-new-reply")
