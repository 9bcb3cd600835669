"""Badge upkeep run by the scheduler: the daily re-check of club attendance and referrals."""

from __future__ import annotations

from datetime import datetime

from scrm.services import badges


def recheck(now: datetime | None = None) -> int:
    """Award CLUB_REGULAR and TOP_REFERRER badges now due; return how many were awarded."""
    return badges.recheck_all(now)
