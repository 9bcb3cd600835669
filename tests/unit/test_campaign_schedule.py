"""campaign_schedule.next_run: daily, weekly and monthly recurrences in a zone, strictly after, until."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from scrm.services.campaign_schedule import next_run, normalise
from scrm.services.errors import Invalid

SH = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH).astimezone(UTC)


def test_daily_today_when_the_time_is_still_ahead_else_tomorrow() -> None:
    rec = {"every": "day", "at": "09:00"}
    assert next_run(rec, local(2026, 3, 2, 8, 59), SH) == local(2026, 3, 2, 9, 0)
    assert next_run(rec, local(2026, 3, 2, 9, 0), SH) == local(2026, 3, 3, 9, 0)      # strictly after
    assert next_run(rec, local(2026, 3, 2, 23, 30), SH) == local(2026, 3, 3, 9, 0)


def test_daily_in_the_zone_not_in_utc() -> None:
    # 09:00 in Shanghai is 01:00 UTC: at 00:30 UTC (08:30 local) today's run is still ahead
    assert next_run({"every": "day", "at": "9:00"}, datetime(2026, 3, 2, 0, 30, tzinfo=UTC), SH) == \
        datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_weekly_on_its_weekday() -> None:
    rec = {"every": "week", "at": "10:15", "weekday": 4}            # Friday
    assert next_run(rec, local(2026, 3, 2, 12, 0), SH) == local(2026, 3, 6, 10, 15)   # a Monday
    assert next_run(rec, local(2026, 3, 6, 10, 15), SH) == local(2026, 3, 13, 10, 15)


@pytest.mark.parametrize(("day", "after", "expected"), [
    (1, (2026, 1, 15), (2026, 2, 1)),
    (28, (2026, 2, 1), (2026, 2, 28)),
    (15, (2026, 12, 20), (2027, 1, 15)),
])
def test_monthly_on_its_day(day: int, after: tuple[int, int, int], expected: tuple[int, int, int]) -> None:
    assert next_run({"every": "month", "at": "08:00", "day": day}, local(*after, 12, 0), SH) == local(*expected, 8, 0)


def test_until_is_the_last_day_that_may_run() -> None:
    rec = {"every": "day", "at": "09:00", "until": "2026-03-03"}
    assert next_run(rec, local(2026, 3, 2, 10, 0), SH) == local(2026, 3, 3, 9, 0)
    assert next_run(rec, local(2026, 3, 3, 9, 0), SH) is None
    assert next_run({"every": "week", "at": "09:00", "weekday": 6, "until": "2026-03-07"},
                    local(2026, 3, 2, 0, 0), SH) is None                               # Sunday 8th is past it


@pytest.mark.parametrize("rec", [
    {"every": "year", "at": "09:00"}, {"every": "day", "at": "25:00"}, {"every": "day"},
    {"every": "week", "at": "09:00", "weekday": 7}, {"every": "month", "at": "09:00", "day": 29},
    {"every": "month", "at": "09:00", "day": "x"}, {"every": "day", "at": "09:00", "until": "2026-02-30"}, "daily",
])
def test_bad_recurrences_are_refused(rec: object) -> None:
    with pytest.raises(Invalid) as err:
        normalise(rec)
    assert err.value.field == "recurrence"
    assert next_run(rec, local(2026, 3, 2, 0, 0), SH) is None  # type: ignore[arg-type]


def test_normalise_keeps_what_matters() -> None:
    assert normalise({"every": "week", "at": "7:05", "weekday": "2", "day": 9, "until": ""}) == \
        {"every": "week", "at": "07:05", "weekday": 2, "until": ""}
