"""The daily-distance estimate behind "maintenance due by kilometres"."""

from __future__ import annotations

from datetime import date

from scrm.services.mileage import DEFAULT_DAILY_KM, daily_km, km_since


def test_two_readings_give_the_slope() -> None:
    readings = [(date(2026, 1, 1), 10_000), (date(2026, 4, 11), 15_000)]   # 100 days, 5000 km
    assert daily_km(readings) == 50.0


def test_readings_in_any_order_and_missing_values_ignored() -> None:
    readings = [(date(2026, 4, 11), 15_000), (date(2026, 2, 1), None), (date(2026, 1, 1), 10_000)]
    assert daily_km(readings, mileage=99_999, purchase_date=date(2020, 1, 1)) == 50.0


def test_one_reading_falls_back_to_the_vehicle_mileage_since_purchase() -> None:
    got = daily_km([(date(2026, 1, 1), 10_000)], mileage=6_000, mileage_date=date(2025, 4, 11),
                   purchase_date=date(2025, 1, 1))
    assert got == 60.0


def test_same_day_readings_do_not_divide_by_zero() -> None:
    readings = [(date(2026, 1, 1), 10_000), (date(2026, 1, 1), 10_050)]
    assert daily_km(readings) == DEFAULT_DAILY_KM


def test_mileage_without_its_date_runs_to_today() -> None:
    assert daily_km([], mileage=3_000, purchase_date=date(2026, 1, 1), today=date(2026, 2, 10)) == 75.0


def test_nothing_known_gives_the_default() -> None:
    assert daily_km([]) == 40.0
    assert daily_km([], mileage=None, purchase_date=date(2026, 1, 1)) == 40.0


def test_km_since() -> None:
    assert km_since(40.0, date(2026, 1, 1), date(2026, 4, 11)) == 4000
    assert km_since(40.0, date(2026, 5, 1), date(2026, 4, 11)) == 0
