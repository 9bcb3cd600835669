"""Booking upkeep run by the scheduler: it enqueues reminders, never sends them."""

from __future__ import annotations

from datetime import datetime

from scrm.services import booking_notify  # noqa: F401  (registers the send-time guard the reminders carry)
from scrm.services.booking_notify_reminders import enqueue_due


def remind(now: datetime | None = None) -> int:
    """Write the booking reminders due now (day before, hours before); return how many rows were written."""
    return enqueue_due(now)
