"""The H5 booking pages: book through the calendar, 我的预约, cancel, move, rate; the rules stay the services'."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import BindMethod, Booking, BookingSource, BookingStatus, Closure, Follower, Role
from scrm.services import binding, booking, booking_status
from tests.factories import make_follower, make_staff
from tests.integration.admin_support import csrf_from
from tests.integration.booking_support import Shop, at, day_ahead, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration


def _signed_in(client: Any, openid: str, slug: str = "demo") -> None:
    """What the WeChat web authorization leaves in the session (the OAuth round trip has its own tests)."""
    with client.session_transaction() as sess:
        sess["h5"] = {slug: {"openid": openid, "at": time.time()}}


def _bookings() -> list[Booking]:
    db.session.remove()
    with db.transaction() as s:
        return list(s.scalars(sa.select(Booking).order_by(Booking.id)))


def _form_fields(html: str) -> dict[str, str]:
    """The hidden fields of the confirmation form."""
    return dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', html))


@pytest.fixture
def owner(client: Any) -> dict[str, Any]:
    """A shop, and a follower bound to its customer record with one vehicle."""
    shop = make_shop()
    c = make_customer(shop.dealer, name="张三", mobile="13912345678")
    v = make_vehicle(c, plate="沪A12345", model="极氪001")
    f = make_follower(dealer_id=shop.dealer.id)
    binding.link(follower_id=f.id, customer_id=c.id, method=BindMethod.H5, consent_text="同意", language="zh")
    _signed_in(client, f.openid)
    return {"shop": shop, "customer": c, "vehicle": v, "follower": f}


def _confirm_page(client: Any, shop: Shop, service_id: int, hhmm: str = "10:00", days: int = 3, **extra: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in extra.items())
    resp = client.get(f"/h5/demo/book?dealer={shop.dealer.id}&service={service_id}&day={day_ahead(days)}"
                      f"&time={hhmm}&{q}")
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-step="confirm"' in body, body
    return body


def _token(client: Any, shop: Shop) -> str:
    """A CSRF token of this browser session (from the booking form)."""
    return _form_fields(_confirm_page(client, shop, shop.repair.id))["csrf_token"]


def test_maintenance_booked_step_by_step_through_the_calendar(client: Any, owner: dict[str, Any]) -> None:
    shop = owner["shop"]
    start = client.get("/h5/demo/book").get_data(as_text=True)
    assert shop.dealer.name in start and "保养" in start and "试驾" in start      # bound dealer preselected
    assert 'data-step="day"' not in start
    cal = client.get(f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.maintenance.id}").get_data(as_text=True)
    link = f"/h5/demo/book?dealer={shop.dealer.id}&amp;service={shop.maintenance.id}&amp;day={day_ahead(3)}"
    assert f'<a href="{link}' in cal
    times = client.get(f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.maintenance.id}&day={day_ahead(3)}")
    body = times.get_data(as_text=True)
    assert 'data-time="08:30"' in body and 'data-time="13:00"' in body and "上午" in body and "下午" in body
    assert 'data-time="11:30"' not in body                          # 60 minutes do not fit before the lunch break
    form = _confirm_page(client, shop, shop.maintenance.id)
    assert "沪A12345" in form and 'name="licence"' not in form and 'name="mobile"' not in form
    resp = client.post("/h5/demo/book", data={**_form_fields(form), "vehicle": str(owner["vehicle"].id),
                                              "note": "异响"})
    [b] = _bookings()
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/h5/demo/bookings/{b.id}?done=booked")
    assert (b.source, b.follower_id, b.customer_id, b.vehicle_id) == (BookingSource.H5, owner["follower"].id,
                                                                       owner["customer"].id, owner["vehicle"].id)
    assert b.start_at == at(10) and b.note == "异响" and b.contact_mobile == "13912345678"
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "预约成功" in page and "已确认" in page and "10:00" in page and "取消预约" in page and "改期" in page


def test_test_drive_needs_a_model_and_the_licence(client: Any) -> None:
    shop = make_shop()
    f = make_follower()                                              # no dealer, no record: a prospect
    _signed_in(client, f.openid)
    picker = client.get(f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.test_drive.id}").get_data(as_text=True)
    assert 'data-model="极氪001"' in picker and 'data-model="极氪007"' in picker and 'data-step="day"' not in picker
    form = _confirm_page(client, shop, shop.test_drive.id, "14:00", model="极氪007")
    assert 'name="licence"' in form and 'name="mobile"' in form
    data = {**_form_fields(form), "name": "李四", "mobile": "138 0013 8000", "note": "周末"}
    refused = client.post("/h5/demo/book", data=data)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and re.search(r'id="licence-error">[^<]*驾照', body)
    assert 'value="李四"' in body and 'value="138 0013 8000"' in body and "周末" in body and _bookings() == []
    ok = client.post("/h5/demo/book", data={**data, "licence": "y"})
    [b] = _bookings()
    assert ok.status_code == 302 and b.licence_confirmed and b.demo_car_id == shop.cars[2].id
    assert (b.contact_name, b.contact_mobile, b.customer_id) == ("李四", "13800138000", None)


def test_days_without_room_are_greyed_and_not_linked(client: Any, owner: dict[str, Any]) -> None:
    shop = owner["shop"]
    with db.transaction() as s:
        s.add(Closure(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, day=day_ahead(2), reason="盘点"))
    body = client.get(f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.maintenance.id}").get_data(as_text=True)
    assert f'<span data-day="{day_ahead(2)}" aria-disabled="true"' in body
    assert f'data-day="{day_ahead(3)}"' in body and f'<a href="/h5/demo/book?dealer={shop.dealer.id}' in body
    wanted = client.get(f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.maintenance.id}&day={day_ahead(2)}")
    text = wanted.get_data(as_text=True)
    assert "这一天已约满" in text and 'data-step="time"' not in text
    lunch = client.get(f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.repair.id}&day={day_ahead(3)}&time=12:30")
    text = lunch.get_data(as_text=True)                               # the lunch break is not a time
    assert "该时间已约满" in text and 'data-step="confirm"' not in text and 'data-time="12:30"' not in text


def test_double_submit_makes_one_booking(client: Any, owner: dict[str, Any]) -> None:
    shop = owner["shop"]
    data = _form_fields(_confirm_page(client, shop, shop.repair.id, "15:00"))
    first = client.post("/h5/demo/book", data=data)
    second = client.post("/h5/demo/book", data=data)
    [b] = _bookings()
    assert first.headers["Location"] == second.headers["Location"] and f"/bookings/{b.id}" in first.headers["Location"]


def test_bad_mobile_is_shown_next_to_the_field_and_keeps_the_input(client: Any) -> None:
    shop = make_shop()
    f = make_follower(dealer_id=shop.dealer.id)
    _signed_in(client, f.openid)
    data = {**_form_fields(_confirm_page(client, shop, shop.repair.id)), "name": "王五", "mobile": "12345",
            "note": "换雨刮"}
    resp = client.post("/h5/demo/book", data=data)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="mobile-error"' in body and "11 位" in body
    assert 'value="王五"' in body and 'value="12345"' in body and "换雨刮" in body and _bookings() == []
    assert f'name="request_key" value="{data["request_key"]}"' in body   # a retry stays one booking
    nameless = client.post("/h5/demo/book", data={**data, "name": " ", "mobile": "13800138000"})
    assert nameless.status_code == 422 and 'id="name-error"' in nameless.get_data(as_text=True)


def test_a_slot_taken_meanwhile_offers_the_nearest_free_times(client: Any, owner: dict[str, Any]) -> None:
    shop = owner["shop"]
    data = _form_fields(_confirm_page(client, shop, shop.maintenance.id, "10:00"))
    for mobile in ("13900000001", "13900000002"):                   # capacity 2: others take it meanwhile
        booking.book(request(shop, shop.maintenance, at(10), contact_mobile=mobile))
    resp = client.post("/h5/demo/book", data={**data, "note": "保留"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "刚刚约满" in body and 'name="alt"' in body and "保留" in body
    alts = re.findall(r'name="alt" value="([0-9T:-]+)"', body)
    assert alts and f"{day_ahead(3)}T10:00" not in alts
    ok = client.post("/h5/demo/book", data={**data, "alt": alts[0]})
    mine = [b for b in _bookings() if b.follower_id == owner["follower"].id]
    assert ok.status_code == 302 and len(mine) == 1 and mine[0].start_at.astimezone(at(10).tzinfo).strftime(
        "%Y-%m-%dT%H:%M") == alts[0]


def test_my_bookings_cancel_and_move(client: Any, owner: dict[str, Any]) -> None:
    shop, f = owner["shop"], owner["follower"]
    b = booking.book(request(shop, shop.repair, at(9), source=BookingSource.CHAT, follower_id=f.id,
                             customer_id=owner["customer"].id))
    b_id = b.id
    mine = client.get("/h5/demo/bookings").get_data(as_text=True)
    assert f'data-booking="{b_id}"' in mine and shop.dealer.name in mine and shop.dealer.address in mine
    assert "维修" in mine and "09:00" in mine and shop.dealer.phone in mine
    moved_form = client.get(f"/h5/demo/bookings/{b_id}/move?day={day_ahead(4)}&time=14:30").get_data(as_text=True)
    assert 'data-step="confirm"' in moved_form
    moved = client.post(f"/h5/demo/bookings/{b_id}/move", data={"csrf_token": csrf_from(moved_form),
                                                                 "day": str(day_ahead(4)), "time": "14:30"})
    assert moved.status_code == 302 and moved.headers["Location"].endswith("done=moved")
    assert _bookings()[0].start_at == at(14, 30, days=4)
    view = client.get(moved.headers["Location"]).get_data(as_text=True)
    assert "已为你改期" in view and "14:30" in view
    unconfirmed = client.post(f"/h5/demo/bookings/{b_id}/cancel", data={"csrf_token": csrf_from(moved_form)})
    assert unconfirmed.status_code == 302 and "confirm=cancel" in unconfirmed.headers["Location"]
    assert _bookings()[0].status == BookingStatus.CONFIRMED
    ask = client.get(unconfirmed.headers["Location"]).get_data(as_text=True)
    assert "确定取消" in ask
    done = client.post(f"/h5/demo/bookings/{b_id}/cancel", data={"csrf_token": csrf_from(ask), "confirm": "y"})
    assert done.status_code == 302 and _bookings()[0].status == BookingStatus.CANCELLED
    assert f'data-booking="{b_id}"' not in client.get("/h5/demo/bookings").get_data(as_text=True)
    assert f'data-booking="{b_id}"' in client.get("/h5/demo/bookings?tab=past").get_data(as_text=True)


def test_past_the_cut_off_the_page_says_call_the_dealer(client: Any) -> None:
    shop = make_shop(cancel_cutoff_minutes=5 * 24 * 60)
    f = make_follower(dealer_id=shop.dealer.id)
    _signed_in(client, f.openid)
    b = booking.book(request(shop, shop.repair, at(9), follower_id=f.id))
    b_id = b.id
    view = client.get(f"/h5/demo/bookings/{b_id}").get_data(as_text=True)
    assert f"请致电门店 {shop.dealer.phone}" in view and 'id="cancel"' not in view and 'id="move"' not in view
    token = _token(client, shop)
    refused = client.post(f"/h5/demo/bookings/{b_id}/cancel", data={"csrf_token": token, "confirm": "y"})
    assert refused.status_code == 409 and "无法在线修改" in refused.get_data(as_text=True)
    no_move = client.post(f"/h5/demo/bookings/{b_id}/move", data={"day": str(day_ahead(4)), "time": "14:30",
                                                                    "csrf_token": token})
    assert no_move.status_code == 302 and _bookings()[0].status == BookingStatus.CONFIRMED
    assert _bookings()[0].start_at == at(9)


def test_someone_elses_booking_is_not_found(client: Any, owner: dict[str, Any]) -> None:
    shop = owner["shop"]
    other = make_follower(dealer_id=shop.dealer.id)
    theirs = booking.book(request(shop, shop.repair, at(11), follower_id=other.id))
    theirs_id = theirs.id
    assert client.get(f"/h5/demo/bookings/{theirs_id}").status_code == 404
    assert client.get(f"/h5/demo/bookings/{theirs_id}/rate").status_code == 404
    assert client.get(f"/h5/demo/bookings/{theirs_id}/move").status_code == 404
    token = _token(client, shop)
    assert client.post(f"/h5/demo/bookings/{theirs_id}/cancel", data={"csrf_token": token,
                                                                     "confirm": "y"}).status_code == 404
    assert _bookings()[0].status == BookingStatus.CONFIRMED


def test_rating_only_after_completion_and_only_one_to_five(client: Any, owner: dict[str, Any]) -> None:
    shop, f = owner["shop"], owner["follower"]
    b = booking.book(request(shop, shop.repair, at(9), follower_id=f.id, customer_id=owner["customer"].id))
    b_id = b.id
    early = client.get(f"/h5/demo/bookings/{b_id}/rate")
    assert early.status_code == 409 and "只能评价已完成" in early.get_data(as_text=True)
    booking_status.complete(b_id, make_staff(Role.DEALER_MANAGER, dealer=shop.dealer))
    page = client.get(f"/h5/demo/bookings/{b_id}/rate").get_data(as_text=True)
    assert page.count('name="score"') == 5
    bad = client.post(f"/h5/demo/bookings/{b_id}/rate", data={"csrf_token": csrf_from(page), "score": "6"})
    assert bad.status_code == 422 and "1 到 5" in bad.get_data(as_text=True) and _bookings()[0].satisfaction is None
    ok = client.post(f"/h5/demo/bookings/{b_id}/rate", data={"csrf_token": csrf_from(page), "score": "4"})
    assert ok.status_code == 302 and _bookings()[0].satisfaction == 4
    assert "感谢评价" in client.get(ok.headers["Location"]).get_data(as_text=True)
    client.post(f"/h5/demo/bookings/{b_id}/rate", data={"csrf_token": csrf_from(page), "score": "2"})
    assert _bookings()[0].satisfaction == 2                           # a second answer replaces the first


def test_post_without_csrf_is_refused(client: Any, owner: dict[str, Any]) -> None:
    shop = owner["shop"]
    data = _form_fields(_confirm_page(client, shop, shop.repair.id))
    data.pop("csrf_token")
    assert client.post("/h5/demo/book", data=data).status_code == 400 and _bookings() == []


def test_not_signed_in_goes_to_wechat_authorization(client: Any) -> None:
    for path in ("/h5/demo/book", "/h5/demo/bookings", "/h5/demo/bookings/1", "/h5/demo/bookings/1/rate"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/connect/oauth2/authorize" in resp.headers["Location"], path


def test_account_page_links_to_booking(client: Any, owner: dict[str, Any]) -> None:
    home = client.get("/h5/demo/").get_data(as_text=True)
    assert 'href="/h5/demo/book"' in home and "预约到店" in home and 'href="/h5/demo/bookings"' in home


def test_signed_in_through_the_sandbox_oauth_over_http(live_server: Any, app_ctx: Any) -> None:
    import requests

    from scrm.sandbox import state
    from scrm.sandbox.rules import PHONE_COOKIE
    from tests.integration.sandbox_api import DEMO_APP

    shop = make_shop()
    f = make_follower(dealer_id=shop.dealer.id)
    state.add_follower(DEMO_APP, f.openid)
    s = requests.Session()
    s.cookies.set(PHONE_COOKIE + DEMO_APP, f.openid, path="/sandbox")
    path = f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.repair.id}"
    first = s.get(live_server.url + path, allow_redirects=False, timeout=5)
    assert first.status_code == 302 and "/sandbox/wx/connect/oauth2/authorize?" in first.headers["Location"]
    page = s.get(live_server.url + path, timeout=10)
    assert page.status_code == 200 and page.url.split("#")[0] == live_server.url + path  # back on the step
    assert 'data-step="day"' in page.text and "Content-Security-Policy" in page.headers


def test_a_follower_without_a_dealer_chooses_one_by_city(client: Any) -> None:
    from tests.factories import make_dealer

    north = make_shop()
    make_dealer(name="杭州滨江店", city="杭州")
    f = make_follower()
    _signed_in(client, f.openid)
    body = client.get("/h5/demo/book").get_data(as_text=True)
    assert f'data-dealer="{north.dealer.id}"' in body and "杭州滨江店" in body and 'data-step="service"' not in body
    assert '<span class="bk-tag">杭州</span>' in body and '<span class="bk-tag">上海</span>' in body
    chosen = client.get(f"/h5/demo/book?dealer={north.dealer.id}").get_data(as_text=True)
    assert f'data-service="{north.maintenance.id}"' in chosen and "换一家门店" in chosen
    stranger = client.get("/h5/demo/book?dealer=999999").get_data(as_text=True)
    assert 'data-step="service"' not in stranger                         # an unknown dealer is not taken


def test_a_move_to_a_time_taken_meanwhile_offers_alternatives(client: Any, owner: dict[str, Any]) -> None:
    shop, f = owner["shop"], owner["follower"]
    b_id = booking.book(request(shop, shop.maintenance, at(9), follower_id=f.id,
                                customer_id=owner["customer"].id)).id
    form = client.get(f"/h5/demo/bookings/{b_id}/move?day={day_ahead(5)}&time=15:00").get_data(as_text=True)
    assert 'data-step="confirm"' in form and 'data-day="' in form
    for mobile in ("13900000001", "13900000002"):
        booking.book(request(shop, shop.maintenance, at(15, days=5), contact_mobile=mobile))
    resp = client.post(f"/h5/demo/bookings/{b_id}/move", data={"csrf_token": csrf_from(form),
                                                                "day": str(day_ahead(5)), "time": "15:00"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 409 and "刚刚约满" in body
    alts = re.findall(r'name="alt" value="([0-9T:-]+)"', body)
    assert alts and _bookings()[0].start_at == at(9)
    ok = client.post(f"/h5/demo/bookings/{b_id}/move", data={"csrf_token": csrf_from(form), "alt": alts[0]})
    assert ok.status_code == 302 and _bookings()[0].start_at.astimezone(at(9).tzinfo).strftime(
        "%Y-%m-%dT%H:%M") == alts[0]


def test_an_unfollowed_follower_still_sees_their_bookings_but_cannot_book(client: Any) -> None:
    shop = make_shop()
    f = make_follower(dealer_id=shop.dealer.id)
    b_id = booking.book(request(shop, shop.repair, at(9), follower_id=f.id)).id
    with db.transaction() as s:
        s.execute(sa.update(Follower).where(Follower.id == f.id).values(subscribed=False))
    _signed_in(client, f.openid)
    assert 'data-view="follow-first"' in client.get("/h5/demo/book").get_data(as_text=True)
    assert f'data-booking="{b_id}"' in client.get("/h5/demo/bookings").get_data(as_text=True)
