"""The phone simulator's JSON API: real signed (and encrypted) XML to the webhook, replies read back."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature

from scrm.sandbox import state
from scrm.sandbox.push import build_xml
from scrm.sandbox.rules import PHONE_COOKIE, gh_id
from tests.conftest import AES_KEY, free_port
from tests.integration.sandbox_api import DEMO_APP, SAFE_APP, Receiver, get_token, post, text

pytestmark = pytest.mark.integration
MENU = [{"type": "click", "name": "预约保养", "key": "BOOK_SERVICE"},
        {"name": "车主服务", "sub_button": [{"type": "view", "name": "我的", "url": "http://127.0.0.1/h5/demo/"}]}]


class Phone:
    """A client of /sandbox/phone/api as the page's script uses it."""

    def __init__(self, live_server: Any, account: str = "demo") -> None:
        self.base = f"{live_server.url}/sandbox/phone/api/"
        self.account = account
        self.http = requests.Session()
        self.openid = self.http.post(self.base + "person", json={"account": account, "label": "李女士"},
                                     timeout=5).json()["openid"]

    def act(self, action: str, expect: int = 200, **params: Any) -> dict[str, Any]:
        r = self.http.post(self.base + "act", timeout=20, json={"account": self.account, "openid": self.openid,
                                                                 "action": action, "params": params})
        assert r.status_code == expect, r.text
        return dict(r.json())


def _replies(answer: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in answer["entries"] if e["via"] == "reply"]


@pytest.mark.parametrize("account", ["demo", "safe"])
def test_follow_and_chat_through_the_real_webhook(live_server: Any, account: str) -> None:
    phone = Phone(live_server, account)
    followed = phone.act("follow")
    assert followed["person"]["subscribed"] is True
    assert followed["entries"][0]["body"]["code"] == "followed"
    assert _replies(followed), "the webhook should greet a new follower"
    chatted = phone.act("text", content="你好")
    assert chatted["entries"][0] == {**chatted["entries"][0], "via": "user", "body": {"content": "你好"}}
    assert _replies(chatted) and _replies(chatted)[0]["msgtype"] in ("text", "news")


def test_phone_pushes_official_signed_xml(live_server: Any) -> None:
    phone = Phone(live_server)
    phone.act("follow")
    with Receiver() as hook:
        state.set_webhook(DEMO_APP, hook.url)
        phone.act("text", content="保养多少钱？]]><x>")
        phone.act("location", latitude="31.2304", longitude="121.4737", label="人民广场")
    (q1, b1), (_, b2) = hook.posts
    assert check_signature("demotoken", q1["signature"], q1["timestamp"], q1["nonce"]) is None
    assert q1["openid"] == phone.openid
    msg = xmltodict.parse(b1)["xml"]
    assert list(msg)[:4] == ["ToUserName", "FromUserName", "CreateTime", "MsgType"]
    assert (msg["ToUserName"], msg["FromUserName"], msg["MsgType"]) == (gh_id(DEMO_APP), phone.openid, "text")
    assert msg["Content"] == "保养多少钱？]]><x>" and msg["MsgId"].isdigit()
    loc = xmltodict.parse(b2)["xml"]
    assert (loc["MsgType"], loc["Location_X"], loc["Location_Y"], loc["Label"]) == (
        "location", "31.2304", "121.4737", "人民广场")
    assert int(loc["CreateTime"]) > int(msg["CreateTime"])          # strictly increasing per user


def test_safe_mode_pushes_are_encrypted(live_server: Any) -> None:
    phone = Phone(live_server, "safe")
    phone.act("follow")
    with Receiver() as hook:
        state.set_webhook(SAFE_APP, hook.url)
        phone.act("text", content="加密的消息")
    query, body = hook.posts[0]
    assert query["encrypt_type"] == "aes" and "加密" not in body
    plain = WeChatCrypto("safetoken", AES_KEY, SAFE_APP).decrypt_message(
        body, query["msg_signature"], query["timestamp"], query["nonce"])
    assert xmltodict.parse(plain)["xml"]["Content"] == "加密的消息"


def test_chatting_opens_the_customer_service_window(live_server: Any) -> None:
    phone = Phone(live_server)
    phone.act("follow")
    state.advance(120)                                   # the follow allowance (1 minute) is over
    tok = get_token(live_server)
    assert post(live_server, "cgi-bin/message/custom/send", tok, text(phone.openid, "x"))["errcode"] == 45015
    phone.act("text", content="在吗")
    assert post(live_server, "cgi-bin/message/custom/send", tok, text(phone.openid, "在的"))["errcode"] == 0
    chat = requests.get(phone.base + "chat", params={"account": "demo", "openid": phone.openid}, timeout=5).json()
    assert chat["entries"][-1]["via"] == "custom" and chat["entries"][-1]["body"]["content"] == "在的"


def test_menu_clicks_and_views_need_the_published_menu(live_server: Any) -> None:
    phone = Phone(live_server)
    phone.act("follow")
    assert phone.act("click", expect=400, key="BOOK_SERVICE")["error"] == "not_in_menu"
    assert post(live_server, "cgi-bin/menu/create", get_token(live_server), {"button": MENU})["errcode"] == 0
    with Receiver() as hook:
        hook.reply = build_xml(phone.openid, gh_id(DEMO_APP), "text", {"Content": "请选择预约时间"}).encode()
        state.set_webhook(DEMO_APP, hook.url)
        clicked = phone.act("click", key="BOOK_SERVICE")
        viewed = phone.act("view", url="http://127.0.0.1/h5/demo/")
    click = xmltodict.parse(hook.posts[0][1])["xml"]
    assert (click["Event"], click["EventKey"]) == ("CLICK", "BOOK_SERVICE")
    assert _replies(clicked)[0]["body"]["content"] == "请选择预约时间"
    view = xmltodict.parse(hook.posts[1][1])["xml"]
    assert (view["Event"], view["EventKey"]) == ("VIEW", "http://127.0.0.1/h5/demo/")
    assert _replies(viewed) == []                          # WeChat shows nothing for a VIEW reply


def test_scanning_a_qr_follows_or_reports_scan(live_server: Any) -> None:
    tok = get_token(live_server)
    made = post(live_server, "cgi-bin/qrcode/create", tok, {"action_name": "QR_LIMIT_STR_SCENE",
                                                             "action_info": {"scene": {"scene_str": "dealer:SH001"}}})
    phone = Phone(live_server)
    with Receiver() as hook:
        state.set_webhook(DEMO_APP, hook.url)
        phone.act("scan", ticket=made["ticket"])
        phone.act("scan", ticket=made["url"])               # what a camera reads from the image
    sub = xmltodict.parse(hook.posts[0][1])["xml"]
    assert (sub["Event"], sub["EventKey"], sub["Ticket"]) == ("subscribe", "qrscene_dealer:SH001", made["ticket"])
    scan = xmltodict.parse(hook.posts[1][1])["xml"]
    assert (scan["Event"], scan["EventKey"]) == ("SCAN", "dealer:SH001")
    info = requests.get(f"{live_server.url}/sandbox/wx/cgi-bin/user/info", timeout=5,
                        params={"access_token": tok, "openid": phone.openid}).json()
    assert info["subscribe_scene"] == "ADD_SCENE_QR_CODE" and info["qr_scene_str"] == "dealer:SH001"
    assert phone.act("scan", expect=400, ticket="unknown")["error"] == "qr_expired"


def test_follow_through_a_scene_and_unfollow(live_server: Any) -> None:
    phone = Phone(live_server)
    with Receiver() as hook:
        state.set_webhook(DEMO_APP, hook.url)
        phone.act("follow", scene="staff:12")
        assert phone.act("follow", expect=400)["error"] == "already_following"
        gone = phone.act("unfollow")
    sub = xmltodict.parse(hook.posts[0][1])["xml"]
    assert sub["EventKey"] == "qrscene_staff:12" and sub["Ticket"]
    assert xmltodict.parse(hook.posts[1][1])["xml"]["Event"] == "unsubscribe"
    assert gone["person"]["subscribed"] is False
    assert phone.act("text", expect=400, content="hi")["error"] == "follow_first"


def test_bad_phone_input(live_server: Any) -> None:
    phone = Phone(live_server)
    phone.act("follow")
    assert phone.act("text", expect=400, content="")["error"] == "bad_text"
    assert phone.act("text", expect=400, content="长" * 2049)["error"] == "bad_text"
    assert phone.act("location", expect=400, latitude="91", longitude="0")["error"] == "bad_location"
    assert phone.act("location", expect=400, latitude="x", longitude="0")["error"] == "bad_location"
    assert phone.act("dance", expect=400)["error"] == "unknown_action"
    phone.openid = "oNotAPhoneUser"
    assert phone.act("text", expect=400, content="hi")["error"] == "unknown_person"


def test_unreachable_or_broken_webhook_shows_wechats_apology(live_server: Any) -> None:
    phone = Phone(live_server)
    state.set_webhook(DEMO_APP, f"http://127.0.0.1:{free_port()}/wechat/demo")
    answer = phone.act("follow")
    assert answer["entries"][-1]["body"]["code"] == "unavailable"
    with Receiver() as hook:
        state.set_webhook(DEMO_APP, hook.url)
        hook.reply = b'{"json": "is not a reply"}'
        broken = phone.act("text", content="hi")
        hook.reply = build_xml("oSomeoneElse", gh_id(DEMO_APP), "text", {"Content": "misaddressed"}).encode()
        wrong = phone.act("text", content="hi")
    assert broken["entries"][-1]["body"]["error"] == "invalid_reply"
    assert wrong["entries"][-1]["body"]["error"] == "invalid_reply"


def test_phone_api_refuses_cross_site_posts(live_server: Any) -> None:
    base = f"{live_server.url}/sandbox/phone/api/"
    assert requests.post(base + "person", data={"account": "demo"}, timeout=5).status_code == 403
    assert requests.post(base + "person", json={"account": "demo"}, timeout=5,
                         headers={"Origin": "http://evil.example"}).status_code == 403
    assert requests.post(base + "person", json={"account": "nope"}, timeout=5).status_code == 404


def test_selecting_a_person_sets_the_oauth_cookie(live_server: Any) -> None:
    phone = Phone(live_server)
    assert phone.http.cookies.get(PHONE_COOKIE + DEMO_APP) == phone.openid
    other = Phone(live_server)
    r = phone.http.post(phone.base + "select", json={"account": "demo", "openid": other.openid}, timeout=5)
    assert r.status_code == 200 and phone.http.cookies.get(PHONE_COOKIE + DEMO_APP) == other.openid
    overview = requests.get(phone.base + "overview", params={"account": "demo"}, timeout=5).json()
    assert {p["openid"] for p in overview["people"]} == {phone.openid, other.openid}
