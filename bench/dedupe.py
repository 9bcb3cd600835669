"""Duplicate detection at scale: N customers of one dealer with planted duplicates, then one detection run.

Customers and vehicles are written with COPY into a throw-away PostgreSQL database (migrated with
alembic), about 3 % of them planted duplicates of three kinds: a homophone name with the same plate
(张伟 / 章伟), the same name with a mobile one typo away (a digit changed or two swapped), and the same
name with the same birthday. Then `scrm.services.duplicates.detect` runs once (blocking in SQL, scoring
in Python, upsert of the pairs) and the planted pairs are looked up among the pairs it stored.

    python bench/dedupe.py --size 1000000

Prints progress lines, then one JSON line: customers, pairs, seconds (detection only), customers_per_s,
planted_found_pct, rss_mb (peak resident memory of the detecting process; the rows are generated in a child).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import random
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.pgdb import drop_database, prepare_database  # noqa: E402

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉玲燕飞红建国波宁琳晶斌俊峰浩凯佳雪梅婷慧颖海龙"
# one character swapped for another with the same tone-less pinyin (a typical typing slip in an IME)
HOMOPHONES = {"伟": "玮", "张": "章", "丽": "莉", "静": "婧", "杰": "洁", "明": "鸣", "华": "桦", "芳": "方",
              "强": "墙", "磊": "垒", "洋": "阳", "艳": "燕", "勇": "永", "涛": "韬", "娜": "那", "英": "鹰",
              "斌": "彬", "林": "琳", "刚": "钢", "军": "君", "平": "萍", "红": "宏", "波": "博", "峰": "锋",
              "王": "汪", "李": "里", "刘": "留", "陈": "晨", "杨": "洋", "黄": "皇", "吴": "武", "周": "舟"}
CITIES = ["上海", "苏州", "杭州", "南京", "无锡", "宁波", "嘉兴", "常州"]
PROVINCE_LETTERS = "沪苏浙"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def log(msg: str) -> None:
    print(f"[dedupe-bench] {msg}", flush=True)


def typo(mobile: str, rng: random.Random) -> str:
    """The mobile with one digit changed or two neighbours swapped (never the first two digits)."""
    digits = list(mobile)
    i = rng.randrange(2, 10)
    if rng.random() < 0.5 and digits[i] != digits[i + 1]:
        digits[i], digits[i + 1] = digits[i + 1], digits[i]
    else:
        digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
    return "".join(digits)


def homophone(name: str, rng: random.Random) -> str | None:
    """The name with one character replaced by a homophone (None when no character has one)."""
    spots = [i for i, ch in enumerate(name) if ch in HOMOPHONES]
    if not spots:
        return None
    i = rng.choice(spots)
    return name[:i] + HOMOPHONES[name[i]] + name[i + 1:]


def generate(n: int, seed: int) -> tuple[list[tuple], list[tuple], set[tuple[int, int]]]:
    """Customers (id, name, mobile, birthday, city), vehicles (customer_id, plate) and the planted pairs."""
    rng = random.Random(seed)
    planted_n = n * 3 // 100
    base_n = n - planted_n
    mobiles = [str(m) for m in rng.sample(range(13_000_000_000, 19_999_999_999), base_n)]
    used = set(mobiles)
    plates = rng.sample(range(3 * 24 * 10 ** 5), min(base_n, 3 * 24 * 10 ** 5))
    customers: list[tuple] = []
    vehicles: list[tuple] = []
    plate_of: dict[int, str] = {}
    start = date(1950, 1, 1)
    for i in range(base_n):
        cid = i + 1
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.6 else "")
        birthday = start + timedelta(days=rng.randrange(20_000)) if rng.random() < 0.7 else None
        customers.append((cid, name, mobiles[i], birthday, rng.choice(CITIES)))
        if rng.random() < 0.8:
            p = plates[i % len(plates)]
            plate = f"{PROVINCE_LETTERS[p % 3]}{PLATE_LETTERS[(p // 3) % 24]}{(p // 72) % 100000:05d}"
            plate_of[cid] = plate
            vehicles.append((cid, plate))
    planted: set[tuple[int, int]] = set()
    next_id = base_n + 1
    while len(planted) < planted_n:
        orig = customers[rng.randrange(base_n)]
        kind = len(planted) % 3
        cid, name, mobile, birthday, city = orig
        if kind == 0:  # homophone name, same plate, own mobile
            other = homophone(name, rng)
            if other is None or cid not in plate_of:
                continue
            new_mobile = str(rng.randrange(13_000_000_000, 19_999_999_999))
            row = (next_id, other, new_mobile, None, city)
            vehicles.append((next_id, plate_of[cid]))
        elif kind == 1:  # same name, mobile typo
            new_mobile = typo(mobile, rng)
            row = (next_id, name, new_mobile, None, city)
        else:  # same name and birthday, own mobile
            if birthday is None:
                continue
            new_mobile = str(rng.randrange(13_000_000_000, 19_999_999_999))
            row = (next_id, name, new_mobile, birthday, rng.choice(CITIES))
        if new_mobile in used or (cid, next_id) in planted:
            continue
        used.add(new_mobile)
        customers.append(row)
        planted.add((cid, next_id))
        next_id += 1
    return customers, vehicles, planted


def load(url: str, customers: list[tuple], vehicles: list[tuple]) -> int:
    """COPY the rows in; returns the dealer id."""
    eng = sa.create_engine(url)
    with eng.begin() as c:
        acc = c.execute(sa.text("INSERT INTO accounts (slug, name, app_id, created_at) VALUES "
                                "('bench', 'bench', 'wxbenchdedupe001', now()) RETURNING id")).scalar_one()
        dealer = c.execute(sa.text(
            "INSERT INTO dealers (account_id, code, name, city, address, phone, timezone, welcome_text, active, "
            "created_at) VALUES (:a, 'BENCH', '压测店', '上海', '', '', 'Asia/Shanghai', '', true, now()) "
            "RETURNING id"),
            {"a": acc}).scalar_one()
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        columns = "id, account_id, dealer_id, name, mobile, birthday, city, stage, tags, created_at, updated_at"
        with cur.copy(f"COPY customers ({columns}) FROM STDIN") as cp:  # type: ignore[attr-defined]
            for cid, name, mobile, birthday, city in customers:
                cp.write_row((cid, acc, dealer, name, mobile, birthday, city, "owner", "[]", "2024-01-01T00:00:00Z",
                              "2024-01-01T00:00:00Z"))
        with cur.copy("COPY vehicles (account_id, dealer_id, customer_id, plate, created_at, updated_at) "  # type: ignore[attr-defined]
                      "FROM STDIN") as cp:
            for cid, plate in vehicles:
                cp.write_row((acc, dealer, cid, plate, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"))
        cur.execute("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))")
        raw.commit()
        cur.execute("ANALYZE customers")
        cur.execute("ANALYZE vehicles")
        raw.commit()
    finally:
        raw.close()
    eng.dispose()
    return int(dealer)


@contextlib.contextmanager
def mock_runtime() -> Iterator[None]:
    """The report reads the time zone from the runtime settings; give it a minimal stand-in."""
    from zoneinfo import ZoneInfo

    from scrm import runtime

    saved = runtime._runtime
    settings = SimpleNamespace(app=SimpleNamespace(tz=ZoneInfo("Asia/Shanghai")))
    runtime._runtime = SimpleNamespace(settings=settings)  # type: ignore[assignment]
    try:
        yield
    finally:
        runtime._runtime = saved


def prepare(url: str, size: int, seed: int) -> tuple[int, set[tuple[int, int]]]:
    """Generate the rows and COPY them in (runs in a child process); the dealer id and the planted pairs."""
    t0 = time.perf_counter()
    customers, vehicles, planted = generate(size, seed)
    log(f"generated {len(customers)} customers, {len(vehicles)} vehicles, {len(planted)} planted pairs "
        f"in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    dealer = load(url, customers, vehicles)
    log(f"loaded with COPY in {time.perf_counter() - t0:.1f}s")
    return dealer, planted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=20_000, help="customers to generate (default 20000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = ap.parse_args()
    name = f"scrm_bench_dedupe_{uuid.uuid4().hex[:8]}"
    log(f"database {name}")
    url = prepare_database(name)
    try:
        # generate and COPY in a child process, so that rss_mb is the detection's own footprint
        with multiprocessing.get_context("fork").Pool(1) as pool:
            dealer, planted = pool.apply(prepare, (url, args.size, args.seed))
        from scrm import db
        from scrm.models import DuplicatePair
        from scrm.services import duplicates

        db.init_engine(url)
        result = duplicates.detect(dealer, progress=lambda msg: log(f"  {msg}"))
        found = {tuple(r) for r in db.session.execute(sa.select(DuplicatePair.first_id, DuplicatePair.second_id))}
        hit = len(planted & found)
        from scrm.services import quality

        with mock_runtime():
            t0 = time.perf_counter()
            quality.compute(dealer)
            report_seconds = time.perf_counter() - t0
        log(f"quality report computed in {report_seconds:.1f}s")
        log(f"detection: {result.summary()}")
        figures = {"customers": result.customers, "pairs": result.pairs, "seconds": round(result.seconds, 2),
                   "customers_per_s": round(result.customers / result.seconds) if result.seconds else None,
                   "planted_found_pct": round(100.0 * hit / len(planted), 2) if planted else None,
                   "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                   "report_seconds": round(report_seconds, 2)}
        db.session.remove()
        db.engine().dispose()
    finally:
        if not args.keep:
            drop_database(name)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
