"""The claim reads the first due rows in claim order from ix_deliveries_due, whatever the planner's statistics
say: after a campaign wrote many deliveries, statistics that still counted them all as pending made every
claim a sequential scan and a sort of the whole table (migration 0003)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import Channel, Delivery, DeliveryStatus
from scrm.outbox.claim import claim

pytestmark = pytest.mark.integration
CLAIM = ("SELECT id FROM deliveries WHERE status = 'pending' AND next_try_at <= now() "
         "ORDER BY next_try_at, id LIMIT 200 FOR UPDATE SKIP LOCKED")


def test_the_claim_uses_the_index_even_when_statistics_count_every_row_pending(app_ctx: Any) -> None:
    if not db.is_postgres():
        pytest.skip("reads PostgreSQL's query plan; SQLite keeps no planner statistics that could go stale")
    now = utcnow()
    due = now - timedelta(minutes=5)
    with db.transaction() as s:
        s.execute(sa.insert(Delivery), [
            {"account_id": 1, "dedupe_key": f"plan:{n}", "channel": Channel.CUSTOM, "payload": {},
             "status": DeliveryStatus.PENDING, "next_try_at": due, "created_at": now, "updated_at": now}
            for n in range(5000)])
    with db.engine().connect() as conn:
        conn.execute(sa.text("ANALYZE deliveries"))   # statistics: every row pending
        conn.commit()
    with db.transaction() as s:   # then all but ten held, as a campaign's rows wait for their turn
        s.execute(sa.update(Delivery).where(Delivery.dedupe_key.not_in([f"plan:{n}" for n in range(4990, 5000)]))
                  .values(status=DeliveryStatus.HELD))
    with db.engine().connect() as conn:
        plan = "\n".join(r[0] for r in conn.execute(sa.text(f"EXPLAIN {CLAIM}")))
    assert "Index Scan using ix_deliveries_due" in plan and "Sort" not in plan and "Seq Scan" not in plan, plan
    rows = claim(200, "w-plan", now)
    assert [r.dedupe_key for r in rows] == [f"plan:{n}" for n in range(4990, 5000)]
