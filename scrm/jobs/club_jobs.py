"""Owners' club upkeep run by the scheduler: day-before reminders and the no-show sweep."""

from __future__ import annotations

from datetime import datetime

from scrm.services import club_checkin


def remind(now: datetime | None = None) -> int:
    """Write the reminders of events starting within a day (once per member); return the rows written."""
    return club_checkin.send_reminders(now)


def mark_no_shows(now: datetime | None = None) -> int:
    """Mark registrants of ended events who never checked in as no-shows; return how many."""
    return club_checkin.mark_no_shows(now)
