"""What WeChat's servers do towards the webhook: build the XML, sign it, encrypt it in safe mode,
POST it over real HTTP (retrying like WeChat), then verify, decrypt and read the passive reply."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from scrm.config import AccountSettings
from scrm.sandbox import rules

log = logging.getLogger(__name__)

TIMEOUT = 5.0        # WeChat drops the connection after 5 s ...
TRIES = 3            # ... and pushes the same XML three times in all
REPLY_MAX = 256 * 1024


@dataclass
class PushResult:
    """The outcome of one push: the messages the phone shows, or why there are none."""

    status: int = 0
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: str = ""          # "" | "timeout" | "http" | "invalid_reply"
    detail: str = ""
    tries: int = 0


def cdata(value: str) -> str:
    """A CDATA section holding `value` exactly (a ]]> inside is split across two sections)."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _element(name: str, value: Any) -> str:
    if isinstance(value, dict):
        inner = "".join(_element(k, v) for k, v in value.items())
    elif isinstance(value, list):
        return "".join(_element(name, v) for v in value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        inner = str(value)
    else:
        inner = cdata(str(value))
    return f"<{name}>{inner}</{name}>"


def build_xml(to_user: str, from_user: str, msg_type: str, fields: dict[str, Any],
              create_time: int | None = None) -> str:
    """Inbound XML in WeChat's official layout (strings as CDATA, numbers bare, nested elements kept)."""
    head = {"ToUserName": to_user, "FromUserName": from_user, "CreateTime": create_time or int(time.time()),
            "MsgType": msg_type}
    return "<xml>" + "".join(_element(k, v) for k, v in {**head, **fields}.items()) + "</xml>"


def signature(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted parts joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 (WeChat's algorithm)


def sign_request(account: AccountSettings, xml: str, openid: str) -> tuple[dict[str, str], str]:
    """The query string and body WeChat would send for `xml` (encrypted in safe mode)."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    query = {"signature": signature(account.token, timestamp, nonce), "timestamp": timestamp,
             "nonce": nonce, "openid": openid}
    if not account.safe_mode:
        return query, xml
    key = base64.b64decode(account.encoding_aes_key + "=")
    encrypt = PrpCrypto(key).encrypt(xml, account.app_id)
    encrypt = encrypt.decode() if isinstance(encrypt, bytes) else encrypt
    query.update(encrypt_type="aes", msg_signature=signature(account.token, timestamp, nonce, encrypt))
    to_user = cdata(rules.gh_id(account.app_id))
    body = f"<xml><ToUserName>{to_user}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    return query, body


def deliver(account: AccountSettings, url: str, xml: str, openid: str, *, tries: int = TRIES,
            timeout: float = TIMEOUT) -> PushResult:
    """POST `xml` to the webhook like WeChat: up to `tries` times on timeouts, then read the reply."""
    result = PushResult()
    for attempt in range(1, tries + 1):
        result.tries = attempt
        query, body = sign_request(account, xml, openid)
        try:
            resp = requests.post(f"{url}?{urlencode(query)}", data=body.encode("utf-8"), timeout=timeout,
                                 headers={"Content-Type": "text/xml; charset=utf-8", "User-Agent": "Mozilla/4.0"})
        except requests.Timeout:
            result.error, result.detail = "timeout", f"no answer within {timeout:g} s"
            continue
        except requests.RequestException as exc:
            result.error, result.detail = "timeout", f"connection failed: {type(exc).__name__}"
            continue
        result.status = resp.status_code
        if resp.status_code != 200:
            result.error, result.detail = "http", f"HTTP {resp.status_code}"
            return result
        result.error = ""
        read_reply(account, resp.content[:REPLY_MAX], openid, result)
        return result
    return result


def read_reply(account: AccountSettings, raw: bytes, openid: str, result: PushResult) -> None:
    """Verify and decode a passive reply into `result.messages` (or set `result.error`)."""
    text = raw.decode("utf-8", errors="replace").strip()
    if text in ("", "success"):
        return
    try:
        doc = xmltodict.parse(text)["xml"]
        if account.safe_mode:
            doc = _decrypt(account, text, doc)
        _check_addressing(account, doc, openid)
        result.messages.extend(_messages(doc))
    except Exception as exc:  # anything unreadable is what WeChat calls an invalid reply
        result.error, result.detail = "invalid_reply", f"{type(exc).__name__}: {exc}"[:200]


def _decrypt(account: AccountSettings, text: str, doc: dict[str, Any]) -> dict[str, Any]:
    if "Encrypt" not in doc:
        raise ValueError("safe mode: the reply is not encrypted")
    crypto = WeChatCrypto(account.token, account.encoding_aes_key, account.app_id)
    plain = crypto.decrypt_message(text, doc.get("MsgSignature", ""), doc.get("TimeStamp", ""), doc.get("Nonce", ""))
    return xmltodict.parse(plain)["xml"]


def _check_addressing(account: AccountSettings, doc: dict[str, Any], openid: str) -> None:
    if doc.get("ToUserName") != openid:
        raise ValueError(f"ToUserName {doc.get('ToUserName')!r} is not the sender")
    if doc.get("FromUserName") != rules.gh_id(account.app_id):
        raise ValueError(f"FromUserName {doc.get('FromUserName')!r} is not the account's id")


def _messages(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    kind = doc.get("MsgType")
    if kind == "text":
        content = doc.get("Content") or ""
        if not content:
            raise ValueError("empty text reply")
        return [("text", {"content": content})]
    if kind == "news":
        items = (doc.get("Articles") or {}).get("item") or []
        items = items if isinstance(items, list) else [items]
        if not items or len(items) > 8:
            raise ValueError("news reply needs 1 to 8 articles")
        articles = [{"title": i.get("Title") or "", "description": i.get("Description") or "",
                     "picurl": i.get("PicUrl") or "", "url": i.get("Url") or ""} for i in items]
        return [("news", {"articles": articles})]
    if kind in ("image", "voice", "video", "music"):
        return [(kind, {k.lower(): v for k, v in (doc.get(kind.capitalize()) or {}).items()})]
    if kind == "transfer_customer_service":
        return [("transfer", {})]
    raise ValueError(f"unknown reply MsgType {kind!r}")
