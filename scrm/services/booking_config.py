"""Loading one dealer's booking configuration: rules, opening hours, closures, service type, demo cars."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import runtime
from scrm.models import BookingSettings, Closure, Dealer, DemoCar, OpeningHours, ServiceKind, ServiceType
from scrm.services.booking_rules import ClosureSpan, Interval, Rules
from scrm.services.errors import DomainError, NotFound
from scrm.services.normalize_base import N_


@dataclass(frozen=True)
class DealerConfig:
    """What availability and booking need to know about one dealer."""

    dealer_id: int
    account_id: int
    rules: Rules
    hours: dict[int, list[Interval]]  # weekday -> intervals

    def hours_on(self, day: date) -> list[Interval]:
        """The opening intervals of `day`."""
        return self.hours.get(day.weekday(), [])


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else runtime.get().settings.app.tz
    except (ZoneInfoNotFoundError, ValueError):
        return runtime.get().settings.app.tz


def load(s: Session, dealer_id: int) -> DealerConfig:
    """The dealer's rules (defaults when it has no settings row) and weekly hours; NotFound for no dealer.

    The time zone is the settings' own, else the dealer's, else the app's.
    """
    row = s.execute(sa.select(Dealer.account_id, BookingSettings, Dealer.timezone)
                    .outerjoin(BookingSettings, BookingSettings.dealer_id == Dealer.id)
                    .where(Dealer.id == dealer_id)).first()
    if row is None:
        raise NotFound()
    bs: BookingSettings | None = row[1]
    if bs is None:
        rules = Rules(tz=_zone(row[2] or ""))
    else:
        rules = Rules(tz=_zone(bs.timezone or row[2] or ""), slot_minutes=bs.slot_minutes,
                      min_notice_minutes=bs.min_notice_minutes, horizon_days=bs.horizon_days,
                      cancel_cutoff_minutes=bs.cancel_cutoff_minutes)
    hours: dict[int, list[Interval]] = defaultdict(list)
    for h in s.execute(sa.select(OpeningHours.weekday, OpeningHours.opens, OpeningHours.closes)
                       .where(OpeningHours.dealer_id == dealer_id)):
        hours[h.weekday].append((h.opens, h.closes))
    return DealerConfig(dealer_id=dealer_id, account_id=row[0], rules=rules, hours=dict(hours))


def closures(s: Session, dealer_id: int, first: date, last: date) -> dict[date, list[ClosureSpan]]:
    """The closures of local days first..last (inclusive), by day."""
    out: dict[date, list[ClosureSpan]] = defaultdict(list)
    for c in s.execute(sa.select(Closure.day, Closure.from_time, Closure.to_time)
                       .where(Closure.dealer_id == dealer_id, Closure.day >= first, Closure.day <= last)):
        out[c.day].append((c.from_time, c.to_time))
    return out


def service_type(s: Session, dealer_id: int, service_type_id: int) -> ServiceType:
    """An active service type of the dealer; NotFound or a DomainError otherwise."""
    st = s.get(ServiceType, service_type_id)
    if st is None or st.dealer_id != dealer_id:
        raise NotFound()
    if not st.active:
        raise DomainError(N_("That service cannot be booked at the moment."))
    return st


def demo_cars(s: Session, st: ServiceType, model: str | None = None, car_id: int | None = None) -> list[DemoCar]:
    """The active demo cars a test drive may use (one car, the cars of a model, or the whole fleet)."""
    if st.kind != ServiceKind.TEST_DRIVE:
        return []
    stmt = sa.select(DemoCar).where(DemoCar.dealer_id == st.dealer_id, DemoCar.active.is_(True))
    if car_id is not None:
        stmt = stmt.where(DemoCar.id == car_id)
    if model:
        stmt = stmt.where(DemoCar.model == model)
    cars = list(s.scalars(stmt.order_by(DemoCar.id)))
    if not cars:
        raise DomainError(N_("No demo car of that model can be booked."))
    return cars
