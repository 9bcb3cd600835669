"""Mass sends on the fake API: by tag and by openid list, WeChat's limits, MASSSENDJOBFINISH."""

from __future__ import annotations

from typing import Any

import pytest
import xmltodict

from scrm.sandbox import state
from scrm.sandbox.events import mass_helper_openid
from tests.integration.sandbox_api import DEMO_APP, Receiver, get_token, post

pytestmark = pytest.mark.integration
SENDALL = "cgi-bin/message/mass/sendall"
SEND = "cgi-bin/message/mass/send"


def _tagged(live_server: Any, tok: str, openids: list[str]) -> int:
    tag_id = int(post(live_server, "cgi-bin/tags/create", tok, {"tag": {"name": "试驾客户"}})["tag"]["id"])
    assert post(live_server, "cgi-bin/tags/members/batchtagging", tok,
                {"openid_list": openids, "tagid": tag_id})["errcode"] == 0
    return tag_id


def _text(tag_id: int, content: str, clientmsgid: str) -> dict[str, Any]:
    return {"filter": {"is_to_all": False, "tag_id": tag_id}, "msgtype": "text", "text": {"content": content},
            "clientmsgid": clientmsgid}


def test_sendall_by_tag_delivers_and_reports(live_server: Any) -> None:
    for o in ("oA", "oB", "oC"):
        state.add_follower(DEMO_APP, o, interaction=None)
    tok = get_token(live_server)
    tag_id = _tagged(live_server, tok, ["oA", "oB"])
    with Receiver() as hook:
        state.set_webhook(DEMO_APP, hook.url)
        answer = post(live_server, SENDALL, tok, _text(tag_id, "五一试驾季开始啦", "campaign-1"))
        assert answer["errcode"] == 0 and answer["msg_id"]
        hook.wait()
    event = xmltodict.parse(hook.posts[0][1])["xml"]
    assert event["Event"] == "MASSSENDJOBFINISH" and event["MsgID"] == str(answer["msg_id"])
    assert event["FromUserName"] == mass_helper_openid(DEMO_APP)
    assert (event["Status"], event["TotalCount"], event["FilterCount"], event["SentCount"], event["ErrorCount"]) == (
        "send success", "2", "2", "2", "0")
    assert [m["body"]["content"] for m in state.messages_for(DEMO_APP, "oA")] == ["五一试驾季开始啦"]
    assert state.messages_for(DEMO_APP, "oC") == []


def test_four_mass_messages_per_user_per_month(live_server: Any) -> None:
    state.add_follower(DEMO_APP, "oA", interaction=None)
    tok = get_token(live_server)
    tag_id = _tagged(live_server, tok, ["oA"])
    for i in range(5):
        assert post(live_server, SENDALL, tok, _text(tag_id, f"第{i + 1}期", f"c{i}"))["errcode"] == 0
    assert len(state.messages_for(DEMO_APP, "oA")) == 4          # the fifth is filtered for this user
    job = max(state.app(DEMO_APP).mass_jobs.values(), key=lambda j: j.msg_id)
    assert (job.total, job.filtered, job.sent) == (1, 0, 0)


def test_clientmsgid_reuse_and_quota(live_server: Any) -> None:
    state.add_follower(DEMO_APP, "oA")
    tok = get_token(live_server)
    tag_id = _tagged(live_server, tok, ["oA"])
    assert post(live_server, SENDALL, tok, _text(tag_id, "一", "same-id"))["errcode"] == 0
    assert post(live_server, SENDALL, tok, _text(tag_id, "二", "same-id"))["errcode"] == 45065
    assert post(live_server, SENDALL, tok, _text(tag_id, "三", "x" * 65))["errcode"] == 45067
    state.set_quota(DEMO_APP, "mass", 3)
    assert post(live_server, SENDALL, tok, _text(tag_id, "四", "other-id"))["errcode"] == 45028
    assert len(state.messages_for(DEMO_APP, "oA")) == 1


@pytest.mark.parametrize(("body", "errcode"), [
    ({"filter": {"is_to_all": False, "tag_id": 999}, "msgtype": "text", "text": {"content": "x"}}, 45159),
    ({"filter": {"is_to_all": True}, "msgtype": "sms", "sms": {}}, 40008),
    ({"filter": {"is_to_all": True}, "msgtype": "text", "text": {"content": ""}}, 44004),
    ({"filter": {"is_to_all": True}, "msgtype": "mpnews", "mpnews": {}}, 40007),
    ({"msgtype": "text", "text": {"content": "x"}}, 47001),
])
def test_bad_sendall(live_server: Any, body: dict[str, Any], errcode: int) -> None:
    assert post(live_server, SENDALL, get_token(live_server), body)["errcode"] == errcode


def test_send_to_openid_list(live_server: Any) -> None:
    for o in ("oA", "oB"):
        state.add_follower(DEMO_APP, o)
    state.add_follower(DEMO_APP, "oGone", subscribed=False)
    tok = get_token(live_server)
    one = {"touser": ["oA"], "msgtype": "text", "text": {"content": "hi"}}
    assert post(live_server, SEND, tok, one)["errcode"] == 40130
    assert post(live_server, SEND, tok, {**one, "touser": ["oA", "oA"]})["errcode"] == 40130
    assert post(live_server, SEND, tok, {**one, "touser": ["oA", "oNobody"]})["errcode"] == 40003
    answer = post(live_server, SEND, tok, {**one, "touser": ["oA", "oB", "oGone"]})
    assert answer["errcode"] == 0
    assert [m["via"] for m in state.messages_for(DEMO_APP, "oB")] == ["mass"]
    assert state.messages_for(DEMO_APP, "oGone") == []
    status = post(live_server, "cgi-bin/message/mass/get", tok, {"msg_id": answer["msg_id"]})
    assert status["msg_status"] == "SEND_SUCCESS"
