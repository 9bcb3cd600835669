"""What a phone does: turn a user action into the XML WeChat would push, push it, record what shows.

Interactions are recorded in the fake platform's follower state BEFORE the push, as WeChat does, so
a customer-service message the webhook sends right away finds its 48-hour / 1-minute window open.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from scrm.config import AccountSettings, Settings
from scrm.sandbox import push, rules, state
from scrm.sandbox.api_qrcode import create_ticket, find_ticket
from scrm.sandbox.entities import AppState, Follower, QrTicket
from scrm.sandbox.events import webhook_url

TEXT_MAX = 2048
_locks: dict[tuple[str, str], threading.Lock] = {}


class PhoneError(Exception):
    """The action is not possible on a real phone (e.g. chatting without following); `code` names why."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class Inbound:
    """One push: its MsgType, fields, the interaction it opens, and what the user's screen shows."""

    msg_type: str
    fields: dict[str, Any]
    interaction: str | None
    shown: tuple[str, str, dict[str, Any]] | None      # (via, msgtype, body) of the user's own entry
    reply_shown: bool = True


def _lock(app_id: str, openid: str) -> threading.Lock:
    with state.LOCK:
        return _locks.setdefault((app_id, openid), threading.Lock())


def _msg_id() -> int:
    return 6_000_000_000_000_000_000 + secrets.randbelow(10**18)


def _menu_button(st: AppState, kind: str, value: str) -> dict[str, Any] | None:
    field = "url" if kind == "view" else "key"
    for b in st.menu or []:
        for item in [b, *b.get("sub_button", [])]:
            if item.get("type") == kind and item.get(field) == value:
                return item
    return None


def _scene_ticket(st: AppState, scene: str) -> QrTicket:
    """A permanent ticket for a scene configured in the admin (created on the fake platform)."""
    body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}}
    try:
        return create_ticket(st, body)
    except rules.ApiError as exc:
        raise PhoneError("bad_scene") from exc


def _follow(st: AppState, f: Follower, ticket: QrTicket | None) -> Inbound:
    if f.subscribed:
        raise PhoneError("already_following")
    fields: dict[str, Any] = {"Event": "subscribe"}
    if ticket is not None:
        fields.update(EventKey="qrscene_" + ticket.scene, Ticket=ticket.ticket)
        state.subscribe(st, f.openid, scene="ADD_SCENE_QR_CODE", qr_scene=ticket.scene_id,
                        qr_scene_str=ticket.scene_str)
    else:
        fields["EventKey"] = ""
        state.subscribe(st, f.openid, scene="ADD_SCENE_SEARCH")
    note = {"code": "followed", "scene": ticket.scene if ticket else ""}
    return Inbound("event", fields, None, ("system", "notice", note))


def _scan(st: AppState, f: Follower, ref: str) -> Inbound:
    found = find_ticket(ref)
    if found is None or found[0] != st.app_id:
        raise PhoneError("qr_expired")
    ticket = found[1]
    if not f.subscribed:
        return _follow(st, f, ticket)
    note = {"code": "scanned", "scene": ticket.scene}
    return Inbound("event", {"Event": "SCAN", "EventKey": ticket.scene, "Ticket": ticket.ticket}, "scan",
                   ("system", "notice", note))


def _inbound(st: AppState, f: Follower, action: str, p: dict[str, Any]) -> Inbound:
    if action == "follow":
        scene = str(p.get("scene") or "")
        return _follow(st, f, _scene_ticket(st, scene) if scene else None)
    if action == "scan":
        return _scan(st, f, str(p.get("ticket") or ""))
    if not f.subscribed:
        raise PhoneError("follow_first")
    if action == "unfollow":
        state.unsubscribe(st, f.openid)
        return Inbound("event", {"Event": "unsubscribe", "EventKey": ""}, None,
                       ("system", "notice", {"code": "unfollowed"}), reply_shown=False)
    if action == "text":
        content = str(p.get("content") or "").strip()
        if not content or len(content) > TEXT_MAX:
            raise PhoneError("bad_text")
        return Inbound("text", {"Content": content, "MsgId": _msg_id()}, "message",
                       ("user", "text", {"content": content}))
    if action == "location":
        try:
            lat, lng = float(p["latitude"]), float(p["longitude"])
        except (KeyError, TypeError, ValueError) as exc:
            raise PhoneError("bad_location") from exc
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise PhoneError("bad_location")
        label = str(p.get("label") or "")[:100]
        fields = {"Location_X": round(lat, 6), "Location_Y": round(lng, 6), "Scale": 15, "Label": label,
                  "MsgId": _msg_id()}
        return Inbound("location", fields, "message",
                       ("user", "location", {"latitude": lat, "longitude": lng, "label": label}))
    if action in ("click", "view"):
        value = str(p.get("url" if action == "view" else "key") or "")
        button = _menu_button(st, action, value)
        if button is None:
            raise PhoneError("not_in_menu")
        if action == "click":
            return Inbound("event", {"Event": "CLICK", "EventKey": value}, "click",
                           ("user", "click", {"name": button.get("name", "")}))
        return Inbound("event", {"Event": "VIEW", "EventKey": value, "MenuId": 400_000_000 + st.menu_id}, None,
                       None, reply_shown=False)
    raise PhoneError("unknown_action")


def act(settings: Settings, account: AccountSettings, openid: str, action: str,
        params: dict[str, Any]) -> list[dict[str, Any]]:
    """Perform `action` for the phone user `openid`; return the chat entries it produced."""
    st = state.app(account.app_id)
    with _lock(account.app_id, openid):
        first_id = state.next_id()
        with state.LOCK:
            f = state.follower(st, openid)
            if f is None:
                raise PhoneError("unknown_person")
            inbound = _inbound(st, f, action, params)
            if inbound.interaction:
                state.interact(st.app_id, openid, inbound.interaction)
            create_time = max(int(state.now()), f.last_create_time + 1)
            f.last_create_time = create_time
            if inbound.shown:
                state.record(st, openid, *inbound.shown)
        xml = push.build_xml(rules.gh_id(account.app_id), openid, inbound.msg_type, inbound.fields, create_time)
        result = push.deliver(account, webhook_url(settings, account, st), xml, openid)
        if result.error:
            state.record(st, openid, "system", "notice",
                         {"code": "unavailable", "error": result.error, "detail": result.detail})
        elif inbound.reply_shown:
            for msgtype, body in result.messages:
                state.record(st, openid, "reply", msgtype, body)
    return state.chat_for(account.app_id, openid, after=first_id)


def new_person(account: AccountSettings, label: str = "") -> str:
    """A phone user WeChat knows (not following yet); returns the new openid."""
    openid = rules.new_openid()
    state.ensure_follower(state.app(account.app_id), openid, label=label[:32])
    return openid
