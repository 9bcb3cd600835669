"""The pure slot maths of bookings: which local start times a day offers, which slots a booking covers,
and why a start time is refused. No database here; times in, times out.

A booking must fit inside one opening interval (it never spans the lunch break), starts on the slot grid
of that interval (opens + k * slot_minutes), and covers ceil(duration / slot) consecutive slots.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scrm.services.normalize_base import N_

Interval = tuple[time, time]                  # opens, closes (local)
ClosureSpan = tuple[time | None, time | None]  # from, to (local); (None, None) is the whole day


@dataclass(frozen=True)
class Rules:
    """One dealer's booking rules, resolved (the time zone as a ZoneInfo)."""

    tz: ZoneInfo
    slot_minutes: int = 30
    min_notice_minutes: int = 120
    horizon_days: int = 30
    cancel_cutoff_minutes: int = 120

    @property
    def slot(self) -> timedelta:
        """One slot's length."""
        return timedelta(minutes=self.slot_minutes)


def slots_needed(duration_minutes: int, slot_minutes: int) -> int:
    """How many consecutive slots a service of `duration_minutes` takes."""
    return max(1, math.ceil(duration_minutes / slot_minutes))


def covered_slots(start_at: datetime, duration_minutes: int, rules: Rules) -> list[datetime]:
    """The UTC starts of every slot a booking starting at `start_at` covers, in time order."""
    n = slots_needed(duration_minutes, rules.slot_minutes)
    start = start_at.astimezone(UTC)
    return [start + k * rules.slot for k in range(n)]


def local_instant(day: date, t: time, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of local `day t`, or None when that local time does not exist (a DST gap)."""
    local = datetime.combine(day, t, tz)
    utc = local.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return utc


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _time(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


def _closed(start: int, end: int, closures: Iterable[ClosureSpan]) -> bool:
    """True when [start, end) (minutes of the day) overlaps a closure."""
    for c_from, c_to in closures:
        lo = _minutes(c_from) if c_from is not None else 0
        hi = _minutes(c_to) if c_to is not None else 24 * 60
        if start < hi and lo < end:
            return True
    return False


def last_day(now: datetime, rules: Rules) -> date:
    """The last local day a booking may fall on."""
    return now.astimezone(rules.tz).date() + timedelta(days=rules.horizon_days)


def grid(day: date, hours: Sequence[Interval], closures: Sequence[ClosureSpan], duration_minutes: int,
         rules: Rules) -> list[tuple[time, datetime]]:
    """Every (local time, UTC start) on `day` where a booking of this length fits the hours and closures."""
    out: list[tuple[time, datetime]] = []
    length = slots_needed(duration_minutes, rules.slot_minutes) * rules.slot_minutes
    for opens, closes in sorted(hours):
        start, end = _minutes(opens), _minutes(closes) if closes != time(0) else 24 * 60
        m = start
        while m + length <= end:
            if not _closed(m, m + length, closures):
                local = _time(m)
                utc = local_instant(day, local, rules.tz)
                if utc is not None:
                    out.append((local, utc))
            m += rules.slot_minutes
    return out


def day_starts(day: date, hours: Sequence[Interval], closures: Sequence[ClosureSpan], duration_minutes: int,
               rules: Rules, now: datetime) -> list[tuple[time, datetime]]:
    """The grid of `day` within the notice and the horizon, before capacity."""
    if day > last_day(now, rules):
        return []
    earliest = now + timedelta(minutes=rules.min_notice_minutes)
    return [(t, utc) for t, utc in grid(day, hours, closures, duration_minutes, rules) if utc >= earliest]


def refusal(start_at: datetime, hours: Sequence[Interval], closures: Sequence[ClosureSpan], duration_minutes: int,
            rules: Rules, now: datetime) -> str | None:
    """Why a booking may not start at `start_at` (an English msgid), or None when the rules allow it."""
    if start_at.tzinfo is None:
        raise ValueError("start_at must be timezone-aware")
    local = start_at.astimezone(rules.tz)
    if start_at < now + timedelta(minutes=rules.min_notice_minutes):
        return N_("Bookings need at least %(minutes)s minutes' notice.")
    if local.date() > last_day(now, rules):
        return N_("Bookings open at most %(days)s days ahead.")
    starts = {utc for _, utc in grid(local.date(), hours, [], duration_minutes, rules)}
    if start_at.astimezone(UTC) not in starts:
        return N_("The dealer is not open for that service at that time.")
    m = _minutes(local.time())
    if _closed(m, m + slots_needed(duration_minutes, rules.slot_minutes) * rules.slot_minutes, closures):
        return N_("The dealer is closed at that time.")
    return None


def can_cancel(start_at: datetime, rules: Rules, now: datetime) -> bool:
    """True when a customer may still cancel or move a booking starting at `start_at`."""
    return start_at - now >= timedelta(minutes=rules.cancel_cutoff_minutes)


def nearest(starts: Iterable[datetime], wanted: datetime, count: int = 3) -> list[datetime]:
    """The `count` starts closest to `wanted`, in time order."""
    best = sorted(starts, key=lambda t: (abs((t - wanted).total_seconds()), t))[:count]
    return sorted(best)
