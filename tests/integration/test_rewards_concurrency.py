"""No overselling and no negative balance with real parallel processes against PostgreSQL: 30 members racing
for a stock of 5 get exactly 5 vouchers; one member with points for 3 firing 10 redemptions gets 3; a double
tap racing itself makes one voucher; two clerks using one voucher at once use it once."""

from __future__ import annotations

import multiprocessing as mp
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Member, Redemption, RedemptionStatus, Reward, Role
from scrm.services import ledger
from tests.factories import make_dealer, make_staff
from tests.integration.test_rewards import give, make_reward, new_member

pytestmark = pytest.mark.integration
PROCS, THREADS = 10, 3


def _child(settings_dict: dict[str, Any], jobs: list[tuple[str, Any]], barrier: Any, results: Any) -> None:
    """One process with its own engine; THREADS threads each run their share of `jobs` after the barrier."""
    from scrm import db as cdb
    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.models import StaffUser
    from scrm.services import ledger as cledger
    from scrm.services import rewards as crewards
    from scrm.services import rewards_counter
    from scrm.services.errors import DomainError
    from scrm.services.scope import Scope

    runtime.init(settings_from_dict(settings_dict))
    shares = [jobs[i::THREADS] for i in range(THREADS)]

    def run(share: list[tuple[str, Any]]) -> None:
        barrier.wait(timeout=120)
        for kind, arg in share:
            try:
                if kind == "redeem":
                    red = crewards.redeem(*arg)
                    results.put(("ok", red.id))
                else:
                    staff = cdb.session.get(StaffUser, arg[0])
                    assert staff is not None
                    results.put(("ok", rewards_counter.use(staff, Scope.of(staff), arg[1]).id))
            except crewards.SoldOut:
                results.put(("sold_out", None))
            except cledger.NotEnoughPoints:
                results.put(("poor", None))
            except DomainError as exc:
                results.put(("refused", type(exc).__name__))
            except Exception as exc:  # reported to the parent, which fails the test
                results.put(("error", repr(exc)))
            finally:
                cdb.session.remove()

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _run(settings_dict: dict[str, Any], jobs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    ctx = mp.get_context("spawn")
    procs_n = min(PROCS, len(jobs))
    per = [jobs[i::procs_n] for i in range(procs_n)]
    barrier = ctx.Barrier(procs_n * THREADS)  # every child starts THREADS threads, even with fewer jobs
    results = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(settings_dict, p, barrier, results)) for p in per]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in jobs]
    for p in procs:
        p.join(timeout=60)
    errors = [o for o in outcomes if o[0] == "error"]
    assert not errors, errors
    return outcomes


def _needs_postgres() -> None:
    if not db.is_postgres():
        pytest.skip("real parallel writers need PostgreSQL; SQLite serialises them")


def test_thirty_members_racing_for_five_get_exactly_five(app: Any, settings_dict: dict[str, Any]) -> None:
    _needs_postgres()
    r = make_reward(cost=100, stock=5)
    members = [new_member() for _ in range(PROCS * THREADS)]
    for m in members:
        give(m, 100)
    jobs = [("redeem", (m.follower_id, r.id, f"race-{m.id}")) for m in members]
    outcomes = _run(settings_dict, jobs)
    assert sorted(o[0] for o in outcomes).count("ok") == 5
    assert {o[0] for o in outcomes} == {"ok", "sold_out"}
    db.session.remove()
    assert db.session.get_one(Reward, r.id).stock == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Redemption)) == 5
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(Member.balance == 0)) == 5
    assert db.session.scalar(sa.select(sa.func.min(Member.balance))) == 0
    assert ledger.verify() == []


def test_one_member_with_points_for_three_gets_three_of_ten(app: Any, settings_dict: dict[str, Any]) -> None:
    _needs_postgres()
    r = make_reward(cost=100, stock=50)
    m = new_member()
    give(m, 350)
    jobs = [("redeem", (m.follower_id, r.id, f"many-{n}")) for n in range(PROCS * THREADS)]
    outcomes = _run(settings_dict, jobs)
    assert [o[0] for o in outcomes].count("ok") == 3
    assert {o[0] for o in outcomes} == {"ok", "poor"}
    db.session.remove()
    assert db.session.get_one(Member, m.id).balance == 50
    assert db.session.get_one(Reward, r.id).stock == 47
    assert ledger.verify() == []


def test_a_double_tap_racing_itself_makes_one_voucher(app: Any, settings_dict: dict[str, Any]) -> None:
    _needs_postgres()
    r = make_reward(cost=100, stock=10)
    m = new_member()
    give(m, 1000)
    outcomes = _run(settings_dict, [("redeem", (m.follower_id, r.id, "tap")) for _ in range(PROCS * THREADS)])
    assert {o[0] for o in outcomes} == {"ok"} and len({o[1] for o in outcomes}) == 1
    db.session.remove()
    assert db.session.get_one(Member, m.id).balance == 900 and db.session.get_one(Reward, r.id).stock == 9


def test_clerks_racing_to_use_one_voucher_use_it_once(app: Any, settings_dict: dict[str, Any]) -> None:
    _needs_postgres()
    from scrm.services import rewards

    d = make_dealer()
    m = new_member()
    give(m, 100)
    red = rewards.redeem(m.follower_id, make_reward(dealer_id=d.id).id, "once")
    clerks = [make_staff(Role.DEALER_STAFF, dealer=d).id for _ in range(PROCS * THREADS)]
    outcomes = _run(settings_dict, [("use", (c, red.code)) for c in clerks])
    assert [o[0] for o in outcomes].count("ok") == 1
    assert {o for o in outcomes if o[0] != "ok"} == {("refused", "AlreadyUsed")}
    db.session.remove()
    row = db.session.get_one(Redemption, red.id)
    assert row.status == RedemptionStatus.USED and row.used_by in clerks
