"""One booking's page and what staff do with it: check in, complete, no-show, cancel with a reason, move."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from scrm.admin.auth import client_ip
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.admin.views_bookings import bp, dealer_today, parse_day
from scrm.models import Booking, BookingStatus
from scrm.services import booking, booking_availability, booking_status
from scrm.services import booking_admin as svc
from scrm.services.errors import DomainError, Forbidden, NotFound

MOVE_DAYS = 14


def _detail(booking_id: int) -> svc.BookingDetail:
    try:
        return svc.detail(current_scope(), booking_id)
    except NotFound as exc:
        http_for(exc)


def _render(d: svc.BookingDetail, alternatives: list[datetime] | None = None, status: int = 200) -> tuple[str, int]:
    b = d.booking
    move_day = parse_day(request.values.get("move_day"))
    days: list[booking_availability.DayFree] = []
    times: list[booking_availability.FreeSlot] = []
    if b.status == BookingStatus.CONFIRMED and request.values.get("move") is not None:
        today = dealer_today(b.dealer_id)
        try:
            days = booking_availability.availability(b.dealer_id, b.service_type_id, today, MOVE_DAYS,
                                                     None, b.demo_car_id, moving=b.id)
        except DomainError:
            days = []
        chosen = next((x for x in days if x.day == move_day), None)
        times = chosen.slots if chosen else []
    alt = [t.astimezone(d.tz) for t in alternatives or []]
    return render_template("admin/bookings/view.html", d=d, b=b, move_days=days, move_day=move_day,
                           move_times=times, alternatives=alt,
                           moving=request.values.get("move") is not None), status


@bp.get("/<int:booking_id>")
def view(booking_id: int) -> tuple[str, int]:
    """The booking with its customer, vehicle, service, history and the actions its status allows."""
    return _render(_detail(booking_id))


def _act(booking_id: int, action: Callable[[], Booking], done: str) -> Response:
    _detail(booking_id)  # 404 before anything when out of scope
    try:
        action()
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
    else:
        flash(gettext(done), "success")
    return redirect(url_for(".view", booking_id=booking_id), 303)


@bp.post("/<int:booking_id>/check-in")
def check_in(booking_id: int) -> Response:
    """到店: the customer arrived."""
    return _act(booking_id, lambda: booking_status.check_in(booking_id, current_staff(), ip=client_ip()),
                "Checked in.")


@bp.post("/<int:booking_id>/complete")
def complete(booking_id: int) -> Response:
    """完成: the visit is done (adds it to the service history and timeline)."""
    return _act(booking_id, lambda: booking_status.complete(booking_id, current_staff(), ip=client_ip()),
                "Visit completed.")


@bp.post("/<int:booking_id>/no-show")
def no_show(booking_id: int) -> Response:
    """爽约: the customer did not come (only after the start time)."""
    return _act(booking_id, lambda: booking_status.no_show(booking_id, current_staff(), ip=client_ip()),
                "Marked as no-show.")


@bp.post("/<int:booking_id>/cancel")
def cancel(booking_id: int) -> Response:
    """取消 with a reason; the slots are given back."""
    reason = " ".join(request.form.get("reason", "").split())[:200]
    if not reason:
        _detail(booking_id)
        flash(gettext("Please give a reason for cancelling."), "error")
        return redirect(url_for(".view", booking_id=booking_id), 303)
    return _act(booking_id, lambda: booking_status.cancel(booking_id, staff=current_staff(), reason=reason,
                                                          ip=client_ip()), "Booking cancelled.")


@bp.post("/<int:booking_id>/move")
def move(booking_id: int) -> Any:
    """改期 to a new free time; a time taken meanwhile shows the nearest free ones as buttons."""
    d = _detail(booking_id)
    try:
        start = datetime.fromisoformat(request.form.get("start_at", ""))
        if start.tzinfo is None:
            raise ValueError
    except ValueError:
        flash(gettext("Please choose a time."), "error")
        return redirect(url_for(".view", booking_id=booking_id, move=1), 303)
    try:
        booking.move(booking_id, start, staff=current_staff(), ip=client_ip())
    except booking.SlotTaken as exc:
        flash_domain_error(exc)
        return _render(_detail(booking_id), exc.alternatives, 409)
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for(".view", booking_id=booking_id), 303)
    flash(gettext("Booking moved to %(time)s.", time=start.astimezone(d.tz).strftime("%Y-%m-%d %H:%M")), "success")
    return redirect(url_for(".view", booking_id=booking_id), 303)


from scrm.admin import views_bookings_new  # noqa: E402,F401  (adds booking on behalf of a caller)
