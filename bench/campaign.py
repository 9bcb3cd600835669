"""Campaigns at scale on PostgreSQL: segment count, bulk materialisation, rendering, sending to the sandbox.

In a throw-away database (bench/pgdb.py) with `--size` customers (each with a vehicle and a bound,
subscribed follower), written with COPY:
  (1) p50/p99 of counting a three-filter segment (city in [...], vehicle age > 2 years, no service in the
      last 180 days): segment_compile.audience and segments.count_contacts, the four figures the segment
      editor shows (contacts, customers, followers, reachable followers);
  (2) campaign_run.start_run for a segment matching everyone: members and deliveries in bulk;
  (3) rendering every recipient's message with campaign_render.render_all (the send worker's rendering,
      contexts streamed from one joined query) in `--render-processes` processes, each a share of the rows;
      compose.render with a salutation, the model, a date filter, the dealer's phone and a tracked link;
      then, timed apart, the contexts alone streamed in one process;
  (4) sending `--send` of those rows to the sandbox API (its own process, real HTTP) with `--workers`
      worker processes (run_worker) of `--send-threads` threads each and the limiter effectively off;
      then `--limited-rows` more at `--limited-rate` per second with the limiter on. The CPU of the unlimited
      phase is reported per message by part (bench/cpuwatch.py): the workers (after start-up), the sandbox,
      the database's backends and Redis; on 2 cores, 1,000/s needs their total under 2 ms.

    python bench/campaign.py --size 1000000
    python bench/campaign.py --size 1000000 --count-only --keep-db      # seed once, count, keep the database
    python bench/campaign.py --size 1000000 --count-only --reuse-db NAME

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
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cpuwatch  # noqa: E402
from pgdb import PG_ADMIN, database_url, drop_database, prepare_database  # noqa: E402

CITIES = ["上海", "北京", "广州", "深圳", "杭州", "南京", "苏州", "成都", "武汉", "西安"]
MODELS = ["Model 3", "凯美瑞", "雅阁", "帕萨特", "速腾", "宝马3系", "奥迪A4L", "CR-V", "RAV4", "途观L"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"
THREE_FILTERS = {"match": "all", "rules": [
    {"field": "city", "op": "in", "value": ["上海", "北京", "广州"]},
    {"field": "vehicle_age", "op": "gt", "value": 2},
    {"field": "last_service", "op": "not_within_last_days", "value": 180}]}
EVERYONE = {"match": "all", "rules": [{"field": "stage", "op": "in", "value": ["owner"]}]}
CPU: dict[str, float] = {}   # the last send phase's CPU seconds by part
TEXT = ("{{ customer.salutation }}您好！您的{{ vehicle.model }}上次保养是"
        "{{ vehicle.last_service_date|date('%Y年%m月%d日') }}，{{ dealer.name }}提醒您按时保养，"
        "预约电话 {{ dealer.phone }}。详情 https://example.com/care/winter")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _settings(url: str, redis_url: str, prefix: str, api: str, rate: float = 1e6, burst: int = 1000,
              pool_size: int = 5) -> dict[str, Any]:
    return {"app": {"secret_key": "bench-secret-key-0123456789", "public_url": "http://127.0.0.1:9",
                    "timezone": "Asia/Shanghai", "write_behind_ms": 0},
            "database": {"url": url, "pool_size": pool_size}, "redis": {"url": redis_url, "prefix": prefix},
            "outbox": {"rate_per_second": rate, "burst": burst, "batch_size": 100, "poll_seconds": 0.05},
            "sandbox": {"enabled": False},
            "accounts": {"bench": {"name": "基准品牌", "app_id": "wxbenchcamp00001", "app_secret": "benchsecret",
                                   "token": "benchtoken", "api_base_url": api}}}


def _seed(url: str, size: int, seed: int) -> tuple[int, int]:
    """The account, a dealer, and `size` customers, vehicles, followers and bindings via COPY."""
    from scrm.services.accounts import account_id, sync_accounts

    sync_accounts()
    acc = account_id("bench")
    rng = random.Random(seed)
    today = date.today()
    now = datetime.now(UTC).isoformat()
    eng = sa.create_engine(url)
    with eng.begin() as c:
        dealer = c.execute(sa.text(
            "INSERT INTO dealers (account_id, code, name, city, address, phone, timezone, welcome_text, active, "
            "created_at) VALUES (:a, 'BENCH', '申城4S店', '上海', '沪太路1号', '021-55550000', 'Asia/Shanghai', '', "
            "true, now()) RETURNING id"), {"a": acc}).scalar_one()
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        with cur.copy("COPY customers (id, account_id, dealer_id, name, mobile, gender, city, stage, tags, "
                      "created_at, updated_at) FROM STDIN") as cp:
            for n in range(1, size + 1):
                cp.write_row((n, acc, dealer, rng.choice(SURNAMES) + rng.choice(GIVEN),
                              f"13{n:09d}", rng.choice(["male", "female"]), rng.choice(CITIES), "owner", "[]", now,
                              now))
        with cur.copy("COPY vehicles (account_id, dealer_id, customer_id, plate, model, purchase_date, mileage, "
                      "last_service_date, created_at, updated_at) FROM STDIN") as cp:
            for n in range(1, size + 1):
                cp.write_row((acc, dealer, n, f"沪A{n % 100000:05d}", rng.choice(MODELS),
                              today - timedelta(days=rng.randint(30, 3000)), rng.randint(1000, 150000),
                              today - timedelta(days=rng.randint(1, 720)), now, now))
        with cur.copy("COPY followers (id, account_id, openid, subscribed, subscribed_at, first_subscribed_at, "
                      "scene, scene_kind, dealer_id, subscribe_scene, remark, language, last_interaction_at, "
                      "interaction_kind, cs_sent_since_interaction, opt_out_marketing, created_at) FROM STDIN") as cp:
            for n in range(1, size + 1):
                cp.write_row((n, acc, f"obench{n:012d}", True, now, now, "", "none", dealer, "ADD_SCENE_QR_CODE",
                              "", "zh_CN", now, "message", 0, False, now))
        with cur.copy("COPY customer_bindings (account_id, dealer_id, follower_id, customer_id, method, bound_at) "
                      "FROM STDIN") as cp:
            for n in range(1, size + 1):
                cp.write_row((acc, dealer, n, n, "chat", now))
        cur.execute("SELECT setval('customers_id_seq', %s)", (size,))
        cur.execute("SELECT setval('followers_id_seq', %s)", (size,))
        raw.commit()
        for t in ("customers", "vehicles", "followers", "customer_bindings"):
            cur.execute(f"ANALYZE {t}")
        raw.commit()
    finally:
        raw.close()
    eng.dispose()
    return acc, int(dealer)


def _kept(url: str) -> tuple[int, int]:
    """The account and dealer of a database seeded by an earlier run (`--keep-db`)."""
    eng = sa.create_engine(url)
    with eng.connect() as c:
        acc, dealer = c.execute(sa.text("SELECT account_id, id FROM dealers WHERE code = 'BENCH'")).one()
    eng.dispose()
    return int(acc), int(dealer)


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def _count(acc: int, dealer: int, runs: int) -> tuple[list[float], int]:
    from scrm import db
    from scrm.services import campaign_run, segment_compile, segments

    definition = segment_compile.normalise(THREE_FILTERS, brand=True)
    # as in production, where autovacuum has long visited the tables: their visibility maps let the count's
    # index-only scans skip the heap (just after the COPY every row would be fetched)
    with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sa.text("VACUUM ANALYZE customers, vehicles, followers, customer_bindings"))
    times, found = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        with db.transaction() as s:   # what the segment editor shows: contacts, customers, followers, reachable
            segment_compile.tune(s)
            q = segment_compile.audience(definition, account_id=acc, dealer_id=dealer, env=campaign_run.env(s))
            found = segments.count_contacts(s, q.subquery(), one_dealer=True).contacts
        times.append((time.perf_counter() - t0) * 1000)
    return times, found


def _materialise(acc: int, dealer: int) -> tuple[int, float, int]:
    """A segment of everyone and a custom-message campaign; start_run timed. (campaign id, seconds, rows)."""
    from scrm import db
    from scrm.models import Campaign, CampaignChannel, Delivery, Segment
    from scrm.services import campaign_run, compose

    message = compose.normalise({"kind": "text", "text": TEXT}, CampaignChannel.CUSTOM)
    with db.transaction() as s:
        seg = Segment(account_id=acc, dealer_id=dealer, name="全部车主", definition=EVERYONE)
        s.add(seg)
        s.flush()
        c = Campaign(account_id=acc, dealer_id=dealer, name="冬季保养", segment_id=seg.id,
                     channel=CampaignChannel.CUSTOM, variants=[{"key": "a", "weight": 100, "message": message}])
        s.add(c)
        s.flush()
        cid = c.id
    t0 = time.perf_counter()
    with db.transaction() as s:
        camp = s.get(Campaign, cid)
        assert camp is not None
        campaign_run.start_run(s, camp)
    secs = time.perf_counter() - t0
    rows = int(db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)
                                 .where(Delivery.campaign_id == cid)) or 0)
    db.session.remove()
    return cid, secs, rows


def _render_part(raw: dict[str, Any], cid: int, part: tuple[int, int], out: Any) -> None:
    """One process's share of the render: campaign_render.render_all over the rows with id = k mod n."""
    from scrm.services import campaign_render

    _init(raw)
    done, skipped, size = 0, 0, 0
    for _delivery_id, payload in campaign_render.render_all(cid, part=part):
        if isinstance(payload, str):
            skipped += 1
            continue
        size += len(payload["text"]["content"])
        done += 1
    out.put((done, skipped, size, time.process_time()))


def _render(raw: dict[str, Any], cid: int, processes: int) -> tuple[int, float, float]:
    """Render every row's message in `processes` processes (start-up included): (rendered, seconds, CPU seconds)."""
    from scrm.services import campaign_render

    campaign_render.plan(cid)   # the tracked links made once, before the processes read them
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    t0 = time.perf_counter()
    ps = [ctx.Process(target=_render_part, args=(raw, cid, (k, processes), out)) for k in range(processes)]
    for p in ps:
        p.start()
    parts = [out.get(timeout=3600) for _ in ps]
    secs = time.perf_counter() - t0
    for p in ps:
        p.join(timeout=30)
    skipped = sum(part[1] for part in parts)
    if skipped:
        raise RuntimeError(f"{skipped} messages were not rendered")
    return sum(part[0] for part in parts), secs, sum(part[3] for part in parts)


def _contexts_only(acc: int, cid: int, dealer: int) -> float:
    """Seconds to stream every row's context alone, in this one process (what loading costs of the render)."""
    from scrm import db
    from scrm.models import Delivery
    from scrm.services import segment_compile
    from scrm.services.compose_context import delivery_contexts

    t0 = time.perf_counter()
    with db.transaction() as s:
        segment_compile.tune(s)
        n = sum(1 for _ in delivery_contexts(s, Delivery.campaign_id == cid, dealer_id=dealer, today=date.today(),
                                             whole_account=acc))
    log(f"(3) contexts alone: {n} in {time.perf_counter() - t0:.2f} s")
    return time.perf_counter() - t0


def _sandbox(raw: dict[str, Any], port: int, openids: list[str], ready: Any) -> None:
    """The sandbox API in its own process, knowing `openids` as followers with an open window.

    Served by gunicorn (a project dependency) with one gthread worker: one process, as the sandbox keeps
    its state in memory, but with HTTP keep-alive like WeChat's API (werkzeug's server closes every
    connection, so each call paid a TCP connect and a new server thread).
    """
    from gunicorn.app.base import BaseApplication

    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.sandbox import state
    from scrm.sandbox.server import create_sandbox_app

    settings = settings_from_dict(raw)
    runtime.init(settings)
    app = create_sandbox_app(settings)
    app_id = settings.accounts["bench"].app_id
    for o in openids:
        state.add_follower(app_id, o)
    state.set_quota(app_id, "custom_send", 10**9)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": 1, "worker_class": "gthread",
                               "threads": 16, "keepalive": 30, "preload_app": True, "loglevel": "warning",
                               "post_worker_init": lambda _worker: ready.set()}.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Server().run()


def _init(raw: dict[str, Any]) -> None:
    """The runtime (engine, Redis, settings) and the campaign renderer: all a worker needs, without the web app."""
    from scrm import runtime
    from scrm.config import settings_from_dict
    from scrm.services import campaign_render  # noqa: F401  (registers the "campaign" renderer)

    runtime.init(settings_from_dict(raw))


def _worker(raw: dict[str, Any], name: str, barrier: Any, results: Any) -> None:
    from scrm.outbox.worker import run_worker

    _init(raw)
    barrier.wait(timeout=120)
    cpu0 = time.process_time()   # start-up (imports, connections) is not the send's
    n = run_worker(once=True, name=name)
    results.put((n, time.time(), time.process_time() - cpu0))


def _send(raw: dict[str, Any], cid: int, rows: int, workers: int,
          sandbox_pid: int) -> tuple[int, float, dict[str, int]]:
    """Release `rows` held rows of the campaign and send them with `workers` processes: (sent, s, statuses).

    The CPU seconds of the phase's parts (workers, sandbox, this database's backends, Redis) go to CPU.
    """
    from scrm import db
    from scrm.models import Delivery, DeliveryStatus

    with db.transaction() as s:
        ids = sa.select(Delivery.id).where(Delivery.campaign_id == cid, Delivery.status == DeliveryStatus.HELD) \
            .order_by(Delivery.id).limit(rows).scalar_subquery()
        s.execute(sa.update(Delivery).where(Delivery.id.in_(ids)).values(status=DeliveryStatus.PENDING)
                  .execution_options(synchronize_session=False))
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    ps = [ctx.Process(target=_worker, args=(raw, f"bench-w{i}", barrier, results)) for i in range(workers)]
    for p in ps:
        p.start()
    started = datetime.now(UTC)
    redis_pid = cpuwatch.pid_of("redis-server")
    sandbox0, redis0 = cpuwatch.tree_cpu(sandbox_pid), cpuwatch.process_cpu(redis_pid or 0)
    with cpuwatch.Backends(PG_ADMIN, db.engine().url.database or "") as backends:
        barrier.wait(timeout=120)
        t0 = time.time()
        outs = [results.get(timeout=3600) for _ in ps]
    for p in ps:
        p.join(timeout=30)
    secs = max(o[1] for o in outs) - t0
    CPU.update(workers=sum(o[2] for o in outs), sandbox=cpuwatch.tree_cpu(sandbox_pid) - sandbox0,
               postgres=backends.seconds, redis=cpuwatch.process_cpu(redis_pid or 0) - redis0)
    db.session.remove()
    counts = {str(k): int(v) for k, v in db.session.execute(
        sa.select(Delivery.status, sa.func.count()).where(Delivery.campaign_id == cid).group_by(Delivery.status))}
    # the rate as the rows record it: first to last send of this phase (start-up and shut-down excluded)
    first, last = db.session.execute(sa.select(sa.func.min(Delivery.sent_at), sa.func.max(Delivery.sent_at))
                                     .where(Delivery.campaign_id == cid, Delivery.sent_at >= started)).one()
    counts["_span_ms"] = int(((last - first).total_seconds() if first and last else 0) * 1000)
    db.session.remove()
    return sum(o[0] for o in outs), secs, counts


def _run(args: argparse.Namespace, url: str, raw: dict[str, Any]) -> dict[str, Any]:
    from scrm import db
    from scrm.models import Delivery, DeliveryStatus, Follower

    t0 = time.perf_counter()
    if args.reuse_db:
        acc, dealer = _kept(url)
        log(f"reusing database {args.reuse_db} as seeded (account {acc}, dealer {dealer})")
    else:
        acc, dealer = _seed(url, args.size, args.seed)
        log(f"seeded {args.size} customers, vehicles, followers and bindings in {time.perf_counter() - t0:.1f} s")
    times, found = _count(acc, dealer, args.runs)
    log(f"(1) three-filter count: {found} of {args.size}; p50 {_pct(times, 50):.1f} ms, p99 {_pct(times, 99):.1f} ms")
    if args.count_only:
        return {"size": args.size, "count_matched": found, "count_runs": args.runs,
                "count_p50_ms": round(_pct(times, 50), 1), "count_p99_ms": round(_pct(times, 99), 1),
                "load_avg_1m": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}
    cid, mat_s, rows = _materialise(acc, dealer)
    log(f"(2) materialised {rows} deliveries in {mat_s:.2f} s ({rows / mat_s:,.0f} rows/s)")
    with db.engine().connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sa.text("VACUUM ANALYZE deliveries"))
        c.execute(sa.text("VACUUM ANALYZE campaign_members"))
    rendered, ren_s, ren_cpu = _render(raw, cid, args.render_processes)
    log(f"(3) rendered {rendered} messages in {ren_s:.2f} s ({rendered / ren_s:,.0f}/s) "
        f"with {args.render_processes} processes, {ren_cpu:.1f} CPU s in them")
    ctx_s = _contexts_only(acc, cid, dealer)
    with db.transaction() as s:   # every row held; phases release what they send
        s.execute(sa.update(Delivery).where(Delivery.campaign_id == cid).values(status=DeliveryStatus.HELD)
                  .execution_options(synchronize_session=False))
    send_rows = min(args.send, rows)
    limited_rows = min(args.limited_rows, rows - send_rows)
    openids = list(db.session.scalars(sa.select(Follower.openid).order_by(Follower.id).limit(send_rows + limited_rows)))
    db.session.remove()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    sandbox = ctx.Process(target=_sandbox, args=(raw, args.port, openids, ready), daemon=True)
    sandbox.start()
    if not ready.wait(120):
        raise RuntimeError("the sandbox did not start")
    try:
        threaded = {**raw, "outbox": {**raw["outbox"], "send_threads": args.send_threads,
                                      "batch_size": args.batch_size}}
        sent, send_s, counts = _send(threaded, cid, send_rows, args.workers, sandbox.pid or 0)
        send_cpu = {f"send_cpu_ms_per_msg_{k}": round(v * 1000 / sent, 3) for k, v in CPU.items()} if sent else {}
        if sent:
            send_cpu["send_cpu_ms_per_msg_total"] = round(sum(CPU.values()) * 1000 / sent, 3)
        log(f"(4) CPU per message (ms): {send_cpu}")
        counts.pop("_span_ms", None)
        log(f"(4) limiter off: {sent} rows handled by {args.workers} workers x {args.send_threads} threads in "
            f"{send_s:.2f} s "
            f"({sent / send_s:,.0f}/s); statuses {counts}")
        # a little burst absorbs the wake-up jitter of the workers waiting for slots (production uses 20)
        limited = {**threaded, "outbox": {**threaded["outbox"], "rate_per_second": args.limited_rate, "burst": 4}}
        lim_sent, lim_s, lim_counts = _send(limited, cid, limited_rows, args.workers, sandbox.pid or 0)
        span_ms = lim_counts.pop("_span_ms", 0)
        lim_rate = (lim_sent - 1) / (span_ms / 1000) if span_ms > 0 else 0.0   # between the first and last send
        log(f"(4) limiter at {args.limited_rate}/s: {lim_sent} rows in {lim_s:.2f} s ({lim_rate:.1f}/s); "
            f"statuses {lim_counts}")
    finally:
        sandbox.terminate()
        sandbox.join(10)
    return {"size": args.size, "count_matched": found, "count_runs": args.runs,
            "count_p50_ms": round(_pct(times, 50), 1), "count_p99_ms": round(_pct(times, 99), 1),
            "materialise_rows": rows, "materialise_s": round(mat_s, 2), "materialise_rows_per_s": round(rows / mat_s),
            "render_messages": rendered, "render_s": round(ren_s, 2), "render_per_s": round(rendered / ren_s),
            "render_contexts_s": round(ctx_s, 2), "render_processes": args.render_processes,
            "render_cpu_s": round(ren_cpu, 1),
            "send_rows": sent, "send_workers": args.workers, "send_threads": args.send_threads,
            "send_s": round(send_s, 2),
            "send_per_s": round(sent / send_s, 1), "send_sent_rows": counts.get("sent", 0), **send_cpu,
            "limited_rate_per_s": args.limited_rate, "limited_rows": lim_sent, "limited_s": round(lim_s, 2),
            "limited_send_per_s": round(lim_rate, 1),
            "limited_error_pct": round(abs(lim_rate - args.limited_rate) / args.limited_rate * 100, 2),
            "async_commit": bool(args.async_commit),
            "load_avg_1m": round(os.getloadavg()[0], 2), "cpu_count": os.cpu_count()}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--size", type=int, default=5000, help="customers (each with a vehicle and a follower)")
    ap.add_argument("--runs", type=int, default=20, help="timed segment counts")
    ap.add_argument("--send", type=int, default=20000, help="rows sent with the limiter off (at most --size)")
    ap.add_argument("--workers", type=int, default=4, help="worker processes")
    ap.add_argument("--render-processes", type=int, default=os.cpu_count() or 1,
                    help="processes sharing the render (campaign_render.render_all, part k of n)")
    ap.add_argument("--send-threads", type=int, default=16, help="threads per worker making the calls")
    ap.add_argument("--batch-size", type=int, default=200, help="rows a worker claims per round ([outbox] batch_size)")
    ap.add_argument("--limited-rate", type=float, default=40.0,
                    help="the configured rate of the limited run (keep it below what --workers reach unlimited)")
    ap.add_argument("--limited-rows", type=int, default=800, help="rows sent with the limiter on")
    ap.add_argument("--async-commit", action="store_true",
                    help="synchronous_commit=off in the throw-away database (shows what the disk's fsync costs)")
    ap.add_argument("--redis-url", default=os.environ.get("SCRM_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    ap.add_argument("--port", type=int, default=18931, help="the sandbox API's port")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep-db", action="store_true", help="keep the database afterwards and print its name")
    ap.add_argument("--reuse-db", metavar="NAME", help="run against a database kept earlier (no seeding)")
    ap.add_argument("--count-only", action="store_true", help="stop after the segment count (1)")
    args = ap.parse_args()
    args.send = min(args.send, max(1, args.size // 2)) if args.size < 2 * args.send else args.send

    name = args.reuse_db or f"scrm_bench_campaign_{uuid.uuid4().hex[:8]}"
    keep = args.keep_db or bool(args.reuse_db)
    prefix = f"benchcamp{uuid.uuid4().hex[:6]}"
    url = database_url(name) if args.reuse_db else prepare_database(name)
    if args.async_commit:
        from pgdb import _admin

        _admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    raw = _settings(url, args.redis_url, prefix, f"http://127.0.0.1:{args.port}/sandbox/wx")
    try:
        _init(raw)
        figures = _run(args, url, raw)
    finally:
        from scrm import db, runtime

        db.session.remove()
        if db._engine is not None:
            db._engine.dispose()
        if keep:
            log(f"database kept: {name} (drop it with: dropdb -h 127.0.0.1 -U postgres {name})")
        else:
            drop_database(name)
        try:
            r = runtime.get().redis
            keys = list(r.scan_iter(match=prefix + ":*", count=1000))
            if keys:
                r.delete(*keys)
        except Exception as exc:  # the figures matter more than the clean-up
            log(f"redis clean-up failed: {exc!r}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
