"""The booking conversation's pure helpers: answers typed in chat, numbered choices, labels, distances."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

import pytest

from scrm.config import AccountSettings
from scrm.services import booking_chat as bc
from scrm.services.dealer_cards import DealerCard
from scrm.services.nearby import haversine_km, valid
from scrm.wechat.render import REPLIES_DIR, render

TODAY = date(2026, 11, 23)  # a Monday


@pytest.mark.parametrize(("text", "count", "index"), [
    ("1", 3, 0), ("２", 3, 1), (" 3 ", 3, 2), ("第2个", 3, 1), ("2.", 3, 1), ("2、", 3, 1),
    ("0", 3, None), ("4", 3, None), ("两", 3, None), ("2a", 3, None), ("", 3, None), ("10", 12, 9),
])
def test_parse_choice(text: str, count: int, index: int | None) -> None:
    assert bc.parse_choice(text, count) == index


def test_is_number_tells_an_out_of_range_number_from_words() -> None:
    assert bc.is_number("９") and bc.is_number("第9个")
    assert not bc.is_number("上海") and not bc.is_number("9点")


@pytest.mark.parametrize(("text", "day"), [
    ("今天", TODAY), ("明天", date(2026, 11, 24)), ("后天", date(2026, 11, 25)), ("tomorrow", date(2026, 11, 24)),
    ("11月25日", date(2026, 11, 25)), ("11月25号", date(2026, 11, 25)), ("11-25", date(2026, 11, 25)),
    ("11/25", date(2026, 11, 25)), ("１１月２５日", date(2026, 11, 25)), ("11月25日 周三", date(2026, 11, 25)),
    ("2027年1月3日", date(2027, 1, 3)), ("1月3日", date(2027, 1, 3)),  # a passed month-day is next year's
    ("25号", date(2026, 11, 25)), ("二十五号", date(2026, 11, 25)), ("5号", date(2026, 12, 5)),
    ("周三", date(2026, 11, 25)), ("星期一", TODAY), ("周日", date(2026, 11, 29)),
    ("下周一", date(2026, 11, 30)), ("下周三", date(2026, 12, 2)),
])
def test_parse_day(text: str, day: date) -> None:
    assert bc.parse_day(text, TODAY) == day


@pytest.mark.parametrize("text", ["2", "hello", "2月30日", "13月1日", "周八", "32号", ""])
def test_parse_day_refuses_what_is_not_a_day(text: str) -> None:
    assert bc.parse_day(text, TODAY) is None


@pytest.mark.parametrize(("text", "t"), [
    ("10:30", time(10, 30)), ("10：30", time(10, 30)), ("１０:３０", time(10, 30)), ("9:00", time(9)),
    ("10点半", time(10, 30)), ("10点", time(10)), ("十点半", time(10, 30)), ("10点15分", time(10, 15)),
    ("10点一刻", time(10, 15)), ("下午2点", time(14)), ("下午两点半", time(14, 30)), ("2点", time(14)),
    ("上午9点", time(9)), ("中午12点", time(12)), ("2pm", time(14)), ("2:30 pm", time(14, 30)),
    ("10am", time(10)), ("14:00", time(14)), ("上午10", time(10)),
])
def test_parse_time(text: str, t: time) -> None:
    assert bc.parse_time(text) == t


@pytest.mark.parametrize("text", ["2", "14", "25:00", "10:75", "明天", "abc", ""])
def test_parse_time_refuses_bare_numbers_and_nonsense(text: str) -> None:
    assert bc.parse_time(text) is None


def test_pages_of_days() -> None:
    days = list(range(10))
    assert bc.page(days, 0) == ([0, 1, 2, 3, 4, 5, 6], True)
    assert bc.page(days, 1) == ([7, 8, 9], False)
    assert bc.page(days, 2) == ([], False)
    assert bc.page(days[:7], 0) == (days[:7], False)


def test_day_options_keep_only_days_with_room() -> None:
    opts = bc.day_options([(TODAY, 0), (date(2026, 11, 24), 12)])
    assert opts == [bc.DayOption(date(2026, 11, 24), 12)]


def test_halves_keep_the_numbering() -> None:
    morning, afternoon = bc.halves([time(9), time(11, 30), time(13), time(17, 30)])
    assert morning == [(1, time(9)), (2, time(11, 30))]
    assert afternoon == [(3, time(13)), (4, time(17, 30))]


def test_labels() -> None:
    assert bc.day_label(date(2026, 11, 25), "zh") == "11月25日 周三"
    assert bc.day_label(date(2026, 11, 25), "en") == "Wed 25 Nov"
    assert bc.time_label(time(9, 5)) == "09:05"
    assert bc.km_label(2.345) == "2.3" and bc.km_label(0.01) == "0.1"
    assert bc.duration_label(90, "zh") == "1小时30分钟" and bc.duration_label(60, "zh") == "1小时"
    assert bc.duration_label(30, "zh") == "30分钟" and bc.duration_label(90, "en") == "1 h 30 min"


def test_haversine() -> None:
    assert haversine_km(31.2304, 121.4737, 31.2304, 121.4737) == 0
    assert haversine_km(30, 121, 31, 121) == pytest.approx(111.195, abs=0.01)   # one degree of latitude
    assert haversine_km(60, 0, 60, 1) == pytest.approx(111.195 / 2, abs=0.05)  # half as much at 60°N
    # Shanghai (People's Square) to Beijing (Tiananmen): about 1,068 km
    assert 1050 < haversine_km(31.2304, 121.4737, 39.9042, 116.4074) < 1090
    assert haversine_km(0, 179.9, 0, -179.9) < 23                  # across the date line


def test_valid_positions() -> None:
    assert valid(31.2, 121.4) and not valid(None, 121.4) and not valid(91, 0) and not valid(0, 0)


def _context() -> dict[str, Any]:
    dealer = DealerCard(id=1, code="SH1", name="浦东店", city="上海", address="浦东大道1号", phone="021-1",
                        welcome_text="")
    shown = {"id": 1, "dealer": "浦东店", "phone": "021-1", "service": "保养", "when": "11月25日 周三 10:30",
             "vehicle": "沪A12345", "model": "", "can_change": True, "checked_in": False, "duration": "1 h"}
    return dict(account=AccountSettings(slug="demo", name="品牌", app_id="wx1", app_secret="s", token="t"),
                dealer=dealer, dealers=[{"card": dealer, "km": "2.3", "book_url": "http://x/book"}], source="near",
                more=True, problem="", query="", vehicles=["沪A12345"], services=["保养"], vehicle="沪A12345",
                models=["极氪001"], model="极氪001", days=[(1, "Wed 25 Nov", 12)], full_day="", calendar_url="http://x",
                alternatives=[], day="Wed 25 Nov", morning=[(1, "09:00")], afternoon=[(2, "13:00")], intro="",
                service="保养", when="Wed 25 Nov 10:30", duration="1 h", mobile="13912345678",
                bookings_url="http://x/b", phone="021-1",
                message="That time was just taken; here are the nearest free times.", params={}, bookings=[shown],
                booking=shown, new="Thu 26 Nov 09:00", url="http://x")


@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_reply_template_renders(language: str) -> None:
    values = _context()
    for path in sorted(REPLIES_DIR.glob("*/*.txt")):
        if path.parent.name not in ("booking", "my_bookings", "nearby"):
            continue
        text = render(language, f"{path.parent.name}/{path.name}", **values)
        assert text, path
        words = re.sub(r"浦东店|保养|沪A12345|极氪001|上海|浦东大道1号|品牌|11月25日 周三 10:30|[“”]|"
                       r"预约保养|预约试驾|联系门店", "", text)
        has_chinese = re.search(r"[\u4e00-\u9fff]", words) is not None
        assert has_chinese == (language == "zh"), (path, text)
