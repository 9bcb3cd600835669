"""Shared parts of the booking set-up pages: the dealer in question, the forms, and drawing the page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext, ngettext
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField

from scrm.admin.forms import STRIP, AdminForm, ChoiceField, parse_int
from scrm.admin.helpers import http_for
from scrm.admin.scoping import current_scope
from scrm.models import ServiceKind
from scrm.services import booking_setup as setup
from scrm.services import booking_setup_catalog as catalog
from scrm.services import booking_setup_closures as closures
from scrm.services import booking_setup_hours as hours
from scrm.services.booking_availability import DayFree
from scrm.services.booking_setup import Clash
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.scope import Perm

WEEKDAYS = (lazy_gettext("Monday"), lazy_gettext("Tuesday"), lazy_gettext("Wednesday"), lazy_gettext("Thursday"),
            lazy_gettext("Friday"), lazy_gettext("Saturday"), lazy_gettext("Sunday"))
KINDS = {ServiceKind.MAINTENANCE.value: lazy_gettext("Maintenance"), ServiceKind.REPAIR.value: lazy_gettext("Repair"),
         ServiceKind.BODYWORK.value: lazy_gettext("Body and paint"),
         ServiceKind.TEST_DRIVE.value: lazy_gettext("Test drive"), ServiceKind.OTHER.value: lazy_gettext("Other")}


class RulesForm(AdminForm):
    slot_minutes = ChoiceField("Slot length", choices=[(str(m), str(m)) for m in setup.SLOT_CHOICES])
    min_notice_minutes = StringField("Minimum notice", filters=STRIP)
    horizon_days = StringField("Bookable ahead", filters=STRIP)
    cancel_cutoff_minutes = StringField("Cancellation cut-off", filters=STRIP)
    timezone = StringField("Time zone", filters=STRIP)


class ClosureForm(AdminForm):
    first_day = StringField("First day", filters=STRIP)
    last_day = StringField("Last day", filters=STRIP)
    whole_day = BooleanField("Whole day", default=True)
    from_time = StringField("Start time", filters=STRIP)
    to_time = StringField("End time", filters=STRIP)
    reason = StringField("Reason", filters=STRIP)


class TypeForm(AdminForm):
    name = StringField("Name", filters=STRIP)
    kind = ChoiceField("Kind", choices=list(KINDS.items()))
    duration_minutes = StringField("Duration", filters=STRIP, default="60")
    capacity = StringField("Capacity per slot", filters=STRIP, default="1")
    sort_order = StringField("Order", filters=STRIP, default="0")
    active = BooleanField("Active", default=True)

    def to_input(self) -> catalog.TypeInput:
        """The service input."""
        return catalog.TypeInput(name=self.name.data or "", kind=self.kind.data or "",
                                 duration_minutes=self.duration_minutes.data or "", capacity=self.capacity.data or "",
                                 sort_order=self.sort_order.data or "0", active=bool(self.active.data))


class CarForm(AdminForm):
    model = StringField("Model", filters=STRIP)
    plate = StringField("Plate", filters=STRIP)
    active = BooleanField("Active", default=True)

    def to_input(self) -> catalog.CarInput:
        """The service input."""
        return catalog.CarInput(model=self.model.data or "", plate=self.plate.data or "", active=bool(self.active.data))


def require_perm() -> None:
    """403 for staff without the booking set-up permission."""
    if not current_scope().can(Perm.BOOKINGS_SETUP):
        abort(403)


def dealer() -> tuple[int, list[Any]]:
    """The dealer the page is about: a manager's own (another id is 404); a brand admin's ?dealer= or the first."""
    require_perm()
    scope = current_scope()
    chosen = parse_int(request.values.get("dealer"))
    if not scope.all_dealers:
        if scope.dealer_id is None or (request.values.get("dealer") and chosen != scope.dealer_id):
            abort(404)
        return scope.dealer_id, []
    dealers = dealer_choices(scope)
    ids = [d.id for d in dealers]
    if chosen in ids:
        return int(chosen), dealers
    if request.values.get("dealer") or not ids:
        abort(404)
    return ids[0], dealers


def back(dealer_id: int) -> Response:
    """Redirect to the top of the set-up page of `dealer_id` (303), where the messages and warnings show."""
    query: dict[str, Any] = {"dealer": dealer_id} if current_scope().all_dealers else {}
    return redirect(url_for("admin.booking_setup.index", **query), 303)


def booking_url(booking_id: int) -> str:
    """The admin page of a booking (the plain path when the bookings pages are not installed)."""
    if "admin.bookings.view" in current_app.view_functions:
        return url_for("admin.bookings.view", booking_id=booking_id)
    return f"/admin/bookings/{booking_id}"


def flash_clashes(found: list[Clash], what: str) -> None:
    """Warn that upcoming bookings are affected (they stay booked; the page lists them)."""
    if not found:
        return
    if what == "car":
        text = ngettext("%(num)s upcoming test drive is booked on this car; it stays booked, check it below.",
                        "%(num)s upcoming test drives are booked on this car; they stay booked, check them below.",
                        len(found))
    else:
        text = ngettext("%(num)s confirmed booking now falls outside the opening hours; it was not cancelled, "
                        "check it below.",
                        "%(num)s confirmed bookings now fall outside the opening hours; they were not cancelled, "
                        "check them below.", len(found))
    flash(text, "error")


def ranges(day: DayFree, slot_minutes: int) -> list[str]:
    """Free start times folded into ranges: "08:30–11:00" (each the first to the last free start)."""
    out: list[list[Any]] = []
    step = timedelta(minutes=slot_minutes)
    for f in day.slots:
        if out and f.start_at - out[-1][2] == step:
            out[-1][1], out[-1][2] = f.local, f.start_at
        else:
            out.append([f.local, f.local, f.start_at])
    return [f"{a:%H:%M}" if a == b else f"{a:%H:%M}–{b:%H:%M}" for a, b, _ in out]


def _preview(dealer_id: int, types: list[catalog.TypeRow], slot: int) -> dict[str, Any]:
    active = [t.st for t in types if t.st.active]
    wanted = parse_int(request.args.get("preview"))
    chosen = next((st for st in active if st.id == wanted), active[0] if active else None)
    if chosen is None:
        return {"service": None, "days": [], "error": "", "ranges": ranges, "slot": slot}
    try:
        days = setup.preview(current_scope(), dealer_id, chosen.id)
        error = ""
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        days, error = [], exc.message
    return {"service": chosen, "days": days, "error": error, "ranges": ranges, "slot": slot, "choices": active}


def render_index(dealer_id: int, dealers: list[Any], status: int = 200, **forms: Any) -> tuple[str, int]:
    """The whole set-up page; `forms` replaces a default form (one that failed validation, with its errors)."""
    scope = current_scope()
    if status == 422 and "hours_errors" not in forms:
        flash(gettext("Please correct the fields marked below."), "error")
    try:
        rules = setup.rules_of(scope, dealer_id)
        week = hours.hours_of(scope, dealer_id)
        types = catalog.types_of(scope, dealer_id)
        cars = catalog.cars_of(scope, dealer_id)
        closed = closures.upcoming(scope, dealer_id)
        clashes = setup.current_clashes(scope, dealer_id)
        retired = catalog.retired_drives(scope, dealer_id)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    rules_form = forms.get("rules_form") or RulesForm(prefix="rules", formdata=None, obj=rules)
    slot = int(rules.slot_minutes)
    stored = {wd: [(f"{o:%H:%M}", f"{c:%H:%M}") for o, c in week.get(wd, [])] for wd in range(7)}
    hours_raw = forms.get("hours_raw", stored)
    hours_closed = forms.get("hours_closed", {wd for wd in range(7) if not week.get(wd)})
    return render_template(
        "admin/booking_setup/index.html", dealer_id=dealer_id, dealers=dealers, rules_form=rules_form, slot=slot,
        hours_raw=hours_raw, hours_closed=hours_closed,
        hours_errors=forms.get("hours_errors") or {}, max_intervals=hours.MAX_INTERVALS, weekdays=WEEKDAYS,
        closure_form=forms.get("closure_form") or ClosureForm(prefix="closure", formdata=None),
        type_form=forms.get("type_form") or TypeForm(prefix="type", formdata=None),
        car_form=forms.get("car_form") or CarForm(prefix="car", formdata=None),
        types=types, cars=cars, closures=closed, clashes=clashes, retired=retired, kinds=KINDS,
        booking_url=booking_url, preview=_preview(dealer_id, types, slot)), status
