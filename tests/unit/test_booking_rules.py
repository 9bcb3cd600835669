"""The pure slot maths: opening hours, lunch break, closures, notice, horizon, long services, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scrm.services.booking_rules import (
    Rules,
    can_cancel,
    covered_slots,
    day_starts,
    grid,
    local_instant,
    nearest,
    refusal,
    slots_needed,
)

SH = ZoneInfo("Asia/Shanghai")
RULES = Rules(tz=SH)  # 30-minute slots, 120 min notice, 30 days ahead, 120 min cut-off
HOURS = [(time(13, 0), time(18, 0)), (time(8, 30), time(12, 0))]  # a lunch break, given out of order
DAY = date(2026, 12, 7)  # a Monday
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # well before DAY


def _locals(starts: list[tuple[time, datetime]]) -> list[str]:
    return [t.strftime("%H:%M") for t, _ in starts]


def test_grid_honours_the_lunch_break_and_closing_time() -> None:
    got = _locals(day_starts(DAY, HOURS, [], 30, RULES, NOW))
    assert got[0] == "08:30" and "11:30" in got and "12:00" not in got and "12:30" not in got
    assert "13:00" in got and got[-1] == "17:30" and len(got) == 7 + 10


def test_a_long_service_fits_inside_one_interval() -> None:
    got = _locals(day_starts(DAY, HOURS, [], 90, RULES, NOW))  # 3 slots
    assert "10:30" in got and "11:00" not in got  # 11:00 + 90 min would run into lunch
    assert got[-1] == "16:30" and "17:00" not in got
    assert slots_needed(90, 30) == 3 and slots_needed(45, 30) == 2 and slots_needed(10, 30) == 1


def test_covered_slots_are_consecutive_utc_slots() -> None:
    start = datetime(2026, 12, 7, 10, 0, tzinfo=SH)
    slots = covered_slots(start, 60, RULES)
    assert slots == [datetime(2026, 12, 7, 2, 0, tzinfo=UTC), datetime(2026, 12, 7, 2, 30, tzinfo=UTC)]


def test_whole_day_and_partial_closures() -> None:
    assert day_starts(DAY, HOURS, [(None, None)], 30, RULES, NOW) == []
    got = _locals(day_starts(DAY, HOURS, [(time(8, 30), time(10, 0))], 60, RULES, NOW))
    assert got[0] == "10:00" and "09:30" not in got  # 09:30 + 60 min overlaps the closure's end
    until_end = _locals(day_starts(DAY, HOURS, [(time(15, 0), None)], 30, RULES, NOW))
    assert until_end[-1] == "14:30"


def test_notice_and_horizon() -> None:
    now = datetime(2026, 12, 7, 9, 10, tzinfo=SH)  # notice 120 min: nothing before 11:10
    got = _locals(day_starts(DAY, HOURS, [], 30, RULES, now))
    assert got[0] == "11:30"
    assert day_starts(DAY + timedelta(days=30), HOURS, [], 30, RULES, now)       # the last bookable day
    assert not day_starts(DAY + timedelta(days=31), HOURS, [], 30, RULES, now)   # beyond the horizon


def test_refusal_reasons() -> None:
    ok = datetime(2026, 12, 7, 10, 0, tzinfo=SH)
    assert refusal(ok, HOURS, [], 60, RULES, NOW) is None
    assert refusal(ok.astimezone(UTC), HOURS, [], 60, RULES, NOW) is None  # any zone in, same instant
    assert "open" in (refusal(ok.replace(hour=12), HOURS, [], 30, RULES, NOW) or "")     # lunch
    assert "open" in (refusal(ok.replace(minute=10), HOURS, [], 30, RULES, NOW) or "")   # off the grid
    assert "open" in (refusal(ok.replace(hour=11, minute=30), HOURS, [], 60, RULES, NOW) or "")  # runs into lunch
    assert "closed" in (refusal(ok, HOURS, [(time(9), time(11))], 60, RULES, NOW) or "")
    assert "notice" in (refusal(ok, HOURS, [], 60, RULES, ok - timedelta(minutes=90)) or "")
    assert "ahead" in (refusal(ok + timedelta(days=40), HOURS, [], 60, RULES, NOW) or "")


def test_dealer_time_zone_decides_the_day_and_the_instant() -> None:
    berlin = Rules(tz=ZoneInfo("Europe/Berlin"))
    got = day_starts(date(2026, 12, 7), [(time(9), time(10))], [], 30, berlin, NOW)
    assert [utc for _, utc in got] == [datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
                                       datetime(2026, 12, 7, 8, 30, tzinfo=UTC)]
    # a daylight-saving gap: 02:30 on 29 March 2026 does not exist in Berlin
    assert local_instant(date(2026, 3, 29), time(2, 30), ZoneInfo("Europe/Berlin")) is None
    gap = grid(date(2026, 3, 29), [(time(1, 0), time(4, 0))], [], 30, berlin)
    assert "02:30" not in _locals(gap) and "03:00" in _locals(gap)
    # summer time moves the UTC instant of the same wall-clock time
    summer = grid(date(2026, 7, 6), [(time(9), time(10))], [], 30, berlin)
    assert summer[0][1] == datetime(2026, 7, 6, 7, 0, tzinfo=UTC)


def test_cancel_cutoff_and_nearest() -> None:
    start = datetime(2026, 12, 7, 10, 0, tzinfo=SH)
    assert can_cancel(start, RULES, start - timedelta(minutes=120))
    assert not can_cancel(start, RULES, start - timedelta(minutes=119))
    times = [start + timedelta(minutes=30 * k) for k in range(-4, 5) if k != 0]
    assert nearest(times, start, 3) == sorted([start - timedelta(minutes=30), start + timedelta(minutes=30),
                                               start - timedelta(minutes=60)])
