"""Outbox upkeep run by the scheduler."""

from __future__ import annotations

from scrm.outbox.reaper import reap


def reap_stale() -> int:
    """Mark rows caught mid-send by a crashed worker as `unknown` (never resent)."""
    return reap()
