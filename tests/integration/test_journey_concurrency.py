"""Two schedulers by mistake: ticks in parallel processes against PostgreSQL write each enrolment and each step
once, however they interleave."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Delivery, JourneyEnrolment, JourneyKind
from tests.factories import make_dealer
from tests.integration.customer_support import make_vehicle
from tests.integration.test_journeys import journey, local_today, owner

pytestmark = pytest.mark.integration
PROCS, ROUNDS = 4, 2


def _child(settings_dict: dict[str, Any], barrier: Any, results: Any) -> None:
    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.jobs import journey_jobs

    runtime.init(settings_from_dict(settings_dict))
    try:
        for _ in range(ROUNDS):
            barrier.wait(timeout=60)
            results.put(("ok", journey_jobs.tick()))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))


def test_parallel_ticks_write_nothing_twice(live_server: Any, app_ctx: Any, settings: Any,
                                            settings_dict: dict[str, Any]) -> None:
    if db.engine().dialect.name != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL (SQLite serialises its writers)")
    app_id = str(settings.accounts["demo"].app_id)
    d = make_dealer()
    welcome = journey(d, JourneyKind.WELCOME)
    journey(d, JourneyKind.INSURANCE)
    today = local_today()
    for i in range(20):
        c, _ = owner(app_id, d)
        make_vehicle(c, purchase_date=today - timedelta(days=i % 10), insurance_expiry=today + timedelta(days=30))
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCS), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(settings_dict, barrier, results)) for _ in range(PROCS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(PROCS * ROUNDS)]
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():    # done with its work (its results are in), but a pool thread keeps it from exiting
            p.terminate()
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    assert not any(o[1].get("errors") for o in outcomes)
    enrolled = sum(o[1].get("enrolled", 0) for o in outcomes)
    written = sum(o[1].get("deliveries", 0) for o in outcomes)
    db.session.remove()
    with db.transaction() as s:
        enrolments = s.scalar(sa.select(sa.func.count()).select_from(JourneyEnrolment))
        keys = list(s.scalars(sa.select(Delivery.dedupe_key)))
        welcome_rows = s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.journey_id == welcome))
    assert enrolments == 40 and enrolled == 40                 # each counted by exactly one process
    assert len(keys) == len(set(keys)) == written
    # welcome: purchases 0-9 days ago -> d0 for each (late ones skipped) and d7 for those 7-9 days old
    assert welcome_rows == 20 + 6
    assert len(keys) == welcome_rows + 20                      # insurance: d30 for each
