"""The dashboard figures: each `fn(scope, period) -> Figure`, read from the pre-aggregated `stat_daily` rows
(a few thousand at most, so each answers fast whatever the number of customers behind it).

Scoping: dealer roles see their dealer's rows only (rows without a dealer are not theirs); a brand admin
sees all, and `period.dealer_id` narrows to one dealer (the caller checks it is in scope).
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from scrm import db
from scrm.models import SceneKind, ServiceKind, StaffUser
from scrm.services.analytics_agg_sql import add_months
from scrm.services.analytics_common import Figure, Period
from scrm.services.analytics_figures_more import campaign_lift, churn_distribution, value_segments
from scrm.services.analytics_figures_read import (
    bucket_of,
    buckets,
    by_day,
    by_dim,
    local_today,
    pct,
    sums,
    weekly,
)
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope

__all__ = ["bookings_by_type", "campaign_lift", "churn_distribution", "followers_by_scene", "followers_by_staff",
           "followers_over_time", "funnel", "points", "service_cohorts", "value_segments"]

FUNNEL_STEPS = [("funnel_follow", N_("Follow")), ("funnel_bind", N_("Bound")), ("funnel_book", N_("Booked")),
                ("funnel_visit", N_("Visited")), ("funnel_buy", N_("Bought"))]
COHORT_MONTHS = 18
TOP_STAFF = 20


def followers_over_time(scope: Scope, period: Period) -> Figure:
    """Per day: new follows, unfollows, net, and following at the end of the day."""
    data = sums(db.session(), scope, period, ["follows", "unfollows", "following"])
    follows, unfollows, following = by_day(data, "follows"), by_day(data, "unfollows"), by_day(data, "following")
    rows = [[d, follows.get(d, 0), unfollows.get(d, 0), follows.get(d, 0) - unfollows.get(d, 0),
             following.get(d, 0)] for d in period.days()]
    return Figure("followers_over_time", N_("Followers over time"), "line",
                  [N_("Day"), N_("New follows"), N_("Unfollows"), N_("Net"), N_("Following")], rows,
                  note=N_("Following is estimated from each follower's first follow and latest unfollow."))


def followers_by_scene(scope: Scope, period: Period) -> Figure:
    """New follows in the period by source scene kind."""
    totals = by_dim(sums(db.session(), scope, period, ["follows"]), "follows")
    order = {k.value: i for i, k in enumerate(SceneKind)}
    pairs = sorted(((k.value, totals.get(k.value, 0)) for k in SceneKind), key=lambda kv: (-kv[1], order[kv[0]]))
    rows = [[k, n] for k, n in pairs]
    return Figure("followers_by_scene", N_("New follows by source"), "bar", [N_("Source"), N_("New follows")], rows)


def followers_by_staff(scope: Scope, period: Period) -> Figure:
    """New follows in the period per staff QR code (staff display names)."""
    s = db.session()
    totals = by_dim(sums(s, scope, period, ["follows_staff"]), "follows_staff")
    top = sorted(((int(k), v) for k, v in totals.items() if k.isdigit() and v), key=lambda kv: (-kv[1], kv[0]))
    top = top[:TOP_STAFF]
    names = {sid: (dn or un) for sid, dn, un in s.execute(
        sa.select(StaffUser.id, StaffUser.display_name, StaffUser.username)
        .where(StaffUser.account_id == scope.account_id, StaffUser.id.in_([k for k, _ in top]))).all()}
    rows = [[names.get(sid, f"#{sid}"), n] for sid, n in top]
    return Figure("followers_by_staff", N_("New follows by staff QR code"), "bar",
                  [N_("Staff member"), N_("New follows")], rows)


def funnel(scope: Scope, period: Period) -> Figure:
    """Followers who followed in the period, and how many of them went on to bind, book, visit and buy."""
    data = sums(db.session(), scope, period, [m for m, _ in FUNNEL_STEPS])
    counts = [sum(by_day(data, m).values()) for m, _ in FUNNEL_STEPS]
    rows = [[label, n, pct(n, counts[0])] for (_, label), n in zip(FUNNEL_STEPS, counts, strict=True)]
    return Figure("funnel", N_("From follow to purchase"), "funnel",
                  [N_("Step"), N_("Followers"), N_("Share of follows (%)")], rows,
                  note=N_("Of the followers who followed in the period: what they have done since."))


def bookings_by_type(scope: Scope, period: Period) -> Figure:
    """Bookings made per day by service kind."""
    data = sums(db.session(), scope, period, ["bookings"])
    kinds = [k.value for k in ServiceKind]
    table: dict[tuple[object, str], int] = defaultdict(int)
    by_week = weekly(period)
    for (_, day, dim), v in data.items():
        table[(bucket_of(day, by_week), dim)] += v
    rows = [[x, *(table.get((x, k), 0) for k in kinds)] for x in buckets(period)]
    return Figure("bookings_by_type", N_("Bookings by type"), "stacked", [N_("Day"), *kinds], rows,
                  extra={"weekly": by_week})


def points(scope: Scope, period: Period) -> Figure:
    """Points earned and spent per day."""
    metrics = ["points_earned", "points_spent", "points_expired"]
    data = sums(db.session(), scope, period, metrics)
    table: dict[tuple[object, str], int] = defaultdict(int)
    by_week = weekly(period)
    for (m, day, _), v in data.items():
        table[(bucket_of(day, by_week), m)] += v
    rows = [[x, *(table.get((x, m), 0) for m in metrics)] for x in buckets(period)]
    return Figure("points", N_("Points earned and spent"), "line",
                  [N_("Day"), N_("Earned"), N_("Spent"), N_("Expired")], rows,
                  extra={"weekly": by_week})


def service_cohorts(scope: Scope, period: Period) -> Figure:
    """Customers by the month of a service visit, and the share back within 6 and within 12 months."""
    last = period.end.replace(day=1)
    first = add_months(last, 1 - COHORT_MONTHS)
    data = sums(db.session(), scope, period, ["cohort_size", "cohort_back6", "cohort_back12"], first, period.end)
    size, back6, back12 = by_day(data, "cohort_size"), by_day(data, "cohort_back6"), by_day(data, "cohort_back12")
    today = local_today()
    rows = []
    for i in range(COHORT_MONTHS):
        month = add_months(first, i)
        month_end = add_months(month, 1)   # the first day after the month: its last visit is the day before
        n = size.get(month, 0)
        r6 = pct(back6.get(month, 0), n) if add_months(month_end, 6) <= today and n else None
        r12 = pct(back12.get(month, 0), n) if add_months(month_end, 12) <= today and n else None
        rows.append([month, n, r6, r12])
    return Figure("service_cohorts", N_("Service return cohorts"), "table",
                  [N_("Month"), N_("Customers"), N_("Back within 6 months (%)"), N_("Back within 12 months (%)")],
                  rows, note=N_("A rate is blank until every visit of the month has had the full window."))
