"""Closures as staff set them: a date range (one row per day), whole days or from/to a time, with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Booking, Closure, ServiceType, StaffUser
from scrm.services import audit, booking_config
from scrm.services.booking_setup import UPCOMING, Clash, clash_of, day_range, dealer_of, local_today
from scrm.services.booking_setup_hours import parse_time
from scrm.services.errors import NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope
from scrm.services.validation import Problems

MAX_DAYS = 62
REASON_MAX = 100


@dataclass(frozen=True)
class ClosureInput:
    """The closure form as typed: dates "YYYY-MM-DD" (last empty = one day), times empty for whole days."""

    first_day: str
    last_day: str = ""
    whole_day: bool = True
    from_time: str = ""
    to_time: str = ""
    reason: str = ""


def _date(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        return None


def _validate(data: ClosureInput, today: date) -> tuple[list[date], time | None, time | None, str]:
    p = Problems()
    first = _date(data.first_day)
    last = _date(data.last_day) if data.last_day.strip() else first
    if first is None:
        p.add("first_day", N_("Enter a date such as 2026-10-01."))
    elif first < today:
        p.add("first_day", N_("A closure cannot start in the past."))
    if data.last_day.strip() and last is None:
        p.add("last_day", N_("Enter a date such as 2026-10-01."))
    elif first is not None and last is not None and last < first:
        p.add("last_day", N_("The last day must not be before the first day."))
    elif first is not None and last is not None and (last - first).days >= MAX_DAYS:
        p.add("last_day", N_("A closure covers at most %(n)s days at once."), n=MAX_DAYS)
    t_from = t_to = None
    if not data.whole_day:
        t_from, t_to = parse_time(data.from_time), parse_time(data.to_time)
        if t_from is None:
            p.add("from_time", N_("Enter a time such as 08:30."))
        if t_to is None:
            p.add("to_time", N_("Enter a time such as 08:30."))
        if t_from is not None and t_to is not None and t_from >= t_to:
            p.add("to_time", N_("The end time must be after the start time."))
    reason = " ".join(data.reason.split())
    if len(reason) > REASON_MAX:
        p.add("reason", N_("At most %(n)s characters."), n=REASON_MAX)
    p.raise_if_any()
    assert first is not None and last is not None
    return day_range(first, (last - first).days + 1), t_from, t_to, reason


def add_closure(staff: StaffUser, dealer_id: int, data: ClosureInput, ip: str = "",
                now: datetime | None = None) -> tuple[list[Closure], list[Clash]]:
    """Close the dealer on each day of the range; the confirmed bookings it overlaps (listed, not cancelled)."""
    now = now or db.utcnow()
    with db.transaction() as s:
        dealer = dealer_of(s, Scope.of(staff), dealer_id)
        days, t_from, t_to, reason = _validate(data, local_today(s, dealer_id, now))
        rows = [Closure(account_id=dealer.account_id, dealer_id=dealer_id, day=d, from_time=t_from, to_time=t_to,
                        reason=reason, created_at=now) for d in days]
        s.add_all(rows)
        s.flush()
        audit.record(s, staff=staff, action="booking_setup.closure_add", target_type="dealer", target_id=dealer_id,
                     ip=ip, dealer_id=dealer_id,
                     detail={"first": days[0].isoformat(), "last": days[-1].isoformat(), "reason": reason,
                             "from": f"{t_from:%H:%M}" if t_from else "", "to": f"{t_to:%H:%M}" if t_to else ""})
        return rows, _overlapping(s, dealer_id, days, t_from, t_to, now)


def _overlapping(s: Session, dealer_id: int, days: list[date], t_from: time | None, t_to: time | None,
                 now: datetime) -> list[Clash]:
    """Upcoming bookings that overlap the closure on any of `days`."""
    tz = booking_config.load(s, dealer_id).rules.tz

    def window(d: date) -> tuple[datetime, datetime]:
        hi = datetime.combine(d, t_to, tz) if t_to else datetime.combine(d + timedelta(days=1), time(0), tz)
        return datetime.combine(d, t_from or time(0), tz), hi

    windows = [window(d) for d in days]
    rows = s.execute(sa.select(Booking, ServiceType.name).join(ServiceType, ServiceType.id == Booking.service_type_id)
                     .where(Booking.dealer_id == dealer_id, Booking.status.in_(UPCOMING),
                            Booking.end_at > windows[0][0], Booking.start_at < windows[-1][1], Booking.end_at > now)
                     .order_by(Booking.start_at, Booking.id)).all()
    return [clash_of(b, tz, name) for b, name in rows
            if any(b.start_at < hi and lo < b.end_at for lo, hi in windows)]


def upcoming(scope: Scope, dealer_id: int, now: datetime | None = None) -> list[Closure]:
    """The dealer's closures from today on, by day."""
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
        today = local_today(s, dealer_id, now)
        return list(s.scalars(sa.select(Closure).where(Closure.dealer_id == dealer_id, Closure.day >= today)
                              .order_by(Closure.day, Closure.from_time, Closure.id)))
    finally:
        s.rollback()


def delete_closure(staff: StaffUser, closure_id: int, ip: str = "") -> Closure:
    """Remove one closure (one day); NotFound when it is not in the staff member's scope."""
    with db.transaction() as s:
        c = s.get(Closure, closure_id)
        if c is None:
            raise NotFound()
        dealer_of(s, Scope.of(staff), c.dealer_id)
        s.delete(c)
        audit.record(s, staff=staff, action="booking_setup.closure_delete", target_type="closure",
                     target_id=closure_id, ip=ip, dealer_id=c.dealer_id,
                     detail={"day": c.day.isoformat(), "reason": c.reason,
                             "from": f"{c.from_time:%H:%M}" if c.from_time else "",
                             "to": f"{c.to_time:%H:%M}" if c.to_time else ""})
        return c
