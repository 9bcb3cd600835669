"""Owners' club events: create, publish, push, registrations, waitlist, check-in, attendee export."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask_babel import gettext, lazy_gettext
from wtforms import BooleanField, StringField, TextAreaField

from scrm import db
from scrm.admin import nav
from scrm.admin.auth import client_ip, require_perm
from scrm.admin.forms import STRIP, AdminForm, ChoiceField, ConfirmForm, parse_int
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import Audience, ClubEvent
from scrm.services import club_admin as svc
from scrm.services import club_attendees as attendees
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.scope import Perm

bp = Blueprint("club", __name__, url_prefix="/club")
nav.add_group("loyalty", "Loyalty & club", 27)
nav.add_item(nav.NavItem("loyalty", "admin.club.index", "Club events", order=50, perm=Perm.EVENTS_MANAGE,
                         active_prefixes=("admin.club.",)))

AUDIENCE_LABELS = {Audience.ALL.value: lazy_gettext("All members"),
                   Audience.DEALER.value: lazy_gettext("Members of this dealer"),
                   Audience.TIER.value: lazy_gettext("Members at a tier or above"),
                   Audience.SEGMENT.value: lazy_gettext("Members in a segment")}
STATUS_LABELS = {"draft": lazy_gettext("Draft"), "published": lazy_gettext("Published"),
                 "cancelled": lazy_gettext("Cancelled"), "registered": lazy_gettext("Registered"),
                 "waitlisted": lazy_gettext("Waitlist"), "attended": lazy_gettext("Attended"),
                 "no_show": lazy_gettext("No-show")}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"AUDIENCE_LABELS": AUDIENCE_LABELS, "CLUB_STATUS": STATUS_LABELS}


class EventForm(AdminForm):
    dealer_id = ChoiceField("Dealer")
    title = StringField("Title", filters=STRIP)
    description = TextAreaField("About the event", filters=STRIP)
    place = StringField("Place", filters=STRIP)
    starts_at = StringField("Starts", filters=STRIP)
    ends_at = StringField("Ends", filters=STRIP)
    registration_deadline = StringField("Registration closes", filters=STRIP)
    capacity = StringField("Capacity", filters=STRIP)
    max_companions = StringField("Companions per member", filters=STRIP)
    points = StringField("Points for attending", filters=STRIP)
    audience = ChoiceField("Audience")
    min_tier_id = ChoiceField("Lowest tier")
    segment_id = ChoiceField("Segment")


class PublishForm(AdminForm):
    push = BooleanField("Push to the audience")


def _dealers() -> dict[int, str]:
    return {d.id: d.name for d in dealer_choices(current_scope())}


def _number(raw: str | None, field: str) -> int:
    value = parse_int(raw)
    if value is None:
        raise Invalid("Enter a whole number.", field=field)
    return value


def _input(form: EventForm, dealer_id: int | None) -> svc.EventInput:
    tz = svc.zone(dealer_id)
    try:
        audience = Audience(form.audience.data or "all")
    except ValueError as exc:
        raise Invalid("Choose an audience.", field="audience") from exc
    return svc.EventInput(
        title=form.title.data or "", description=form.description.data or "", place=form.place.data or "",
        starts_at=svc.parse_local(form.starts_at.data or "", tz, "starts_at"),
        ends_at=svc.parse_local(form.ends_at.data or "", tz, "ends_at"),
        registration_deadline=svc.parse_local(form.registration_deadline.data or "", tz, "registration_deadline"),
        capacity=_number(form.capacity.data, "capacity"),
        max_companions=_number(form.max_companions.data, "max_companions"),
        points=_number(form.points.data, "points"), audience=audience, dealer_id=dealer_id,
        min_tier_id=parse_int(form.min_tier_id.data), segment_id=parse_int(form.segment_id.data))


def _render_form(form: EventForm, ev: ClubEvent | None, status: int = 200) -> Any:
    scope = current_scope()
    choices = [(str(d), n) for d, n in _dealers().items()]
    if scope.all_dealers:
        choices = [("", gettext("All dealers (account-wide)")), *choices]
    form.dealer_id.choices = choices
    form.audience.choices = [(k, str(v)) for k, v in AUDIENCE_LABELS.items()]
    form.min_tier_id.choices = [("", "—"), *[(str(t.id), t.name) for t in svc.tiers(scope.account_id)]]
    all_dealers = gettext("All dealers")
    form.segment_id.choices = [("", "—"), *[(str(g.id), f"{g.name} · {_dealers().get(g.dealer_id or 0, all_dealers)}")
                                            for g in svc.segment_choices(scope)]]
    return render_template("admin/club/form.html", form=form, ev=ev, dealers=_dealers()), status


def _load(event_id: int) -> ClubEvent:
    try:
        return svc.get_event(current_scope(), event_id)
    except (NotFound, Forbidden) as exc:
        http_for(exc)


def _local(ev: ClubEvent | None, value: Any) -> str:
    if value is None or ev is None:
        return ""
    return str(value.astimezone(svc.zone(ev.dealer_id)).strftime("%Y-%m-%dT%H:%M"))


@bp.get("/")
@require_perm(Perm.EVENTS_MANAGE)
def index() -> Any:
    """The events in scope, latest first, with seat use."""
    items = svc.events(current_scope())
    when = {ev.id: _local(ev, ev.starts_at).replace("T", " ") for ev in items}
    return render_template("admin/club/list.html", items=items, when=when, dealers=_dealers())


@bp.get("/new")
@require_perm(Perm.EVENTS_MANAGE)
def new() -> Any:
    """The form for a new event."""
    form = EventForm(formdata=None, data={"capacity": "20", "max_companions": "2", "points": "0",
                                          "audience": "all"})
    scope = current_scope()
    if scope.dealer_id is not None:
        form.dealer_id.data = str(scope.dealer_id)
    return _render_form(form, None)


def _save(event_id: int | None) -> Any:
    ev = _load(event_id) if event_id is not None else None
    form = EventForm()
    if not form.validate_on_submit():
        return _render_form(form, ev, 400)
    scope = current_scope()
    if ev is not None:
        dealer_id = ev.dealer_id
    else:
        dealer_id = parse_int(form.dealer_id.data) if scope.all_dealers else scope.dealer_id
    try:
        saved = svc.save(current_staff(), event_id, _input(form, dealer_id), client_ip())
    except Invalid as exc:
        form.show_problems(exc)
        return _render_form(form, ev, 422)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Event “%(title)s” saved.", title=saved.title), "success")
    return redirect(url_for(".show", event_id=saved.id), 303)


@bp.post("/new")
@require_perm(Perm.EVENTS_MANAGE)
def create() -> Any:
    """Create a draft event; problems are shown next to their fields."""
    return _save(None)


@bp.get("/<int:event_id>/edit")
@require_perm(Perm.EVENTS_MANAGE)
def edit(event_id: int) -> Any:
    """The form for an event in scope."""
    ev = _load(event_id)
    form = EventForm(formdata=None, data={
        "dealer_id": str(ev.dealer_id or ""), "title": ev.title, "description": ev.description, "place": ev.place,
        "starts_at": _local(ev, ev.starts_at), "ends_at": _local(ev, ev.ends_at),
        "registration_deadline": _local(ev, ev.registration_deadline), "capacity": str(ev.capacity),
        "max_companions": str(ev.max_companions), "points": str(ev.points), "audience": ev.audience.value,
        "min_tier_id": str(ev.min_tier_id or ""), "segment_id": str(ev.segment_id or "")})
    return _render_form(form, ev)


@bp.post("/<int:event_id>/edit")
@require_perm(Perm.EVENTS_MANAGE)
def update(event_id: int) -> Any:
    """Save an event's changes."""
    return _save(event_id)


@bp.get("/<int:event_id>")
@require_perm(Perm.EVENTS_MANAGE)
def show(event_id: int) -> Any:
    """The event: registrations by status, seat use, the check-in QR code and the actions."""
    ev = _load(event_id)
    scope = current_scope()
    rows = attendees.rows(scope, ev)
    qr, qr_error = "", ""
    if ev.status.value == "published":
        try:
            qr = attendees.checkin_qr_url(ev)
        except DomainError as exc:
            qr_error = gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)
    tz = svc.zone(ev.dealer_id)
    return render_template("admin/club/show.html", ev=ev, rows=rows, counts=attendees.counts(rows), qr=qr,
                           qr_error=qr_error, tz=tz, dealers=_dealers(), now=db.utcnow(),
                           publish_form=PublishForm(formdata=None), confirm=ConfirmForm(formdata=None))


@bp.post("/<int:event_id>/publish")
@require_perm(Perm.EVENTS_MANAGE)
def publish(event_id: int) -> Any:
    """Publish a draft, optionally pushing it to the audience's subscribed followers."""
    form = PublishForm()
    if form.validate_on_submit():
        try:
            pushed = svc.publish(current_staff(), event_id, bool(form.push.data), client_ip())
            flash(gettext("Event published.") + (" " + gettext("Push queued for %(n)s followers.", n=pushed)
                                                 if form.push.data else ""), "success")
        except (Forbidden, NotFound) as exc:
            http_for(exc)
        except DomainError as exc:
            flash_domain_error(exc)
    return redirect(url_for(".show", event_id=event_id), 303)


@bp.post("/<int:event_id>/cancel")
@require_perm(Perm.EVENTS_MANAGE)
def cancel(event_id: int) -> Any:
    """Cancel the event; everyone registered or waiting is told."""
    if ConfirmForm().validate_on_submit():
        try:
            told = svc.cancel_event(current_staff(), event_id, client_ip())
            flash(gettext("Event cancelled; %(n)s members will be told.", n=told), "success")
        except (Forbidden, NotFound) as exc:
            http_for(exc)
        except DomainError as exc:
            flash_domain_error(exc)
    return redirect(url_for(".show", event_id=event_id), 303)


@bp.post("/<int:event_id>/registrations/<int:registration_id>/no-show")
@require_perm(Perm.EVENTS_MANAGE)
def no_show(event_id: int, registration_id: int) -> Any:
    """Mark a registrant who did not come as a no-show."""
    if ConfirmForm().validate_on_submit():
        try:
            svc.mark_no_show(current_staff(), event_id, registration_id, client_ip())
            flash(gettext("Marked as no-show."), "success")
        except (Forbidden, NotFound) as exc:
            http_for(exc)
        except DomainError as exc:
            flash_domain_error(exc)
    return redirect(url_for(".show", event_id=event_id), 303)


@bp.get("/<int:event_id>/attendees.csv")
@require_perm(Perm.EVENTS_MANAGE)
def export(event_id: int) -> Response:
    """The attendee list as CSV (phones masked as on screen; audited)."""
    ev = _load(event_id)
    body = attendees.export_csv(current_staff(), ev, lambda m: str(STATUS_LABELS.get(m) or gettext(m)), client_ip())
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=event-{ev.id}-attendees.csv"})
