"""Club seats under real parallel processes against PostgreSQL: capacity is never exceeded."""

from __future__ import annotations

import multiprocessing as mp
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import ClubEvent, EventRegistration, RegistrationStatus
from tests.factories import make_follower
from tests.integration.test_club_service import make_event

pytestmark = pytest.mark.integration
PROCS, EACH = 8, 5          # 40 registrations from 8 processes


def _child(settings_dict: dict[str, Any], event_id: int, followers: list[tuple[int, int]], barrier: Any,
           results: Any) -> None:
    """One process with its own engine: wait for all, then register its followers one after another."""
    from scrm import db as cdb
    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.services import club as cclub

    runtime.init(settings_from_dict({**settings_dict, "database": {**settings_dict["database"], "pool_size": 1}}))
    barrier.wait(timeout=120)
    try:
        for follower_id, companions in followers:
            done = cclub.register(follower_id, event_id, companions)
            results.put(("ok", (follower_id, done.status.value, companions)))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        cdb.session.remove()


def test_forty_parallel_registrations_never_exceed_ten_seats(app: Any, settings_dict: dict[str, Any]) -> None:
    if not db.is_postgres():
        pytest.skip("real parallel writers need PostgreSQL; SQLite serialises them")
    now = db.utcnow()
    ev = make_event(capacity=10, max_companions=2, starts_at=now + timedelta(days=3),
                    ends_at=now + timedelta(days=3, hours=2), registration_deadline=now + timedelta(days=2))
    people = [(make_follower().id, n % 3) for n in range(PROCS * EACH)]
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCS), ctx.Queue()
    ps = [ctx.Process(target=_child, args=(settings_dict, ev.id, people[n * EACH:(n + 1) * EACH], barrier, results))
          for n in range(PROCS)]
    for p in ps:
        p.start()
    outcomes = [results.get(timeout=240) for _ in people]
    for p in ps:
        p.join(timeout=60)
    db.session.remove()
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    with db.transaction() as s:
        taken = s.scalar(sa.select(ClubEvent.seats_taken).where(ClubEvent.id == ev.id))
        regs = list(s.scalars(sa.select(EventRegistration).where(EventRegistration.event_id == ev.id)))
    seated = sum(1 + r.companions for r in regs if r.status == RegistrationStatus.REGISTERED)
    assert len(regs) == 40
    assert seated == taken and taken is not None and taken <= 10
    assert taken >= 8          # the first comers fill it: at most a party of 3 cannot fit the last seats
    assert sum(1 for r in regs if r.status == RegistrationStatus.WAITLISTED) == \
        sum(1 for o in outcomes if o[1][1] == "waitlisted")
