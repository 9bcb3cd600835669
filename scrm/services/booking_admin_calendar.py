"""The dealer's booking calendar for staff: a day's slot grid per service type, and a week per service or in totals.

Each cell's use comes from SlotUse (the counters the booking gate keeps), so the calendar shows exactly
what the next booking attempt will find. Rows are the slot grid of the day in the dealer's time zone,
from the first opening to the last closing (lunch breaks shaded "closed", closures shaded "shut").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Booking, BookingStatus, Closure, Customer, ServiceType, Vehicle
from scrm.services import booking_config, booking_slots
from scrm.services.booking_admin import BookingRow, row_of, service_types
from scrm.services.booking_config import DealerConfig
from scrm.services.booking_rules import ClosureSpan, grid, local_instant
from scrm.services.scope import Scope

OPEN, CLOSED, SHUT = "open", "closed", "shut"  # in the hours / outside them (breaks) / a closure


@dataclass(frozen=True)
class Cell:
    """One slot of one service: its use, the bookings starting in it, and whether the dealer is open."""

    used: int
    capacity: int
    state: str
    bookings: list[BookingRow] = field(default_factory=list)

    @property
    def full(self) -> bool:
        """True when no further booking fits this slot."""
        return self.used >= self.capacity


@dataclass(frozen=True)
class GridRow:
    """One local slot start and its cells (one per column)."""

    local: time
    cells: list[Cell]


@dataclass(frozen=True)
class DayGrid:
    """A day's calendar: columns are service types."""

    day: date
    services: list[ServiceType]
    rows: list[GridRow]
    closed_all_day: bool
    closure_reasons: list[str]


@dataclass(frozen=True)
class DayTotal:
    """One service on one day: bookings starting that day (not cancelled), and slot use in percent."""

    bookings: int
    used: int
    capacity: int

    @property
    def percent(self) -> int:
        """The share of the day's slot capacity in use (0 when the day has none)."""
        return round(100 * self.used / self.capacity) if self.capacity else 0


@dataclass(frozen=True)
class WeekView:
    """Seven days from `days[0]`: `rows` (slot grid of one service) or `totals` (per service and day)."""

    days: list[date]
    service: ServiceType | None
    rows: list[GridRow]
    totals: list[tuple[ServiceType, list[DayTotal]]]
    closed_days: set[date]


@dataclass
class _Frame:
    cfg: DealerConfig
    tz: ZoneInfo
    shut: dict[date, list[ClosureSpan]]
    reasons: dict[date, list[str]]
    used: dict[booking_slots.Key, int]
    starts: dict[tuple[int, date], list[BookingRow]]  # (service type id, local day) -> bookings


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _frame(s: Session, scope: Scope, dealer_id: int, first: date, days: int, services: list[ServiceType]) -> _Frame:
    cfg = booking_config.load(s, dealer_id)
    tz = cfg.rules.tz
    last = first + timedelta(days=days - 1)
    lo, hi = datetime.combine(first, time(0), tz), datetime.combine(last + timedelta(days=1), time(0), tz)
    reasons: dict[date, list[str]] = defaultdict(list)
    for day, reason in s.execute(sa.select(Closure.day, Closure.reason).where(
            Closure.dealer_id == dealer_id, Closure.day >= first, Closure.day <= last)):
        if reason:
            reasons[day].append(reason)
    used = booking_slots.uses(s, dealer_id, [booking_slots.type_resource(st.id) for st in services], lo, hi)
    starts: dict[tuple[int, date], list[BookingRow]] = defaultdict(list)
    q = (sa.select(Booking, Customer, Vehicle, ServiceType)
         .join(ServiceType, ServiceType.id == Booking.service_type_id)
         .outerjoin(Customer, Customer.id == Booking.customer_id)
         .outerjoin(Vehicle, Vehicle.id == Booking.vehicle_id)
         .where(scope.condition(Booking), Booking.dealer_id == dealer_id, Booking.start_at >= lo, Booking.start_at < hi)
         .order_by(Booking.start_at, Booking.id))
    for b, c, v, st in s.execute(q):
        row = row_of(scope, tz, b, c, v, st)
        starts[(st.id, row.start_local.date())].append(row)
    return _Frame(cfg, tz, booking_config.closures(s, dealer_id, first, last), dict(reasons), used, starts)


def _row_times(f: _Frame, days: list[date], extra: list[time]) -> list[time]:
    """The slot starts from the earliest opening (or booking) to the latest closing, on the slot grid."""
    bounds = [(_minutes(o), _minutes(c) if c != time(0) else 24 * 60) for d in days for o, c in f.cfg.hours_on(d)]
    step = f.cfg.rules.slot_minutes
    if not bounds and not extra:
        return []
    lo = min([b[0] for b in bounds] + [_minutes(t) for t in extra])
    hi = max([b[1] for b in bounds] + [_minutes(t) + step for t in extra])
    if extra and bounds:  # keep the grid aligned to the opening time
        first_open = min(b[0] for b in bounds)
        lo = first_open - ((first_open - lo + step - 1) // step) * step
    return [time(m // 60, m % 60) for m in range(lo, hi, step) if m < 24 * 60]


def _states(f: _Frame, day: date) -> dict[time, str]:
    """OPEN or SHUT for each slot start inside the day's hours (anything else is CLOSED)."""
    rules, hours = f.cfg.rules, f.cfg.hours_on(day)
    slot = rules.slot_minutes
    inside = {t for t, _ in grid(day, hours, [], slot, rules)}
    free = {t for t, _ in grid(day, hours, f.shut.get(day, []), slot, rules)}
    return {t: OPEN if t in free else SHUT for t in inside}


def _cell(f: _Frame, st: ServiceType, day: date, t: time, state: str, with_bookings: bool) -> Cell:
    at = local_instant(day, t, f.tz)
    used = f.used.get((booking_slots.type_resource(st.id), at), 0) if at is not None else 0
    step = f.cfg.rules.slot_minutes
    here: list[BookingRow] = []
    if with_bookings:
        here = [r for r in f.starts.get((st.id, day), [])
                if _minutes(t) <= _minutes(r.start_local.time()) < _minutes(t) + step]
    return Cell(used=used, capacity=st.capacity, state=state, bookings=here)


def day_grid(scope: Scope, dealer_id: int, day: date) -> DayGrid:
    """The day's slot grid: rows = slot starts, columns = active service types (and any with bookings that day)."""
    everything = service_types(scope, dealer_id)
    s = db.session()
    f = _frame(s, scope, dealer_id, day, 1, everything)
    services = [st for st in everything if st.active or f.starts.get((st.id, day))]
    states = _states(f, day)
    booked = [r.start_local.time() for st in services for r in f.starts.get((st.id, day), [])]
    rows = [GridRow(t, [_cell(f, st, day, t, states.get(t, CLOSED), True) for st in services])
            for t in _row_times(f, [day], booked)]
    closed = not any(state == OPEN for state in states.values())
    return DayGrid(day=day, services=services, rows=rows, closed_all_day=closed,
                   closure_reasons=f.reasons.get(day, []))


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def week(scope: Scope, dealer_id: int, first: date, service_type_id: int | None) -> WeekView:
    """Seven days from `first`: the slot grid of one service, or per-day totals of every service."""
    everything = service_types(scope, dealer_id)
    chosen = next((st for st in everything if st.id == service_type_id), None)
    s = db.session()
    days = [first + timedelta(days=i) for i in range(7)]
    f = _frame(s, scope, dealer_id, first, 7, everything)
    states = {d: _states(f, d) for d in days}
    closed_days = {d for d in days if not any(v == OPEN for v in states[d].values())}
    if chosen is not None:
        times = _row_times(f, days, [])
        rows = [GridRow(t, [_cell(f, chosen, d, t, states[d].get(t, CLOSED), False) for d in days]) for t in times]
        return WeekView(days=days, service=chosen, rows=rows, totals=[], closed_days=closed_days)
    totals = []
    for st in everything:
        if not st.active and not any(f.starts.get((st.id, d)) for d in days):
            continue
        line = []
        for d in days:
            open_slots = [t for t, v in states[d].items() if v == OPEN]
            used = sum(_cell(f, st, d, t, OPEN, False).used for t in open_slots)
            count = sum(1 for r in f.starts.get((st.id, d), []) if r.status != BookingStatus.CANCELLED)
            line.append(DayTotal(bookings=count, used=used, capacity=st.capacity * len(open_slots)))
        totals.append((st, line))
    return WeekView(days=days, service=None, rows=[], totals=totals, closed_days=closed_days)
