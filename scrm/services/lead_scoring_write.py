"""Writing the night's lead scores: one set-based upsert that keeps `invited_at`, then the rows of followers
who are no longer prospects go.

On PostgreSQL the rows are COPYed into a temporary table and reach `lead_scores` in one INSERT ... SELECT
... ON CONFLICT that leaves an unchanged row alone (no dead tuple; its `scored_at` keeps the night the
score last changed); the same table tells which old rows to delete. Elsewhere: batched upserts that
leave unchanged rows alone the same way.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrm.models import LeadScore
from scrm.services.analytics_common import analyze

SCORED = ("account_id", "dealer_id", "customer_id", "score", "engagement", "intent", "parts", "models",
          "distance_km")
BATCH = 5000
_TABLE: sa.Table = LeadScore.__table__  # type: ignore[assignment]
_NEW = sa.Table("lead_scores_new", sa.MetaData(),
                *(sa.Column(c.name, c.type) for c in _TABLE.c if c.name not in ("id", "invited_at")),
                prefixes=["TEMPORARY"], postgresql_on_commit="DROP")
_JSON = frozenset({"parts", "models"})


def write_scores(s: Session, account_id: int, rows: list[dict[str, Any]], prospect_ids: sa.Select[Any]) -> None:
    """Upsert `rows` (every prospect of the account) and delete the account's other lead scores."""
    if s.get_bind().dialect.name == "postgresql":
        _write_postgres(s, account_id, rows)
        return
    stmt = sqlite.insert(_TABLE)
    stmt = stmt.on_conflict_do_update(index_elements=["follower_id"],
                                      set_={c: stmt.excluded[c] for c in (*SCORED, "scored_at")},
                                      where=_changed(stmt.excluded))
    for i in range(0, len(rows), BATCH):
        s.connection().execute(stmt, rows[i:i + BATCH])
    s.execute(sa.delete(LeadScore).where(LeadScore.account_id == account_id,
                                         LeadScore.follower_id.not_in(prospect_ids)))


def _write_postgres(s: Session, account_id: int, rows: list[dict[str, Any]]) -> None:
    conn = s.connection()
    _NEW.create(conn)
    names = [c.name for c in _NEW.c]
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
            f"COPY {_NEW.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[n], ensure_ascii=False) if n in _JSON else row[n] for n in names])
    s.execute(sa.text(f"ANALYZE {_NEW.name}"))
    stmt = postgresql.insert(_TABLE).from_select(names, sa.select(*_NEW.c))
    ex = stmt.excluded
    s.execute(stmt.on_conflict_do_update(index_elements=["follower_id"],
                                         set_={n: ex[n] for n in (*SCORED, "scored_at")}, where=_changed(ex)))
    s.execute(sa.delete(LeadScore).where(
        LeadScore.account_id == account_id,
        ~sa.exists().where(_NEW.c.follower_id == LeadScore.follower_id)))
    analyze(s, LeadScore.__tablename__)


def _changed(new: Any) -> sa.ColumnElement[bool]:
    """The stored row differs from the new one in something scored (NULLs compared as values)."""
    return sa.or_(*(_comparable(_TABLE.c, n).is_distinct_from(_comparable(new, n)) for n in SCORED))


def _comparable(cols: Any, name: str) -> Any:
    """A column as it can be compared: json has no equality operator, its text does."""
    return sa.cast(cols[name], sa.Text) if name in _JSON else cols[name]
