"""Pure parts of the loyalty notices: dates as followers read them and the month of dedupe keys."""

from __future__ import annotations

from datetime import date, datetime

from scrm.services.loyalty_notify import day_label, month_of


def test_day_label_in_both_languages() -> None:
    assert day_label(date(2026, 12, 3), "zh") == "2026年12月3日"
    assert day_label(date(2026, 12, 3), "en") == "3 Dec 2026"


def test_month_of_pads_the_month() -> None:
    assert month_of(date(2027, 1, 31)) == "2027-01"
    assert month_of(datetime(2026, 11, 23, 10, 0)) == "2026-11"
