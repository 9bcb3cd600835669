"""The dashboard's figures, for one dealer or all dealers in scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Dealer, Direction, Follower, MessageLog, SceneKind
from scrm.services.scope import Scope

PERIODS = (("today", 0), ("7d", 6), ("30d", 29))


@dataclass(frozen=True)
class Stats:
    """Counts for the dashboard; period keys are today, 7d, 30d (calendar days, local time)."""

    followers_total: int
    following: int
    new_follows: dict[str, dict[str, int]]
    unfollows: dict[str, int]
    messages_in_today: int
    replies_today: int
    by_dealer: list[dict[str, Any]] = field(default_factory=list)

    def new_total(self, period: str) -> int:
        """All new follows in a period."""
        return sum(self.new_follows[period].values())


def _starts(now: datetime) -> dict[str, datetime]:
    tz = runtime.get().settings.app.tz
    today = now.astimezone(tz).date()
    return {name: datetime.combine(today - timedelta(days=back), time(), tz) for name, back in PERIODS}


def stats(scope: Scope, dealer_id: int | None = None, now: datetime | None = None) -> Stats:
    """Dashboard figures in scope; a brand admin may narrow to one dealer (checked by the caller)."""
    now = now or db.utcnow()
    starts = _starts(now)
    s = db.session()

    def followers(*conds: Any) -> sa.Select[Any]:
        stmt = scope.apply(sa.select(sa.func.count(Follower.id)), Follower).where(*conds)
        return stmt.where(Follower.dealer_id == dealer_id) if dealer_id is not None else stmt

    total = s.scalar(followers()) or 0
    following = s.scalar(followers(Follower.subscribed.is_(True))) or 0
    new: dict[str, dict[str, int]] = {}
    unfollows: dict[str, int] = {}
    for name, start in starts.items():
        rows = s.execute(followers(Follower.subscribed_at >= start)
                         .add_columns(Follower.scene_kind).group_by(Follower.scene_kind)).all()
        counts = {k.value: 0 for k in SceneKind}
        for count, kind in rows:
            counts[SceneKind(kind).value] += count
        new[name] = counts
        unfollows[name] = s.scalar(followers(Follower.subscribed.is_(False), Follower.unsubscribed_at >= start)) or 0
    msg_in, replies = _messages(scope, dealer_id, starts["today"])
    by_dealer = _by_dealer(scope, starts["30d"]) if scope.all_dealers and dealer_id is None else []
    return Stats(followers_total=total, following=following, new_follows=new, unfollows=unfollows,
                 messages_in_today=msg_in, replies_today=replies, by_dealer=by_dealer)


def _messages(scope: Scope, dealer_id: int | None, start: datetime) -> tuple[int, int]:
    stmt = (sa.select(MessageLog.direction, sa.func.count(MessageLog.id))
            .where(MessageLog.created_at >= start, MessageLog.account_id == scope.account_id)
            .where(sa.or_(MessageLog.direction == Direction.OUT, MessageLog.msg_type != "event"))
            .group_by(MessageLog.direction))
    if dealer_id is not None or not scope.all_dealers:
        stmt = scope.apply(stmt, MessageLog)
        if dealer_id is not None:
            stmt = stmt.where(MessageLog.follower_id.in_(sa.select(Follower.id).where(Follower.dealer_id == dealer_id)))
    counts = {Direction(d): n for d, n in db.session.execute(stmt).all()}
    return counts.get(Direction.IN, 0), counts.get(Direction.OUT, 0)


def _by_dealer(scope: Scope, since: datetime) -> list[dict[str, Any]]:
    """Per dealer: following now and new follows in the last 30 days (brand admin overview)."""
    following = sa.func.count(Follower.id).filter(Follower.subscribed.is_(True))
    new = sa.func.count(Follower.id).filter(Follower.subscribed_at >= since)
    stmt = (scope.apply(sa.select(Dealer.id, Dealer.code, Dealer.name, following, new), Dealer)
            .outerjoin(Follower, Follower.dealer_id == Dealer.id)
            .group_by(Dealer.id, Dealer.code, Dealer.name).order_by(Dealer.code))
    return [{"id": r[0], "code": r[1], "name": r[2], "following": r[3], "new_30d": r[4]}
            for r in db.session.execute(stmt).all()]
