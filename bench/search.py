"""Staff search at scale: the real customer-list path (customer_admin.list_customers) over N generated customers.

Generates N customers with `scrm demo-data`'s generator into a throw-away PostgreSQL database, then times
lookups by mobile, last 4 digits of the mobile, plate, VIN and name prefix, and a filtered list page
(stage + model), each for a dealer manager's scope and for a brand admin's scope (the whole account).

    python bench/search.py --size 1000000 --samples 200 [--explain]

Ends with one JSON line of figures (p50 and p99 per kind over both scopes, in milliseconds).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("SCRM_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
KINDS = ("mobile", "last4", "plate", "vin", "name_prefix", "list_page")


def _admin(sql: str) -> None:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(sql))
    admin.dispose()


def _app(url: str) -> Any:
    from scrm import create_app
    from scrm.config import settings_from_dict

    settings = settings_from_dict({
        "app": {"secret_key": "bench-secret-key-0123456789", "public_url": "http://127.0.0.1:9"},
        "database": {"url": url}, "redis": {"url": "memory://bench"},
        "accounts": {"bench": {"name": "基准品牌", "app_id": "wxbench000000009", "app_secret": "benchsecret",
                               "token": "benchtoken"}},
    })
    return create_app(settings)


def _samples(n: int, rng: random.Random) -> list[dict[str, Any]]:
    """`n` random customers with a mobile and a vehicle: what staff would type, and whose scope."""
    from scrm import db

    top = int(db.session.scalar(sa.text("SELECT max(id) FROM customers")) or 0)
    out: list[dict[str, Any]] = []
    while len(out) < n:
        ids = [rng.randint(1, top) for _ in range(n * 3)]
        rows = db.session.execute(sa.text(
            "SELECT c.id, c.dealer_id, c.mobile, c.name, v.plate, v.vin, v.model FROM customers c "
            "JOIN vehicles v ON v.customer_id = c.id WHERE c.id = ANY(:ids) AND c.mobile IS NOT NULL "
            "AND v.vin IS NOT NULL"), {"ids": ids}).mappings().all()
        out.extend(dict(r) for r in rows)
    return out[:n]


def _query(kind: str, s: dict[str, Any]) -> dict[str, Any]:
    return {"mobile": {"q": s["mobile"]}, "last4": {"q": s["mobile"][-4:]}, "plate": {"q": s["plate"]},
            "vin": {"q": s["vin"]}, "name_prefix": {"q": s["name"][:2]},
            "list_page": {"stage": "owner", "model": s["model"]}}[kind]


def _explain(scope: Any, flt: Any) -> str:
    """EXPLAIN ANALYZE of the main list query, as list_customers builds it."""
    from scrm import db
    from scrm.services import customer_admin as svc

    stmt = svc.list_statement(scope, flt, None, svc.PER_PAGE)
    compiled = stmt.compile(db.engine(), compile_kwargs={"literal_binds": True})
    rows = db.session.execute(sa.text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars()
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of one query of each kind")
    ap.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    args = ap.parse_args()

    name = f"scrm_bench_search_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        from scrm.migrate import upgrade

        upgrade(url)
        app = _app(url)
        with app.app_context():
            figures = _run(args)
    finally:
        from scrm import db

        db.session.remove()
        if db._engine is not None:
            db._engine.dispose()
        if args.keep:
            print(f"kept {url}", file=sys.stderr)
        else:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(json.dumps(figures))


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from scrm import db
    from scrm.models import Role
    from scrm.services import customer_admin as svc
    from scrm.services.demo_run import Options, generate
    from scrm.services.scope import Scope

    started = time.monotonic()
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 5 or done == total:
            last[0] = time.monotonic()
            print(f"generated {done}/{total} customers ({time.monotonic() - started:.0f} s)", file=sys.stderr)

    summary = generate(Options(customers=args.size, seed=args.seed, batch_size=10000), progress)
    generate_s = time.monotonic() - started
    print(f"generated in {generate_s:.1f} s: {json.dumps(summary['rows'])}", file=sys.stderr)
    with db.engine().begin() as c:
        c.execute(sa.text("ANALYZE"))
    account_id = int(db.session.scalar(sa.text("SELECT id FROM accounts WHERE slug = 'bench'")) or 0)
    rng = random.Random(args.seed)
    samples = _samples(args.samples, rng)
    brand = Scope(account_id=account_id, dealer_id=None, role=Role.BRAND_ADMIN)
    timings: dict[str, list[float]] = {k: [] for k in KINDS}
    misses: dict[str, int] = dict.fromkeys(KINDS, 0)
    for kind in KINDS:
        for i, s in enumerate(samples):
            dealer = Scope(account_id=account_id, dealer_id=s["dealer_id"], role=Role.DEALER_MANAGER)
            for scope in (dealer, brand):
                flt = svc.CustomerFilter(**_query(kind, s))
                t0 = time.perf_counter()
                page = svc.list_customers(scope, flt)
                timings[kind].append((time.perf_counter() - t0) * 1000)
                if kind in ("mobile", "plate", "vin") and s["id"] not in {r.customer.id for r in page.rows}:
                    misses[kind] += 1
                if args.explain and i == 0:
                    print(f"--- {kind} ({'brand' if scope is brand else 'dealer'})\n{_explain(scope, flt)}",
                          file=sys.stderr)
            if i % 50 == 0:
                db.session.remove()
        ms = timings[kind]
        print(f"{kind}: p50 {_pct(ms, 50):.2f} ms  p99 {_pct(ms, 99):.2f} ms  ({len(ms)} queries)", file=sys.stderr)
    figures: dict[str, Any] = {"customers": args.size, "generate_seconds": round(generate_s, 1),
                               "generate_customers_per_s": round(args.size / generate_s)}
    for kind in KINDS:
        figures[f"{kind}_p50_ms"] = round(_pct(timings[kind], 50), 2)
        figures[f"{kind}_p99_ms"] = round(_pct(timings[kind], 99), 2)
    figures["samples_per_kind"] = len(samples) * 2
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    figures["exact_lookup_misses"] = sum(misses.values())
    return figures


def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if p < 100 else max(values)


if __name__ == "__main__":
    main()
