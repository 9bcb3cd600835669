"""The phone simulator in Chromium: follow, the welcome, the menu, a keyword, and an H5 page signed in."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot
from tests.factories import make_dealer, make_keyword
from tests.integration.sandbox_api import get_token, post

pytestmark = pytest.mark.e2e


def _publish_menu(live_server: Any) -> None:
    menu = [{"type": "click", "name": "联系门店", "key": "CONTACT_DEALER"},
            {"name": "车主服务", "sub_button": [
                {"type": "click", "name": "我的账户", "key": "MY_ACCOUNT"},
                {"type": "view", "name": "会员中心", "url": f"{live_server.url}/h5/demo/"}]}]
    assert post(live_server, "cgi-bin/menu/create", get_token(live_server), {"button": menu})["errcode"] == 0


def _bot_says(page: Any, text: str) -> Any:
    bubble = page.locator(".phone-chat .msg:not(.me)", has_text=text).last
    expect(bubble).to_be_visible()
    return bubble


def test_new_follower_chats_taps_the_menu_and_opens_h5(page: Any, live_server: Any, app_ctx: Any) -> None:
    make_dealer(name="上海浦东4S店", address="锦绣路100号", phone="021-55550000")
    make_keyword("保养", "保养套餐：小保养 399 元起，回复「预约」即可安排。")
    _publish_menu(live_server)

    page.goto("/sandbox/phone/?account=demo")
    expect(page.locator(".phone-name")).to_have_text("测试品牌")
    page.fill("#sbx-label", "陈先生")
    page.click("#sbx-new")
    expect(page.locator("#sbx-status")).to_have_text("未关注")
    expect(page.locator("#phone-text")).to_be_disabled()

    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .notice").first).to_contain_text("你关注了")
    _bot_says(page, "欢迎关注测试品牌")
    expect(page.locator("#sbx-status")).to_have_text("已关注")
    expect(page.locator("#phone-menu")).to_be_visible()
    screenshot(page, "phone-welcome")

    page.click(".menu-top > button:text('联系门店')")
    _bot_says(page, "上海浦东4S店")

    page.click("#phone-to-input")
    page.fill("#phone-text", "保养")
    page.keyboard.press("Enter")
    expect(page.locator(".phone-chat .msg.me").last).to_contain_text("保养")
    _bot_says(page, "小保养 399 元起")
    screenshot(page, "phone-keyword")

    page.click("#phone-to-menu")
    page.click(".menu-top > button:text('车主服务')")
    page.click(".menu-pop button:text('我的账户')")
    card = page.locator(".phone-chat .card").last
    expect(card).to_be_visible()
    card.click()
    expect(page.locator("#phone-browser")).to_be_visible()
    h5 = page.frame_locator("#phone-browser-frame")
    expect(h5.locator("[data-status=following]")).to_have_text("你已关注本公众号")
    expect(h5.locator(".h5-title")).to_have_text("测试品牌")
    screenshot(page, "phone-h5-signed-in")

    page.click("#phone-browser-close")
    expect(page.locator("#phone-browser")).to_be_hidden()
    page.click(".menu-top > button:text('车主服务')")
    page.click(".menu-pop button:text('会员中心')")                 # a VIEW button opens the page directly
    expect(page.frame_locator("#phone-browser-frame").locator("[data-status=following]")).to_be_visible()


def test_unfollow_and_pushes_show_in_the_chat(page: Any, live_server: Any, app_ctx: Any) -> None:
    from scrm.sandbox import state
    from scrm.sandbox.entities import template_id_for
    from tests.integration.sandbox_api import DEMO_APP, text

    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    _bot_says(page, "欢迎关注")
    openid = page.locator("#sbx-openid").inner_text()
    tok = get_token(live_server)
    done = text(openid, "您的爱车已完成保养，欢迎取车。")
    assert post(live_server, "cgi-bin/message/custom/send", tok, done)["errcode"] == 0
    tid = template_id_for(DEMO_APP, "service_reminder")
    body = {"touser": openid, "template_id": tid, "url": f"{live_server.url}/h5/demo/",
            "data": {"car_number1": {"value": "沪A12345"}, "thing2": {"value": "轩逸 2022款"},
                     "time3": {"value": "2024年11月2日"}, "thing4": {"value": "更换机油机滤"}}}
    assert post(live_server, "cgi-bin/message/template/send", tok, body)["errcode"] == 0
    _bot_says(page, "欢迎取车")                                       # arrives by polling
    card = page.locator(".phone-chat .card", has_text="保养到期提醒")
    expect(card).to_contain_text("沪A12345")
    screenshot(page, "phone-pushes")
    page.click("#sbx-unfollow")
    expect(page.locator("#sbx-status")).to_have_text("未关注")
    expect(page.locator(".phone-chat .notice").last).to_contain_text("取消关注")
    assert state.follower(state.app(DEMO_APP), openid).subscribed is False  # type: ignore[union-attr]


def test_follow_through_a_dealer_scene_and_scan_its_code(page: Any, live_server: Any, app_ctx: Any) -> None:
    from scrm import db
    from scrm.models import QrScene, SceneKind
    from scrm.services.accounts import account_id

    dealer = make_dealer(name="杭州滨江店", address="江南大道88号")
    with db.transaction() as s:
        s.add(QrScene(account_id=account_id("demo"), scene=f"dealer:{dealer.code}", kind=SceneKind.DEALER,
                      dealer_id=dealer.id, label="滨江店展厅二维码"))
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    expect(page.locator("#sbx-scene option").first).to_contain_text("滨江店展厅二维码")
    page.click("#sbx-scene-follow")
    expect(page.locator(".phone-chat .notice").first).to_contain_text(f"dealer:{dealer.code}")
    _bot_says(page, "杭州滨江店")                                      # the welcome names the dealer
    qr = page.locator("#sbx-qr")
    expect(qr).to_be_visible()                                         # the scene's ticket, drawn by showqrcode
    # Visible is not loaded: wait for the PNG itself before measuring it.
    page.wait_for_function("() => { const i = document.getElementById('sbx-qr');"
                           " return i && i.complete && i.naturalWidth > 0; }")
    assert page.evaluate("document.getElementById('sbx-qr').naturalWidth") > 200
    page.click("#sbx-scan")
    expect(page.locator(".phone-chat .notice").last).to_contain_text("你扫描了场景")
    screenshot(page, "phone-scene-scan")


def test_h5_account_page_on_a_phone_sized_screen(page: Any, live_server: Any, app_ctx: Any) -> None:
    from scrm.sandbox import state
    from scrm.sandbox.rules import PHONE_COOKIE
    from tests.factories import make_follower
    from tests.integration.sandbox_api import DEMO_APP

    dealer = make_dealer(name="上海浦东4S店", city="上海", address="浦东新区锦绣路100号", phone="021-55550000")
    make_follower(openid="oMobileReader000000000000001", dealer_id=dealer.id)
    state.add_follower(DEMO_APP, "oMobileReader000000000000001")
    page.set_viewport_size({"width": 390, "height": 800})
    page.context.add_cookies([{"name": PHONE_COOKIE + DEMO_APP, "value": "oMobileReader000000000000001",
                               "url": f"{live_server.url}/sandbox/"}])
    page.goto("/h5/demo/")
    expect(page.locator("[data-dealer]")).to_have_text("上海浦东4S店")
    expect(page.locator("a[href='tel:021-55550000']")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390     # nothing overflows sideways
    screenshot(page, "h5-home-390")
    page.goto("/sandbox/phone/?account=demo")
    expect(page.locator(".phone")).to_be_visible()
    screenshot(page, "phone-390")


def test_a_late_answer_from_page_load_does_not_forget_a_new_person(page: Any, live_server: Any,
                                                                   app_ctx: Any) -> None:
    """The page's first overview answers after a person was made (a slow load): the new person stays chosen."""
    held: list[Any] = []

    def hold_first(route: Any) -> None:
        if held:
            route.continue_()
            return
        held.append((route, route.fetch()))   # the server's answer from before the person existed, kept back

    page.route("**/sandbox/phone/api/overview*", hold_first)
    page.goto("/sandbox/phone/?account=demo")
    page.fill("#sbx-label", "赵女士")
    page.click("#sbx-new")
    expect(page.locator("#sbx-status")).to_have_text("未关注")
    assert held, "the page's first overview was not held back"
    route, stale = held[0]
    route.fulfill(response=stale)
    page.wait_for_timeout(500)
    expect(page.locator("#sbx-status")).to_have_text("未关注")
    expect(page.locator("#sbx-person option:checked")).to_contain_text("赵女士")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .notice").first).to_contain_text("你关注了")
