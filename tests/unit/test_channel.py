"""Channel choice (customer-service window rules, WECHAT.md 4.3) and the send-time policy helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scrm.models import Channel
from scrm.outbox.channel import Window, choose, window_open
from scrm.outbox.policy import is_marketing, next_quota_reset, parse_quiet_hours, quiet_until

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
CUSTOM = {"msgtype": "text", "text": {"content": "您的车辆保养已完成"}}
TEMPLATE = {"template_id": "TPL", "data": {"thing1": {"value": "保养完成"}}}
AUTO = {"custom": CUSTOM, "template": TEMPLATE}
SHANGHAI = ZoneInfo("Asia/Shanghai")


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


@pytest.mark.parametrize("window,expected", [
    (Window(ago(hours=47), "message", 0), True),
    (Window(ago(hours=47), "message", 4), True),
    (Window(ago(hours=47), "message", 5), False),        # 5 messages used
    (Window(ago(hours=48, seconds=1), "message", 0), False),
    (Window(ago(seconds=30), "click", 2), True),
    (Window(ago(seconds=30), "click", 3), False),        # 3 after a click
    (Window(ago(seconds=61), "follow", 0), False),       # 1 minute after a follow
    (Window(ago(seconds=20), "scan", 0), True),
    (Window(ago(seconds=58), "scan", 0), False),         # too close to the end: WeChat may see it late
    (Window(None, "message", 0), False),
    (Window(ago(seconds=1), "", 0), False),              # unknown kind: do not guess
    (Window(ago(seconds=1), "location", 0), False),
    (None, False),
])
def test_window_open(window: Window | None, expected: bool) -> None:
    assert window_open(window, NOW) is expected


def test_explicit_channels_are_kept() -> None:
    closed = Window(None, "", 0)
    assert choose(Channel.CUSTOM, CUSTOM, closed, NOW).channel == Channel.CUSTOM
    assert choose(Channel.TEMPLATE, TEMPLATE, closed, NOW).body == TEMPLATE
    mass = {"tag_id": 3, "msgtype": "text", "text": {"content": "x"}}
    assert choose(Channel.MASS, mass, None, NOW).channel == Channel.MASS


def test_auto_inside_the_window_is_custom_with_template_fallback() -> None:
    choice = choose(Channel.AUTO, AUTO, Window(ago(hours=1), "message", 0), NOW)
    assert choice.channel == Channel.CUSTOM
    assert choice.body == CUSTOM
    assert choice.fallback == TEMPLATE


def test_auto_outside_the_window_is_template() -> None:
    choice = choose(Channel.AUTO, AUTO, Window(ago(hours=49), "message", 0), NOW)
    assert (choice.channel, choice.body, choice.fallback) == (Channel.TEMPLATE, TEMPLATE, None)


def test_auto_without_template_outside_the_window_is_skipped() -> None:
    choice = choose(Channel.AUTO, {"custom": CUSTOM}, Window(ago(hours=49), "message", 0), NOW)
    assert choice.channel is None
    assert choice.reason == "window closed"


def test_auto_with_only_a_template_uses_it_even_in_the_window() -> None:
    choice = choose(Channel.AUTO, {"template": TEMPLATE}, Window(ago(minutes=1), "message", 0), NOW)
    assert choice.channel == Channel.TEMPLATE


def test_auto_with_nothing_to_send() -> None:
    assert choose(Channel.AUTO, {}, Window(ago(minutes=1), "message", 0), NOW).reason == "no message in payload"
    assert choose(Channel.AUTO, {"custom": "x"}, None, NOW).channel is None


def test_marketing_purposes() -> None:
    assert not is_marketing("reply")
    assert not is_marketing("deferred_reply")
    assert not is_marketing("transactional")
    assert is_marketing("campaign")
    assert is_marketing("journey")


@pytest.mark.parametrize("spec", ["22-08", "25:00-08:00", "22:00", "10:00-10:00", "22:00-08:60"])
def test_bad_quiet_hours_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_quiet_hours(spec)


def test_no_quiet_hours() -> None:
    assert parse_quiet_hours("") is None
    assert quiet_until(NOW, "", SHANGHAI) is None


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


@pytest.mark.parametrize("at,end", [
    (local(2026, 5, 1, 23, 30), local(2026, 5, 2, 8)),    # before midnight: ends tomorrow morning
    (local(2026, 5, 2, 7, 59), local(2026, 5, 2, 8)),     # after midnight: ends this morning
    (local(2026, 5, 1, 22, 0), local(2026, 5, 2, 8)),     # the start is inside
    (local(2026, 5, 2, 8, 0), None),                      # the end is outside
    (local(2026, 5, 1, 12, 0), None),
])
def test_quiet_hours_across_midnight(at: datetime, end: datetime | None) -> None:
    result = quiet_until(at.astimezone(UTC), "22:00-08:00", SHANGHAI)
    assert result == (end.astimezone(UTC) if end else None)
    if result is not None:
        assert result.tzinfo is not None


def test_quiet_hours_within_a_day() -> None:
    assert quiet_until(local(2026, 5, 1, 13).astimezone(UTC), "12:00-14:00", SHANGHAI) == local(2026, 5, 1, 14)
    assert quiet_until(local(2026, 5, 1, 15).astimezone(UTC), "12:00-14:00", SHANGHAI) is None


def test_quota_resets_at_midnight_china_time() -> None:
    # 17:00 UTC is 01:00 the next day in Shanghai: the reset is the midnight after that.
    assert next_quota_reset(datetime(2026, 5, 1, 17, 0, tzinfo=UTC)) == datetime(2026, 5, 2, 16, 0, tzinfo=UTC)
    assert next_quota_reset(datetime(2026, 5, 1, 15, 59, tzinfo=UTC)) == datetime(2026, 5, 1, 16, 0, tzinfo=UTC)
