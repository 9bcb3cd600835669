"""The menu validator against WeChat's limits (WECHAT.md 4.6)."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.services.menu import MenuProblem, validate_menu
from scrm.services.menu_rules import normalize_menu


def paths(problems: list[MenuProblem]) -> list[str]:
    return [p.path for p in problems]


def click(name: str = "预约保养", key: str = "BOOK_SERVICE") -> dict[str, Any]:
    return {"type": "click", "name": name, "key": key}


def view(name: str = "官网", url: str = "https://dealer.example.com/") -> dict[str, Any]:
    return {"type": "view", "name": name, "url": url}


def test_a_good_menu_has_no_problems() -> None:
    menu = [click(), {"name": "车主服务", "sub_button": [click("我的积分", "POINTS"), view("活动报名"),
                                                       {"type": "scancode_push", "name": "扫码签到", "key": "SCAN"}]},
            {"type": "miniprogram", "name": "商城", "appid": "wx1234567890abcdef", "pagepath": "pages/index",
             "url": "https://shop.example.com/"}]
    assert validate_menu(menu) == []


@pytest.mark.parametrize("count", [0, 4])
def test_one_to_three_top_level_buttons(count: int) -> None:
    problems = validate_menu([click(f"按钮{i}", f"K{i}") for i in range(count)])
    assert problems[0].path == "button"
    assert problems[0].params == {"count": count}
    assert "%(count)d" in problems[0].message


def test_not_a_list() -> None:
    assert paths(validate_menu({"button": []})) == ["button"]


def test_sub_buttons_one_to_five() -> None:
    six = {"name": "更多", "sub_button": [click(f"项{i}", f"K{i}") for i in range(6)]}
    problems = validate_menu([six])
    assert "button[0].sub_button" in paths(problems)
    assert next(p for p in problems if p.path == "button[0].sub_button").params == {"count": 6}
    five = {"name": "更多", "sub_button": [click(f"项{i}", f"K{i}") for i in range(5)]}
    assert validate_menu([five]) == []


def test_empty_sub_button_list_means_a_leaf() -> None:
    # menu/get answers leaves with "sub_button": [] and that must round-trip.
    assert validate_menu([{**click(), "sub_button": []}]) == []


def test_name_length_is_counted_in_utf8_bytes() -> None:
    assert validate_menu([click("五个汉字好")]) == []              # 15 bytes
    problems = validate_menu([click("六个汉字太长")])             # 18 bytes > 16
    assert paths(problems) == ["button[0].name"]
    assert problems[0].params == {"size": 18, "max": 16}
    sub_ok = {"name": "服务", "sub_button": [click("二十个汉字" * 4, "K")]}  # 60 bytes
    assert validate_menu([sub_ok]) == []
    sub_long = {"name": "服务", "sub_button": [click("二十个汉字" * 4 + "多", "K")]}
    assert paths(validate_menu([sub_long])) == ["button[0].sub_button[0].name"]


def test_name_required_and_clean() -> None:
    assert paths(validate_menu([click("   ")])) == ["button[0].name"]
    assert paths(validate_menu([click("a\nb")])) == ["button[0].name"]
    assert paths(validate_menu([{"type": "click", "key": "K"}])) == ["button[0].name"]


def test_parent_with_sub_buttons_has_no_type() -> None:
    parent = {"type": "click", "key": "X", "name": "服务", "sub_button": [click()]}
    assert paths(validate_menu([parent])) == ["button[0].type"]


def test_sub_buttons_cannot_nest() -> None:
    nested = {"name": "服务", "sub_button": [{"name": "再下一级", "sub_button": [click()]}]}
    assert paths(validate_menu([nested])) == ["button[0].sub_button[0].sub_button"]


@pytest.mark.parametrize("button,path", [
    ({"name": "无类型"}, "button[0].type"),
    ({"name": "怪类型", "type": "teleport"}, "button[0].type"),
    ({"name": "缺键", "type": "click"}, "button[0].key"),
    ({"name": "缺键", "type": "location_select", "key": ""}, "button[0].key"),
    ({"name": "缺链接", "type": "view"}, "button[0].url"),
    ({"name": "小程序", "type": "miniprogram", "url": "https://a.example.com", "pagepath": "p"}, "button[0].appid"),
    ({"name": "小程序", "type": "miniprogram", "appid": "wx1", "url": "https://a.example.com"}, "button[0].pagepath"),
    ({"name": "小程序", "type": "miniprogram", "appid": "wx1", "pagepath": "p"}, "button[0].url"),
    ({"name": "素材", "type": "media_id"}, "button[0].media_id"),
    ({"name": "素材", "type": "view_limited"}, "button[0].media_id"),
    ({"name": "文章", "type": "article_id"}, "button[0].article_id"),
    ({"name": "文章", "type": "article_view_limited"}, "button[0].article_id"),
])
def test_each_type_needs_its_fields(button: dict[str, Any], path: str) -> None:
    assert paths(validate_menu([button])) == [path]


def test_key_and_url_limits() -> None:
    assert validate_menu([click(key="K" * 128)]) == []
    assert paths(validate_menu([click(key="K" * 129)])) == ["button[0].key"]
    long_url = "https://a.example.com/" + "x" * 1002   # 1024 bytes exactly
    assert validate_menu([view(url=long_url)]) == []
    assert paths(validate_menu([view(url=long_url + "x")])) == ["button[0].url"]


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://a.example.com/", "https://", "//a.example.com",
                                 "https://a.example.com/a b"])
def test_links_must_be_http(url: str) -> None:
    assert paths(validate_menu([view(url=url)])) == ["button[0].url"]


def test_non_text_values_and_non_dict_buttons() -> None:
    assert paths(validate_menu([{"type": "click", "name": 5, "key": "K"}])) == ["button[0].name"]
    assert paths(validate_menu(["click"])) == ["button[0]"]
    assert paths(validate_menu([{"name": "服务", "sub_button": "x"}])) == ["button[0].sub_button"]


def test_every_problem_is_reported_with_its_path() -> None:
    menu = [click("六个汉字太长"), {"name": "", "sub_button": [{"type": "view", "name": "x", "url": "nope"}]}]
    assert paths(validate_menu(menu)) == ["button[0].name", "button[1].name", "button[1].sub_button[0].url"]


def test_problem_text_fills_params() -> None:
    problem = validate_menu([click("六个汉字太长")])[0]
    assert problem.text() == "The name is too long: 18 bytes, at most 16 (a Chinese character takes 3 bytes)."


def test_normalize_strips_and_drops_stray_fields() -> None:
    menu = [{"type": "click", "name": " 预约 ", "key": " BOOK ", "url": "https://ignored.example.com"},
            {"name": "服务", "type": "", "sub_button": [{"type": "view", "name": "官网", "url": "https://a.example.com",
                                                      "sub_button": [], "key": "junk"}]}]
    assert normalize_menu(menu) == [
        {"type": "click", "name": "预约", "key": "BOOK"},
        {"name": "服务", "sub_button": [{"type": "view", "name": "官网", "url": "https://a.example.com"}]},
    ]
