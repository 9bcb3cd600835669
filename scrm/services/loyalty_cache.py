"""An in-process read cache for the loyalty policy (earning rules, settings, tier ladder).

The hot ledger path reads the same few policy rows on every write; they change rarely (an admin edits a
rule or a tier). Values are plain frozen snapshots (never ORM objects) kept for `TTL_SECONDS`, which
bounds how stale another process can be after an edit. In this process the cache is dropped at once
whenever a statement writes one of the policy tables (ORM flush or Core, TRUNCATE and DELETE included)
and again when that connection commits or rolls back, so an edit is seen by the next read here.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

TTL_SECONDS = 5.0
TABLES = ("earning_rules", "loyalty_settings", "tiers")
_WATCHED = re.compile(r"\b(?:" + "|".join(TABLES) + r")\b")
_FLAG = "scrm.loyalty_policy_written"
_VERDICTS: dict[str, bool] = {}  # statement text -> writes a policy table (compiled statements repeat)

T = TypeVar("T")
_lock = threading.Lock()
_store: dict[Hashable, tuple[float, int, Any]] = {}
_generation = 0


def forget() -> None:
    """Drop every cached value (an edit of the policy; tests after truncating)."""
    global _generation
    with _lock:
        _generation += 1
        _store.clear()


def cached(key: Hashable, load: Callable[[], T]) -> T:
    """The value for `key`, loaded by `load()` when missing, expired, or written since it was read."""
    now = time.monotonic()
    hit = _store.get(key)
    if hit is not None and hit[0] > now and hit[1] == _generation:
        value: T = hit[2]
        return value
    generation = _generation
    value = load()
    with _lock:
        if generation == _generation:  # nothing was written meanwhile: safe to keep
            _store[key] = (now + TTL_SECONDS, generation, value)
    return value


def _on_statement(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                  executemany: bool) -> None:
    writes = _VERDICTS.get(statement)
    if writes is None:
        writes = statement.lstrip()[:6].upper() != "SELECT" and _WATCHED.search(statement) is not None
        if len(_VERDICTS) > 5000:
            _VERDICTS.clear()
        _VERDICTS[statement] = writes
    if writes:
        conn.info[_FLAG] = True
        forget()


def _on_end(conn: Connection) -> None:
    # a connection that died lost its info (and its flag) with it: drop the cache to be safe
    if conn.invalidated or conn.info.pop(_FLAG, False):
        forget()


sa.event.listen(Engine, "before_cursor_execute", _on_statement)
sa.event.listen(Engine, "commit", _on_end)
sa.event.listen(Engine, "rollback", _on_end)


def _on_savepoint_rollback(conn: Connection, name: str, context: Any) -> None:
    if conn.invalidated or conn.info.get(_FLAG):
        forget()


sa.event.listen(Engine, "rollback_savepoint", _on_savepoint_rollback)
