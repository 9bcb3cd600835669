"""Aware times as array-literal elements: UTC text, remembered per instant, naive times refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from scrm.db import _times


def test_the_same_instant_in_any_zone_is_one_utc_text_and_naive_is_refused() -> None:
    at = datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC)
    shanghai = at.astimezone(timezone(timedelta(hours=8)))
    expected = '"2026-11-24T01:02:03.456789+00:00"'
    assert _times([shanghai, at, None, at]) == ",".join([expected, expected, "NULL", expected])
    with pytest.raises(ValueError, match="naive"):
        _times([at.replace(tzinfo=None)])  # equal wall clock to a remembered time: still refused
