"""Booking set-up, what a dealer offers: service types (capacity editor) and the demo fleet."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, render_template, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from scrm.admin.auth import client_ip
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.admin.views_booking_setup_common import (
    KINDS,
    CarForm,
    TypeForm,
    back,
    booking_url,
    dealer,
    flash_clashes,
    render_index,
    require_perm,
)
from scrm.services import booking_setup_catalog as catalog
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.validation import FormInvalid

bp = Blueprint("catalog", __name__)


@bp.post("/types")
def create_type() -> Any:
    """Add a service type."""
    dealer_id, dealers = dealer()
    form = TypeForm(prefix="type")
    try:
        st = catalog.create_type(current_staff(), dealer_id, form.to_input(), client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return render_index(dealer_id, dealers, 422, type_form=form)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Service type “%(name)s” added.", name=st.name), "success")
    return back(dealer_id)


def _load_type(type_id: int) -> Any:
    require_perm()
    try:
        return catalog.get_type(current_scope(), type_id)
    except (Forbidden, NotFound) as exc:
        http_for(exc)


@bp.route("/types/<int:type_id>/edit", methods=["GET", "POST"])
def edit_type(type_id: int) -> Any:
    """Edit a service type: name, kind, duration, capacity per slot, order, active."""
    st = _load_type(type_id)
    form = TypeForm(prefix="type", obj=None if request.method == "POST" else st)
    if request.method == "GET":
        form.duration_minutes.data, form.capacity.data = str(st.duration_minutes), str(st.capacity)
        form.sort_order.data, form.kind.data = str(st.sort_order), st.kind.value
        return render_template("admin/booking_setup/type_form.html", form=form, st=st, kinds=KINDS,
                               dealers=current_scope().all_dealers)
    try:
        st = catalog.update_type(current_staff(), type_id, form.to_input(), client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return render_template("admin/booking_setup/type_form.html", form=form, st=st, kinds=KINDS,
                               dealers=current_scope().all_dealers), 422
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Service type “%(name)s” saved.", name=st.name), "success")
    return back(st.dealer_id)


@bp.post("/types/<int:type_id>/active")
def type_active(type_id: int) -> Response:
    """Deactivate or reactivate a service type (existing bookings stay)."""
    st = _load_type(type_id)
    active = request.form.get("active") == "1"
    try:
        st = catalog.set_type_active(current_staff(), type_id, active, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Service type “%(name)s” can be booked again.", name=st.name) if active
          else gettext("Service type “%(name)s” deactivated; its bookings stay.", name=st.name), "success")
    return back(st.dealer_id)


@bp.post("/types/<int:type_id>/delete")
def delete_type(type_id: int) -> Response:
    """Delete a service type that was never booked."""
    st = _load_type(type_id)
    try:
        catalog.delete_type(current_staff(), type_id, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return back(st.dealer_id)
    flash(gettext("Service type “%(name)s” deleted.", name=st.name), "success")
    return back(st.dealer_id)


@bp.post("/cars")
def create_car() -> Any:
    """Add a demo car."""
    dealer_id, dealers = dealer()
    form = CarForm(prefix="car")
    try:
        car = catalog.create_car(current_staff(), dealer_id, form.to_input(), client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return render_index(dealer_id, dealers, 422, car_form=form)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Demo car “%(model)s” added.", model=car.model), "success")
    return back(dealer_id)


def _load_car(car_id: int) -> Any:
    require_perm()
    try:
        return catalog.get_car(current_scope(), car_id)
    except (Forbidden, NotFound) as exc:
        http_for(exc)


@bp.route("/cars/<int:car_id>/edit", methods=["GET", "POST"])
def edit_car(car_id: int) -> Any:
    """Edit a demo car: model, plate, active."""
    car = _load_car(car_id)
    form = CarForm(prefix="car", obj=None if request.method == "POST" else car)
    if request.method == "GET":
        return render_template("admin/booking_setup/car_form.html", form=form, car=car, booking_url=booking_url)
    try:
        car, drives = catalog.update_car(current_staff(), car_id, form.to_input(), client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return render_template("admin/booking_setup/car_form.html", form=form, car=car, booking_url=booking_url), 422
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Demo car “%(model)s” saved.", model=car.model), "success")
    flash_clashes(drives, "car")
    return back(car.dealer_id)


@bp.post("/cars/<int:car_id>/active")
def car_active(car_id: int) -> Response:
    """Retire a demo car (warning about test drives still booked on it) or bring it back."""
    car = _load_car(car_id)
    active = request.form.get("active") == "1"
    try:
        car, drives = catalog.set_car_active(current_staff(), car_id, active, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Demo car “%(model)s” is back in the fleet.", model=car.model) if active
          else gettext("Demo car “%(model)s” retired.", model=car.model), "success")
    flash_clashes(drives, "car")
    return back(car.dealer_id)
