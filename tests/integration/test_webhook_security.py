"""Every bad input to /wechat/<slug>: its status code, and no effect on the database or Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from scrm import metrics
from tests import wechat_xml as wx
from tests.integration.webhook_support import snapshot

pytestmark = pytest.mark.integration
OPENID = "oSecurity00000000000000000001"


def counter(outcome: str, account: str = "demo") -> float:
    return metrics.WEBHOOK_REQUESTS.labels(account=account, outcome=outcome)._value.get()


@pytest.fixture
def unchanged(app: Any) -> Iterator[None]:
    """Assert the test changed nothing stored."""
    before = snapshot()
    yield
    assert snapshot() == before


def test_handshake_echoes_echostr(client: Any, settings: Any) -> None:
    for slug in ("demo", "safe"):  # plain echostr even in safe mode
        query = wx.signed_query(settings.accounts[slug])
        r = client.get(f"/wechat/{slug}", query_string={**query, "echostr": "8429751342650375126"})
        assert (r.status_code, r.get_data(as_text=True)) == (200, "8429751342650375126")


def test_handshake_with_a_bad_signature_or_old_timestamp_is_forbidden(client: Any, settings: Any) -> None:
    acc = settings.accounts["demo"]
    query = {**wx.signed_query(acc), "echostr": "123"}
    assert client.get("/wechat/demo", query_string={**query, "signature": "0" * 40}).status_code == 403
    old = {**wx.signed_query(acc, timestamp=int(time.time()) - 400), "echostr": "123"}
    assert client.get("/wechat/demo", query_string=old).status_code == 403
    assert client.get("/wechat/demo", query_string=wx.signed_query(acc)).status_code == 400  # no echostr


def test_unknown_slug_is_404(client: Any, settings: Any, unchanged: None) -> None:
    before = counter("not_found", "unknown")
    query = wx.signed_query(settings.accounts["demo"])
    assert client.get("/wechat/nosuch", query_string={**query, "echostr": "1"}).status_code == 404
    assert wx.post(client, "nosuch", wx.text_msg(OPENID, "hi"), settings.accounts["demo"])[0] == 404
    assert counter("not_found", "unknown") == before + 2


def test_bad_signature_is_403_with_no_effect(client: Any, settings: Any, unchanged: None) -> None:
    acc = settings.accounts["demo"]
    query = {**wx.signed_query(acc), "signature": "f" * 40}
    before = counter("forbidden")
    r = client.post("/wechat/demo", query_string=query, data=wx.subscribe(OPENID).encode(), content_type="text/xml")
    assert r.status_code == 403
    assert counter("forbidden") == before + 1
    wrong_token = wx.signed_query(acc)
    wrong_token["signature"] = wx.signature.sign("not-the-token", wrong_token["timestamp"], wrong_token["nonce"])
    r = client.post("/wechat/demo", query_string=wrong_token, data=wx.subscribe(OPENID).encode())
    assert r.status_code == 403


@pytest.mark.parametrize("offset", [-301, 301, -100000])
def test_timestamp_outside_300_seconds_is_403(client: Any, settings: Any, unchanged: None, offset: int) -> None:
    status, _ = wx.post(client, "demo", wx.subscribe(OPENID), settings.accounts["demo"],
                        timestamp=int(time.time()) + offset)
    assert status == 403


def test_timestamp_inside_the_window_is_accepted(client: Any, settings: Any) -> None:
    status, body = wx.post(client, "demo", wx.text_msg(OPENID, "帮助"), settings.accounts["demo"],
                           timestamp=int(time.time()) - 290)
    assert status == 200 and "<xml>" in body


def test_declared_body_over_256_kib_is_413(client: Any, settings: Any, unchanged: None) -> None:
    before = counter("too_large")
    xml = wx.text_msg(OPENID, "x" * (256 * 1024))
    assert wx.post(client, "demo", xml, settings.accounts["demo"])[0] == 413
    assert counter("too_large") == before + 1


def test_streamed_body_over_256_kib_without_length_is_413(live_server: Any, settings: Any, unchanged: None) -> None:
    query = wx.signed_query(settings.accounts["demo"])
    xml = wx.text_msg(OPENID, "x" * (300 * 1024)).encode()

    def chunks() -> Iterator[bytes]:  # chunked transfer: no Content-Length to trust
        for i in range(0, len(xml), 16 * 1024):
            yield xml[i:i + 16 * 1024]

    r = requests.post(f"{live_server.url}/wechat/demo", params=query, data=chunks(), timeout=10)
    assert r.status_code == 413


def test_body_of_exactly_256_kib_is_read(client: Any, settings: Any) -> None:
    base = wx.text_msg(OPENID, "")
    xml = wx.text_msg(OPENID, "y" * (256 * 1024 - len(base.encode())))
    assert len(xml.encode()) == 256 * 1024
    status, body = wx.post(client, "demo", xml, settings.accounts["demo"])
    assert status == 200 and "<xml>" in body


BAD_BODIES = {
    "empty": "",
    "not xml": "hello",
    "unclosed": "<xml><ToUserName>a</xml>",
    "other root": "<root><MsgType>text</MsgType></root>",
    "entity declaration": '<!DOCTYPE xml [<!ENTITY a "x">]><xml><FromUserName>&a;</FromUserName></xml>',
    "external entity": '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',
    "billion laughs": ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                       "<xml><Content>&lol2;</Content></xml>"),
    "no MsgType": f"<xml><FromUserName>{OPENID}</FromUserName><CreateTime>1</CreateTime></xml>",
    "no FromUserName": "<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
    "non-numeric MsgId": wx.text_msg(OPENID, "hi", msg_id=1).replace("<MsgId>1</MsgId>", "<MsgId>1e5</MsgId>"),
    "unknown encoding": '<?xml version="1.0" encoding="x-nope"?><xml></xml>',
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_malformed_bodies_are_400_with_no_effect(client: Any, settings: Any, unchanged: None, name: str) -> None:
    before = counter("bad_request")
    status, _ = wx.post(client, "demo", BAD_BODIES[name], settings.accounts["demo"], encrypt=False)
    assert status == 400
    assert counter("bad_request") == before + 1


@pytest.mark.parametrize("name", ["entity declaration", "no MsgType", "non-numeric MsgId"])
def test_malformed_bodies_inside_valid_encryption_are_400(client: Any, settings: Any, unchanged: None,
                                                          name: str) -> None:
    status, _ = wx.post(client, "safe", BAD_BODIES[name], settings.accounts["safe"], encrypt=True)
    assert status == 400


def _safe_post(client: Any, body: str, query: dict[str, str]) -> int:
    return int(client.post("/wechat/safe", query_string=query, data=body.encode(), content_type="text/xml").status_code)


def test_bad_msg_signature_is_403(client: Any, settings: Any, unchanged: None) -> None:
    acc = settings.accounts["safe"]
    body, encrypted = wx.envelope(acc, wx.text_msg(OPENID, "hi"))
    query = wx.signed_query(acc, encrypted=encrypted)
    query["msg_signature"] = "0" * 40
    assert _safe_post(client, body, query) == 403
    del query["msg_signature"]
    assert _safe_post(client, body, query) == 403


def test_message_encrypted_for_another_app_id_is_400(client: Any, settings: Any, unchanged: None) -> None:
    acc = settings.accounts["safe"]
    from scrm.wechat.crypto import MessageCrypto

    encrypted = MessageCrypto(acc.token, acc.encoding_aes_key, "wxsomebodyelse0001").encrypt(wx.text_msg(OPENID, "hi"))
    body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    assert _safe_post(client, body, wx.signed_query(acc, encrypted=encrypted)) == 400


@pytest.mark.parametrize("encrypted", ["not*base64", "QUJD", "A" * 64])
def test_bad_base64_or_padding_is_400(client: Any, settings: Any, unchanged: None, encrypted: str) -> None:
    acc = settings.accounts["safe"]
    body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    assert _safe_post(client, body, wx.signed_query(acc, encrypted=encrypted)) == 400


def test_missing_encrypt_element_is_400(client: Any, settings: Any, unchanged: None) -> None:
    acc = settings.accounts["safe"]
    query = wx.signed_query(acc, encrypted="")
    assert _safe_post(client, "<xml><ToUserName><![CDATA[gh]]></ToUserName></xml>", query) == 400


def test_encrypted_push_to_a_plaintext_account_is_400(client: Any, settings: Any, unchanged: None) -> None:
    acc = settings.accounts["demo"]
    query = wx.signed_query(acc, encrypted="abc")
    r = client.post("/wechat/demo", query_string=query, data=b"<xml><Encrypt>abc</Encrypt></xml>")
    assert r.status_code == 400


def test_unknown_message_type_is_logged_and_answered_success(client: Any, settings: Any) -> None:
    xml = wx.build(OPENID, "miniprogrampage", MsgId=wx.next_msg_id(), Title="card")
    status, body = wx.post(client, "demo", xml, settings.accounts["demo"])
    assert (status, body) == (200, "success")
    from tests.integration.webhook_support import logs

    assert [(row.direction, row.msg_type) for row in logs()] == [("in", "miniprogrampage")]


def test_unknown_event_is_answered_success(client: Any, settings: Any) -> None:
    status, body = wx.post(client, "demo", wx.event(OPENID, "something_new", key="k"), settings.accounts["demo"])
    assert (status, body) == (200, "success")
