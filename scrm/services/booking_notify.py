"""Booking notices to the car owner: confirmed, moved, cancelled at once, and the satisfaction question.

Subscribers of the booking events write outbox rows in the publishing transaction (a rolled-back booking
sends nothing), with Channel.AUTO (customer-service text inside the 48-hour window, else the account's
template) and purpose "transactional" (not marketing: no quiet hours, no opt-out). Recipients are the
follower who booked, else the subscribed followers bound to the booking's customer at that dealer; staff
bookings notify too. Dedupe keys are `booking:<id>:<what>[:<start>]:<follower id>`, so a repeated event
writes nothing twice. Rows that would be stale by the time they are sent carry a guard checked by the
worker just before the call (see `check_guard`): a cancelled or moved booking's notices are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.models import Booking, BookingStatus, Channel, CustomerBinding, Follower
from scrm.outbox.enqueue import enqueue
from scrm.outbox.send import register_guard
from scrm.services import events_bus
from scrm.services.booking_events import (
    BookingCancelled,
    BookingCompleted,
    BookingConfirmed,
    BookingEvent,
    BookingMoved,
)
from scrm.services.booking_notify_text import Facts, load_facts, payload

log = logging.getLogger(__name__)
PURPOSE = "transactional"
GUARD_KIND = "booking"


def recipients(s: Session, b: Booking) -> list[tuple[int, str]]:
    """(follower id, openid) of who hears about booking `b`: its follower, else the customer's bound followers."""
    if b.follower_id is not None:
        stmt = sa.select(Follower.id, Follower.openid).where(Follower.id == b.follower_id)
    elif b.customer_id is not None:
        stmt = (sa.select(Follower.id, Follower.openid)
                .join(CustomerBinding, CustomerBinding.follower_id == Follower.id)
                .where(CustomerBinding.customer_id == b.customer_id, CustomerBinding.dealer_id == b.dealer_id))
    else:
        return []
    rows = s.execute(stmt.where(Follower.account_id == b.account_id, Follower.subscribed.is_(True))
                     .order_by(Follower.id)).all()
    return [(int(r.id), str(r.openid)) for r in rows]


def recipients_many(s: Session, bookings: list[Booking]) -> dict[int, list[tuple[int, str]]]:
    """`recipients` of many bookings in two queries: booking id -> [(follower id, openid)]."""
    out: dict[int, list[tuple[int, str]]] = {b.id: [] for b in bookings}
    own = {b.follower_id for b in bookings if b.follower_id is not None}
    by_id: dict[int, tuple[int, str]] = {}
    for i in range(0, len(own), 1000):
        chunk = list(own)[i:i + 1000]
        by_id.update({int(r.id): (int(r.id), str(r.openid)) for r in s.execute(
            sa.select(Follower.id, Follower.openid).where(Follower.id.in_(chunk), Follower.subscribed.is_(True)))})
    bound: dict[tuple[int, int], list[tuple[int, str]]] = {}
    pairs = {(b.customer_id, b.dealer_id) for b in bookings if b.follower_id is None and b.customer_id is not None}
    customers = sorted({c for c, _ in pairs})
    for i in range(0, len(customers), 1000):
        for r in s.execute(sa.select(CustomerBinding.customer_id, CustomerBinding.dealer_id, Follower.id,
                                     Follower.openid)
                           .join(Follower, Follower.id == CustomerBinding.follower_id)
                           .where(CustomerBinding.customer_id.in_(customers[i:i + 1000]),
                                  Follower.subscribed.is_(True)).order_by(Follower.id)):
            bound.setdefault((int(r.customer_id), int(r.dealer_id)), []).append((int(r.id), str(r.openid)))
    for b in bookings:
        if b.follower_id is not None:
            out[b.id] = [by_id[b.follower_id]] if b.follower_id in by_id else []
        elif b.customer_id is not None:
            out[b.id] = bound.get((b.customer_id, b.dealer_id), [])
    return out


def iso(value: datetime) -> str:
    """An instant in the fixed form used in dedupe keys and guards (UTC, seconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def guard_for(b: Booking, status: BookingStatus, *, same_start: bool = True, unrated: bool = False) -> dict[str, Any]:
    """What must still hold at send time for a notice about `b` to make sense."""
    guard: dict[str, Any] = {"kind": GUARD_KIND, "booking_id": b.id, "status": status.value}
    if same_start:
        guard["start_at"] = iso(b.start_at)
    if unrated:
        guard["unrated"] = True
    return guard


def dedupe_key(booking_id: int, what: str, follower_id: int) -> str:
    """The outbox key of one notice to one follower."""
    return f"booking:{booking_id}:{what}:{follower_id}"


def write(s: Session, b: Booking, what: str, build: Callable[[Facts], dict[str, Any]], *,
          send_after: datetime | None = None, people: list[tuple[int, str]] | None = None,
          told: int | None = None) -> list[int]:
    """Enqueue one notice per recipient (`people`, else `recipients(b)`) but `told`; return the new row ids.

    `build(facts)` returns the AUTO payload; it is called once (the text is the same for every recipient).
    `told` is the follower who made the change in the chat: the bot's reply already said it all.
    """
    people = [p for p in (recipients(s, b) if people is None else people) if p[0] != told]
    if not people:
        return []
    facts = load_facts(s, b)
    if facts is None:
        log.warning("booking %s: its account is not configured; no notice written", b.id)
        return []
    body = build(facts)
    ids = []
    for follower_id, openid in people:
        row = enqueue(s, account_id=b.account_id, dedupe_key=dedupe_key(b.id, what, follower_id),
                      channel=Channel.AUTO, payload=body, follower_id=follower_id, openid=openid,
                      dealer_id=b.dealer_id, purpose=PURPOSE, send_after=send_after)
        if row is not None:
            ids.append(row)
    return ids


def _booking(s: Session, event: BookingEvent) -> Booking | None:
    s.flush()
    return s.get(Booking, event.booking_id)


def on_confirmed(s: Session, event: BookingConfirmed) -> None:
    """A new booking: the confirmation, at once."""
    b = _booking(s, event)
    if b is not None:
        write(s, b, "confirmed", lambda f: payload("confirmed", "booking_confirmed", f, f.my_bookings_url,
                                                      guard_for(b, BookingStatus.CONFIRMED)),
              told=event.chat_follower_id)


def on_moved(s: Session, event: BookingMoved) -> None:
    """A booking moved: the new time, at once (keyed by the new start, so each move is told once)."""
    b = _booking(s, event)
    if b is not None:
        write(s, b, f"moved:{iso(b.start_at)}",
              lambda f: payload("moved", "booking_confirmed", f, f.my_bookings_url,
                                guard_for(b, BookingStatus.CONFIRMED)), told=event.chat_follower_id)


def on_cancelled(s: Session, event: BookingCancelled) -> None:
    """A booking cancelled (by the owner or by staff): told at once."""
    b = _booking(s, event)
    if b is not None:
        write(s, b, "cancelled", lambda f: payload("cancelled", "booking_confirmed", f, f.my_bookings_url,
                                                      guard_for(b, BookingStatus.CANCELLED, same_start=False)),
              told=event.chat_follower_id)


def rating_delay() -> timedelta:
    """How long after completion the satisfaction question goes out (`[booking] rating_delay_minutes`)."""
    return timedelta(minutes=runtime.get().settings.booking.rating_delay_minutes)


def on_completed(s: Session, event: BookingCompleted) -> None:
    """A completed visit: the satisfaction question, a while after (skipped if rated on the H5 page first)."""
    b = _booking(s, event)
    if b is None:
        return

    def build(f: Facts) -> dict[str, Any]:
        return payload("rating", "booking_rating", f, f.rate_url,
                       guard_for(b, BookingStatus.COMPLETED, same_start=False, unrated=True))

    write(s, b, "rating", build, send_after=(event.completed_at or db.utcnow()) + rating_delay())


def check_guard(guard: dict[str, Any]) -> str:
    """Why a booking notice must not go out now ('' when it still holds): the worker calls this before sending."""
    try:
        booking_id = int(guard["booking_id"])
    except (KeyError, TypeError, ValueError):
        return "invalid booking guard"
    with db.transaction() as s:
        row = s.execute(sa.select(Booking.status, Booking.start_at, Booking.satisfaction)
                        .where(Booking.id == booking_id)).first()
    if row is None:
        return "booking no longer exists"
    if str(row.status) != guard.get("status"):
        return f"booking is now {row.status}"
    if "start_at" in guard and iso(row.start_at) != guard["start_at"]:
        return "booking was moved"
    if guard.get("unrated") and row.satisfaction is not None:
        return "booking already rated"
    return ""


events_bus.subscribe(BookingConfirmed, on_confirmed, name="booking_notify.confirmed")
events_bus.subscribe(BookingMoved, on_moved, name="booking_notify.moved")
events_bus.subscribe(BookingCancelled, on_cancelled, name="booking_notify.cancelled")
events_bus.subscribe(BookingCompleted, on_completed, name="booking_notify.rating")
register_guard(GUARD_KIND, check_guard)
