"""Loyalty domain events: other areas (notices, tiers, badges, journeys) subscribe with events_bus.subscribe."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scrm.models import EntryKind


@dataclass(frozen=True)
class PointsChanged:
    """A ledger entry was written; `balance` is the member's balance after it."""

    member_id: int
    account_id: int
    entry_id: int
    kind: EntryKind
    points: int
    reason: str
    balance: int
    at: datetime


@dataclass(frozen=True)
class TierChanged:
    """A member's tier changed (`old_tier_id`/`new_tier_id` may be empty: no tier)."""

    member_id: int
    account_id: int
    old_tier_id: int | None
    new_tier_id: int | None
    up: bool
    at: datetime
