"""Placeholder (issue 7), being written."""

from __future__ import annotations

from datetime import date, datetime  # noqa: F401

from sqlalchemy.orm import Session


def score_all(s: Session, account_id: int, now: datetime) -> int:
    """Rewrite every prospect's lead score; the rows written."""
    raise NotImplementedError
