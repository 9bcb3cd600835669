"""cgi-bin/message/custom/send (WECHAT.md 4.3) and cgi-bin/message/template/send (4.2)."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify

from scrm.sandbox import rules, state
from scrm.sandbox.api_common import authed, bp, json_body, ok, openid_arg, settings, utf8_len
from scrm.sandbox.entities import AppState, Follower, Template
from scrm.sandbox.events import push_event_later

# msgtype -> the fields its object must carry (WeChat answers 47001 / 40007 when they are missing).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "image": ("media_id",), "voice": ("media_id",), "video": ("media_id",), "mpnews": ("media_id",),
    "mpnewsarticle": ("article_id",), "wxcard": ("card_id",),
    "music": ("musicurl", "hqmusicurl", "thumb_media_id"),
    "miniprogrampage": ("title", "appid", "pagepath", "thumb_media_id"),
}
_KEY_TYPE = re.compile(r"^([a-z_]+?)\d*$")


def _object(body: dict[str, Any], msgtype: str) -> dict[str, Any]:
    obj = body.get(msgtype)
    if not isinstance(obj, dict):
        raise rules.ApiError(47001)
    return obj


def validate_custom(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The message type and its object, checked as WeChat checks them."""
    msgtype = body.get("msgtype")
    if msgtype not in rules.CS_MSGTYPES:
        raise rules.ApiError(40008)
    obj = _object(body, msgtype)
    if msgtype == "text":
        content = obj.get("content")
        if not isinstance(content, str) or not content:
            raise rules.ApiError(44004)
        if utf8_len(content) > rules.CS_TEXT_MAX_BYTES:
            raise rules.ApiError(45002)
    elif msgtype == "news":
        articles = obj.get("articles")
        if not isinstance(articles, list) or not articles:
            raise rules.ApiError(47001)
        if len(articles) != 1:
            raise rules.ApiError(45008)
        if not isinstance(articles[0], dict) or not articles[0].get("title"):
            raise rules.ApiError(47001)
    elif msgtype == "msgmenu":
        items = obj.get("list")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) and i.get("content")
                                                               for i in items):
            raise rules.ApiError(47001)
    else:
        for name in _REQUIRED.get(msgtype, ()):
            if not obj.get(name):
                raise rules.ApiError(40007 if name.endswith("media_id") else 47001)
    return msgtype, obj


def take_allowance(f: Follower) -> None:
    """Use one customer-service message of the follower's open allowances (45015 none open, 45047 used up)."""
    at = state.now()
    open_grants = [g for g in f.grants.values() if at - g.at <= g.window]
    if not open_grants:
        raise rules.ApiError(45015)
    available = [g for g in open_grants if g.used < g.limit]
    if not available:
        raise rules.ApiError(45047)
    min(available, key=lambda g: g.at + g.window).used += 1


@bp.post("/cgi-bin/message/custom/send")
def custom_send() -> Response:
    """A customer-service message, allowed only inside the follower's 48-hour / 1-minute allowance."""
    st = authed("custom_send")
    body = json_body()
    with state.LOCK:
        openid = openid_arg(st, body.get("touser"))
        msgtype, obj = validate_custom(body)
        f = st.followers[openid]
        if not f.subscribed:
            raise rules.ApiError(43004)
        take_allowance(f)
        state.record(st, openid, "custom", msgtype, obj)
    return ok()


def _check_values(template: Template, data: dict[str, Any]) -> None:
    for key in template.keywords():
        item = data.get(key)
        if item is None:
            continue
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str):
            raise rules.ApiError(47003, f"data.{key}.value invalid")
        match = _KEY_TYPE.match(key)
        limit = rules.TEMPLATE_VALUE_LIMITS.get(match.group(1) if match else "", 200)
        if len(value) > limit:
            raise rules.ApiError(47003, f"data.{key}.value exceeds {limit} characters")


def render_fields(template: Template, data: dict[str, Any]) -> list[dict[str, str]]:
    """The card the phone shows: one (label, value) per line of the template's content."""
    fields = []
    for line in template.content.splitlines():
        m = re.search(r"\{\{(\w+)\.DATA\}\}", line)
        if not m:
            continue
        label = line[:m.start()].rstrip(":： ")
        item = data.get(m.group(1))
        value = item.get("value", "") if isinstance(item, dict) else ""
        fields.append({"key": m.group(1), "label": label, "value": str(value)})
    return fields


def _template_and_follower(st: AppState, body: dict[str, Any]) -> tuple[Template, Follower]:
    touser = body.get("touser")
    if not isinstance(touser, str) or touser not in st.followers:
        raise rules.ApiError(40003)
    template = st.templates.get(str(body.get("template_id") or ""))
    if template is None:
        raise rules.ApiError(40037)
    data = body.get("data", {})
    if not isinstance(data, dict):
        raise rules.ApiError(47001)
    _check_values(template, data)
    f = st.followers[touser]
    if not f.subscribed:
        raise rules.ApiError(43004)
    return template, f


@bp.post("/cgi-bin/message/template/send")
def template_send() -> Response:
    """A template message; TEMPLATESENDJOBFINISH follows on the webhook about 0.2 s later."""
    st = authed("template_send")
    body = json_body()
    with state.LOCK:
        template, f = _template_and_follower(st, body)
        client_msg_id = body.get("client_msg_id")
        at = state.now()
        if client_msg_id:
            seen = st.template_dedupe.get((f.openid, str(client_msg_id)))
            if seen and at - seen[1] < rules.TEMPLATE_DEDUPE_SECONDS:
                return ok(msgid=seen[0])   # the same client_msg_id within 10 minutes sends once
        msgid = state.next_msgid()
        if client_msg_id:
            st.template_dedupe[(f.openid, str(client_msg_id))] = (msgid, at)
        data = body.get("data", {})
        if f.blocks_templates:
            status = "failed:user block"
        else:
            status = "success"
            state.record(st, f.openid, "template", "template",
                         {"template_id": template.template_id, "title": template.title,
                          "url": body.get("url") or "", "miniprogram": body.get("miniprogram") or {},
                          "data": data, "fields": render_fields(template, data)}, msgid=msgid)
        acc = settings().account_by_app_id(st.app_id)
        assert acc is not None
        push_event_later(settings(), acc, st, f.openid,
                         {"Event": "TEMPLATESENDJOBFINISH", "MsgID": msgid, "Status": status})
    return ok(msgid=msgid)


@bp.get("/cgi-bin/template/get_all_private_template")
def template_list() -> Response:
    """The account's templates ("my templates"), as the product discovers template ids."""
    st = authed("template_list")
    with state.LOCK:
        items = [{"template_id": t.template_id, "title": t.title, "primary_industry": t.primary_industry,
                  "deputy_industry": t.deputy_industry, "content": t.content, "example": t.example}
                 for t in st.templates.values()]
    return jsonify(template_list=items)
