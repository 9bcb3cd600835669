"""Opening hours per weekday, as staff set them: up to three intervals a day on the slot grid, no overlaps."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, time
from itertools import pairwise

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import OpeningHours, StaffUser
from scrm.services import audit, booking_config
from scrm.services.booking_setup import Clash, clashes, dealer_of
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope
from scrm.services.validation import Problems

MAX_INTERVALS = 3
WORKDAYS = (1, 2, 3, 4)  # copy Monday to Tuesday..Friday
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")

Week = dict[int, list[tuple[time, time]]]  # weekday (0 = Monday) -> sorted intervals; a missing day is closed
RawWeek = Mapping[int, Sequence[tuple[str, str]]]  # weekday -> (opens, closes) as typed, "" for an empty row


def field_name(weekday: int, index: int, end: str) -> str:
    """The form field of one interval end: "h0_1_opens" is Monday's second opening time."""
    return f"h{weekday}_{index}_{end}"


def parse_time(raw: str) -> time | None:
    """A local time from "HH:MM" (or "H:MM"), None when it is not one."""
    m = _HHMM.match(raw.strip())
    return time(int(m.group(1)), int(m.group(2))) if m else None


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def validate(raw: RawWeek, slot_minutes: int) -> Week:
    """The week from the form, or FormInvalid naming each bad field (empty rows are skipped)."""
    p = Problems()
    week: Week = {}
    for wd in range(7):
        rows = list(raw.get(wd, []))
        if len(rows) > MAX_INTERVALS:
            p.add(field_name(wd, 0, "opens"), N_("At most %(n)s opening intervals a day."), n=MAX_INTERVALS)
            continue
        intervals: list[tuple[time, time, int]] = []
        for i, (o_raw, c_raw) in enumerate(rows):
            if not o_raw.strip() and not c_raw.strip():
                continue
            opens, closes = parse_time(o_raw), parse_time(c_raw)
            bad = False
            for end, value in (("opens", opens), ("closes", closes)):
                if value is None:
                    p.add(field_name(wd, i, end), N_("Enter a time such as 08:30."))
                    bad = True
                elif _minutes(value) % slot_minutes:
                    p.add(field_name(wd, i, end), N_("Times must be on the %(slot)s-minute slot grid."),
                          slot=slot_minutes)
                    bad = True
            if bad or opens is None or closes is None:
                continue
            if opens >= closes:
                p.add(field_name(wd, i, "closes"), N_("Closing time must be after opening time."))
                continue
            intervals.append((opens, closes, i))
        intervals.sort()
        for (_o1, c1, _i1), (o2, _c2, i2) in pairwise(intervals):
            if o2 < c1:
                p.add(field_name(wd, i2, "opens"), N_("This interval overlaps another one of the same day."))
        if intervals:
            week[wd] = [(o, c) for o, c, _i in intervals]
    p.raise_if_any()
    return week


def week_of(s: Session, dealer_id: int) -> Week:
    """The dealer's stored week, intervals sorted."""
    week: Week = {}
    for h in s.scalars(sa.select(OpeningHours).where(OpeningHours.dealer_id == dealer_id)
                       .order_by(OpeningHours.weekday, OpeningHours.opens)):
        week.setdefault(h.weekday, []).append((h.opens, h.closes))
    return week


def hours_of(scope: Scope, dealer_id: int) -> Week:
    """The dealer's opening hours (read-only)."""
    s = db.session()
    try:
        dealer_of(s, scope, dealer_id)
        return week_of(s, dealer_id)
    finally:
        s.rollback()


def _fmt(week: Week) -> dict[str, list[str]]:
    return {str(wd): [f"{o:%H:%M}-{c:%H:%M}" for o, c in ivs] for wd, ivs in sorted(week.items())}


def _store(s: Session, staff: StaffUser, dealer_id: int, week: Week, ip: str, how: str) -> None:
    dealer = dealer_of(s, Scope.of(staff), dealer_id)
    before = week_of(s, dealer_id)
    s.execute(sa.delete(OpeningHours).where(OpeningHours.dealer_id == dealer_id)
              .execution_options(synchronize_session=False))
    for wd, intervals in sorted(week.items()):
        for opens, closes in intervals:
            s.add(OpeningHours(account_id=dealer.account_id, dealer_id=dealer_id, weekday=wd, opens=opens,
                               closes=closes))
    s.flush()
    audit.record(s, staff=staff, action="booking_setup.hours", target_type="dealer", target_id=dealer_id, ip=ip,
                 dealer_id=dealer_id, detail={"how": how, "before": _fmt(before), "after": _fmt(week)})


def save_hours(staff: StaffUser, dealer_id: int, raw: RawWeek, ip: str = "",
               now: datetime | None = None) -> list[Clash]:
    """Replace the week's hours; the upcoming bookings now outside them (listed, not cancelled)."""
    now = now or db.utcnow()
    with db.transaction() as s:
        dealer_of(s, Scope.of(staff), dealer_id)
        week = validate(raw, booking_config.load(s, dealer_id).rules.slot_minutes)
        _store(s, staff, dealer_id, week, ip, "edit")
        return clashes(s, dealer_id, now)


def copy_monday(staff: StaffUser, dealer_id: int, ip: str = "", now: datetime | None = None) -> list[Clash]:
    """Give Tuesday to Friday Monday's hours (closed if Monday is); the upcoming bookings now outside them."""
    now = now or db.utcnow()
    with db.transaction() as s:
        dealer_of(s, Scope.of(staff), dealer_id)
        week = week_of(s, dealer_id)
        for wd in WORKDAYS:
            week.pop(wd, None)
            if week.get(0):
                week[wd] = list(week[0])
        _store(s, staff, dealer_id, week, ip, "copy_monday")
        return clashes(s, dealer_id, now)
