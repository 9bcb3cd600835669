"""Booking on behalf of a caller (/admin/bookings/new): server-rendered steps on one page.

1. who: search the dealer's customers, or type a new caller's name and mobile;
2. what: the vehicle (or none), the service, for a test drive the demo model and the licence check;
3. when: the days with room, then the free times of the chosen day, a note, and submit.
The state travels in the query string; a hidden request key makes a double submit one booking.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from scrm.admin.auth import client_ip
from scrm.admin.forms import parse_int
from scrm.admin.helpers import http_for
from scrm.admin.scoping import current_scope, current_staff, pick_dealer
from scrm.admin.views_bookings import bp, dealer_query, dealer_today, parse_day
from scrm.models import ServiceKind
from scrm.services import booking
from scrm.services import booking_admin as svc
from scrm.services import booking_admin_new as new
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.validation import FormInvalid

STATE_FIELDS = ("customer", "name", "mobile", "vehicle", "service", "demo_model", "licence", "day", "key")


def _state(values: MultiDict[str, str]) -> dict[str, str]:
    """The steps' state from the query string or the form (only the known fields, trimmed)."""
    state = {k: values.get(k, "").strip()[:64] for k in STATE_FIELDS}
    state["key"] = state["key"] if new.REQUEST_KEY.fullmatch(state["key"]) else uuid.uuid4().hex
    return {k: v for k, v in state.items() if v}


def _page(dealer_id: int, dealers: list[Any], state: dict[str, str], *, problems: list[str] | None = None,
          field_errors: dict[str, list[str]] | None = None, alternatives: list[Any] | None = None,
          note: str = "", start_at: str = "", status: int = 200) -> tuple[str, int]:
    scope = current_scope()
    q = dealer_query(dealer_id, dealers)
    customer_id = parse_int(state.get("customer"))
    try:
        who = new.caller(scope, dealer_id, customer_id, state.get("name", ""), state.get("mobile", ""))
    except NotFound as exc:
        http_for(exc)
    found = new.find_customers(scope, dealer_id, request.args.get("q", "")) if "q" in request.args else None
    services = svc.service_types(scope, dealer_id, active_only=True)
    service = next((st for st in services if st.id == parse_int(state.get("service"))), None)
    caller_known = customer_id is not None or bool(state.get("name") and state.get("mobile"))
    days, times, day = [], [], parse_day(state.get("day"))
    ready = caller_known and service is not None and (
        service.kind != ServiceKind.TEST_DRIVE or state.get("licence") == "y")
    if ready and service is not None:
        try:
            days = new.free_days(dealer_id, service.id, dealer_today(dealer_id), state.get("demo_model", ""))
        except DomainError as exc:
            problems = [*(problems or []), gettext(exc.message, **exc.params)]
        chosen = next((x for x in days if x.day == day), None)
        times = chosen.slots if chosen else []
    return render_template(
        "admin/bookings/new.html", dealers=dealers, dealer_id=dealer_id, q=q, state=state, who=who, found=found,
        search=request.args.get("q", ""), services=services, service=service, caller_known=caller_known,
        demo_models=new.demo_models(scope, dealer_id), days=days, day=day, times=times, ready=ready,
        problems=problems or [], field_errors=field_errors or {}, alternatives=alternatives or [],
        note=note, start_at=start_at, TEST_DRIVE=ServiceKind.TEST_DRIVE,
        td_asked=request.values.get("td") == "1",
        day_query={**{k: v for k, v in state.items() if k != "day"}, **q}), status


@bp.get("/new")
def new_booking() -> tuple[str, int]:
    """The booking-on-behalf steps."""
    dealer_id, dealers = pick_dealer()
    return _page(dealer_id, dealers, _state(request.args))


@bp.post("/new")
def create() -> Response | tuple[str, int]:
    """Make the booking (source STAFF); problems re-show the form with nothing changed."""
    dealer_id, dealers = pick_dealer()
    form = request.form
    state = _state(form)
    note = form.get("note", "")[:600]
    data = new.OnBehalf(
        dealer_id=dealer_id, request_key=form.get("key", ""), customer_id=parse_int(form.get("customer")),
        name=form.get("name", ""), mobile=form.get("mobile", ""), vehicle_id=parse_int(form.get("vehicle")),
        service_type_id=parse_int(form.get("service")), demo_model=form.get("demo_model", "").strip(),
        licence_confirmed=form.get("licence") == "y", start_at=form.get("start_at", ""), note=note)
    try:
        b = new.book_on_behalf(current_staff(), data, ip=client_ip())
    except booking.SlotTaken as exc:
        tz = svc.zone_of(dealer_id)
        return _page(dealer_id, dealers, state, problems=[gettext(exc.message)], note=note, status=409,
                     alternatives=[t.astimezone(tz) for t in exc.alternatives])
    except FormInvalid as exc:
        errors: dict[str, list[str]] = {}
        general: list[str] = []
        for p in exc.problems:
            text = gettext(p.message, **p.params) if p.params else gettext(p.message)
            (errors.setdefault(p.field, []) if p.field else general).append(text)
        return _page(dealer_id, dealers, state, problems=general, field_errors=errors, note=note,
                     start_at=form.get("start_at", ""), status=422)
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    except DomainError as exc:
        text = gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)
        return _page(dealer_id, dealers, state, problems=[text], note=note, start_at=form.get("start_at", ""),
                     status=422)
    flash(gettext("Booked for %(time)s.", time=b.start_at.astimezone(svc.zone_of(dealer_id))
                  .strftime("%Y-%m-%d %H:%M")), "success")
    return redirect(url_for(".view", booking_id=b.id), 303)
