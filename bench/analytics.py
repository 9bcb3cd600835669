"""Analytics at scale on PostgreSQL: the nightly scoring and aggregation, and every dashboard figure.

In a throw-away database (bench/pgdb.py) filled by bench/analytics_data.py with `--size` customers and
their history (vehicles, repair orders, followers, bindings, bookings, points, campaigns, clicks, messages):
  (1) generation time;
  (2) analytics_scores.score_all, analytics_agg.refresh over 35 days and over 3 years,
      lead_scoring.score_all, task_rules.run_rules (a first night), then the whole analytics_nightly.run as
      of the next day (a night like any other), each timed;
      then the churn backtest as of a year ago (precision of the top 1 % and 5 % and of the HIGH band);
  (3) every public function of analytics_figures with a brand-admin and a dealer-manager scope over 30 and
      365 days: one warm-up, then `--runs` timed calls; p50 and p99 of the worst combination per figure;
  (4) the churn drill-down (first page, band high).
A step that fails is reported as null with a note; the run goes on.

    python bench/analytics.py --size 1000000

Progress goes to stderr; ends with one JSON line of figures on stdout.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from analytics_data import generate  # noqa: E402
from pgdb import database_url, drop_database, prepare_database  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _settings(url: str) -> dict[str, Any]:
    return {"app": {"secret_key": "bench-secret-key-0123456789", "public_url": "http://127.0.0.1:9",
                    "timezone": "Asia/Shanghai"},
            "database": {"url": url}, "redis": {"url": "memory://bench"},
            "accounts": {"bench": {"name": "基准品牌", "app_id": "wxbenchanalytic1", "app_secret": "benchsecret",
                                   "token": "benchtoken"}}}


def _pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


def _note(notes: dict[str, str], key: str, exc: BaseException) -> None:
    notes[key] = "not implemented yet" if isinstance(exc, NotImplementedError) else f"{type(exc).__name__}: {exc}"
    log(f"{key}: {notes[key][:300]}")


def _timed(key: str, fn: Callable[[], Any], notes: dict[str, str]) -> tuple[float | None, Any]:
    """Run `fn` once; (seconds, result), or (None, None) with a note when it raised."""
    from scrm import db

    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # a step being written must not stop the bench
        db.session.remove()
        _note(notes, key, exc)
        return None, None
    secs = time.perf_counter() - t0
    log(f"{key}: {secs:.2f} s -> {out!r:.200}")
    return round(secs, 2), out


def _in_tx(fn: Callable[[Any], Any]) -> Callable[[], Any]:
    def run() -> Any:
        from scrm import db

        with db.transaction() as s:
            return fn(s)
    return run


def _steps(acc: int, today: date, out: dict[str, Any], notes: dict[str, str]) -> None:
    """(2): the nightly steps one by one, then the whole nightly run."""
    from scrm import db
    from scrm.services import analytics_agg, analytics_nightly, analytics_scores, lead_scoring, task_rules

    now = db.utcnow()
    plan: list[tuple[str, Callable[[Any], Any]]] = [
        ("scores_s", lambda s: analytics_scores.score_all(s, acc, today)),
        ("aggregates_35d_s", lambda s: analytics_agg.refresh(s, acc, today - timedelta(days=35), today)),
        ("aggregates_full_s", lambda s: analytics_agg.refresh(s, acc, today - timedelta(days=3 * 365), today)),
        ("leads_s", lambda s: lead_scoring.score_all(s, acc, now)),
        ("tasks_s", lambda s: task_rules.run_rules(s, acc, today)),
    ]
    for key, fn in plan:
        secs, rows = _timed(key, _in_tx(fn), notes)
        out[key] = secs
        if secs is not None:
            out[key.removesuffix("_s") + "_rows"] = sum(rows.values()) if isinstance(rows, dict) else rows
    # the whole run as the scheduler makes it the next night: a day later, over the rows the steps above wrote
    # (as on any night but the first), with every window one day further on
    secs, results = _timed("nightly_s", lambda: analytics_nightly.run(
        acc, today=today + timedelta(days=1), now=now + timedelta(days=1)), notes)
    out["nightly_s"] = secs
    for r in results or []:
        out[f"nightly_{r.step}_s"] = r.seconds if not r.error else None
        if r.error:
            notes[f"nightly_{r.step}"] = r.error[:300]


def _backtest(acc: int, today: date, size: int, out: dict[str, Any], notes: dict[str, str]) -> None:
    """The churn backtest as of a year ago over the year since: precision of the top 1 % and 5 % and the HIGH band."""
    from scrm.services import analytics_backtest

    ks = [max(1, size // 100), max(1, size // 20)]
    secs, bt = _timed("backtest_s", _in_tx(lambda s: analytics_backtest.run(
        s, acc, today - timedelta(days=365), 365, ks, today)), notes)
    out["backtest_s"] = secs
    if bt is not None:
        out["backtest_evaluated"], out["backtest_base_rate"] = bt.evaluated, round(bt.base_rate, 4)
        for r in bt.rows:
            out[f"backtest_precision_{r.label}".replace(" ", "_").lower()] = round(r.precision, 4)


def _scopes(acc: int) -> dict[str, Any]:
    from scrm import db
    from scrm.models import Role
    from scrm.services.scope import Scope

    dealer = int(db.session.scalar(sa.text("SELECT min(id) FROM dealers WHERE account_id = :a"), {"a": acc}))
    db.session.remove()
    return {"brand": Scope(account_id=acc, dealer_id=None, role=Role.BRAND_ADMIN),
            "dealer": Scope(account_id=acc, dealer_id=dealer, role=Role.DEALER_MANAGER)}


def _time_calls(fn: Callable[[], Any], runs: int) -> list[float]:
    from scrm import db

    fn()                                      # warm-up
    db.session.remove()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
        db.session.remove()
    return times


def _figures(acc: int, today: date, runs: int, out: dict[str, Any], notes: dict[str, str]) -> None:
    """(3): every dashboard figure, per scope and period; the worst combination's p50/p99 per figure."""
    from scrm import db
    from scrm.services import analytics_figures
    from scrm.services.analytics_common import Period

    figures = [(name, fn) for name, fn in inspect.getmembers(analytics_figures, inspect.isfunction)
               if not name.startswith("_") and list(inspect.signature(fn).parameters) == ["scope", "period"]]
    detail: dict[str, dict[str, float]] = {}
    for name, fn in figures:
        worst: list[float] | None = None
        for scope_name, scope in _scopes(acc).items():
            for days in (30, 365):
                period = Period.last_days(days, today)
                try:
                    times = _time_calls(functools.partial(fn, scope, period), runs)
                except Exception as exc:
                    db.session.remove()
                    _note(notes, name, exc)
                    worst = None
                    break
                combo = f"{scope_name}_{days}d"
                detail.setdefault(name, {})[combo + "_p99_ms"] = round(_pct(times, 99), 1)
                if worst is None or _pct(times, 99) > _pct(worst, 99):
                    worst = times
            if name in notes:
                break
        out[f"{name}_p50_ms"] = round(_pct(worst, 50), 1) if worst else None
        out[f"{name}_p99_ms"] = round(_pct(worst, 99), 1) if worst else None
        if worst:
            log(f"figure {name}: p50 {out[f'{name}_p50_ms']} ms, p99 {out[f'{name}_p99_ms']} ms (worst of 4)")
    out["figures_detail_ms"] = detail


def _churn_list(acc: int, runs: int, out: dict[str, Any], notes: dict[str, str]) -> None:
    """(4): the churn drill-down's first page of high-risk owners, for a dealer manager."""
    from scrm.models import ChurnBand

    out["churn_list_p50_ms"] = out["churn_list_p99_ms"] = None
    try:
        from scrm.services import churn_list

        flt = churn_list.ChurnFilter(band=ChurnBand.HIGH)
        scope = _scopes(acc)["dealer"]
        times = _time_calls(lambda: churn_list.list_page(scope, flt, 1), runs)
    except Exception as exc:  # the drill-down may not be written yet
        _note(notes, "churn_list", exc)
        return
    out["churn_list_p50_ms"], out["churn_list_p99_ms"] = round(_pct(times, 50), 1), round(_pct(times, 99), 1)
    log(f"churn list: p50 {out['churn_list_p50_ms']} ms, p99 {out['churn_list_p99_ms']} ms")


def _run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from scrm.services.accounts import account_id, sync_accounts

    sync_accounts()
    acc = account_id("bench")
    today = date.today()
    out: dict[str, Any] = {"customers": args.size}
    notes: dict[str, str] = {}
    if args.reuse_db:
        log(f"reusing database {args.reuse_db} as generated (its figures of a first night no longer hold)")
    else:
        t0 = time.perf_counter()
        counts = generate(url, acc, args.size, today, seed=args.seed, log=log)
        out["generate_s"] = round(time.perf_counter() - t0, 2)
        out["rows"] = counts
        log(f"generated in {out['generate_s']} s: {counts}")
    if args.only_generate:
        return out
    _steps(acc, today, out, notes)
    _backtest(acc, today, args.size, out, notes)
    _figures(acc, today, args.runs, out, notes)
    _churn_list(acc, args.runs, out, notes)
    out["notes"] = notes
    out["runs"] = args.runs
    out["load_avg_1m"] = round(os.getloadavg()[0], 2)
    out["cpu_count"] = os.cpu_count()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--size", type=int, default=20000, help="customers (the goal is 1,000,000)")
    ap.add_argument("--runs", type=int, default=20, help="timed calls per figure, scope and period")
    ap.add_argument("--seed", type=float, default=0.42, help="PostgreSQL setseed value (-1 to 1)")
    ap.add_argument("--keep-db", action="store_true", help="keep the database afterwards and print its name")
    ap.add_argument("--reuse-db", metavar="NAME", help="run against a database kept earlier (no generation)")
    ap.add_argument("--only-generate", action="store_true", help="generate, then stop (with --keep-db)")
    args = ap.parse_args()

    name = args.reuse_db or f"scrm_bench_analytics_{uuid.uuid4().hex[:8]}"
    keep = args.keep_db or bool(args.reuse_db)
    try:
        url = database_url(name) if args.reuse_db else prepare_database(name)
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
        if keep:
            log(f"database kept: {name} (drop it with: dropdb -h 127.0.0.1 -U postgres {name})")
        else:
            drop_database(name)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
