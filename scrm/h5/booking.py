"""The follower's booking pages: a calendar to book, and 我的预约 to see, cancel or move bookings.

/h5/<slug>/book walks dealer -> service -> (demo model) -> day -> time -> confirmation on one page, each
step a plain link (the page works without JS); the confirmation form posts to the same URL and books
through scrm.services.booking. The other pages live in booking_manage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from flask import redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from scrm.h5 import bp
from scrm.h5.booking_common import Fmt, Page, Visitor, error_text, visitor
from scrm.h5.booking_steps import Steps, read
from scrm.h5.links import register_link
from scrm.models import BookingSource
from scrm.services import booking, booking_h5, booking_mine
from scrm.services.booking import BookingRequest, SlotTaken
from scrm.services.booking_mine import Owner
from scrm.services.errors import DomainError, Invalid, NotFound

register_link("h5.book", _l("Book a visit"), icon="约", order=30)
register_link("h5.my_bookings", _l("My bookings"), icon="单", order=31)

FIELDS = {"licence_confirmed": "licence", "contact_mobile": "mobile", "contact_name": "name", "vehicle_id": "vehicle"}


@dataclass
class BookForm:
    """What the confirmation form holds: values typed, errors per field, the alternatives of a full slot."""

    request_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    vehicle: str = ""
    licence: bool = False
    name: str = ""
    mobile: str = ""
    note: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    alternatives: list[datetime] = field(default_factory=list)

    @classmethod
    def posted(cls) -> BookForm:
        """The form as submitted (cut to the lengths the fields allow)."""
        f = request.form
        key = "".join(c for c in f.get("request_key", "") if c.isalnum())[:64]
        return cls(request_key=key or uuid.uuid4().hex, vehicle=f.get("vehicle", "")[:12],
                   licence=f.get("licence") == "y", name=f.get("name", "")[:64], mobile=f.get("mobile", "")[:20],
                   note=f.get("note", "").strip()[:500])


def _vehicle_id(owner: Owner, form: BookForm) -> int | None:
    if not form.vehicle:
        return None
    found = next((v.id for v in owner.vehicles if str(v.id) == form.vehicle), None)
    if found is None:
        form.errors["vehicle"] = gettext("Choose one of your vehicles.")
    return found


def _alternative(raw: str, steps: Steps) -> None:
    """A tapped alternative ("YYYY-MM-DDTHH:MM") replaces the chosen day and time."""
    day, at = booking_h5.parse_day(raw[:10]), booking_h5.parse_time(raw[11:16])
    if day is not None and at is not None:
        steps.day, steps.time = day, at


def _submit(v: Visitor, steps: Steps, owner: Owner, form: BookForm) -> int | None:
    """Book; the new booking's id, or None with `form.errors` (and alternatives) filled."""
    assert steps.dealer is not None and steps.service is not None
    when = steps.start_utc
    if when is None:
        form.errors["form"] = gettext("Choose a day and a time first.")
        return None
    vehicle_id = _vehicle_id(owner, form)
    name, mobile = owner.name, owner.mobile[:11]
    if owner.customer_id is None:
        try:
            name, mobile = booking_h5.contact(form.name, form.mobile)
        except Invalid as exc:
            form.errors[FIELDS.get(exc.field, "form")] = error_text(exc)
    if form.errors:
        return None
    req = BookingRequest(dealer_id=steps.dealer.id, service_type_id=steps.service.id, start_at=when,
                         source=BookingSource.H5, request_key=form.request_key, customer_id=owner.customer_id,
                         follower_id=v.follower.id, vehicle_id=vehicle_id, demo_model=steps.model or None,
                         contact_name=name, contact_mobile=mobile, licence_confirmed=form.licence, note=form.note)
    try:
        return booking.book(req).id
    except SlotTaken as exc:
        form.errors["form"] = error_text(exc)
        form.alternatives = [a.astimezone(steps.tz) for a in exc.alternatives]
    except NotFound:
        form.errors["form"] = gettext("Sorry, this booking could not be made. Please start again.")
    except Invalid as exc:
        form.errors[FIELDS.get(exc.field, "form")] = error_text(exc)
    except DomainError as exc:
        form.errors["form"] = error_text(exc)
    return None


@bp.route("/<slug>/book", methods=["GET", "POST"])
def book(slug: str) -> Page:
    """Book a visit: the steps as links, then the confirmation form; a booked visit opens its page."""
    v = visitor(slug)
    if not isinstance(v, Visitor):
        return v
    form = BookForm()
    status = 200
    if request.method == "POST":
        steps = read(v, request.form, strict=False)
        form = BookForm.posted()
        if request.form.get("alt"):
            _alternative(request.form["alt"], steps)
        if steps.dealer is None or steps.service is None or not steps.ready:
            return redirect(steps.url("step-day"))
        booked = _submit(v, steps, booking_mine.owner_for(v.follower.id, steps.dealer.id), form)
        if booked is not None:
            return redirect(url_for("h5.booking_view", slug=slug, booking_id=booked, done="booked"))
        status = 422
        try:
            steps.cal = booking_h5.calendar(steps.dealer.id, steps.service.id, steps.model or None)
            steps.slot = next((f for f in steps.cal.slots_on(steps.day) if f.local == steps.time), None)
        except DomainError as exc:
            form.errors.setdefault("form", error_text(exc))
    else:
        steps = read(v, request.args)
    owner = booking_mine.owner_for(v.follower.id, steps.dealer.id) if steps.ready and steps.dealer else None
    return render_template("h5/booking/book.html", account=v.account, steps=steps, form=form, owner=owner,
                           fmt=Fmt()), status


from scrm.h5 import booking_manage  # noqa: E402,F401  (its routes register on bp when imported)
