"""Who is looking at an H5 page: WeChat web authorization (snsapi_base) remembered in the session.

A page asks `current_openid(account)`; without one it returns `start_sign_in(account)`, which sends
the browser to WeChat's authorize page (the sandbox's, offline). WeChat comes back to `callback` with a
single-use code, which we trade for the openid.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from flask import abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from scrm.config import AccountSettings
from scrm.h5 import bp
from scrm.security import mask_openid
from scrm.wechat.client import api_for
from scrm.wechat.errors import NetworkError, WeChatError

log = logging.getLogger(__name__)
SIGNED_IN_SECONDS = 2 * 3600      # like WeChat's own web token; signing in again is silent
PENDING_SECONDS = 10 * 60         # an authorize round trip older than this is refused

PROBLEMS = {
    "state": (400, _l("This sign-in link is no longer valid. Please open the page again.")),
    "denied": (400, _l("WeChat did not confirm who you are. Please open the page again.")),
    "used": (400, _l("This sign-in link has already been used. Please open the page again.")),
    "expired": (400, _l("This sign-in link has expired. Please open the page again.")),
    "unreachable": (503, _l("WeChat cannot be reached right now. Please try again in a moment.")),
}


def account_or_404(slug: str) -> AccountSettings:
    """The configured account with this slug, or a 404."""
    acc = current_app.extensions["scrm.settings"].account(slug)
    if acc is None:
        abort(404)
    return acc


def current_openid(account: AccountSettings) -> str | None:
    """The openid signed in for this account in this browser, if the sign-in is still fresh."""
    entry = session.get("h5", {}).get(account.slug)
    if not isinstance(entry, dict) or time.time() - float(entry.get("at", 0)) > SIGNED_IN_SECONDS:
        return None
    openid = entry.get("openid")
    return openid if isinstance(openid, str) and openid else None


def _safe_next(account: AccountSettings, target: Any) -> str:
    prefix = f"/h5/{account.slug}/"
    if isinstance(target, str) and target.startswith(prefix) and "//" not in target and "\\" not in target:
        return target
    return prefix


def start_sign_in(account: AccountSettings) -> Response:
    """Redirect to WeChat's authorize page; come back to `request.full_path` afterwards."""
    state = secrets.token_hex(16)
    pending = dict(session.get("h5_oauth", {}))
    pending[account.slug] = {"state": state, "next": _safe_next(account, request.full_path.rstrip("?")),
                             "at": time.time()}
    session["h5_oauth"] = pending
    base = current_app.extensions["scrm.settings"].app.public_url.rstrip("/")
    redirect_uri = base + url_for("h5.callback", slug=account.slug)
    return redirect(api_for(account).oauth_authorize_url(redirect_uri, state, scope="snsapi_base"))


def _problem(account: AccountSettings, kind: str) -> tuple[str, int]:
    status, message = PROBLEMS[kind]
    return render_template("h5/problem.html", account=account, message=message), status


@bp.get("/<slug>/oauth/callback")
def callback(slug: str) -> Response | tuple[str, int]:
    """WeChat's redirect back: check `state`, trade the code for the openid, continue to the page."""
    account = account_or_404(slug)
    pending_all = dict(session.get("h5_oauth", {}))
    pending = pending_all.pop(slug, None)
    session["h5_oauth"] = pending_all          # a state is good for one attempt only
    given = request.args.get("state", "")
    if (not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_SECONDS
            or not secrets.compare_digest(str(pending.get("state", "")).encode(), given.encode())):
        return _problem(account, "state")
    code = request.args.get("code", "")
    if not code:
        return _problem(account, "denied")
    try:
        answer = api_for(account).oauth_exchange(code)
    except NetworkError:
        log.warning("h5 sign-in for %s: WeChat unreachable", slug)
        return _problem(account, "unreachable")
    except WeChatError as exc:
        log.info("h5 sign-in for %s refused: %s", slug, exc.errcode)
        return _problem(account, "used" if exc.errcode == 40163 else "expired")
    signed = dict(session.get("h5", {}))
    signed[slug] = {"openid": str(answer["openid"]), "at": time.time()}
    session["h5"] = signed
    log.info("h5 sign-in for %s: %s", slug, mask_openid(str(answer["openid"])))
    return redirect(_safe_next(account, pending.get("next")))
