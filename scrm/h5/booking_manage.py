"""我的预约 on H5: the follower's bookings, one booking with cancel and move (within the dealer's rules), and the
1-5 rating of a completed visit. Someone else's booking is a 404, whatever its id.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import redirect, render_template, request, url_for
from flask_babel import gettext

from scrm import db
from scrm.h5 import bp
from scrm.h5.booking_common import Fmt, Page, Visitor, error_text, not_found, visitor
from scrm.models import BookingStatus
from scrm.services import booking, booking_h5, booking_mine, booking_status, dealer_cards
from scrm.services.booking import SlotTaken
from scrm.services.booking_mine import BookingView
from scrm.services.errors import DomainError, NotFound
from scrm.services.normalize_base import N_

ACTIVE = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)
DONE_NOTES = {"booked", "moved", "cancelled"}


def _upcoming(b: BookingView, now: datetime) -> bool:
    return b.status in ACTIVE and b.start_at + timedelta(minutes=b.duration_minutes) > now


@bp.get("/<slug>/bookings")
def my_bookings(slug: str) -> Page:
    """The follower's upcoming bookings, or (tab=past) the earlier and cancelled ones."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    now = db.utcnow()
    past = request.args.get("tab") == "past"
    if past:
        items = [b for b in booking_mine.for_follower(v.follower.id, upcoming_only=False, limit=50, now=now)
                 if not _upcoming(b, now)]
    else:
        items = booking_mine.for_follower(v.follower.id, upcoming_only=True, limit=20, now=now)
    dealers = {d: dealer_cards.dealer_card(d) for d in {b.dealer_id for b in items}}
    return render_template("h5/booking/mine.html", account=v.account, items=items, dealers=dealers,
                           tab="past" if past else "upcoming", fmt=Fmt())


def _load(v: Visitor, booking_id: int) -> BookingView | None:
    try:
        return booking_mine.one_for_follower(v.follower.id, booking_id)
    except NotFound:
        return None


def _show(v: Visitor, b: BookingView, *, error: str = "", confirm: bool = False, status: int = 200) -> Page:
    done = request.args.get("done", "")
    return render_template("h5/booking/view.html", account=v.account, b=b, dealer=dealer_cards.dealer_card(b.dealer_id),
                           error=error, confirm=confirm, done=done if done in DONE_NOTES else "",
                           fmt=Fmt()), status


@bp.get("/<slug>/bookings/<int:booking_id>")
def booking_view(slug: str, booking_id: int) -> Page:
    """One booking: when, where, what; 取消预约 and 改期 while allowed, otherwise why not."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    b = _load(v, booking_id)
    if b is None:
        return not_found(v.account)
    return _show(v, b, confirm=request.args.get("confirm") == "cancel" and b.can_change)


@bp.post("/<slug>/bookings/<int:booking_id>/cancel")
def booking_cancel(slug: str, booking_id: int) -> Page:
    """Cancel after the follower confirmed; the booking's page says it is cancelled."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    b = _load(v, booking_id)
    if b is None:
        return not_found(v.account)
    if request.form.get("confirm") != "y":
        return redirect(url_for("h5.booking_view", slug=slug, booking_id=booking_id, confirm="cancel"))
    try:
        booking_status.cancel(booking_id, follower_id=v.follower.id, reason=gettext("Cancelled in WeChat"))
    except NotFound:
        return not_found(v.account)
    except DomainError as exc:
        return _show(v, b, error=error_text(exc), status=409)
    return redirect(url_for("h5.booking_view", slug=slug, booking_id=booking_id, done="cancelled"))


@bp.route("/<slug>/bookings/<int:booking_id>/move", methods=["GET", "POST"])
def booking_move(slug: str, booking_id: int) -> Page:
    """改期: the same calendar for the booking's service (and demo car); the new time is confirmed by a POST."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    b = _load(v, booking_id)
    if b is None:
        return not_found(v.account)
    if not b.can_change:
        return redirect(url_for("h5.booking_view", slug=slug, booking_id=booking_id))
    source = request.form if request.method == "POST" else request.args
    raw = source.get("alt", "")
    day = booking_h5.parse_day(raw[:10] if raw else source.get("day"))
    at = booking_h5.parse_time(raw[11:16] if raw else source.get("time"))
    tz = booking_h5.rules_of(b.dealer_id).tz
    error, alternatives, status = "", [], 200
    if request.method == "POST":
        when = booking_h5.start_at(day, at, tz) if day and at else None
        try:
            if when is None:
                raise DomainError(N_("Choose a day and a time first."))
            booking.move(booking_id, when, follower_id=v.follower.id)
            return redirect(url_for("h5.booking_view", slug=slug, booking_id=booking_id, done="moved"))
        except NotFound:
            return not_found(v.account)
        except SlotTaken as exc:
            error, alternatives, status = error_text(exc), [a.astimezone(tz) for a in exc.alternatives], 409
        except DomainError as exc:
            error, status = error_text(exc), 422
    try:
        cal = booking_h5.calendar(b.dealer_id, b.service_type_id, demo_car_id=booking_h5.demo_car_of(booking_id),
                                  moving=booking_id)
    except DomainError as exc:
        cal, error = None, error or error_text(exc)
    if cal is not None and day is not None and not cal.slots_on(day) and status == 200:
        day = at = None
        error = gettext("There is no free time on that day any more. Please choose another day.")
    slot = next((f for f in cal.slots_on(day) if f.local == at), None) if cal and at else None
    return render_template("h5/booking/move.html", account=v.account, b=b, cal=cal, day=day, slot=slot,
                           error=error, alternatives=alternatives, fmt=Fmt(),
                           day_url=lambda d: url_for("h5.booking_move", slug=slug, booking_id=booking_id,
                                                     day=d.isoformat(), _anchor="step-time"),
                           time_url=lambda f: url_for("h5.booking_move", slug=slug, booking_id=booking_id,
                                                      day=day.isoformat() if day else "",
                                                      time=f.local.strftime("%H:%M"), _anchor="step-confirm")), status


@bp.route("/<slug>/bookings/<int:booking_id>/rate", methods=["GET", "POST"])
def booking_rate(slug: str, booking_id: int) -> Page:
    """1-5 stars for a completed visit (a second answer replaces the first), then a thank-you."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    b = _load(v, booking_id)
    if b is None:
        return not_found(v.account)
    error, status = "", 200
    if b.status != BookingStatus.COMPLETED:
        error, status = gettext("Only a completed visit can be rated."), 409
    elif request.method == "POST":
        raw = request.form.get("score", "")
        score = int(raw) if raw.isdigit() and len(raw) == 1 else 0
        try:
            booking_status.rate(booking_id, score, follower_id=v.follower.id)
            return redirect(url_for("h5.booking_rate", slug=slug, booking_id=booking_id, thanks=1))
        except NotFound:
            return not_found(v.account)
        except DomainError as exc:
            error, status = error_text(exc), 422
    thanks = request.args.get("thanks") == "1" and b.satisfaction is not None and not error
    return render_template("h5/booking/rate.html", account=v.account, b=b, error=error, thanks=thanks,
                           fmt=Fmt()), status
