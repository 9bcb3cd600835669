"""Safe (AES) and compatible mode round trips through the real webhook, in-process and over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.wechat.crypto import MessageCrypto
from tests import wechat_xml as wx
from tests.integration.webhook_support import follower, logs

pytestmark = pytest.mark.integration
OPENID = "oSafeMode0000000000000000001"


def test_safe_mode_round_trip_with_the_test_client(client: Any, settings: Any) -> None:
    acc = settings.accounts["safe"]
    body, encrypted = wx.envelope(acc, wx.text_msg(OPENID, "帮助"))
    query = wx.signed_query(acc, encrypted=encrypted)
    r = client.post("/wechat/safe", query_string=query, data=body.encode(), content_type="text/xml")
    assert r.status_code == 200 and r.content_type.startswith("application/xml")
    raw = r.get_data(as_text=True)
    assert "<Encrypt>" in raw and "帮助" not in raw              # nothing readable on the wire
    plain = wx.decrypt_reply(acc, raw, query)                     # msg_signature verifies
    reply = wx.reply_fields(plain)
    assert reply["ToUserName"] == OPENID and reply["MsgType"] == "text"
    assert "发送「帮助」再次查看本说明" in reply["Content"]
    assert [row.content for row in logs("in")] == ["帮助"]


def test_safe_mode_round_trip_over_real_http(live_server: Any, settings: Any) -> None:
    status, plain = wx.post(live_server.url, "safe", wx.subscribe(OPENID), settings.accounts["safe"])
    assert status == 200
    assert "欢迎关注安全模式" in wx.reply_fields(plain)["Content"]
    f = follower(OPENID)
    assert f is not None and f.subscribed


def test_compatible_mode_uses_the_encrypted_copy(client: Any, settings: Any) -> None:
    """Compatible mode sends plain fields AND <Encrypt>; only the signed, encrypted copy counts."""
    acc = settings.accounts["safe"]
    inner = wx.text_msg(OPENID, "帮助")
    encrypted = MessageCrypto(acc.token, acc.encoding_aes_key, acc.app_id).encrypt(inner)
    forged_plain = wx.text_msg(OPENID, "取消")  # a tampered plaintext copy must be ignored
    body = forged_plain.replace("</xml>", f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
    query = wx.signed_query(acc, encrypted=encrypted)
    r = client.post("/wechat/safe", query_string=query, data=body.encode(), content_type="text/xml")
    reply = wx.reply_fields(wx.decrypt_reply(acc, r.get_data(as_text=True), query))
    assert "再次查看本说明" in reply["Content"]


def test_plaintext_push_to_a_safe_account_gets_a_plaintext_reply(client: Any, settings: Any) -> None:
    """If the console is switched back to plaintext mode, pushes still work (signed with the token)."""
    status, body = wx.post(client, "safe", wx.text_msg(OPENID, "帮助"), settings.accounts["safe"], encrypt=False)
    assert status == 200 and "<Encrypt>" not in body
    assert "再次查看本说明" in wx.reply_fields(body)["Content"]


def test_success_is_not_encrypted(client: Any, settings: Any) -> None:
    status, body = wx.post(client, "safe", wx.location_event(OPENID, 31.2, 121.5), settings.accounts["safe"])
    assert (status, body) == (200, "success")
