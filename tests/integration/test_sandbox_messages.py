"""Customer-service and template messages through the fake API: WeChat's window, counts and codes."""

from __future__ import annotations

from typing import Any

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from scrm.sandbox import state
from scrm.sandbox.entities import template_id_for
from scrm.sandbox.rules import gh_id
from tests.conftest import AES_KEY
from tests.integration.sandbox_api import DEMO_APP, SAFE_APP, Receiver, get_token, post, text

pytestmark = pytest.mark.integration
OPENID = "oDemoFollower000000000000001"
SEND = "cgi-bin/message/custom/send"
TEMPLATE = "cgi-bin/message/template/send"
BOOKING = template_id_for(DEMO_APP, "booking_confirmed")


def test_custom_message_delivered_to_the_phone(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID)
    tok = get_token(live_server)
    assert post(live_server, SEND, tok, text(OPENID, "您好，您的爱车保养已完成"))["errcode"] == 0
    msgs = state.messages_for(DEMO_APP, OPENID)
    assert [(m["via"], m["msgtype"], m["body"]["content"]) for m in msgs] == [
        ("custom", "text", "您好，您的爱车保养已完成")]


def test_five_messages_per_user_message_then_45047(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID, interaction="message")
    tok = get_token(live_server)
    codes = [post(live_server, SEND, tok, text(OPENID, f"第{i}条"))["errcode"] for i in range(6)]
    assert codes == [0, 0, 0, 0, 0, 45047]
    state.interact(DEMO_APP, OPENID, "message")              # the user writes again: allowance renewed
    assert post(live_server, SEND, tok, text(OPENID, "again"))["errcode"] == 0


def test_window_closes_after_48_hours(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID, interaction="message")
    tok = get_token(live_server)
    state.advance(48 * 3600 - 60)
    tok = get_token(live_server)
    assert post(live_server, SEND, tok, text(OPENID, "still inside"))["errcode"] == 0
    state.advance(120)
    tok = get_token(live_server)
    assert post(live_server, SEND, tok, text(OPENID, "too late"))["errcode"] == 45015
    assert len(state.messages_for(DEMO_APP, OPENID)) == 1


@pytest.mark.parametrize("kind", ["click", "follow", "scan"])
def test_event_allowance_three_within_a_minute(live_server: Any, kind: str) -> None:
    state.add_follower(DEMO_APP, OPENID, interaction=kind)
    tok = get_token(live_server)
    codes = [post(live_server, SEND, tok, text(OPENID, str(i)))["errcode"] for i in range(4)]
    assert codes == [0, 0, 0, 45047]
    state.interact(DEMO_APP, OPENID, kind)
    state.advance(61)
    assert post(live_server, SEND, tok, text(OPENID, "late"))["errcode"] == 45015


def test_no_interaction_means_no_window(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID, interaction=None)
    assert post(live_server, SEND, get_token(live_server), text(OPENID, "hi"))["errcode"] == 45015


def test_unsubscribed_and_unknown_users(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID, subscribed=False)
    tok = get_token(live_server)
    assert post(live_server, SEND, tok, text(OPENID, "hi"))["errcode"] == 43004
    assert post(live_server, SEND, tok, text("oSomebodyElse", "hi"))["errcode"] == 40003
    state.add_follower(SAFE_APP, "oOnlyOnSafe")   # an openid of another account is unknown here
    assert post(live_server, SEND, tok, text("oOnlyOnSafe", "hi"))["errcode"] == 40003


@pytest.mark.parametrize(("body", "errcode"), [
    ({"msgtype": "text", "text": {"content": "长" * 683}}, 45002),          # 2049 bytes
    ({"msgtype": "text", "text": {"content": ""}}, 44004),
    ({"msgtype": "text"}, 47001),
    ({"msgtype": "telegram", "telegram": {}}, 40008),
    ({"msgtype": "news", "news": {"articles": [{"title": "a", "url": "http://x"}] * 2}}, 45008),
    ({"msgtype": "image", "image": {}}, 40007),
])
def test_custom_message_bodies_checked(live_server: Any, body: dict[str, Any], errcode: int) -> None:
    state.add_follower(DEMO_APP, OPENID)
    assert post(live_server, SEND, get_token(live_server), {"touser": OPENID, **body})["errcode"] == errcode
    assert state.messages_for(DEMO_APP, OPENID) == []


def test_text_of_exactly_2048_bytes_is_accepted(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID)
    assert post(live_server, SEND, get_token(live_server), text(OPENID, "长" * 682 + "ab"))["errcode"] == 0


def test_custom_send_daily_quota(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID)
    state.set_quota(DEMO_APP, "custom_send", 1)
    tok = get_token(live_server)
    assert post(live_server, SEND, tok, text(OPENID, "1"))["errcode"] == 0
    assert post(live_server, SEND, tok, text(OPENID, "2"))["errcode"] == 45009


def _booking(openid: str, **extra: Any) -> dict[str, Any]:
    return {"touser": openid, "template_id": BOOKING, "url": "http://127.0.0.1/h5/demo/",
            "data": {"thing1": {"value": "常规保养"}, "time2": {"value": "2024年5月18日 10:00"},
                     "thing3": {"value": "浦东4S店"}}, **extra}


def test_template_message_and_finish_event(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID, interaction=None)   # templates need no window
    with Receiver() as hook:
        state.set_webhook(DEMO_APP, hook.url)
        answer = post(live_server, TEMPLATE, get_token(live_server), _booking(OPENID))
        assert answer["errcode"] == 0 and isinstance(answer["msgid"], int)
        hook.wait()
    query, body = hook.posts[0]
    assert check_signature("demotoken", query["signature"], query["timestamp"], query["nonce"]) is None
    event = xmltodict.parse(body)["xml"]
    assert event["Event"] == "TEMPLATESENDJOBFINISH" and event["Status"] == "success"
    assert event["MsgID"] == str(answer["msgid"]) and event["FromUserName"] == OPENID
    assert event["ToUserName"] == gh_id(DEMO_APP)
    [card] = state.messages_for(DEMO_APP, OPENID)
    assert card["via"] == "template" and card["msgid"] == answer["msgid"]
    assert card["body"]["fields"][0] == {"key": "thing1", "label": "预约项目", "value": "常规保养"}


def test_template_finish_is_encrypted_in_safe_mode_and_reports_block(live_server: Any) -> None:
    state.add_follower(SAFE_APP, OPENID)
    state.set_blocking(SAFE_APP, OPENID)
    tid = template_id_for(SAFE_APP, "event_reminder")
    with Receiver() as hook:
        state.set_webhook(SAFE_APP, hook.url)
        tok = get_token(live_server, SAFE_APP, "safesecret")
        answer = post(live_server, TEMPLATE, tok, {"touser": OPENID, "template_id": tid,
                                                   "data": {"thing1": {"value": "车主自驾游"}}})
        hook.wait()
    query, body = hook.posts[0]
    assert query["encrypt_type"] == "aes"
    crypto = WeChatCrypto("safetoken", AES_KEY, SAFE_APP)
    event = xmltodict.parse(crypto.decrypt_message(body, query["msg_signature"], query["timestamp"],
                                                   query["nonce"]))["xml"]
    assert event["Status"] == "failed:user block" and event["MsgID"] == str(answer["msgid"])
    assert state.messages_for(SAFE_APP, OPENID) == []     # a blocking user receives nothing


def test_template_errors(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID)
    state.add_follower(DEMO_APP, "oGone", subscribed=False)
    tok = get_token(live_server)
    assert post(live_server, TEMPLATE, tok, {**_booking(OPENID), "template_id": "nope"})["errcode"] == 40037
    assert post(live_server, TEMPLATE, tok, _booking("oGone"))["errcode"] == 43004
    assert post(live_server, TEMPLATE, tok, _booking("oNeverSeen"))["errcode"] == 40003
    too_long = _booking(OPENID)
    too_long["data"]["thing1"] = {"value": "超" * 21}
    answer = post(live_server, TEMPLATE, tok, too_long)
    assert answer["errcode"] == 47003 and "thing1" in answer["errmsg"]
    assert state.messages_for(DEMO_APP, OPENID) == []


def test_template_client_msg_id_sends_once_within_ten_minutes(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID)
    tok = get_token(live_server)
    first = post(live_server, TEMPLATE, tok, _booking(OPENID, client_msg_id="booking-42"))
    again = post(live_server, TEMPLATE, tok, _booking(OPENID, client_msg_id="booking-42"))
    assert first["msgid"] == again["msgid"]
    assert len(state.messages_for(DEMO_APP, OPENID)) == 1
    state.advance(601)
    tok = get_token(live_server)
    later = post(live_server, TEMPLATE, tok, _booking(OPENID, client_msg_id="booking-42"))
    assert later["msgid"] != first["msgid"]
    assert len(state.messages_for(DEMO_APP, OPENID)) == 2


def test_added_template_and_quota(live_server: Any) -> None:
    state.add_follower(DEMO_APP, OPENID)
    tid = state.add_template(DEMO_APP, "试驾邀请", "车型:{{thing1.DATA}}\n时间:{{time2.DATA}}")
    state.set_quota(DEMO_APP, "template_send", 1)
    tok = get_token(live_server)
    body = {"touser": OPENID, "template_id": tid, "data": {"thing1": {"value": "新能源SUV"}}}
    assert post(live_server, TEMPLATE, tok, body)["errcode"] == 0
    assert post(live_server, TEMPLATE, tok, body)["errcode"] == 45009


def test_allowance_holds_under_concurrent_sends(live_server: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    state.add_follower(DEMO_APP, OPENID, interaction="message")
    tok = get_token(live_server)
    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(lambda i: post(live_server, SEND, tok, text(OPENID, f"并发{i}"))["errcode"], range(20)))
    assert sorted(codes) == [0] * 5 + [45047] * 15
    assert len(state.messages_for(DEMO_APP, OPENID)) == 5


def test_client_msg_id_holds_under_concurrent_sends(live_server: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    state.add_follower(DEMO_APP, OPENID)
    tok = get_token(live_server)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post(live_server, TEMPLATE, tok, _booking(OPENID, client_msg_id="race")),
                                range(8)))
    assert len({a["msgid"] for a in answers}) == 1
    assert len(state.messages_for(DEMO_APP, OPENID)) == 1


def test_template_list_has_the_dealer_templates(live_server: Any) -> None:
    from tests.integration.sandbox_api import get

    listed = get(live_server, "cgi-bin/template/get_all_private_template", get_token(live_server))["template_list"]
    titles = {t["title"]: t for t in listed}
    assert {"预约成功通知", "保养到期提醒", "积分变动提醒", "活动开始提醒"} <= set(titles)
    assert titles["预约成功通知"]["template_id"] == BOOKING and "{{thing1.DATA}}" in titles["预约成功通知"]["content"]
