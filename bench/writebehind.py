"""The write-behind's batch write: what one push's bookkeeping costs PostgreSQL and the writing process.

Every push ends in an `Entry` (the follower's touch, an inbound and an outbound message-log row, a
keyword hit) that the write-behind stores in batches with `scrm.services.bookkeeping.write`. This
benchmark calls that function directly on a throw-away PostgreSQL database (migrated with the project's
migrations): `--size` entries in batches of `--batch`, from `--followers` followers, each entry's
follower drawn at random. With `--existing` the followers are inserted first (one INSERT ... SELECT),
so every entry touches a known row, as in production; otherwise the first entry of
each follower creates it, as in the webhook benchmark (500 followers pushing over and over).

The CPU of the database backend that served the batches is read from /proc (PostgreSQL on this machine),
the writer's own from the process clock. Also printed: how many of the followers updates were heap-only
(HOT: no index written) and the followers table's size at the end (heap, and with its indexes).

    python bench/writebehind.py --size 64000 --followers 200000 --existing

Ends with one JSON line: entries, batch, followers, entries_per_s, pg_us_per_entry, writer_us_per_entry,
followers_updates, followers_hot_updates, hot_pct, followers_heap_kb, followers_total_kb.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.pgdb import drop_database, prepare_database  # noqa: E402

if TYPE_CHECKING:
    from scrm.services.bookkeeping import Entry

WARM_BATCHES = 20


def log(msg: str) -> None:
    print(f"[writebehind-bench] {msg}", file=sys.stderr, flush=True)


def backend_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` (a PostgreSQL backend on this machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(url: str, followers: int, existing: bool) -> tuple[int, int, list[str]]:
    """The account and keyword reply the entries name, and the followers' openids (inserted if `existing`)."""
    openids = [f"oBENCH{i:07d}xxxxxxxxxxxxxxxx" for i in range(followers)]
    engine = sa.create_engine(url)
    with engine.begin() as c:
        acc = c.execute(sa.text("INSERT INTO accounts (slug, name, app_id, created_at) "
                                "VALUES ('bench', 'bench', 'wxbench', now()) RETURNING id")).scalar_one()
        kw = c.execute(sa.text(
            "INSERT INTO keyword_replies (account_id, keyword, match, kind, text, news_title, news_description, "
            "news_url, news_pic_url, priority, enabled, hits, created_at, updated_at) VALUES "
            "(:acc, '价格', 'exact', 'text', '本店保养套餐 599 元起', '', '', '', '', 0, true, 0, now(), now()) "
            "RETURNING id"), {"acc": acc}).scalar_one()
        if existing:
            c.execute(sa.text(
                "INSERT INTO followers (account_id, openid, subscribed, scene, scene_kind, subscribe_scene, remark, "
                "language, interaction_kind, cs_sent_since_interaction, opt_out_marketing, created_at, "
                "last_interaction_at) SELECT :acc, 'oBENCH' || lpad(g::text, 7, '0') || 'xxxxxxxxxxxxxxxx', true, "
                "'', 'none', '', '', '', 'message', 0, false, now(), now() - random() * interval '400 days' "
                "FROM generate_series(0, :n - 1) g"), {"acc": acc, "n": followers})
            c.execute(sa.text("ANALYZE followers"))
    engine.dispose()
    return acc, kw, openids


def entries(acc: int, kw: int, openids: list[str], rng: random.Random, start: datetime, k: int,
            batch: int) -> list[Entry]:
    """Batch `k`: one entry per push, each with its two message-log rows and its keyword hit."""
    from scrm.services.bookkeeping import Entry

    out: list[Entry] = []
    for j in range(batch):
        n = k * batch + j
        at = start + timedelta(milliseconds=n)
        logs = [dict(account_id=acc, direction="in", msg_type="text", event="", content="价格", msg_id=str(n),
                     handler="", created_at=at),
                dict(account_id=acc, direction="out", msg_type="text", event="", content="本店保养套餐 599 元起",
                     msg_id="", handler="keyword", created_at=at)]
        out.append(Entry(account_id=acc, openid=rng.choice(openids), at=at, kind="message", is_message=True,
                         logs=logs, hits=[kw]))
    return out


def main() -> None:
    """Write the batches and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=12800, help="entries written (timed), after 20 warm-up batches")
    ap.add_argument("--batch", type=int, default=64, help="entries per batch (the write-behind's default is 64)")
    ap.add_argument("--followers", type=int, default=500, help="distinct followers the entries come from")
    ap.add_argument("--existing", action="store_true", help="insert the followers first (touches, not creations)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    from scrm import db
    from scrm.services import bookkeeping

    name = f"scrm_bench_wb_{uuid.uuid4().hex[:8]}"
    log(f"preparing database {name}")
    url = prepare_database(name)
    try:
        acc, kw, openids = seed(url, args.followers, args.existing)
        engine = db.init_engine(url, pool_size=1)
        rng, start = random.Random(args.seed), datetime.now(UTC)
        for k in range(WARM_BATCHES):
            bookkeeping.write(entries(acc, kw, openids, rng, start, k, args.batch))
        with engine.connect() as c:  # pool of one: the backend every batch is written through
            pid = int(c.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        stat = sa.text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'followers'")
        batches = max(1, args.size // args.batch)
        log(f"writing {batches} batches of {args.batch}")
        pg0, me0, wall0 = backend_cpu_s(pid), time.process_time(), time.perf_counter()
        for k in range(WARM_BATCHES, WARM_BATCHES + batches):
            bookkeeping.write(entries(acc, kw, openids, rng, start, k, args.batch))
            if (k - WARM_BATCHES + 1) % 250 == 0:
                log(f"{(k - WARM_BATCHES + 1) * args.batch} entries")
        wall1, me1, pg1 = time.perf_counter(), time.process_time(), backend_cpu_s(pid)
        with engine.connect() as c:
            c.execute(sa.text("SELECT pg_stat_force_next_flush()"))
        time.sleep(1.2)  # statistics reach the shared counters when the backend next reports
        with engine.connect() as c:
            c.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
            upd, hot = c.execute(stat).one()
            heap, total = c.execute(sa.text("SELECT pg_relation_size('followers'), "
                                            "pg_total_relation_size('followers')")).one()
        n = batches * args.batch
        figures = {"entries": n, "batch": args.batch, "followers": args.followers, "existing": args.existing,
                   "entries_per_s": round(n / (wall1 - wall0), 1),
                   "pg_us_per_entry": round(1e6 * (pg1 - pg0) / n, 1),
                   "writer_us_per_entry": round(1e6 * (me1 - me0) / n, 1),
                   "followers_updates": int(upd), "followers_hot_updates": int(hot),
                   "hot_pct": round(100 * hot / upd, 1) if upd else None,
                   "followers_heap_kb": int(heap) // 1024, "followers_total_kb": int(total) // 1024}
        db.engine().dispose()
    finally:
        drop_database(name)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
