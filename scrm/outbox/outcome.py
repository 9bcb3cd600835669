"""What became of one send attempt, and recording outcomes after the calls, many in one transaction."""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from scrm import db, metrics
from scrm.db import utcnow
from scrm.models import Delivery, DeliveryStatus, Follower
from scrm.outbox.claim import Claimed

log = logging.getLogger(__name__)
_RECORDABLE = (DeliveryStatus.SENDING, DeliveryStatus.UNKNOWN)


@dataclass(frozen=True)
class Outcome:
    """The result of handling one claimed row.

    `status` PENDING means "try again at `next_try_at`"; with `counts` False the claim is not
    counted as an attempt (quiet hours, a paused quota, a stop request: nothing was sent). `at` is when
    WeChat answered (the row's `sent_at`); None means when it is recorded.
    """

    status: DeliveryStatus
    channel_used: str = ""
    wechat_msgid: str = ""
    error_code: int | None = None
    error: str = ""
    result: str = ""
    next_try_at: datetime | None = None
    counts: bool = True
    follower_unsubscribed: bool = False
    custom_sent: bool = False
    at: datetime | None = None

    @property
    def label(self) -> str:
        """The metrics label: the final status, or retry/deferred for rows that stay pending."""
        if self.status == DeliveryStatus.PENDING:
            return "retry" if self.counts else "deferred"
        return self.status.value


def _values(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """The columns the outcome sets (plain values; `attempts` is handled by the caller)."""
    values: dict[str, Any] = {"updated_at": now, "error_code": outcome.error_code, "error": outcome.error[:255]}
    if outcome.status == DeliveryStatus.PENDING:
        values.update(status=DeliveryStatus.PENDING, next_try_at=outcome.next_try_at or now,
                      claimed_at=None, claimed_by="")
    else:
        values.update(status=outcome.status, channel_used=outcome.channel_used,
                      wechat_msgid=outcome.wechat_msgid[:32], result=outcome.result[:64])
        if outcome.status == DeliveryStatus.SENT:
            values["sent_at"] = outcome.at or now
    if outcome.status not in (DeliveryStatus.SENT, DeliveryStatus.UNKNOWN):
        values["capped_at"] = None   # not sent: its place under the frequency cap is free again
    return values


def _followers(s: Any, cs_sent: Counter[int], gone: list[int], now: datetime) -> None:
    """Count customer-service messages sent and mark 43004 followers unsubscribed, locking in id order."""
    followers = cast(sa.Table, Follower.__table__)
    involved = sorted({*cs_sent, *gone})
    conn = s.connection()
    if len(involved) > 1 and db.is_postgres():   # one lock order for every batch: no deadlock with the cap
        # Core, not the ORM: nothing is loaded, only the rows locked
        conn.execute(sa.select(followers.c.id).where(db.among(followers.c.id, involved)).order_by(followers.c.id)
                     .with_for_update())
    if cs_sent and db.is_postgres():   # one statement for all: the counts ride in two arrays
        conn.execute(_count_statement(), {"a_id": sorted(cs_sent), "a_n": [cs_sent[f] for f in sorted(cs_sent)]})
    elif cs_sent:
        conn.execute(sa.update(followers).where(followers.c.id == sa.bindparam("b_id"))
                     .values(cs_sent_since_interaction=followers.c.cs_sent_since_interaction + sa.bindparam("b_n")),
                     [{"b_id": f, "b_n": n} for f, n in sorted(cs_sent.items())])
    if gone:
        conn.execute(sa.update(followers).where(db.among(followers.c.id, gone), followers.c.subscribed.is_(True))
                     .values(subscribed=False, unsubscribed_at=now))


def record(row: Claimed, worker: str, outcome: Outcome) -> bool:
    """Store one outcome; False when the row is no longer this worker's (the reaper took it)."""
    return row.id in record_many([(row, outcome)], worker)


def record_many(done: Sequence[tuple[Claimed, Outcome]], worker: str) -> set[int]:
    """Store many outcomes in one transaction; return the ids recorded (a row the reaper took is not).

    Rows of the same shape are written by one executemany (pipelined by the driver), so a batch costs a
    few statements' round trips, not one transaction per row.
    """
    if not done:
        return set()
    now = utcnow()
    worker = worker[:64]
    table = cast(sa.Table, Delivery.__table__)
    ids = sorted({row.id for row, _o in done})
    groups: dict[tuple[tuple[str, ...], bool], list[dict[str, Any]]] = {}
    for row, outcome in done:
        values = _values(outcome, now)
        uncounted = outcome.status == DeliveryStatus.PENDING and not outcome.counts
        groups.setdefault((tuple(sorted(values)), uncounted), []).append(
            {"b_id": row.id, **{f"b_{k}": v for k, v in values.items()}})
    cs_sent = Counter(row.follower_id for row, o in done if row.follower_id is not None and o.custom_sent)
    gone = sorted({row.follower_id for row, o in done if row.follower_id is not None and o.follower_unsubscribed})
    with db.transaction() as s:
        db.commit_without_flush_wait(s)   # lost in a crash -> the rows read `sending` -> unknown, never resent
        if db.is_postgres():
            matched = _update_arrays(s, groups, worker)
        else:
            # `unknown` too: a slow call the reaper gave up on may still report its real outcome.
            owned = sa.and_(table.c.claimed_by == worker,   # no IN list: executemany takes no expanding parameter
                            sa.or_(*(table.c.status == status for status in _RECORDABLE)))
            matched = _update_each(s, table, groups, owned, ids, worker)
        if cs_sent or gone:
            _followers(s, cs_sent, gone, now)
    for row, outcome in done:
        if row.id not in matched:
            log.warning("delivery %s: outcome %s not recorded, the row is no longer claimed by %s",
                        row.id, outcome.label, worker)
        metrics.DELIVERIES.labels(channel=outcome.channel_used or row.channel.value, status=outcome.label).inc()
    return matched


@functools.cache
def _update_statement(columns: tuple[str, ...], uncounted: bool) -> Any:
    """The UPDATE of one group's shape, built once: the same object keeps SQLAlchemy's cache key."""
    table = cast(sa.Table, Delivery.__table__)
    v = db.unnest(table, ("id", *columns))
    sets: dict[str, Any] = {c: v.c[c] for c in columns}
    if uncounted:
        sets["attempts"] = table.c.attempts - 1
    # `unknown` too: a slow call the reaper gave up on may still report its real outcome.
    owned = sa.and_(table.c.claimed_by == sa.bindparam("a_worker", type_=table.c.claimed_by.type),
                    sa.or_(*(table.c.status == status for status in _RECORDABLE)))
    return sa.update(table).where(table.c.id == v.c.id, owned).values(sets).returning(table.c.id)


@functools.cache
def _count_statement() -> Any:
    followers = cast(sa.Table, Follower.__table__)
    v = db.unnest(followers, ("id", "n"), {"n": sa.Integer()})
    return (sa.update(followers).where(followers.c.id == v.c.id)
            .values(cs_sent_since_interaction=followers.c.cs_sent_since_interaction + v.c.n))


def _update_arrays(s: Any, groups: dict[tuple[tuple[str, ...], bool], list[dict[str, Any]]],
                   worker: str) -> set[int]:
    """PostgreSQL: one UPDATE per group of rows with the same columns, the values in arrays, in id order
    (the join walks the sorted ids, so rows are locked in id order); the rows still ours are those returned."""
    matched: set[int] = set()
    conn = s.connection()
    for (columns, uncounted), params in groups.items():
        params = sorted(params, key=lambda p: p["b_id"])
        values: dict[str, Any] = {"a_id": [p["b_id"] for p in params], "a_worker": worker}
        values.update({f"a_{c}": [p[f"b_{c}"] for p in params] for c in columns})
        matched.update(conn.scalars(_update_statement(columns, uncounted), values))
    return matched


def _update_each(s: Any, table: sa.Table, groups: dict[tuple[tuple[str, ...], bool], list[dict[str, Any]]],
                 owned: Any, ids: list[int], worker: str) -> set[int]:
    """Elsewhere (SQLite): which rows are still ours, then one executemany per group."""
    if len(ids) > 1:   # which rows are still ours, locked in id order
        mine = sa.select(Delivery.id).where(db.among(Delivery.id, ids), Delivery.claimed_by == worker,
                                            Delivery.status.in_(_RECORDABLE)).order_by(Delivery.id)
        matched = set(s.scalars(mine))
    else:              # one row: its UPDATE's row count tells
        matched = set(ids)
    conn = s.connection()
    for (columns, uncounted), params in groups.items():
        params = [p for p in params if p["b_id"] in matched]
        if not params:
            continue
        sets: dict[str, Any] = {c: sa.bindparam(f"b_{c}", type_=table.c[c].type) for c in columns}
        if uncounted:
            sets["attempts"] = table.c.attempts - 1
        result = conn.execute(sa.update(table).where(table.c.id == sa.bindparam("b_id"), owned).values(sets),
                              params)
        if len(ids) == 1 and not result.rowcount:
            matched = set()
    return matched
