"""Who enters each journey today and who leaves it: one INSERT ... SELECT and one UPDATE per kind.

A candidate row is (follower, customer, occurrence, anchor, context): the dealer's bound, subscribed
followers whose records match the kind's rule. The unique (journey, follower, occurrence) makes a second
tick (or a second scheduler) a no-op; a new occurrence (a new purchase, the next service, the next
birthday year) is the only way back in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from scrm.models import (
    Booking,
    BookingStatus,
    Customer,
    CustomerBinding,
    Follower,
    Journey,
    JourneyEnrolment,
    JourneyKind,
    RepairOrder,
    ServiceKind,
    ServiceType,
    Stage,
    Vehicle,
)
from scrm.services import journey_defs, mileage

ENROL_COLUMNS = ["journey_id", "account_id", "dealer_id", "follower_id", "customer_id", "occurrence", "anchor",
                 "context", "entered_at", "steps_done", "exit_reason"]
SEASON_LATE_DAYS = 2   # a seasonal date is still entered this many days after it (the tick may have missed it)


@dataclass(frozen=True)
class Env:
    """What the SQL needs: the dialect, the local day, the instant and the app's time zone."""

    postgres: bool
    today: date
    now: datetime
    tz: ZoneInfo

    def midnight(self, day: date) -> datetime:
        """The start of a local day, in UTC."""
        return datetime.combine(day, datetime.min.time(), tzinfo=self.tz).astimezone(UTC)


def insert(s: Session, model: Any) -> Any:
    """The dialect's INSERT (it has ON CONFLICT DO NOTHING)."""
    return postgresql.insert(model) if s.get_bind().dialect.name == "postgresql" else sqlite.insert(model)


def text(value: str) -> Any:
    """A typed text constant (PostgreSQL cannot type a bare parameter inside json_build_object)."""
    return sa.cast(sa.literal(value), sa.Text)


def json_object(env: Env, **values: Any) -> Any:
    """SQL: a JSON object of the given SQL expressions."""
    args: list[Any] = []
    for key, value in values.items():
        args += [text(key), value]
    return sa.func.json_build_object(*args) if env.postgres else sa.func.json_object(*args)


def _s(value: Any) -> Any:
    return sa.cast(value, sa.String)


def _bound(j: Journey) -> Any:
    """Customers of the journey's dealer joined to their subscribed bound followers (a FROM clause)."""
    return (sa.join(Customer, CustomerBinding, sa.and_(CustomerBinding.customer_id == Customer.id,
                                                       CustomerBinding.dealer_id == j.dealer_id))
            .join(Follower, sa.and_(Follower.id == CustomerBinding.follower_id, Follower.subscribed.is_(True))))


def _live(j: Journey) -> Any:
    return sa.and_(Customer.dealer_id == j.dealer_id, Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))


def _row(j: Journey, env: Env, follower: Any, customer: Any, occurrence: Any, anchor: Any, context: Any) -> list[Any]:
    return [sa.literal(j.id), sa.literal(j.account_id), sa.literal(j.dealer_id), follower, customer, occurrence,
            anchor, context, sa.literal(env.now), sa.literal(0), sa.literal("")]


def _vehicles(j: Journey, env: Env, occurrence: Any, anchor: Any, where: Any, hist: Any = None) -> sa.Select[Any]:
    source = _bound(j).join(Vehicle, Vehicle.customer_id == Customer.id)
    if hist is not None:
        source = source.outerjoin(hist, hist.c.vehicle_id == Vehicle.id)
    return (sa.select(*_row(j, env, Follower.id, Customer.id, occurrence, anchor,
                            json_object(env, vehicle_id=Vehicle.id)))
            .select_from(source).where(_live(j), where))


def _later(a: Any, b: Any) -> Any:
    """SQL: the later of two nullable dates (NULL only when both are)."""
    return sa.case((a.is_(None), b), (b.is_(None), a), (a > b, a), else_=b)


def _months_back(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    for d in (day.day, 30, 29, 28):
        try:
            return date(y, m + 1, d)
        except ValueError:
            continue
    return date(y, m + 1, 28)


def _local_date(col: Any, env: Env) -> Any:
    if env.postgres:
        return sa.cast(sa.func.timezone(env.tz.key, col), sa.Date)
    offset = env.now.astimezone(env.tz).utcoffset() or timedelta(0)
    return sa.func.date(col, f"{int(offset.total_seconds() // 60):+d} minutes")


def season_days(dates: list[str], today: date) -> list[date]:
    """The chosen dates (this year's or last year's) on or up to SEASON_LATE_DAYS before `today`."""
    out = []
    for mmdd in dates:
        month, day = int(mmdd[:2]), int(mmdd[3:])
        for year in (today.year, today.year - 1):
            try:
                d = date(year, month, day)
            except ValueError:   # 29 Feb in a common year
                d = date(year, 2, 28)
            if d <= today <= d + timedelta(days=SEASON_LATE_DAYS):
                out.append(d)
    return sorted(set(out))


def candidates(j: Journey, env: Env) -> list[sa.Select[Any]]:
    """The SELECTs of today's new enrolments of journey `j` (columns in ENROL_COLUMNS order)."""
    kind, d = JourneyKind(j.kind), journey_defs.DEFS[JourneyKind(j.kind)]
    today = env.today
    if kind == JourneyKind.WELCOME:
        return [_vehicles(j, env, "v" + _s(Vehicle.id), Vehicle.purchase_date,
                          Vehicle.purchase_date.between(today - timedelta(days=30), today))]
    if kind == JourneyKind.MAINTENANCE:
        hist = mileage.history()
        base = sa.func.coalesce(_later(Vehicle.last_service_date, hist.c.last_visit), Vehicle.purchase_date)
        months = int(journey_defs.setting(j.settings, d, "months"))
        km = int(journey_defs.setting(j.settings, d, "km"))
        per_day = mileage.daily_km_sql(hist, today, env.postgres)
        due = sa.or_(base <= _months_back(today, months),
                     per_day * mileage.days_between(sa.literal(today, sa.Date), base, env.postgres) >= km)
        return [_vehicles(j, env, "v" + _s(Vehicle.id) + ":" + _s(base), sa.literal(today, sa.Date),
                          sa.and_(base.isnot(None), base <= today, due), hist)]
    if kind == JourneyKind.BIRTHDAY:
        birthday = sa.and_(sa.extract("month", Customer.birthday) == today.month,
                           sa.extract("day", Customer.birthday) == today.day)
        leap = (today.year % 4 == 0 and today.year % 100 != 0) or today.year % 400 == 0
        if (today.month, today.day) == (2, 28) and not leap:
            birthday = sa.or_(birthday, sa.and_(sa.extract("month", Customer.birthday) == 2,
                                                sa.extract("day", Customer.birthday) == 29))
        return [sa.select(*_row(j, env, Follower.id, Customer.id, sa.literal(str(today.year)),
                                sa.literal(today, sa.Date), json_object(env)))
                .select_from(_bound(j)).where(_live(j), Customer.birthday.isnot(None), birthday)]
    if kind == JourneyKind.INSURANCE:
        return [_vehicles(j, env, "v" + _s(Vehicle.id) + ":" + _s(Vehicle.insurance_expiry), Vehicle.insurance_expiry,
                          Vehicle.insurance_expiry.between(today, today + timedelta(days=30)))]
    if kind == JourneyKind.SEASONAL:
        dates = list(journey_defs.setting(j.settings, d, "dates"))
        return [sa.select(*_row(j, env, Follower.id, Customer.id, sa.literal(f"{day.year}-{day:%m-%d}"),
                                sa.literal(day, sa.Date), json_object(env)))
                .select_from(_bound(j)).where(_live(j), Customer.stage == Stage.OWNER)
                for day in season_days(dates, today)]
    if kind == JourneyKind.TEST_DRIVE:
        return [_test_drives(j, env)]
    if kind == JourneyKind.SATISFACTION:
        return [sa.select(*_row(j, env, Follower.id, Customer.id, "ro" + _s(RepairOrder.id), RepairOrder.date,
                                json_object(env, repair_order_id=RepairOrder.id)))
                .select_from(_bound(j).join(RepairOrder, RepairOrder.customer_id == Customer.id))
                .where(_live(j), RepairOrder.dealer_id == j.dealer_id,
                       RepairOrder.date.between(today - timedelta(days=3), today - timedelta(days=1)))]
    return [_reengagement(j, env, d)]


def _test_drives(j: Journey, env: Env) -> sa.Select[Any]:
    binding = aliased(CustomerBinding)
    follower = sa.func.coalesce(Booking.follower_id, binding.follower_id)
    return (sa.select(*_row(j, env, Follower.id, Booking.customer_id, "b" + _s(Booking.id),
                            _local_date(Booking.completed_at, env), json_object(env, booking_id=Booking.id)))
            .select_from(sa.join(Booking, ServiceType, ServiceType.id == Booking.service_type_id)
                         .outerjoin(binding, sa.and_(binding.customer_id == Booking.customer_id,
                                                     binding.dealer_id == Booking.dealer_id))
                         .join(Follower, sa.and_(Follower.id == follower, Follower.subscribed.is_(True))))
            .where(Booking.dealer_id == j.dealer_id, ServiceType.kind == ServiceKind.TEST_DRIVE,
                   Booking.status == BookingStatus.COMPLETED,
                   Booking.completed_at >= env.midnight(env.today - timedelta(days=14))))


def _reengagement(j: Journey, env: Env, d: journey_defs.JourneyDef) -> sa.Select[Any]:
    days = int(journey_defs.setting(j.settings, d, "days"))
    year_ago = env.now - timedelta(days=365)
    half = f"{env.today.year}H{1 if env.today.month <= 6 else 2}"
    quiet = sa.func.coalesce(Follower.last_interaction_at, Follower.subscribed_at, Follower.created_at)
    booked = sa.exists().where(Booking.customer_id == Customer.id, Booking.status != BookingStatus.CANCELLED,
                               Booking.start_at >= year_ago)
    visited = sa.exists().where(RepairOrder.customer_id == Customer.id,
                                RepairOrder.date >= env.today - timedelta(days=365))
    return (sa.select(*_row(j, env, Follower.id, Customer.id, sa.literal(half), sa.literal(env.today, sa.Date),
                            json_object(env)))
            .select_from(_bound(j))
            .where(_live(j), quiet < env.now - timedelta(days=days), ~booked, ~visited))


def enrol(s: Session, j: Journey, env: Env) -> int:
    """Write today's new enrolments of `j` in bulk; return how many were new."""
    written = 0
    for select in candidates(j, env):
        stmt = insert(s, JourneyEnrolment).from_select(ENROL_COLUMNS, select).on_conflict_do_nothing()
        written += len(s.execute(stmt.returning(JourneyEnrolment.id)).all())
    return written


def exit_rule(kind: JourneyKind) -> tuple[str, Any] | None:
    """(reason, SQL condition over JourneyEnrolment) that ends an enrolment of `kind`, or None."""
    e = JourneyEnrolment
    if kind == JourneyKind.MAINTENANCE:
        booked = sa.exists().where(
            Booking.customer_id == e.customer_id, Booking.status != BookingStatus.CANCELLED,
            Booking.service_type_id.in_(sa.select(ServiceType.id).where(ServiceType.kind == ServiceKind.MAINTENANCE)),
            sa.or_(Booking.created_at >= e.entered_at, Booking.start_at >= e.entered_at))
        visited = sa.exists().where(RepairOrder.customer_id == e.customer_id, RepairOrder.date >= e.anchor)
        return "booked", sa.or_(booked, visited)
    if kind == JourneyKind.INSURANCE:
        same = sa.exists().where(Vehicle.id == e.context["vehicle_id"].as_integer(),
                                 Vehicle.insurance_expiry == e.anchor)
        return "renewed", ~same
    if kind == JourneyKind.TEST_DRIVE:
        owner = sa.exists().where(Customer.id == e.customer_id, Customer.stage == Stage.OWNER)
        bought = sa.exists().where(Vehicle.customer_id == e.customer_id, Vehicle.purchase_date >= e.anchor)
        return "bought", sa.or_(owner, bought)
    if kind == JourneyKind.REENGAGEMENT:
        return "returned", sa.exists().where(Follower.id == e.follower_id, Follower.last_interaction_at > e.entered_at)
    return None


def exit_due(s: Session, j: Journey, now: datetime) -> int:
    """End the open enrolments of `j` whose exit condition is met; return how many."""
    rule = exit_rule(JourneyKind(j.kind))
    if rule is None:
        return 0
    reason, condition = rule
    result = s.execute(sa.update(JourneyEnrolment)
                       .where(JourneyEnrolment.journey_id == j.id, JourneyEnrolment.exited_at.is_(None), condition)
                       .values(exited_at=now, exit_reason=reason).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
