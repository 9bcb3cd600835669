"""Pure rules of booking notices: when a reminder is due, what counts as a score, how times read."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from scrm.config import ConfigError, settings_from_dict
from scrm.services.booking_notify_rating import parse_score
from scrm.services.booking_notify_reminders import DAY_BEFORE, HOURS_BEFORE, Plan, day_before_moment, due
from scrm.services.booking_notify_text import clip, local_time

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
PLAN = Plan(day_before_at=time(10, 0), hours_before=2)
START = datetime(2026, 5, 20, 15, 0, tzinfo=SH)        # a visit at 15:00 local
EARLY = START - timedelta(days=7)                     # booked a week before


def local(day: int, hh: int, mm: int = 0, tz: ZoneInfo = SH) -> datetime:
    return datetime(2026, 5, day, hh, mm, tzinfo=tz)


@pytest.mark.parametrize(("now", "expected"), [
    (local(19, 9, 59), None),                          # before 10:00 the day before
    (local(19, 10, 0), DAY_BEFORE),
    (local(20, 12, 59), DAY_BEFORE),                   # still due (catch-up) until the 2-hour one is
    (local(20, 13, 0), HOURS_BEFORE),
    (local(20, 14, 59), HOURS_BEFORE),
    (local(20, 15, 0), None),                          # the visit has started
])
def test_due_moments(now: datetime, expected: str | None) -> None:
    assert due(START, EARLY, now.astimezone(UTC), SH, PLAN) == expected


def test_bookings_made_after_a_moment_skip_that_reminder() -> None:
    made_late = local(19, 11, 0)                       # after 10:00 the day before
    assert due(START, made_late, local(19, 12, 0), SH, PLAN) is None
    assert due(START, made_late, local(20, 13, 0), SH, PLAN) == HOURS_BEFORE
    made_last_minute = local(20, 13, 30)               # less than 2 hours before the start
    assert due(START, made_last_minute, local(20, 14, 0), SH, PLAN) is None


def test_the_plan_is_configurable() -> None:
    evening = Plan(day_before_at=time(18, 30), hours_before=3)
    assert due(START, EARLY, local(19, 18, 29), SH, evening) is None
    assert due(START, EARLY, local(19, 18, 30), SH, evening) == DAY_BEFORE
    assert due(START, EARLY, local(20, 12, 0), SH, evening) == HOURS_BEFORE


def test_an_early_morning_visit_gets_its_day_before_reminder_at_ten_the_previous_day() -> None:
    start = local(20, 8, 30)
    assert day_before_moment(start, SH, PLAN) == local(19, 10, 0)
    assert due(start, EARLY, local(19, 10, 0), SH, PLAN) == DAY_BEFORE


def test_day_before_moment_follows_the_dealers_zone_and_dst() -> None:
    visit = datetime(2026, 3, 9, 9, 0, tzinfo=NY)        # the day after the spring-forward night
    assert day_before_moment(visit, NY, PLAN) == datetime(2026, 3, 8, 10, 0, tzinfo=NY)
    gap = Plan(day_before_at=time(2, 30), hours_before=2)  # 02:30 does not exist on 8 March in New York
    assert day_before_moment(visit, NY, gap) == datetime(2026, 3, 8, 3, 30, tzinfo=NY)


@pytest.mark.parametrize(("text", "score"), [
    ("5", 5), ("１", 1), (" 3 ", 3), ("5分", 5), ("五分", 5), ("四", 4), ("4星", 4), ("3。", 3),
    ("0", 0), ("6", 6), ("10分", 10),
    ("12345", None), ("5 stars please", None), ("五星好评", None), ("", None), ("3-5", None), ("-1", None),
])
def test_parse_score(text: str, score: int | None) -> None:
    assert parse_score(text) == score


def test_local_time_reads_naturally() -> None:
    value = datetime(2026, 5, 23, 9, 30, tzinfo=SH)
    assert local_time(value, "zh") == "2026年5月23日（周六）09:30"
    assert local_time(value, "zh", weekday=False) == "2026年5月23日 09:30"
    assert local_time(value, "en") == "Sat 23 May 2026, 09:30"


def test_clip_keeps_template_values_within_wechats_limits() -> None:
    assert clip("常规保养", 20) == "常规保养"
    long = "上海市浦东新区锦绣路一百号汽车城东门内侧停车场"
    assert len(long) > 20 and len(clip(long, 20)) == 20 and clip(long, 20).endswith("…")


BASE = {"app": {"secret_key": "k" * 20}}
ACCOUNT = {"app_id": "wx123", "app_secret": "s3cret", "token": "tok123"}


def test_account_templates_and_booking_settings() -> None:
    s = settings_from_dict({**BASE, "booking": {"rating_delay_minutes": 30},
                            "accounts": {"a": {**ACCOUNT, "templates": {"booking_confirmed": "T-1"},
                                               "templates_booking_rating": "T-2"}}})
    acc = s.accounts["a"]
    assert acc.template_id("booking_confirmed") == "T-1" and acc.template_id("booking_rating") == "T-2"
    assert acc.template_id("booking_reminder") == ""
    assert hash(acc)                                  # settings stay hashable (the API client cache keys on them)
    assert s.booking.rating_delay_minutes == 30 and s.booking.reminder_day_before_at == "10:00"


@pytest.mark.parametrize(("raw", "message"), [
    ({"accounts": {"a": {**ACCOUNT, "templates": {"booking_confirmd": "T"}}}}, "booking_confirmd"),
    ({"accounts": {"a": {**ACCOUNT, "templates": {"booking_confirmed": "bad id!"}}}}, "template id"),
    ({"accounts": {"a": {**ACCOUNT, "templates": "T"}}}, "expected a table"),
    ({"booking": {"reminder_day_before_at": "25:00"}}, "reminder_day_before_at"),
    ({"booking": {"reminder_hours_before": 0}}, "reminder_hours_before"),
    ({"booking": {"rating_delay_minutes": -5}}, "rating_delay_minutes"),
])
def test_bad_settings_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_dict({**BASE, **raw})
