"""cgi-bin/token and cgi-bin/stable_token (WECHAT.md 4.1)."""

from __future__ import annotations

from flask import Response, jsonify, request

from scrm.sandbox import rules, state
from scrm.sandbox.api_common import account_for, bp, check_secret, json_body, new_token_value
from scrm.sandbox.entities import AppState, Token


def _issue(st: AppState, *, stable: bool) -> Token:
    state.prune(st)
    tok = Token(value=new_token_value(), app_id=st.app_id, expires_at=state.now() + rules.TOKEN_TTL, stable=stable)
    st.tokens[tok.value] = tok
    return tok


def _valid(st: AppState, value: str | None) -> Token | None:
    tok = st.tokens.get(value or "")
    at = state.now()
    if tok is None or tok.expires_at <= at or (tok.revoked_at is not None and tok.revoked_at <= at):
        return None
    return tok


def _answer(tok: Token) -> Response:
    return jsonify(access_token=tok.value, expires_in=max(1, int(tok.expires_at - state.now())))


@bp.get("/cgi-bin/token")
def token() -> Response:
    """A new access token; the previous one keeps working for 5 more minutes, then 40001."""
    if request.args.get("grant_type") != "client_credential":
        raise rules.ApiError(40002)
    acc = account_for(request.args.get("appid"))
    check_secret(acc, request.args.get("secret"))
    with state.LOCK:
        st = state.app(acc.app_id)
        state.count_call(st, "token")
        previous = st.tokens.get(st.current_token or "")
        if previous is not None:
            cutoff = state.now() + rules.TOKEN_OVERLAP
            previous.revoked_at = min(previous.revoked_at or cutoff, cutoff, previous.expires_at)
        tok = _issue(st, stable=False)
        st.current_token = tok.value
        return jsonify(access_token=tok.value, expires_in=rules.TOKEN_TTL)


@bp.post("/cgi-bin/stable_token")
def stable_token() -> Response:
    """The stable token: the same one while valid; renewed 5 minutes early; force_refresh rules."""
    body = json_body()
    if body.get("grant_type") != "client_credential":
        raise rules.ApiError(40002)
    acc = account_for(body.get("appid"))
    check_secret(acc, body.get("secret"))
    force = body.get("force_refresh", False)
    if not isinstance(force, bool):
        raise rules.ApiError(47001)
    with state.LOCK:
        st = state.app(acc.app_id)
        state.count_call(st, "stable_token")
        current = _valid(st, st.stable_token)
        at = state.now()
        if force:
            if current is not None and st.stable_forces and at - st.stable_forces[-1] < rules.STABLE_FORCE_MIN_GAP:
                return _answer(current)   # "calls closer than 30 s do not refresh"
            today = [t for t in st.stable_forces if state.day_key(t) == state.day_key()]
            if len(today) >= rules.STABLE_FORCE_PER_DAY:
                raise rules.ApiError(45009)
            st.stable_forces = [*today, at]
            if current is not None:
                current.revoked_at = at   # a forced refresh invalidates the previous token at once
        elif current is not None and current.expires_at - at > rules.STABLE_RENEW_BEFORE:
            return _answer(current)
        tok = _issue(st, stable=True)
        st.stable_token = tok.value
        return _answer(tok)

