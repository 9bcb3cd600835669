"""Web authorization (WECHAT.md 4.9): connect/oauth2/authorize and sns/oauth2/access_token, sns/userinfo."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Response, jsonify, redirect, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response as BaseResponse

from scrm.sandbox import rules, state
from scrm.sandbox.api_common import account_for, bp, check_secret, settings
from scrm.sandbox.entities import AppState, OAuthCode, OAuthToken

_STATE = re.compile(r"^[A-Za-z0-9]{0,128}$")
# WeChat's authorization-page error numbers
AUTH_ERRORS = {
    10003: _l("The redirect_uri domain does not match the configured web authorization domain."),
    10005: _l("This official account has no permission for that scope."),
    10010: _l("The scope is missing."),
    10011: _l("The redirect_uri is missing."),
    10012: _l("The appid is missing or unknown."),
    10013: _l("The state parameter may only contain letters and digits (at most 128)."),
}


class _AuthError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _allowed_hosts() -> set[str]:
    s = settings()
    hosts = {urlsplit(s.app.public_url).netloc, request.host}
    if s.sandbox.webhook_base_url:
        hosts.add(urlsplit(s.sandbox.webhook_base_url).netloc)
    return hosts


def _params() -> tuple[AppState, str, str, str]:
    src = request.values
    acc = settings().account_by_app_id(src.get("appid", ""))
    if acc is None:
        raise _AuthError(10012)
    redirect_uri, scope, st_param = src.get("redirect_uri", ""), src.get("scope", ""), src.get("state", "")
    if not redirect_uri:
        raise _AuthError(10011)
    target = urlsplit(redirect_uri)
    if target.scheme not in ("http", "https") or target.netloc not in _allowed_hosts():
        raise _AuthError(10003)
    if not scope:
        raise _AuthError(10010)
    if scope not in rules.OAUTH_SCOPES:
        raise _AuthError(10005)
    if not _STATE.match(st_param):
        raise _AuthError(10013)
    return state.app(acc.app_id), redirect_uri, scope, st_param


def _redirect_with_code(st: AppState, openid: str, redirect_uri: str, scope: str, st_param: str) -> BaseResponse:
    code = secrets.token_urlsafe(24)
    with state.LOCK:
        state.ensure_follower(st, openid)
        st.oauth_codes[code] = OAuthCode(code=code, openid=openid, scope=scope,
                                         expires_at=state.now() + rules.OAUTH_CODE_TTL)
    parts = urlsplit(redirect_uri)
    query = (parts.query + "&" if parts.query else "") + urlencode({"code": code, "state": st_param})
    return redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")), code=302)


@bp.route("/connect/oauth2/authorize", methods=["GET", "POST"])
def authorize() -> BaseResponse | tuple[str, int] | str:
    """The authorization page: the phone's current user signs in silently (base) or after consent."""
    try:
        st, redirect_uri, scope, st_param = _params()
    except _AuthError as exc:
        return render_template("sandbox/oauth.html", mode="error", code=exc.code,
                               message=AUTH_ERRORS[exc.code]), 400
    holder = request.cookies.get(rules.PHONE_COOKIE + st.app_id, "")
    if request.method == "POST":
        if request.headers.get("Origin") not in (None, request.host_url.rstrip("/")):
            return render_template("sandbox/oauth.html", mode="error", code=10003,
                                   message=AUTH_ERRORS[10003]), 400
        chosen = request.form.get("openid", "")
        openid = rules.new_openid() if chosen == "new" else chosen
        if chosen != "new" and openid not in st.followers:
            return _picker(st)
        return _redirect_with_code(st, openid, redirect_uri, scope, st_param)
    if holder in st.followers and scope == "snsapi_base":
        return _redirect_with_code(st, holder, redirect_uri, scope, st_param)
    if holder in st.followers:
        return render_template("sandbox/oauth.html", mode="consent", holder=holder, account=_account_name(st))
    return _picker(st)


def _account_name(st: AppState) -> str:
    acc = settings().account_by_app_id(st.app_id)
    return acc.name if acc else st.app_id


def _picker(st: AppState) -> str:
    people = state.followers_of(st.app_id)
    return render_template("sandbox/oauth.html", mode="picker", people=people, account=_account_name(st))


@bp.get("/sns/oauth2/access_token")
def sns_access_token() -> Response:
    """Exchange a code (single use: 40163; unknown or older than 5 minutes: 40029) for the openid."""
    if request.args.get("grant_type") != "authorization_code":
        raise rules.ApiError(40002)
    acc = account_for(request.args.get("appid"))
    check_secret(acc, request.args.get("secret"))
    value = request.args.get("code", "")
    if not value:
        raise rules.ApiError(41008)
    with state.LOCK:
        st = state.app(acc.app_id)
        code = st.oauth_codes.get(value)
        if code is None or code.expires_at <= state.now():
            raise rules.ApiError(40029)
        if code.used:
            raise rules.ApiError(40163)
        code.used = True
        tok = OAuthToken(value=secrets.token_urlsafe(64), openid=code.openid, scope=code.scope,
                         expires_at=state.now() + rules.OAUTH_TOKEN_TTL)
        st.oauth_tokens[tok.value] = tok
    return jsonify(access_token=tok.value, expires_in=rules.OAUTH_TOKEN_TTL, refresh_token=secrets.token_urlsafe(64),
                   openid=tok.openid, scope=tok.scope)


def _sns_token() -> OAuthToken:
    value = request.args.get("access_token", "")
    if not value:
        raise rules.ApiError(41001)
    with state.LOCK:
        for st in state._apps.values():
            tok = st.oauth_tokens.get(value)
            if tok is not None:
                if tok.expires_at <= state.now():
                    raise rules.ApiError(42001)
                if request.args.get("openid") != tok.openid:
                    raise rules.ApiError(40003)
                return tok
    raise rules.ApiError(40001)


@bp.get("/sns/userinfo")
def sns_userinfo() -> Response:
    """The user's public profile (snsapi_userinfo only; since 2021 the nickname is always 微信用户)."""
    tok = _sns_token()
    if tok.scope != "snsapi_userinfo":
        raise rules.ApiError(48001)
    return jsonify(openid=tok.openid, nickname="微信用户", sex=0, province="", city="", country="",
                   headimgurl="", privilege=[])


@bp.get("/sns/auth")
def sns_auth() -> Response:
    """Whether a web-authorization token is still valid."""
    _sns_token()
    return jsonify(errcode=0, errmsg="ok")
