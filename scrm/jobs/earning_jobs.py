"""Loyalty earning run by the scheduler: repair orders every 5 minutes, birthdays and profiles daily."""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from scrm.services import ledger, loyalty_earning_scan


def repair_orders(now: datetime | None = None) -> int:
    """Pay points for repair orders written since the last scan; return the points paid."""
    return loyalty_earning_scan.pay_repair_orders(now)


def birthdays(now: datetime | None = None) -> int:
    """Pay today's birthday points (local day); return the points paid."""
    return loyalty_earning_scan.pay_birthdays(now)


def profiles(now: datetime | None = None) -> int:
    """Pay members whose bound customer's profile became complete; return the points paid."""
    return loyalty_earning_scan.pay_completed_profiles(now)


def birthday_trigger() -> CronTrigger:
    """Every day at 09:00 in the app's time zone (the local day of caps and birthdays)."""
    return CronTrigger(hour=9, minute=0, timezone=ledger.local_tz())


def profile_trigger() -> CronTrigger:
    """Every day at 04:30 in the app's time zone (a quiet hour)."""
    return CronTrigger(hour=4, minute=30, timezone=ledger.local_tz())
