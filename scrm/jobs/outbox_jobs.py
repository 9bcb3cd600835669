"""Outbox upkeep run by the scheduler."""

from __future__ import annotations

from scrm.outbox.reaper import reap
from scrm.services.imports.jobs import reap_stale_imports


def reap_stale() -> int:
    """Mark rows caught mid-send by a crashed worker as `unknown` (never resent), and its imports failed."""
    return reap() + reap_stale_imports()
