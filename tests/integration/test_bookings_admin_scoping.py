"""Dealer A's staff cannot read or change dealer B's bookings through ANY admin.bookings route: every URL
rule of the area is tried with B's ids (and ?dealer=B), by GET and by POST; nothing leaks, nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Booking, BookingStatus, Role
from scrm.services import booking
from tests.integration.admin_support import csrf, signed_in, text
from tests.integration.booking_support import at, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration

SECRET = "B-SECRET-NAME"


def _rows() -> list[tuple[Any, ...]]:
    db.session.remove()
    return [tuple(r) for r in db.session.execute(sa.select(Booking.id, Booking.status, Booking.start_at,
                                                           Booking.cancel_reason).order_by(Booking.id))]


@pytest.mark.parametrize("role", [Role.DEALER_MANAGER, Role.DEALER_STAFF])
def test_dealer_a_cannot_touch_dealer_b_bookings(app: Any, client: Any, role: Role) -> None:
    a, b = make_shop(), make_shop()
    c = make_customer(b.dealer, name=SECRET, mobile="13999990000")
    v = make_vehicle(c, plate="沪B99999")
    theirs = booking.book(request(b, b.repair, at(9), customer_id=c.id, vehicle_id=v.id, contact_name=SECRET,
                                  contact_mobile="13999990000"))
    before = _rows()
    signed_in(client, role, dealer=a.dealer)
    token = csrf(client, "/admin/")
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.bookings.")]
    assert {r.endpoint for r in rules} >= {"admin.bookings.calendar", "admin.bookings.index", "admin.bookings.view",
                                         "admin.bookings.new_booking", "admin.bookings.create",
                                         "admin.bookings.check_in", "admin.bookings.move"}
    failures = []
    payload = {"csrf_token": token, "reason": "hacked", "start_at": at(10).isoformat(), "service": b.repair.id,
               "customer": c.id, "vehicle": v.id, "key": "k" * 32, "name": "x", "mobile": "13900000000",
               "dealer": b.dealer.id}
    for rule in rules:
        with app.test_request_context():
            from flask import url_for

            args: dict[str, Any] = {"booking_id": theirs.id} if "booking_id" in rule.arguments else {}
            url = url_for(rule.endpoint, **args)
        for method in sorted(rule.methods & {"GET", "POST"}):
            if method == "GET":
                resp = client.get(url, query_string={"dealer": b.dealer.id, "customer": c.id, "q": SECRET[:8],
                                                     "day": at(9).date().isoformat()})
            else:
                resp = client.post(url, data=payload)
            body = resp.data.decode("utf-8-sig")
            if SECRET in body or "13999990000" in body or "沪B99999" in body:
                failures.append(f"{method} {url}: shows B's booking")
            if rule.arguments and resp.status_code not in (403, 404):
                failures.append(f"{method} {url}: status {resp.status_code}")
            if resp.status_code >= 500:
                failures.append(f"{method} {url}: status {resp.status_code}")
    assert not failures, failures
    assert _rows() == before  # nothing of B's changed, and nothing was booked for A with B's rows
    assert db.session.get(Booking, theirs.id).status == BookingStatus.CONFIRMED  # type: ignore[union-attr]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action.like("booking.%"), AuditLog.action != "booking.export")) == 0


def test_calendar_of_a_dealer_shows_only_that_dealer(client: Any, app: Any) -> None:
    a, b = make_shop(), make_shop()
    booking.book(request(b, b.repair, at(9), contact_name=SECRET))
    signed_in(client, Role.DEALER_MANAGER, dealer=a.dealer)
    html = text(client.get("/admin/bookings/calendar", query_string={"day": at(9).date().isoformat(),
                                                                     "dealer": b.dealer.id}))
    assert SECRET not in html and 'id="day-grid"' in html
