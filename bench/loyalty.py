"""Loyalty at scale on PostgreSQL: one check-in a day under a crowd, ledger write throughput, balance and tier.

In a throw-away database (bench/pgdb.py):
  (a) `--attempts` concurrent check-ins (processes x threads) for one member on one day: awarded exactly once;
  (b) ledger writes per second with many members earning concurrently (`--members`, `--writes`), each client
      warmed before the clock by one earn rolled back; with the client and server CPU per write;
  (c) for a member with `--size` ledger entries, p50/p99 of reading the balance and tier (the member row and
      its tier: what 积分 and the pages show) and of that plus tiers.progress_in (the 12-month earned sum).

    python bench/loyalty.py --size 10000

Progress goes to stderr; ends with one JSON line of figures on stdout.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pgdb import drop_database, prepare_database  # noqa: E402


def _settings(url: str, pool_size: int = 5) -> dict[str, Any]:
    return {"app": {"secret_key": "bench-secret-key-0123456789", "public_url": "http://127.0.0.1:9",
                    "timezone": "Asia/Shanghai"},
            "database": {"url": url, "pool_size": pool_size}, "redis": {"url": "memory://bench"},
            "accounts": {"bench": {"name": "基准品牌", "app_id": "wxbench000000009", "app_secret": "benchsecret",
                                   "token": "benchtoken"}}}


def _setup(members: int) -> dict[str, Any]:
    """The account's check-in rule and tiers, and `members` followers with member rows."""
    from scrm import db
    from scrm.models import EarningRule, Follower, Member, Tier, Trigger
    from scrm.services.accounts import account_id, sync_accounts

    sync_accounts()
    acc = account_id("bench")
    with db.transaction() as s:
        s.add(EarningRule(account_id=acc, trigger=Trigger.CHECKIN, points=5))
        s.add_all([Tier(account_id=acc, code=c, name=n, threshold=t, sort_order=i, benefits=f"{n}权益")
                   for i, (c, n, t) in enumerate([("silver", "银卡", 0), ("gold", "金卡", 1000),
                                                  ("platinum", "白金卡", 5000)])])
    now = datetime.now(UTC)
    with db.engine().begin() as c:
        rows = [dict(account_id=acc, openid=f"bench-member-{n:08d}", subscribed=True, subscribed_at=now,
                     first_subscribed_at=now, scene="", scene_kind="none", subscribe_scene="", remark="",
                     language="") for n in range(members + 1)]
        c.execute(sa.insert(Follower), rows)
        ids = [int(i) for i in c.scalars(sa.select(Follower.id).where(Follower.account_id == acc)
                                         .order_by(Follower.id))]
        c.execute(sa.insert(Member), [
            dict(account_id=acc, follower_id=fid, referral_code=f"B{n:09d}"[:16], balance=0, streak=0, best_streak=0,
                 joined_at=now, updated_at=now) for n, fid in enumerate(ids)])
        member_ids = [int(i) for i in c.scalars(sa.select(Member.id).order_by(Member.id))]
    return {"account": acc, "followers": ids, "members": member_ids}


def _worker(url: str, pool: int, threads: int, kind: str, jobs: list[Any], barrier: Any, results: Any,
            hold: Any) -> None:
    """One process with its own engine; `threads` threads run their share of `jobs` after the barrier."""
    from scrm import create_app, db
    from scrm.config import settings_from_dict
    from scrm.models import Trigger
    from scrm.services import checkin, ledger

    create_app(settings_from_dict(_settings(url, pool)))  # every PointsChanged subscriber, as in production

    def warm(member_id: int) -> None:
        # A serving process is warm: its pooled connection is open, the statements compiled, the policy
        # cached. Do that here, before the clock, with one earn rolled back (nothing is written).
        s = db.session()
        try:
            ledger.earn_in(s, member_id, Trigger.EVENT_ATTENDED, key=f"warm-{uuid.uuid4().hex}", source="bench",
                           points=10)
        finally:
            s.rollback()
            db.session.remove()

    def run(share: list[Any]) -> None:
        done = fresh = err = 0
        if kind == "earn" and share:
            warm(share[0][0])
        barrier.wait(timeout=300)
        cpu = time.thread_time()
        for job in share:
            try:
                if kind == "checkin":
                    fresh += 0 if checkin.check_in(job).already else 1
                else:
                    member_id, key = job
                    with db.transaction() as s:
                        ledger.earn_in(s, member_id, Trigger.EVENT_ATTENDED, key=key, source="bench", points=10)
                done += 1
            except Exception as exc:  # counted and shown: the bench must show none
                err += 1
                print(f"error: {exc!r}", file=sys.stderr)
            finally:
                db.session.remove()
        results.put((done, fresh, err, time.time(), time.thread_time() - cpu))

    ts = [threading.Thread(target=run, args=(jobs[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    hold.wait(timeout=300)  # keep the connections (and their server processes) until the CPU is read


def _server_cpu() -> dict[int, float]:
    """CPU seconds used so far by each server process of this database's clients (PostgreSQL on this host)."""
    from scrm import db

    with db.engine().connect() as c:
        pids = list(c.scalars(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")))
    tick, out = os.sysconf("SC_CLK_TCK"), {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # not on this host, or gone
        out[int(pid)] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return out


def _crowd(url: str, procs: int, threads: int, kind: str, jobs: list[Any]) -> tuple[int, int, int, float, float,
                                                                                  float]:
    """Run `jobs` over procs x threads clients.

    (done, fresh check-ins, errors, seconds from the barrier, client CPU seconds of the threads' jobs, CPU
    seconds of their server processes over the same span).
    """
    ctx = mp.get_context("spawn")
    barrier, results, hold = ctx.Barrier(procs * threads + 1), ctx.Queue(), ctx.Barrier(procs + 1)
    pool = max(1, 60 // (3 * procs))  # pool + 2x overflow per process: at most ~60 connections in all
    ps = [ctx.Process(target=_worker, args=(url, pool, threads, kind, jobs[i::procs], barrier, results, hold))
          for i in range(procs)]
    for p in ps:
        p.start()
    barrier.wait(timeout=300)
    t0 = time.time()
    before = _server_cpu()
    outs = [results.get(timeout=900) for _ in range(procs * threads)]
    after = _server_cpu()
    hold.wait(timeout=300)
    for p in ps:
        p.join(timeout=60)
    server = sum(v - before.get(pid, 0.0) for pid, v in after.items())
    return (sum(o[0] for o in outs), sum(o[1] for o in outs), sum(o[2] for o in outs),
            max(o[3] for o in outs) - t0, sum(o[4] for o in outs), server)


def _history(account: int, member_id: int, size: int, seed: int) -> None:
    """`size` ledger entries over the last two years for one member (earn lots, some spent), balance cached."""
    from scrm import db
    from scrm.models import Member, PointsEntry

    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = []
    for n in range(size):
        at = now - timedelta(minutes=rng.randint(1, 2 * 365 * 24 * 60))
        earn = rng.random() < 0.8
        pts = rng.randint(5, 200)
        rows.append(dict(account_id=account, member_id=member_id, kind="earn" if earn else "spend",
                         points=pts if earn else -rng.randint(1, 50), reason="event_attended" if earn else "redemption",
                         source="bench", source_id="", idempotency_key=f"hist-{member_id}-{n}",
                         remaining=pts if earn else None, expires_at=at + timedelta(days=730) if earn else None,
                         note="", created_at=at))
    with db.engine().begin() as c:
        for i in range(0, len(rows), 5000):
            c.execute(sa.insert(PointsEntry), rows[i:i + 5000])
        total = c.scalar(sa.select(sa.func.sum(PointsEntry.points)).where(PointsEntry.member_id == member_id))
        c.execute(sa.update(Member).where(Member.id == member_id).values(balance=int(total or 0)))
        c.execute(sa.text("ANALYZE"))


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from scrm import db
    from scrm.models import Member, PointsEntry, Tier
    from scrm.services import ledger, tiers

    ids = _setup(args.members)
    # (a) the crowd checking one member in on one day
    target = ids["followers"][0]
    done, fresh, err, secs, _c, _s = _crowd(url, args.procs, args.threads, "checkin", [target] * args.attempts)
    db.session.remove()
    target_member = db.session.scalar(sa.select(Member.id).where(Member.follower_id == target))
    entries = db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)
                                .where(PointsEntry.member_id == target_member))
    print(f"(a) {args.attempts} check-ins: {fresh} awarded, {done} answered, {err} errors, {entries} ledger "
          f"entries, {secs:.2f} s", file=sys.stderr)
    # (b) many members earning at once
    rng = random.Random(args.seed)
    others = ids["members"][1:]
    writes = [(rng.choice(others), f"flow-{n}") for n in range(args.writes)]
    w_done, _f, w_err, w_secs, w_client, w_server = _crowd(url, args.procs, args.flow_threads, "earn", writes)
    clients = args.procs * args.flow_threads
    client_ms, server_ms = w_client * 1000 / max(w_done, 1), w_server * 1000 / max(w_done, 1)
    print(f"(b) {w_done} ledger writes in {w_secs:.2f} s ({w_done / w_secs:.0f}/s) by {clients} clients over "
          f"{len(others)} members, {w_err} errors; CPU per write: client {client_ms:.2f} ms, server "
          f"{server_ms:.2f} ms", file=sys.stderr)
    db.session.remove()
    bad = ledger.verify()
    # (c) balance + tier progress of a member with a long history
    heavy = ids["members"][0]
    _history(ids["account"], heavy, args.size, args.seed)
    with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sa.text("VACUUM ANALYZE points_entries"))  # steady state: autovacuum keeps the visibility map
    timings: list[float] = []   # what chat and pages show: the member row's balance and its tier
    progress: list[float] = []  # ...plus the 12-month earned sum and the next tier (the member centre)
    for _ in range(args.samples):
        t0 = time.perf_counter()
        with db.transaction() as s:
            m = s.get(Member, heavy, populate_existing=True)
            assert m is not None
            tier = s.get(Tier, m.tier_id) if m.tier_id else None
            _shown = (m.balance, tier.name if tier else "")
            t1 = time.perf_counter()
            tiers.progress_in(s, m, datetime.now(UTC))
        t2 = time.perf_counter()
        timings.append((t1 - t0) * 1000)
        progress.append((t2 - t0) * 1000)
        db.session.remove()
    print(f"(c) member with {args.size} entries: balance + tier p50 {_pct(timings, 50):.2f} ms, "
          f"p99 {_pct(timings, 99):.2f} ms; with the 12-month progress p50 {_pct(progress, 50):.2f} ms, "
          f"p99 {_pct(progress, 99):.2f} ms; ledger.verify mismatches {len(bad)}", file=sys.stderr)
    return {"checkin_attempts": args.attempts, "checkin_awarded": fresh, "checkin_ledger_entries": entries,
            "checkin_errors": err, "checkin_seconds": round(secs, 2),
            "ledger_writes": w_done, "ledger_writes_per_s": round(w_done / w_secs, 1), "ledger_clients": clients,
            "ledger_members": len(others), "ledger_errors": w_err, "ledger_client_cpu_ms": round(client_ms, 2),
            "ledger_server_cpu_ms": round(server_ms, 2), "verify_mismatches": len(bad),
            "history_entries": args.size, "balance_tier_p50_ms": round(_pct(timings, 50), 2),
            "balance_tier_p99_ms": round(_pct(timings, 99), 2), "balance_tier_samples": len(timings),
            "progress_p50_ms": round(_pct(progress, 50), 2), "progress_p99_ms": round(_pct(progress, 99), 2),
            "load_avg_1m": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10000, help="ledger entries of the member timed in (c)")
    ap.add_argument("--attempts", type=int, default=1000, help="concurrent check-ins in (a)")
    ap.add_argument("--procs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=20, help="threads per process for the check-in crowd (a)")
    ap.add_argument("--flow-threads", type=int, default=4, help="threads per process for the writes (b)")
    ap.add_argument("--members", type=int, default=200, help="members earning in (b)")
    ap.add_argument("--writes", type=int, default=5000, help="ledger writes made for the throughput figure (b)")
    ap.add_argument("--samples", type=int, default=300, help="balance and tier reads timed (c)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    name = f"scrm_bench_loyalty_{uuid.uuid4().hex[:8]}"
    url = prepare_database(name)
    try:
        from scrm import create_app
        from scrm.config import settings_from_dict

        app = create_app(settings_from_dict(_settings(url)))
        with app.app_context():
            figures = _run(args, url)
    finally:
        from scrm import db

        db.session.remove()
        if db._engine is not None:
            db._engine.dispose()
        drop_database(name)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
