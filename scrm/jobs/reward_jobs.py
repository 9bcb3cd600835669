"""Rewards upkeep run by the scheduler: issued vouchers past their expiry become expired (no refund)."""

from __future__ import annotations

from datetime import datetime

from scrm.services import rewards


def expire_vouchers(now: datetime | None = None) -> int:
    """Mark issued vouchers past `expires_at` as expired; return how many changed."""
    return rewards.expire_vouchers(now)
