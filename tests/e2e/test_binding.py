"""Binding in Chromium: staff make a one-time QR that the phone simulator scans; the 绑定 chat; the H5 form."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from scrm.models import Role
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded(live_server: Any) -> dict[str, Any]:
    dealer = make_dealer(name="杭州滨江店", city="杭州", phone="0571-88886666")
    c = make_customer(dealer, name="王五", mobile="13812340000")
    make_vehicle(c, plate="浙A88888", vin="LSVAU2180N2183294", brand="大众", model="帕萨特")
    staff = make_staff(Role.DEALER_MANAGER, dealer=dealer, display_name="李经理")
    return {"dealer": dealer, "customer": c, "staff": staff}


def _bot_says(page: Any, text: str) -> Any:
    bubble = page.locator(".phone-chat .msg:not(.me)", has_text=text).last
    expect(bubble).to_be_visible()
    return bubble


def _type(page: Any, text: str) -> None:
    if page.locator("#phone-to-input").is_visible():
        page.click("#phone-to-input")
    page.fill("#phone-text", text)
    page.keyboard.press("Enter")
    expect(page.locator(".phone-chat .msg.me").last).to_contain_text(text)


def _new_follower(page: Any) -> None:
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    _bot_says(page, "欢迎关注")


def test_staff_qr_scanned_by_the_phone_binds_and_shows_on_the_360_page(page: Any, seeded: dict[str, Any]) -> None:
    c = seeded["customer"]
    sign_in(page, seeded["staff"].username)
    page.goto(f"/admin/customers/{c.id}")
    page.click("#make-binding-qr")
    expect(page.locator("#binding-code")).to_have_attribute("data-state", "open")
    page.wait_for_function("() => { const i = document.getElementById('binding-qr');"
                           " return i && i.complete && i.naturalWidth > 200; }")
    box = page.locator("#binding-qr").bounding_box()
    assert box is not None and box["width"] >= 300                      # big enough to scan from a phone
    expect(page.locator("#binding-code")).to_contain_text("有效期至")
    screenshot(page, "binding-qr-admin")
    ticket = page.locator("#binding-code").get_attribute("data-ticket")

    phone = page.context.new_page()
    _new_follower(phone)
    phone.select_option("#sbx-ticket", ticket)
    phone.click("#sbx-scan")
    _bot_says(phone, "联系授权")
    _type(phone, "同意")
    _bot_says(phone, "绑定成功")
    screenshot(phone, "binding-qr-phone")

    page.goto(f"/admin/customers/{c.id}")
    wechat = page.locator("#wechat")
    expect(wechat.locator(".binding")).to_have_count(1)
    expect(wechat).to_contain_text("已关注")
    expect(wechat.locator(".consent-list")).to_contain_text("绑定二维码")
    expect(wechat.locator("[data-unbind]")).to_have_count(1)
    expect(page.locator("#timeline")).to_contain_text("绑定了微信")
    screenshot(page, "binding-360-bound")


def test_chat_binding_in_the_phone_simulator(page: Any, seeded: dict[str, Any]) -> None:
    _new_follower(page)
    _type(page, "绑定")
    _bot_says(page, "手机号")
    _type(page, "138 1234 0000")
    _bot_says(page, "车牌")
    _type(page, "浙B00000")
    _bot_says(page, "还有 4 次机会")
    _type(page, "183294")
    _bot_says(page, "联系授权")
    _type(page, "同意")
    _bot_says(page, "绑定成功")
    screenshot(page, "binding-chat-phone")
    _type(page, "绑定")
    _bot_says(page, "浙A88888")                                          # already bound: the record is shown


def test_h5_binding_form_on_a_phone_sized_screen(page: Any, seeded: dict[str, Any]) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    _new_follower(page)
    page.goto("/h5/demo/bind")
    expect(page.locator("[data-view=form]")).to_be_visible()
    page.fill("#mobile", "13812340000")
    page.fill("#answer", "浙B00000")
    page.check("input[name=consent]")
    page.click(".bind-submit")
    expect(page.locator("#answer-error")).to_contain_text("还有 4 次机会")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "binding-h5-error")
    page.fill("#answer", "浙A88888")
    page.check("input[name=consent]")
    page.click(".bind-submit")
    expect(page.locator("[data-view=done]")).to_be_visible()
    page.goto("/h5/demo/")
    expect(page.locator(".h5-links")).to_contain_text("王五")
    screenshot(page, "binding-h5-home")
