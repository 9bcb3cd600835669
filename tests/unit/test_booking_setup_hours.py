"""Pure rules of the booking set-up: validating a week of opening hours, and whether a booking fits the hours."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from scrm.services.booking_config import DealerConfig
from scrm.services.booking_rules import Rules
from scrm.services.booking_setup import fits_hours
from scrm.services.booking_setup_hours import validate
from scrm.services.validation import FormInvalid

SH = ZoneInfo("Asia/Shanghai")


def _fields(exc: pytest.ExceptionInfo[FormInvalid]) -> dict[str, str]:
    return {p.field: p.message for p in exc.value.problems}


def test_week_with_lunch_break_empty_rows_and_closed_days() -> None:
    week = validate({0: [("13:00", "18:00"), ("", ""), ("8:30", "12:00")], 6: [("", "")]}, 30)
    assert week == {0: [(time(8, 30), time(12)), (time(13), time(18))]}  # sorted; Sunday closed


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(FormInvalid) as exc:
        validate({0: [("09:00", "08:00")], 1: [("09:00", "12:00"), ("11:00", "13:00")], 2: [("9:15", "25:00")],
                  3: [("09:00", "")]}, 30)
    fields = _fields(exc)
    assert fields["h0_0_closes"] == "Closing time must be after opening time."
    assert fields["h1_1_opens"] == "This interval overlaps another one of the same day."
    assert fields["h2_0_opens"] == "Times must be on the %(slot)s-minute slot grid."
    assert fields["h2_0_closes"] == fields["h3_0_closes"] == "Enter a time such as 08:30."


def test_more_than_three_intervals_refused() -> None:
    with pytest.raises(FormInvalid) as exc:
        validate({4: [("08:00", "09:00"), ("10:00", "11:00"), ("12:00", "13:00"), ("14:00", "15:00")]}, 60)
    assert list(_fields(exc)) == ["h4_0_opens"]


def test_touching_intervals_are_not_an_overlap() -> None:
    assert validate({0: [("08:00", "12:00"), ("12:00", "18:00")]}, 20) == {0: [(time(8), time(12)),
                                                                                 (time(12), time(18))]}


CFG = DealerConfig(dealer_id=1, account_id=1, rules=Rules(tz=SH),
                   hours={0: [(time(8, 30), time(12)), (time(13), time(18))]})  # Mondays only


def _at(hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 11, 23, hh, mm, tzinfo=SH).astimezone(UTC)  # a Monday


@pytest.mark.parametrize(("start", "end", "shut", "ok"), [
    (_at(9), _at(10), [], True),
    (_at(11, 30), _at(12, 30), [], False),  # runs into the lunch break
    (_at(17, 30), _at(18), [], True),
    (_at(7), _at(8), [], False),
    (_at(9), _at(10), [(time(9, 30), time(11))], False),
    (_at(9), _at(10), [(time(10), time(11))], True),
    (_at(9), _at(10), [(None, None)], False),
])
def test_fits_hours(start: datetime, end: datetime, shut: list[tuple[time | None, time | None]], ok: bool) -> None:
    assert fits_hours(start, end, CFG, shut) is ok


def test_a_day_without_hours_fits_nothing() -> None:
    tuesday = datetime(2026, 11, 24, 9, tzinfo=SH)
    assert not fits_hours(tuesday, tuesday.replace(hour=10), CFG, [])
