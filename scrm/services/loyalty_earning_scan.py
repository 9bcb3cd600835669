"""Periodic earning: new repair orders (after a Redis watermark), birthdays, profiles completed later.

Imports and the API write repair orders in bulk without an event, so a job scans the rows after a
watermark kept in Redis: the highest id seen two scans ago, so rows of a batch that was still
committing during one scan are seen by the next (a lost watermark rescans the last 7 days). The
ledger keys `repair:<order>:<member>`, `birthday:<year>:<member>` and `profile:<member>` keep every
payment exactly-once however often a scan repeats.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Customer, CustomerBinding, EarningRule, Follower, Member, PointsEntry, RepairOrder, Trigger
from scrm.services import ledger
from scrm.services.loyalty_earning import bound_followers_in, pay_in, pay_profile_in

logger = logging.getLogger(__name__)
WATERMARK_KEY = "loyalty:earning:repair_watermark"
RESCAN = timedelta(days=7)        # how far back a scan goes when the watermark is lost
RECENT_DAYS = 30                  # older orders (history imports) pay nothing
BATCH = 500


def _accounts_with(trigger: Trigger) -> list[int]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(EarningRule.account_id).distinct().where(
            EarningRule.trigger == trigger, EarningRule.active.is_(True))))


def _start(now: datetime) -> tuple[int, int | None]:
    """Where a scan starts: the highest id seen two scans ago (rows of batches still committing during the
    last scan have lower ids than its newest); with no watermark, the first order of the last 7 days."""
    raw = str(runtime.get().redis.get(WATERMARK_KEY) or "")
    prev, _, last = raw.partition(",")
    if prev.isdigit() and last.isdigit():
        return int(prev), int(last)
    if raw:
        logger.warning("loyalty: bad repair watermark %r, rescanning %s", raw, RESCAN)
    with db.transaction() as s:
        first = s.scalar(sa.select(sa.func.min(RepairOrder.id)).where(RepairOrder.created_at >= now - RESCAN))
        top = s.scalar(sa.select(sa.func.max(RepairOrder.id)))
    return (int(first) - 1 if first is not None else int(top or 0)), None


def pay_repair_orders(now: datetime | None = None) -> int:
    """Pay REPAIR_ORDER for repair orders written since the watermark; return the points paid."""
    now = now or db.utcnow()
    start, last = _start(now)
    accounts = set(_accounts_with(Trigger.REPAIR_ORDER))
    oldest = now.astimezone(ledger.local_tz()).date() - timedelta(days=RECENT_DAYS)
    paid, after = 0, start
    while True:
        with db.transaction() as s:
            rows = list(s.scalars(sa.select(RepairOrder).where(RepairOrder.id > after)
                                  .order_by(RepairOrder.id).limit(BATCH)))
            for ro in rows:
                if ro.account_id not in accounts or ro.date < oldest or not ro.amount or ro.amount <= 0:
                    continue  # no rule, or a history import, or nothing to pay for
                paid += pay_in(s, bound_followers_in(s, ro.customer_id, ro.dealer_id), Trigger.REPAIR_ORDER,
                               account_id=ro.account_id, dealer_id=ro.dealer_id, key=f"repair:{ro.id}",
                               source="repair_order", source_id=str(ro.id), amount=float(ro.amount), now=now)
        if rows:
            after = rows[-1].id
        if len(rows) < BATCH:
            break
    runtime.get().redis.set(WATERMARK_KEY, f"{start if last is None else last},{after}")
    return paid


def birthday_matches(birthday: date, today: date) -> bool:
    """True on the birthday's month and day; 29 February is kept on 28 February in other years."""
    if (birthday.month, birthday.day) == (today.month, today.day):
        return True
    leap_day = (birthday.month, birthday.day) == (2, 29)
    return leap_day and not _is_leap(today.year) and (today.month, today.day) == (2, 28)


def pay_birthdays(now: datetime | None = None) -> int:
    """Pay BIRTHDAY to the members bound to customers whose birthday is today (local); key per year."""
    now = now or db.utcnow()
    today = now.astimezone(ledger.local_tz()).date()
    days = [(today.month, today.day)]
    if (today.month, today.day) == (2, 28) and not _is_leap(today.year):
        days.append((2, 29))
    accounts = _accounts_with(Trigger.BIRTHDAY)
    paid = 0
    if not accounts:
        return 0
    month, day = sa.extract("month", Customer.birthday), sa.extract("day", Customer.birthday)
    with db.transaction() as s:
        rows = list(s.execute(
            sa.select(CustomerBinding.follower_id, Customer.account_id, Customer.dealer_id, Customer.id)
            .join(Customer, Customer.id == CustomerBinding.customer_id)
            .join(Follower, Follower.id == CustomerBinding.follower_id)
            .where(Customer.account_id.in_(accounts), Customer.birthday.is_not(None),
                   Customer.erased_at.is_(None), Customer.merged_into_id.is_(None), Follower.subscribed.is_(True),
                   sa.or_(*[sa.and_(month == m, day == d) for m, d in days]))
            .order_by(CustomerBinding.id)))
    for follower_id, account_id, dealer_id, customer_id in rows:
        with db.transaction() as s:
            paid += pay_in(s, [follower_id], Trigger.BIRTHDAY, account_id=account_id, dealer_id=dealer_id,
                           key=f"birthday:{today.year}", source="member", source_id=str(customer_id), now=now)
    return paid


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def pay_completed_profiles(now: datetime | None = None) -> int:
    """Pay PROFILE_COMPLETED to bound members whose customer's profile became complete since binding."""
    now = now or db.utcnow()
    accounts = _accounts_with(Trigger.PROFILE_COMPLETED)
    if not accounts:
        return 0
    with db.transaction() as s:
        rows = list(s.execute(
            sa.select(CustomerBinding.follower_id, CustomerBinding.customer_id)
            .join(Customer, Customer.id == CustomerBinding.customer_id)
            .join(Follower, Follower.id == CustomerBinding.follower_id)
            .outerjoin(Member, Member.follower_id == CustomerBinding.follower_id)
            .where(~sa.exists().where(PointsEntry.member_id == Member.id,
                                      PointsEntry.reason == Trigger.PROFILE_COMPLETED.value),
                   Customer.account_id.in_(accounts), Customer.name.is_not(None), Customer.mobile.is_not(None),
                   Customer.birthday.is_not(None), Customer.city.is_not(None), Customer.erased_at.is_(None),
                   Customer.merged_into_id.is_(None), Follower.subscribed.is_(True))
            .order_by(CustomerBinding.id)))
    paid = 0
    for follower_id, customer_id in rows:
        with db.transaction() as s:
            customer = s.get(Customer, customer_id)
            if customer is not None:
                paid += pay_profile_in(s, follower_id, customer, now=now)
    return paid
