"""Booking set-up by staff: who may change a dealer's booking configuration, its rules, and which
upcoming bookings a change leaves outside the opening hours (listed for staff, never cancelled).

Hours, closures, service types and the demo fleet live in booking_setup_*.py next to this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.models import Booking, BookingSettings, BookingStatus, Dealer, OpeningHours, ServiceType, StaffUser
from scrm.services import audit, booking_availability, booking_config
from scrm.services.booking_availability import DayFree
from scrm.services.booking_config import DealerConfig
from scrm.services.booking_rules import ClosureSpan
from scrm.services.errors import NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems

SLOT_CHOICES = (15, 20, 30, 60)
MAX_NOTICE_MINUTES = 7 * 24 * 60
MAX_HORIZON_DAYS = 365
UPCOMING = (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)

audit.ACTIONS.update({
    "booking_setup.rules": N_("Changed the booking rules"),
    "booking_setup.hours": N_("Changed the opening hours"),
    "booking_setup.closure_add": N_("Added a closure"),
    "booking_setup.closure_delete": N_("Deleted a closure"),
    "booking_setup.type_create": N_("Added a service type"),
    "booking_setup.type_update": N_("Edited a service type"),
    "booking_setup.type_delete": N_("Deleted a service type"),
    "booking_setup.car_create": N_("Added a demo car"),
    "booking_setup.car_update": N_("Edited a demo car"),
})


def dealer_of(s: Session, scope: Scope, dealer_id: int) -> Dealer:
    """The dealer whose booking set-up `scope` may change (Forbidden without the permission, else NotFound)."""
    scope.require(Perm.BOOKINGS_SETUP)
    dealer = s.get(Dealer, dealer_id)
    if dealer is None or dealer.account_id != scope.account_id or not scope.dealer_ok(dealer_id):
        raise NotFound()
    return dealer


def check(scope: Scope, dealer_id: int) -> None:
    """Raise Forbidden / NotFound unless `scope` may set up bookings for `dealer_id`."""
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
    finally:
        s.rollback()


@dataclass(frozen=True)
class Clash:
    """An upcoming booking that a change concerns (outside the hours, in a closure, on a retired car)."""

    booking_id: int
    start_at: datetime
    local: str  # "2026-10-01 09:30" in the dealer's time zone
    service: str
    contact: str


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def fits_hours(start_at: datetime, end_at: datetime, cfg: DealerConfig, shut: list[ClosureSpan]) -> bool:
    """True when [start_at, end_at) lies inside one opening interval of its local day and in no closure."""
    start, end = start_at.astimezone(cfg.rules.tz), end_at.astimezone(cfg.rules.tz)
    if end.date() != start.date() and end.time() != time(0):
        return False
    lo = _minutes(start.time())
    hi = _minutes(end.time()) if end.date() == start.date() else 24 * 60
    if not any(_minutes(o) <= lo and hi <= (_minutes(c) or 24 * 60) for o, c in cfg.hours_on(start.date())):
        return False
    for c_from, c_to in shut:
        c_lo = _minutes(c_from) if c_from is not None else 0
        c_hi = _minutes(c_to) if c_to is not None else 24 * 60
        if lo < c_hi and c_lo < hi:
            return False
    return True


def clash_of(b: Booking, tz: ZoneInfo, service: str) -> Clash:
    """The listing of one booking."""
    return Clash(b.id, b.start_at, b.start_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), service, b.contact_name)


def clashes(s: Session, dealer_id: int, now: datetime) -> list[Clash]:
    """Upcoming confirmed bookings of the dealer that the current hours and closures no longer allow."""
    cfg = booking_config.load(s, dealer_id)
    rows = s.execute(sa.select(Booking, ServiceType.name).join(ServiceType, ServiceType.id == Booking.service_type_id)
                     .where(Booking.dealer_id == dealer_id, Booking.status.in_(UPCOMING), Booking.start_at >= now)
                     .order_by(Booking.start_at, Booking.id)).all()
    if not rows:
        return []
    first = rows[0][0].start_at.astimezone(cfg.rules.tz).date()
    last = rows[-1][0].start_at.astimezone(cfg.rules.tz).date()
    shut = booking_config.closures(s, dealer_id, first, last)
    return [clash_of(b, cfg.rules.tz, name) for b, name in rows
            if not fits_hours(b.start_at, b.end_at, cfg, shut.get(b.start_at.astimezone(cfg.rules.tz).date(), []))]


def current_clashes(scope: Scope, dealer_id: int, now: datetime | None = None) -> list[Clash]:
    """`clashes` for a staff page (read-only)."""
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
        return clashes(s, dealer_id, now or db.utcnow())
    finally:
        s.rollback()


@dataclass(frozen=True)
class RulesInput:
    """The rules form as typed (strings), validated by `save_rules`."""

    slot_minutes: str
    min_notice_minutes: str
    horizon_days: str
    cancel_cutoff_minutes: str
    timezone: str


def rules_input(s: Session, dealer_id: int) -> RulesInput:
    """The dealer's rules as the form shows them (the defaults when it has no settings row)."""
    bs = s.scalar(sa.select(BookingSettings).where(BookingSettings.dealer_id == dealer_id))
    if bs is None:
        return RulesInput("30", "120", "30", "120", runtime.get().settings.app.tz.key)
    return RulesInput(str(bs.slot_minutes), str(bs.min_notice_minutes), str(bs.horizon_days),
                      str(bs.cancel_cutoff_minutes), bs.timezone or runtime.get().settings.app.tz.key)


def rules_of(scope: Scope, dealer_id: int) -> RulesInput:
    """The dealer's rules for the form (read-only)."""
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
        return rules_input(s, dealer_id)
    finally:
        s.rollback()


def _int(p: Problems, name: str, raw: str, lo: int, hi: int, message: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        p.add(name, message, min=lo, max=hi)
    return value


def save_rules(staff: StaffUser, dealer_id: int, data: RulesInput, ip: str = "",
               now: datetime | None = None) -> list[Clash]:
    """Validate and store the rules (creating the settings row); the upcoming bookings now outside the hours."""
    now = now or db.utcnow()
    p = Problems()
    slot = _int(p, "slot_minutes", data.slot_minutes, 1, 60, N_("Choose a slot length of 15, 20, 30 or 60 minutes."))
    if not p.has("slot_minutes") and slot not in SLOT_CHOICES:
        p.add("slot_minutes", N_("Choose a slot length of 15, 20, 30 or 60 minutes."))
    notice = _int(p, "min_notice_minutes", data.min_notice_minutes, 0, MAX_NOTICE_MINUTES,
                  N_("Enter whole minutes from %(min)s to %(max)s."))
    horizon = _int(p, "horizon_days", data.horizon_days, 1, MAX_HORIZON_DAYS,
                   N_("Enter whole days from %(min)s to %(max)s."))
    cutoff = _int(p, "cancel_cutoff_minutes", data.cancel_cutoff_minutes, 0, MAX_NOTICE_MINUTES,
                  N_("Enter whole minutes from %(min)s to %(max)s."))
    tz = data.timezone.strip()
    if tz not in available_timezones():
        p.add("timezone", N_("Enter a time zone such as Asia/Shanghai."))
    p.raise_if_any()
    with db.transaction() as s:
        dealer = dealer_of(s, Scope.of(staff), dealer_id)
        bs = s.scalar(sa.select(BookingSettings).where(BookingSettings.dealer_id == dealer_id).with_for_update())
        before = rules_input(s, dealer_id)
        if bs is None:
            bs = BookingSettings(account_id=dealer.account_id, dealer_id=dealer_id)
            s.add(bs)
        if slot != int(before.slot_minutes):
            _check_slot_change(s, p, dealer_id, slot, now)
            p.raise_if_any()
        bs.slot_minutes, bs.min_notice_minutes, bs.horizon_days = slot, notice, horizon
        bs.cancel_cutoff_minutes, bs.timezone, bs.updated_at = cutoff, tz, now
        s.flush()
        after = rules_input(s, dealer_id)
        changed = {k: [getattr(before, k), getattr(after, k)] for k in RulesInput.__dataclass_fields__
                   if getattr(before, k) != getattr(after, k)}
        audit.record(s, staff=staff, action="booking_setup.rules", target_type="dealer", target_id=dealer_id,
                     ip=ip, dealer_id=dealer_id, detail=changed)
        return clashes(s, dealer_id, now)


def _check_slot_change(s: Session, p: Problems, dealer_id: int, slot: int, now: datetime) -> None:
    """A new slot length needs hours on its grid and no upcoming bookings held on the old grid.

    Bookings keep the slots of the grid they were booked on; mixing two grids in the same days would let
    the counters miss an overlap, so the length changes only when no upcoming booking holds slots.
    """
    off = [h for h in s.scalars(sa.select(OpeningHours).where(OpeningHours.dealer_id == dealer_id))
           if _minutes(h.opens) % slot or _minutes(h.closes) % slot]
    if off:
        p.add("slot_minutes", N_("Some opening hours are not on a %(slot)s-minute grid; change them first."),
              slot=slot)
    held = s.scalar(sa.select(sa.func.count()).select_from(Booking).where(
        Booking.dealer_id == dealer_id, Booking.status.in_(UPCOMING), Booking.end_at > now,
        Booking.slot_minutes != slot))
    if held:
        p.add("slot_minutes", N_("The slot length cannot change while %(count)s upcoming bookings use the current "
                                 "one; change it when they are done."), count=held)


def local_today(s: Session, dealer_id: int, now: datetime | None = None) -> date:
    """Today in the dealer's time zone."""
    return (now or db.utcnow()).astimezone(booking_config.load(s, dealer_id).rules.tz).date()


def day_range(first: date, days: int) -> list[date]:
    """`days` consecutive days from `first`."""
    return [first + timedelta(days=i) for i in range(days)]


def preview(scope: Scope, dealer_id: int, service_type_id: int, days: int = 7,
            now: datetime | None = None) -> list[DayFree]:
    """The free start times of the next `days` local days for one service, as customers would see them."""
    now = now or db.utcnow()
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
        today = local_today(s, dealer_id, now)
    finally:
        s.rollback()
    return booking_availability.availability(dealer_id, service_type_id, today, days, now=now)
