"""The reply budget: dispatch runs on a worker thread; if it misses the budget the webhook answers
`success` at once, and the late result is handed to `on_late` (which writes it to the outbox).

Each job runs inside the Flask app context with its own scoped session (removed afterwards), so a
job that outlives its request is as safe as one that does not.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from flask import Flask

from scrm import db

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_WORKERS = 16


class _Job(Generic[T]):
    """Hand-over between the request thread and the worker: whoever is second does the late work."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.abandoned = False
        self.result: T | None = None
        self.error: BaseException | None = None


class Late(Exception):
    """The job missed the budget; its result goes to `on_late` when it finishes."""


class BudgetRunner:
    """A small thread pool (created lazily, re-created after a fork) that runs jobs under a budget."""

    def __init__(self, max_workers: int = MAX_WORKERS) -> None:
        self.max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._guard = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pid != os.getpid():
            with self._guard:
                if self._pool is None or self._pid != os.getpid():
                    self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="scrm-dispatch")
                    self._pid = os.getpid()
        return self._pool

    def run(self, app: Flask, fn: Callable[[], T], budget_seconds: float, on_late: Callable[[T], None]) -> T:
        """fn()'s result if it finishes within the budget; else raise Late and pass it to on_late later.

        Exceptions from fn propagate to the caller when in time; late ones are logged.
        """
        job: _Job[T] = _Job()

        def work() -> None:
            try:
                with app.app_context():
                    result = fn()
            except BaseException as exc:
                with job.lock:
                    job.error, late = exc, job.abandoned
                    job.done.set()
                if late:
                    logger.error("a late dispatch failed", exc_info=exc)
                return
            finally:
                db.session.remove()
            with job.lock:
                job.result, late = result, job.abandoned
                job.done.set()
            if late:
                try:
                    with app.app_context():
                        on_late(result)
                except Exception:
                    logger.exception("handing over a late reply failed")
                finally:
                    db.session.remove()

        self._executor().submit(work)
        finished = job.done.wait(budget_seconds)
        with job.lock:
            if not finished and not job.done.is_set():
                job.abandoned = True
                raise Late()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def shutdown(self) -> None:
        """Wait for running jobs and stop the threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


runner = BudgetRunner()
