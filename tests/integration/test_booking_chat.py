"""预约保养 / 预约试驾 through the real webhook: every step, wrong answers, 取消, double 确认, a slot taken."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.models import BookingSource, BookingStatus
from scrm.services import booking
from tests import wechat_xml as wx
from tests.factories import make_dealer, make_follower
from tests.integration.booking_support import Shop, assert_slot_invariant, at, day_ahead, make_shop, request
from tests.integration.chat_booking_support import PEOPLES_SQUARE, Chat, bookings, chat_day, shop_at
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration
MOBILE = "13912345678"


def wx_image(openid: str) -> str:
    """An image message (anything that is not text)."""
    return wx.build(openid, "image", PicUrl="http://example.com/a.jpg", MediaId="m1", MsgId=wx.next_msg_id())


@pytest.fixture
def shop(app: Any) -> Shop:
    return make_shop()


def _bound_chat(client: Any, settings: Any, shop: Shop, plates: tuple[str, ...] = ("沪A12345",)) -> tuple[Chat, Any]:
    c = make_customer(shop.dealer, name="张三", mobile=MOBILE)
    for plate in plates:
        make_vehicle(c, plate=plate, model="极氪001")
    f = make_follower()
    bind(c, f)
    return Chat(client, settings, f.openid), (c, f)


def test_maintenance_for_a_bound_owner_books_once_even_when_confirmed_twice(client: Any, settings: Any,
                                                                             shop: Shop) -> None:
    chat, (c, f) = _bound_chat(client, settings, shop)
    days = chat.click("BOOK_SERVICE")                  # one bound record, one car, one 保养: straight to the day
    assert "个空档" in days and "在日历中选择" in days
    assert f"/h5/demo/book?dealer={shop.dealer.id}&service={shop.maintenance.id}" in days
    assert "1. " in days
    times = chat.send(chat_day(day_ahead(3)))
    assert "上午" in times and "下午" in times and "10:30" in times and "08:30" in times
    assert "12:00" not in times                        # the lunch break offers nothing
    summary = chat.send("10点半")
    assert shop.dealer.name in summary and "保养" in summary and "沪A12345" in summary
    assert "10:30" in summary and "1小时" in summary and "确认" in summary
    assert bookings() == []                            # nothing is booked before 确认
    done = chat.send("确认")
    assert "预约成功" in done and "10:30" in done and "/h5/demo/bookings" in done
    [b] = bookings()
    assert (b.source, b.follower_id, b.customer_id, b.service_type_id) == (
        BookingSource.CHAT, f.id, c.id, shop.maintenance.id)
    assert b.vehicle_id is not None and b.start_at == at(10, 30) and b.status == BookingStatus.CONFIRMED
    again = chat.send("确认")                           # a double tap: the same booking, the same answer
    assert again == done
    assert len(bookings()) == 1
    assert_slot_invariant(shop.dealer.id)


def test_test_drive_for_a_prospect_asks_model_licence_and_mobile(client: Any, settings: Any, shop: Shop) -> None:
    f = make_follower(dealer_id=shop.dealer.id)        # came through the dealer's QR code, not bound
    chat = Chat(client, settings, f.openid)
    models = chat.click("BOOK_TEST_DRIVE")
    assert "1. 极氪001" in models and "2. 极氪007" in models
    assert "驾照" in chat.send("2")
    assert "个空档" in chat.send("是")
    chat.send(chat_day(day_ahead(4)))
    assert "11位" in chat.send("下午2点").replace(" ", "")
    assert "不是有效" in chat.send("12345")
    summary = chat.send("139 0000 2222")
    assert "极氪007" in summary and "14:00" in summary and "13900002222" in summary
    assert "预约成功" in chat.send("1")
    [b] = bookings()
    assert b.service_type_id == shop.test_drive.id and b.demo_car_id == shop.cars[2].id
    assert b.licence_confirmed and b.contact_mobile == "13900002222" and b.customer_id is None
    assert b.follower_id == f.id and b.start_at == at(14, days=4)


def test_no_licence_ends_politely(client: Any, settings: Any, shop: Shop) -> None:
    chat = Chat(client, settings, make_follower(dealer_id=shop.dealer.id).openid)
    chat.send("预约试驾")
    chat.send("极氪001")                                # the model's name works as well as its number
    ended = chat.send("否")
    assert "有效驾照" in ended and shop.dealer.name in ended
    assert "当前没有进行中的操作" in chat.send("取消")  # the conversation is over
    assert bookings() == []


def test_every_wrong_answer_re_asks_with_the_choices(client: Any, settings: Any) -> None:
    shop = make_shop()
    other = make_shop()
    chat = Chat(client, settings, make_follower().openid)   # no record, no dealer, no location: a list
    listed = chat.send("预约")
    assert f"1. {shop.dealer.name}" in listed and f"2. {other.dealer.name}" in listed and "位置" in listed
    again = chat.send("7")                                 # out of range
    assert "请回复下面列表中的数字" in again and f"1. {shop.dealer.name}" in again
    assert "没有找到与“火星”匹配的门店" in chat.send("火星")  # a search finding nothing
    assert "请回复下面列表中的数字" in chat.post(wx_image(chat.openid))
    services = chat.send("1")
    assert "1. 保养" in services and "2. 维修" in services and "试驾" not in services
    for wrong in ("3", "洗车", "0"):
        reply = chat.send(wrong)
        assert "请回复下面列表中的数字" in reply and "2. 维修" in reply
    assert "个空档" in chat.send("维修")                     # the service's name works too
    for wrong in ("99", "下个月", "abc"):
        reply = chat.send(wrong)
        assert "请回复下面列表中的数字，或发送日期" in reply and "个空档" in reply
    far = day_ahead(45)                                    # beyond the 30-day horizon
    assert "已约满" in chat.send(chat_day(far))
    times = chat.send(chat_day(day_ahead(3)))
    for wrong in ("99", "hello"):
        reply = chat.send(wrong)
        assert "或发送时间" in reply and "08:30" in reply
    taken = chat.send("12:00")                              # lunch: not a free time
    assert "该时间已无空档" in taken and "13:00" in taken
    assert "08:30" in times
    assert "手机号" in chat.send("8:30")
    for wrong in ("12345", "021-66668888", "abc"):
        assert "不是有效的大陆手机号" in chat.send(wrong)
    summary = chat.send(MOBILE)
    again = chat.send("好吧也许")
    assert "回复“确认”提交预约" in again and "08:30" in again
    assert "预约成功" in chat.send("确认")
    [b] = bookings()
    assert b.service_type_id == shop.repair.id and b.start_at == at(8, 30) and b.contact_mobile == MOBILE
    assert "08:30" in summary


def test_wrong_answers_for_vehicle_model_and_licence(client: Any, settings: Any, shop: Shop) -> None:
    chat, _ = _bound_chat(client, settings, shop, plates=("沪A11111", "沪B22222"))
    vehicles = chat.send("预约保养")
    assert "1. 沪A11111" in vehicles and "2. 沪B22222" in vehicles
    assert "请回复下面列表中的数字" in chat.send("3")
    assert "个空档" in chat.send("沪b22222")                 # the plate works as well as the number
    chat.send("取消")
    models = chat.send("预约试驾")
    assert "2. 极氪007" in models
    assert "请回复下面列表中的数字" in chat.send("极氪009")
    assert "驾照" in chat.send("1")
    reply = chat.send("也许")
    assert "请回复“是”或“否”" in reply
    assert "个空档" in chat.send("有")


SERVICE_STEPS = ["预约", "1", "1", chat_day(day_ahead(3)), "9:00", MOBILE]       # dealer .. mobile, confirm
DRIVE_STEPS = ["预约试驾", "1", "1", "是"]                                          # dealer, model, licence, day


@pytest.mark.parametrize(("words", "count"), [(SERVICE_STEPS, n) for n in range(1, 7)] +
                         [(DRIVE_STEPS, n) for n in range(2, 5)])
def test_cancel_ends_the_conversation_at_every_step(client: Any, settings: Any, shop: Shop, words: list[str],
                                                    count: int) -> None:
    make_shop()                                            # two dealers: the dealer step is asked
    chat = Chat(client, settings, make_follower().openid)
    for word in words[:count]:
        chat.send(word)
    assert "好的，已取消" in chat.send("取消")
    assert "当前没有进行中的操作" in chat.send("取消")
    assert "预约成功" not in chat.send("确认") and bookings() == []


def test_cancel_at_the_vehicle_step(client: Any, settings: Any, shop: Shop) -> None:
    chat, _ = _bound_chat(client, settings, shop, plates=("沪A11111", "沪B22222"))
    assert "2. 沪B22222" in chat.send("预约保养")
    assert "好的，已取消" in chat.send("取消")
    assert "个空档" not in chat.send("1")


def test_a_slot_filled_before_confirming_offers_the_nearest_free_times(client: Any, settings: Any,
                                                                     shop: Shop) -> None:
    chat, _ = _bound_chat(client, settings, shop)
    chat.send("预约保养")
    chat.send(chat_day(day_ahead(3)))
    assert "请核对" in chat.send("10:00")
    for mobile in ("13900000001", "13900000002"):           # someone else takes both places meanwhile
        booking.book(request(shop, shop.maintenance, at(10), contact_mobile=mobile))
    offered = chat.send("确认")
    assert "刚刚约满" in offered and "1. " in offered and "09:00" in offered
    assert len(bookings()) == 2
    summary = chat.send("1")
    assert "请核对" in summary
    assert "预约成功" in chat.send("确认")
    mine = [b for b in bookings() if b.customer_id is not None]
    assert len(mine) == 1 and mine[0].start_at != at(10)
    assert_slot_invariant(shop.dealer.id)


def test_several_bindings_ask_which_dealer(client: Any, settings: Any) -> None:
    first, second = make_shop(), make_shop()
    f = make_follower()
    for shop, plate in ((first, "沪A00001"), (second, "苏E00002")):
        c = make_customer(shop.dealer)
        make_vehicle(c, plate=plate)
        bind(c, f)
    chat = Chat(client, settings, f.openid)
    asked = chat.send("预约保养")
    assert "多家门店" in asked and first.dealer.name in asked and second.dealer.name in asked
    assert "位置" not in asked
    assert "个空档" in chat.send("2")
    chat.send(chat_day(day_ahead(3)))
    summary = chat.send("9:00")
    assert second.dealer.name in summary and "苏E00002" in summary


def test_a_location_at_the_dealer_step_lists_the_nearest(client: Any, settings: Any) -> None:
    far = shop_at(31.1945, 121.3203, name="虹桥店")          # about 15 km west of People's Square
    near = shop_at(31.2330, 121.4800, name="外滩店")          # under 1 km
    shop_at(None, None, name="无坐标店")
    chat = Chat(client, settings, make_follower().openid)
    assert "位置" in chat.send("预约")
    listed = chat.location(*PEOPLES_SQUARE)
    assert listed.index("外滩店") < listed.index("虹桥店") and "公里" in listed and "无坐标店" not in listed
    assert "1. 外滩店 · 0.7 公里" in listed
    assert "1. 保养" in chat.send("1")
    chat.send("1")
    chat.send(chat_day(day_ahead(3)))
    chat.send("9:00")
    chat.send(MOBILE)
    chat.send("确认")
    [b] = bookings()
    assert b.dealer_id == near.dealer.id != far.dealer.id


def test_the_last_reported_location_orders_the_dealers(client: Any, settings: Any) -> None:
    shop_at(31.1945, 121.3203, name="虹桥店")
    shop_at(31.2330, 121.4800, name="外滩店")
    chat = Chat(client, settings, make_follower().openid)
    assert chat.location_event(*PEOPLES_SQUARE) == ""       # the LOCATION event stays silent
    listed = chat.send("预约")
    assert "离您最近的门店" in listed and listed.index("外滩店") < listed.index("虹桥店")


def test_the_followers_own_dealer_is_used_when_unbound(client: Any, settings: Any, shop: Shop) -> None:
    make_shop()
    make_dealer(name="停业店", active=False)
    chat = Chat(client, settings, make_follower(dealer_id=shop.dealer.id).openid)
    services = chat.send("预约维修")                          # 预约维修 preselects the one repair service
    assert "个空档" in services and f"service={shop.repair.id}" in services


def test_english_words_and_later_days(client: Any, settings: Any, shop: Shop) -> None:
    chat = Chat(client, settings, make_follower(dealer_id=shop.dealer.id).openid)
    assert "1. 保养" in chat.send("book")
    first = chat.send("1")
    later = day_ahead(8)                                   # never on the first page of 7 days
    label = f"{later.month}月{later.day}日"
    assert label not in first
    assert label in chat.send("more")
    assert "可预约的时间" in chat.send(label)
