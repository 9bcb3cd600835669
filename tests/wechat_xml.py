"""Build inbound pushes in WeChat's official layout, sign (and encrypt) them, and post them.

Used by the gateway's tests and by anything else that needs to talk to the webhook like WeChat does:
`text_msg`, `event`, `click`, `subscribe`, `location_event`, then `post(client, slug, xml, account)`.
"""

from __future__ import annotations

import itertools
import random
import string
import time
from typing import Any

import requests

from scrm.config import AccountSettings
from scrm.wechat import signature
from scrm.wechat.crypto import MessageCrypto
from scrm.wechat.parse import parse_xml

TO_USER = "gh_test_account01"
_msg_ids = itertools.count(int(time.time()) * 1000)


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _field(name: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"<{name}>" + "".join(_field(k, v) for k, v in value.items()) + f"</{name}>"
    if isinstance(value, list):
        return "".join(_field(name, v) for v in value)
    if isinstance(value, int | float):
        return f"<{name}>{value}</{name}>"
    return f"<{name}>{_cdata(str(value))}</{name}>"


def build(openid: str, msg_type: str, *, create_time: int | None = None, to_user: str = TO_USER,
          **fields: Any) -> str:
    """A push with the common header and `fields` (dicts nest, lists repeat the element)."""
    head = (f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><FromUserName>{_cdata(openid)}</FromUserName>"
            f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType>{_cdata(msg_type)}</MsgType>")
    return head + "".join(_field(k, v) for k, v in fields.items()) + "</xml>"


def next_msg_id() -> int:
    """A fresh 64-bit-looking MsgId."""
    return next(_msg_ids)


def text_msg(openid: str, content: str, msg_id: int | None = None, **kw: Any) -> str:
    """A text message."""
    return build(openid, "text", Content=content, MsgId=msg_id if msg_id is not None else next_msg_id(), **kw)


def event(openid: str, event: str, key: str | None = None, create_time: int | None = None, **fields: Any) -> str:
    """An event push; `key` becomes EventKey."""
    extra: dict[str, Any] = {"Event": event}
    if key is not None:
        extra["EventKey"] = key
    extra.update(fields)
    return build(openid, "event", create_time=create_time, **extra)


def click(openid: str, key: str, create_time: int | None = None) -> str:
    """A menu CLICK."""
    return event(openid, "CLICK", key=key, create_time=create_time)


def subscribe(openid: str, scene: str | None = None, create_time: int | None = None) -> str:
    """A follow, through a QR scene (EventKey qrscene_<scene> + Ticket) when given."""
    if scene is None:
        return event(openid, "subscribe", key="", create_time=create_time)
    return event(openid, "subscribe", key=f"qrscene_{scene}", create_time=create_time, Ticket=f"TICKET_{scene}")


def unsubscribe(openid: str, create_time: int | None = None) -> str:
    """An unfollow."""
    return event(openid, "unsubscribe", key="", create_time=create_time)


def scan(openid: str, scene: str, create_time: int | None = None) -> str:
    """A follower scanning a QR code."""
    return event(openid, "SCAN", key=scene, create_time=create_time, Ticket=f"TICKET_{scene}")


def location_event(openid: str, latitude: float, longitude: float, precision: float = 65.0,
                   create_time: int | None = None) -> str:
    """The LOCATION report sent when a follower opens the chat."""
    return event(openid, "LOCATION", create_time=create_time, Latitude=latitude, Longitude=longitude,
                 Precision=precision)


def nonce() -> str:
    """A random nonce like WeChat's."""
    return "".join(random.choices(string.digits, k=10))


def signed_query(account: AccountSettings, *, timestamp: int | None = None, nonce_: str | None = None,
                 encrypted: str | None = None) -> dict[str, str]:
    """The query string WeChat adds: signature, timestamp, nonce (+ encrypt_type, msg_signature)."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    n = nonce_ or nonce()
    query = {"signature": signature.sign(account.token, ts, n), "timestamp": ts, "nonce": n,
             "openid": "ignored_by_gateway"}
    if encrypted is not None:
        query.update(encrypt_type="aes", msg_signature=signature.sign(account.token, ts, n, encrypted))
    return query


def envelope(account: AccountSettings, xml: str) -> tuple[str, str]:
    """(safe-mode body, Encrypt value) for a plaintext push."""
    encrypted = MessageCrypto(account.token, account.encoding_aes_key, account.app_id).encrypt(xml)
    return f"<xml><ToUserName>{_cdata(TO_USER)}</ToUserName><Encrypt>{_cdata(encrypted)}</Encrypt></xml>", encrypted


def decrypt_reply(account: AccountSettings, body: str, query: dict[str, str]) -> str:
    """The plaintext of an encrypted reply, after checking its msg_signature."""
    doc = parse_xml(body)
    encrypted = doc["Encrypt"]
    expected = signature.sign(account.token, doc["TimeStamp"], doc["Nonce"], encrypted)
    assert doc["MsgSignature"] == expected, "reply msg_signature does not verify"
    assert doc["Nonce"] == query["nonce"]
    return MessageCrypto(account.token, account.encoding_aes_key, account.app_id).decrypt(encrypted)


def post(client: Any, slug: str, xml: str, account: AccountSettings, encrypt: bool | None = None,
         timestamp: int | None = None) -> tuple[int, str]:
    """Sign (and in safe mode encrypt) `xml`, POST it to /wechat/<slug>, return (status, reply plaintext).

    `client` is a Flask test client or a base URL ("http://127.0.0.1:port") for real HTTP.
    """
    use_aes = account.safe_mode if encrypt is None else encrypt
    if use_aes:
        body, encrypted = envelope(account, xml)
        query = signed_query(account, timestamp=timestamp, encrypted=encrypted)
    else:
        body, query = xml, signed_query(account, timestamp=timestamp)
    status, text = _send(client, slug, body.encode("utf-8"), query)
    if use_aes and status == 200 and text.startswith("<xml>"):
        text = decrypt_reply(account, text, query)
    return status, text


def _send(client: Any, slug: str, body: bytes, query: dict[str, str]) -> tuple[int, str]:
    if isinstance(client, str):
        resp = requests.post(f"{client.rstrip('/')}/wechat/{slug}", params=query, data=body,
                             headers={"Content-Type": "text/xml"}, timeout=10)
        return resp.status_code, resp.text
    r = client.post(f"/wechat/{slug}", query_string=query, data=body, content_type="text/xml")
    return r.status_code, r.get_data(as_text=True)


def signed_post(client_or_url: Any, slug: str, xml: str, account_settings: AccountSettings) -> tuple[int, str]:
    """The common brief's name for `post` with the account's own mode."""
    return post(client_or_url, slug, xml, account_settings)


def reply_fields(reply_xml: str) -> dict[str, Any]:
    """A plaintext reply parsed into its fields (Content, MsgType, Articles, ...)."""
    return parse_xml(reply_xml)
