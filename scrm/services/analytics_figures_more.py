"""Dashboard figures beyond the daily series: campaign lift over the holdout with its interval, and the
latest nightly snapshots of churn risk and value segments (re-exported by analytics_figures)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import HOLDOUT, Campaign, ChurnBand, ValueSegment
from scrm.services.analytics_agg_sql import utc_midnight
from scrm.services.analytics_common import Figure, Period
from scrm.services.analytics_figures_read import by_dim, in_scope, latest_day, sums
from scrm.services.analytics_lift import diff_interval
from scrm.services.campaign_results import compute_results
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope

NO_LIFT = "—"
BUCKETS = [f"{i * 10}-{i * 10 + 9}" for i in range(9)] + ["90-100"]


def campaign_lift(scope: Scope, period: Period) -> Figure:
    """Campaigns launched in the period with a holdout: each arm's conversion rate, lift and 95% interval."""
    in_scope(scope, period)   # the permission check
    s = db.session()
    tz = runtime.get().settings.app.tz
    lo, hi = utc_midnight(period.start, tz), utc_midnight(period.end + timedelta(days=1), tz)
    stmt = (sa.select(Campaign).where(scope.condition(Campaign), Campaign.holdout_pct > 0,
                                      Campaign.launched_at >= lo, Campaign.launched_at < hi)
            .order_by(Campaign.launched_at, Campaign.id))
    if period.dealer_id is not None:
        stmt = stmt.where(Campaign.dealer_id == period.dealer_id)
    rows: list[list[object]] = []
    for c in s.scalars(stmt):
        arms = compute_results(s, c).arms
        base = next((a for a in arms if a.key == HOLDOUT), None)
        for a in arms:
            rate = round(a.rate * 100, 1)
            if a.key == HOLDOUT or base is None or not base.members or not a.members:
                rows.append([c.name, a.key, a.members, a.conversions, rate, NO_LIFT, None, None])
                continue
            low, high = diff_interval(a.conversions, a.members, base.conversions, base.members)
            lift = round((a.rate - base.conversions / base.members) * 100, 1)
            rows.append([c.name, a.key, a.members, a.conversions, rate, lift, round(low * 100, 1),
                         round(high * 100, 1)])
    return Figure("campaign_lift", N_("Campaign lift over the holdout"), "table",
                  [N_("Campaign"), N_("Variant"), N_("Recipients"), N_("Conversions"), N_("Rate (%)"),
                   N_("Lift (pp)"), N_("95% CI low (pp)"), N_("95% CI high (pp)")], rows,
                  note=N_("Lift is the variant's conversion rate minus the holdout's; the interval is "
                          "Newcombe's hybrid score interval."))


def churn_distribution(scope: Scope, period: Period) -> Figure:
    """Customers per churn score bucket (0-9 ... 90-100), from the latest nightly scoring."""
    s = db.session()
    as_of = latest_day(s, scope, period, "churn_bucket")
    counts: dict[str, int] = {}
    bands: dict[str, int] = {b.value: 0 for b in ChurnBand}
    if as_of is not None:
        data = sums(s, scope, period, ["churn_bucket", "churn_band"], as_of, as_of)
        counts = by_dim(data, "churn_bucket")
        for band, n in by_dim(data, "churn_band").items():
            bands[band] = bands.get(band, 0) + n
    rows: list[list[object]] = [[label, counts.get(str(i), 0)] for i, label in enumerate(BUCKETS)]
    return Figure("churn_distribution", N_("Churn risk distribution"), "hist",
                  [N_("Churn score"), N_("Customers")], rows, extra={"bands": bands, "as_of": as_of})


def value_segments(scope: Scope, period: Period) -> Figure:
    """Customers per value segment, with their spend, from the latest nightly scoring."""
    s = db.session()
    as_of = latest_day(s, scope, period, "value_segment")
    counts: dict[str, int] = {}
    spend: dict[str, int] = {}
    if as_of is not None:
        data = sums(s, scope, period, ["value_segment", "value_spend"], as_of, as_of)
        counts, spend = by_dim(data, "value_segment"), by_dim(data, "value_spend")
    rows: list[list[object]] = [[v.value, counts.get(v.value, 0), spend.get(v.value, 0)] for v in ValueSegment]
    return Figure("value_segments", N_("Value segments"), "bar",
                  [N_("Segment"), N_("Customers"), N_("Spend in 24 months (yuan)")], rows, extra={"as_of": as_of})
