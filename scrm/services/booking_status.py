"""A booking's life after it is made: cancel, check in, complete, no-show, and the satisfaction score.

Who acts: `staff` (scope-checked: another dealer's booking is NotFound), or `follower_id` (the booking
must be that follower's, or belong to a customer record bound to it), or neither (a trusted system
caller, e.g. the dealer API, held to the customer rules). Customers cancel and move only up to the
dealer's cut-off; staff may override it. Only cancelling gives slots back: a no-show still used the time.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Booking, BookingStatus, StaffUser
from scrm.services import audit, booking_config, booking_mine, booking_slots, events_bus
from scrm.services.booking_config import DealerConfig
from scrm.services.booking_events import BookingCancelled, BookingCompleted, BookingRated, event_of
from scrm.services.booking_rules import can_cancel
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope


def _load(s: Session, booking_id: int, staff: StaffUser | None, follower_id: int | None) -> Booking:
    """The booking, row-locked; NotFound when out of the staff member's scope or not the follower's."""
    b = s.scalar(sa.select(Booking).where(Booking.id == booking_id).with_for_update())
    if b is None:
        raise NotFound()
    if staff is not None:
        if not Scope.of(staff).allows(b):
            raise NotFound()
    elif follower_id is not None and not booking_mine.is_followers(s, b, follower_id):
        raise NotFound()
    return b


def load_for_change(s: Session, booking_id: int, staff: StaffUser | None, follower_id: int | None,
                    now: datetime) -> tuple[Booking, DealerConfig]:
    """A confirmed booking the caller may still cancel or move (customers: before the cut-off)."""
    b = _load(s, booking_id, staff, follower_id)
    if b.status != BookingStatus.CONFIRMED:
        raise DomainError(N_("This booking can no longer be changed."))
    cfg = booking_config.load(s, b.dealer_id)
    if staff is None and not can_cancel(b.start_at, cfg.rules, now):
        raise DomainError(N_("It is too late to change this booking online; please call the dealer."),
                          minutes=cfg.rules.cancel_cutoff_minutes)
    return b, cfg


def cancel(booking_id: int, *, staff: StaffUser | None = None, follower_id: int | None = None, reason: str = "",
           ip: str = "", now: datetime | None = None, in_chat: bool = False) -> Booking:
    """Cancel a confirmed booking and give its slots back (`in_chat`: the chat's reply told the follower)."""
    now = now or db.utcnow()
    with db.transaction() as s:
        b, _ = load_for_change(s, booking_id, staff, follower_id, now)
        booking_slots.apply(s, b.dealer_id, [], booking_slots.held(b), {})
        b.status, b.cancelled_at, b.updated_at = BookingStatus.CANCELLED, now, now
        b.cancel_reason = reason[:200]
        events_bus.publish(s, event_of(BookingCancelled, b, staff.id if staff else None, reason=b.cancel_reason,
                                       chat_follower_id=follower_id if in_chat else None))
        if staff is not None:
            audit.record(s, staff=staff, action="booking.cancel", target_type="booking", target_id=b.id, ip=ip,
                         dealer_id=b.dealer_id, detail={"reason": b.cancel_reason})
        return b


def _staff_change(booking_id: int, staff: StaffUser, allowed: tuple[BookingStatus, ...], to: BookingStatus,
                  action: str, ip: str, now: datetime) -> Booking:
    with db.transaction() as s:
        b = _load(s, booking_id, staff, None)
        if b.status not in allowed:
            raise DomainError(N_("This booking can no longer be changed."))
        if to == BookingStatus.NO_SHOW and now < b.start_at:
            raise DomainError(N_("A booking can be marked as no-show only after its start time."))
        b.status, b.updated_at = to, now
        if to == BookingStatus.COMPLETED:
            b.completed_at = now
            events_bus.publish(s, event_of(BookingCompleted, b, staff.id, completed_at=now))
        audit.record(s, staff=staff, action=action, target_type="booking", target_id=b.id, ip=ip,
                     dealer_id=b.dealer_id)
        return b


def check_in(booking_id: int, staff: StaffUser, *, ip: str = "", now: datetime | None = None) -> Booking:
    """The customer arrived."""
    return _staff_change(booking_id, staff, (BookingStatus.CONFIRMED,), BookingStatus.CHECKED_IN,
                         "booking.check_in", ip, now or db.utcnow())


def complete(booking_id: int, staff: StaffUser, *, ip: str = "", now: datetime | None = None) -> Booking:
    """The visit is done; publishes BookingCompleted (timeline, service date, later points and journeys)."""
    return _staff_change(booking_id, staff, (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN),
                         BookingStatus.COMPLETED, "booking.complete", ip, now or db.utcnow())


def no_show(booking_id: int, staff: StaffUser, *, ip: str = "", now: datetime | None = None) -> Booking:
    """The customer did not come (the slots stay used: the time is gone)."""
    return _staff_change(booking_id, staff, (BookingStatus.CONFIRMED,), BookingStatus.NO_SHOW,
                         "booking.no_show", ip, now or db.utcnow())


def rate(booking_id: int, score: int, *, follower_id: int | None = None, staff: StaffUser | None = None,
         now: datetime | None = None) -> Booking:
    """Record the 1-5 satisfaction answer of a completed booking (publishes BookingRated; a second answer replaces)."""
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise Invalid(N_("Please answer with a number from 1 to 5."), field="satisfaction")
    if staff is None and follower_id is None:
        raise Forbidden()
    with db.transaction() as s:
        b = _load(s, booking_id, staff, follower_id)
        if b.status != BookingStatus.COMPLETED:
            raise DomainError(N_("Only a completed visit can be rated."))
        b.satisfaction, b.updated_at = score, now or db.utcnow()
        events_bus.publish(s, event_of(BookingRated, b, staff.id if staff else None, score=score))
        return b
