"""bench/analytics.py end to end at a tiny size, and the demo's analytics data after a nightly run."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import (
    ChurnBand,
    CustomerScore,
    Dealer,
    LeadIntent,
    LeadScore,
    RepairOrder,
    Task,
    TaskRule,
)
from tests.conftest import PG_ADMIN_URL, _pg_available

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not _pg_available(), reason="the bench needs PostgreSQL (generate_series, setseed)")
def test_bench_runs_end_to_end_and_prints_the_named_figures() -> None:
    env = {**os.environ, "SCRM_BENCH_PG_ADMIN_URL": PG_ADMIN_URL}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "analytics.py"), "--size", "400", "--runs", "2"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["customers"] == 400 and out["generate_s"] > 0
    rows = out["rows"]
    assert rows["dealers"] == 10 and rows["customers"] == 400
    assert rows["followers"] == 240 and rows["customer_bindings"] == 200 and rows["members"] == 120
    assert 300 <= rows["vehicles"] <= 360 and rows["repair_orders"] > 2 * rows["vehicles"]
    assert rows["bookings"] > 40 and rows["points_entries"] > 3 * rows["members"]
    assert rows["deliveries"] > 0 and rows["message_logs"] > 0 and rows["campaign_members"] > rows["deliveries"]
    for key in ("scores_s", "aggregates_35d_s", "aggregates_full_s", "leads_s", "tasks_s", "nightly_s",
                "churn_list_p50_ms", "churn_list_p99_ms"):
        assert key in out
        assert out[key] is None or out[key] >= 0
        if out[key] is None:                       # a step not written yet says why
            assert any(k.startswith(key.rsplit("_", 1)[0].removesuffix("_p50").removesuffix("_p99"))
                       or k.startswith("churn_list") or k.startswith("nightly") for k in out["notes"]), out["notes"]
    from scrm.services import analytics_figures

    names = [n for n, f in inspect.getmembers(analytics_figures, inspect.isfunction)
             if not n.startswith("_") and list(inspect.signature(f).parameters) == ["scope", "period"]]
    assert {"funnel", "churn_distribution", "value_segments"} <= set(names)
    for name in names:
        assert f"{name}_p50_ms" in out and f"{name}_p99_ms" in out
        if out[f"{name}_p99_ms"] is None:
            assert name in out["notes"]
        else:
            assert 0 <= out[f"{name}_p50_ms"] <= out[f"{name}_p99_ms"]


def test_demo_analytics_after_the_nightly_run(app_ctx: Any) -> None:
    from scrm.services import analytics_nightly
    from scrm.services.demo_analytics import seed_analytics
    from scrm.services.demo_data import seed

    seed()
    acc = int(db.session.scalar(sa.select(Dealer.account_id).limit(1)) or 0)
    if not db.session.scalar(sa.select(sa.func.count()).select_from(LeadIntent)):   # not yet wired into seed()
        with db.transaction() as s:
            dealers = list(s.scalars(sa.select(Dealer).where(Dealer.account_id == acc).order_by(Dealer.id)))
            made = seed_analytics(s, acc, dealers, db.utcnow())
        assert made["intents"] == 15 and made["drifting"] == 9 and made["purchases"] == 3
        assert made["test_drives"] >= 3 and made["ratings"] > 0
    drifting = set(db.session.scalars(sa.select(RepairOrder.customer_id)
                                      .where(RepairOrder.external_id.like("DEMO-CHURN-%"))))
    db.session.remove()
    results = analytics_nightly.run(acc)
    assert [r.error for r in results] == ["", "", "", ""], results

    high = set(db.session.scalars(sa.select(CustomerScore.customer_id)
                                  .where(CustomerScore.churn_band == ChurnBand.HIGH)))
    assert len(drifting) == 9 and drifting <= high          # every planted drifting owner is high risk
    intents = db.session.scalars(sa.select(LeadIntent)).all()
    assert len(intents) == 15 and len({i.budget for i in intents}) == 5 and len({i.timeline for i in intents}) == 5
    scored = {ls.follower_id: ls for ls in db.session.scalars(sa.select(LeadScore))}
    assert all(i.follower_id in scored and scored[i.follower_id].intent > 0 for i in intents)
    rules = set(db.session.scalars(sa.select(Task.rule).distinct()))
    assert {TaskRule.CHURN_RISK, TaskRule.AFTER_PURCHASE, TaskRule.TEST_DRIVE_NO_PURCHASE,
            TaskRule.LOW_RATING} <= rules, rules
    churn_tasks = set(db.session.scalars(sa.select(Task.customer_id).where(Task.rule == TaskRule.CHURN_RISK)))
    assert drifting <= churn_tasks
