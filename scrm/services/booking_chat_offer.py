"""What a dealer offers for booking in chat: its active service types, its demo fleet's models, its
booking window and time zone, and the free days and times of one service (read-only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from scrm import db
from scrm.models import Booking, DemoCar, ServiceKind, ServiceType
from scrm.services import booking_config
from scrm.services.booking_availability import DayFree, free_days


@dataclass(frozen=True)
class ServiceChoice:
    """A service type a follower may book."""

    id: int
    name: str
    kind: ServiceKind
    duration_minutes: int


@dataclass(frozen=True)
class Window:
    """A dealer's booking window: its time zone, today there, and how many days ahead one may book."""

    tz: ZoneInfo
    today: date
    horizon_days: int


def services(dealer_id: int, *, test_drive: bool = False) -> list[ServiceChoice]:
    """The dealer's active service types: test drives only, or everything but test drives."""
    kind = ServiceType.kind == ServiceKind.TEST_DRIVE
    with db.transaction() as s:
        rows = s.scalars(sa.select(ServiceType).where(ServiceType.dealer_id == dealer_id,
                                                      ServiceType.active.is_(True),
                                                      kind if test_drive else sa.not_(kind))
                         .order_by(ServiceType.sort_order, ServiceType.id))
        return [ServiceChoice(st.id, st.name, st.kind, st.duration_minutes) for st in rows]


def service(dealer_id: int, service_type_id: int) -> ServiceChoice | None:
    """One active service type of the dealer."""
    with db.transaction() as s:
        st = s.get(ServiceType, service_type_id)
        if st is None or st.dealer_id != dealer_id or not st.active:
            return None
        return ServiceChoice(st.id, st.name, st.kind, st.duration_minutes)


def demo_models(dealer_id: int) -> list[str]:
    """The distinct models of the dealer's active demo fleet, by name."""
    with db.transaction() as s:
        return list(s.scalars(sa.select(DemoCar.model).where(DemoCar.dealer_id == dealer_id,
                                                             DemoCar.active.is_(True))
                              .distinct().order_by(DemoCar.model)))


def window(dealer_id: int, now: datetime | None = None) -> Window:
    """The dealer's booking window (NotFound for an unknown dealer)."""
    with db.transaction() as s:
        cfg = booking_config.load(s, dealer_id)
    tz = cfg.rules.tz
    return Window(tz=tz, today=(now or db.utcnow()).astimezone(tz).date(), horizon_days=cfg.rules.horizon_days)


def free(dealer_id: int, service_type_id: int, *, demo_model: str | None = None, demo_car_id: int | None = None,
         now: datetime | None = None, moving: int | None = None) -> list[DayFree]:
    """Every day of the dealer's window (from today) with its free start times (`moving`: see free_days)."""
    now = now or db.utcnow()
    w = window(dealer_id, now)
    s = db.session()
    try:
        return free_days(s, dealer_id, service_type_id, w.today, w.horizon_days + 1, demo_model, demo_car_id, now,
                         moving)
    finally:
        s.rollback()


def demo_car_of(booking_id: int) -> int | None:
    """The demo car a booking holds (test drives), for moving it on the same car."""
    with db.transaction() as s:
        return s.scalar(sa.select(Booking.demo_car_id).where(Booking.id == booking_id))


def local(start_at: datetime, tz: ZoneInfo) -> tuple[date, time]:
    """A UTC instant as the dealer's local day and wall-clock time."""
    t = start_at.astimezone(tz)
    return t.date(), t.time().replace(second=0, microsecond=0)
