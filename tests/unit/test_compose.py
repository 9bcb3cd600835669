"""Staff-written messages: the sandboxed template language, the per-channel check, rendering, WeChat's limits."""

from __future__ import annotations

import copy
import time
from datetime import date
from typing import Any

import pytest
from werkzeug.datastructures import MultiDict

from handlers.staff_link import code_of
from scrm.admin import compose_form
from scrm.models import CampaignChannel
from scrm.services import compose, compose_env
from scrm.services.compose_admin import keywords_of
from scrm.services.errors import Invalid

SAMPLE = compose_env.SAMPLE


def _ctx(**over: Any) -> dict[str, Any]:
    ctx = copy.deepcopy(SAMPLE)
    ctx.update(over)
    return ctx


@pytest.mark.parametrize(("text", "fragment"), [
    ("{% for x in customer %}{{ x }}{% endfor %}", "For"),
    ("{% set a = 1 %}", "Assign"),
    ("{{ customer.name.upper() }}", "Call"),
    ("{{ 'a' * 10**9 }}", "Mul"),
    ("{{ customer.password }}", "password"),
    ("{{ config }}", "config"),
    ("{{ customer.name|attr('__class__') }}", "attr"),
    ("{{ customer.name", "valid template"),
])
def test_refused_texts(text: str, fragment: str) -> None:
    started = time.monotonic()
    problem = compose_env.check(text)
    assert problem is not None and fragment in (problem.message % problem.params)
    assert time.monotonic() - started < 1          # refused before anything is evaluated


def test_filters_and_fields() -> None:
    text = ("{{ customer.salutation }}｜{{ vehicle.plate|masked }}｜"
            "{{ vehicle.next_service_date|date('%Y年%m月%d日') }}｜{{ customer.name|masked }}｜{{ member.balance }}")
    assert compose_env.check(text) is None
    assert compose_env.render(text, SAMPLE) == "张先生｜沪A***45｜2026年05月02日｜张*｜1280"
    assert compose_env.masked("13812345678") == "138****5678"
    assert compose_env.salutation("李娜", "female") == "李女士"
    assert compose_env.salutation("", "") == "尊敬的车主"
    assert compose_env.salutation("Li", "male", "en") == "Mr Li"


def test_missing_vehicle_renders_empty_not_none() -> None:
    text = ("您好{{ vehicle.model }}{{ vehicle.plate|masked }}{{ vehicle.next_service_date|date }}"
            "{% if vehicle %}有车{% endif %}")
    assert compose_env.check(text) is None
    assert compose_env.render(text, _ctx(vehicle=None)) == "您好"
    assert "None" not in compose_env.render("{{ member.tier }}{{ dealer.phone }}", _ctx(member={}, dealer=None))


def _message(**kw: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"kind": "text", "text": "{{ customer.salutation }}您好，详见 https://dealer.example.com/a?x=1",
                           "news": {"title": "", "description": "", "url": "", "picurl": ""},
                           "template": {"template_id": "TPL_1", "url": "",
                                        "fields": {"thing1": "{{ vehicle.model }}", "time2": "{{ today|date }}"}}}
    msg.update(kw)
    return msg


def test_normalise_keeps_what_each_channel_needs() -> None:
    assert set(compose.normalise(_message(), CampaignChannel.CUSTOM)) == {"kind", "text"}
    assert set(compose.normalise(_message(), CampaignChannel.TEMPLATE)) == {"kind", "template"}
    assert set(compose.normalise(_message(), CampaignChannel.AUTO)) == {"kind", "text", "template"}
    mass = compose.normalise(_message(kind="news"), CampaignChannel.MASS)
    assert mass["kind"] == "text" and "news" not in mass          # mass sends carry text only


@pytest.mark.parametrize(("channel", "message", "field"), [
    (CampaignChannel.CUSTOM, {"text": "  "}, "text"),
    (CampaignChannel.CUSTOM, {"text": "{{ vehicle.vin }}"}, "text"),
    (CampaignChannel.CUSTOM, {"kind": "news", "news": {"title": "标题", "url": ""}}, "news_title"),
    (CampaignChannel.TEMPLATE, {"template": {"template_id": "bad id!", "fields": {"thing1": "x"}}}, "template_id"),
    (CampaignChannel.TEMPLATE, {"template": {"template_id": "T1", "fields": {}}}, "template_fields"),
    (CampaignChannel.TEMPLATE, {"template": {"template_id": "T1", "fields": {"thing1": "{{ x }}"}}}, "template_thing1"),
    (CampaignChannel.TEMPLATE, {"template": {"template_id": "T1", "fields": {"Thing-1": "x"}}}, "template_fields"),
])
def test_normalise_names_the_field_at_fault(channel: CampaignChannel, message: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as err:
        compose.normalise(message, channel)
    assert err.value.field == field
    assert compose_form.field_name("s_a_", field).startswith("s_a_")


def test_render_shapes_per_channel() -> None:
    msg = compose.normalise(_message(), CampaignChannel.AUTO)
    auto = compose.render(msg, CampaignChannel.AUTO, SAMPLE, link=lambda u: "https://t.example/r/1")
    assert auto["custom"] == {"msgtype": "text", "text": {"content": "张先生您好，详见 https://t.example/r/1"}}
    assert auto["template"] == {"template_id": "TPL_1", "data": {"thing1": {"value": "Model Y 长续航版"},
                                                                 "time2": {"value": "2026-01-01"}}}
    news = compose.normalise(_message(kind="news", news={"title": "{{ customer.name }}的保养", "description": "d",
                                                         "url": "https://x.example/n", "picurl": ""}),
                             CampaignChannel.CUSTOM)
    body = compose.render(news, CampaignChannel.CUSTOM, SAMPLE)
    assert body["msgtype"] == "news" and body["news"]["articles"][0]["title"] == "张伟的保养"
    assert compose.render(msg, CampaignChannel.TEMPLATE, SAMPLE)["template_id"] == "TPL_1"


def test_problems_are_wechats_limits() -> None:
    long_text = {"msgtype": "text", "text": {"content": "字" * 683}}          # 2049 bytes
    [(_text, params)] = compose.problems(long_text, CampaignChannel.CUSTOM)
    assert params == {"n": 2049, "max": 2048}
    assert compose.problems({"msgtype": "text", "text": {"content": "字" * 682}}, CampaignChannel.CUSTOM) == []
    tpl = {"template_id": "T", "data": {"thing1": {"value": "一" * 21}, "thing2": {"value": "一" * 20},
                                         "car_number3": {"value": "沪A1234567"}, "keyword4": {"value": ""}}}
    found = {p["key"]: p for _t, p in compose.problems(tpl, CampaignChannel.TEMPLATE)}
    assert set(found) == {"thing1", "car_number3", "keyword4"}
    assert found["thing1"]["max"] == 20 and found["car_number3"]["max"] == 8


def test_urls_are_the_fixed_links_only() -> None:
    msg = {"text": "看 https://a.example/x，和 https://a.example/x 以及 {{ dealer.name }}",
           "news": {"url": "https://b.example/{{ customer.name }}"}, "template": {"url": "https://c.example/"}}
    assert compose.urls(msg) == ["https://a.example/x", "https://c.example/"]


def test_editor_form_parse_and_field_names() -> None:
    form = MultiDict([("p_kind", "news"), ("p_text", "hi"), ("p_news_title", "T"), ("p_template_id", " T1 "),
                      ("p_tf_key", "thing1"), ("p_tf_value", "v1"), ("p_tf_key", ""), ("p_tf_value", "ignored")])
    msg = compose_form.parse(form, "p_")
    assert msg["kind"] == "news" and msg["news"]["title"] == "T"
    assert msg["template"] == {"template_id": "T1", "url": "", "fields": {"thing1": "v1"}}
    assert compose_form.field_name("p_", "template_thing1") == "p_tf_value"
    assert compose_form.field_name("p_", "news_url") == "p_news_url"


def test_template_keywords_and_link_words() -> None:
    assert keywords_of("车辆：{{thing1.DATA}}\n时间：{{ time2.DATA }}\n{{thing1.DATA}}") == ["thing1", "time2"]
    assert code_of("绑定员工 012345") == "012345"
    assert code_of("ＳＴＡＦＦ０１２３４５") == "012345"       # full-width folded
    assert code_of("绑定员工：123456") == "123456"
    assert code_of("绑定员工 12345") is None and code_of("绑定 123456") is None


def test_today_is_a_field() -> None:
    assert compose_env.render("{{ today|date('%m月%d日') }}", _ctx(today=date(2026, 3, 8))) == "03月08日"
