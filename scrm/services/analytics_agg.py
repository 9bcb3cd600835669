"""Placeholder (issue 7), being written."""

from __future__ import annotations

from datetime import date, datetime  # noqa: F401

from sqlalchemy.orm import Session


def refresh(s: Session, account_id: int, start: date, end: date) -> int:
    """Rewrite the pre-aggregated figures of [start, end]; the rows written."""
    raise NotImplementedError
