"""Placeholder (issue 7), being written."""

from __future__ import annotations

from datetime import date, datetime  # noqa: F401

from sqlalchemy.orm import Session


def run_rules(s: Session, account_id: int, today: date) -> dict[str, int]:
    """Make the tasks every rule calls for today; counts per rule."""
    raise NotImplementedError
