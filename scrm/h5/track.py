"""The tracked-link redirect `/l/<token>/<ref>`: record the click, then send the reader to the stored URL."""

from __future__ import annotations

from flask import Blueprint, redirect
from flask_babel import gettext
from markupsafe import escape
from werkzeug.wrappers import Response

from scrm.services import link_clicks

bp = Blueprint("track", __name__)

_PAGE = ('<!doctype html><html><head><meta charset="utf-8">'
         '<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>'
         '<body style="font-family:sans-serif;text-align:center;padding:48px 20px;color:#41454d">'
         '<h1 style="font-size:20px">{title}</h1><p>{text}</p></body></html>')


def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _not_found() -> Response:
    """A plain 404 page: an unknown link never redirects anywhere."""
    body = _PAGE.format(title=escape(gettext("Link not found")),
                        text=escape(gettext("This link is not valid or is no longer available.")))
    return _headers(Response(body, status=404, mimetype="text/html"))


@bp.get("/l/<token>/<ref>")
def follow(token: str, ref: str) -> Response:
    """Record the click (credited to the delivery when the reference is signed) and redirect."""
    done = link_clicks.click(token, ref[:64])
    if done is None:
        return _not_found()
    return _headers(redirect(done.url, 302))


@bp.get("/l/<token>")
def follow_shared(token: str) -> Response:
    """A link without a personal reference (copied and trimmed): an anonymous click, then the redirect."""
    return follow(token, "")
