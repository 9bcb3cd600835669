"""Booking domain events, and this area's own subscribers (timeline entry, vehicle's last service date).

Later areas (points, journeys, reminders) subscribe with `events_bus.subscribe(BookingCompleted, fn)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from scrm.models import Booking, ServiceKind, ServiceType, TimelineEntry, Vehicle
from scrm.services import booking_config, events_bus
from scrm.services.normalize_base import N_


@dataclass(frozen=True)
class BookingEvent:
    """What every booking event carries (ids, not rows: handlers load what they need)."""

    booking_id: int
    account_id: int
    dealer_id: int
    customer_id: int | None
    follower_id: int | None
    vehicle_id: int | None
    service_type_id: int
    start_at: datetime
    staff_id: int | None = None
    chat_follower_id: int | None = None  # the follower who did this in the chat (the bot's reply told them)


@dataclass(frozen=True)
class BookingConfirmed(BookingEvent):
    """A new booking was confirmed."""


@dataclass(frozen=True)
class BookingMoved(BookingEvent):
    """A booking moved to `start_at` from `old_start_at`."""

    old_start_at: datetime | None = None


@dataclass(frozen=True)
class BookingCancelled(BookingEvent):
    """A booking was cancelled (by staff when `staff_id` is set)."""

    reason: str = ""


@dataclass(frozen=True)
class BookingCompleted(BookingEvent):
    """The visit took place: the event points and journeys start from."""

    completed_at: datetime | None = None


@dataclass(frozen=True)
class BookingRated(BookingEvent):
    """The owner (or staff for them) gave a completed visit its 1-5 satisfaction score."""

    score: int = 0


def event_of(cls: type[BookingEvent], b: Booking, staff_id: int | None = None, **extra: Any) -> BookingEvent:
    """Build an event of type `cls` from a booking row."""
    return cls(booking_id=b.id, account_id=b.account_id, dealer_id=b.dealer_id, customer_id=b.customer_id,
               follower_id=b.follower_id, vehicle_id=b.vehicle_id, service_type_id=b.service_type_id,
               start_at=b.start_at, staff_id=staff_id, **extra)


SERVICE_KINDS = (ServiceKind.MAINTENANCE, ServiceKind.REPAIR, ServiceKind.BODYWORK)


def add_timeline_entry(s: Session, event: BookingCompleted) -> None:
    """A completed booking shows on the customer's timeline."""
    if event.customer_id is None:
        return
    st = s.get(ServiceType, event.service_type_id)
    s.add(TimelineEntry(account_id=event.account_id, dealer_id=event.dealer_id, customer_id=event.customer_id,
                        kind="booking", title=N_("Booked visit completed"),
                        detail={"booking_id": event.booking_id, "service": st.name if st else "",
                                "kind": str(st.kind) if st else "", "vehicle_id": event.vehicle_id},
                        occurred_at=event.completed_at or event.start_at))


def update_last_service(s: Session, event: BookingCompleted) -> None:
    """A completed maintenance visit sets the vehicle's last service date (never backwards)."""
    if event.vehicle_id is None:
        return
    st = s.get(ServiceType, event.service_type_id)
    if st is None or st.kind != ServiceKind.MAINTENANCE:
        return
    v = s.get(Vehicle, event.vehicle_id, with_for_update=True)
    if v is None:
        return
    day = (event.completed_at or event.start_at).astimezone(booking_config.load(s, event.dealer_id).rules.tz).date()
    if v.last_service_date is None or v.last_service_date < day:
        v.last_service_date = day
        v.updated_at = event.completed_at or event.start_at


events_bus.subscribe(BookingCompleted, add_timeline_entry, name="booking.timeline")
events_bus.subscribe(BookingCompleted, update_last_service, name="booking.last_service")
