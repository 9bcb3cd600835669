"""Customer scores: each live customer's value segment (RFM within the dealer) and churn risk with its reasons,
rewritten set-based in one upsert (the SQL is in analytics_scores_sql).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.models import Customer, CustomerScore
from scrm.services import analytics_scores_sql as q
from scrm.services.analytics_common import analyze, tune

_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in q.COLUMNS if c not in ("customer_id",))


def local_tz() -> ZoneInfo:
    """The app's time zone (UTC when no runtime is set up, e.g. in a bare script)."""
    try:
        return runtime.get().settings.app.tz
    except RuntimeError:
        return ZoneInfo("UTC")


def is_postgres(s: Session) -> bool:
    """Whether the session talks to PostgreSQL."""
    return s.get_bind().dialect.name == "postgresql"


# The day-per-customer aggregate of 3,000,000 repair orders needs about 360 MB of hash table: at 128 MB
# (hash memory 256 MB) it spilled to disk in 21 batches and the statement took 90-100 s instead of 77 s.
SCORES_WORK_MEM = "256MB"


def score_all(s: Session, account_id: int, today: date, now: datetime | None = None) -> int:
    """Rewrite every customer's value segment and churn risk; the rows written."""
    postgres = is_postgres(s)
    tune(s, SCORES_WORK_MEM)
    cols = ", ".join(q.COLUMNS)
    sql = (f"INSERT INTO customer_scores ({cols})\n{q.select_sql(postgres)}\n"
           f"ON CONFLICT (customer_id) DO UPDATE SET {_UPDATE}")
    result = s.execute(q.statement(sql), q.params(account_id, today, local_tz(), now or db.utcnow()))
    gone = sa.select(Customer.id).where(
        Customer.account_id == account_id, sa.or_(Customer.merged_into_id.isnot(None), Customer.erased_at.isnot(None)))
    s.execute(sa.delete(CustomerScore).where(CustomerScore.account_id == account_id,
                                             CustomerScore.customer_id.in_(gone)))
    analyze(s, CustomerScore.__tablename__)
    return int(getattr(result, "rowcount", 0) or 0)
