"""Booking reminders: the day before (at `[booking] reminder_day_before_at`, local) and a few hours before.

The scheduler's `bookings.remind` runs `enqueue_due` every minute. A reminder is due from its moment until
the visit starts, so a tick missed during downtime is caught up by the next one; the day-before reminder
stops being due once the hours-before one is (only the nearer one is sent). A booking made or moved (its
last change, `updated_at`) after a reminder's moment gets no such reminder: its confirmation just told the
time; for the hours-before one, that is a booking made less than `reminder_hours_before` hours ahead.
Dedupe keys carry the kind and the start instant (`booking:<id>:remind:<kind>:<start>:<follower>`): a
second tick or a restart writes nothing twice, and a moved booking gets fresh reminders while the guard of
the old ones (start and status at send time) makes the worker skip them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Booking, BookingStatus, Delivery
from scrm.services import booking_config
from scrm.services.booking_notify import dedupe_key, guard_for, iso, recipients_many, write
from scrm.services.booking_notify_text import Facts, payload
from scrm.services.booking_rules import local_instant

log = logging.getLogger(__name__)
DAY_BEFORE = "day_before"
HOURS_BEFORE = "hours_before"
HORIZON = timedelta(hours=49)  # the earliest a reminder can be due: 10:00 the day before a visit at 23:59


@dataclass(frozen=True)
class Plan:
    """When reminders are due (from `[booking]`)."""

    day_before_at: time = time(10, 0)
    hours_before: int = 2


def plan() -> Plan:
    """The configured reminder moments."""
    cfg = runtime.get().settings.booking
    hh, mm = cfg.reminder_day_before_at.split(":")
    return Plan(day_before_at=time(int(hh), int(mm)), hours_before=cfg.reminder_hours_before)


def day_before_moment(start: datetime, tz: ZoneInfo, p: Plan) -> datetime:
    """The instant of the day-before reminder of a visit at `start` (a DST gap moves it an hour on)."""
    day: date = start.astimezone(tz).date() - timedelta(days=1)
    return local_instant(day, p.day_before_at, tz) or local_instant(
        day, time((p.day_before_at.hour + 1) % 24, p.day_before_at.minute), tz) or start - timedelta(days=1)


def due(start: datetime, scheduled_at: datetime, now: datetime, tz: ZoneInfo, p: Plan) -> str | None:
    """The reminder due at `now` for a visit at `start` that was booked (or moved) at `scheduled_at`."""
    if now >= start:
        return None
    near = start - timedelta(hours=p.hours_before)
    if now >= near:
        return HOURS_BEFORE if scheduled_at <= near else None
    moment = day_before_moment(start, tz, p)
    if now >= moment and scheduled_at <= moment:
        return DAY_BEFORE
    return None


def _build(b: Booking, kind: str, p: Plan) -> Callable[[Facts], dict[str, Any]]:
    def build(f: Facts) -> dict[str, Any]:
        return payload("reminder", "booking_reminder", f, f.my_bookings_url, guard_for(b, BookingStatus.CONFIRMED),
                       which=kind, hours=p.hours_before)
    return build


def enqueue_due(now: datetime | None = None) -> int:
    """Write every reminder due at `now` that is not written yet; return how many rows were written."""
    now = now or db.utcnow()
    p = plan()
    with db.transaction() as s:   # read only; committing keeps the caller's loaded rows fresh
        bookings = list(s.scalars(sa.select(Booking).where(
            Booking.status == BookingStatus.CONFIRMED, Booking.start_at > now, Booking.start_at <= now + HORIZON)
            .order_by(Booking.start_at, Booking.id)))
        zones: dict[int, ZoneInfo] = {}
        dues: list[tuple[Booking, str]] = []
        for b in bookings:
            if b.dealer_id not in zones:
                zones[b.dealer_id] = booking_config.load(s, b.dealer_id).rules.tz
            kind = due(b.start_at, max(b.created_at, b.updated_at), now, zones[b.dealer_id], p)
            if kind is not None:
                dues.append((b, kind))
        reach = recipients_many(s, [b for b, _ in dues])
        todo = [(b, kind, reach[b.id]) for b, kind in dues if reach[b.id]]
        keys = [dedupe_key(b.id, _what(b, kind), fid) for b, kind, people in todo for fid, _ in people]
        existing = _existing(keys)
    written = 0
    for b, kind, people in todo:
        missing = [(fid, openid) for fid, openid in people if dedupe_key(b.id, _what(b, kind), fid) not in existing]
        if not missing:
            continue
        what = _what(b, kind)
        try:
            with db.transaction() as tx:
                tx.refresh(b, with_for_update=True)  # moved or cancelled since the scan: the next tick decides
                if b.status == BookingStatus.CONFIRMED and _what(b, kind) == what and \
                        due(b.start_at, max(b.created_at, b.updated_at), now, zones[b.dealer_id], p) == kind:
                    written += len(write(tx, b, what, _build(b, kind, p), people=missing))
        except Exception:
            # One bad booking must not hold up everyone else's reminders; the next tick tries it again.
            log.exception("booking %s: could not write its %s reminder", b.id, kind)
    return written


def _what(b: Booking, kind: str) -> str:
    return f"remind:{kind}:{iso(b.start_at)}"


def _existing(keys: list[str]) -> set[str]:
    """Which of `keys` are in the outbox already (in chunks: the unique index answers each)."""
    found: set[str] = set()
    s = db.session()
    for i in range(0, len(keys), 500):
        found.update(s.scalars(sa.select(Delivery.dedupe_key).where(Delivery.dedupe_key.in_(keys[i:i + 500]))))
    return found
