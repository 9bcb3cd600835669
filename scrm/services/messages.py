"""The message log: what followers sent us and what we answered (stats and the 360 timeline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.db import utcnow
from scrm.models import Channel, Direction, MessageLog
from scrm.outbox.enqueue import enqueue

CONTENT_LIMIT = 2000


@dataclass(frozen=True)
class LogEntry:
    """One inbound push as the log keeps it."""

    msg_type: str
    event: str = ""
    content: str = ""
    msg_id: str = ""


def clip(text: str, limit: int = CONTENT_LIMIT) -> str:
    """`text` cut to `limit` characters."""
    return text if len(text) <= limit else text[:limit]


_LOGS: sa.Table = MessageLog.__table__  # type: ignore[assignment]
_INSERT_LOG = sa.insert(_LOGS)


def relaxed(s: Session) -> None:
    """Commit this transaction without waiting for the WAL flush (PostgreSQL).

    For high-volume bookkeeping (the log, the last-interaction time, hit counters): a crash may
    lose the last few milliseconds of it, never corrupt anything, and each push saves a disk wait.
    """
    if s.get_bind().dialect.name == "postgresql":
        s.execute(_RELAXED)


_RELAXED = sa.text("SET LOCAL synchronous_commit TO OFF")


def _row(account_id: int, follower_id: int | None, direction: Direction, msg_type: str, event: str, content: str,
         msg_id: str, handler: str, at: datetime) -> dict[str, Any]:
    return {"account_id": account_id, "follower_id": follower_id, "direction": direction.value,
            "msg_type": msg_type[:32], "event": event[:48], "content": clip(content), "msg_id": msg_id[:32],
            "handler": handler[:64], "created_at": at}


def log_rows(*, account_id: int, entry: LogEntry, received_at: datetime, reply_type: str = "",
             reply_content: str = "", handler: str = "", follower_id: int | None = None) -> list[dict[str, Any]]:
    """The message_logs rows of an inbound push and, when there was one, our answer."""
    rows = [_row(account_id, follower_id, Direction.IN, entry.msg_type, entry.event, entry.content, entry.msg_id,
                 "", received_at)]
    if reply_type:
        rows.append(_row(account_id, follower_id, Direction.OUT, reply_type, "", reply_content, "", handler,
                         utcnow()))
    return rows


def log_exchange(*, account_id: int, follower_id: int | None, entry: LogEntry, received_at: datetime,
                 reply_type: str = "", reply_content: str = "", handler: str = "") -> None:
    """Log an inbound push and, when there was one, our answer: one insert of one or two rows."""
    rows = log_rows(account_id=account_id, entry=entry, received_at=received_at, reply_type=reply_type,
                    reply_content=reply_content, handler=handler, follower_id=follower_id)
    with db.transaction() as s:
        relaxed(s)
        s.execute(_INSERT_LOG, rows)


def defer_reply(*, account_id: int, app_id: str, dedupe_id: str, openid: str, follower_id: int | None,
                dealer_id: int | None, payload: dict[str, Any]) -> int | None:
    """Queue a reply that missed the passive-reply budget as a customer-service message.

    The dedupe key is per push, so a second attempt to defer the same reply is a no-op.
    """
    with db.transaction() as s:
        return enqueue(s, account_id=account_id, dedupe_key=f"deferred:{app_id}:{dedupe_id}",
                       channel=Channel.CUSTOM, payload=payload, follower_id=follower_id, openid=openid,
                       dealer_id=dealer_id, purpose="deferred_reply")
