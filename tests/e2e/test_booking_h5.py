"""The H5 booking pages in Chromium on a phone-sized screen: calendar, times, confirmation, 我的预约, cancel."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from scrm import db
from scrm.models import BindMethod, Closure, Follower, Role
from scrm.services import binding, booking, booking_status
from scrm.services.accounts import account_id
from tests.e2e.conftest import screenshot
from tests.factories import make_staff
from tests.integration.booking_support import Shop, at, day_ahead, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(live_server: Any) -> Shop:
    """A shop closed the day after tomorrow (a greyed day in the calendar)."""
    s = make_shop()
    with db.transaction() as tx:
        tx.add(Closure(account_id=s.dealer.account_id, dealer_id=s.dealer.id, day=day_ahead(2), reason="盘点"))
    return s


def _follower_signed_in(page: Any) -> None:
    """A new follower in the phone simulator; the H5 pages then sign in through the sandbox's OAuth."""
    page.goto("/sandbox/phone/?account=demo")
    page.click("#sbx-new")
    page.click("#sbx-follow")
    expect(page.locator(".phone-chat .msg:not(.me)", has_text="欢迎关注").last).to_be_visible()


def _newest_follower_id() -> int:
    """The follower the phone simulator just made."""
    with db.transaction() as s:
        found = s.scalar(sa.select(Follower.id).where(Follower.account_id == account_id("demo"))
                         .order_by(Follower.id.desc()).limit(1))
    assert found is not None
    return found


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_book_a_maintenance_slot_see_it_and_cancel_it(page: Any, shop: Shop) -> None:
    _follower_signed_in(page)
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/book")
    expect(page.locator("#step-dealer")).to_contain_text(shop.dealer.name)       # the only dealer: preselected
    page.click(f"a[data-service='{shop.maintenance.id}']")
    day = day_ahead(3).isoformat()
    expect(page.locator("#step-day .bk-day.free").first).to_be_visible()
    expect(page.locator(f"#step-day a[data-day='{day}']")).to_be_visible()
    expect(page.locator(f"#step-day .bk-day.full span[data-day='{day_ahead(2).isoformat()}']")).to_be_visible()
    expect(page.locator(f"#step-day a[data-day='{day_ahead(2).isoformat()}']")).to_have_count(0)
    _fits(page)
    screenshot(page, "booking-h5-calendar")
    page.click(f"#step-day a[data-day='{day}']")
    expect(page.locator("#step-time")).to_contain_text("上午")
    expect(page.locator("#step-time a[data-time='10:00']")).to_be_visible()
    _fits(page)
    screenshot(page, "booking-h5-times")
    page.click("#step-time a[data-time='10:00']")
    form = page.locator("#step-confirm")
    expect(form).to_contain_text("10:00")
    page.fill("#name", "赵六")
    page.fill("#mobile", "1380013")
    page.click(".bind-submit")
    expect(page.locator("#mobile-error")).to_contain_text("11 位")
    expect(page.locator("#name")).to_have_value("赵六")
    page.fill("#mobile", "13800138000")
    page.fill("#note", "顺便检查轮胎")
    _fits(page)
    screenshot(page, "booking-h5-confirm")
    page.click(".bind-submit")
    expect(page.locator(".bk-done")).to_contain_text("预约成功")
    expect(page.locator("[data-view=booking]")).to_contain_text("10:00")
    screenshot(page, "booking-h5-booked")

    page.goto("/h5/demo/bookings")
    item = page.locator(".bk-item").first
    expect(item).to_contain_text("保养")
    expect(item).to_contain_text(shop.dealer.name)
    expect(item).to_contain_text("已确认")
    _fits(page)
    screenshot(page, "booking-h5-mine")
    item.click()
    page.click("#cancel")
    expect(page.locator(".bk-confirm")).to_contain_text("确定取消")
    page.click("#cancel-yes")
    expect(page.locator(".bk-done")).to_contain_text("预约已取消")
    expect(page.locator("[data-view=booking]")).to_have_attribute("data-status", "cancelled")
    page.goto("/h5/demo/bookings")
    expect(page.locator(".bk-item")).to_have_count(0)
    page.click("text=历史预约")
    expect(page.locator(".bk-item").first).to_contain_text("已取消")


def test_move_a_booking_then_rate_the_completed_visit(page: Any, shop: Shop) -> None:
    _follower_signed_in(page)
    page.set_viewport_size({"width": 375, "height": 812})
    follower_id = _newest_follower_id()
    c = make_customer(shop.dealer, name="钱七", mobile="13700137000")
    make_vehicle(c, plate="沪C77777", model="极氪001")
    binding.link(follower_id=follower_id, customer_id=c.id, method=BindMethod.H5, consent_text="同意", language="zh")
    b_id = booking.book(request(shop, shop.repair, at(9), follower_id=follower_id, customer_id=c.id)).id
    page.goto(f"/h5/demo/bookings/{b_id}")
    page.click("#move")
    page.click(f"#step-day a[data-day='{day_ahead(4).isoformat()}']")
    page.click("#step-time a[data-time='14:30']")
    expect(page.locator("#step-confirm")).to_contain_text("14:30")
    _fits(page)
    screenshot(page, "booking-h5-move")
    page.click("#step-confirm .bind-submit")
    expect(page.locator(".bk-done")).to_contain_text("已为你改期")
    expect(page.locator("[data-view=booking]")).to_contain_text("14:30")
    booking_status.complete(b_id, make_staff(Role.DEALER_MANAGER, dealer=shop.dealer))
    page.goto(f"/h5/demo/bookings/{b_id}")
    page.click("text=评价本次服务")
    expect(page.locator(".bk-stars")).to_be_visible()
    page.click("label[for=star-4]")
    _fits(page)
    screenshot(page, "booking-h5-rate")
    page.click(".bind-submit")
    expect(page.locator(".bk-done")).to_contain_text("4 分")
    screenshot(page, "booking-h5-rated")


def test_test_drive_asks_for_the_model_and_the_licence(page: Any, shop: Shop) -> None:
    _follower_signed_in(page)
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto("/h5/demo/book")
    page.click(f"a[data-service='{shop.test_drive.id}']")
    expect(page.locator("#step-day")).to_have_count(0)                   # the model comes first
    page.click("a[data-model='极氪007']")
    page.click(f"#step-day a[data-day='{day_ahead(3).isoformat()}']")
    page.click("#step-time a[data-time='15:00']")
    page.fill("#name", "孙八")
    page.fill("#mobile", "13600136000")
    page.click(".bind-submit")
    expect(page.locator("#licence-error")).to_contain_text("驾照")
    expect(page.locator("#mobile")).to_have_value("13600136000")
    _fits(page)
    screenshot(page, "booking-h5-test-drive-licence")
    page.check("input[name=licence]")
    page.click(".bind-submit")
    expect(page.locator(".bk-done")).to_contain_text("预约成功")
    expect(page.locator("[data-view=booking]")).to_contain_text("极氪007")
