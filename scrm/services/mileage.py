"""Estimated mileage: how far a car goes per day, from its service history or its recorded mileage.

The daily distance comes from the repair orders' odometer readings (two or more, over at least a day),
else from the vehicle's recorded mileage since its purchase, else a default of 40 km a day. The same rule
is written twice: in Python (`daily_km`, for one car) and as SQL (`daily_km_sql`, for every car at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa

from scrm.models import RepairOrder, Vehicle

DEFAULT_DAILY_KM = 40.0


def daily_km(readings: Iterable[tuple[date, int | None]], *, mileage: int | None = None,
             mileage_date: date | None = None, purchase_date: date | None = None,
             today: date | None = None) -> float:
    """Kilometres per day for one car (see the module's rule)."""
    known = [(d, km) for d, km in readings if km is not None]
    if len(known) >= 2:
        first, last = min(known), max(known)
        days = (last[0] - first[0]).days
        if days > 0 and max(k for _, k in known) > min(k for _, k in known):
            return (max(k for _, k in known) - min(k for _, k in known)) / days
    if mileage and purchase_date is not None:
        until = mileage_date or today
        if until is not None and (until - purchase_date).days > 0:
            return mileage / (until - purchase_date).days
    return DEFAULT_DAILY_KM


def km_since(per_day: float, since: date, today: date) -> int:
    """Estimated kilometres driven from `since` to `today`."""
    return max(0, round(per_day * (today - since).days))


def days_between(later: Any, earlier: Any, postgres: bool) -> Any:
    """SQL: whole days from `earlier` to `later` (both dates)."""
    if postgres:
        return sa.cast(later, sa.Date) - sa.cast(earlier, sa.Date)
    return sa.cast(sa.func.julianday(later) - sa.func.julianday(earlier), sa.Integer)


def history() -> Any:
    """SQL: per vehicle, its last repair order date and the span of its odometer readings."""
    reading = RepairOrder.mileage.isnot(None)
    return (sa.select(RepairOrder.vehicle_id.label("vehicle_id"),
                      sa.func.max(RepairOrder.date).label("last_visit"),
                      sa.func.count(RepairOrder.mileage).label("n"),
                      sa.func.min(sa.case((reading, RepairOrder.date))).label("first_day"),
                      sa.func.max(sa.case((reading, RepairOrder.date))).label("last_day"),
                      sa.func.min(RepairOrder.mileage).label("low"),
                      sa.func.max(RepairOrder.mileage).label("high"))
            .where(RepairOrder.vehicle_id.isnot(None))
            .group_by(RepairOrder.vehicle_id).subquery("hist"))


def daily_km_sql(hist: Any, today: date, postgres: bool) -> Any:
    """SQL: kilometres per day for each vehicle row joined to `history()`."""
    span = days_between(hist.c.last_day, hist.c.first_day, postgres)
    owned = days_between(sa.func.coalesce(Vehicle.mileage_date, sa.literal(today, sa.Date)),
                         Vehicle.purchase_date, postgres)
    return sa.case(
        (sa.and_(hist.c.n >= 2, span > 0, hist.c.high > hist.c.low),
         sa.cast(hist.c.high - hist.c.low, sa.Float) / span),
        (sa.and_(Vehicle.mileage > 0, Vehicle.purchase_date.isnot(None), owned > 0),
         sa.cast(Vehicle.mileage, sa.Float) / owned),
        else_=sa.literal(DEFAULT_DAILY_KM, sa.Float))
