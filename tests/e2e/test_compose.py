"""The message editor in Chromium: link my WeChat from the phone simulator, write with field chips, preview for a
chosen customer with WeChat's limits, switch channel, send a test that arrives on the phone."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import Gender, Role, StaffUser
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots/compose")


@pytest.fixture(autouse=True)
def _unlink_staff_at_end(app: Any) -> Iterator[None]:
    """staff_users.follower_id and followers.staff_id point at each other: SQLite's table-by-table cleanup
    between tests (tests/conftest.py) can only delete the followers once the links are gone."""
    yield
    with db.transaction() as s:
        s.execute(sa.update(StaffUser).values(follower_id=None))


def _shot(page: Any, name: str) -> None:
    path = screenshot(page, f"compose-{name}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SHOTS / path.name)


def live_server_app_id() -> str:
    from scrm import runtime

    return str(runtime.get().settings.accounts["demo"].app_id)


def _phone_says(phone: Any, text: str) -> None:
    expect(phone.locator(".phone-chat .msg:not(.me)", has_text=text).last).to_be_visible()


def test_link_compose_preview_and_test_send(page: Any, live_server: Any) -> None:
    dealer = make_dealer(name="上海浦东4S店", phone="021-55550000")
    make_staff(Role.DEALER_MANAGER, dealer=dealer, username="manager1", display_name="王经理")
    c = make_customer(dealer, name="李娜", gender=Gender.FEMALE, mobile="13900002222")
    make_vehicle(c, plate="沪B54321", model="雅阁")
    sign_in(page, "manager1")

    page.goto("/admin/compose/wechat")
    _shot(page, "wechat-empty")
    page.click("#wechat-code button[type=submit]")
    code = page.locator("#link-code").inner_text().strip()
    assert re.fullmatch(r"\d{6}", code)
    expect(page.locator("#link-words")).to_have_text(f"绑定员工 {code}")
    _shot(page, "wechat-code")

    phone = page.context.new_page()
    phone.goto("/sandbox/phone/?account=demo")
    phone.fill("#sbx-label", "王经理")
    phone.click("#sbx-new")
    phone.click("#sbx-follow")
    _phone_says(phone, "欢迎关注")
    if phone.locator("#phone-to-input").is_visible():
        phone.click("#phone-to-input")
    phone.fill("#phone-text", f"绑定员工 {code}")
    phone.keyboard.press("Enter")
    _phone_says(phone, "已绑定员工微信：王经理")

    page.goto("/admin/compose/wechat")
    expect(page.locator("#link-state")).to_contain_text("是")
    _shot(page, "wechat-linked")

    sandbox.add_template(str(live_server_app_id()), "保养提醒", "车辆：{{thing1.DATA}}\n日期：{{time2.DATA}}")
    page.goto("/admin/compose/")
    editor = page.locator(".compose")
    text = page.locator("#m_text")
    text.fill("")
    page.click(".chip[data-insert='{{ customer.salutation }}']")
    text.press("End")
    text.type("，您的")
    page.click(".chip[data-insert='{{ vehicle.model }}']")
    text.press("End")
    text.type("该保养了，请致电")
    page.click(".chip[data-insert='{{ dealer.phone }}']")
    expect(text).to_have_value("{{ customer.salutation }}，您的{{ vehicle.model }}该保养了，请致电{{ dealer.phone }}")
    bubble = editor.locator(".compose-screen .compose-bubble").first
    expect(bubble).to_have_text("张先生，您的Model Y 长续航版该保养了，请致电021-55550000")   # the sample owner
    page.fill(".compose-search", "李娜")
    expect(page.locator(".compose-customer")).to_have_value(str(c.id))
    expect(bubble).to_have_text("李女士，您的雅阁该保养了，请致电021-55550000")
    expect(editor.locator(".compose-count").first).to_contain_text("/ 2048 字节")

    expect(page.locator(".compose-template")).to_be_hidden()        # the page starts on customer-service messages
    page.check("input[name=channel][value=template]")
    expect(editor).to_have_attribute("data-channel", "template")
    expect(page.locator(".compose-custom")).to_be_hidden()
    expect(editor.locator(".compose-error")).to_contain_text("模板")
    page.select_option("#m_template_id", label="保养提醒")
    keys = page.locator("input[name=m_tf_key]")
    expect(keys.nth(0)).to_have_value("thing1")
    expect(keys.nth(1)).to_have_value("time2")
    page.locator("input[name=m_tf_value]").nth(0).click()
    page.click(".chip[data-insert='{{ vehicle.model }}']")        # chips insert where the cursor is
    page.locator("input[name=m_tf_value]").nth(1).fill("{{ today|date('%Y年%m月%d日') }}")
    card = editor.locator(".compose-tcard")
    expect(card).to_contain_text("保养提醒")
    expect(card).to_contain_text("雅阁")
    expect(editor.locator(".compose-count").nth(3)).to_have_text("2 / 20 字")   # counted as rendered
    _shot(page, "editor-template")
    page.check("input[name=channel][value=custom]")
    expect(editor).to_have_attribute("data-channel", "custom")
    expect(editor.locator(".compose-fine")).to_be_visible()
    _shot(page, "editor-preview")

    page.click(".compose-test-btn")
    expect(editor.locator(".compose-sent")).to_contain_text("已发送")
    page.click(".compose-preview-btn")                   # a preview landing after the send keeps its result
    expect(editor.locator(".compose-status")).to_contain_text("李娜")
    expect(editor.locator(".compose-sent")).to_contain_text("已发送")
    _shot(page, "editor-sent")
    drain()
    _phone_says(phone, "李女士，您的雅阁该保养了")

    text.fill("{{ customer.salutation }}" + "很长的文字" * 150)
    expect(editor.locator(".compose-problem").first).to_contain_text("2048")
    expect(editor.locator(".compose-count.over")).to_be_visible()
    text.fill("{{ vehicle.vin }}")
    expect(editor.locator(".compose-error")).to_contain_text("vin")
    _shot(page, "editor-problems")
