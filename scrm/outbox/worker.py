"""The worker: claim due rows, send them under the shared rate limit, record each outcome.

Many workers on many machines may run against one PostgreSQL and Redis; the claim (SKIP LOCKED,
committed before the call) makes sure no row is sent twice. On SIGTERM/SIGINT the worker finishes
the rows in progress and hands the rows it has not started back to `pending`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

from flask import current_app

from scrm import db, runtime
from scrm.config import ConfigError
from scrm.db import utcnow
from scrm.outbox import policy
from scrm.outbox.batch import handle
from scrm.outbox.claim import claim
from scrm.outbox.reaper import reap
from scrm.services.imports.jobs import reap_stale_imports, run_next_import

log = logging.getLogger(__name__)
LEASE_MARGIN = timedelta(seconds=15)     # do not start a call this close to the end of the lease
ERROR_BACKOFF_MAX = 30.0
IMPORT_CHECK_SECONDS = 1.0     # while sending inline, how often a queued import is looked for


def default_name() -> str:
    """host:pid, shown on the rows this worker claims."""
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


def _check_settings() -> None:
    try:
        policy.parse_quiet_hours(runtime.get().settings.outbox.quiet_hours)
    except ValueError as exc:
        raise ConfigError(f"[outbox] quiet_hours: {exc}") from exc


def process_batch(name: str, limit: int, stop: threading.Event) -> int:
    """Claim up to `limit` due rows, send them and record their outcomes; return how many were handled."""
    settings = runtime.get().settings.outbox
    lease = timedelta(seconds=settings.lease_seconds)
    rows = claim(limit, name)
    try:
        # A row starts no call this close to the end of its lease (the reaper could take it meanwhile).
        return handle(rows, name, stop, lease - min(LEASE_MARGIN, lease / 4), max(1, settings.send_threads)) \
            if rows else 0
    finally:
        db.session.remove()


def _run(name: str, stop: threading.Event, once: bool, max_rows: int | None = None,
         inline_imports: bool = True) -> int:
    _check_settings()
    settings = runtime.get().settings.outbox
    total, errors = 0, 0
    last_reap = utcnow()
    next_import_check = 0.0
    while not stop.is_set():
        limit = settings.batch_size if max_rows is None else min(settings.batch_size, max_rows - total)
        if limit <= 0:
            break
        try:
            claimed = process_batch(name, limit, stop)
            # At most one customer-file import per round when imports share this thread (drain, --once):
            # looked for whenever no row was due, and at most once a second while rows keep coming.
            imported = False
            if inline_imports and (claimed == 0 or time.monotonic() >= next_import_check):
                imported = run_next_import(name, stop.is_set)
                next_import_check = time.monotonic() + IMPORT_CHECK_SECONDS
            errors = 0
        except Exception:
            if once:
                raise
            errors += 1
            log.exception("worker %s: batch failed; backing off", name)
            stop.wait(min(ERROR_BACKOFF_MAX, settings.poll_seconds * 2 ** errors))
            continue
        total += claimed
        if utcnow() - last_reap > timedelta(seconds=settings.lease_seconds):
            reap()
            last_reap = utcnow()
        if claimed == 0 and not imported:
            if once:
                break
            stop.wait(settings.poll_seconds)
    return total


@contextmanager
def _signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set `stop` (main thread only; a second signal interrupts at once)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("signal %s: finishing the current row, then stopping", signum)
        stop.set()

    previous: dict[signal.Signals, Callable[[int, FrameType | None], Any] | int | None] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


def run_worker(once: bool = False, name: str | None = None, *, stop: threading.Event | None = None) -> int:
    """Send due rows until stopped (or, with `once`, until none is due); return how many were handled."""
    name = (name or default_name())[:64]
    stop = stop or threading.Event()
    with _signals(stop):
        reaped = reap()
        if reaped:
            log.warning("worker %s: %d rows left mid-send by a crashed worker marked unknown", name, reaped)
        reap_stale_imports()
        log.info("worker %s started (once=%s)", name, once)
        importer = None if once else _start_importer(name, stop)
        total = _run(name, stop, once, inline_imports=once)
        if importer is not None:
            importer.join()
    log.info("worker %s stopped after %d rows", name, total)
    return total


def _start_importer(name: str, stop: threading.Event) -> threading.Thread:
    """Customer-file imports on their own thread, so a long file never holds up message sending."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    poll = runtime.get().settings.outbox.poll_seconds

    def loop() -> None:
        while not stop.is_set():
            try:
                with app.app_context():
                    ran = run_next_import(f"{name}/imports"[:64], stop.is_set)
            except Exception:
                log.exception("worker %s: import round failed; backing off", name)
                ran = False
            finally:
                db.session.remove()
            if not ran:
                stop.wait(max(poll, 1.0))

    thread = threading.Thread(target=loop, name="scrm-imports", daemon=True)
    thread.start()
    return thread


def drain(max_rows: int = 1000, *, imports: bool = True) -> int:
    """Send what is due now, in this thread (tests and the demo); return how many rows were handled.

    With `imports`, queued customer-file imports run here too, between rounds.
    """
    name = f"drain:{default_name()}:{threading.get_ident()}"[:64]
    return _run(name, threading.Event(), once=True, max_rows=max_rows, inline_imports=imports)
