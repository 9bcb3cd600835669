"""cgi-bin/menu/create|get|delete and get_current_selfmenu_info, validated as WeChat does (4.6)."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from flask import Response, jsonify

from scrm.sandbox import rules, state
from scrm.sandbox.api_common import authed, bp, json_body, ok, utf8_len

_FIELDS = ("type", "name", "key", "url", "media_id", "article_id", "appid", "pagepath")
# (top-level errcode, sub-button errcode) per problem
_TYPE, _NAME, _KEY, _URL, _DOMAIN = (40017, 40024), (40018, 40025), (40019, 40026), (40020, 40027), (40055, 40054)


def _fail(codes: tuple[int, int], sub: bool) -> rules.ApiError:
    return rules.ApiError(codes[1] if sub else codes[0])


def _check_url(url: Any, sub: bool) -> None:
    if not isinstance(url, str) or not 0 < utf8_len(url) <= rules.MENU_URL_BYTES:
        raise _fail(_URL, sub)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(_DOMAIN, sub)


def _check_leaf(b: dict[str, Any], sub: bool) -> dict[str, Any]:
    kind = b.get("type")
    if kind not in rules.MENU_TYPES:
        raise _fail(_TYPE, sub)
    if kind in rules.MENU_KEY_TYPES:
        key = b.get("key")
        if not isinstance(key, str) or not 0 < utf8_len(key) <= rules.MENU_KEY_BYTES:
            raise _fail(_KEY, sub)
    elif kind in ("view", "miniprogram"):
        _check_url(b.get("url"), sub)
        if kind == "miniprogram" and not (b.get("appid") and b.get("pagepath")):
            raise rules.ApiError(47001)
    elif kind in ("media_id", "view_limited"):
        if not b.get("media_id"):
            raise rules.ApiError(40007)
    elif not b.get("article_id"):
        raise rules.ApiError(47001)
    return {k: b[k] for k in _FIELDS if k in b}


def _check_name(b: dict[str, Any], sub: bool) -> None:
    name = b.get("name")
    limit = rules.MENU_SUB_NAME_BYTES if sub else rules.MENU_TOP_NAME_BYTES
    if not isinstance(name, str) or not 0 < utf8_len(name) <= limit:
        raise _fail(_NAME, sub)


def validate_menu(buttons: Any) -> list[dict[str, Any]]:
    """The menu as stored, or the ApiError WeChat answers for the first problem found."""
    if not isinstance(buttons, list):
        raise rules.ApiError(47001)
    if not 0 < len(buttons) <= rules.MENU_TOP_MAX:
        raise rules.ApiError(40016)
    out = []
    for b in buttons:
        if not isinstance(b, dict):
            raise rules.ApiError(47001)
        _check_name(b, sub=False)
        subs = b.get("sub_button")
        if not subs:
            out.append(_check_leaf(b, sub=False))
            continue
        if not isinstance(subs, list) or len(subs) > rules.MENU_SUB_MAX:
            raise rules.ApiError(40023)
        checked = []
        for s in subs:
            if not isinstance(s, dict):
                raise rules.ApiError(47001)
            if s.get("sub_button"):
                raise rules.ApiError(40022)
            _check_name(s, sub=True)
            checked.append(_check_leaf(s, sub=True))
        out.append({"name": b["name"], "sub_button": checked})
    return out


@bp.post("/cgi-bin/menu/create")
def menu_create() -> Response:
    """Replace the account's menu."""
    st = authed("menu_create")
    body = json_body(strict_charset=True)
    buttons = validate_menu(body.get("button"))
    with state.LOCK:
        st.menu = buttons
        st.menu_id += 1
    return ok()


def _with_empty_subs(buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(buttons)
    for b in out:
        b.setdefault("sub_button", [])
        for s in b["sub_button"]:
            s["sub_button"] = []
    return out


@bp.get("/cgi-bin/menu/get")
def menu_get() -> Response:
    """The menu in force, in menu/get's shape (46003 when there is none)."""
    st = authed("menu_get")
    with state.LOCK:
        if st.menu is None:
            raise rules.ApiError(46003)
        return jsonify(menu={"button": _with_empty_subs(st.menu), "menuid": 400_000_000 + st.menu_id})


@bp.get("/cgi-bin/menu/delete")
def menu_delete() -> Response:
    """Remove the menu (succeeds when there is none, as WeChat's does)."""
    st = authed("menu_delete")
    with state.LOCK:
        st.menu = None
    return ok()


@bp.get("/cgi-bin/get_current_selfmenu_info")
def selfmenu_info() -> Response:
    """The menu in force in the older selfmenu shape (sub-buttons under {"list": [...]})."""
    st = authed("menu_get")
    with state.LOCK:
        menu = copy.deepcopy(st.menu or [])
    buttons = [{"name": b["name"], "sub_button": {"list": b["sub_button"]}} if "sub_button" in b else b
               for b in menu]
    return jsonify(is_menu_open=1 if st.menu else 0, selfmenu_info={"button": buttons})
