"""Analytics jobs: the nightly scoring and figures, today's figures through the day, rule tasks."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import Account
from scrm.services import analytics_agg, analytics_nightly, task_rules

log = logging.getLogger(__name__)


def _accounts() -> list[int]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(Account.id).order_by(Account.id)))


def nightly(now: datetime | None = None) -> dict[str, int]:
    """Every account's nightly run; rows written per step, and failed steps under "errors"."""
    out: dict[str, int] = {}
    for account_id in _accounts():
        for r in analytics_nightly.run(account_id, now=now):
            out[r.step] = out.get(r.step, 0) + r.rows
            if r.error:
                out["errors"] = out.get("errors", 0) + 1
    return out


def today_figures(now: datetime | None = None) -> int:
    """Rewrite today's pre-aggregated figures for every account, so the dashboards follow the day."""
    today = (now or utcnow()).astimezone(runtime.get().settings.app.tz).date()
    rows = 0
    for account_id in _accounts():
        try:
            with db.transaction() as s:
                rows += analytics_agg.refresh(s, account_id, today, today, light=True)
        except Exception:
            log.exception("today's figures failed for account %s", account_id)
    return rows


def rule_tasks(now: datetime | None = None) -> dict[str, int]:
    """Make the follow-up tasks the rules call for now (each subject once); counts per rule."""
    today = (now or utcnow()).astimezone(runtime.get().settings.app.tz).date()
    out: dict[str, int] = {}
    for account_id in _accounts():
        try:
            with db.transaction() as s:
                for rule, n in task_rules.run_rules(s, account_id, today).items():
                    out[rule] = out.get(rule, 0) + n
        except Exception:
            log.exception("rule tasks failed for account %s", account_id)
    return out
