"""The follow-up rules: which purchases, churn risks, test drives and low ratings make a task today.

`run_rules` is idempotent: every subject has a fixed `dedupe_key`, and `tasks.create` inserts with ON
CONFLICT DO NOTHING, so a second run (or a second scheduler racing the first) makes nothing new. A low
satisfaction answer also makes its task at once through the BookingRated event, with the same key.
Dates are local (the configured time zone).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.models import (
    Booking,
    BookingStatus,
    ChurnBand,
    Customer,
    CustomerBinding,
    CustomerScore,
    ServiceKind,
    ServiceType,
    Task,
    TaskRule,
    TaskStatus,
    Vehicle,
)
from scrm.services import events_bus, tasks, tasks_bulk
from scrm.services.analytics_common import reasons_of, tune
from scrm.services.booking_events import BookingRated
from scrm.services.normalize_base import N_

AFTER_PURCHASE_DAYS = (14, 21)      # purchase between today-21 and today-14
CHURN_QUIET_DAYS = 90               # at most one churn task per customer in this many days
CHURN_DUE_DAYS = 2
# New churn tasks a dealer gets per day, highest risk first: advisors can call this many; the rest wait
# on the churn list (and get their task on a later day if they are still at high risk).
CHURN_TASKS_PER_DEALER_DAY = 20
TEST_DRIVE_DAYS = (3, 10)           # test drive between today-10 and today-3
LOW_RATING_MAX = 2
LOW_RATING_DAYS = 14

TITLES: dict[TaskRule, str] = {
    TaskRule.AFTER_PURCHASE: N_("Call two weeks after purchase"),
    TaskRule.CHURN_RISK: N_("Owner at high risk of leaving: call and invite for service"),
    TaskRule.TEST_DRIVE_NO_PURCHASE: N_("No purchase three days after the test drive"),
    TaskRule.LOW_RATING: N_("Low satisfaction answer: call the customer back"),
}


def local_today(now: datetime | None = None) -> date:
    """Today in the configured time zone."""
    return (now or db.utcnow()).astimezone(runtime.get().settings.app.tz).date()


def _start_of(day: date) -> datetime:
    """The first instant of a local day, as an aware datetime."""
    return datetime.combine(day, time(0), runtime.get().settings.app.tz)


def _live() -> sa.ColumnElement[bool]:
    return sa.and_(Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))


def after_purchase(s: Session, account_id: int, today: date) -> int:
    """A call two weeks after a purchase: one task per vehicle bought 14-21 days ago."""
    rows = s.execute(sa.select(Vehicle.id, Vehicle.customer_id, Customer.dealer_id, Vehicle.purchase_date)
                     .join(Customer, Customer.id == Vehicle.customer_id)
                     .where(Vehicle.account_id == account_id, _live(),
                            Vehicle.purchase_date.between(today - timedelta(days=AFTER_PURCHASE_DAYS[1]),
                                                          today - timedelta(days=AFTER_PURCHASE_DAYS[0])))
                     .order_by(Vehicle.id)).all()
    return tasks_bulk.create_many(s, [tasks.NewTask(
        account_id=account_id, dealer_id=dealer_id, rule=TaskRule.AFTER_PURCHASE,
        dedupe_key=f"after_purchase:vehicle:{vehicle_id}", title=TITLES[TaskRule.AFTER_PURCHASE],
        due_on=today, customer_id=customer_id,
        detail={"vehicle_id": vehicle_id, "purchase_date": bought.isoformat() if bought else ""})
        for vehicle_id, customer_id, dealer_id, bought in rows])


def churn_key(customer_id: int, today: date) -> str:
    """The churn task key: one per customer per 90-day block (the 90-day check keeps blocks apart)."""
    return f"churn_risk:{customer_id}:{today.toordinal() // CHURN_QUIET_DAYS}"


def churn_risk(s: Session, account_id: int, today: date) -> int:
    """High churn risk with no open task and no churn task in 90 days: a call due in two days, for at most
    CHURN_TASKS_PER_DEALER_DAY customers per dealer a day (rule-made; highest scores first)."""
    open_task = sa.select(Task.id).where(Task.customer_id == CustomerScore.customer_id,
                                         Task.status == TaskStatus.OPEN).exists()
    recent = sa.select(Task.id).where(Task.customer_id == CustomerScore.customer_id,
                                      Task.rule == TaskRule.CHURN_RISK,
                                      Task.created_at >= _start_of(today - timedelta(days=CHURN_QUIET_DAYS))).exists()
    made_today: dict[int, int] = {int(d): int(n) for d, n in s.execute(sa.select(Task.dealer_id, sa.func.count()).where(
        Task.account_id == account_id, Task.rule == TaskRule.CHURN_RISK, Task.created_by.is_(None),
        Task.created_at >= _start_of(today)).group_by(Task.dealer_id)).all()}
    rank = sa.func.row_number().over(partition_by=Customer.dealer_id,
                                     order_by=(CustomerScore.churn_score.desc(), CustomerScore.customer_id))
    ranked = (sa.select(CustomerScore.customer_id, Customer.dealer_id, rank.label("rn"))
              .join(Customer, Customer.id == CustomerScore.customer_id)
              .where(CustomerScore.account_id == account_id, CustomerScore.churn_band == ChurnBand.HIGH,
                     _live(), ~open_task, ~recent).subquery())
    picked = s.execute(sa.select(ranked.c.customer_id, ranked.c.dealer_id, ranked.c.rn)
                       .where(ranked.c.rn <= CHURN_TASKS_PER_DEALER_DAY)
                       .order_by(ranked.c.dealer_id, ranked.c.rn)).all()
    wanted = [(cid, did) for cid, did, rn in picked if rn <= CHURN_TASKS_PER_DEALER_DAY - made_today.get(did, 0)]
    scores = {sc.customer_id: sc for sc in s.scalars(sa.select(CustomerScore).where(
        CustomerScore.customer_id.in_([cid for cid, _ in wanted])))} if wanted else {}
    return tasks_bulk.create_many(s, [tasks.NewTask(
        account_id=account_id, dealer_id=dealer_id, rule=TaskRule.CHURN_RISK,
        dedupe_key=churn_key(customer_id, today), title=TITLES[TaskRule.CHURN_RISK],
        due_on=today + timedelta(days=CHURN_DUE_DAYS), customer_id=customer_id,
        detail={"score": scores[customer_id].churn_score, "overdue_days": scores[customer_id].overdue_days,
                "reasons": [str(r.name).lower() for r in reasons_of(scores[customer_id].churn_reasons)]})
        for customer_id, dealer_id in wanted])


def customer_of(s: Session, b: Booking) -> Customer | None:
    """The live customer record behind a booking: its own, else the one bound to its follower."""
    customer_id = b.customer_id
    if customer_id is None and b.follower_id is not None:
        customer_id = s.scalar(sa.select(CustomerBinding.customer_id).where(
            CustomerBinding.follower_id == b.follower_id).order_by(CustomerBinding.id).limit(1))
    if customer_id is None:
        return None
    c = s.get(Customer, customer_id)
    return c if c is not None and c.merged_into_id is None and c.erased_at is None else None


def no_purchase_after_test_drive(s: Session, account_id: int, today: date) -> int:
    """A completed test drive 3-10 days ago and no car bought since: one task per booking."""
    tz = runtime.get().settings.app.tz
    rows = s.execute(sa.select(Booking, ServiceType.name).join(ServiceType, ServiceType.id == Booking.service_type_id)
                     .where(Booking.account_id == account_id, ServiceType.kind == ServiceKind.TEST_DRIVE,
                            Booking.status == BookingStatus.COMPLETED,
                            Booking.start_at >= _start_of(today - timedelta(days=TEST_DRIVE_DAYS[1])),
                            Booking.start_at < _start_of(today - timedelta(days=TEST_DRIVE_DAYS[0] - 1)))
                     .order_by(Booking.id)).all()
    done = tasks_bulk.existing_keys(s, (_drive_key(b) for b, _ in rows))
    news: list[tasks.NewTask] = []
    for b, service in rows:
        if _drive_key(b) in done:
            continue
        driven = b.start_at.astimezone(tz).date()
        c = customer_of(s, b)
        if b.customer_id is not None and c is None:
            continue    # the record was merged away or erased
        if c is not None and s.scalar(sa.select(Vehicle.id).where(
                Vehicle.customer_id == c.id, Vehicle.purchase_date >= driven).limit(1)) is not None:
            continue
        news.append(tasks.NewTask(
            account_id=account_id, dealer_id=b.dealer_id, rule=TaskRule.TEST_DRIVE_NO_PURCHASE,
            dedupe_key=_drive_key(b), title=TITLES[TaskRule.TEST_DRIVE_NO_PURCHASE],
            due_on=today, customer_id=c.id if c else None, follower_id=b.follower_id,
            detail={"booking_id": b.id, "test_drive_on": driven.isoformat(), "service": service,
                    "contact": b.contact_name}))
    return tasks_bulk.create_many(s, news)


def _drive_key(b: Booking) -> str:
    return f"test_drive:booking:{b.id}"


def _rating_key(b: Booking) -> str:
    return f"low_rating:booking:{b.id}"


def _rating_task(s: Session, b: Booking, service: str, today: date) -> tasks.NewTask:
    c = customer_of(s, b)
    return tasks.NewTask(
        account_id=b.account_id, dealer_id=b.dealer_id, rule=TaskRule.LOW_RATING,
        dedupe_key=_rating_key(b), title=TITLES[TaskRule.LOW_RATING], due_on=today,
        customer_id=c.id if c else None, follower_id=b.follower_id,
        detail={"booking_id": b.id, "score": b.satisfaction, "service": service, "contact": b.contact_name})


def low_rating_task(s: Session, b: Booking, service: str, today: date) -> int:
    """The call-back task of one low-rated booking (0 when it already exists)."""
    return _make(s, _rating_task(s, b, service, today))


def low_rating(s: Session, account_id: int, today: date) -> int:
    """Bookings completed in the last 14 days and rated 1 or 2: a call back due today."""
    rows = s.execute(sa.select(Booking, ServiceType.name).join(ServiceType, ServiceType.id == Booking.service_type_id)
                     .where(Booking.account_id == account_id, Booking.status == BookingStatus.COMPLETED,
                            Booking.satisfaction <= LOW_RATING_MAX,
                            Booking.completed_at >= _start_of(today - timedelta(days=LOW_RATING_DAYS)))
                     .order_by(Booking.id)).all()
    done = tasks_bulk.existing_keys(s, (_rating_key(b) for b, _ in rows))
    return tasks_bulk.create_many(s, [_rating_task(s, b, service, today) for b, service in rows
                                      if _rating_key(b) not in done])


def on_rated(s: Session, event: BookingRated) -> None:
    """A low answer makes its task at once, in the rating's transaction."""
    if event.score > LOW_RATING_MAX:
        return
    b = s.get(Booking, event.booking_id)
    if b is None:
        return
    st = s.get(ServiceType, b.service_type_id)
    low_rating_task(s, b, st.name if st else "", local_today())


def _make(s: Session, new: tasks.NewTask) -> int:
    return 1 if tasks.create(s, new) is not None else 0


RULES: dict[str, Any] = {
    TaskRule.AFTER_PURCHASE.value: after_purchase,
    TaskRule.CHURN_RISK.value: churn_risk,
    TaskRule.TEST_DRIVE_NO_PURCHASE.value: no_purchase_after_test_drive,
    TaskRule.LOW_RATING.value: low_rating,
}


def run_rules(s: Session, account_id: int, today: date) -> dict[str, int]:
    """Make the tasks every rule calls for today; counts per rule."""
    tune(s)
    return {name: int(rule(s, account_id, today)) for name, rule in RULES.items()}


events_bus.subscribe(BookingRated, on_rated, name="tasks.low_rating")
