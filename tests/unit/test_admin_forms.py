"""Pure pieces of the admin: reply-template checks, the menu editor's rows, paging, masking."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from scrm.admin import menu_form
from scrm.admin.views_account import mask
from scrm.services import reply_template
from scrm.services.paging import Page, clamp_page


@pytest.mark.parametrize("text", [
    "纯文字", "{{ dealer.name }} {{ dealer.phone }}", "{{ now.strftime('%H:%M') }}",
    "{% if dealer.phone %}电话 {{ dealer.phone }}{% else %}暂无{% endif %}", "{{ dealer.city|default('本地') }}",
    "{{ dealer['address'] }}"])
def test_good_templates(text: str) -> None:
    assert reply_template.check(text) is None


@pytest.mark.parametrize(("text", "fragment"), [
    ("{{ dealer.name", "not a valid template"), ("{{ user }}", "Only the variables"),
    ("{% for x in range(3) %}{% endfor %}", "For"), ("{{ 9 ** 9 }}", "Pow"), ("{% set a = 1 %}", "Assign"),
    ("{{ dealer.name|center(9999) }}", "filter center"), ("{{ dealer.__class__ }}", "Unknown field"),
    ("{{ dealer.name.upper() }}", "may only call"), ("{{ dealer.name.x }}", "Unknown field"),
    ("{% include 'x' %}", "Include")])
def test_refused_templates(text: str, fragment: str) -> None:
    problem = reply_template.check(text)
    assert problem is not None and fragment in problem.message % problem.params


def test_render_uses_the_dealer() -> None:
    out = reply_template.render("{{ dealer.name }}：{{ dealer.phone }}", dealer={"name": "甲", "phone": "1"},
                                now=reply_template.datetime(2025, 1, 1))
    assert out == "甲：1"


def test_menu_rows_round_trip() -> None:
    buttons = [
        {"name": "服务", "sub_button": [{"type": "click", "name": "保养", "key": "BOOK"},
                                       {"type": "miniprogram", "name": "小程序", "url": "https://a.cn",
                                        "appid": "wx1", "pagepath": "pages/i"},
                                       {"type": "media_id", "name": "素材", "media_id": "M1"}]},
        {"type": "view", "name": "官网", "url": "https://b.cn"},
    ]
    rows = menu_form.rows_from_buttons(buttons)
    form = {f"{r.prefix}.{f}": getattr(r, f) for row in rows for r in (row, *row.subs) for f in menu_form.ROW_FIELDS}
    again, where = menu_form.buttons_from_rows(menu_form.rows_from_form(form))
    assert again == buttons
    assert where[(1, None)].prefix == "b1" and where[(0, 2)].prefix == "b0.s2"


def test_empty_rows_are_skipped_and_problems_map_back() -> None:
    form = {"b1.name": "只有第二个", "b1.type": "click", "b1.key": "K", "b2.s3.name": "子", "b2.s3.type": "click",
            "b2.s3.key": "S"}
    rows = menu_form.rows_from_form(form)
    buttons, where = menu_form.buttons_from_rows(rows)
    assert [b["name"] for b in buttons] == ["只有第二个", ""]
    problems = [SimpleNamespace(path="button[1].name", message="Name %(x)s", params={"x": 1}),
                SimpleNamespace(path="button[1].sub_button[0].key", message="Key", params={}),
                SimpleNamespace(path="button", message="Whole", params={})]
    general = menu_form.attach(problems, where, lambda m, **p: m % p if p else m)
    assert general == ["Whole"]
    assert rows[2].errors == {"name": ["Name 1"]} and rows[2].subs[3].errors == {"key": ["Key"]}


def test_paging_window_and_clamp() -> None:
    page = Page(items=[1], page=7, per_page=50, total=50 * 20)
    assert page.window() == [1, None, 5, 6, 7, 8, 9, None, 20]
    assert (page.has_prev, page.has_next, page.first_index) == (True, True, 301)
    assert [clamp_page(v) for v in ("3", "-1", "x", None, "99999999")] == [3, 1, 1, 1, 1]


def test_mask() -> None:
    assert mask("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG") == "ab••••••••FG"
    assert mask("short") == "••••••••" and mask("") == ""
