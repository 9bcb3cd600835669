"""The follow-up rules on crafted data: made or not at the boundaries, never twice, and the rating event path."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import (
    Booking,
    BookingSource,
    BookingStatus,
    ChurnBand,
    ChurnReason,
    Customer,
    CustomerScore,
    Dealer,
    Role,
    ServiceType,
    Task,
    TaskRule,
    TaskStatus,
)
from scrm.services import booking_status, task_rules, tasks
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.booking_support import make_shop
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration
_seq = itertools.count(1)


def local_today() -> date:
    """Today in the app's time zone."""
    return utcnow().astimezone(runtime.get().settings.app.tz).date()


def at_local(day: date, hh: int = 10) -> datetime:
    """A local wall-clock time on `day`, as UTC."""
    return datetime(day.year, day.month, day.day, hh, 0, tzinfo=runtime.get().settings.app.tz).astimezone(UTC)


def run(today: date | None = None, account_id: int | None = None) -> dict[str, int]:
    """One run of the rules in its own transaction."""
    with db.transaction() as s:
        acc = account_id or s.scalar(sa.select(Dealer.account_id).limit(1))
        return task_rules.run_rules(s, int(acc or 0), today or local_today())


def tasks_of(rule: TaskRule) -> list[Task]:
    """Every task of a rule, oldest first."""
    db.session.remove()
    return list(db.session.scalars(sa.select(Task).where(Task.rule == rule).order_by(Task.id)))


def booking(st: ServiceType, start: datetime, *, customer_id: int | None = None, follower_id: int | None = None,
            status: BookingStatus = BookingStatus.COMPLETED, satisfaction: int | None = None,
            completed_at: datetime | None = None) -> Booking:
    """A booking row as the booking area leaves it."""
    with db.transaction() as s:
        b = Booking(account_id=st.account_id, dealer_id=st.dealer_id, customer_id=customer_id,
                    follower_id=follower_id, service_type_id=st.id, start_at=start, end_at=start + timedelta(hours=1),
                    source=BookingSource.STAFF, status=status, request_key=f"tr{next(_seq)}",
                    satisfaction=satisfaction, contact_name="李女士",
                    completed_at=completed_at or (start + timedelta(hours=1)
                                                  if status == BookingStatus.COMPLETED else None))
        s.add(b)
    return b


def score(c: Customer, points: int, band: ChurnBand = ChurnBand.HIGH,
          reasons: int = ChurnReason.OVERDUE | ChurnReason.LOW_RATING) -> None:
    """A churn score row for the customer."""
    with db.transaction() as s:
        s.add(CustomerScore(account_id=c.account_id, dealer_id=c.dealer_id, customer_id=c.id, churn_score=points,
                            churn_band=band, churn_reasons=int(reasons), overdue_days=120))


def old_task(c: Customer, rule: TaskRule, days_ago: int, status: TaskStatus = TaskStatus.DONE) -> None:
    """A task made `days_ago` days back."""
    with db.transaction() as s:
        tasks.create(s, tasks.NewTask(account_id=c.account_id, dealer_id=c.dealer_id, rule=rule,
                                      dedupe_key=f"old:{next(_seq)}", title="old", customer_id=c.id,
                                      due_on=local_today() - timedelta(days=days_ago)))
        t = s.scalar(sa.select(Task).order_by(Task.id.desc()).limit(1))
        assert t is not None
        t.status, t.created_at = status, utcnow() - timedelta(days=days_ago)


def test_after_purchase_between_14_and_21_days_once_per_vehicle(app_ctx: Any) -> None:
    d = make_dealer()
    advisor = make_staff(Role.DEALER_STAFF, dealer=d)
    today = local_today()
    c = make_customer(d)
    made = {n: make_vehicle(c, purchase_date=today - timedelta(days=n)).id for n in (13, 14, 21, 22)}
    gone = make_customer(d, erased_at=utcnow())
    make_vehicle(gone, purchase_date=today - timedelta(days=15))
    assert run()["after_purchase"] == 2
    rows = tasks_of(TaskRule.AFTER_PURCHASE)
    assert sorted(t.dedupe_key for t in rows) == sorted(f"after_purchase:vehicle:{made[n]}" for n in (14, 21))
    assert {(t.customer_id, t.dealer_id, t.due_on, t.assignee_id) for t in rows} == {(c.id, d.id, today, advisor.id)}
    assert run()["after_purchase"] == 0          # the next night: nothing new
    assert run(today + timedelta(days=3))["after_purchase"] == 1   # the 13-day one enters; the others not again
    assert len(tasks_of(TaskRule.AFTER_PURCHASE)) == 3


def test_churn_risk_skips_open_tasks_and_recent_churn_tasks(app_ctx: Any) -> None:
    d = make_dealer()
    today = local_today()
    fresh, busy, recent, long_ago, medium = (make_customer(d) for _ in range(5))
    score(fresh, 80)
    score(busy, 75)
    old_task(busy, TaskRule.MANUAL, 1, status=TaskStatus.OPEN)
    score(recent, 70)
    old_task(recent, TaskRule.CHURN_RISK, 89)
    score(long_ago, 65)
    old_task(long_ago, TaskRule.CHURN_RISK, 91)
    score(medium, 50, ChurnBand.MEDIUM)
    assert run()["churn_risk"] == 2
    made = [t for t in tasks_of(TaskRule.CHURN_RISK) if t.dedupe_key.startswith("churn_risk:")]
    assert [t.customer_id for t in made] == [fresh.id, long_ago.id]      # highest score first
    assert made[0].due_on == today + timedelta(days=2)
    assert made[0].detail == {"score": 80, "overdue_days": 120, "reasons": ["overdue", "low_rating"]}
    assert run()["churn_risk"] == 0              # open task now: none again
    with db.transaction() as s:                  # closed within 90 days: still none
        s.execute(sa.update(Task).where(Task.id == made[0].id).values(status=TaskStatus.DONE))
    assert run(today + timedelta(days=30))["churn_risk"] == 1   # only `recent`, whose old task is now 119 days back
    made = [t for t in tasks_of(TaskRule.CHURN_RISK) if t.dedupe_key.startswith("churn_risk:")]
    assert [t.customer_id for t in made] == [fresh.id, long_ago.id, recent.id]
    assert task_rules.churn_key(fresh.id, today) != task_rules.churn_key(fresh.id, today + timedelta(days=91))


def test_no_purchase_after_test_drive_three_to_ten_days(app_ctx: Any) -> None:
    shop = make_shop()
    today = local_today()
    td = shop.test_drive
    c = make_customer(shop.dealer)
    in_window = {n: booking(td, at_local(today - timedelta(days=n)), customer_id=c.id).id for n in (3, 10)}
    for n in (2, 11):
        booking(td, at_local(today - timedelta(days=n)), customer_id=c.id)
    booking(td, at_local(today - timedelta(days=5)), customer_id=c.id, status=BookingStatus.CANCELLED)
    booking(shop.maintenance, at_local(today - timedelta(days=5)), customer_id=c.id)
    buyer = make_customer(shop.dealer)
    booking(td, at_local(today - timedelta(days=6)), customer_id=buyer.id)
    make_vehicle(buyer, purchase_date=today - timedelta(days=6))           # bought the same day
    stranger = make_follower(dealer_id=shop.dealer.id)                     # no customer record at all
    no_record = booking(td, at_local(today - timedelta(days=4)), follower_id=stranger.id)
    bound_f = make_follower(dealer_id=shop.dealer.id)
    owner = make_customer(shop.dealer)
    bind(owner, bound_f)
    via_binding = booking(td, at_local(today - timedelta(days=4)), follower_id=bound_f.id)
    make_vehicle(owner, purchase_date=today - timedelta(days=30))          # an older car does not count

    assert run()["test_drive"] == 4
    rows = {t.dedupe_key: t for t in tasks_of(TaskRule.TEST_DRIVE_NO_PURCHASE)}
    expected = {f"test_drive:booking:{i}" for i in (*in_window.values(), no_record.id, via_binding.id)}
    assert set(rows) == expected
    assert rows[f"test_drive:booking:{no_record.id}"].customer_id is None
    assert rows[f"test_drive:booking:{no_record.id}"].follower_id == stranger.id
    assert rows[f"test_drive:booking:{via_binding.id}"].customer_id == owner.id
    assert rows[f"test_drive:booking:{in_window[3]}"].detail["test_drive_on"] == (today - timedelta(days=3)).isoformat()
    assert run()["test_drive"] == 0


def test_low_rating_from_the_event_and_the_nightly_run_is_one_task(app_ctx: Any) -> None:
    shop = make_shop()
    today = local_today()
    admin = make_staff(Role.BRAND_ADMIN)
    c = make_customer(shop.dealer)
    rated_now = booking(shop.maintenance, at_local(today - timedelta(days=1)), customer_id=c.id)
    booking_status.rate(rated_now.id, 2, staff=admin)
    rows = tasks_of(TaskRule.LOW_RATING)                                   # made at once, in the rating's transaction
    assert [(t.dedupe_key, t.customer_id, t.due_on, t.detail["score"]) for t in rows] == [
        (f"low_rating:booking:{rated_now.id}", c.id, today, 2)]
    booking_status.rate(rated_now.id, 1, staff=admin)                      # a second answer: still one task
    fine = booking(shop.maintenance, at_local(today - timedelta(days=1)), customer_id=c.id)
    booking_status.rate(fine.id, 3, staff=admin)
    recent = booking(shop.repair, at_local(today - timedelta(days=13)), customer_id=c.id, satisfaction=1)
    booking(shop.repair, at_local(today - timedelta(days=16)), customer_id=c.id, satisfaction=1,
            completed_at=at_local(today - timedelta(days=15)))
    assert run()["low_rating"] == 1                                        # only the unrated-by-event recent one
    keys = [t.dedupe_key for t in tasks_of(TaskRule.LOW_RATING)]
    assert keys == [f"low_rating:booking:{rated_now.id}", f"low_rating:booking:{recent.id}"]
    assert run()["low_rating"] == 0


def test_counts_per_rule_for_an_empty_account(app_ctx: Any) -> None:
    make_dealer()
    assert run() == {"after_purchase": 0, "churn_risk": 0, "test_drive": 0, "low_rating": 0}


def test_churn_tasks_are_capped_per_dealer_and_day_highest_risk_first(app_ctx: Any) -> None:
    dealer, other = make_dealer(), make_dealer(code="SH002", name="另一店")
    make_staff(dealer=dealer)
    cap = task_rules.CHURN_TASKS_PER_DEALER_DAY
    customers = [make_customer(dealer) for _ in range(cap + 5)]
    for i, c in enumerate(customers):
        score(c, 60 + i)                          # the last ones are the riskiest
    score(make_customer(other), 70)
    today = local_today()
    first = run(today)
    assert first["churn_risk"] == cap + 1         # the cap is per dealer: the other dealer's one too
    made = {t.customer_id for t in tasks_of(TaskRule.CHURN_RISK) if t.dealer_id == dealer.id}
    assert made == {c.id for c in customers[5:]}  # the 20 highest scores
    assert run(today)["churn_risk"] == 0          # the same day: the dealer's quota is used
    assert run(today + timedelta(days=1))["churn_risk"] == 5   # the rest the next day


def test_a_nights_batch_spreads_tasks_as_one_by_one_would_and_keeps_qr_owners(app_ctx: Any) -> None:
    d = make_dealer()
    manager = make_staff(Role.DEALER_MANAGER, dealer=d)
    a, b = make_staff(Role.DEALER_STAFF, dealer=d), make_staff(Role.DEALER_STAFF, dealer=d)
    gone = make_staff(Role.DEALER_STAFF, dealer=d)
    with db.transaction() as s:                          # an inactive advisor gets nothing, even by QR code
        s.get_one(type(gone), gone.id).active = False
    today = local_today()
    brought = make_customer(d)                           # came through b's QR code
    bind(brought, make_follower(dealer_id=d.id, staff_id=b.id))
    by_gone = make_customer(d)
    bind(by_gone, make_follower(dealer_id=d.id, staff_id=gone.id))
    make_vehicle(brought, purchase_date=today - timedelta(days=15))
    make_vehicle(by_gone, purchase_date=today - timedelta(days=15))
    others = [make_customer(d) for _ in range(5)]
    for c in others:
        make_vehicle(c, purchase_date=today - timedelta(days=16))
    assert run()["after_purchase"] == 7
    rows = {t.customer_id: t.assignee_id for t in tasks_of(TaskRule.AFTER_PURCHASE)}
    # in vehicle order: b by QR code; then the least loaded staff, ties by id, the manager last (as
    # tasks.pick_assignee decides one task at a time, each new task counting for its advisor)
    assert rows[brought.id] == b.id and rows[by_gone.id] == a.id
    assert [rows[c.id] for c in others] == [a.id, b.id, a.id, b.id, a.id]
    assert manager.id not in rows.values() and gone.id not in rows.values()
