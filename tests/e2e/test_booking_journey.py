"""Issue 4's "must show", end to end in Chromium: an owner books maintenance through the phone simulator's
menu and chat, a service advisor sees it in the admin calendar, checks it in and completes it, and the
owner receives the satisfaction question and answers it in the chat.

The satisfaction question waits `[booking] rating_delay_minutes` (2 hours) after completion; the test
moves that one outbox row's send time to now instead of waiting, then runs the real worker once.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_staff
from tests.integration.booking_support import SH, make_shop
from tests.integration.sandbox_api import get_token, post

pytestmark = pytest.mark.e2e

MENU = [{"name": "预约服务", "sub_button": [{"type": "click", "name": "预约保养", "key": "BOOK_SERVICE"},
                                           {"type": "click", "name": "我的预约", "key": "MY_BOOKINGS"}]},
        {"type": "click", "name": "帮助", "key": "HELP"}]


def _bot_said(phone: Any, text: str) -> None:
    expect(phone.locator(".phone-chat .msg:not(.me)", has_text=text).last).to_be_visible()


def _send(phone: Any, text: str) -> None:
    if phone.locator("#phone-to-input").is_visible():
        phone.click("#phone-to-input")
    phone.fill("#phone-text", text)
    phone.keyboard.press("Enter")
    expect(phone.locator(".phone-chat .msg.me", has_text=text).last).to_be_visible()


def _last_bot_text(phone: Any) -> str:
    return str(phone.locator(".phone-chat .msg:not(.me)").last.inner_text())


def test_book_in_chat_complete_in_admin_then_rate(browser: Any, page: Any, live_server: Any, app_ctx: Any) -> None:
    from scrm import db
    from scrm.models import Booking, BookingSource, BookingStatus, Delivery, Role
    from scrm.outbox.worker import drain

    shop = make_shop()
    make_staff(Role.DEALER_MANAGER, dealer=shop.dealer, username="advisor.li")
    assert post(live_server, "cgi-bin/menu/create", get_token(live_server), {"button": MENU})["errcode"] == 0

    # The owner books maintenance from the menu, answering each step with the first choice offered.
    phone = page
    phone.goto("/sandbox/phone/?account=demo")
    phone.fill("#sbx-label", "李女士")
    phone.click("#sbx-new")
    phone.click("#sbx-follow")
    _bot_said(phone, "欢迎关注")
    if phone.locator("#phone-to-menu").is_visible():
        phone.click("#phone-to-menu")
    phone.click(".menu-top > button:text('预约服务')")
    phone.click(".menu-pop button:text('预约保养')")
    expect(phone.locator(".phone-chat .msg:not(.me)").last).to_contain_text("1.")
    for _ in range(6):  # dealer / service / day / time, whichever the bot asks, until it wants a mobile
        last = _last_bot_text(phone)
        if "手机" in last:
            break
        _send(phone, "1")
        phone.wait_for_timeout(300)
    _bot_said(phone, "手机")
    _send(phone, "13812345678")
    _bot_said(phone, "确认")
    screenshot(phone, "journey-booking-summary")
    _send(phone, "确认")
    _bot_said(phone, "预约成功")
    screenshot(phone, "journey-booking-confirmed")

    [b] = db.session.scalars(sa.select(Booking)).all()
    assert (b.status, b.source, b.contact_mobile, b.service_type_id) == (
        BookingStatus.CONFIRMED, BookingSource.CHAT, "13812345678", shop.maintenance.id)
    local_day = b.start_at.astimezone(SH).date()
    db.session.rollback()

    # The advisor sees it in the day calendar, opens it, checks the owner in and completes the visit.
    admin_ctx = browser.new_context(base_url=live_server.url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        admin = admin_ctx.new_page()
        sign_in(admin, "advisor.li")
        admin.goto(f"/admin/bookings/calendar?day={local_day.isoformat()}&view=day")
        link = admin.locator(f"a[href$='/admin/bookings/{b.id}']").first
        expect(link).to_be_visible()
        screenshot(admin, "journey-admin-calendar")
        link.click()
        admin.wait_for_url(f"**/admin/bookings/{b.id}")
        admin.click("button:text('到店')")
        expect(admin.locator(".flash-success")).to_be_visible()
        admin.click("button:text('完成')")
        expect(admin.locator(".flash-success")).to_be_visible()
        screenshot(admin, "journey-admin-completed")
    finally:
        admin_ctx.close()
    db.session.rollback()  # a fresh snapshot: the live server changed the row
    assert db.session.get(Booking, b.id).status == BookingStatus.COMPLETED  # type: ignore[union-attr]
    db.session.rollback()

    # Two hours later (the row's send time moved to now), the worker sends the satisfaction question.
    with db.transaction() as s:
        rating = s.scalar(sa.select(Delivery).where(Delivery.dedupe_key.like(f"booking:{b.id}:rating:%")))
        assert rating is not None and rating.next_try_at > db.utcnow()
        rating.next_try_at = db.utcnow()
    assert drain() == 1
    _bot_said(phone, "请为本次服务打分")
    _send(phone, "5")
    _bot_said(phone, "感谢您的评分（5 分）")
    screenshot(phone, "journey-rated")
    db.session.rollback()
    assert db.session.get(Booking, b.id).satisfaction == 5  # type: ignore[union-attr]

