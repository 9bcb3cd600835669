"""The fake API's blueprint and what every endpoint shares: credentials, quotas, JSON bodies."""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from scrm.config import AccountSettings, Settings
from scrm.sandbox import rules, state
from scrm.sandbox.entities import AppState, Token

bp = Blueprint("sandbox_wx", __name__, url_prefix="/sandbox/wx")

_TOKEN_ALPHABET = string.ascii_letters + string.digits + "_-"
_UNICODE_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@bp.errorhandler(rules.ApiError)
def _api_error(exc: rules.ApiError) -> Response:
    return jsonify(exc.body())


def ok(**data: Any) -> Response:
    """A success answer: errcode 0 plus `data`, or just `data` when WeChat omits errcode."""
    return jsonify({"errcode": 0, "errmsg": "ok", **data})


def settings() -> Settings:
    """The settings of the app serving the sandbox."""
    return current_app.extensions["scrm.settings"]


def account_for(app_id: str | None) -> AccountSettings:
    """The configured account with this app id (41002 missing, 40013 unknown)."""
    if not app_id:
        raise rules.ApiError(41002)
    acc = settings().account_by_app_id(app_id)
    if acc is None:
        raise rules.ApiError(40013)
    return acc


def check_secret(acc: AccountSettings, secret: str | None) -> None:
    """41004 when the secret is missing, 40125 when it is wrong."""
    if not secret:
        raise rules.ApiError(41004)
    if not secrets.compare_digest(secret.encode(), acc.app_secret.encode()):
        raise rules.ApiError(40125)


def new_token_value() -> str:
    """A fresh opaque token, as long as WeChat's (they ask for 512 characters of storage)."""
    return "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(136))


def find_token(value: str) -> Token | None:
    """The token with this value, whichever account issued it."""
    with state.LOCK:
        for st in state._apps.values():
            tok = st.tokens.get(value)
            if tok is not None:
                return tok
    return None


def authed(api: str) -> AppState:
    """Check `access_token` (41001 missing, 40001 invalid or replaced, 42001 expired), count the call."""
    value = request.args.get("access_token", "")
    if not value:
        raise rules.ApiError(41001)
    tok = find_token(value)
    at = state.now()
    if tok is None or (tok.revoked_at is not None and tok.revoked_at <= at):
        raise rules.ApiError(40001)
    if tok.expires_at <= at:
        raise rules.ApiError(42001)
    st = state.app(tok.app_id)
    state.count_call(st, api)
    return st


def json_body(*, strict_charset: bool = False) -> dict[str, Any]:
    """The POSTed JSON object (44002 empty, 47001 not a JSON object).

    With `strict_charset`, non-ASCII text sent as \\uXXXX escapes is refused with 40033, as the menu
    API does (send UTF-8 JSON, e.g. json.dumps(..., ensure_ascii=False)).
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise rules.ApiError(44002)
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise rules.ApiError(47001) from exc
    if not isinstance(data, dict):
        raise rules.ApiError(47001)
    if strict_charset and any(int(h, 16) >= 0x80 for h in _UNICODE_ESCAPE.findall(text)):
        raise rules.ApiError(40033)
    return data


def utf8_len(value: object) -> int:
    """Length in UTF-8 bytes (WeChat counts bytes for names, keys and URLs)."""
    return len(str(value).encode("utf-8"))


def openid_arg(st: AppState, openid: object) -> str:
    """A known openid of this account (41009 missing, 40003 unknown)."""
    if not openid or not isinstance(openid, str):
        raise rules.ApiError(41009)
    if openid not in st.followers:
        raise rules.ApiError(40003)
    return openid
