"""The follower's club pages: upcoming events, registering with companions, my events."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from scrm.h5 import bp
from scrm.h5.booking_common import Page, Visitor, error_text, visitor
from scrm.h5.links import register_link
from scrm.services import club
from scrm.services.errors import DomainError, NotFound

register_link("h5.events", _l("Owners' events"), icon="聚", order=40)


def _language() -> str:
    return "en" if str(get_locale() or "zh").startswith("en") else "zh"


def _missing(v: Visitor) -> tuple[str, int]:
    return render_template("h5/club/missing.html", account=v.account), 404


@bp.get("/<slug>/events", endpoint="events")
def events(slug: str) -> Page:
    """Upcoming events the member may join, and my registrations with their waitlist places."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    mine = club.mine(v.follower.id)
    taken = {ev.id for ev, _reg, _pos in mine}
    upcoming = [ev for ev in club.upcoming(v.follower.id) if ev.id not in taken]
    language = _language()
    when = {ev.id: club.when_text(ev, language) for ev in [*upcoming, *(m[0] for m in mine)]}
    return render_template("h5/club/list.html", account=v.account, upcoming=upcoming, mine=mine, when=when)


def _event_page(v: Visitor, event_id: int, *, error: str = "", done: str = "", status: int = 200) -> Page:
    try:
        ev = club.public_event(v.account_id, event_id)
    except NotFound:
        return _missing(v)
    reg, position = club.registration_of(v.follower.id, event_id)
    language = _language()
    open_now = club.open_for(v.follower.id, ev)
    return render_template("h5/club/event.html", account=v.account, ev=ev, reg=reg, position=position,
                           active=club.is_active(reg), open_now=open_now, error=error, done=done,
                           when=club.when_text(ev, language), ends=club.when_text(ev, language, end=True),
                           companions=range(ev.max_companions + 1)), status


@bp.get("/<slug>/events/<int:event_id>")
def event(slug: str, event_id: int) -> Page:
    """One event: details, seats, my registration or waitlist place, register / cancel."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    return _event_page(v, event_id, done=request.args.get("done", "")[:12])


@bp.post("/<slug>/events/<int:event_id>/register")
def register(slug: str, event_id: int) -> Page:
    """Register with the companions chosen (or join the waitlist when full)."""
    v = visitor(slug)
    if not isinstance(v, Visitor):
        return v
    raw = request.form.get("companions", "0").strip()
    try:
        companions = int(raw) if raw.isdigit() else -1
        club.register(v.follower.id, event_id, companions)
    except NotFound:
        return _missing(v)
    except DomainError as exc:
        return _event_page(v, event_id, error=error_text(exc), status=409)
    return redirect(url_for("h5.event", slug=slug, event_id=event_id, done="registered"), 303)


@bp.post("/<slug>/events/<int:event_id>/cancel")
def cancel(slug: str, event_id: int) -> Page:
    """Cancel my registration or waitlist place."""
    v = visitor(slug, must_follow=False)
    if not isinstance(v, Visitor):
        return v
    try:
        club.cancel(v.follower.id, event_id)
    except NotFound:
        return _missing(v)
    except DomainError as exc:
        return _event_page(v, event_id, error=error_text(exc), status=409)
    return redirect(url_for("h5.event", slug=slug, event_id=event_id, done="cancelled"), 303)
