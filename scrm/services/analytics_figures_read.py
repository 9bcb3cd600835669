"""Reading `stat_daily` for the dashboard figures: scoped sums by metric, day and dim, and week buckets."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import runtime
from scrm.db import utcnow
from scrm.models import StatDaily
from scrm.services.analytics_common import Period
from scrm.services.scope import Perm, Scope

WEEKLY_AFTER_DAYS = 62

Sums = dict[tuple[str, date, str], int]


def in_scope(scope: Scope, period: Period) -> list[sa.ColumnElement[bool]]:
    """The conditions that keep stat_daily rows the scope may see, narrowed to the period's dealer."""
    scope.require(Perm.ANALYTICS_VIEW)
    conds = [scope.condition(StatDaily)]
    if period.dealer_id is not None:
        conds.append(StatDaily.dealer_id == period.dealer_id)
    return conds


def sums(s: Session, scope: Scope, period: Period, metrics: list[str], first: date | None = None,
         last: date | None = None) -> Sums:
    """Sum of value per (metric, day, dim) over the dealers in scope for days [first, last]."""
    first = first or period.start
    last = last or period.end
    stmt = (sa.select(StatDaily.metric, StatDaily.day, StatDaily.dim, sa.func.sum(StatDaily.value))
            .where(*in_scope(scope, period), StatDaily.account_id == scope.account_id,
                   StatDaily.metric.in_(metrics), StatDaily.day >= first, StatDaily.day <= last)
            .group_by(StatDaily.metric, StatDaily.day, StatDaily.dim))
    return {(str(m), d, str(dim)): int(v or 0) for m, d, dim, v in s.execute(stmt).all()}


def by_dim(data: Sums, metric: str) -> dict[str, int]:
    """Totals of one metric per dim over all days."""
    out: dict[str, int] = defaultdict(int)
    for (m, _, dim), v in data.items():
        if m == metric:
            out[dim] += v
    return out


def by_day(data: Sums, metric: str) -> dict[date, int]:
    """Totals of one metric per day over all dims."""
    out: dict[date, int] = defaultdict(int)
    for (m, d, _), v in data.items():
        if m == metric:
            out[d] += v
    return out


def latest_day(s: Session, scope: Scope, period: Period, metric: str) -> date | None:
    """The latest day on or before the period's end with rows of `metric` in scope."""
    return s.scalar(sa.select(sa.func.max(StatDaily.day)).where(
        *in_scope(scope, period), StatDaily.metric == metric, StatDaily.day <= period.end))


def weekly(period: Period) -> bool:
    """True when the period is long enough to be shown per ISO week."""
    return (period.end - period.start).days + 1 > WEEKLY_AFTER_DAYS


def buckets(period: Period) -> list[date]:
    """The x values: every day, or the Monday of every ISO week when the period is longer than 62 days."""
    if not weekly(period):
        return period.days()
    return sorted({bucket_of(d, True) for d in period.days()})


def bucket_of(day: date, by_week: bool) -> date:
    """The x value a day falls in (itself, or its week's Monday)."""
    return day - timedelta(days=day.weekday()) if by_week else day


def local_today(now: datetime | None = None) -> date:
    """Today in the app's time zone."""
    return (now or utcnow()).astimezone(runtime.get().settings.app.tz).date()


def pct(part: int, whole: int) -> float:
    """part / whole in percent, one decimal (0.0 when whole is 0)."""
    return round(100.0 * part / whole, 1) if whole else 0.0


def row(*values: Any) -> list[Any]:
    """One figure row."""
    return list(values)
