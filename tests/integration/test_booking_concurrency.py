"""No overbooking with real parallel processes against PostgreSQL: 40 attempts on a slot of capacity 5
confirm exactly 5, and concurrent books, moves and cancels keep every slot's `used` equal to the bookings
holding it."""

from __future__ import annotations

import multiprocessing as mp
import random
import threading
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Booking, BookingStatus, SlotUse
from scrm.services import booking
from tests.integration.booking_support import assert_slot_invariant, at, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration
PROCS, THREADS = 10, 4


def _child(settings_dict: dict[str, Any], jobs: list[tuple[str, Any]], barrier: Any, results: Any) -> None:
    """One process with its own engine; THREADS threads each run their share of `jobs` after the barrier."""
    from scrm import db as cdb
    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.services import booking as cbooking
    from scrm.services import booking_status
    from scrm.services.errors import DomainError

    runtime.init(settings_from_dict(settings_dict))
    shares = [jobs[i::THREADS] for i in range(THREADS)]

    def run(share: list[tuple[str, Any]]) -> None:
        barrier.wait(timeout=60)
        for kind, arg in share:
            try:
                if kind == "book":
                    b = cbooking.book(arg)
                    results.put(("ok", b.id))
                elif kind == "move":
                    cbooking.move(arg[0], arg[1], follower_id=None)
                    results.put(("ok", arg[0]))
                else:
                    booking_status.cancel(arg)
                    results.put(("ok", arg))
            except cbooking.SlotTaken:
                results.put(("full", None))
            except DomainError as exc:  # e.g. moving a booking another thread just cancelled
                results.put(("refused", exc.message))
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
    barrier, results = ctx.Barrier(PROCS * THREADS), ctx.Queue()
    procs = [ctx.Process(target=_child, args=(settings_dict, jobs[i::PROCS], barrier, results)) for i in range(PROCS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in jobs]
    for p in procs:
        p.join(timeout=60)
    errors = [o for o in outcomes if o[0] == "error"]
    assert not errors, errors
    return outcomes


def test_forty_attempts_on_a_slot_of_five_confirm_exactly_five(app: Any, settings_dict: dict[str, Any]) -> None:
    if not db.is_postgres():
        pytest.skip("real parallel writers need PostgreSQL; SQLite serialises them")
    shop = make_shop()  # repair: 30 minutes, 5 per slot
    start = at(10)
    jobs = [("book", request(shop, shop.repair, start, contact_mobile=f"139{n:08d}", request_key=f"race-{n}"))
            for n in range(PROCS * THREADS)]
    outcomes = _run(settings_dict, jobs)
    assert sorted(o[0] for o in outcomes).count("ok") == 5
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 5
    assert db.session.scalar(sa.select(SlotUse.used).where(SlotUse.resource == f"type:{shop.repair.id}")) == 5
    assert_slot_invariant(shop.dealer.id)


def test_concurrent_books_moves_and_cancels_keep_the_counts_true(app: Any, settings_dict: dict[str, Any]) -> None:
    if not db.is_postgres():
        pytest.skip("real parallel writers need PostgreSQL; SQLite serialises them")
    shop = make_shop()  # maintenance: 60 minutes (two slots), 2 per slot: overlapping moves contend
    full = [at(9), at(10), at(11), at(14), at(15), at(16)]
    times: list[datetime] = [*full, at(9, 30), at(10, 30), at(14, 30), at(16, 30), at(17)]
    existing = []
    for n, t in enumerate(full * 2):  # every slot of these hours starts full
        existing.append(booking.book(request(shop, shop.maintenance, t, contact_mobile=f"138{n:08d}")).id)
    rnd = random.Random(4)
    jobs: list[tuple[str, Any]] = []
    for bid in existing:
        jobs += [("move", (bid, rnd.choice(times))) for _ in range(2)]
    jobs += [("cancel", bid) for bid in rnd.sample(existing, 4)]
    jobs += [("book", request(shop, shop.maintenance, rnd.choice(times), contact_mobile=f"137{n:08d}"))
             for n in range(PROCS * THREADS - len(jobs))]
    rnd.shuffle(jobs)
    outcomes = _run(settings_dict, jobs)
    assert any(o[0] == "full" for o in outcomes) and any(o[0] == "ok" for o in outcomes)
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.max(SlotUse.used))) <= 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)
                             .where(Booking.status == BookingStatus.CANCELLED)) == 4
    assert_slot_invariant(shop.dealer.id)


def test_a_double_tap_racing_itself_makes_one_booking(app: Any, settings_dict: dict[str, Any]) -> None:
    if not db.is_postgres():
        pytest.skip("real parallel writers need PostgreSQL; SQLite serialises them")
    shop = make_shop()
    c = make_customer(shop.dealer)
    v = make_vehicle(c, plate="沪D88888")
    for hour in (9, 15):  # two open bookings already: the twin of the third must not trip the limit of three
        booking.book(request(shop, shop.repair, at(hour), customer_id=c.id))
    tap = request(shop, shop.repair, at(11), request_key="double-tap", customer_id=c.id, vehicle_id=v.id)
    jobs = [("book", tap) for _ in range(PROCS * THREADS)]
    outcomes = _run(settings_dict, jobs)
    assert {o[0] for o in outcomes} == {"ok"} and len({o[1] for o in outcomes}) == 1  # all got the same booking
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Booking)) == 3
    assert db.session.scalar(sa.select(SlotUse.used).where(SlotUse.resource == f"type:{shop.repair.id}",
                                                           SlotUse.slot_start == at(11))) == 1
