"""Customer-file import speed: N rows of a realistic dealer export (Chinese headers, a few % dirty rows)
imported with validation through the real `import_customers` path into a throw-away PostgreSQL database,
then imported again (idempotent: nothing changes), with the peak resident memory of the process.

    python bench/import.py --size 1000000          # the issue's target: under 90 s, under 500 MB
    python bench/import.py --size 100000 --profile # cProfile of the first import, top functions on stderr

Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import pstats
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.pgdb import drop_database, prepare_database  # noqa: E402

HEADER = ["客户编号", "姓名", "手机号码", "性别", "生日", "城市", "车架号", "车牌号", "品牌", "车型", "购车日期",
          "行驶里程", "上次保养日期"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华晨欣怡子涵浩宇俊杰思远婷雪梅建国志强"
CITIES = ["上海", "苏州", "杭州", "南京", "无锡", "宁波", "嘉兴", "南通"]
MODELS = [("大众", "帕萨特"), ("大众", "途观L"), ("大众", "朗逸"), ("大众", "ID.4 CROZZ"), ("大众", "迈腾"),
          ("斯柯达", "明锐"), ("奥迪", "A4L")]
PROVINCES = "沪苏浙皖"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def log(msg: str) -> None:
    print(f"[import-bench] {msg}", file=sys.stderr, flush=True)


def _vin(rng: random.Random) -> str:
    from scrm.services.normalize import vin_check_digit

    body = "LSV" + "".join(rng.choice(VIN_CHARS) for _ in range(14))
    return body[:8] + vin_check_digit(body[:8] + "0" + body[9:]) + body[9:]


def _date_text(rng: random.Random, day: date) -> str:
    """Dates as dealers write them: ISO, slashes, Chinese, compact."""
    style = rng.random()
    if style < 0.6:
        return day.isoformat()
    if style < 0.8:
        return f"{day.year}/{day.month}/{day.day}"
    if style < 0.9:
        return f"{day.year}年{day.month}月{day.day}日"
    return day.strftime("%Y%m%d")


def write_csv(path: Path, size: int, dirty: float, seed: int = 7) -> int:
    """Write `size` rows (about `dirty` of them with one bad value); return how many are dirty."""
    rng = random.Random(seed)
    today = date(2026, 6, 1)
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for n in range(size):
            owner = rng.random() < 0.8
            brand, model = rng.choice(MODELS)
            bought = today - timedelta(days=rng.randrange(30, 3650))
            serviced = bought + timedelta(days=rng.randrange(0, max(1, (today - bought).days)))
            row = [f"C{n:08d}", rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
                   f"1{rng.choice('3456789')}{n:09d}"[:11] if n < 10**9 else "", rng.choice(("男", "女", "")),
                   _date_text(rng, date(1960, 1, 1) + timedelta(days=rng.randrange(15000))) if rng.random() < 0.5
                   else "", rng.choice(CITIES),
                   _vin(rng) if owner else "",
                   (rng.choice(PROVINCES) + rng.choice("ABCDE") + "".join(rng.choice(PLATE_LETTERS + "0123456789")
                                                                          for _ in range(5))) if owner else "",
                   brand if owner else "", model if owner else "", _date_text(rng, bought) if owner else "",
                   f"{rng.randrange(100, 200000):,}" if owner else "", _date_text(rng, serviced) if owner else ""]
            row[2] = f"1{rng.choice('3456789')}{n % 10**9:09d}"
            if rng.random() < dirty:
                bad += 1
                kind = rng.randrange(3)
                if kind == 0:
                    row[2] = row[2][:7]                      # a mobile missing digits
                elif kind == 1:
                    row[6] = _vin(rng)[:8] + "Z" + _vin(rng)[9:] if owner else "LSV123"   # a VIN failing its check
                else:
                    row[4] = "2023-02-30"                    # no such day
            writer.writerow(row)
    return bad


def _progress_logger(label: str, size: int, step: int, mark: float) -> Any:
    """A progress callback that logs every `step` rows."""
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        before, done = done, done + n
        if before // step != done // step:
            rate = done / max(time.perf_counter() - mark, 1e-9)
            log(f"{label}: {done}/{size} rows, {rate:,.0f} rows/s, rss {peak_rss_mb():.0f} MB")

    return progress


def _cpu() -> float:
    """CPU seconds of this process (the machine may be shared: wall time alone misleads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _children_cpu() -> float:
    """CPU seconds of the ended child processes (the import's parsing process on big files)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _postgres_cpu(pids: dict[int, float]) -> float:
    """CPU seconds used by the bench database's PostgreSQL backends since `pids` (pid -> CPU seconds) was
    filled; `pids` is updated. A backend that ended in between is not counted (the pool keeps them open)."""
    from scrm import db

    current = db.session.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
    used = 0.0
    for (pid,) in current.all():
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        used += seconds - pids.get(pid, 0.0)
        pids[pid] = seconds
    db.session.remove()
    return used


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="scrm-import-bench-"))
    path = workdir / "客户导出.csv"
    started = time.perf_counter()
    dirty = write_csv(path, args.size, args.dirty)
    log(f"wrote {args.size} rows ({dirty} dirty, {path.stat().st_size / 1e6:.1f} MB) in "
        f"{time.perf_counter() - started:.1f} s")
    name = f"scrm_bench_import_{uuid.uuid4().hex[:8]}"
    url = prepare_database(name)
    try:
        from scrm import create_app, db
        from scrm.config import settings_from_dict
        from scrm.models import Account, Dealer
        from scrm.services.imports import import_customers

        settings = settings_from_dict({
            "app": {"secret_key": "bench-secret-key-0123456789", "import_dir": str(workdir)},
            "database": {"url": url}, "redis": {"url": "memory://import-bench"},
            "accounts": {"bench": {"name": "压测品牌", "app_id": "wxbench000000009", "app_secret": "x",
                                   "token": "benchtoken"}}})
        app = create_app(settings)
        with app.app_context():
            with db.transaction() as s:
                account = s.scalars(sa.select(Account).where(Account.slug == "bench")).first()
                if account is None:
                    account = Account(slug="bench", name="压测品牌", app_id="wxbench000000009")
                    s.add(account)
                    s.flush()
                dealer = Dealer(account_id=account.id, code="BENCH", name="压测4S店")
                s.add(dealer)
            figures: dict[str, Any] = {"rows": args.size}
            for label in ("import",) if args.no_reimport else ("import", "reimport"):
                step = max(args.size // 10, 1)
                mark = time.perf_counter()

                progress = _progress_logger(label, args.size, step, mark)
                profiler = cProfile.Profile(time.process_time) if args.profile and label == "import" else None
                backends: dict[int, float] = {}
                _postgres_cpu(backends)
                t0, cpu0, child0 = time.perf_counter(), _cpu(), _children_cpu()
                if profiler:
                    profiler.enable()
                summary = import_customers(path, dealer=dealer, report_path=workdir / f"{label}.rejected.csv",
                                           progress=progress)
                if profiler:
                    profiler.disable()
                seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
                child_cpu, pg_cpu = _children_cpu() - child0, _postgres_cpu(backends)
                log(f"{label}: {seconds:.1f} s — created {summary.created}, updated {summary.updated}, "
                    f"unchanged {summary.unchanged}, rejected {summary.rejected}")
                if profiler:
                    out = io.StringIO()
                    stats = pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("BENCH_SORT", "cumulative"))
                    stats.print_stats(int(os.environ.get("BENCH_TOP", "35")))
                    print(out.getvalue(), file=sys.stderr)
                if label == "import":
                    figures.update(seconds=round(seconds, 2), rows_per_s=round(args.size / seconds),
                                   rejected=summary.rejected, created=summary.created, cpu_seconds=round(cpu, 2),
                                   parser_cpu_seconds=round(child_cpu, 2), postgres_cpu_seconds=round(pg_cpu, 2))
                else:
                    figures.update(reimport_seconds=round(seconds, 2), reimport_cpu_seconds=round(cpu, 2),
                                   reimport_rows_per_s=round(args.size / seconds),
                                   reimport_changed=summary.created + summary.updated,
                                   reimport_parser_cpu_seconds=round(child_cpu, 2),
                                   reimport_postgres_cpu_seconds=round(pg_cpu, 2))
            db.session.remove()
            db.engine().dispose()
        figures["peak_rss_mb"] = round(peak_rss_mb())
        figures["parser_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        figures["dirty_rows_written"] = dirty
        return figures
    finally:
        drop_database(name)
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20000, help="rows in the generated file")
    parser.add_argument("--dirty", type=float, default=0.03, help="share of rows with one bad value")
    parser.add_argument("--profile", action="store_true", help="cProfile the first import (slower)")
    parser.add_argument("--no-reimport", action="store_true", help="stop after the first import (for profiling)")
    figures = run(parser.parse_args())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
