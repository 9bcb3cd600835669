"""The set-based SQL behind customer scores: one SELECT of every live customer's value segment and churn
risk for an account "as of" a day, built for PostgreSQL or SQLite.

Dates are turned into day numbers (days since 2000-01-01) so that the arithmetic reads the same on both
databases; only the conversion differs. The nightly scoring upserts the SELECT into `customer_scores`;
the backtest reads it as of a past day without writing anything.
"""

# ruff: noqa: S608  -- the SQL is assembled from constants only; every value is a bound parameter
from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from scrm.db import UTCDateTime
from scrm.models import ChurnReason, ValueSegment
from scrm.services.analytics_common import CHURN_HIGH, CHURN_MEDIUM

EPOCH = date(2000, 1, 1)
DEFAULT_INTERVAL = 180
MIN_INTERVAL, MAX_INTERVAL = 60, 400
NEVER_CAME_MONTHS = 9
WARRANTY_BEFORE, WARRANTY_AFTER = 180, 90
IGNORED_DAYS, IGNORED_MIN = 90, 3
POINTS = {"overdue_1": 25, "overdue_15": 40, "overdue_2": 55, "never_came": 30, "falling": 15,
          "warranty": 10, "low_rating": 15, "ignored": 10, "unfollowed": 20}

# The columns the SELECT yields, in order (the same names as customer_scores).
COLUMNS = ("account_id", "dealer_id", "customer_id", "last_visit_on", "visits_24m", "spend_24m", "r_score",
           "f_score", "m_score", "value_segment", "churn_score", "churn_band", "churn_reasons",
           "expected_interval_days", "overdue_days", "visits_last_12m", "visits_prev_12m", "warranty_expiry",
           "low_rating", "ignored_pushes", "unfollowed", "scored_at")


def months_ago(day: date, months: int) -> date:
    """The same day of the month `months` months earlier (clamped to the month's last day)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(y, m + 1, min(day.day, calendar.monthrange(y, m + 1)[1]))


def day_number(day: date) -> int:
    """Days since 2000-01-01."""
    return (day - EPOCH).days


def _dn(postgres: bool, col: str) -> str:
    """SQL for a date column as a day number."""
    return f"({col} - DATE '2000-01-01')" if postgres else f"CAST(julianday({col}) - 2451544.5 AS INTEGER)"


def _date_of(postgres: bool, expr: str) -> str:
    """SQL for a day number back as a date."""
    return f"(DATE '2000-01-01' + {expr})" if postgres else f"date('2000-01-01', ({expr}) || ' days')"


def _segment_case() -> str:
    names = {(1, 1, 1): ValueSegment.IMPORTANT_VALUE, (0, 1, 1): ValueSegment.IMPORTANT_KEEP,
             (1, 0, 1): ValueSegment.IMPORTANT_DEVELOP, (0, 0, 1): ValueSegment.IMPORTANT_RETAIN,
             (1, 1, 0): ValueSegment.GENERAL_VALUE, (0, 1, 0): ValueSegment.GENERAL_KEEP,
             (1, 0, 0): ValueSegment.GENERAL_DEVELOP, (0, 0, 0): ValueSegment.GENERAL_RETAIN}
    whens = " ".join(f"WHEN rh = {r} AND fh = {f} AND mh = {m} THEN '{seg.value}'"
                     for (r, f, m), seg in names.items())
    return f"CASE WHEN rh IS NULL THEN '{ValueSegment.NO_HISTORY.value}' {whens} END"


def select_sql(postgres: bool) -> str:
    """The scoring SELECT (parameters from `params`), one row per live customer of the account."""
    dn = _dn(postgres, "ro.date")
    p = POINTS
    true = "TRUE" if postgres else "1"
    return f"""
WITH live AS (
  SELECT c.id AS customer_id, c.dealer_id FROM customers c
  WHERE c.account_id = :acc AND c.merged_into_id IS NULL AND c.erased_at IS NULL
), daily AS (
  SELECT ro.customer_id, {dn} AS d, SUM(COALESCE(ro.amount, 0)) AS amt
  FROM repair_orders ro WHERE ro.account_id = :acc AND ro.date <= :today
  GROUP BY ro.customer_id, ro.date
), gaps AS (
  SELECT customer_id, d - LAG(d) OVER (PARTITION BY customer_id ORDER BY d) AS gap FROM daily
), ranked AS (
  SELECT customer_id, gap, ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY gap) AS rn,
         COUNT(*) OVER (PARTITION BY customer_id) AS cnt
  FROM gaps WHERE gap IS NOT NULL
), med AS (
  SELECT customer_id, AVG(gap) AS med FROM ranked
  WHERE rn = (cnt + 1) / 2 OR rn = (cnt + 2) / 2 GROUP BY customer_id
), hist AS (
  SELECT customer_id, MAX(d) AS last_d,
         SUM(CASE WHEN d > :d24 THEN 1 ELSE 0 END) AS v24,
         SUM(CASE WHEN d > :d24 THEN amt ELSE 0 END) AS m24,
         SUM(CASE WHEN d > :d12 THEN 1 ELSE 0 END) AS v12,
         SUM(CASE WHEN d > :d24 AND d <= :d12 THEN 1 ELSE 0 END) AS vprev
  FROM daily GROUP BY customer_id
), tiles AS (
  SELECT h.customer_id, l.dealer_id,
         NTILE(5) OVER (PARTITION BY l.dealer_id ORDER BY h.last_d, h.customer_id) AS r,
         NTILE(5) OVER (PARTITION BY l.dealer_id ORDER BY h.v24, h.customer_id) AS f,
         NTILE(5) OVER (PARTITION BY l.dealer_id ORDER BY h.m24, h.customer_id) AS m
  FROM hist h JOIN live l ON l.customer_id = h.customer_id
), rfm AS (
  SELECT customer_id, r, f, m,
         CASE WHEN r >= AVG(r * 1.0) OVER (PARTITION BY dealer_id) THEN 1 ELSE 0 END AS rh,
         CASE WHEN f >= AVG(f * 1.0) OVER (PARTITION BY dealer_id) THEN 1 ELSE 0 END AS fh,
         CASE WHEN m >= AVG(m * 1.0) OVER (PARTITION BY dealer_id) THEN 1 ELSE 0 END AS mh
  FROM tiles
), veh AS (
  SELECT v.customer_id, COUNT(*) AS n,
         SUM(CASE WHEN v.purchase_date < :d9 THEN 1 ELSE 0 END) AS old,
         MIN(CASE WHEN v.warranty_expiry >= :w_from AND v.warranty_expiry <= :w_to
             THEN ABS({_dn(postgres, "v.warranty_expiry")} - :tn) * 2
                  + CASE WHEN v.warranty_expiry < :today THEN 1 ELSE 0 END END) AS wkey
  FROM vehicles v WHERE v.account_id = :acc GROUP BY v.customer_id
), rating AS (
  SELECT b.customer_id, MIN(b.satisfaction) AS low FROM bookings b
  WHERE b.account_id = :acc AND b.customer_id IS NOT NULL AND b.satisfaction <= 2
    AND b.completed_at >= :ts12 AND b.completed_at < :ts_end
  GROUP BY b.customer_id
), fol AS (
  SELECT cb.customer_id, COUNT(*) AS n,
         SUM(CASE WHEN f.subscribed = {true} OR f.unsubscribed_at >= :ts_end THEN 0 ELSE 1 END) AS gone
  FROM customer_bindings cb JOIN followers f ON f.id = cb.follower_id
  WHERE cb.account_id = :acc GROUP BY cb.customer_id
), push AS (
  SELECT d.follower_id, COUNT(*) AS n, MIN(d.sent_at) AS first_at,
         SUM(CASE WHEN EXISTS (SELECT 1 FROM link_clicks lc WHERE lc.delivery_id = d.id) THEN 1 ELSE 0 END)
           AS clicked
  FROM deliveries d
  WHERE d.account_id = :acc AND d.follower_id IS NOT NULL
    AND (d.campaign_id IS NOT NULL OR d.journey_id IS NOT NULL) AND d.status IN ('sent', 'delivered')
    AND d.sent_at >= :ts90 AND d.sent_at < :ts_end
  GROUP BY d.follower_id
), ign AS (
  SELECT cb.customer_id, SUM(p.n - p.clicked) AS pushes
  FROM push p JOIN customer_bindings cb ON cb.follower_id = p.follower_id
  JOIN followers f ON f.id = p.follower_id
  WHERE cb.account_id = :acc AND (f.last_interaction_at IS NULL OR f.last_interaction_at <= p.first_at)
  GROUP BY cb.customer_id
), base AS (
  SELECT l.customer_id, l.dealer_id, h.last_d, COALESCE(h.v24, 0) AS v24, COALESCE(h.m24, 0) AS m24,
         COALESCE(h.v12, 0) AS v12, COALESCE(h.vprev, 0) AS vprev,
         COALESCE(q.r, 0) AS r, COALESCE(q.f, 0) AS f, COALESCE(q.m, 0) AS m, q.rh, q.fh, q.mh,
         CASE WHEN h.customer_id IS NULL THEN NULL WHEN md.med IS NULL THEN {DEFAULT_INTERVAL}
              WHEN CAST(ROUND(md.med) AS INTEGER) < {MIN_INTERVAL} THEN {MIN_INTERVAL}
              WHEN CAST(ROUND(md.med) AS INTEGER) > {MAX_INTERVAL} THEN {MAX_INTERVAL}
              ELSE CAST(ROUND(md.med) AS INTEGER) END AS expd,
         CASE WHEN h.customer_id IS NULL AND COALESCE(v.n, 0) = 0 THEN 1 ELSE 0 END AS is_lead,
         COALESCE(v.old, 0) AS old_car, v.wkey, rt.low, COALESCE(ig.pushes, 0) AS pushes,
         CASE WHEN fo.n > 0 AND fo.gone = fo.n THEN 1 ELSE 0 END AS unf
  FROM live l
  LEFT JOIN hist h ON h.customer_id = l.customer_id
  LEFT JOIN med md ON md.customer_id = l.customer_id
  LEFT JOIN rfm q ON q.customer_id = l.customer_id
  LEFT JOIN veh v ON v.customer_id = l.customer_id
  LEFT JOIN rating rt ON rt.customer_id = l.customer_id
  LEFT JOIN fol fo ON fo.customer_id = l.customer_id
  LEFT JOIN ign ig ON ig.customer_id = l.customer_id
), pts AS (
  SELECT base.*,
    CASE WHEN is_lead = 1 THEN 0
         WHEN last_d IS NULL THEN CASE WHEN old_car > 0 THEN {p["never_came"]} ELSE 0 END
         WHEN :tn - last_d > 2 * expd THEN {p["overdue_2"]}
         WHEN 2 * (:tn - last_d) > 3 * expd THEN {p["overdue_15"]}
         WHEN :tn - last_d > expd THEN {p["overdue_1"]} ELSE 0 END AS p_over,
    CASE WHEN is_lead = 0 AND v12 < vprev AND vprev >= 2 THEN {p["falling"]} ELSE 0 END AS p_fall,
    CASE WHEN is_lead = 0 AND wkey IS NOT NULL THEN {p["warranty"]} ELSE 0 END AS p_warr,
    CASE WHEN is_lead = 0 AND low IS NOT NULL THEN {p["low_rating"]} ELSE 0 END AS p_low,
    CASE WHEN is_lead = 0 AND pushes >= {IGNORED_MIN} THEN {p["ignored"]} ELSE 0 END AS p_ign,
    CASE WHEN is_lead = 0 AND unf = 1 THEN {p["unfollowed"]} ELSE 0 END AS p_unf
  FROM base
), total AS (
  SELECT pts.*, CASE WHEN p_over + p_fall + p_warr + p_low + p_ign + p_unf > 100 THEN 100
                     ELSE p_over + p_fall + p_warr + p_low + p_ign + p_unf END AS score
  FROM pts
)
SELECT :acc AS account_id, dealer_id, customer_id,
       CASE WHEN last_d IS NULL THEN NULL ELSE {_date_of(postgres, "last_d")} END AS last_visit_on,
       v24 AS visits_24m, m24 AS spend_24m, r AS r_score, f AS f_score, m AS m_score,
       {_segment_case()} AS value_segment,
       score AS churn_score,
       CASE WHEN score >= {CHURN_HIGH} THEN 'high' WHEN score >= {CHURN_MEDIUM} THEN 'medium' ELSE 'low' END
         AS churn_band,
       (CASE WHEN p_over > 0 THEN {int(ChurnReason.OVERDUE)} ELSE 0 END
        + CASE WHEN p_fall > 0 THEN {int(ChurnReason.FALLING)} ELSE 0 END
        + CASE WHEN p_warr > 0 THEN {int(ChurnReason.WARRANTY)} ELSE 0 END
        + CASE WHEN p_low > 0 THEN {int(ChurnReason.LOW_RATING)} ELSE 0 END
        + CASE WHEN p_ign > 0 THEN {int(ChurnReason.IGNORED)} ELSE 0 END
        + CASE WHEN p_unf > 0 THEN {int(ChurnReason.UNFOLLOWED)} ELSE 0 END) AS churn_reasons,
       expd AS expected_interval_days,
       CASE WHEN last_d IS NULL THEN NULL ELSE :tn - (last_d + expd) END AS overdue_days,
       v12 AS visits_last_12m, vprev AS visits_prev_12m,
       CASE WHEN wkey IS NULL OR is_lead = 1 THEN NULL
            ELSE {_date_of(postgres, "CASE WHEN wkey % 2 = 1 THEN :tn - wkey / 2 ELSE :tn + wkey / 2 END")}
       END AS warranty_expiry,
       CASE WHEN is_lead = 1 THEN NULL ELSE low END AS low_rating,
       CASE WHEN is_lead = 1 THEN 0 ELSE pushes END AS ignored_pushes,
       CASE WHEN is_lead = 0 AND unf = 1 THEN {true} ELSE {"FALSE" if postgres else "0"} END AS unfollowed,
       :now AS scored_at
FROM total WHERE 1 = 1
"""


def params(account_id: int, today: date, tz: ZoneInfo | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The parameters of `select_sql` for an account as of the end of `today` (local days in `tz`)."""
    zone = tz or ZoneInfo("UTC")

    def start(day: date) -> datetime:
        return datetime.combine(day, time(0), zone).astimezone(UTC)

    return {"acc": account_id, "today": today, "tn": day_number(today),
            "d24": day_number(months_ago(today, 24)), "d12": day_number(months_ago(today, 12)),
            "d9": months_ago(today, NEVER_CAME_MONTHS),
            "w_from": today - timedelta(days=WARRANTY_BEFORE), "w_to": today + timedelta(days=WARRANTY_AFTER),
            "ts12": start(months_ago(today, 12) + timedelta(days=1)),
            "ts90": start(today - timedelta(days=IGNORED_DAYS)),
            "ts_end": start(today + timedelta(days=1)), "now": now or datetime.now(UTC)}


def statement(sql: str) -> sa.TextClause:
    """The SQL text with its date and time parameters typed for the dialect."""
    dates = [sa.bindparam(k, type_=sa.Date()) for k in ("today", "d9", "w_from", "w_to")]
    stamps = [sa.bindparam(k, type_=UTCDateTime()) for k in ("ts12", "ts90", "ts_end", "now")]
    return sa.text(sql).bindparams(*dates, *stamps)
