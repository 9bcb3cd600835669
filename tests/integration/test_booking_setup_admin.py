"""The booking set-up page: rules, hours, closures, service types (capacity semantics), demo fleet, preview,
scoping, permission, validation messages and audit rows."""

from __future__ import annotations

import re
from datetime import time, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import (
    AuditLog,
    Booking,
    BookingSettings,
    BookingStatus,
    Closure,
    DemoCar,
    OpeningHours,
    Role,
    ServiceType,
    SlotUse,
)
from scrm.services import booking, booking_status
from scrm.services.booking import SlotTaken
from scrm.services.errors import DomainError
from tests.factories import make_dealer
from tests.integration.admin_support import post, signed_in, text
from tests.integration.booking_support import Shop, assert_slot_invariant, at, day_ahead, make_shop, request

pytestmark = pytest.mark.integration
URL = "/admin/booking-setup/"


@pytest.fixture
def shop(app: Any) -> Shop:
    return make_shop()


def _actions() -> list[str]:
    db.session.remove()
    return list(db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))


def _hours_form(week: dict[int, list[tuple[str, str]]]) -> dict[str, str]:
    data: dict[str, str] = {}
    for wd in range(7):
        rows = week.get(wd, [])
        if not rows:
            data[f"h{wd}_closed"] = "1"
        for i, (o, c) in enumerate(rows):
            data[f"h{wd}_{i}_opens"], data[f"h{wd}_{i}_closes"] = o, c
    return data


def _hours(dealer_id: int) -> dict[int, list[tuple[time, time]]]:
    db.session.remove()
    out: dict[int, list[tuple[time, time]]] = {}
    for h in db.session.scalars(sa.select(OpeningHours).where(OpeningHours.dealer_id == dealer_id)
                                .order_by(OpeningHours.weekday, OpeningHours.opens)):
        out.setdefault(h.weekday, []).append((h.opens, h.closes))
    return out


def test_page_shows_every_section_in_chinese(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    resp = client.get(URL)
    html = text(resp)
    assert resp.status_code == 200
    for word in ("预约设置", "营业时间", "休息日", "服务项目", "试驾车", "保养", "极氪001", "沪A00001"):
        assert word in html, word
    assert 'name="h0_0_opens" value="08:30"' in html and 'name="h0_1_closes" value="18:00"' in html
    strip = re.search(r'id="bs-strip">(.*?)</section>', html, re.S)
    assert strip and strip.group(1).count('data-day=') == 7 and "08:30–" in strip.group(1)


def test_staff_without_permission_get_403_and_no_nav_link(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=shop.dealer)
    assert client.get(URL).status_code == 403
    assert post(client, URL + "rules", {"rules-slot_minutes": "30"}).status_code == 403
    assert post(client, URL + f"types/{shop.repair.id}/active", {"active": "0"}).status_code == 403
    assert "/admin/booking-setup/" not in text(client.get("/admin/"))
    db.session.remove()
    assert db.session.get(ServiceType, shop.repair.id).active  # type: ignore[union-attr]


def test_manager_is_scoped_to_own_dealer(client: Any, shop: Shop) -> None:
    other = make_shop()
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    assert "/admin/booking-setup/" in text(client.get("/admin/"))
    assert client.get(URL, query_string={"dealer": other.dealer.id}).status_code == 404
    assert client.get(URL + f"types/{other.repair.id}/edit").status_code == 404
    assert client.get(URL + f"cars/{other.cars[0].id}/edit").status_code == 404
    assert post(client, URL + f"types/{other.repair.id}/active", {"active": "0"}).status_code == 404
    assert post(client, URL + f"cars/{other.cars[0].id}/active", {"active": "0"}).status_code == 404
    assert post(client, URL + "hours", {"dealer": other.dealer.id, **_hours_form({})}).status_code == 404
    with db.transaction() as s:
        c = Closure(account_id=other.dealer.account_id, dealer_id=other.dealer.id, day=day_ahead(5), reason="x")
        s.add(c)
    assert post(client, URL + f"closures/{c.id}/delete").status_code == 404
    db.session.remove()
    assert db.session.get(Closure, c.id) is not None and db.session.get(ServiceType, other.repair.id).active  # type: ignore[union-attr]
    assert len(_hours(other.dealer.id)[0]) == 2


def test_brand_admin_picks_the_dealer(client: Any, shop: Shop) -> None:
    bare = make_dealer(name="新开门店")
    signed_in(client, Role.BRAND_ADMIN)
    html = text(client.get(URL, query_string={"dealer": bare.id}))
    assert 'id="bs-dealer"' in html and "新开门店" in html and "还没有服务项目" in html
    resp = post(client, URL + "rules", {"dealer": bare.id, "rules-slot_minutes": "20", "rules-min_notice_minutes": "60",
                                        "rules-horizon_days": "14", "rules-cancel_cutoff_minutes": "30",
                                        "rules-timezone": "Asia/Urumqi"})
    assert resp.status_code == 303 and f"dealer={bare.id}" in resp.headers["Location"]
    db.session.remove()
    bs = db.session.scalar(sa.select(BookingSettings).where(BookingSettings.dealer_id == bare.id))
    assert bs is not None and (bs.slot_minutes, bs.min_notice_minutes, bs.horizon_days, bs.cancel_cutoff_minutes,
                               bs.timezone) == (20, 60, 14, 30, "Asia/Urumqi")
    log = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "booking_setup.rules"))
    assert log is not None and log.dealer_id == bare.id and log.detail["slot_minutes"] == ["30", "20"]


def test_rules_validation_in_chinese_and_nothing_changes(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    resp = post(client, URL + "rules", {"rules-slot_minutes": "25", "rules-min_notice_minutes": "-5",
                                        "rules-horizon_days": "abc", "rules-cancel_cutoff_minutes": "60",
                                        "rules-timezone": "Mars/Olympus"})
    html = text(resp)
    assert resp.status_code == 422
    assert "请选择 15、20、30 或 60 分钟的时段长度。" in html and "请输入 1 到 365 之间的整数天数。" in html
    assert "请输入 0 到 10080 之间的整数分钟数。" in html and "请输入时区，例如 Asia/Shanghai。" in html
    db.session.remove()
    bs = db.session.scalar(sa.select(BookingSettings).where(BookingSettings.dealer_id == shop.dealer.id))
    assert bs is not None and (bs.slot_minutes, bs.horizon_days, bs.timezone) == (30, 30, "Asia/Shanghai")
    assert "booking_setup.rules" not in _actions()


def test_slot_length_change_refused_while_bookings_hold_the_old_grid(client: Any, shop: Shop) -> None:
    booking.book(request(shop, shop.repair, at(9, 0)))
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    form = {"rules-slot_minutes": "60", "rules-min_notice_minutes": "120", "rules-horizon_days": "30",
            "rules-cancel_cutoff_minutes": "120", "rules-timezone": "Asia/Shanghai"}
    html = text(post(client, URL + "rules", form))
    assert "部分营业时间不在 60 分钟的时段网格上" in html and "还有 1 个未来预约使用当前时段长度" in html
    assert post(client, URL + "rules", {**form, "rules-slot_minutes": "30"}).status_code == 303


def test_hours_saved_with_lunch_break_and_audited(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    week = {wd: [("09:00", "12:00"), ("13:30", "17:30")] for wd in range(5)}
    week[5] = [("10:00", "15:00")]
    resp = post(client, URL + "hours", _hours_form(week))
    assert resp.status_code == 303
    hours = _hours(shop.dealer.id)
    assert hours[0] == [(time(9), time(12)), (time(13, 30), time(17, 30))] and hours[5] == [(time(10), time(15))]
    assert 6 not in hours  # Sunday closed
    log = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "booking_setup.hours"))
    assert log is not None and log.detail["after"]["5"] == ["10:00-15:00"] and "6" in log.detail["before"]


@pytest.mark.parametrize(("rows", "message"), [
    ([("09:00", "08:00")], "关门时间必须晚于开门时间。"),
    ([("09:00", "12:00"), ("11:30", "14:00")], "该时间段与当天的另一个时间段重叠。"),
    ([("09:10", "12:00")], "时间必须在 30 分钟的时段网格上。"),
    ([("9点", "12:00")], "请输入时间，例如 08:30。"),
])
def test_hours_validation_shows_message_next_to_the_field(client: Any, shop: Shop, rows: list[tuple[str, str]],
                                                          message: str) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    resp = post(client, URL + "hours", _hours_form({0: rows}))
    html = text(resp)
    assert resp.status_code == 422
    cell = re.search(r'<tr data-weekday="0">.*?</tr>', html, re.S)
    assert cell and message in cell.group(0) and 'aria-invalid="true"' in cell.group(0)
    assert len(_hours(shop.dealer.id)[0]) == 2 and "booking_setup.hours" not in _actions()


def test_copy_monday_to_weekdays(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    week = {0: [("09:00", "12:00"), ("13:00", "17:00")], 5: [("10:00", "12:00")]}
    post(client, URL + "hours", _hours_form(week))
    assert post(client, URL + "hours/copy-monday").status_code == 303
    hours = _hours(shop.dealer.id)
    for wd in (1, 2, 3, 4):
        assert hours[wd] == [(time(9), time(12)), (time(13), time(17))]
    assert hours[5] == [(time(10), time(12))] and 6 not in hours
    assert _actions().count("booking_setup.hours") == 2


def test_hours_change_lists_confirmed_bookings_outside_without_cancelling(client: Any, shop: Shop) -> None:
    b = booking.book(request(shop, shop.repair, at(16, 0)))
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    week = {wd: [("09:00", "12:00"), ("13:00", "15:00")] for wd in range(7)}
    resp = post(client, URL + "hours", _hours_form(week), follow=True)
    html = text(resp)
    assert "1 个已确认的预约现在不在营业时间内" in html
    table = re.search(r'id="bs-clashes">.*?</table>', html, re.S)
    assert table and f'href="/admin/bookings/{b.id}"' in table.group(0) and "维修" in table.group(0)
    db.session.remove()
    assert db.session.get(Booking, b.id).status == BookingStatus.CONFIRMED  # type: ignore[union-attr]


def test_closure_range_creates_one_row_per_day_and_lists_bookings(client: Any, shop: Shop) -> None:
    b = booking.book(request(shop, shop.maintenance, at(10, 0, days=4)))
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    first, last = day_ahead(3), day_ahead(9)
    resp = post(client, URL + "closures", {"closure-first_day": first.isoformat(), "closure-last_day": last.isoformat(),
                                           "closure-whole_day": "y", "closure-reason": "国庆节"}, follow=True)
    html = text(resp)
    assert "已添加 7 天的休息日。" in html and "1 个已确认的预约现在不在营业时间内" in html
    assert f'data-booking="{b.id}"' in html
    db.session.remove()
    rows = list(db.session.scalars(sa.select(Closure).where(Closure.dealer_id == shop.dealer.id).order_by(Closure.day)))
    assert [r.day for r in rows] == [first + timedelta(days=i) for i in range(7)]
    assert all(r.reason == "国庆节" and r.from_time is None for r in rows)
    assert db.session.get(Booking, b.id).status == BookingStatus.CONFIRMED  # type: ignore[union-attr]
    with pytest.raises(DomainError, match="closed at that time"):
        booking.book(request(shop, shop.repair, at(14, 0, days=5)))
    post(client, URL + f"closures/{rows[0].id}/delete")
    db.session.remove()
    assert db.session.get(Closure, rows[0].id) is None
    assert _actions()[-2:] == ["booking_setup.closure_add", "booking_setup.closure_delete"]


def test_partial_closure_and_its_validation(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    day = day_ahead(2)
    bad = post(client, URL + "closures", {"closure-first_day": day.isoformat(), "closure-from_time": "15:00",
                                          "closure-to_time": "14:00"})
    assert bad.status_code == 422 and "结束时间必须晚于开始时间。" in text(bad)
    past = post(client, URL + "closures", {"closure-first_day": day_ahead(-1).isoformat(), "closure-whole_day": "y"})
    assert past.status_code == 422 and "休息日不能从过去开始。" in text(past)
    rev = post(client, URL + "closures", {"closure-first_day": day.isoformat(), "closure-whole_day": "y",
                                          "closure-last_day": day_ahead(1).isoformat()})
    assert rev.status_code == 422 and "最后一天不能早于第一天。" in text(rev)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Closure)) == 0
    ok = post(client, URL + "closures", {"closure-first_day": day.isoformat(), "closure-from_time": "14:00",
                                         "closure-to_time": "16:00", "closure-reason": "培训"})
    assert ok.status_code == 303
    db.session.remove()
    c = db.session.scalar(sa.select(Closure))
    assert c is not None and (c.from_time, c.to_time) == (time(14), time(16))


def test_service_type_add_edit_validation_and_audit(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    bad = post(client, URL + "types", {"type-name": "", "type-kind": "spa", "type-duration_minutes": "0",
                                       "type-capacity": "100", "type-sort_order": "1"})
    html = text(bad)
    assert bad.status_code == 422 and "请填写名称。" in html and "请选择类型。" in html
    assert "请输入 5 到 480 之间的整数。" in html and "请输入 1 到 99 之间的整数。" in html
    ok = post(client, URL + "types", {"type-name": "钣金喷漆", "type-kind": "bodywork", "type-duration_minutes": "120",
                                      "type-capacity": "2", "type-sort_order": "5", "type-active": "y"})
    assert ok.status_code == 303
    db.session.remove()
    st = db.session.scalar(sa.select(ServiceType).where(ServiceType.name == "钣金喷漆"))
    assert st is not None and st.kind.value == "bodywork"
    assert (st.duration_minutes, st.capacity, st.active) == (120, 2, True)
    page = text(client.get(URL + f"types/{st.id}/edit"))
    assert 'value="钣金喷漆"' in page and 'value="120"' in page
    post(client, URL + f"types/{st.id}/edit", {"type-name": "钣喷", "type-kind": "bodywork",
                                                "type-duration_minutes": "90", "type-capacity": "3",
                                                "type-sort_order": "5", "type-active": "y"})
    db.session.remove()
    st2 = db.session.get(ServiceType, st.id)
    assert st2 is not None and (st2.name, st2.duration_minutes, st2.capacity) == ("钣喷", 90, 3)
    log = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "booking_setup.type_update"))
    assert log is not None and log.detail["capacity"] == [2, 3] and log.detail["name"] == ["钣金喷漆", "钣喷"]
    assert post(client, URL + f"types/{st.id}/delete").status_code == 303
    db.session.remove()
    assert db.session.get(ServiceType, st.id) is None


def test_service_type_with_bookings_is_deactivated_never_deleted(client: Any, shop: Shop) -> None:
    b = booking.book(request(shop, shop.repair, at(9, 0)))
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    assert f'action="/admin/booking-setup/types/{shop.repair.id}/delete"' not in text(client.get(URL))
    html = text(post(client, URL + f"types/{shop.repair.id}/delete", follow=True))
    assert "该服务项目已有预约，请改为停用。" in html
    post(client, URL + f"types/{shop.repair.id}/active", {"active": "0"})
    db.session.remove()
    st = db.session.get(ServiceType, shop.repair.id)
    assert st is not None and not st.active
    assert db.session.get(Booking, b.id).status == BookingStatus.CONFIRMED  # type: ignore[union-attr]
    with pytest.raises(DomainError, match="cannot be booked"):
        booking.book(request(shop, shop.repair, at(10, 0)))


def _set_capacity(client: Any, st_id: int, capacity: int) -> None:
    db.session.remove()
    st = db.session.get(ServiceType, st_id)
    assert st is not None
    resp = post(client, URL + f"types/{st_id}/edit", {
        "type-name": st.name, "type-kind": st.kind.value, "type-duration_minutes": str(st.duration_minutes),
        "type-capacity": str(capacity), "type-sort_order": str(st.sort_order), "type-active": "y"})
    assert resp.status_code == 303, text(resp)[:400]


def test_raising_capacity_admits_more_into_a_slot_already_in_use(client: Any, shop: Shop) -> None:
    maint: Any = SimpleNamespace(id=shop.maintenance.id)  # a failed booking rolls back and expires the row
    for _ in range(2):
        booking.book(request(shop, maint, at(9, 0)))
    with pytest.raises(SlotTaken):
        booking.book(request(shop, maint, at(9, 0)))
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    _set_capacity(client, maint.id, 3)
    third = booking.book(request(shop, maint, at(9, 0)))
    assert third.status == BookingStatus.CONFIRMED
    with pytest.raises(SlotTaken):
        booking.book(request(shop, maint, at(9, 0)))
    db.session.remove()
    use = db.session.scalar(sa.select(SlotUse).where(SlotUse.slot_start == at(9, 0),
                                                     SlotUse.resource == f"type:{maint.id}"))
    assert use is not None and (use.used, use.capacity) == (3, 3)
    assert_slot_invariant(shop.dealer.id)


def test_lowering_capacity_keeps_bookings_and_admits_none_beyond(client: Any, shop: Shop) -> None:
    made = [booking.book(request(shop, shop.repair, at(9, 0))) for _ in range(4)]
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    _set_capacity(client, shop.repair.id, 2)
    db.session.remove()
    assert all(db.session.get(Booking, b.id).status == BookingStatus.CONFIRMED for b in made)  # type: ignore[union-attr]
    with pytest.raises(SlotTaken):
        booking.book(request(shop, shop.repair, at(9, 0)))
    for b in made[:2]:
        booking_status.cancel(b.id, reason="test")
    with pytest.raises(SlotTaken):  # 2 left of a new capacity of 2: still full
        booking.book(request(shop, shop.repair, at(9, 0)))
    booking_status.cancel(made[2].id, reason="test")
    assert booking.book(request(shop, shop.repair, at(9, 0))).status == BookingStatus.CONFIRMED
    assert booking.book(request(shop, shop.repair, at(9, 30))).status == BookingStatus.CONFIRMED  # fresh slot
    assert_slot_invariant(shop.dealer.id)


def test_demo_fleet_add_edit_retire_warns_about_future_drives(client: Any, shop: Shop) -> None:
    drive = booking.book(request(shop, shop.test_drive, at(10, 0), demo_car_id=shop.cars[2].id,
                                 licence_confirmed=True))
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    bad = post(client, URL + "cars", {"car-model": " ", "car-plate": "沪A123456789", "car-active": "y"})
    assert bad.status_code == 422 and "请输入车型。" in text(bad) and "最多 10 个字符。" in text(bad)
    added = post(client, URL + "cars", {"car-model": "极氪 7X", "car-plate": "沪A·D0070", "car-active": "y"})
    assert added.status_code == 303
    db.session.remove()
    car = db.session.scalar(sa.select(DemoCar).where(DemoCar.model == "极氪 7X"))
    assert car is not None and car.plate == "沪AD0070" and car.active
    post(client, URL + f"cars/{car.id}/edit", {"car-model": "极氪7X", "car-plate": "沪AD0071", "car-active": "y"})
    db.session.remove()
    assert db.session.get(DemoCar, car.id).plate == "沪AD0071"  # type: ignore[union-attr]
    html = text(post(client, URL + f"cars/{shop.cars[2].id}/active", {"active": "0"}, follow=True))
    assert "这辆车上还有 1 个即将进行的试驾" in html
    table = re.search(rf'id="bs-drives-{shop.cars[2].id}">.*?</table>', html, re.S)
    assert table and f'href="/admin/bookings/{drive.id}"' in table.group(0)
    db.session.remove()
    assert not db.session.get(DemoCar, shop.cars[2].id).active  # type: ignore[union-attr]
    assert db.session.get(Booking, drive.id).status == BookingStatus.CONFIRMED  # type: ignore[union-attr]
    acts = _actions()
    assert acts.count("booking_setup.car_create") == 1 and acts.count("booking_setup.car_update") == 2


def test_preview_follows_the_settings(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    day = day_ahead(3)
    html = text(client.get(URL, query_string={"preview": shop.repair.id}))
    cell = re.search(rf'data-day="{day.isoformat()}">.*?</div>\s*</div>', html, re.S)
    assert cell and "08:30–11:30" in cell.group(0) and "13:00–17:30" in cell.group(0)
    post(client, URL + "closures", {"closure-first_day": day.isoformat(), "closure-from_time": "08:30",
                                    "closure-to_time": "10:00"})
    html = text(client.get(URL, query_string={"preview": shop.repair.id}))
    cell = re.search(rf'data-day="{day.isoformat()}">.*?</div>\s*</div>', html, re.S)
    assert cell and "10:00–11:30" in cell.group(0) and "08:30" not in cell.group(0)


def test_page_reads_well_in_english(client: Any, shop: Shop) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=shop.dealer)
    assert post(client, "/admin/language", {"lang": "en", "next": URL}).status_code in (302, 303)
    html = text(client.get(URL))
    for words in ("Booking set-up", "Next 7 days: free times for 保养", "Opening hours",
                  "Copy Monday to Tuesday–Friday", "Capacity per slot", "Demo fleet", "Monday", "Maintenance"):
        assert words in html, words
    assert "营业时间" not in html
