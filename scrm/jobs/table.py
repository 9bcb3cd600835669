"""The job table: every periodic job, with an explicit id (Redash style). Jobs enqueue; they never send."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scrm.jobs import booking_jobs, outbox_jobs, token_jobs


@dataclass(frozen=True)
class JobDef:
    """One periodic job: a stable id, a thin function, when it runs."""

    id: str
    func: Callable[[], object]
    trigger: Callable[[], BaseTrigger]     # built when the scheduler starts, so the first run is from then
    description: str


JOBS: tuple[JobDef, ...] = (
    JobDef("outbox.reap", outbox_jobs.reap_stale, partial(IntervalTrigger, minutes=1),
           "mark rows left mid-send by a crashed worker as unknown"),
    JobDef("tokens.refresh", token_jobs.refresh_tokens, partial(IntervalTrigger, minutes=5),
           "refresh each account's access token that expires within 10 minutes"),
    JobDef("bookings.remind", booking_jobs.remind, partial(IntervalTrigger, minutes=1), "enqueue due reminders"),
)


def enabled(job_id: str, patterns: tuple[str, ...]) -> bool:
    """True when `job_id` matches one of `settings.scheduler.enabled_jobs` (`*` = all, `outbox.*`)."""
    return any(fnmatch.fnmatchcase(job_id, p.strip()) for p in patterns if p.strip())


def selected(patterns: tuple[str, ...]) -> list[JobDef]:
    """The jobs of the table that the configuration enables."""
    return [job for job in JOBS if enabled(job.id, patterns)]


def unknown_patterns(patterns: tuple[str, ...]) -> list[str]:
    """Configured names that match no job (likely typos)."""
    return [p for p in patterns if p.strip() and not any(enabled(job.id, (p,)) for job in JOBS)]
