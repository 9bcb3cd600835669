"""Write outbox rows; a second write with the same dedupe key is a no-op."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrm.db import utcnow
from scrm.models import Channel, Delivery, DeliveryStatus


def enqueue(s: Session, *, account_id: int, dedupe_key: str, channel: Channel, payload: dict[str, Any],
            follower_id: int | None = None, openid: str = "", dealer_id: int | None = None,
            purpose: str = "reply", send_after: datetime | None = None) -> int | None:
    """Insert a pending delivery in the caller's transaction; return its id, or None if the key exists.

    `payload` is the WeChat body without `touser`: for custom messages `{"msgtype": "text", "text":
    {"content": ...}}`; for templates `{"template_id", "url"?, "data"}`; for mass sends
    `{"tag_id", "msgtype", ...}`. With Channel.AUTO give both: `{"custom": {...}, "template": {...}}`.
    """
    now = utcnow()
    values = dict(account_id=account_id, dealer_id=dealer_id, follower_id=follower_id, openid=openid,
                  dedupe_key=dedupe_key[:191], channel=channel, purpose=purpose, payload=payload,
                  status=DeliveryStatus.PENDING, attempts=0, next_try_at=send_after or now,
                  created_at=now, updated_at=now)
    dialect = s.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(Delivery).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(Delivery).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        stmt = sa.insert(Delivery).values(**values)
    result = s.execute(stmt.returning(Delivery.id))
    row = result.first()
    return int(row[0]) if row else None
