"""The booking page's actions (check in, complete, no-show, cancel, move) and booking on behalf of a caller."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Booking, BookingSource, BookingStatus, Role, TimelineEntry
from scrm.services import booking
from tests.integration.admin_support import post, signed_in, text
from tests.integration.booking_support import at, day_ahead, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration


def _status(booking_id: int) -> BookingStatus:
    db.session.remove()
    b = db.session.get(Booking, booking_id)
    assert b is not None
    return b.status


def _utc(local: datetime) -> str:
    """How the time buttons carry an instant."""
    return local.astimezone(UTC).isoformat()


def _count() -> int:
    db.session.remove()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) or 0)


@pytest.fixture
def shop(app: Any) -> Any:
    return make_shop()


def test_check_in_then_complete(client: Any, shop: Any) -> None:
    c = make_customer(shop.dealer, name="张伟")
    b = booking.book(request(shop, shop.repair, at(9), customer_id=c.id))
    staff = signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    html = text(client.get(f"/admin/bookings/{b.id}"))
    assert 'id="do-check-in"' in html and 'id="do-no-show"' not in html  # not started yet
    assert f'href="/admin/customers/{c.id}"' in html
    resp = post(client, f"/admin/bookings/{b.id}/check-in", follow=True)
    assert _status(b.id) == BookingStatus.CHECKED_IN and "已登记到店" in text(resp)
    post(client, f"/admin/bookings/{b.id}/complete")
    assert _status(b.id) == BookingStatus.COMPLETED
    actions = db.session.scalars(sa.select(AuditLog.action).where(
        AuditLog.target_type == "booking", AuditLog.target_id == str(b.id), AuditLog.staff_id == staff.id)).all()
    assert set(actions) == {"booking.check_in", "booking.complete"}
    assert db.session.scalar(sa.select(TimelineEntry).where(TimelineEntry.customer_id == c.id)) is not None
    html = text(client.get(f"/admin/bookings/{b.id}"))
    assert 'id="do-complete"' not in html and 'id="do-check-in"' not in html
    assert html.count("<li>") >= 3  # booked, checked in, completed


def test_refusals_change_nothing(client: Any, shop: Any) -> None:
    b = booking.book(request(shop, shop.repair, at(9)))
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    resp = post(client, f"/admin/bookings/{b.id}/no-show", follow=True)
    assert "预约开始时间之后才能标记为爽约" in text(resp) and _status(b.id) == BookingStatus.CONFIRMED
    resp = post(client, f"/admin/bookings/{b.id}/cancel", {"reason": "  "}, follow=True)
    assert _status(b.id) == BookingStatus.CONFIRMED and "请填写取消原因" in text(resp)
    post(client, f"/admin/bookings/{b.id}/cancel", {"reason": "客户来电取消"})
    db.session.remove()
    gone = db.session.get(Booking, b.id)
    assert gone is not None and gone.status == BookingStatus.CANCELLED and gone.cancel_reason == "客户来电取消"
    resp = post(client, f"/admin/bookings/{b.id}/complete", follow=True)
    assert "该预约已无法修改" in text(resp) and _status(b.id) == BookingStatus.CANCELLED
    assert "客户来电取消" in text(client.get(f"/admin/bookings/{b.id}"))


def test_no_show_after_start(client: Any, shop: Any) -> None:
    b = booking.book(request(shop, shop.repair, at(9, days=-1)), now=at(9, days=-2))  # booked two days ago
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    assert 'id="do-no-show"' in text(client.get(f"/admin/bookings/{b.id}"))
    post(client, f"/admin/bookings/{b.id}/no-show")
    assert _status(b.id) == BookingStatus.NO_SHOW


def test_move_and_full_slot_alternatives(client: Any, shop: Any) -> None:
    b = booking.book(request(shop, shop.maintenance, at(9)))
    for mobile in ("13900000011", "13900000012"):
        booking.book(request(shop, shop.maintenance, at(14), contact_mobile=mobile))
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    html = text(client.get(f"/admin/bookings/{b.id}", query_string={"move": 1, "move_day": day_ahead(3).isoformat()}))
    assert _utc(at(14)) not in html and _utc(at(13, 30)) not in html and _utc(at(15)) in html  # only free
    resp = post(client, f"/admin/bookings/{b.id}/move", {"start_at": at(14).isoformat()})
    assert resp.status_code == 409 and 'id="alternatives"' in text(resp)
    assert at(13).isoformat() in text(resp)  # the nearest free start, as a button
    db.session.remove()
    assert db.session.get(Booking, b.id).start_at == at(9)  # type: ignore[union-attr]
    post(client, f"/admin/bookings/{b.id}/move", {"start_at": at(15).isoformat()})
    db.session.remove()
    moved = db.session.get(Booking, b.id)
    assert moved is not None and moved.start_at == at(15)
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "booking.move",
                                                       AuditLog.target_id == str(b.id))) is not None


def test_other_dealers_booking_is_404_for_every_action(client: Any, shop: Any) -> None:
    b = booking.book(request(shop, shop.repair, at(9)))
    signed_in(client, Role.DEALER_MANAGER)  # of another dealer
    for action in ("check-in", "complete", "no-show", "cancel", "move"):
        assert post(client, f"/admin/bookings/{b.id}/{action}", {"reason": "x", "start_at": at(10).isoformat()}
                    ).status_code == 404
    assert _status(b.id) == BookingStatus.CONFIRMED


def _book_form(shop: Any, **kw: Any) -> dict[str, Any]:
    values = {"service": shop.repair.id, "start_at": at(10).isoformat(), "key": uuid.uuid4().hex,
              "name": "陈先生", "mobile": "139 0000 8888", "note": "来电预约"}
    values.update(kw)
    return values


def test_book_for_new_caller_once_on_double_submit(client: Any, shop: Any) -> None:
    staff = signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    html = text(client.get("/admin/bookings/new", query_string={"name": "陈先生", "mobile": "13900008888",
                                                               "service": shop.repair.id,
                                                               "day": day_ahead(3).isoformat()}))
    assert 'id="book-form"' in html and _utc(at(10)) in html and _utc(at(12, 30)) not in html
    form = _book_form(shop)
    first = post(client, "/admin/bookings/new", form)
    assert first.status_code == 303
    again = post(client, "/admin/bookings/new", form)
    assert again.status_code == 303 and again.headers["Location"] == first.headers["Location"]
    assert _count() == 1
    b = db.session.scalar(sa.select(Booking))
    assert b is not None and b.source == BookingSource.STAFF and b.created_by == staff.id
    assert b.contact_mobile == "13900008888" and b.contact_name == "陈先生" and b.note == "来电预约"
    assert first.headers["Location"].endswith(f"/admin/bookings/{b.id}")


def test_book_for_customer_with_vehicle(client: Any, shop: Any) -> None:
    c = make_customer(shop.dealer, name="张伟", mobile="13812345678")
    v = make_vehicle(c, plate="沪A12345", model="极氪001")
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    found = text(client.get("/admin/bookings/new", query_string={"q": "沪A12345"}))
    assert f"customer={c.id}" in found and "138****5678" in found
    html = text(client.get("/admin/bookings/new", query_string={"customer": c.id}))
    assert "沪A12345" in html and 'id="step-what"' in html
    resp = post(client, "/admin/bookings/new", _book_form(shop, customer=c.id, vehicle=v.id, name="", mobile=""))
    assert resp.status_code == 303
    b = db.session.scalar(sa.select(Booking))
    assert b is not None and b.customer_id == c.id and b.vehicle_id == v.id and b.contact_mobile == "13812345678"


def test_book_validation_errors_change_nothing(client: Any, shop: Any) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    resp = post(client, "/admin/bookings/new", _book_form(shop, mobile="12345", name=""))
    assert resp.status_code == 422
    html = text(resp)
    assert "请输入 11 位大陆手机号码" in html and "请输入来电人姓名" in html
    resp = post(client, "/admin/bookings/new", _book_form(shop, start_at=at(12, 30).isoformat()))  # lunch
    assert resp.status_code == 422 and "该时间不在此服务的可预约时段内" in text(resp)
    resp = post(client, "/admin/bookings/new", _book_form(shop, service=shop.test_drive.id))
    assert resp.status_code == 422 and "请确认驾驶人持有有效驾照" in text(resp)
    other = make_shop()
    resp = post(client, "/admin/bookings/new", _book_form(shop, service=other.repair.id))
    assert resp.status_code == 404
    assert _count() == 0


def test_full_slot_offers_alternatives(client: Any, shop: Any) -> None:
    for mobile in ("13900000021", "13900000022"):
        booking.book(request(shop, shop.maintenance, at(10), contact_mobile=mobile))
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    resp = post(client, "/admin/bookings/new", _book_form(shop, service=shop.maintenance.id))
    assert resp.status_code == 409
    html = text(resp)
    assert re.search(rf'name="start_at" value="{re.escape(at(9).isoformat())}"', html)
    assert _count() == 2


def test_test_drive_with_licence(client: Any, shop: Any) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    resp = post(client, "/admin/bookings/new", _book_form(shop, service=shop.test_drive.id, licence="y",
                                                          demo_model="极氪007"))
    assert resp.status_code == 303
    b = db.session.scalar(sa.select(Booking))
    assert b is not None and b.demo_car_id == shop.cars[2].id and b.licence_confirmed


def test_staff_cannot_rate_or_see_other_dealer_customers(client: Any, shop: Any) -> None:
    theirs = make_customer(make_shop().dealer, name="外店客户")
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    assert "外店客户" not in text(client.get("/admin/bookings/new", query_string={"q": "外店"}))
    assert client.get("/admin/bookings/new", query_string={"customer": theirs.id}).status_code == 404


def test_new_caller_with_a_known_mobile_is_linked_to_the_record(client: Any, shop: Any) -> None:
    known = make_customer(shop.dealer, name="陈大文", mobile="13900008888")
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    assert post(client, "/admin/bookings/new", _book_form(shop)).status_code == 303
    b = db.session.scalar(sa.select(Booking))
    assert b is not None and b.customer_id == known.id and b.contact_name == "陈先生"
