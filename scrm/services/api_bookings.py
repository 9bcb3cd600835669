"""The dealer-system API's bookings: the key's dealer's bookings with filters and keyset pages.

Pages are keyed on (start_at, id), soonest first, so paging is stable while bookings are added; a booking
moved while a client pages may show twice or not at all in that pass: de-duplicate by id, and use
`updated_since` for incremental reads. The dealer's own system sees contact details whole.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from scrm import db
from scrm.models import Booking, BookingStatus, Customer, DemoCar, ServiceType, Vehicle
from scrm.services import booking_config
from scrm.services.api_keys import ApiCaller
from scrm.services.errors import Invalid

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
STATUSES = tuple(s.value for s in BookingStatus)


def parse_when(raw: str | None, name: str, tz: ZoneInfo, *, end: bool = False) -> datetime | None:
    """An ISO date (a local day of the dealer: its start, or with `end` the next day's start) or date-time
    (UTC when it has no offset); Invalid when it is neither."""
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1) if end else day, time(0), tz).astimezone(UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(f"`{name}` must be an ISO 8601 date or time, such as 2024-03-05 or 2024-03-05T08:00:00Z.",
                      field=name) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_status(raw: str | None) -> list[str]:
    """Comma-separated statuses; Invalid for an unknown one."""
    wanted = [p.strip() for p in (raw or "").split(",") if p.strip()]
    bad = [p for p in wanted if p not in STATUSES]
    if bad:
        raise Invalid(f"`status` must be one or more of {', '.join(STATUSES)} (comma-separated).", field="status")
    return wanted


def encode_cursor(start_at: datetime, booking_id: int) -> str:
    """The opaque cursor that continues after this booking."""
    text = f"{start_at.astimezone(UTC).isoformat()}|{booking_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[datetime, int]:
    """The (start_at, id) a cursor continues after; Invalid for anything we did not hand out."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        when, _, ident = text.partition("|")
        value, booking_id = datetime.fromisoformat(when), int(ident)
        if value.tzinfo is None or not 0 < booking_id < 2**31:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("`cursor` is not a cursor this API handed out.", field="cursor") from exc
    return value, booking_id


def dealer_zone(caller: ApiCaller) -> ZoneInfo:
    """The time zone the dealer's bookings are shown in."""
    return booking_config.load(db.session(), caller.dealer_id).rules.tz


def list_bookings(caller: ApiCaller, *, start_from: datetime | None = None, start_to: datetime | None = None,
                  statuses: list[str] | None = None, updated_since: datetime | None = None,
                  cursor: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """One page of the dealer's bookings starting in [from, to), soonest first, and the next page's cursor."""
    limit = max(1, min(limit, MAX_LIMIT))
    tz = dealer_zone(caller)
    car = aliased(DemoCar)
    stmt = (sa.select(Booking, ServiceType.code, ServiceType.name, ServiceType.kind, Customer.external_id,
                      Vehicle.vin, Vehicle.plate, car.model, car.plate.label("car_plate"))
            .join(ServiceType, ServiceType.id == Booking.service_type_id)
            .outerjoin(Customer, Customer.id == Booking.customer_id)
            .outerjoin(Vehicle, Vehicle.id == Booking.vehicle_id)
            .outerjoin(car, car.id == Booking.demo_car_id)
            .where(Booking.dealer_id == caller.dealer_id, Booking.account_id == caller.account_id))
    if start_from is not None:
        stmt = stmt.where(Booking.start_at >= start_from)
    if start_to is not None:
        stmt = stmt.where(Booking.start_at < start_to)
    if statuses:
        stmt = stmt.where(Booking.status.in_([BookingStatus(v) for v in statuses]))
    if updated_since is not None:
        stmt = stmt.where(Booking.updated_at >= updated_since)
    if cursor:
        after, after_id = decode_cursor(cursor)
        stmt = stmt.where(sa.or_(Booking.start_at > after, sa.and_(Booking.start_at == after, Booking.id > after_id)))
    rows = db.session.execute(stmt.order_by(Booking.start_at, Booking.id).limit(limit + 1)).all()
    page = rows[:limit]
    more = len(rows) > limit
    return {"bookings": [_item(r, tz) for r in page],
            "next_cursor": encode_cursor(page[-1][0].start_at, page[-1][0].id) if more else None}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _item(r: Any, tz: ZoneInfo) -> dict[str, Any]:
    b: Booking = r[0]
    return {
        "id": b.id, "status": b.status.value,
        "service": {"code": r.code, "name": r.name, "kind": str(r.kind)},
        "start_at": _iso(b.start_at), "end_at": _iso(b.end_at),
        "start_local": b.start_at.astimezone(tz).isoformat(), "timezone": tz.key,
        "customer": {"id": b.customer_id, "external_id": r.external_id} if b.customer_id is not None else None,
        "vehicle": {"id": b.vehicle_id, "vin": r.vin, "plate": r.plate} if b.vehicle_id is not None else None,
        "demo_car": {"id": b.demo_car_id, "model": r.model, "plate": r.car_plate}
        if b.demo_car_id is not None else None,
        "contact_name": b.contact_name, "contact_mobile": b.contact_mobile, "source": b.source.value,
        "note": b.note, "satisfaction": b.satisfaction, "cancel_reason": b.cancel_reason,
        "created_at": _iso(b.created_at), "updated_at": _iso(b.updated_at),
        "cancelled_at": _iso(b.cancelled_at), "completed_at": _iso(b.completed_at),
    }
