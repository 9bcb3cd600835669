"""Booking set-up in the admin: rules, opening hours, closures, service types with their capacity, demo fleet."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from scrm.admin import nav
from scrm.admin import views_booking_setup_catalog as catalog_views
from scrm.admin.auth import client_ip
from scrm.admin.helpers import http_for
from scrm.admin.scoping import current_staff
from scrm.admin.views_booking_setup_common import (
    ClosureForm,
    RulesForm,
    back,
    dealer,
    flash_clashes,
    render_index,
    require_perm,
)
from scrm.services import booking_setup as setup
from scrm.services import booking_setup_closures as closures
from scrm.services import booking_setup_hours as hours
from scrm.services.errors import Forbidden, NotFound
from scrm.services.scope import Perm
from scrm.services.validation import FormInvalid

bp = Blueprint("booking_setup", __name__, url_prefix="/booking-setup")
bp.register_blueprint(catalog_views.bp)
nav.add_group("bookings", "Bookings", 25)
nav.add_item(nav.NavItem("bookings", "admin.booking_setup.index", "Booking set-up", order=30,
                         perm=Perm.BOOKINGS_SETUP, active_prefixes=("admin.booking_setup.",)))


@bp.get("/")
def index() -> tuple[str, int]:
    """The set-up page of one dealer: preview, rules, hours, closures, service types, demo fleet."""
    dealer_id, dealers = dealer()
    return render_index(dealer_id, dealers)


@bp.post("/rules")
def rules() -> Any:
    """Save the booking rules (creating the settings row when the dealer has none)."""
    dealer_id, dealers = dealer()
    form = RulesForm(prefix="rules")
    data = setup.RulesInput(slot_minutes=form.slot_minutes.data or "", timezone=form.timezone.data or "",
                            min_notice_minutes=form.min_notice_minutes.data or "",
                            horizon_days=form.horizon_days.data or "",
                            cancel_cutoff_minutes=form.cancel_cutoff_minutes.data or "")
    try:
        found = setup.save_rules(current_staff(), dealer_id, data, client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return render_index(dealer_id, dealers, 422, rules_form=form)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Booking rules saved."), "success")
    flash_clashes(found, "hours")
    return back(dealer_id)


def _raw_week() -> tuple[dict[int, list[tuple[str, str]]], set[int]]:
    """The hours grid as submitted; a day ticked "closed" has no intervals."""
    raw: dict[int, list[tuple[str, str]]] = {}
    closed = set()
    for wd in range(7):
        rows = [(request.form.get(hours.field_name(wd, i, "opens"), ""),
                 request.form.get(hours.field_name(wd, i, "closes"), "")) for i in range(hours.MAX_INTERVALS)]
        if request.form.get(f"h{wd}_closed"):
            closed.add(wd)
            rows = []
        raw[wd] = rows
    return raw, closed


@bp.post("/hours")
def save_hours() -> Any:
    """Replace the weekly opening hours; warn about confirmed bookings now outside them."""
    dealer_id, dealers = dealer()
    raw, closed = _raw_week()
    try:
        found = hours.save_hours(current_staff(), dealer_id, raw, client_ip())
    except FormInvalid as exc:
        errors: dict[str, list[str]] = {}
        for p in exc.problems:
            errors.setdefault(p.field, []).append(gettext(p.message, **p.params))
        flash(gettext("Please correct the opening hours marked below."), "error")
        return render_index(dealer_id, dealers, 422, hours_raw=raw, hours_closed=closed,
                            hours_errors=errors)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Opening hours saved."), "success")
    flash_clashes(found, "hours")
    return back(dealer_id)


@bp.post("/hours/copy-monday")
def copy_monday() -> Response:
    """Give Tuesday to Friday the saved hours of Monday."""
    dealer_id, _dealers = dealer()
    try:
        found = hours.copy_monday(current_staff(), dealer_id, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Monday's hours copied to Tuesday to Friday."), "success")
    flash_clashes(found, "hours")
    return back(dealer_id)


@bp.post("/closures")
def add_closure() -> Any:
    """Close the dealer for a day or a range of days (one closure per day)."""
    dealer_id, dealers = dealer()
    form = ClosureForm(prefix="closure")
    data = closures.ClosureInput(first_day=form.first_day.data or "", last_day=form.last_day.data or "",
                                 whole_day=bool(form.whole_day.data), from_time=form.from_time.data or "",
                                 to_time=form.to_time.data or "", reason=form.reason.data or "")
    try:
        rows, found = closures.add_closure(current_staff(), dealer_id, data, client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return render_index(dealer_id, dealers, 422, closure_form=form)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Closure added for %(days)s days.", days=len(rows)) if len(rows) > 1
          else gettext("Closure added."), "success")
    flash_clashes(found, "hours")
    return back(dealer_id)


@bp.post("/closures/<int:closure_id>/delete")
def delete_closure(closure_id: int) -> Response:
    """Reopen one closed day."""
    require_perm()
    try:
        row = closures.delete_closure(current_staff(), closure_id, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Closure on %(day)s deleted.", day=row.day.isoformat()), "success")
    return back(row.dealer_id)
