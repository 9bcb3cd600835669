"""Loyalty upkeep run by the scheduler: expiry, tiers and the warnings (it enqueues notices, never sends)."""

from __future__ import annotations

import logging
from datetime import datetime

from scrm.services import ledger, tiers
from scrm.services.loyalty_notify_warnings import warn_expiring, warn_tier_drops

log = logging.getLogger(__name__)


def expire(now: datetime | None = None) -> int:
    """Expire the lots past their expiry (hourly); return how many."""
    done = ledger.expire_due(now)
    if done:
        log.info("loyalty.expire: %s lots expired", done)
    return done


def refresh_tiers(now: datetime | None = None) -> int:
    """The nightly tier pass (earnings age out), then the tier-drop warnings; return how many tiers changed."""
    changed = tiers.refresh_all(now)
    warned = warn_tier_drops(now)
    log.info("loyalty.tiers: %s tiers changed, %s members at risk, %s warnings written",
             changed, warned.found, warned.written)
    return changed


def expiry_warnings(now: datetime | None = None) -> int:
    """Warn members of points expiring soon (daily); return how many notices were written."""
    warned = warn_expiring(now)
    log.info("loyalty.expiry_warnings: %s members with points expiring, %s warnings written",
             warned.found, warned.written)
    return warned.written


def verify() -> int:
    """Check every member's cached balance against the ledger; log each mismatch at ERROR, fix nothing."""
    bad = ledger.verify()
    for member_id, cached, real in bad:
        log.error("loyalty.verify: member %s has balance %s but the ledger says %s (run `scrm loyalty verify --fix`)",
                  member_id, cached, real)
    return len(bad)
