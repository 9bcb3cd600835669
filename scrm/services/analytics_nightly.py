"""The nightly analytics run of one account: scores, then figures, then rule tasks, then lead scores.

Each step runs in its own transaction and leaves an `AnalyticsRun` row (rows written, seconds taken, or
the error): a failing step is logged and the next one still runs, on the data the last good run left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.models import AnalyticsRun
from scrm.services import analytics_agg, analytics_scores, lead_scoring, task_rules

log = logging.getLogger(__name__)

STEPS = ("scores", "aggregates", "tasks", "leads")
# How far back the nightly run rewrites daily figures: late data (a repair order imported a week later,
# a follower who binds a month after following) still reaches the days it belongs to.
AGGREGATE_DAYS = 35


@dataclass(frozen=True)
class StepResult:
    """What one step did."""

    step: str
    rows: int
    seconds: float
    error: str = ""


def _step(step: str, account_id: int, fn: Callable[[Session], int | dict[str, int]]) -> StepResult:
    started, t0 = db.utcnow(), time.perf_counter()
    error, rows, detail = "", 0, {}
    try:
        with db.transaction() as s:
            out = fn(s)
        if isinstance(out, dict):
            detail, rows = dict(out), sum(out.values())
        else:
            rows = int(out)
    except Exception as exc:  # a failed step is recorded; the others still run
        log.exception("analytics %s failed for account %s", step, account_id)
        error = f"{type(exc).__name__}: {exc}"[:2000]
    seconds = round(time.perf_counter() - t0, 3)
    with db.transaction() as s:
        s.add(AnalyticsRun(account_id=account_id, step=step, started_at=started, finished_at=db.utcnow(),
                           rows=rows, detail={**detail, "seconds": seconds}, error=error))
    return StepResult(step, rows, seconds, error)


def run(account_id: int, today: date | None = None, steps: tuple[str, ...] = STEPS,
        now: datetime | None = None) -> list[StepResult]:
    """Run the nightly steps for one account (default: all, for the local today)."""
    now = now or db.utcnow()
    today = today or now.astimezone(runtime.get().settings.app.tz).date()
    plan: dict[str, Callable[[Session], int | dict[str, int]]] = {
        "scores": lambda s: analytics_scores.score_all(s, account_id, today),
        "aggregates": lambda s: analytics_agg.refresh(s, account_id, today - timedelta(days=AGGREGATE_DAYS), today),
        "tasks": lambda s: task_rules.run_rules(s, account_id, today),
        "leads": lambda s: lead_scoring.score_all(s, account_id, now),
    }
    return [_step(step, account_id, plan[step]) for step in STEPS if step in steps]


def last_run(s: Session, account_id: int, step: str) -> AnalyticsRun | None:
    """The latest finished run of a step without error (for "figures as of" on the pages)."""
    return s.scalar(sa.select(AnalyticsRun).where(
        AnalyticsRun.account_id == account_id, AnalyticsRun.step == step, AnalyticsRun.error == "",
        AnalyticsRun.finished_at.is_not(None)).order_by(AnalyticsRun.id.desc()).limit(1))
