"""What the H5 booking pages show beyond booking_mine: a dealer's bookable services and demo models, a
month-style calendar of free days, the contact check for followers without a record, and local times.
"""

from __future__ import annotations

import calendar as cal
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from scrm import db
from scrm.models import Booking, DemoCar, ServiceKind, ServiceType
from scrm.services import booking_config, normalize
from scrm.services.booking_availability import DayFree, FreeSlot, availability
from scrm.services.booking_rules import Rules, local_instant
from scrm.services.errors import Invalid
from scrm.services.normalize_base import N_

NOON = time(12, 0)


@dataclass(frozen=True)
class ServiceChoice:
    """A service type a follower may book."""

    id: int
    name: str
    kind: ServiceKind
    duration_minutes: int

    @property
    def is_test_drive(self) -> bool:
        """Whether booking it needs a demo model and the licence confirmation."""
        return self.kind == ServiceKind.TEST_DRIVE


@dataclass(frozen=True)
class CalendarDay:
    """One cell of the calendar: a local day inside the booking window and how many starts are free."""

    day: date
    free: int


@dataclass(frozen=True)
class Month:
    """One month of the calendar: weeks (Monday first) of cells, None outside the booking window."""

    first: date
    weeks: list[list[CalendarDay | None]]


@dataclass(frozen=True)
class Calendar:
    """The free days of one service from today to the end of the dealer's booking horizon."""

    today: date
    months: list[Month]
    days: dict[date, DayFree] = field(default_factory=dict)

    def slots_on(self, day: date | None) -> list[FreeSlot]:
        """The free starts of `day` (empty when no day, outside the window, or full)."""
        found = self.days.get(day) if day is not None else None
        return found.slots if found is not None else []

    def halves(self, day: date) -> tuple[list[FreeSlot], list[FreeSlot]]:
        """The free starts of `day` split into morning and afternoon."""
        slots = self.slots_on(day)
        return [f for f in slots if f.local < NOON], [f for f in slots if f.local >= NOON]


def rules_of(dealer_id: int) -> Rules:
    """The dealer's booking rules (its time zone, horizon, cut-off); NotFound for an unknown dealer."""
    s = db.session()
    try:
        return booking_config.load(s, dealer_id).rules
    finally:
        s.rollback()


def services_of(dealer_id: int) -> list[ServiceChoice]:
    """The dealer's active service types in the staff's order."""
    s = db.session()
    try:
        rows = s.scalars(sa.select(ServiceType).where(ServiceType.dealer_id == dealer_id, ServiceType.active.is_(True))
                         .order_by(ServiceType.sort_order, ServiceType.id))
        return [ServiceChoice(st.id, st.name, st.kind, st.duration_minutes) for st in rows]
    finally:
        s.rollback()


def demo_models(dealer_id: int) -> list[str]:
    """The models of the dealer's active demo fleet, by name."""
    s = db.session()
    try:
        return list(s.scalars(sa.select(DemoCar.model).where(DemoCar.dealer_id == dealer_id, DemoCar.active.is_(True))
                              .distinct().order_by(DemoCar.model)))
    finally:
        s.rollback()


def demo_car_of(booking_id: int) -> int | None:
    """The demo car a booking holds (a move keeps the same car)."""
    s = db.session()
    try:
        return s.scalar(sa.select(Booking.demo_car_id).where(Booking.id == booking_id))
    finally:
        s.rollback()


def _months(today: date, last: date, days: dict[date, DayFree]) -> list[Month]:
    months: list[Month] = []
    first = today.replace(day=1)
    while first <= last:
        weeks: list[list[CalendarDay | None]] = []
        for week in cal.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
            cells: list[CalendarDay | None] = []
            for d in week:
                inside = d.month == first.month and today <= d <= last
                cells.append(CalendarDay(d, len(days[d].slots) if d in days else 0) if inside else None)
            if any(c is not None for c in cells):
                weeks.append(cells)
        months.append(Month(first, weeks))
        first = (first + timedelta(days=32)).replace(day=1)
    return months


def calendar(dealer_id: int, service_type_id: int, demo_model: str | None = None, demo_car_id: int | None = None,
             now: datetime | None = None, moving: int | None = None) -> Calendar:
    """The month-style calendar of free days for one service, from today to the horizon's last day.

    `moving`: the booking being moved (its own slots count as free).
    """
    now = now or db.utcnow()
    rules = rules_of(dealer_id)
    today = now.astimezone(rules.tz).date()
    found = availability(dealer_id, service_type_id, today, rules.horizon_days + 1, demo_model, demo_car_id, now,
                         moving)
    days = {d.day: d for d in found}
    return Calendar(today=today, months=_months(today, today + timedelta(days=rules.horizon_days), days), days=days)


def parse_day(raw: str | None) -> date | None:
    """A YYYY-MM-DD query value, or None when absent or malformed."""
    try:
        return date.fromisoformat(raw) if raw and len(raw) == 10 else None
    except ValueError:
        return None


def parse_time(raw: str | None) -> time | None:
    """An HH:MM value, or None when absent or malformed."""
    if not raw or len(raw) != 5 or raw[2] != ":":
        return None
    try:
        return time(int(raw[:2]), int(raw[3:]))
    except ValueError:
        return None


def start_at(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a local day and time in the dealer's zone (None in a DST gap)."""
    return local_instant(day, at, tz)


def contact(name: str, mobile: str) -> tuple[str, str]:
    """A follower without a record gives a name and an 11-digit mainland mobile; Invalid names the field."""
    try:
        cleaned = normalize.person_name(name, field="contact_name", max_length=64)
    except Invalid:
        raise Invalid(N_("Please enter your name."), field="contact_name") from None
    if cleaned is None:
        raise Invalid(N_("Please enter your name."), field="contact_name")
    try:
        phone = normalize.phone(mobile, field="contact_mobile")
    except Invalid:
        phone = None
    if phone is None or phone.kind != "mobile":
        raise Invalid(N_("Enter an 11-digit mainland mobile number, e.g. 13812345678."), field="contact_mobile")
    return cleaned, phone.value
