"""The ledger under real parallel processes against PostgreSQL: one check-in a day, caps never exceeded,
never a negative balance, and lots, allocations and the cached balance always agreeing."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import EntryKind, Member, PointsAllocation, PointsEntry, Trigger
from scrm.services import ledger
from tests.integration.loyalty_support import make_member, make_rule

pytestmark = pytest.mark.integration


def _child(settings_dict: dict[str, Any], kind: str, arg: Any, n: int, barrier: Any, results: Any) -> None:
    """One process with its own engine: wait for all, then do `kind` once (or twice for earning)."""
    from scrm import db as cdb
    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.models import Trigger as CTrigger
    from scrm.services import checkin as ccheckin
    from scrm.services import ledger as cledger

    runtime.init(settings_from_dict({**settings_dict, "database": {**settings_dict["database"], "pool_size": 1}}))
    barrier.wait(timeout=120)
    try:
        if kind == "checkin":
            done = ccheckin.check_in(arg)
            results.put(("ok", (done.already, done.points)))
        elif kind == "earn":
            paid = 0
            for k in range(2):
                with cdb.transaction() as s:
                    paid += cledger.earn_in(s, arg, CTrigger.EVENT_ATTENDED, key=f"race-earn-{n}-{k}",
                                            source="test").points
            results.put(("ok", paid))
        else:
            with cdb.transaction() as s:
                cledger.spend_in(s, arg, 30, reason="redemption", key=f"race-spend-{n}", source="test")
            results.put(("ok", 30))
    except cledger.NotEnoughPoints:
        results.put(("short", 0))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        cdb.session.remove()


def _run(settings_dict: dict[str, Any], procs: int, kind: str, arg: Any) -> list[tuple[str, Any]]:
    ctx = mp.get_context("forkserver")  # imported once in a clean server, then forked: 50 start quickly
    ctx.set_forkserver_preload([__name__, "scrm.services.checkin", "scrm.config"])
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=_child, args=(settings_dict, kind, arg, n, barrier, results)) for n in range(procs)]
    for p in ps:
        p.start()
    outcomes = [results.get(timeout=240) for _ in ps]
    for p in ps:
        p.join(timeout=60)
    errors = [o for o in outcomes if o[0] == "error"]
    assert not errors, errors
    db.session.remove()
    return outcomes


def _entries(member_id: int) -> list[PointsEntry]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(PointsEntry).where(PointsEntry.member_id == member_id)))


def _balance(member_id: int) -> int:
    with db.transaction() as s:
        return int(s.scalar(sa.select(Member.balance).where(Member.id == member_id)) or 0)


def _needs_postgres() -> None:
    if not db.is_postgres():
        pytest.skip("real parallel writers need PostgreSQL; SQLite serialises them")


@pytest.mark.timeout(300)
def test_fifty_processes_check_in_once(app: Any, settings_dict: dict[str, Any]) -> None:
    _needs_postgres()
    make_rule(Trigger.CHECKIN, 5)
    m = make_member()
    outcomes = _run(settings_dict, 50, "checkin", m.follower_id)
    fresh = [o for o in outcomes if o[1] == (False, 5)]
    assert len(fresh) == 1 and sum(1 for o in outcomes if o[1] == (True, 0)) == 49
    entries = _entries(m.id)
    assert [(e.kind, e.points) for e in entries] == [(EntryKind.EARN, 5)]
    assert _balance(m.id) == 5 == sum(e.points for e in entries)
    assert ledger.verify() == []


def test_twenty_processes_earning_never_pass_the_daily_cap(app: Any, settings_dict: dict[str, Any]) -> None:
    _needs_postgres()
    make_rule(Trigger.EVENT_ATTENDED, 30, daily_cap=100)
    m = make_member()
    outcomes = _run(settings_dict, 20, "earn", m.id)
    paid = sum(int(o[1]) for o in outcomes)
    entries = _entries(m.id)
    assert paid == 100 == sum(e.points for e in entries) == _balance(m.id)   # 30+30+30+10, then capped
    assert sorted(e.points for e in entries) == [10, 30, 30, 30]
    assert ledger.verify() == []


def test_twenty_processes_spending_never_go_negative(app: Any, settings_dict: dict[str, Any]) -> None:
    _needs_postgres()
    m = make_member()
    now = db.utcnow()
    with db.transaction() as s:   # three lots, 220 points: seven spends of 30 fit
        for n, (pts, days) in enumerate([(100, 3), (50, 2), (70, 1)]):
            ledger.earn_in(s, m.id, Trigger.EVENT_ATTENDED, key=f"lot-{n}", source="test", points=pts,
                           now=now - timedelta(days=days))
    outcomes = _run(settings_dict, 20, "spend", m.id)
    spent = sum(int(o[1]) for o in outcomes)
    assert spent == 210 and sum(1 for o in outcomes if o[0] == "short") == 13
    entries = _entries(m.id)
    earned = sum(e.points for e in entries if e.points > 0)
    assert spent <= earned and _balance(m.id) == 10 == sum(e.points for e in entries) >= 0
    with db.transaction() as s:
        drawn = dict(s.execute(sa.select(PointsAllocation.lot_id, sa.func.sum(PointsAllocation.points))
                               .group_by(PointsAllocation.lot_id)).all())
        by_entry = dict(s.execute(sa.select(PointsAllocation.entry_id, sa.func.sum(PointsAllocation.points))
                                  .group_by(PointsAllocation.entry_id)).all())
    for lot in (e for e in entries if e.points > 0):
        assert lot.remaining == lot.points - int(drawn.get(lot.id, 0))
    for spend in (e for e in entries if e.kind == EntryKind.SPEND):
        assert by_entry[spend.id] == -spend.points == 30
    assert ledger.verify() == []
