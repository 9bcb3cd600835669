"""The churn score's backtest: score customers as they stood on a past day, using only what was known then,
and check who really stopped coming in the following horizon. Nothing is written.
"""

# ruff: noqa: S608  -- the SQL is assembled from constants only; every value is a bound parameter
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import ChurnBand, RepairOrder
from scrm.services import analytics_scores_sql as q
from scrm.services.analytics_scores import is_postgres, local_tz
from scrm.services.errors import Invalid
from scrm.services.normalize_base import N_


@dataclass(frozen=True)
class AtK:
    """Precision of the k highest scores (or of a band, with k its size)."""

    label: str
    k: int
    churned: int
    precision: float
    lift: float


@dataclass
class Backtest:
    """What the backtest found."""

    as_of: date
    horizon_days: int
    evaluated: int
    churned: int
    base_rate: float
    rows: list[AtK] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready values."""
        return {"as_of": self.as_of.isoformat(), "horizon_days": self.horizon_days, "evaluated": self.evaluated,
                "churned": self.churned, "base_rate": round(self.base_rate, 4),
                "at": [{"label": r.label, "k": r.k, "churned": r.churned, "precision": round(r.precision, 4),
                        "lift": round(r.lift, 3)} for r in self.rows]}


def run(s: Session, account_id: int, as_of: date, horizon_days: int, ks: list[int], today: date) -> Backtest:
    """Score as of `as_of` and compare with who had no repair order in (as_of, as_of + horizon]."""
    if horizon_days < 1 or any(k < 1 for k in ks):
        raise Invalid(N_("The horizon and every k must be at least 1."))
    end = as_of + timedelta(days=horizon_days)
    if end > today:
        raise Invalid(N_("The outcome window ends on %(end)s, which is not yet in the past; choose an earlier "
                         "as-of date or a shorter horizon."), end=end.isoformat())
    sql = f"SELECT customer_id, churn_score, churn_band, last_visit_on FROM ({q.select_sql(is_postgres(s))}) sc"
    scored = [(int(cid), int(score), str(band)) for cid, score, band, last
              in s.execute(q.statement(sql), q.params(account_id, as_of, local_tz())) if last is not None]
    came = set(s.scalars(sa.select(RepairOrder.customer_id).distinct().where(
        RepairOrder.account_id == account_id, RepairOrder.date > as_of, RepairOrder.date <= end)))
    churned = {cid for cid, _, _ in scored if cid not in came}
    n = len(scored)
    base = len(churned) / n if n else 0.0
    ranked = sorted(scored, key=lambda r: (-r[1], r[0]))
    out = Backtest(as_of, horizon_days, n, len(churned), base)

    def at(label: str, rows: list[tuple[int, int, str]]) -> AtK:
        hit = sum(1 for r in rows if r[0] in churned)
        precision = hit / len(rows) if rows else 0.0
        return AtK(label, len(rows), hit, precision, precision / base if base else 0.0)

    for k in ks:
        out.rows.append(at(f"top {k}", ranked[:k]))
    out.rows.append(at("high band", [r for r in ranked if r[2] == ChurnBand.HIGH.value]))
    return out
