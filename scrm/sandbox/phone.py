"""The phone simulator: the chat page and the JSON API its script calls (/sandbox/phone/...)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from flask_babel import get_locale

from scrm.config import AccountSettings, Settings
from scrm.sandbox import rules, state
from scrm.sandbox.api_qrcode import find_ticket
from scrm.sandbox.phone_text import js_strings
from scrm.sandbox.scenes import scenes_for
from scrm.sandbox.simulate import PhoneError, act, new_person

bp = Blueprint("sandbox_phone", __name__, url_prefix="/sandbox/phone")
COOKIE_MAX_AGE = 30 * 86400


def _settings() -> Settings:
    return current_app.extensions["scrm.settings"]


def _account(slug: object) -> AccountSettings:
    acc = _settings().account(str(slug or ""))
    if acc is None:
        abort(404)
    return acc


@bp.before_request
def _same_origin_json() -> None:
    """State-changing calls must be same-origin JSON (a cross-site form cannot send that)."""
    if request.method != "POST":
        return
    origin = request.headers.get("Origin")
    if not request.is_json or (origin is not None and origin != request.host_url.rstrip("/")):
        abort(403)


@bp.after_request
def _headers(response: Response) -> Response:
    """The simulator's pages and answers are per user and never cached."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.get("/")
def page() -> str:
    """The simulator page (account picked by ?account=, the first configured one by default)."""
    accounts = list(_settings().accounts.values())
    if not accounts:
        abort(404)
    slug = request.args.get("account") or accounts[0].slug
    current = _account(slug)
    return render_template("sandbox/phone.html", accounts=accounts, account=current,
                           gh_id=rules.gh_id(current.app_id), lang=str(get_locale() or "zh"),
                           js_strings=js_strings())


def _person(f: Any) -> dict[str, Any]:
    return {"openid": f.openid, "label": f.label, "subscribed": f.subscribed,
            "blocks_templates": f.blocks_templates, "tags": list(f.tags)}


@bp.get("/api/overview")
def overview() -> Response:
    """The account's people, menu, QR scenes and tickets."""
    acc = _account(request.args.get("account"))
    st = state.app(acc.app_id)
    with state.LOCK:
        tickets = [{"ticket": t.ticket, "scene": t.scene, "permanent": t.permanent,
                    "expires_in": None if t.expires_at is None else max(0, int(t.expires_at - state.now()))}
                   for t in st.tickets.values() if find_ticket(t.ticket) is not None]
    return jsonify(account={"slug": acc.slug, "name": acc.name, "app_id": acc.app_id, "safe_mode": acc.safe_mode},
                   people=[_person(f) for f in state.followers_of(acc.app_id)],
                   menu=state.menu_for(acc.app_id), scenes=scenes_for(acc.slug), tickets=tickets)


@bp.get("/api/chat")
def chat() -> Response:
    """The chat entries after id `after`, and the person's follow status."""
    acc = _account(request.args.get("account"))
    openid = request.args.get("openid", "")
    after = request.args.get("after", "0")
    f = state.follower(state.app(acc.app_id), openid)
    if f is None:
        abort(404)
    entries = state.chat_for(acc.app_id, openid, after=int(after) if after.isdigit() else 0)
    return jsonify(entries=entries, person=_person(f))


def _remember(resp: Response, acc: AccountSettings, openid: str) -> Response:
    """The simulated OAuth page signs in whoever holds the phone; remember who that is."""
    resp.set_cookie(rules.PHONE_COOKIE + acc.app_id, openid, max_age=COOKIE_MAX_AGE, path="/sandbox",
                    httponly=True, samesite="Lax")
    return resp


@bp.post("/api/person")
def create_person() -> Response:
    """A new phone user (random openid, not following yet)."""
    body = request.get_json(silent=True) or {}
    acc = _account(body.get("account"))
    openid = new_person(acc, str(body.get("label") or ""))
    return _remember(jsonify(openid=openid), acc, openid)


@bp.post("/api/select")
def select_person() -> Response:
    """Hand the phone to a known user."""
    body = request.get_json(silent=True) or {}
    acc = _account(body.get("account"))
    openid = str(body.get("openid") or "")
    if state.follower(state.app(acc.app_id), openid) is None:
        abort(404)
    return _remember(jsonify(openid=openid), acc, openid)


@bp.post("/api/blocking")
def blocking() -> Response:
    """Let the user refuse (or accept again) the account's template messages."""
    body = request.get_json(silent=True) or {}
    acc = _account(body.get("account"))
    openid = str(body.get("openid") or "")
    if state.follower(state.app(acc.app_id), openid) is None:
        abort(404)
    state.set_blocking(acc.app_id, openid, bool(body.get("blocking")))
    return jsonify(ok=True)


@bp.post("/api/act")
def perform() -> Response | tuple[Response, int]:
    """Follow, unfollow, chat, send a location, tap the menu or scan a QR code."""
    body = request.get_json(silent=True) or {}
    acc = _account(body.get("account"))
    openid = str(body.get("openid") or "")
    raw = body.get("params")
    params: dict[str, Any] = raw if isinstance(raw, dict) else {}
    try:
        entries = act(_settings(), acc, openid, str(body.get("action") or ""), params)
    except PhoneError as exc:
        return jsonify(error=exc.code), 400
    f = state.follower(state.app(acc.app_id), openid)
    return _remember(jsonify(entries=entries, person=_person(f)), acc, openid)
