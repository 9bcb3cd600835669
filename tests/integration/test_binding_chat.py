"""The 绑定 conversation through the real webhook: verification, limits, leads, consent, unbinding."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.models import BindMethod, Stage
from scrm.services import binding_limits
from tests.factories import make_dealer, make_follower
from tests.integration.binding_support import Chat, bindings, consents, customer, customers, timeline
from tests.integration.customer_support import bind, make_customer, make_vehicle
from tests.integration.webhook_support import follower

pytestmark = pytest.mark.integration
MOBILE = "13912345678"
VIN = "LSVAU2180N2183294"


@pytest.fixture
def world(client: Any, settings: Any) -> dict[str, Any]:
    """One dealer, a customer with a car, and a follower of that dealer."""
    dealer = make_dealer(name="上海浦东4S店", phone="021-66668888")
    c = make_customer(dealer, name="张三", mobile=MOBILE)
    make_vehicle(c, plate="沪A12345", vin=VIN)
    f = make_follower(dealer_id=dealer.id)
    return {"dealer": dealer, "customer": c, "follower": f, "chat": Chat(client, settings, f.openid)}


def _to_verify(chat: Chat) -> None:
    assert "手机号" in chat.send("绑定")
    assert "车牌" in chat.send(MOBILE)


def test_right_plate_binds_after_consent(world: dict[str, Any]) -> None:
    chat, c, f = world["chat"], world["customer"], world["follower"]
    _to_verify(chat)
    asked = chat.send("沪a 12345")                     # normalised: case and spaces do not matter
    assert "同意" in asked and "上海浦东4S店" in asked
    assert bindings() == []                            # consent comes before the link
    done = chat.send("同意")
    assert "绑定成功" in done and "我的账户" in done
    [b] = bindings()
    assert (b.follower_id, b.customer_id, b.dealer_id, b.method) == (f.id, c.id, c.dealer_id, BindMethod.CHAT.value)
    [consent] = consents()
    assert consent.granted and consent.channel == BindMethod.CHAT and consent.follower_id == f.id
    assert consent.text and consent.text in asked      # the exact wording that was shown
    assert consent.language == "zh"
    row = customer(c.id)
    assert row.consent_at is not None and row.consent_text == consent.text
    assert ("binding", "Bound to WeChat") in timeline(c.id)
    assert "张三" not in asked                         # the record's name is never revealed before binding


def test_right_vin_last_six_binds(world: dict[str, Any]) -> None:
    chat = world["chat"]
    _to_verify(chat)
    assert "同意" in chat.send(VIN[-6:].lower())
    assert "绑定成功" in chat.send("agree")
    assert len(bindings()) == 1


def test_wrong_then_right_says_how_many_tries_are_left(world: dict[str, Any]) -> None:
    chat = world["chat"]
    _to_verify(chat)
    wrong = chat.send("沪B99999")
    assert "不一致" in wrong and "4 次" in wrong
    assert "3 次" in chat.send("123456")
    assert "同意" in chat.send("沪A12345")
    chat.send("同意")
    assert len(bindings()) == 1


def test_five_wrong_answers_lock_the_follower_out(world: dict[str, Any]) -> None:
    chat = world["chat"]
    _to_verify(chat)
    for _ in range(4):
        chat.send("沪B00000")
    locked = chat.send("沪B00000")
    assert "错误次数过多" in locked and "021-66668888" in locked
    again = chat.send("绑定")                          # still locked: no mobile question
    assert "错误次数过多" in again
    assert chat.send("沪A12345") != ""                  # the conversation ended; the right plate binds nothing
    assert bindings() == []


def test_ten_wrong_answers_on_one_record_lock_it_for_everyone(client: Any, settings: Any,
                                                               world: dict[str, Any]) -> None:
    dealer = world["dealer"]
    for n in range(2):                                 # two accounts, five wrong answers each
        chat = Chat(client, settings, make_follower(dealer_id=dealer.id).openid)
        _to_verify(chat)
        for _ in range(5):
            reply = chat.send(f"沪C0000{n}")
    assert "错误次数过多" in reply
    third = Chat(client, settings, make_follower(dealer_id=dealer.id).openid)
    _to_verify(third)
    assert "错误次数过多" in third.send("沪A12345")     # even the right answer: the record is locked
    assert bindings() == []


def test_a_mobile_without_record_becomes_a_lead(world: dict[str, Any]) -> None:
    chat, f, dealer = world["chat"], world["follower"], world["dealer"]
    chat.send("绑定")
    asked = chat.send("+86 137-0000-1111")
    assert "没有" in asked and "同意" in asked
    done = chat.send("同意")
    assert "上海浦东4S店" in done and "完善" in done
    lead = next(c for c in customers() if c.mobile == "13700001111")
    assert (lead.stage, lead.source, lead.dealer_id) == (Stage.LEAD, "wechat", dealer.id)
    assert lead.consent_at is not None
    [b] = bindings()
    assert (b.customer_id, b.follower_id) == (lead.id, f.id)
    assert [k for k, _t in timeline(lead.id)] == ["lead", "binding"]


def test_refused_consent_links_and_stores_nothing(world: dict[str, Any]) -> None:
    chat = world["chat"]
    chat.send("绑定")
    chat.send("13700002222")
    assert "没有绑定" in chat.send("不同意")
    assert bindings() == [] and consents() == []
    assert [c.mobile for c in customers()] == [MOBILE]   # no lead either
    _to_verify(chat)
    chat.send("沪A12345")
    chat.send("no")
    assert bindings() == [] and consents() == [] and customer(world["customer"].id).consent_at is None


def test_already_bound_shows_the_record_and_offers_unbind(world: dict[str, Any]) -> None:
    chat, c, f = world["chat"], world["customer"], world["follower"]
    bind(c, follower(f.openid))  # type: ignore[arg-type]
    reply = chat.send("绑定")
    assert "已绑定" in reply and "张三" in reply and "139****5678" in reply and "沪A12345" in reply
    assert "解绑" in reply and MOBILE not in reply


def test_unbind_after_confirmation(world: dict[str, Any]) -> None:
    chat, c, f = world["chat"], world["customer"], world["follower"]
    bind(c, follower(f.openid))  # type: ignore[arg-type]
    assert "保持" in (chat.send("解绑") and chat.send("算了"))
    assert len(bindings()) == 1
    assert "确认" in chat.send("解绑")
    assert "已解除" in chat.send("确认")
    assert bindings() == []
    assert ("binding", "Unbound from WeChat by the follower") in timeline(c.id)
    assert "没有绑定" in chat.send("解绑")


def test_cancel_mid_flow_ends_the_conversation(world: dict[str, Any]) -> None:
    chat = world["chat"]
    _to_verify(chat)
    assert "已取消" in chat.send("取消")
    assert "车牌" not in chat.send("沪A12345")          # no longer in the verify step
    assert bindings() == []


def test_a_bad_mobile_gets_the_same_question(world: dict[str, Any]) -> None:
    chat = world["chat"]
    chat.send("绑定")
    again = chat.send("12345")
    assert "不是有效的" in again and "手机号" in again
    assert "车牌" in chat.send(MOBILE)


def test_too_many_distinct_mobiles_are_refused(world: dict[str, Any]) -> None:
    chat = world["chat"]
    for n in range(binding_limits.LOOKUPS):
        chat.send("绑定")
        chat.send(f"1370000{n:04d}")
        chat.send("取消")
    chat.send("绑定")
    assert "太多" in chat.send("13799998888")
    chat.send("绑定")
    assert "没有" in chat.send("13700000000")          # one already looked up is still allowed


def test_choosing_a_dealer_when_the_follower_has_none(client: Any, settings: Any) -> None:
    make_dealer(name="北京朝阳店", city="北京")
    other = make_dealer(name="上海浦东店", city="上海")
    c = make_customer(other, name="李四", mobile=MOBILE)
    make_vehicle(c, plate="沪A54321")
    f = make_follower()
    chat = Chat(client, settings, f.openid)
    menu = chat.click("BIND_CUSTOMER")
    assert "1. 上海浦东店" in menu and "2. 北京朝阳店" in menu   # by city, then name
    assert "数字" in chat.send("7")
    assert "上海浦东店" in chat.send("1")
    chat.send(MOBILE)
    chat.send("沪A54321")
    chat.send("同意")
    [b] = bindings()
    assert b.customer_id == c.id
    refreshed = follower(f.openid)
    assert refreshed is not None and refreshed.dealer_id == other.id   # the follower now has a dealer


def test_a_record_without_vehicles_points_to_the_dealer(world: dict[str, Any]) -> None:
    chat = world["chat"]
    make_customer(world["dealer"], mobile="13600001111")
    chat.send("绑定")
    reply = chat.send("13600001111")
    assert "021-66668888" in reply and bindings() == []


def test_an_expired_conversation_starts_over(world: dict[str, Any], settings: Any) -> None:
    from scrm import runtime

    chat = world["chat"]
    _to_verify(chat)
    chat.send("沪A12345")                                # now waiting for consent
    rt = runtime.get()
    key = rt.key("conv", settings.accounts["demo"].app_id, chat.openid)
    assert rt.redis.ttl(key) > 0                       # the draft lives in Redis with a TTL
    rt.redis.delete(key)                               # ... which has run out
    assert "绑定成功" not in chat.send("同意")
    assert bindings() == [] and consents() == []
    assert "手机号" in chat.send("绑定")                 # and the flow simply starts again


def test_many_dealers_narrowed_by_city_or_name(client: Any, settings: Any) -> None:
    for n in range(11):
        make_dealer(name=f"上海{n:02d}号店", city="上海")
    hz = make_dealer(name="杭州滨江店", city="杭州")
    c = make_customer(hz, name="王五", mobile=MOBILE)
    make_vehicle(c, plate="浙A88888")
    chat = Chat(client, settings, make_follower().openid)
    menu = chat.send("绑定")
    assert "10. " in menu and "11. " not in menu and "城市或门店名称" in menu   # ten listed, the rest by typing
    assert "没有找到" in chat.send("广州")                                      # nothing matches: says so, same list
    assert "1. 上海00号店" in chat.send("上海") and "列表里没有" in chat.send("上海")   # eleven match: ten and the hint
    assert "手机号" in chat.send("滨江")                                        # one match: straight to the mobile
    chat.send(MOBILE)
    chat.send("浙A88888")
    chat.send("同意")
    [b] = bindings()
    assert (b.customer_id, b.dealer_id) == (c.id, hz.id)
