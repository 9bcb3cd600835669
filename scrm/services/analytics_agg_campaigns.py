"""Campaign arms pre-aggregated for the dashboard's lift figure: members and conversions per arm, written as
`stat_daily` rows dated the campaign's launch day (dim "<campaign id>:<arm>").

A campaign is rewritten while its conversions can still move (until a few days after the conversion window
of its latest run closes) and once more if it has no rows yet; after that its rows stay as they are.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from scrm.models import HOLDOUT, Campaign, CampaignRun, StatDaily
from scrm.services.analytics_agg_sql import Ctx
from scrm.services.campaign_results import arm_counts

METRICS = ["campaign_members", "campaign_conversions"]
SETTLE_DAYS = 3     # late bookings and imported repair orders still reach the window after it closes


def campaigns(c: Ctx, end: date) -> int:
    """Rewrite the arms of every campaign with a holdout whose figures can still change; rows written."""
    s = c.s
    stored = {int(str(dim).split(":", 1)[0]) for dim in s.scalars(sa.select(StatDaily.dim).distinct().where(
        StatDaily.account_id == c.account_id, StatDaily.metric == METRICS[0]))}
    last_run = dict(s.execute(sa.select(CampaignRun.campaign_id, sa.func.max(CampaignRun.started_at))
                              .join(Campaign, Campaign.id == CampaignRun.campaign_id)
                              .where(Campaign.account_id == c.account_id)
                              .group_by(CampaignRun.campaign_id)).all())
    closes = datetime.combine(end, time(0), c.tz) - timedelta(days=SETTLE_DAYS)
    rows: list[dict[str, Any]] = []
    for camp in s.scalars(sa.select(Campaign).where(
            Campaign.account_id == c.account_id, Campaign.launched_at.is_not(None), Campaign.holdout_pct > 0)
            .order_by(Campaign.id)):
        started = last_run.get(camp.id) or camp.launched_at
        settled = started is not None and started + timedelta(days=camp.conversion_days) < closes
        if settled and camp.id in stored:
            continue
        s.execute(sa.delete(StatDaily).where(StatDaily.account_id == c.account_id, StatDaily.metric.in_(METRICS),
                                             StatDaily.dim.like(f"{camp.id}:%")))
        members, conversions = arm_counts(s, camp)
        assert camp.launched_at is not None
        day = camp.launched_at.astimezone(c.tz).date()
        for arm in [str(v["key"]) for v in camp.variants] + [HOLDOUT]:
            for metric, counts in zip(METRICS, (members, conversions), strict=True):
                rows.append({"dealer_id": camp.dealer_id, "day": day, "metric": metric, "dim": f"{camp.id}:{arm}",
                             "value": counts.get(arm, 0)})
    return c.write(rows)
