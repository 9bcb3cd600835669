"""Bookings at scale on PostgreSQL: no overbooking under a crowd, throughput, and the availability query.

Creates a dealer with a year of booking history (`--size` bookings, with their slot counters) in a
throw-away database, then:
  (a) `--attempts` concurrent attempts (processes x threads) on one slot of capacity 5: exactly 5 confirm;
  (b) confirmed bookings per second with many clients booking free slots;
  (c) p50/p99 of the 14-day availability query of the busiest service.

    python bench/booking.py --size 20000

Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("SCRM_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SH = ZoneInfo("Asia/Shanghai")


def _admin(sql: str) -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(sql))
    admin.dispose()


def _settings(url: str, pool_size: int = 5) -> dict[str, Any]:
    return {"app": {"secret_key": "bench-secret-key-0123456789", "public_url": "http://127.0.0.1:9",
                    "timezone": "Asia/Shanghai"},
            "database": {"url": url, "pool_size": pool_size}, "redis": {"url": "memory://bench"},
            "accounts": {"bench": {"name": "基准品牌", "app_id": "wxbench000000009", "app_secret": "benchsecret",
                                   "token": "benchtoken"}}}


def _setup(size: int, seed: int) -> dict[str, int]:
    """The dealer, its rules and services, and `size` bookings over the past year (plus the next weeks)."""
    from scrm import db
    from scrm.models import (
        Booking,
        BookingSettings,
        BookingSource,
        BookingStatus,
        Dealer,
        OpeningHours,
        ServiceKind,
        ServiceType,
        SlotUse,
    )
    from scrm.services.accounts import account_id, sync_accounts

    sync_accounts()
    acc = account_id("bench")
    with db.transaction() as s:
        d = Dealer(account_id=acc, code="BENCH", name="基准门店")
        s.add(d)
        s.flush()
        s.add(BookingSettings(account_id=acc, dealer_id=d.id, timezone="Asia/Shanghai", min_notice_minutes=60,
                              horizon_days=60))
        for wd in range(7):
            s.add(OpeningHours(account_id=acc, dealer_id=d.id, weekday=wd, opens=dtime(8, 30), closes=dtime(12)))
            s.add(OpeningHours(account_id=acc, dealer_id=d.id, weekday=wd, opens=dtime(13), closes=dtime(18)))
        types = {code: ServiceType(account_id=acc, dealer_id=d.id, code=code, name=name, kind=kind,
                                   duration_minutes=mins, capacity=cap)
                 for code, name, kind, mins, cap in [
                     ("MAINT", "保养", ServiceKind.MAINTENANCE, 60, 12), ("REPAIR", "维修", ServiceKind.REPAIR, 30, 8),
                     ("RACE", "抢号", ServiceKind.OTHER, 30, 5), ("FLOW", "吞吐", ServiceKind.OTHER, 30, 100000)]}
        s.add_all(types.values())
    rng = random.Random(seed)
    today = datetime.now(SH).date()
    starts = [dtime(8, 30), dtime(9), dtime(9, 30), dtime(10), dtime(10, 30), dtime(11),
              dtime(13), dtime(13, 30), dtime(14), dtime(14, 30), dtime(15), dtime(15, 30), dtime(16), dtime(16, 30)]
    used: dict[tuple[str, datetime], int] = {}
    rows: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for n in range(size):
        st = types["MAINT"] if rng.random() < 0.6 else types["REPAIR"]
        for _ in range(50):
            day = today + timedelta(days=rng.randint(-365, 13) if rng.random() < 0.97 else rng.randint(0, 13))
            start = datetime.combine(day, rng.choice(starts), SH).astimezone(UTC)
            keys = [(f"type:{st.id}", start + timedelta(minutes=30 * k)) for k in range(st.duration_minutes // 30)]
            if all(used.get(k, 0) < st.capacity for k in keys):
                break
        else:
            continue
        for k in keys:
            used[k] = used.get(k, 0) + 1
        past = start < now
        rows.append(dict(account_id=acc, dealer_id=d.id, service_type_id=st.id, start_at=start,
                         end_at=start + timedelta(minutes=st.duration_minutes), slot_minutes=30,
                         status=(BookingStatus.COMPLETED if past else BookingStatus.CONFIRMED).value,
                         source=BookingSource.STAFF.value, contact_name="历史客户", contact_mobile=f"139{n:08d}",
                         licence_confirmed=False, note="", request_key=f"hist-{n}", cancel_reason="",
                         created_at=start - timedelta(days=3), updated_at=start))
    with db.engine().begin() as c:
        for i in range(0, len(rows), 5000):
            c.execute(sa.insert(Booking.__table__), rows[i:i + 5000])
        caps = {f"type:{t.id}": t.capacity for t in types.values()}
        uses = [dict(dealer_id=d.id, resource=k[0], slot_start=k[1], used=v, capacity=caps[k[0]])
                for k, v in used.items()]
        for i in range(0, len(uses), 5000):
            c.execute(sa.insert(SlotUse.__table__), uses[i:i + 5000])
        c.execute(sa.text("ANALYZE"))
    print(f"history: {len(rows)} bookings, {len(used)} slot counters", file=sys.stderr)
    return {"dealer": d.id, "history": len(rows), **{code: t.id for code, t in types.items()}}


def _worker(url: str, pool: int, threads: int, jobs: list[dict[str, Any]], barrier: Any, results: Any) -> None:
    """One process with its own engine; `threads` threads book their share of `jobs` after the barrier."""
    from scrm import db, runtime
    from scrm.config import settings_from_dict
    from scrm.models import BookingSource
    from scrm.services import booking

    runtime.init(settings_from_dict(_settings(url, pool)))

    def run(share: list[dict[str, Any]]) -> None:
        ok = full = err = 0
        barrier.wait(timeout=300)
        for job in share:
            try:
                booking.book(booking.BookingRequest(source=BookingSource.API, **job))
                ok += 1
            except booking.SlotTaken:
                full += 1
            except Exception as exc:  # counted and shown: the bench must show none
                err += 1
                print(f"error: {exc!r}", file=sys.stderr)
            finally:
                db.session.remove()
        results.put((ok, full, err, time.time()))

    ts = [threading.Thread(target=run, args=(jobs[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def _crowd(url: str, procs: int, threads: int, jobs: list[dict[str, Any]]) -> tuple[int, int, int, float]:
    """Run `jobs` over procs x threads clients; (confirmed, full, errors, seconds from the barrier)."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(procs * threads + 1), ctx.Queue()
    pool = max(1, 60 // (3 * procs))  # pool + 2x overflow per process: at most ~60 connections in all
    ps = [ctx.Process(target=_worker, args=(url, pool, threads, jobs[i::procs], barrier, results))
          for i in range(procs)]
    for p in ps:
        p.start()
    barrier.wait(timeout=300)
    t0 = time.time()
    outs = [results.get(timeout=600) for _ in range(procs * threads)]
    for p in ps:
        p.join(timeout=60)
    return (sum(o[0] for o in outs), sum(o[1] for o in outs), sum(o[2] for o in outs),
            max(o[3] for o in outs) - t0)


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2000, help="bookings in the year of history")
    ap.add_argument("--attempts", type=int, default=500)
    ap.add_argument("--procs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=20, help="threads per process for the crowd (a)")
    ap.add_argument("--flow", type=int, default=2000, help="bookings made for the throughput figure (b)")
    ap.add_argument("--samples", type=int, default=300, help="availability queries timed (c)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    name = f"scrm_bench_booking_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        from scrm import create_app
        from scrm.config import settings_from_dict
        from scrm.migrate import upgrade

        upgrade(url)
        app = create_app(settings_from_dict(_settings(url)))
        with app.app_context():
            figures = _run(args, url)
    finally:
        from scrm import db

        db.session.remove()
        if db._engine is not None:
            db._engine.dispose()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(figures))


def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from scrm import db
    from scrm.models import Booking, SlotUse
    from scrm.services.booking_availability import availability

    ids = _setup(args.size, args.seed)
    today = datetime.now(SH).date()
    # (a) the crowd on one slot of capacity 5, three days out at 10:00
    race_start = datetime.combine(today + timedelta(days=3), dtime(10), SH)
    jobs = [dict(dealer_id=ids["dealer"], service_type_id=ids["RACE"], start_at=race_start,
                 contact_mobile=f"136{n:08d}", request_key=f"race-{n}") for n in range(args.attempts)]
    ok, full, err, secs = _crowd(url, args.procs, args.threads, jobs)
    db.session.remove()
    used = db.session.scalar(sa.select(SlotUse.used).where(SlotUse.resource == f"type:{ids['RACE']}"))
    race_rows = db.session.scalar(sa.select(sa.func.count()).select_from(Booking)
                                  .where(Booking.service_type_id == ids["RACE"]))
    print(f"(a) {args.attempts} attempts: {ok} confirmed, {full} refused as full, {err} errors, "
          f"slot used {used}, rows {race_rows}, {secs:.2f} s", file=sys.stderr)
    # (b) throughput: random free slots of a roomy service over the next four weeks
    rng = random.Random(args.seed)
    grid = [dtime(h, m) for h in (8, 9, 10, 11, 13, 14, 15, 16, 17) for m in (0, 30) if (h, m) != (8, 0)]
    flow = [dict(dealer_id=ids["dealer"], service_type_id=ids["FLOW"],
                 start_at=datetime.combine(today + timedelta(days=rng.randint(2, 28)), rng.choice(grid), SH),
                 contact_mobile=f"135{n:08d}", request_key=f"flow-{n}") for n in range(args.flow)]
    f_ok, f_full, f_err, f_secs = _crowd(url, args.procs, 4, flow)
    print(f"(b) {f_ok} confirmed in {f_secs:.2f} s ({f_ok / f_secs:.0f}/s), {f_full} full, {f_err} errors",
          file=sys.stderr)
    # (c) availability of the busiest service, 14 days from a day in the next two weeks
    timings: list[float] = []
    for i in range(args.samples):
        first: date = today + timedelta(days=i % 14)
        t0 = time.perf_counter()
        days = availability(ids["dealer"], ids["MAINT"], first, days=14)
        timings.append((time.perf_counter() - t0) * 1000)
        assert len(days) == 14
        if i % 50 == 0:
            db.session.remove()
    free = sum(len(d.slots) for d in availability(ids["dealer"], ids["MAINT"], today, days=14))
    print(f"(c) availability 14 days: p50 {_pct(timings, 50):.2f} ms, p99 {_pct(timings, 99):.2f} ms "
          f"({free} free starts today+14)", file=sys.stderr)
    remind = _reminders(ids["dealer"])
    return {**remind, "history_bookings": ids["history"], "attempts": args.attempts, "confirmed": ok,
            "refused_full": full,
            "errors": err + f_err, "slot_used": used, "race_seconds": round(secs, 2),
            "bookings_per_s": round(f_ok / f_secs, 1), "flow_bookings": f_ok, "clients": args.procs * 4,
            "availability_p50_ms": round(_pct(timings, 50), 2), "availability_p99_ms": round(_pct(timings, 99), 2),
            "availability_samples": len(timings)}


def _reminders(dealer_id: int) -> dict[str, Any]:
    """(d) the scheduler's reminder tick: every confirmed booking of the next two days gets a follower."""
    from scrm import db
    from scrm.models import Booking, BookingStatus, Dealer, Delivery, Follower
    from scrm.services.booking_notify_reminders import HORIZON, enqueue_due

    db.session.remove()
    now = datetime.now(UTC)
    with db.transaction() as s:
        acc = s.scalar(sa.select(Dealer.account_id).where(Dealer.id == dealer_id))
        soon = list(s.execute(sa.select(Booking.id, Booking.start_at).where(
            Booking.dealer_id == dealer_id, Booking.status == BookingStatus.CONFIRMED, Booking.start_at > now,
            Booking.start_at <= now + HORIZON)))
        people = [Follower(account_id=acc, openid=f"bench-remind-{i}", subscribed=True) for i, _ in soon]
        s.add_all(people)
        s.flush()
        for (booking_id, start), f in zip(soon, people, strict=True):
            s.execute(sa.update(Booking).where(Booking.id == booking_id).values(
                follower_id=f.id, created_at=start - timedelta(days=3), updated_at=start - timedelta(days=3)))
    t0 = time.perf_counter()
    written = enqueue_due(now)
    first_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    again = enqueue_due(now)
    idle_ms = (time.perf_counter() - t0) * 1000
    rows = db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                             .where(Delivery.dedupe_key.like("booking:%:remind:%")))
    print(f"(d) reminder tick: {len(soon)} bookings in the next {HORIZON}, {written} reminders written in "
          f"{first_ms:.1f} ms; a second tick wrote {again} in {idle_ms:.1f} ms; outbox rows {rows}", file=sys.stderr)
    return {"remind_window_bookings": len(soon), "remind_written": written, "remind_first_tick_ms": round(first_ms, 1),
            "remind_second_written": again, "remind_second_tick_ms": round(idle_ms, 1), "remind_rows": rows}


if __name__ == "__main__":
    main()
