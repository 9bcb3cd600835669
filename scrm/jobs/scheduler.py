"""The scheduler process: APScheduler 3 running the job table, exactly one per deployment.

A Redis lock (`scrm:lock:scheduler`) renewed by a heartbeat job guards against a second instance:
a second scheduler exits with a clear message; one that loses its lock stops itself. Jobs run in
the app context and only enqueue or update rows; web processes never start a scheduler.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from scrm import db, runtime
from scrm.jobs import table

log = logging.getLogger(__name__)
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}
LOCK_TTL_SECONDS = 30
HEARTBEAT_SECONDS = 10
HEARTBEAT_ID = "scheduler.heartbeat"

_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class SchedulerAlreadyRunning(RuntimeError):
    """Another scheduler holds the single-instance lock."""


class InstanceGuard:
    """The single-instance lock: SET NX with a TTL, renewed and released only by its holder."""

    def __init__(self, ttl: int = LOCK_TTL_SECONDS) -> None:
        rt = runtime.get()
        self.redis = rt.redis
        self.key = rt.key("lock", "scheduler")
        self.ttl = ttl
        self.value = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        """Take the lock; False when another instance holds it."""
        return bool(self.redis.set(self.key, self.value, nx=True, ex=self.ttl))

    def renew(self) -> bool:
        """Extend the lock; False when it is no longer ours."""
        return bool(self.redis.eval(_RENEW, 1, self.key, self.value, self.ttl))

    def release(self) -> None:
        """Give the lock up (only if still ours)."""
        self.redis.eval(_RELEASE, 1, self.key, self.value)

    def holder(self) -> str:
        """Who holds the lock now ('' when nobody)."""
        return str(self.redis.get(self.key) or "")


def _in_app(app: Flask, job: table.JobDef) -> Callable[[], object]:
    def run() -> object:
        with app.app_context():
            try:
                return job.func()
            except Exception:
                log.exception("job %s failed", job.id)
                raise
            finally:
                db.session.remove()

    run.__name__ = run.__qualname__ = job.id.replace(".", "_")
    return run


def _heartbeat(sched: BaseScheduler, guard: InstanceGuard) -> Callable[[], None]:
    def beat() -> None:
        if not guard.renew():
            log.error("scheduler lock lost to %r; stopping this scheduler", guard.holder() or "nobody")
            sched.shutdown(wait=False)

    return beat


def configure(sched: BaseScheduler, app: Flask, guard: InstanceGuard) -> list[str]:
    """Add the enabled jobs of the table and the heartbeat; return the job ids added."""
    patterns = runtime.get().settings.scheduler.enabled_jobs
    for name in table.unknown_patterns(patterns):
        log.warning("scheduler.enabled_jobs: %r matches no job", name)
    added = []
    for job in table.selected(patterns):
        sched.add_job(_in_app(app, job), job.trigger(), id=job.id, name=job.description, replace_existing=True)
        added.append(job.id)
    sched.add_job(_heartbeat(sched, guard), IntervalTrigger(seconds=HEARTBEAT_SECONDS), id=HEARTBEAT_ID,
                  name="renew the single-instance lock", replace_existing=True)
    return added


def _acquire() -> InstanceGuard:
    guard = InstanceGuard()
    if not guard.acquire():
        raise SchedulerAlreadyRunning(
            f"another scheduler is already running ({guard.holder() or 'lock just taken'}); only one may run "
            f"per deployment. If it crashed, its lock {guard.key} expires within {LOCK_TTL_SECONDS} s.")
    return guard


def run_scheduler(app: Flask) -> None:
    """Run the job table in this process until SIGTERM/SIGINT (the `scrm scheduler` command)."""
    try:
        guard = _acquire()
    except SchedulerAlreadyRunning as exc:
        log.error("%s", exc)
        print(f"scheduler: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    sched = BlockingScheduler(timezone=runtime.get().settings.app.tz, job_defaults=JOB_DEFAULTS)
    added = configure(sched, app, guard)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping the scheduler", signum)
        sched.shutdown(wait=False)

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():   # signals can only be caught there
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("scheduler started (%s) with jobs: %s", guard.value, ", ".join(added) or "none")
    try:
        sched.start()
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        guard.release()
        log.info("scheduler stopped")


class GuardedBackgroundScheduler(BackgroundScheduler):  # type: ignore[misc]
    """A background scheduler that gives the single-instance lock back when it shuts down."""

    guard: InstanceGuard | None = None

    def shutdown(self, wait: bool = True) -> None:
        """Stop the jobs, then release the lock."""
        if self.running:
            super().shutdown(wait=wait)
        if self.guard is not None:
            self.guard.release()


def start_background(app: Flask) -> BackgroundScheduler:
    """Start the scheduler on a thread (the demo); raises SchedulerAlreadyRunning if one runs."""
    guard = _acquire()
    sched = GuardedBackgroundScheduler(timezone=runtime.get().settings.app.tz, job_defaults=JOB_DEFAULTS,
                                       daemon=True)
    sched.guard = guard
    configure(sched, app, guard)
    sched.start()
    return sched
