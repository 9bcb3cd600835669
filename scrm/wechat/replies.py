"""Passive replies: what a handler returns (`TextReply`, `NewsReply`) and the XML we build for it.

Every user-visible string goes through `cdata()`, which removes characters XML cannot carry and
splits any `]]>` across two CDATA sections, so no text can break out of its element.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrm.wechat.inbound import Inbound

SUCCESS = "success"
TEXT_LIMIT_BYTES = 2048
MAX_ARTICLES = 8
_ELLIPSIS = "…"
# Characters outside XML 1.0 (C0 controls except tab/newline/CR, lone surrogates, U+FFFE/U+FFFF).
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class TextReply:
    """A text reply (a bubble in the chat)."""

    content: str


@dataclass(frozen=True)
class Article:
    """One card of a news reply."""

    title: str
    description: str = ""
    url: str = ""
    pic_url: str = ""


@dataclass(frozen=True)
class NewsReply:
    """A news reply: one card when answering a message, up to eight otherwise."""

    articles: tuple[Article, ...]


Reply = TextReply | NewsReply


def clean(text: str) -> str:
    """`text` without characters that XML 1.0 cannot carry."""
    return _INVALID_XML.sub("", text)


def cdata(text: str) -> str:
    """`text` as CDATA that cannot be broken out of: `]]>` is split across two sections."""
    return "<![CDATA[" + clean(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


def truncate_bytes(text: str, limit: int = TEXT_LIMIT_BYTES) -> str:
    """`text` cut to at most `limit` UTF-8 bytes at a character boundary, marked with an ellipsis."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(_ELLIPSIS.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + _ELLIPSIS


def articles_for(reply: NewsReply, answering_message: bool) -> tuple[Article, ...]:
    """The articles WeChat will accept: 1 when answering a message, else at most 8."""
    return reply.articles[: 1 if answering_message else MAX_ARTICLES]


def to_xml(reply: Reply, *, to_user: str, from_user: str, answering_message: bool,
           create_time: int | None = None) -> str:
    """The passive-reply XML for `reply`, addressed to `to_user` from the account `from_user`."""
    head = (f"<xml><ToUserName>{cdata(to_user)}</ToUserName><FromUserName>{cdata(from_user)}</FromUserName>"
            f"<CreateTime>{int(time.time()) if create_time is None else create_time}</CreateTime>")
    if isinstance(reply, TextReply):
        text = truncate_bytes(clean(reply.content))
        return head + f"<MsgType><![CDATA[text]]></MsgType><Content>{cdata(text)}</Content></xml>"
    items = articles_for(reply, answering_message)
    body = "".join(
        f"<item><Title>{cdata(a.title)}</Title><Description>{cdata(a.description)}</Description>"
        f"<PicUrl>{cdata(a.pic_url)}</PicUrl><Url>{cdata(a.url)}</Url></item>"
        for a in items
    )
    return head + (f"<MsgType><![CDATA[news]]></MsgType><ArticleCount>{len(items)}</ArticleCount>"
                   f"<Articles>{body}</Articles></xml>")


def answer_xml(reply: Reply | None, msg: Inbound) -> str:
    """The passive-reply body answering push `msg`: the reply's XML, or `success` when there is none."""
    if reply is None:
        return SUCCESS
    return to_xml(reply, to_user=msg.openid, from_user=msg.to_user, answering_message=msg.is_message)


def to_custom_payload(reply: Reply) -> dict[str, Any]:
    """The customer-service message body (without `touser`) carrying the same reply."""
    if isinstance(reply, TextReply):
        return {"msgtype": "text", "text": {"content": truncate_bytes(clean(reply.content))}}
    # Customer-service news carries exactly one article (more gives 45008).
    a = reply.articles[0]
    return {"msgtype": "news", "news": {"articles": [
        {"title": clean(a.title), "description": clean(a.description), "url": a.url, "picurl": a.pic_url}]}}


def describe(reply: Reply | None) -> tuple[str, str]:
    """(msg_type, content) of a reply for the message log."""
    if reply is None:
        return "none", ""
    if isinstance(reply, TextReply):
        return "text", reply.content
    return "news", " | ".join(f"{a.title} {a.url}".strip() for a in reply.articles)
