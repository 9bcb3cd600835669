"""The daily figures that look across records: following at the end of each day, the follow -> bind ->
book -> visit -> buy funnel per follow day, and the monthly service-return cohorts.

Funnel, per follow day (the local day of `subscribed_at`), of the followers who followed that day:
- bind: has a CustomerBinding (now);
- book: has a Booking by its follower id or by a bound customer (any status: the booking was made);
- visit: a completed booking (by follower or bound customer) starting after the follow, or a repair order
  of a bound customer dated on or after the follow day;
- buy: a vehicle of a bound customer with a purchase date on or after the follow day.
Cohorts, per month (day = the month's first day): cohort_size = customers with a repair order dated in the
month (each counted once, at their first visit of the month); cohort_back6 / cohort_back12 = of those, the
ones with another repair order dated in (that visit, visit + 6 months] / (visit, visit + 12 months].
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from scrm.models import Booking, BookingStatus, CustomerBinding, Follower, RepairOrder, Vehicle
from scrm.services.analytics_agg_sql import Ctx, add_months

FUNNEL = ["funnel_follow", "funnel_bind", "funnel_book", "funnel_visit", "funnel_buy"]
COHORT = ["cohort_size", "cohort_back6", "cohort_back12"]


def following(c: Ctx, start: date, end: date) -> int:
    """Write `following` for every day in [start, end] per dealer; the rows written."""
    f = Follower
    began = sa.func.coalesce(f.first_subscribed_at, f.subscribed_at)
    counted = [f.account_id == c.account_id, began.is_not(None),
               sa.or_(f.subscribed.is_(True), f.unsubscribed_at.is_not(None))]
    lo, hi = c.bounds(start, end)
    base: dict[int | None, int] = defaultdict(int)
    for dealer, n in c.s.execute(sa.select(f.dealer_id, sa.func.count()).where(*counted, began < lo)
                                 .group_by(f.dealer_id)).all():
        base[dealer] += int(n)
    for dealer, n in c.s.execute(sa.select(f.dealer_id, sa.func.count()).where(
            *counted, f.subscribed.is_(False), f.unsubscribed_at < lo).group_by(f.dealer_id)).all():
        base[dealer] -= int(n)
    delta: dict[tuple[int | None, date], int] = defaultdict(int)
    add_day = c.local_day(began)
    for dealer, day, n in c.s.execute(sa.select(f.dealer_id, add_day, sa.func.count()).where(
            *counted, began >= lo, began < hi).group_by(sa.text("1, 2"))).all():
        delta[(dealer, _as_date(day))] += int(n)
    gone_day = c.local_day(f.unsubscribed_at)
    for dealer, day, n in c.s.execute(sa.select(f.dealer_id, gone_day, sa.func.count()).where(
            *counted, f.subscribed.is_(False), f.unsubscribed_at >= lo, f.unsubscribed_at < hi)
            .group_by(sa.text("1, 2"))).all():
        delta[(dealer, _as_date(day))] -= int(n)
    dealers = set(base) | {d for d, _ in delta}
    rows: list[dict[str, Any]] = []
    for dealer in dealers:
        running = base.get(dealer, 0)
        for i in range((end - start).days + 1):
            day = start + timedelta(days=i)
            running += delta.get((dealer, day), 0)
            rows.append({"dealer_id": dealer, "day": day, "metric": "following", "dim": "", "value": running})
    return c.write(rows)


def funnel(c: Ctx, start: date, end: date) -> int:
    """Rewrite the funnel rows of follow days [start, end]; the rows written."""
    c.delete(FUNNEL, start, end)
    lo, hi = c.bounds(start, end)
    f = Follower
    fday = c.local_day(f.subscribed_at)
    cb, b = CustomerBinding, Booking

    def via_customer(model: Any, *conds: Any) -> sa.Exists:
        """EXISTS a row of `model` of a customer the follower is bound to (a join: each side uses its index)."""
        return (sa.select(sa.literal(1)).select_from(cb).join(model, model.customer_id == cb.customer_id)
                .where(cb.follower_id == f.id, *conds).correlate(f).exists())

    # bind and book do not depend on the follow day: one hashed set each, not a lookup per follower
    bind = f.id.in_(sa.select(cb.follower_id).where(cb.account_id == c.account_id))
    book = f.id.in_(sa.union(
        sa.select(b.follower_id).where(b.account_id == c.account_id, b.follower_id.is_not(None)),
        sa.select(cb.follower_id).join(b, b.customer_id == cb.customer_id).where(cb.account_id == c.account_id)))
    done = [b.status == BookingStatus.COMPLETED, b.start_at >= f.subscribed_at]
    visit = sa.or_(sa.exists().where(b.follower_id == f.id, *done).correlate(f), via_customer(b, *done),
                   via_customer(RepairOrder, RepairOrder.date >= fday))
    buy = via_customer(Vehicle, Vehicle.purchase_date >= fday)
    flags = [sa.func.sum(sa.case((cond, 1), else_=0)) for cond in (bind, book, visit, buy)]
    stmt = (sa.select(f.dealer_id, fday, sa.func.count(), *flags)
            .where(f.account_id == c.account_id, f.subscribed_at >= lo, f.subscribed_at < hi)
            .group_by(sa.text("1, 2")))
    rows: list[dict[str, Any]] = []
    for dealer, day, *values in c.s.execute(stmt).all():
        for metric, value in zip(FUNNEL, values, strict=True):
            if value:
                rows.append({"dealer_id": dealer, "day": _as_date(day), "metric": metric, "dim": "",
                             "value": int(value)})
    return c.write(rows)


def cohorts(c: Ctx, end: date, months: int) -> int:
    """Rewrite the cohort rows of the `months` months ending with end's month; the rows written."""
    first = add_months(end.replace(day=1), 1 - months)
    c.delete(COHORT, first, end)
    ro = RepairOrder
    days = (sa.select(ro.dealer_id, ro.customer_id, ro.date).distinct()
            .where(ro.account_id == c.account_id, ro.date >= first).subquery())
    # one pass, sorted per customer: each visit day with the next visit day and its rank within its month
    month = c.month_of(days.c.date)
    ranked = sa.select(
        days.c.dealer_id, days.c.date, month.label("month"),
        sa.func.lead(days.c.date).over(partition_by=[days.c.dealer_id, days.c.customer_id],
                                       order_by=days.c.date).label("next"),
        sa.func.row_number().over(partition_by=[days.c.dealer_id, days.c.customer_id, month],
                                  order_by=days.c.date).label("rn")).subquery()

    def back(n: int) -> sa.ColumnElement[Any]:
        came = sa.and_(ranked.c.next.is_not(None), ranked.c.next <= c.plus_months(ranked.c.date, n))
        return sa.func.sum(sa.case((came, 1), else_=0))

    stmt = (sa.select(ranked.c.dealer_id, ranked.c.month, sa.func.count(), back(6), back(12))
            .where(ranked.c.rn == 1, ranked.c.date <= end)
            .group_by(ranked.c.dealer_id, ranked.c.month))
    rows: list[dict[str, Any]] = []
    for dealer, m, *values in c.s.execute(stmt).all():
        for metric, value in zip(COHORT, values, strict=True):
            rows.append({"dealer_id": dealer, "day": _as_date(m), "metric": metric, "dim": "",
                         "value": int(value or 0)})
    return c.write(rows)


def _as_date(value: Any) -> date:
    """A day from the database (a date on PostgreSQL, text on SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))
