"""cgi-bin/qrcode/create and cgi-bin/showqrcode (WECHAT.md 4.7): real, scannable PNGs made with segno."""

from __future__ import annotations

import base64
import io
import secrets
import struct
from typing import Any

import segno
from flask import Response, abort, jsonify, request

from scrm.sandbox import rules, state
from scrm.sandbox.api_common import authed, bp, json_body
from scrm.sandbox.entities import AppState, QrTicket

QR_IMAGE_SCALE = 10      # about 430 px wide for a typical ticket URL, like WeChat's images
QR_ERROR_LEVEL = "m"


def qr_png(url: str) -> bytes:
    """The PNG of the QR code encoding `url`."""
    buf = io.BytesIO()
    segno.make(url, error=QR_ERROR_LEVEL, micro=False).save(buf, kind="png", scale=QR_IMAGE_SCALE, border=4)
    return buf.getvalue()


def _new_ticket(scene_id: int, scene_str: str, expire: int | None) -> tuple[str, str]:
    url = "http://weixin.qq.com/q/" + secrets.token_urlsafe(16)
    raw = b"\x81\x01" + secrets.token_bytes(6) + b"," + url.encode() + struct.pack(">I", expire or 0)
    return base64.b64encode(raw).decode(), url


def _scene(action: str, info: Any) -> tuple[int, str]:
    scene = info.get("scene") if isinstance(info, dict) else None
    if not isinstance(scene, dict):
        raise rules.ApiError(40053)
    if action.endswith("STR_SCENE"):
        value = scene.get("scene_str")
        if not isinstance(value, str) or not 0 < len(value) <= rules.QR_SCENE_STR_MAX:
            raise rules.ApiError(40053, "scene_str must be 1-64 characters")
        return 0, value
    value = scene.get("scene_id")
    top = rules.QR_PERMANENT_MAX_ID if action == "QR_LIMIT_SCENE" else 0xFFFFFFFF
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= top:
        raise rules.ApiError(40053, f"scene_id must be 1-{top}")
    return value, ""


def _expire(action: str, body: dict[str, Any]) -> int | None:
    if action.startswith("QR_LIMIT"):
        return None
    value = body.get("expire_seconds", rules.QR_TEMP_DEFAULT_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= rules.QR_TEMP_MAX_SECONDS:
        raise rules.ApiError(40053, "expire_seconds must be 1-2592000")
    return value


def create_ticket(st: AppState, body: dict[str, Any]) -> QrTicket:
    """Validate a qrcode/create body and return the (new or, for a permanent scene, existing) ticket."""
    action = body.get("action_name")
    if action not in rules.QR_ACTIONS:
        raise rules.ApiError(40052)
    scene_id, scene_str = _scene(action, body.get("action_info"))
    expire = _expire(action, body)
    with state.LOCK:
        if expire is None:
            for t in st.tickets.values():   # a permanent scene always has the same ticket
                if t.permanent and t.scene_id == scene_id and t.scene_str == scene_str:
                    return t
        ticket, url = _new_ticket(scene_id, scene_str, expire)
        qr = QrTicket(ticket=ticket, url=url, permanent=expire is None, scene_id=scene_id, scene_str=scene_str,
                      expires_at=None if expire is None else state.now() + expire)
        st.tickets[ticket] = qr
        return qr


@bp.post("/cgi-bin/qrcode/create")
def qrcode_create() -> Response:
    """A parametric QR code: temporary (QR_SCENE, QR_STR_SCENE) or permanent (QR_LIMIT_*)."""
    st = authed("qrcode_create")
    qr = create_ticket(st, json_body())
    body: dict[str, Any] = {"ticket": qr.ticket, "url": qr.url}
    if qr.expires_at is not None:
        body["expire_seconds"] = max(0, round(qr.expires_at - state.now()))
    return jsonify(body)


def find_ticket(ticket: str) -> tuple[str, QrTicket] | None:
    """(app id, ticket) for a ticket or its URL that has not expired."""
    with state.LOCK:
        for st in state._apps.values():
            for t in st.tickets.values():
                if ticket in (t.ticket, t.url):
                    if t.expires_at is not None and t.expires_at <= state.now():
                        return None
                    return st.app_id, t
    return None


@bp.get("/cgi-bin/showqrcode")
def showqrcode() -> Response:
    """The QR image of a ticket (no access token needed, as on mp.weixin.qq.com)."""
    found = find_ticket(request.args.get("ticket", ""))
    if found is None:
        abort(404)
    resp = Response(qr_png(found[1].url), mimetype="image/png")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp
