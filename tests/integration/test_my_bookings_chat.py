"""我的预约 through the real webhook: list, cancel, move, the cut-off, and nobody else's bookings."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.models import Booking, BookingSource, BookingStatus
from scrm.services import booking
from tests.factories import make_follower
from tests.integration.booking_support import Shop, assert_slot_invariant, at, day_ahead, make_shop, request
from tests.integration.chat_booking_support import Chat, bookings, chat_day, set_rules
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(app: Any) -> Shop:
    return make_shop()


def _book(shop: Shop, follower_id: int, hh: int, days: int = 3, **kw: Any) -> Booking:
    return booking.book(request(shop, shop.repair, at(hh, days=days), follower_id=follower_id,
                                source=BookingSource.CHAT, **kw))


def _status(booking_id: int) -> Booking:
    return next(b for b in bookings() if b.id == booking_id)


def test_nothing_upcoming_says_how_to_book(client: Any, settings: Any, shop: Shop) -> None:
    chat = Chat(client, settings, make_follower().openid)
    reply = chat.click("MY_BOOKINGS")
    assert "没有待到店的预约" in reply and "预约保养" in reply and "/h5/demo/bookings" in reply


def test_list_then_cancel_with_confirmation(client: Any, settings: Any, shop: Shop) -> None:
    f = make_follower()
    later, sooner = _book(shop, f.id, 15), _book(shop, f.id, 9)
    chat = Chat(client, settings, f.openid)
    listed = chat.send("我的预约")
    assert listed.index("09:00") < listed.index("15:00") and "1. " in listed and "维修" in listed
    detail = chat.send("2")
    assert "15:00" in detail and "回复 1 改期，回复 2 取消预约" in detail
    asked = chat.send("2")
    assert "确定取消" in asked and _status(later.id).status == BookingStatus.CONFIRMED
    done = chat.send("确认")
    assert "已取消" in done
    assert _status(later.id).status == BookingStatus.CANCELLED and _status(sooner.id).status == BookingStatus.CONFIRMED
    assert chat.send("确认") == done                        # a second tap: the same answer, nothing more
    assert "1. " in chat.send("我的预约") and "15:00" not in chat.send("我的预约")
    assert_slot_invariant(shop.dealer.id)


def test_anything_but_confirm_keeps_the_booking(client: Any, settings: Any, shop: Shop) -> None:
    f = make_follower()
    b = _book(shop, f.id, 9)
    chat = Chat(client, settings, f.openid)
    chat.send("我的预约")
    chat.send("1")
    chat.send("取消预约")
    assert "保持不变" in chat.send("算了")
    assert _status(b.id).status == BookingStatus.CONFIRMED


def test_move_to_another_day_and_time(client: Any, settings: Any, shop: Shop) -> None:
    f = make_follower()
    b = _book(shop, f.id, 9)
    chat = Chat(client, settings, f.openid)
    chat.send("我的预约")
    chat.send("1")
    assert "个空档" in chat.send("改期")
    times = chat.send(chat_day(day_ahead(5)))
    assert "可预约的时间" in times
    summary = chat.send("16:30")
    assert "从" in summary and "改到" in summary and "16:30" in summary
    assert _status(b.id).start_at == at(9)
    done = chat.send("确认")
    assert "改期成功" in done and "16:30" in done
    assert _status(b.id).start_at == at(16, 30, days=5) and _status(b.id).status == BookingStatus.CONFIRMED
    assert chat.send("确认") == done
    assert _status(b.id).start_at == at(16, 30, days=5)
    assert_slot_invariant(shop.dealer.id)


def test_a_move_to_a_time_filled_meanwhile_offers_alternatives(client: Any, settings: Any, shop: Shop) -> None:
    f = make_follower()
    b = _book(shop, f.id, 9)
    chat = Chat(client, settings, f.openid)
    chat.send("我的预约")
    chat.send("1")
    chat.send("1")
    chat.send(chat_day(day_ahead(4)))
    chat.send("10:00")
    for n in range(5):                                     # repair takes five per slot
        booking.book(request(shop, shop.repair, at(10, days=4), contact_mobile=f"1390000000{n}"))
    offered = chat.send("确认")
    assert "刚刚约满" in offered and "09:30" in offered
    assert _status(b.id).start_at == at(9)
    chat.send("1")
    assert "改期成功" in chat.send("确认")
    assert _status(b.id).start_at != at(9)


def test_inside_the_cut_off_the_chat_says_call_the_dealer(client: Any, settings: Any) -> None:
    shop = make_shop(cancel_cutoff_minutes=7 * 24 * 60)    # no change online within a week
    f = make_follower()
    b = _book(shop, f.id, 9)
    chat = Chat(client, settings, f.openid)
    chat.send("我的预约")
    detail = chat.send("1")
    assert "距离预约时间太近" in detail and "回复 1 改期" not in detail
    assert "当前没有进行中的操作" in chat.send("取消")
    assert _status(b.id).status == BookingStatus.CONFIRMED


def test_a_cut_off_reached_while_confirming_is_refused_with_its_reason(client: Any, settings: Any,
                                                                     shop: Shop) -> None:
    f = make_follower()
    b = _book(shop, f.id, 9)
    chat = Chat(client, settings, f.openid)
    chat.send("我的预约")
    chat.send("1")
    chat.send("2")
    set_rules(shop.dealer.id, cancel_cutoff_minutes=7 * 24 * 60)   # the dealer tightens its rule meanwhile
    refused = chat.send("确认")
    assert "距离预约时间太近" in refused and "021-5555000" in refused
    assert _status(b.id).status == BookingStatus.CONFIRMED


def test_bookings_of_a_bound_record_are_listed_and_nobody_elses(client: Any, settings: Any, shop: Shop) -> None:
    f, stranger = make_follower(), make_follower()
    c = make_customer(shop.dealer)
    make_vehicle(c, plate="沪A12345")
    bind(c, f)
    booked_by_staff = booking.book(request(shop, shop.repair, at(11), customer_id=c.id))
    theirs = _book(shop, stranger.id, 14)
    chat = Chat(client, settings, f.openid)
    listed = chat.send("我的预约")
    assert "11:00" in listed and "14:00" not in listed
    assert "请回复下面列表中的数字" in chat.send("2")          # the stranger's booking has no number here
    chat.send("1")
    chat.send("2")
    chat.send("确认")
    assert _status(booked_by_staff.id).status == BookingStatus.CANCELLED
    assert _status(theirs.id).status == BookingStatus.CONFIRMED
    other = Chat(client, settings, stranger.openid)
    assert "11:00" not in other.send("我的预约")


def test_wrong_answers_re_ask_in_my_bookings(client: Any, settings: Any, shop: Shop) -> None:
    f = make_follower()
    _book(shop, f.id, 9)
    chat = Chat(client, settings, f.openid)
    chat.send("我的预约")
    for wrong in ("5", "hello"):
        assert "请回复下面列表中的数字" in chat.send(wrong)
    chat.send("1")
    for wrong in ("3", "嗯"):
        assert "请回复 1 改期，或回复 2 取消预约" in chat.send(wrong)
    chat.send("1")
    assert "或发送日期" in chat.send("99")
    chat.send(chat_day(day_ahead(4)))
    assert "或发送时间" in chat.send("99")
    chat.send("9:00")
    assert "回复“确认”完成改期" in chat.send("不知道")
    assert "好的，已取消" in chat.send("取消")


def test_booking_words_leave_my_bookings(client: Any, settings: Any, shop: Shop) -> None:
    f = make_follower(dealer_id=shop.dealer.id)
    _book(shop, f.id, 9)
    chat = Chat(client, settings, f.openid)
    chat.send("我的预约")
    assert "您想预约哪项服务" in chat.send("预约")
    assert "您即将到店的预约" in chat.send("我的预约")       # and back again from inside booking
