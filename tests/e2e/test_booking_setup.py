"""Booking set-up in Chromium: a manager edits the opening hours, adds a National Day closure that overlaps a
confirmed booking (listed with a link, not cancelled) and adds a service type, which the preview strip then
offers. Screenshots: booking-setup-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.models import Role
from scrm.services import booking
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_staff
from tests.integration.booking_support import at, day_ahead, make_shop, request

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded(live_server: Any) -> dict[str, Any]:
    shop = make_shop()
    b = booking.book(request(shop, shop.maintenance, at(10, 0, days=4), contact_name="李先生"))
    make_staff(Role.DEALER_MANAGER, dealer=shop.dealer, username="bs.manager", display_name="赵经理")
    return {"shop": shop, "booking": b}


def test_edit_hours_add_closure_and_service_type(page: Any, seeded: dict[str, Any]) -> None:
    page.on("dialog", lambda d: d.accept())
    sign_in(page, "bs.manager")
    page.click("nav.sidenav >> text=预约设置")
    page.wait_for_url("**/admin/booking-setup/")
    assert page.locator("#bs-strip .bs-day").count() == 7
    assert page.input_value("input[name=h0_0_opens]") == "08:30"
    screenshot(page, "booking-setup-page")

    # hours: Monday 09:00-12:00 and 13:30-17:30, Sunday closed, then copy Monday to the weekdays
    page.fill("input[name=h0_0_opens]", "09:00")
    page.fill("input[name=h0_1_opens]", "13:30")
    page.fill("input[name=h0_1_closes]", "17:30")
    page.check("input[name=h6_closed]")
    page.click("#hours button.btn-primary")
    page.wait_for_url("**/admin/booking-setup/")
    assert "营业时间已保存。" in page.inner_text(".flashes")
    page.click("#bs-copy-monday")
    page.wait_for_url("**/admin/booking-setup/")
    assert page.input_value("input[name=h3_1_closes]") == "17:30"  # Thursday got Monday's hours
    assert page.is_checked("input[name=h6_closed]") and page.input_value("input[name=h6_0_opens]") == ""

    # a bad interval is refused next to its field
    page.fill("input[name=h2_0_closes]", "08:00")
    page.click("#hours button.btn-primary")
    cell = page.locator("tr[data-weekday='2'] .bs-interval.has-error")
    assert "关门时间必须晚于开门时间。" in cell.inner_text()
    screenshot(page, "booking-setup-hours-error")
    page.goto("/admin/booking-setup/")

    # closure: three days over the booked day
    page.fill("#closure-first_day", day_ahead(3).isoformat())
    page.fill("#closure-last_day", day_ahead(5).isoformat())
    page.fill("#closure-reason", "国庆节")
    page.click(".bs-closure-form button.btn-primary")
    page.wait_for_url("**/admin/booking-setup/")
    flashes = page.inner_text(".flashes")
    assert "已添加 3 天的休息日。" in flashes and "1 个已确认的预约现在不在营业时间内" in flashes
    assert page.locator("#bs-closures tbody tr").count() == 3
    link = page.locator(f"#bs-clashes a[href='/admin/bookings/{seeded['booking'].id}']")
    assert link.count() == 1 and "李先生" in page.inner_text("#bs-clashes")
    screenshot(page, "booking-setup-closure")

    # service type
    page.fill("#type-name", "空调清洗")
    page.select_option("#type-kind", "other")
    page.fill("#type-duration_minutes", "45")
    page.fill("#type-capacity", "2")
    page.click("#bs-type-form button.btn-primary")
    page.wait_for_url("**/admin/booking-setup/")
    assert "已添加服务项目“空调清洗”。" in page.inner_text(".flashes")
    row = page.locator("#bs-types tr:has-text('空调清洗')")
    assert "45 分钟" in row.inner_text() and "其他" in row.inner_text()
    page.select_option("#bs-preview", label="空调清洗")
    page.click("#preview button")
    assert "「空调清洗」" in page.inner_text("#bs-h-preview")
    assert page.locator(f"#bs-strip [data-day='{day_ahead(4).isoformat()}']").inner_text().count("无可约时间") == 1
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "booking-setup-types")
