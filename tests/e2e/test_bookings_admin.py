"""The admin bookings in Chromium: open the calendar, open a booking, check it in and complete it; then book
on behalf of a caller through the steps. Screenshots: bookings-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.models import BookingSource, Role
from scrm.services import booking
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import make_staff
from tests.integration.booking_support import at, day_ahead, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded(live_server: Any) -> dict[str, Any]:
    shop = make_shop()
    zhang = make_customer(shop.dealer, name="张伟", mobile="13812345678")
    car = make_vehicle(zhang, plate="沪A12345", model="极氪001")
    b = booking.book(request(shop, shop.maintenance, at(10, days=1), customer_id=zhang.id, vehicle_id=car.id,
                             contact_name="张伟", contact_mobile="13812345678", source=BookingSource.CHAT))
    booking.book(request(shop, shop.maintenance, at(10, 30, days=1), contact_name="李娜",
                         contact_mobile="13900002222"))
    booking.book(request(shop, shop.repair, at(9, days=1), contact_name="王芳", contact_mobile="13900003333"))
    booking.book(request(shop, shop.test_drive, at(14, days=1), contact_name="赵先生", contact_mobile="13900004444",
                         licence_confirmed=True, demo_model="极氪007"))
    make_staff(Role.DEALER_STAFF, dealer=shop.dealer, username="bk.staff", display_name="前台小刘")
    return {"shop": shop, "booking": b}


def test_calendar_check_in_complete_and_book_for_caller(page: Any, seeded: dict[str, Any]) -> None:
    b = seeded["booking"]
    day = day_ahead(1).isoformat()
    sign_in(page, "bk.staff")
    page.click("nav.sidenav >> text=预约日历")
    page.wait_for_url("**/admin/bookings/calendar")
    page.goto(f"/admin/bookings/calendar?day={day}")
    cell = page.locator(f"td[data-service='{seeded['shop'].maintenance.id}'][data-time='10:30']")
    assert "2/2" in cell.inner_text() and "李娜" in cell.inner_text()
    screenshot(page, "bookings-calendar-day")

    page.click("text=周视图")
    page.wait_for_url("**view=week**")
    assert page.locator("#week-grid").is_visible()
    screenshot(page, "bookings-calendar-week")

    page.goto(f"/admin/bookings/calendar?day={day}")
    page.click(f"a.bk-entry[href='/admin/bookings/{b.id}']")
    page.wait_for_url(f"**/admin/bookings/{b.id}")
    assert "138****5678" in page.inner_text("main")  # dealer staff see masked mobiles
    page.click("#do-check-in")
    page.wait_for_url(f"**/admin/bookings/{b.id}")
    assert page.inner_text("#booking-status") == "已到店"
    page.click("#do-complete")
    page.wait_for_url(f"**/admin/bookings/{b.id}")
    assert page.inner_text("#booking-status") == "已完成"
    assert "完成了预约" in page.inner_text("#history") and "前台小刘" in page.inner_text("#history")
    screenshot(page, "bookings-view-completed")

    page.click("nav.sidenav >> text=预约列表")
    page.wait_for_url("**/admin/bookings/")
    assert page.locator("#bookings-table tbody tr").count() == 4
    screenshot(page, "bookings-list")

    page.click("text=代客预约")
    page.wait_for_url("**/admin/bookings/new**")
    page.fill("#who-name", "陈先生")
    page.fill("#who-mobile", "139 0000 8888")
    page.click(".bk-newcaller button[type=submit]")
    page.select_option("#what-service", str(seeded["shop"].repair.id))
    page.click(".bk-what button[type=submit]")
    page.click("#free-days a >> nth=1")
    page.locator(".bk-time-choice").first.click()
    page.fill("#book-note", "电话预约，想顺便洗车")
    screenshot(page, "bookings-new")
    page.click("#do-book")
    page.wait_for_url("**/admin/bookings/*")
    main = page.inner_text("main")
    assert "陈先生" in main and "员工代约" in main and "电话预约，想顺便洗车" in main and "139****8888" in main
    screenshot(page, "bookings-new-done")

    page.click("text=选择新时间")
    page.click("#move .bk-days a >> nth=2")
    page.locator("#move .bk-times button").first.wait_for()
    screenshot(page, "bookings-move")
    page.locator("#move .bk-times button").first.click()
    page.wait_for_url("**/admin/bookings/*")
    assert "预约已改到" in page.inner_text(".flashes") and "改约了预约时间" in page.inner_text("#history")
