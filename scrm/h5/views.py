"""The follower's pages: "my account" (follow status, their dealer, links to what features add)."""

from __future__ import annotations

from flask import current_app, g, render_template
from werkzeug.wrappers import Response

from scrm.h5 import bp
from scrm.h5.auth import account_or_404, current_openid, start_sign_in
from scrm.h5.links import links
from scrm.security import mask_openid
from scrm.services.accounts import account_id
from scrm.services.dealer_cards import dealer_card
from scrm.services.followers import get_follower


@bp.url_value_preprocessor
def _account_language(_endpoint: str | None, values: dict[str, object] | None) -> None:
    """H5 pages speak the account's language."""
    slug = (values or {}).get("slug")
    if isinstance(slug, str):
        acc = current_app.extensions["scrm.settings"].account(slug)
        if acc is not None:
            g.locale = acc.language


@bp.after_request
def _headers(response: Response) -> Response:
    """Personal pages: never cached; framed only by our own pages (the phone simulator)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'self'; form-action 'self'; base-uri 'none'; object-src 'none'")
    return response


@bp.get("/<slug>/")
def home(slug: str) -> Response | str:
    """The follower's account page."""
    account = account_or_404(slug)
    openid = current_openid(account)
    if openid is None:
        return start_sign_in(account)
    follower = get_follower(account_id(slug), openid)
    dealer = dealer_card(follower.dealer_id) if follower else None
    return render_template("h5/home.html", account=account, follower=follower, dealer=dealer,
                           masked=mask_openid(openid), links=links())
