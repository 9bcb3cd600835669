"""Pre-aggregated daily figures (`stat_daily`) that the dashboards read, rewritten set-based per account.

`refresh(s, account_id, start, end)` deletes and rewrites the account's rows for the local days [start,
end] (the app's time zone; a day runs from local midnight to midnight). Every metric is one or a few
`INSERT ... SELECT ... GROUP BY dealer_id, day, dim` statements (or a grouped read of a few thousand rows
written back in one batch), so a 35-day refresh stays in seconds at a million customers.

Metrics (dealer_id is the row's dealer and may be NULL; dim is "" unless said):
- follows (dim = SceneKind value), follows_staff (dim = staff id): by the local day of
  `Follower.subscribed_at`. That is the latest follow: a follower who unfollowed and followed again counts
  on the day of the return, not the first follow (we keep no history of every follow).
- unfollows: by the day of `unsubscribed_at`, for followers who are unsubscribed now.
- following: followers following at the end of each day. We keep no full follow history, so it is an
  estimate: a follower counts from the day of `first_subscribed_at` (else `subscribed_at`) until the day of
  `unsubscribed_at` if unsubscribed now; a gap between an earlier unfollow and a later return is not seen.
- funnel_follow/bind/book/visit/buy (see analytics_agg_funnel): per follow day; these move later (a
  follower binds months after following), so each refresh recomputes follow days [start - 150 days, end].
- bookings (dim = ServiceKind value) and bookings_cancelled (same dim, status cancelled now) by the day
  the booking was made (`created_at`): cancelled bookings were still made.
- points_earned (EARN plus positive ADJUST), points_spent (-SPEND), points_expired (-EXPIRE) by day.
- cohort_size/back6/back12 per month (see analytics_agg_funnel): the last 25 months each refresh.
- campaign_members/campaign_conversions per campaign arm (see analytics_agg_campaigns), dated the launch day.
- Snapshots of customer_scores written on day = end: churn_bucket (dim "0".."9"), churn_band,
  value_segment, value_spend (whole yuan, dim = segment).
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import runtime
from scrm.models import (
    Booking,
    BookingStatus,
    CustomerScore,
    EntryKind,
    Follower,
    PointsEntry,
    ServiceType,
)
from scrm.services import analytics_agg_campaigns as campaign_arms
from scrm.services import analytics_agg_funnel as funnel
from scrm.services.analytics_agg_sql import BY_DAY, BY_DIM, Ctx, lit, make_ctx
from scrm.services.analytics_common import tune
from scrm.services.errors import Invalid
from scrm.services.normalize_base import N_

DAILY = ["follows", "follows_staff", "unfollows", "following", "bookings", "bookings_cancelled",
         "points_earned", "points_spent", "points_expired"]
SNAPSHOTS = ["churn_bucket", "churn_band", "value_segment", "value_spend"]
FUNNEL_BACK_DAYS = 150
COHORT_MONTHS = 25


def refresh(s: Session, account_id: int, start: date, end: date, *, light: bool = False) -> int:
    """Rewrite the pre-aggregated figures of [start, end]; the rows written. `light` (the job that follows
    the day every 10 minutes) leaves the funnel of earlier follow days and the monthly cohorts to the
    nightly run: they move slowly and cost the most."""
    if end < start:
        raise Invalid(N_("The end day is before the start day."))
    tune(s)
    c = make_ctx(s, account_id, runtime.get().settings.app.tz, end)
    c.delete(DAILY, start, end)
    c.delete(SNAPSHOTS, end, end)
    rows = _follows(c, start, end) + _bookings(c, start, end) + _points(c, start, end)
    rows += funnel.following(c, start, end)
    rows += funnel.funnel(c, start if light else start - timedelta(days=FUNNEL_BACK_DAYS), end)
    if not light:
        rows += funnel.cohorts(c, end, COHORT_MONTHS)
        rows += campaign_arms.campaigns(c, end)
    rows += _snapshots(c, end)
    return rows


def _follows(c: Ctx, start: date, end: date) -> int:
    lo, hi = c.bounds(start, end)
    f = Follower
    day = c.local_day(f.subscribed_at)
    in_range = [f.account_id == c.account_id, f.subscribed_at >= lo, f.subscribed_at < hi]
    dim_scene = sa.cast(f.scene_kind, sa.String)
    rows = c.insert(sa.select(lit(c.account_id), f.dealer_id, day, lit("follows"), dim_scene, sa.func.count())
                    .where(*in_range).group_by(BY_DIM))
    dim_staff = sa.cast(f.staff_id, sa.String)
    rows += c.insert(sa.select(lit(c.account_id), f.dealer_id, day, lit("follows_staff"), dim_staff,
                               sa.func.count())
                     .where(*in_range, f.staff_id.is_not(None)).group_by(BY_DIM))
    uday = c.local_day(f.unsubscribed_at)
    rows += c.insert(sa.select(lit(c.account_id), f.dealer_id, uday, lit("unfollows"), lit(""), sa.func.count())
                     .where(f.account_id == c.account_id, f.subscribed.is_(False),
                            f.unsubscribed_at >= lo, f.unsubscribed_at < hi)
                     .group_by(BY_DAY))
    return rows


def _bookings(c: Ctx, start: date, end: date) -> int:
    lo, hi = c.bounds(start, end)
    b = Booking
    day = c.local_day(b.created_at)
    kind = sa.cast(ServiceType.kind, sa.String)
    base = (sa.select(lit(c.account_id), b.dealer_id, day, lit("bookings"), kind, sa.func.count())
            .join(ServiceType, ServiceType.id == b.service_type_id)
            .where(b.account_id == c.account_id, b.created_at >= lo, b.created_at < hi)
            .group_by(BY_DIM))
    rows = c.insert(base)
    cancelled = (sa.select(lit(c.account_id), b.dealer_id, day, lit("bookings_cancelled"), kind, sa.func.count())
                 .join(ServiceType, ServiceType.id == b.service_type_id)
                 .where(b.account_id == c.account_id, b.created_at >= lo, b.created_at < hi,
                        b.status == BookingStatus.CANCELLED)
                 .group_by(BY_DIM))
    return rows + c.insert(cancelled)


def _points(c: Ctx, start: date, end: date) -> int:
    lo, hi = c.bounds(start, end)
    p = PointsEntry
    day = c.local_day(p.created_at)
    in_range = [p.account_id == c.account_id, p.created_at >= lo, p.created_at < hi]
    kinds = {
        "points_earned": (sa.or_(p.kind == EntryKind.EARN, sa.and_(p.kind == EntryKind.ADJUST, p.points > 0)), 1),
        "points_spent": (p.kind == EntryKind.SPEND, -1),
        "points_expired": (p.kind == EntryKind.EXPIRE, -1),
    }
    rows = 0
    for metric, (cond, sign) in kinds.items():
        rows += c.insert(sa.select(lit(c.account_id), p.dealer_id, day, lit(metric), lit(""),
                                   sa.cast(sa.func.sum(p.points * sign), sa.BigInteger))
                         .where(*in_range, cond).group_by(BY_DAY))
    return rows


def _snapshots(c: Ctx, end: date) -> int:
    cs = CustomerScore
    acct = cs.account_id == c.account_id
    day = lit(end, sa.Date)
    bucket = sa.cast(sa.case((cs.churn_score >= 90, 9), (cs.churn_score < 0, 0),
                             else_=cs.churn_score // 10), sa.String)
    band = sa.cast(cs.churn_band, sa.String)
    segment = sa.cast(cs.value_segment, sa.String)
    spend = sa.cast(sa.func.round(sa.func.sum(cs.spend_24m)), sa.BigInteger)
    parts = [("churn_bucket", bucket, sa.func.count()), ("churn_band", band, sa.func.count()),
             ("value_segment", segment, sa.func.count()), ("value_spend", segment, spend)]
    return sum(c.insert(sa.select(lit(c.account_id), cs.dealer_id, day, lit(metric), dim, value)
                        .where(acct).group_by(BY_DIM))
               for metric, dim, value in parts)
