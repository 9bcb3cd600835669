"""The admin bookings calendar and list: figures against hand-computed values, filters, dealer scoping, masking."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, BookingSource, Closure, Role
from scrm.services import booking, booking_status
from tests.factories import make_staff
from tests.integration.admin_support import login, signed_in, text
from tests.integration.booking_support import at, day_ahead, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration


def _cell(html: str, service_id: int, hhmm: str) -> str:
    """The inner HTML of the day grid's cell for one service and slot."""
    m = re.search(rf'<td class="([^"]*)" data-service="{service_id}" data-time="{hhmm}">(.*?)</td>', html, re.S)
    assert m, f"no cell {service_id} {hhmm}"
    return m.group(1) + "|" + m.group(2)


def _use(cell: str) -> str:
    m = re.search(r'<span class="bk-use[^"]*">(\d+/\d+)</span>', cell)
    return m.group(1) if m else ""


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    shop = make_shop()
    other = make_shop()
    zhang = make_customer(shop.dealer, name="张伟", mobile="13812345678")
    car = make_vehicle(zhang, plate="沪A12345", model="极氪001")
    m1 = booking.book(request(shop, shop.maintenance, at(10), customer_id=zhang.id, vehicle_id=car.id,
                              contact_name="张伟", contact_mobile="13812345678"))
    m2 = booking.book(request(shop, shop.maintenance, at(10, 30), contact_name="李娜", contact_mobile="13900002222"))
    r1 = booking.book(request(shop, shop.repair, at(9), contact_name="王芳", contact_mobile="13900003333",
                              source=BookingSource.CHAT))
    r2 = booking.book(request(shop, shop.repair, at(9), contact_name="赵六", contact_mobile="13900004444"))
    gone = booking.book(request(shop, shop.repair, at(9, 30), contact_name="钱七", contact_mobile="13900005555"))
    booking_status.cancel(gone.id, reason="改天")
    later = booking.book(request(shop, shop.repair, at(9, days=5), contact_name="孙八", contact_mobile="13900006666"))
    with db.transaction() as s:
        s.add(Closure(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, day=day_ahead(3),
                      from_time=time(16), to_time=None, reason="盘点"))
    theirs = booking.book(request(other, other.repair, at(9), contact_name="周九", contact_mobile="13900007777"))
    return dict(shop=shop, other=other, zhang=zhang, car=car, m1=m1, m2=m2, r1=r1, r2=r2, gone=gone, later=later,
                theirs=theirs)


def test_day_grid_figures(client: Any, world: dict[str, Any]) -> None:
    shop = world["shop"]
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    html = text(client.get("/admin/bookings/calendar", query_string={"day": day_ahead(3).isoformat()}))
    mt, rp = shop.maintenance.id, shop.repair.id
    # maintenance (60 min, 2 per slot): 10:00 holds m1; 10:30 holds m1 and m2 (full); 11:00 holds m2
    assert _use(_cell(html, mt, "10:00")) == "1/2"
    assert _use(_cell(html, mt, "10:30")) == "2/2" and "bk-full" in _cell(html, mt, "10:30")
    assert _use(_cell(html, mt, "11:00")) == "1/2" and _use(_cell(html, mt, "11:30")) == "0/2"
    assert "张伟" in _cell(html, mt, "10:00") and "沪A12345" in _cell(html, mt, "10:00")
    assert "李娜" in _cell(html, mt, "10:30") and "李娜" not in _cell(html, mt, "11:00")  # listed where it starts
    # repair (30 min, 5 per slot): two at 9:00; the cancelled one at 9:30 gave its slot back but is still shown
    assert _use(_cell(html, rp, "09:00")) == "2/5"
    cancelled = _cell(html, rp, "09:30")
    assert _use(cancelled) == "0/5" and "钱七" in cancelled and "bk-cancelled" in cancelled
    assert "bk-closed" in _cell(html, rp, "12:30")  # the lunch break
    assert "bk-shut" in _cell(html, rp, "16:00") and "盘点" in html  # the closure from 16:00
    assert _use(_cell(html, rp, "08:30")) == "0/5" and "bk-open" in _cell(html, rp, "08:30")
    assert "孙八" not in html  # another day


def test_week_views(client: Any, world: dict[str, Any]) -> None:
    shop = world["shop"]
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    day = day_ahead(3)
    html = text(client.get("/admin/bookings/calendar",
                           query_string={"day": day.isoformat(), "view": "week", "service": shop.maintenance.id}))
    m = re.search(rf'data-day="{day.isoformat()}" data-time="10:30">\s*<span class="bk-use[^"]*">(\d+/\d+)', html)
    assert m and m.group(1) == "2/2"
    html = text(client.get("/admin/bookings/calendar", query_string={"day": day.isoformat(), "view": "week"}))
    cell = re.search(rf'data-service="{shop.repair.id}" data-day="{day.isoformat()}" data-pct="(\d+)">(.*?)</td>',
                     html, re.S)
    assert cell and '<strong class="bk-count">2</strong>' in cell.group(2)  # the cancelled one does not count
    # 2 slot-uses of 5 x 13 open half-hours (8:30-12:00 and 13:00-16:00, before the closure) = 3.1% -> 3
    assert cell.group(1) == "3"
    nxt = re.search(rf'data-service="{shop.repair.id}" data-day="{(day + timedelta(days=1)).isoformat()}" '
                    r'data-pct="(\d+)"', html)
    assert nxt is None or nxt.group(1) == "0"


def test_navigation_and_default_day(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=world["shop"].dealer)
    day = day_ahead(3)
    html = text(client.get("/admin/bookings/calendar", query_string={"day": day.isoformat()}))
    assert f"day={(day - timedelta(days=1)).isoformat()}" in html
    assert f"day={(day + timedelta(days=1)).isoformat()}" in html
    assert text(client.get("/admin/bookings/calendar", query_string={"day": "not-a-day"})).count('id="day-grid"') == 1


def test_dealer_staff_sees_only_their_dealer(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=world["other"].dealer)
    day = day_ahead(3).isoformat()
    html = text(client.get("/admin/bookings/calendar", query_string={"day": day, "dealer": world["shop"].dealer.id}))
    assert "周九" in html and "张伟" not in html  # ?dealer= is ignored for dealer roles
    assert "张伟" not in text(client.get("/admin/bookings/", query_string={"dealer": world["shop"].dealer.id}))
    assert client.get(f"/admin/bookings/{world['m1'].id}").status_code == 404
    assert client.get(f"/admin/bookings/{world['theirs'].id}").status_code == 200


def test_brand_admin_picks_a_dealer(client: Any, world: dict[str, Any]) -> None:
    signed_in(client)
    day = day_ahead(3).isoformat()
    html = text(client.get("/admin/bookings/calendar", query_string={"day": day, "dealer": world["other"].dealer.id}))
    assert "周九" in html and "张伟" not in html and 'id="bk-dealer"' in html
    assert client.get("/admin/bookings/calendar", query_string={"dealer": 999999}).status_code == 404


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-booking="(\d+)">', html)]


def test_list_filters_and_order(client: Any, world: dict[str, Any]) -> None:
    w = world
    signed_in(client, Role.DEALER_MANAGER, dealer=w["shop"].dealer)
    every = _ids(text(client.get("/admin/bookings/")))
    assert every == [w["r1"].id, w["r2"].id, w["gone"].id, w["m1"].id, w["m2"].id, w["later"].id]  # soonest first
    assert _ids(text(client.get("/admin/bookings/", query_string={"order": "newest"})))[0] == w["later"].id

    def ids(**q: Any) -> set[int]:
        return set(_ids(text(client.get("/admin/bookings/", query_string=q))))

    assert ids(status="cancelled") == {w["gone"].id}
    assert ids(service=w["shop"].maintenance.id) == {w["m1"].id, w["m2"].id}
    assert ids(source="chat") == {w["r1"].id}
    assert ids(**{"from": day_ahead(4).isoformat()}) == {w["later"].id}
    assert ids(**{"from": day_ahead(3).isoformat(), "to": day_ahead(3).isoformat()}) == set(every) - {w["later"].id}
    assert ids(q="5678") == {w["m1"].id}            # the customer's mobile, last 4
    assert ids(q="2222") == {w["m2"].id}            # the contact mobile, last 4
    assert ids(q="沪A12345") == {w["m1"].id}        # plate
    assert ids(q="王") == {w["r1"].id}              # name prefix
    assert ids(q="张") == {w["m1"].id}
    assert ids(status="bogus") == set(every)        # an unknown value filters nothing


def test_phones_masked_for_staff_whole_for_managers(app: Any, client: Any, world: dict[str, Any]) -> None:
    shop = world["shop"]
    login(client, make_staff(Role.DEALER_STAFF, dealer=shop.dealer).username)
    html = text(client.get("/admin/bookings/"))
    assert "138****5678" in html and "13812345678" not in html
    view = text(client.get(f"/admin/bookings/{world['m2'].id}"))
    assert "139****2222" in view and "13900002222" not in view
    cal = text(client.get("/admin/bookings/calendar", query_string={"day": day_ahead(3).isoformat()}))
    assert "139****2222" in cal and "13900002222" not in cal
    manager = app.test_client()
    signed_in(manager, Role.DEALER_MANAGER, dealer=shop.dealer)
    assert "13812345678" in text(manager.get("/admin/bookings/"))
    assert "13900002222" in text(manager.get(f"/admin/bookings/{world['m2'].id}"))


def test_csv_export_masked_filtered_and_audited(client: Any, world: dict[str, Any]) -> None:
    shop = world["shop"]
    staff = signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    resp = client.get("/admin/bookings/export.csv", query_string={"service": shop.maintenance.id})
    body = resp.data.decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert lines[0].startswith("预约编号,日期,开始") and len(lines) == 3  # the header and the two maintenance visits
    assert "138****5678" in body and "13812345678" not in body and "已确认" in body and "沪A12345" in body
    db.session.remove()
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "booking.export"))
    assert entry is not None and entry.staff_id == staff.id and entry.detail["rows"] == 2


def test_customer_panel_for_the_360_page(app: Any, world: dict[str, Any]) -> None:
    from flask import g, render_template

    from scrm.services.scope import Scope

    staff = make_staff(Role.DEALER_STAFF, dealer=world["shop"].dealer)
    outsider = make_staff(Role.DEALER_STAFF, dealer=world["other"].dealer)
    for who, expected in ((staff, 1), (outsider, 0)):
        with app.test_request_context(f"/admin/customers/{world['zhang'].id}"):
            g.staff, g.scope = who, Scope.of(who)
            html = render_template("admin/bookings/_customer_panel.html", c=world["zhang"])
        assert html.count(f'href="/admin/bookings/{world["m1"].id}"') == expected
        assert ("沪A12345" in html) == bool(expected)


def test_pages_read_well_in_english(client: Any, world: dict[str, Any]) -> None:
    from tests.integration.admin_support import post

    signed_in(client, Role.DEALER_STAFF, dealer=world["shop"].dealer)
    post(client, "/admin/language", {"lang": "en", "next": "/admin/bookings/"})
    html = text(client.get("/admin/bookings/calendar", query_string={"day": day_ahead(3).isoformat()}))
    assert "Booking calendar" in html and "Day view" in html and "Not open" in html and "预约日历" not in html
    html = text(client.get(f"/admin/bookings/{world['m1'].id}"))
    assert "Check in" in html and "Move to another time" in html and "Confirmed" in html
    assert "Soonest visit first" in text(client.get("/admin/bookings/"))
