"""The member's personal referral page: the QR code to share and the friends it brought."""

from __future__ import annotations

import io

import segno
from flask import render_template
from flask_babel import lazy_gettext
from werkzeug.wrappers import Response

from scrm.h5 import bp
from scrm.h5.booking_common import Fmt, Page, Visitor, error_text, visitor
from scrm.h5.links import register_link
from scrm.services import referrals_points, referrals_qr, referrals_views  # noqa: F401  (points: subscribes)
from scrm.services.errors import DomainError
from scrm.services.referrals_qr import PersonalCode

QR_SCALE = 8
register_link("h5.referral", lazy_gettext("Invite friends"), icon="✉", order=60)


def _code(v: Visitor) -> tuple[PersonalCode | None, str]:
    try:
        return referrals_qr.personal_code(v.account_id, v.follower.id), ""
    except DomainError as exc:
        return None, error_text(exc)


@bp.get("/<slug>/referral")
def referral(slug: str) -> Page:
    """The member's QR code with the share text, the friends it brought and their progress, points earned."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    if not v.follower.subscribed:
        return render_template("h5/referral/follow_first.html", account=v.account)
    code, error = _code(v)
    mine = referrals_views.mine(v.account_id, v.follower.id)
    return render_template("h5/referral/page.html", account=v.account, code=code, error=error, mine=mine,
                           fmt=Fmt())


@bp.get("/<slug>/referral/qr.png")
def referral_qr(slug: str) -> Page:
    """The member's QR code as a PNG (drawn here from the code's WeChat URL)."""
    v = visitor(slug)
    if not isinstance(v, Visitor):
        return v
    code, _ = _code(v)
    if code is None:
        return Response(status=404)
    buf = io.BytesIO()
    segno.make(code.url, error="m", micro=False).save(buf, kind="png", scale=QR_SCALE, border=4)
    resp = Response(buf.getvalue(), mimetype="image/png")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
