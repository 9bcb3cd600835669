"""Dashboard figures beyond the daily series: campaign lift over the holdout with its interval, and the
latest nightly snapshots of churn risk and value segments (re-exported by analytics_figures)."""

from __future__ import annotations

import sqlalchemy as sa

from scrm import db
from scrm.models import HOLDOUT, Campaign, ChurnBand, ValueSegment
from scrm.services.analytics_agg_campaigns import METRICS
from scrm.services.analytics_common import Figure, Period
from scrm.services.analytics_figures_read import by_dim, latest_day, sums
from scrm.services.analytics_lift import diff_interval
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope

NO_LIFT = "—"
BUCKETS = [f"{i * 10}-{i * 10 + 9}" for i in range(9)] + ["90-100"]


def campaign_lift(scope: Scope, period: Period) -> Figure:
    """Campaigns launched in the period with a holdout: each arm's conversion rate, lift and 95% interval
    (pre-aggregated per arm by the nightly run; see analytics_agg_campaigns)."""
    s = db.session()
    data = sums(s, scope, period, METRICS)
    members, conversions = by_dim(data, METRICS[0]), by_dim(data, METRICS[1])
    arms: dict[int, dict[str, tuple[int, int]]] = {}
    for dim, n in members.items():
        cid, arm = dim.split(":", 1)
        arms.setdefault(int(cid), {})[arm] = (n, conversions.get(dim, 0))
    camps = list(s.scalars(sa.select(Campaign).where(Campaign.id.in_(list(arms)), scope.condition(Campaign))
                           .order_by(Campaign.launched_at, Campaign.id))) if arms else []
    rows: list[list[object]] = []
    for c in camps:
        base_n, base_x = arms[c.id].get(HOLDOUT, (0, 0))
        for key in [str(v["key"]) for v in c.variants] + [HOLDOUT]:
            n, x = arms[c.id].get(key, (0, 0))
            rate = round(x / n * 100, 1) if n else 0.0
            if key == HOLDOUT or not base_n or not n:
                rows.append([c.name, key, n, x, rate, NO_LIFT, None, None])
                continue
            low, high = diff_interval(x, n, base_x, base_n)
            rows.append([c.name, key, n, x, rate, round((x / n - base_x / base_n) * 100, 1), round(low * 100, 1),
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
