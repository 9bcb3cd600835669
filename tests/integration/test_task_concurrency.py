"""Two schedulers by mistake: `run_rules` in parallel processes against PostgreSQL makes each subject's task once."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import ChurnBand, Task
from tests.factories import make_dealer
from tests.integration.booking_support import make_shop
from tests.integration.customer_support import make_customer, make_vehicle
from tests.integration.test_task_rules import at_local, booking, local_today, score

pytestmark = pytest.mark.integration
PROCS, ROUNDS = 4, 2


def _child(settings_dict: dict[str, Any], account_id: int, barrier: Any, results: Any) -> None:
    from scrm import db as child_db
    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.services import task_rules

    runtime.init(settings_from_dict(settings_dict))
    try:
        for _ in range(ROUNDS):
            barrier.wait(timeout=60)
            with child_db.transaction() as s:
                results.put(("ok", task_rules.run_rules(s, account_id, task_rules.local_today())))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))


def test_parallel_rule_runs_make_each_task_once(live_server: Any, app_ctx: Any,
                                                settings_dict: dict[str, Any]) -> None:
    if db.engine().dialect.name != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL (SQLite serialises its writers)")
    shop = make_shop()
    make_dealer()
    today = local_today()
    for i in range(15):
        c = make_customer(shop.dealer)
        make_vehicle(c, purchase_date=today - timedelta(days=14 + i % 8))
        score(c, 70 + i, ChurnBand.HIGH)
        booking(shop.test_drive, at_local(today - timedelta(days=3 + i % 7)), customer_id=c.id)
        booking(shop.repair, at_local(today - timedelta(days=2)), customer_id=c.id, satisfaction=1 + i % 2)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCS), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(settings_dict, shop.dealer.account_id, barrier, results))
             for _ in range(PROCS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(PROCS * ROUNDS)]
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    made: dict[str, int] = {}
    for _, counts in outcomes:
        for rule, n in counts.items():
            made[rule] = made.get(rule, 0) + n
    # after_purchase: 15 vehicles (14-21 days); test drives: 15; low ratings: 15; churn: customers whose only open
    # task came from another rule in the same run are skipped, so at most 15
    assert (made["after_purchase"], made["test_drive"], made["low_rating"]) == (15, 15, 15)
    db.session.remove()
    keys = list(db.session.scalars(sa.select(Task.dedupe_key)))
    assert len(keys) == len(set(keys)) == sum(made.values())
    per_subject = db.session.execute(sa.select(Task.rule, Task.customer_id, sa.func.count())
                                     .group_by(Task.rule, Task.customer_id)).all()
    assert all(n == 1 for _, _, n in per_subject), per_subject
