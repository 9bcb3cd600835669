"""Handling one claimed batch: every row's checks, the frequency cap reserved at once, the calls from a
few threads, and the outcomes recorded in groups.

With one send thread a row's outcome is recorded before the next call starts, as it always was. With
more, outcomes are recorded in groups (group commit): once `GROUP_ROWS` have piled up, or the oldest has
waited `GROUP_WAIT_S`, the next sender that finds no other thread recording records them all, so a batch
of a few hundred rows costs a handful of transactions (recording about 4 rows at a time cost a third of a
worker's CPU). A kill -9 leaves the batch's unrecorded rows `sending` (the reaper reports them unknown; they
are never resent); of those, up to `GROUP_ROWS` plus one per thread may have reached WeChat.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from scrm import runtime
from scrm.db import utcnow
from scrm.outbox import cap, limiter, policy
from scrm.outbox.claim import Claimed, release
from scrm.outbox.hooks import prepare_batch
from scrm.outbox.outcome import Outcome, record_many
from scrm.outbox.send import Ready, capped, check, load_contexts, needs_place, send_ready

log = logging.getLogger(__name__)
_pool: tuple[int, int, ThreadPoolExecutor] | None = None   # (pid, threads, pool)
_pool_lock = threading.Lock()
GROUP_ROWS = 32      # outcomes recorded together by several send threads ...
GROUP_WAIT_S = 0.25  # ... or fewer, once the oldest of them has waited this long


class Sink:
    """Outcomes waiting to be recorded; a sender that finds the writer free records all of them."""

    def __init__(self, worker: str, group: int = 1, wait: float = GROUP_WAIT_S) -> None:
        self.worker = worker
        self.group = group   # outcomes to pile up before they are recorded (1: each at once)
        self.wait = wait
        self._pending: list[tuple[Claimed, Outcome]] = []
        self._since = 0.0                  # when the oldest queued outcome came
        self._lock = threading.Lock()      # guards _pending and _since
        self._writer = threading.Lock()    # one recording transaction at a time

    def add(self, row: Claimed, outcome: Outcome, *, write: bool = True) -> None:
        """Queue one outcome; with `write`, record the queue if a group is due and no other thread is recording."""
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._since = now
            self._pending.append((row, outcome))
            due = len(self._pending) >= self.group or now - self._since >= self.wait
        if write and due and self._writer.acquire(blocking=False):
            try:
                self._drain(everything=False)
            except Exception:   # kept queued: flush() at the end of the batch tries again, and raises
                log.exception("worker %s: recording outcomes failed; will retry at the end of the batch",
                              self.worker)
            finally:
                self._writer.release()

    def flush(self) -> None:
        """Record everything still queued (raises if the database refuses)."""
        with self._writer:
            self._drain()

    def _drain(self, everything: bool = True) -> None:
        while True:
            with self._lock:
                batch = list(self._pending)
                due = len(batch) >= self.group or time.monotonic() - self._since >= self.wait
            if not batch or not (everything or due):
                return
            record_many(batch, self.worker)
            with self._lock:   # only the writer removes, and others only append: the head is `batch`
                del self._pending[:len(batch)]
                self._since = time.monotonic()   # what came meanwhile waits from now on


def _executor(threads: int) -> ThreadPoolExecutor:
    """This process's pool of send threads (a forked child builds its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != threads:
            _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="scrm-send"))
        return _pool[2]


def handle(rows: list[Claimed], name: str, stop: threading.Event, lease: timedelta, threads: int = 1) -> int:
    """Check, send and record `rows` (claimed by `name`, in id order); return how many were handled.

    Only a follower's first row of the batch is handled: the others go back to `pending` for the next
    round, so a follower's messages keep their order and each row's checks see the previous outcome
    (window count, unsubscribe, cap), exactly as one by one. Rows not started by the end of the lease go
    back too. A failure before a row's call (a bug in a guard or renderer, the database or Redis down)
    releases that row and every row not started yet, records what was done, and is raised again.
    """
    seen: set[int] = set()
    later: list[Claimed] = []
    first: list[Claimed] = []
    for row in rows:
        if row.follower_id is not None and row.follower_id in seen:
            later.append(row)
        else:
            if row.follower_id is not None:
                seen.add(row.follower_id)
            first.append(row)
    release(later, name)
    _handle(first, name, stop, lease, threads)
    return len(first)


def _handle(rows: list[Claimed], name: str, stop: threading.Event, lease: timedelta, threads: int) -> None:
    sink = Sink(name, group=GROUP_ROWS if threads > 1 and len(rows) > 1 else 1)
    decided: set[int] = set()   # rows whose outcome is known before any call
    unsent: list[Claimed] = []
    failure: list[BaseException] = []
    ready: list[Ready] = []
    try:
        prepare_batch(rows)
        contexts = load_contexts(rows)
        now = utcnow()
        for i, row in enumerate(rows):
            try:
                checked = check(row, contexts[row.id], now)
            except Exception as exc:
                log.exception("delivery %s: could not be handled; released with the rest", row.id)
                failure.append(exc)
                unsent.extend(rows[i:])
                break
            if isinstance(checked, Outcome):
                decided.add(row.id)
                sink.add(row, checked, write=False)
            else:
                ready.append(checked)
        granted = cap.reserve_many([(r.row.id, int(r.row.follower_id or 0)) for r in ready if needs_place(r)], now)
    except Exception:
        try:
            sink.flush()
        finally:
            release([row for row in rows if row.id not in decided], name)
        raise
    to_send: list[Ready] = []
    for r in ready:
        if needs_place(r) and r.row.id not in granted:
            sink.add(r.row, capped(), write=False)
        else:
            to_send.append(r)
    unsent.extend(_send_all(to_send, sink, stop, lease, threads, failure))
    try:
        sink.flush()
    finally:
        released = release(unsent, name)
    if released:
        log.info("worker %s: %d rows not started, back to pending", name, released)
    if failure:
        raise failure[0]


def _send_all(ready: list[Ready], sink: Sink, stop: threading.Event, lease: timedelta, threads: int,
              failure: list[BaseException]) -> list[Claimed]:
    """Send the rows (on `threads` threads); return those not started."""
    abort = threading.Event()
    lock = threading.Lock()
    unsent: list[Claimed] = []
    pauses = policy.PauseView((r.row.account_id, r.choice.channel.value) for r in ready
                              if r.choice.channel is not None) if ready else None
    outbox = runtime.get().settings.outbox
    per_account = Counter(r.row.account_id for r in ready)
    slots = {a: limiter.Slots(limiter.account_limiter_name(a), outbox.rate_per_second, outbox.burst, n)
             for a, n in per_account.items()}

    def one(r: Ready) -> None:
        deadline = r.row.claimed_at + lease

        def give_up(deadline: datetime = deadline) -> bool:
            # Stop waiting for a rate slot when asked to, or before the reaper could take the row.
            return stop.is_set() or utcnow() > deadline

        if abort.is_set() or give_up():
            with lock:
                unsent.append(r.row)
            return
        try:
            outcome = send_ready(r, should_stop=give_up, pauses=pauses, slots=slots[r.row.account_id])
        except Exception as exc:
            # Anything escaping send_ready happened before a request went out: the row is safe to retry.
            log.exception("delivery %s: could not be handled; released", r.row.id)
            abort.set()
            with lock:
                failure.append(exc)
                unsent.append(r.row)
            return
        sink.add(r.row, outcome)

    if threads <= 1 or len(ready) <= 1:
        for r in ready:
            one(r)
    else:
        list(_executor(threads).map(one, ready))
    return unsent

