"""Two staff merging overlapping pairs at the same moment, in two real processes against PostgreSQL:
exactly one merge wins, the other gets a clear refusal, and no row is lost or split."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, MergeRecord, Role, Vehicle
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration


def _merge_in_child(settings_dict: dict[str, Any], staff_id: int, survivor: int, merged: int, barrier: Any,
                    results: Any) -> None:
    """A separate process: its own engine and session; waits for the other, then merges."""
    from scrm import db as cdb
    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.models import StaffUser
    from scrm.services import merge

    runtime.init(settings_from_dict(settings_dict))
    actor = cdb.session.get(StaffUser, staff_id)
    assert actor is not None
    cdb.session.remove()
    barrier.wait(timeout=30)
    try:
        merge.merge_customers(actor, survivor, merged)
        results.put(("ok", survivor))
    except merge.MergeRefused as exc:
        results.put(("refused", exc.message % exc.params))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))


@pytest.mark.parametrize("round_", range(3))
def test_conflicting_merges_one_wins(app: Any, settings_dict: dict[str, Any], round_: int) -> None:
    if not db.is_postgres():
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers anyway")
    d = make_dealer()
    a = make_customer(d, name="张伟")
    b = make_customer(d, name="章伟")
    c = make_customer(d, name="张玮")
    for i, customer in enumerate((a, b, c)):
        make_vehicle(customer, plate=f"沪A1234{i}")
    staff = [make_staff(role=Role.DEALER_MANAGER, dealer=d) for _ in range(2)]
    # both want to absorb b: into a, and into c
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_merge_in_child, args=(settings_dict, staff[0].id, a.id, b.id, barrier, results)),
             ctx.Process(target=_merge_in_child, args=(settings_dict, staff[1].id, c.id, b.id, barrier, results))]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    kinds = sorted(o[0] for o in outcomes)
    assert kinds == ["ok", "refused"], outcomes
    refusal = next(o[1] for o in outcomes if o[0] == "refused")
    assert f"#{b.id} has already been merged" in refusal
    winner = next(o[1] for o in outcomes if o[0] == "ok")
    db.session.remove()
    assert db.session.get(Customer, b.id).merged_into_id == winner  # type: ignore[union-attr]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MergeRecord)) == 1
    owners = sorted(db.session.scalars(sa.select(Vehicle.customer_id)))
    assert len(owners) == 3 and b.id not in owners and owners.count(winner) == 2
