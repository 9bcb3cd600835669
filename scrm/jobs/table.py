"""The job table: every periodic job, with an explicit id (Redash style). Jobs enqueue; they never send."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scrm import runtime
from scrm.jobs import (
    analytics_jobs,
    badge_jobs,
    booking_jobs,
    campaign_jobs,
    club_jobs,
    earning_jobs,
    journey_jobs,
    loyalty_jobs,
    outbox_jobs,
    referral_jobs,
    reward_jobs,
    token_jobs,
)


@dataclass(frozen=True)
class JobDef:
    """One periodic job: a stable id, a thin function, when it runs."""

    id: str
    func: Callable[[], object]
    trigger: Callable[[], BaseTrigger]     # built when the scheduler starts, so the first run is from then
    description: str


def daily(hour: int, minute: int = 0) -> Callable[[], BaseTrigger]:
    """Every day at hour:minute in the app's time zone (a CronTrigger without one would use the server's)."""
    return lambda: CronTrigger(hour=hour, minute=minute, timezone=runtime.get().settings.app.tz)


JOBS: tuple[JobDef, ...] = (
    JobDef("outbox.reap", outbox_jobs.reap_stale, partial(IntervalTrigger, minutes=1),
           "mark rows left mid-send by a crashed worker as unknown"),
    JobDef("tokens.refresh", token_jobs.refresh_tokens, partial(IntervalTrigger, minutes=5),
           "refresh each account's access token that expires within 10 minutes"),
    JobDef("bookings.remind", booking_jobs.remind, partial(IntervalTrigger, minutes=1), "enqueue due reminders"),
    JobDef("loyalty.expire", loyalty_jobs.expire, partial(IntervalTrigger, hours=1),
           "expire points lots past their expiry"),
    JobDef("loyalty.tiers", loyalty_jobs.refresh_tiers, daily(3),
           "refresh every member's tier, then warn those whose tier would drop soon"),
    JobDef("loyalty.expiry_warnings", loyalty_jobs.expiry_warnings, daily(3, 30),
           "warn members of points expiring soon"),
    JobDef("loyalty.verify", loyalty_jobs.verify, daily(4),
           "check cached balances against the ledger; log mismatches"),
    JobDef("referrals.bindings", referral_jobs.credit_bindings, partial(IntervalTrigger, minutes=10),
           "pay referrers whose friends bound to a customer record"),
    JobDef("referrals.purchases", referral_jobs.credit_purchases, daily(5),
           "pay referrers whose friends bought a car"),
    JobDef("loyalty.earn_repairs", earning_jobs.repair_orders, partial(IntervalTrigger, minutes=5),
           "pay points for new repair orders"),
    JobDef("loyalty.earn_birthdays", earning_jobs.birthdays, daily(9), "pay today's birthday points"),
    JobDef("loyalty.earn_profiles", earning_jobs.profiles, daily(4, 30), "pay points for completed profiles"),
    JobDef("badges.recheck", badge_jobs.recheck, daily(5, 30), "award club, referral and streak badges now due"),
    JobDef("club.remind", club_jobs.remind, partial(IntervalTrigger, minutes=10),
           "enqueue day-before club event reminders"),
    JobDef("club.no_shows", club_jobs.mark_no_shows, partial(IntervalTrigger, minutes=15),
           "mark registrants of ended club events as no-shows"),
    JobDef("campaigns.tick", campaign_jobs.tick, partial(IntervalTrigger, seconds=30),
           "start due campaigns, finish sent ones, note quota pauses"),
    JobDef("journeys.tick", journey_jobs.tick, partial(IntervalTrigger, minutes=15),
           "enrol owners in enabled journeys and write their due steps"),
    JobDef("rewards.expire_vouchers", reward_jobs.expire_vouchers, daily(0, 20),
           "mark issued vouchers past their expiry as expired (no refund)"),
    JobDef("analytics.nightly", analytics_jobs.nightly, daily(2, 15),
           "score every customer (value, churn risk), rewrite the figures, make rule tasks, score leads"),
    JobDef("analytics.today", analytics_jobs.today_figures, partial(IntervalTrigger, minutes=10),
           "rewrite today's dashboard figures"),
    JobDef("tasks.rules", analytics_jobs.rule_tasks, partial(IntervalTrigger, minutes=30),
           "make the follow-up tasks the rules call for (each subject once)"),
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
