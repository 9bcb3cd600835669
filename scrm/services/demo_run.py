"""`scrm demo-data`: generate customers for an account (or one dealer) into the database and/or a CSV."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from scrm import db
from scrm.models import Account, Dealer
from scrm.services.demo_csv import CsvSink
from scrm.services.demo_generator import DealerSpec, GenCustomer, Generator, dealer_plan
from scrm.services.demo_writer import Writer, ensure_dealers, specs, start_numbers
from scrm.services.errors import NotFound


@dataclass(frozen=True)
class Options:
    """What to generate; `csv_only` skips the database (the CSV then needs no account)."""

    customers: int
    seed: int = 1
    account: str | None = None
    dealer: str | None = None
    duplicate_rate: float = 0.02
    bind_rate: float = 0.35
    batch_size: int = 5000
    csv: Path | None = None
    csv_only: bool = False
    dirty_rate: float = 0.05
    encoding: str = "utf-8-sig"
    today: date | None = None


def _account_id(slug: str | None) -> int:
    stmt = sa.select(Account.id).order_by(Account.id)
    if slug:
        stmt = stmt.where(Account.slug == slug)
    found = db.session.scalar(stmt)
    if found is None:
        raise NotFound()
    return int(found)


def _dealers(opts: Options, account_id: int | None, rng: random.Random) -> list[DealerSpec]:
    if account_id is None:  # CSV only: one made-up dealer
        return [DealerSpec(None, opts.dealer or "SH001", "上海浦东旗舰店", "上海")]
    with db.transaction() as s:
        if opts.dealer:
            dealer = s.scalar(sa.select(Dealer).where(Dealer.account_id == account_id, Dealer.code == opts.dealer))
            if dealer is None:
                raise NotFound()
            return specs([dealer], rng)
        return ensure_dealers(s, account_id, opts.customers, rng)


class _Background:
    """Writes batches in a thread with its own session, so PostgreSQL ingests one batch while Python makes
    the next; the queue holds at most two batches, which bounds memory."""

    def __init__(self, account_id: int) -> None:
        self.account_id = account_id
        self.counts: dict[str, int] = {}
        self.queue: queue.Queue[list[GenCustomer] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="demo-data-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        writer: Writer | None = None
        try:
            while (batch := self.queue.get()) is not None:
                if self.error is not None:
                    continue  # drain after a failure so put() never blocks
                with db.transaction() as s:
                    if db.is_postgres():
                        s.execute(sa.text("SET LOCAL synchronous_commit TO off"))  # demo data: speed over fsync
                    writer = writer or Writer(s, self.account_id)
                    writer.write(s, batch)
        except BaseException as exc:  # reported by put() / close() in the caller's thread
            self.error = exc
            while self.queue.get() is not None:
                pass
        finally:
            if writer is not None:
                self.counts = writer.counts
            db.session.remove()

    def put(self, batch: list[GenCustomer]) -> None:
        """Queue a batch (blocks while two are waiting); raises what the writer thread raised."""
        if self.error is not None:
            raise self.error
        self.queue.put(batch)

    def close(self) -> None:
        """Wait for the queued batches to be written."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


def generate(opts: Options, progress: Callable[[int, int], None] | None = None) -> dict[str, object]:
    """Generate `opts.customers` customers batch by batch; return counts (rows per table, planted, dirty)."""
    from scrm.services.accounts import sync_accounts

    started = time.monotonic()
    rng = random.Random(opts.seed)
    account_id = None
    if not opts.csv_only:
        sync_accounts()
        account_id = _account_id(opts.account)
    dealers = _dealers(opts, account_id, rng)
    start = (0, 0)
    if account_id is not None:
        start = start_numbers(db.session())
        db.session.remove()
    gen = Generator(opts.seed, opts.today or db.utcnow().date(), start=start[0], vehicle_start=start[1],
                    duplicate_rate=opts.duplicate_rate, bind_rate=opts.bind_rate)
    sink = CsvSink(opts.csv, random.Random(opts.seed + 1), opts.dirty_rate, opts.encoding) if opts.csv else None
    writer = _Background(account_id) if account_id is not None else None
    done = 0
    if sink is not None:
        sink.__enter__()
    try:
        for dealer, count in dealer_plan(dealers, opts.customers, rng):
            for batch in gen.batches(dealer, count, opts.batch_size):
                if writer is not None:
                    writer.put(batch)
                if sink is not None:
                    sink.write(batch)
                done += len(batch)
                if progress is not None:
                    progress(done, opts.customers)
    finally:
        if writer is not None:
            writer.close()
        if sink is not None:
            sink.__exit__()
        db.session.remove()
    return {"customers": done, "dealers": len(dealers), "rows": writer.counts if writer else {},
            "planted_duplicates": gen.planted, "csv_rows": sink.rows if sink else 0,
            "csv_dirty": len(sink.dirty) if sink else 0, "seconds": round(time.monotonic() - started, 1)}
