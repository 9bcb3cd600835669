"""Messages staff write for campaigns and journeys: their shape per channel, checks, and rendering.

A message is `{"kind": "text"|"news", "text": ..., "news": {"title", "description", "url", "picurl"},
"template": {"template_id", "url", "fields": {keyword: text}}}`; every text is a template of
scrm.services.compose_env. What a channel needs:

* custom: the text or the news article (customer-service message);
* template: the template part (template message);
* auto: both (customer-service inside the 48-hour window, the template otherwise); without a template it
  reaches only those whose window is open (the campaign dry run says how many);
* mass: the text (a mass send by tag carries text only here: news needs a WeChat draft).

Limits are WeChat's (WECHAT.md 3, 4.2, 4.3): text 2048 bytes, news title 64 and description 120
characters, template values by keyword type (thing 20, name 10, ...), URLs 1024 bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from scrm.models import CampaignChannel
from scrm.services import compose_env
from scrm.services.errors import Invalid

TEXT_MAX_BYTES = 2048
NEWS_TITLE_MAX = 64
NEWS_DESCRIPTION_MAX = 120
URL_MAX_BYTES = 1024
TEMPLATE_VALUE_LIMITS: dict[str, int] = {
    "thing": 20, "number": 32, "letter": 32, "symbol": 5, "character_string": 32, "time": 32, "date": 32,
    "amount": 32, "phone_number": 17, "car_number": 8, "name": 10, "phrase": 5, "const": 20,
}
TEMPLATE_VALUE_DEFAULT = 200
_KEY = re.compile(r"^[a-z_]+\d*$")
_KEY_TYPE = re.compile(r"^([a-z_]+?)\d*$")
_URL = re.compile(r"https?://[^\s<>\"'，。）)]+")
Linker = Callable[[str], str]


def _text(raw: Any, limit: int = compose_env.MAX_SOURCE) -> str:
    return str(raw or "").replace("\r\n", "\n").strip()[:limit]


def _checked(text: str, field: str) -> str:
    problem = compose_env.check(text)
    if problem is not None:
        raise Invalid(problem.message, field=field, **problem.params)
    return text


def normalise(message: Any, channel: CampaignChannel) -> dict[str, Any]:
    """A checked copy of `message` for `channel`; raises Invalid naming the field at fault."""
    if not isinstance(message, dict):
        raise Invalid("Write the message.", field="text")
    kind = "news" if message.get("kind") == "news" and channel != CampaignChannel.MASS else "text"
    out: dict[str, Any] = {"kind": kind}
    needs_custom = channel in (CampaignChannel.AUTO, CampaignChannel.CUSTOM, CampaignChannel.MASS)
    needs_template = channel in (CampaignChannel.AUTO, CampaignChannel.TEMPLATE)
    if needs_custom:
        if kind == "text":
            out["text"] = _checked(_text(message.get("text")), "text")
            if not out["text"]:
                raise Invalid("Write the message text.", field="text")
        else:
            news: dict[str, Any] = message["news"] if isinstance(message.get("news"), dict) else {}
            out["news"] = {k: _checked(_text(news.get(k), 1024), f"news_{k}")
                           for k in ("title", "description", "url", "picurl")}
            if not out["news"]["title"] or not out["news"]["url"]:
                raise Invalid("A news article needs a title and a link.", field="news_title")
    tpl: dict[str, Any] = message["template"] if isinstance(message.get("template"), dict) else {}
    if channel == CampaignChannel.AUTO and not str(tpl.get("template_id") or "").strip() \
            and not any(str(v).strip() for v in (tpl.get("fields") or {}).values()):
        needs_template = False   # text only: sent to those whose 48-hour window is open, skipped for the rest
    if needs_template:
        template_id = _text(tpl.get("template_id"), 64)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", template_id):
            raise Invalid("Choose the template message to use.", field="template_id")
        fields_in: dict[str, Any] = tpl["fields"] if isinstance(tpl.get("fields"), dict) else {}
        fields = {}
        for key, value in fields_in.items():
            key = str(key).strip()
            if not _KEY.match(key):
                raise Invalid("Unknown template field %(name)s.", field="template_fields", name=key[:40])
            text = _checked(_text(value, 500), f"template_{key}")
            if text:
                fields[key] = text
        if not fields:
            raise Invalid("Fill in the template's fields.", field="template_fields")
        out["template"] = {"template_id": template_id, "url": _checked(_text(tpl.get("url"), 1024), "template_url"),
                           "fields": fields}
    return out


def _linked(text: str, link: Linker | None) -> str:
    return _URL.sub(lambda m: link(m.group(0)), text) if link else text


def render(message: dict[str, Any], channel: CampaignChannel, ctx: dict[str, Any],
           link: Linker | None = None) -> dict[str, Any]:
    """The outbox payload for one recipient: the channel's body (AUTO: {"custom", "template"})."""
    custom: dict[str, Any] | None = None
    template: dict[str, Any] | None = None
    if "news" in message:
        n = message["news"]
        custom = {"msgtype": "news", "news": {"articles": [{
            "title": compose_env.render(n["title"], ctx), "description": compose_env.render(n["description"], ctx),
            "url": _linked(compose_env.render(n["url"], ctx), link),
            "picurl": compose_env.render(n["picurl"], ctx)}]}}
    elif "text" in message:
        custom = {"msgtype": "text", "text": {"content": _linked(compose_env.render(message["text"], ctx), link)}}
    if "template" in message:
        t = message["template"]
        template = {"template_id": t["template_id"],
                    "data": {k: {"value": compose_env.render(v, ctx)} for k, v in t["fields"].items()}}
        url = _linked(compose_env.render(t["url"], ctx), link) if t.get("url") else ""
        if url:
            template["url"] = url
    if channel == CampaignChannel.AUTO:
        return {"custom": custom, "template": template}
    if channel == CampaignChannel.TEMPLATE:
        return template or {}
    return custom or {}


def problems(payload: dict[str, Any], channel: CampaignChannel) -> list[tuple[str, dict[str, object]]]:
    """WeChat's limits a rendered payload breaks: (English msgid, params) each."""
    out: list[tuple[str, dict[str, object]]] = []
    parts = [payload.get("custom"), payload.get("template")] if channel == CampaignChannel.AUTO else [payload]
    for part in parts:
        if not isinstance(part, dict):
            continue
        if part.get("msgtype") == "text":
            size = len(part["text"]["content"].encode())
            if size > TEXT_MAX_BYTES:
                out.append(("The text is %(n)s bytes; WeChat allows %(max)s.", {"n": size, "max": TEXT_MAX_BYTES}))
            if not part["text"]["content"].strip():
                out.append(("The text is empty for this customer.", {}))
        if part.get("msgtype") == "news":
            art = part["news"]["articles"][0]
            if len(art["title"]) > NEWS_TITLE_MAX:
                out.append(("The title has %(n)s characters; at most %(max)s.", {"n": len(art["title"]),
                                                                                  "max": NEWS_TITLE_MAX}))
            if len(art["description"]) > NEWS_DESCRIPTION_MAX:
                out.append(("The description has %(n)s characters; at most %(max)s.",
                            {"n": len(art["description"]), "max": NEWS_DESCRIPTION_MAX}))
            if len(art["url"].encode()) > URL_MAX_BYTES:
                out.append(("The link is longer than %(max)s bytes.", {"max": URL_MAX_BYTES}))
        if "template_id" in part:
            for key, item in part["data"].items():
                m = _KEY_TYPE.match(key)
                limit = TEMPLATE_VALUE_LIMITS.get(m.group(1) if m else "", TEMPLATE_VALUE_DEFAULT)
                if len(item["value"]) > limit:
                    out.append(("Template field %(key)s has %(n)s characters; at most %(max)s.",
                                {"key": key, "n": len(item["value"]), "max": limit}))
                if not item["value"]:
                    out.append(("Template field %(key)s is empty for this customer.", {"key": key}))
    return out


def urls(message: dict[str, Any]) -> list[str]:
    """The fixed links written in a message (tracked through the click redirect)."""
    found: list[str] = []
    sources = [message.get("text", ""), (message.get("news") or {}).get("url", ""),
               (message.get("template") or {}).get("url", "")]
    for src in sources:
        found.extend(m.group(0) for m in _URL.finditer(str(src or "")) if "{" not in m.group(0))
    return list(dict.fromkeys(found))
