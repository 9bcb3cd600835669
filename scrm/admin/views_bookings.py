"""Bookings in the admin: the day and week calendar, the booking list, check-in / complete / no-show,
and booking on behalf of a caller (views_bookings_actions adds the POST actions and the booking form)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask_babel import gettext, lazy_gettext

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import parse_int
from scrm.admin.scoping import current_scope, current_staff, pick_dealer
from scrm.models import BookingSource, BookingStatus, ServiceKind
from scrm.services import booking_admin as svc
from scrm.services import booking_admin_calendar as cal
from scrm.services import booking_admin_export as exports
from scrm.services.paging import clamp_page

bp = Blueprint("bookings", __name__, url_prefix="/bookings")
nav.add_group("bookings", "Bookings", 25)
nav.add_item(nav.NavItem("bookings", "admin.bookings.calendar", "Booking calendar", order=10,
                         active_prefixes=("admin.bookings.calendar",)))
nav.add_item(nav.NavItem("bookings", "admin.bookings.index", "Booking list", order=20,
                         active_prefixes=("admin.bookings.index", "admin.bookings.view", "admin.bookings.new")))

STATUS_LABELS = {
    BookingStatus.CONFIRMED.value: lazy_gettext("Confirmed"),
    BookingStatus.CHECKED_IN.value: lazy_gettext("Checked in"),
    BookingStatus.COMPLETED.value: lazy_gettext("Completed"),
    BookingStatus.CANCELLED.value: lazy_gettext("Cancelled"),
    BookingStatus.NO_SHOW.value: lazy_gettext("No-show"),
}
STATUS_BADGES = {"confirmed": "badge-blue", "checked_in": "badge-amber", "completed": "badge-green",
                 "cancelled": "badge-grey", "no_show": "badge-red"}
SOURCE_LABELS = {
    BookingSource.CHAT.value: lazy_gettext("WeChat chat"),
    BookingSource.H5.value: lazy_gettext("WeChat page"),
    BookingSource.STAFF.value: lazy_gettext("Staff (phone or walk-in)"),
    BookingSource.API.value: lazy_gettext("Dealer system"),
}
KIND_LABELS = {
    ServiceKind.MAINTENANCE.value: lazy_gettext("Maintenance"),
    ServiceKind.REPAIR.value: lazy_gettext("Repair"),
    ServiceKind.BODYWORK.value: lazy_gettext("Body and paint"),
    ServiceKind.TEST_DRIVE.value: lazy_gettext("Test drive"),
    ServiceKind.OTHER.value: lazy_gettext("Other"),
}
WEEKDAYS = (lazy_gettext("Mon"), lazy_gettext("Tue"), lazy_gettext("Wed"), lazy_gettext("Thu"), lazy_gettext("Fri"),
            lazy_gettext("Sat"), lazy_gettext("Sun"))


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"STATUS_LABELS": STATUS_LABELS, "STATUS_BADGES": STATUS_BADGES, "SOURCE_LABELS": SOURCE_LABELS,
            "BOOKING_KIND_LABELS": KIND_LABELS, "WEEKDAYS": WEEKDAYS}


@bp.app_template_global("customer_bookings")
def customer_bookings(customer_id: int) -> tuple[list[svc.BookingRow], int]:
    """For the customer 360 page's booking panel: the customer's latest bookings and their count."""
    return svc.for_customer(current_scope(), customer_id)


def dealer_query(dealer_id: int, dealers: list[Any]) -> dict[str, Any]:
    """The query-string part that keeps a brand admin on the chosen dealer."""
    return {"dealer": dealer_id} if dealers else {}


def parse_day(raw: str | None) -> date | None:
    """A YYYY-MM-DD date from the query string, None when missing or malformed."""
    try:
        return date.fromisoformat((raw or "").strip()[:10])
    except ValueError:
        return None


def dealer_today(dealer_id: int) -> date:
    """Today in the dealer's time zone."""
    return svc.today_of(dealer_id)


@bp.get("/calendar")
def calendar() -> str:
    """The day grid (slots x service types) or the week (one service's slots, or per-day totals)."""
    dealer_id, dealers = pick_dealer()
    today = dealer_today(dealer_id)
    day = parse_day(request.args.get("day")) or today
    view = "week" if request.args.get("view") == "week" else "day"
    service_id = parse_int(request.args.get("service"))
    q = dealer_query(dealer_id, dealers)
    scope = current_scope()
    if view == "week":
        first = cal.week_start(day)
        wk = cal.week(scope, dealer_id, first, service_id)
        nav_days = {"prev": first - timedelta(days=7), "next": first + timedelta(days=7)}
        return render_template("admin/bookings/calendar.html", view=view, day=day, today=today, week=wk, grid=None,
                               dealers=dealers, dealer_id=dealer_id, q=q, nav_days=nav_days,
                               services=svc.service_types(scope, dealer_id),
                               service_id=wk.service.id if wk.service else None)
    grid = cal.day_grid(scope, dealer_id, day)
    nav_days = {"prev": day - timedelta(days=1), "next": day + timedelta(days=1)}
    return render_template("admin/bookings/calendar.html", view=view, day=day, today=today, week=None, grid=grid,
                           dealers=dealers, dealer_id=dealer_id, q=q, nav_days=nav_days,
                           services=svc.service_types(scope, dealer_id), service_id=service_id)


def _filter() -> tuple[svc.BookingFilter, dict[str, Any]]:
    """The list filter from the query string, and the query string that reproduces it."""
    args = request.args
    flt = svc.BookingFilter(first=parse_day(args.get("from")), last=parse_day(args.get("to")),
                            status=args.get("status", "") if args.get("status") in STATUS_LABELS else "",
                            service_type_id=parse_int(args.get("service")),
                            source=args.get("source", "") if args.get("source") in SOURCE_LABELS else "",
                            q=args.get("q", "").strip()[:64],
                            order="newest" if args.get("order") == "newest" else "soonest")
    query = {k: v for k, v in {"from": flt.first.isoformat() if flt.first else "",
                               "to": flt.last.isoformat() if flt.last else "", "status": flt.status,
                               "service": flt.service_type_id or "", "source": flt.source, "q": flt.q,
                               "order": flt.order if flt.order != "soonest" else ""}.items() if v}
    return flt, query


@bp.get("/")
def index() -> str:
    """The dealer's bookings, filtered and paged."""
    dealer_id, dealers = pick_dealer()
    flt, query = _filter()
    scope = current_scope()
    page, search = svc.list_bookings(scope, dealer_id, flt, clamp_page(request.args.get("page")))
    q = dealer_query(dealer_id, dealers)
    return render_template("admin/bookings/list.html", page=page, search=search, flt=flt,
                           query={**query, **q}, q=q, dealers=dealers, dealer_id=dealer_id,
                           services=svc.service_types(scope, dealer_id), export_cap=exports.EXPORT_CAP)


@bp.get("/export.csv")
def export() -> Response:
    """The filtered list as CSV (UTF-8 with BOM for Excel), masked as on screen, streamed, capped and audited."""
    dealer_id, _ = pick_dealer()
    flt, _ = _filter()
    stream = exports.export_csv(current_staff(), dealer_id, flt, gettext, lambda v: str(STATUS_LABELS[v]),
                                lambda v: str(SOURCE_LABELS[v]), client_ip())
    name = f"bookings-{dealer_today(dealer_id).strftime('%Y%m%d')}.csv"
    return Response(stream_with_context(stream), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={name}", "Cache-Control": "no-store"})


from scrm.admin import views_bookings_actions  # noqa: E402,F401  (adds the booking page and its POST routes)
