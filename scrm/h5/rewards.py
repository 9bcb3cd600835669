"""The rewards pages: the catalogue, redeeming, and my vouchers with their QR codes.

Redeeming is two steps: the reward's page shows the cost and the balance with a 确认兑换 form carrying a
fresh request key, so a double tap (or a resubmitted form) gets the same voucher. A voucher, its page
and its QR image are the signed-in follower's only: anyone else gets a 404.
"""

from __future__ import annotations

import io
import secrets
from datetime import datetime

import segno
from flask import Response, redirect, render_template, request, url_for

from scrm import db
from scrm.h5 import bp
from scrm.h5.booking_common import Fmt, Page, Visitor, error_text, visitor
from scrm.services import rewards
from scrm.services.errors import DomainError, NotFound
from scrm.services.ledger import local_tz


def _fmt_day(value: object) -> str:
    return value.astimezone(local_tz()).strftime("%Y-%m-%d") if isinstance(value, datetime) else ""


def _missing(v: Visitor) -> tuple[str, int]:
    return render_template("h5/rewards/missing.html", account=v.account), 404


@bp.get("/<slug>/rewards", endpoint="rewards")
def catalogue(slug: str) -> Page:
    """The rewards the member can redeem now, with cost, stock left, limit and the balance."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    balance, items = rewards.offers(v.follower.id)
    return render_template("h5/rewards/list.html", account=v.account, balance=balance, items=items)


def _reward_page(v: Visitor, reward_id: int, *, error: str = "", status: int = 200) -> Page:
    try:
        balance, offer = rewards.offer(v.follower.id, reward_id)
    except NotFound:
        return _missing(v)
    return render_template("h5/rewards/reward.html", account=v.account, balance=balance, o=offer, error=error,
                           request_key=secrets.token_urlsafe(24)), status


@bp.get("/<slug>/rewards/<int:reward_id>")
def reward(slug: str, reward_id: int) -> Page:
    """One reward and the confirmation step (确认兑换) with a fresh request key."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    return _reward_page(v, reward_id)


@bp.post("/<slug>/rewards/<int:reward_id>/redeem")
def redeem(slug: str, reward_id: int) -> Page:
    """Redeem after the member confirmed; the voucher's page follows (the same one on a double tap)."""
    v = visitor(slug)
    if not isinstance(v, Visitor):
        return v
    try:
        red = rewards.redeem(v.follower.id, reward_id, request.form.get("request_key", ""))
    except DomainError as exc:
        return _reward_page(v, reward_id, error=error_text(exc), status=409)
    return redirect(url_for("h5.voucher", slug=slug, redemption_id=red.id, new=1), 303)


@bp.get("/<slug>/vouchers")
def vouchers(slug: str) -> Page:
    """The member's vouchers with their status, newest first."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    return render_template("h5/rewards/vouchers.html", account=v.account, items=rewards.vouchers(v.follower.id),
                           day=_fmt_day, now=db.utcnow())


@bp.get("/<slug>/vouchers/<int:redemption_id>")
def voucher(slug: str, redemption_id: int) -> Page:
    """One voucher: its code and QR code to show at the counter, its status and expiry."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    try:
        red, r = rewards.voucher_of(v.follower.id, redemption_id)
    except NotFound:
        return _missing(v)
    return render_template("h5/rewards/voucher.html", account=v.account, red=red, r=r, day=_fmt_day,
                           new=request.args.get("new") == "1", now=db.utcnow(), fmt=Fmt())


@bp.get("/<slug>/vouchers/<int:redemption_id>/qr.png")
def voucher_qr(slug: str, redemption_id: int) -> Response | Page:
    """The voucher's code as a QR image (PNG drawn here; only for the voucher's own member)."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    try:
        red, _r = rewards.voucher_of(v.follower.id, redemption_id)
    except NotFound:
        return _missing(v)
    out = io.BytesIO()
    segno.make(red.code, error="m", micro=False).save(out, kind="png", scale=8, border=2)
    return Response(out.getvalue(), mimetype="image/png",
                    headers={"Cache-Control": "private, no-store"})
