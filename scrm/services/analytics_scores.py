"""Placeholder (issue 7), being written."""

from __future__ import annotations

from datetime import date, datetime  # noqa: F401

from sqlalchemy.orm import Session


def score_all(s: Session, account_id: int, today: date) -> int:
    """Rewrite every customer's value segment and churn risk; the rows written."""
    raise NotImplementedError
