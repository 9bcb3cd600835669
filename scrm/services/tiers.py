"""Tiers from points earned over a rolling 12 months (earn entries and positive adjustments; not the
balance, so spending never costs a tier). A member's tier is refreshed whenever points are earned (a
PointsChanged subscriber, in the same transaction) and nightly for everyone (earnings age out of the
window); each change publishes TierChanged. The ladder used for refreshing is a cached snapshot
(loyalty_cache); the ledger's earn path hands over the 12-month figure it already read (`note_earned`),
so the refresh on the hot path costs no query unless the tier moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from scrm import db
from scrm.models import EntryKind, Member, PointsEntry, Tier
from scrm.services import events_bus, loyalty_cache
from scrm.services.loyalty_events import PointsChanged, TierChanged

WINDOW = timedelta(days=365)
_HINTS = "tiers.earned_12m"
_MEMBERS: sa.Table = Member.__table__  # type: ignore[assignment]
_SET_TIER = (sa.update(_MEMBERS).where(_MEMBERS.c.id == sa.bindparam("t_mid"))
             .values(tier_id=sa.bindparam("t_tier"), tier_since=sa.bindparam("t_at")))


class _Threshold(Protocol):
    @property
    def threshold(self) -> int: ...


R = TypeVar("R", bound=_Threshold)


@dataclass(frozen=True)
class Rung:
    """A tier as the refresh needs it (a cached snapshot)."""

    id: int
    threshold: int


@dataclass(frozen=True)
class Progress:
    """Where a member stands: the tier now, the next one and the points still needed for it."""

    earned_12m: int
    tier: Tier | None
    next_tier: Tier | None
    to_next: int


def earned_query(member_id: Any, now: Any, since: Any = None) -> sa.Select[Any]:
    """The SELECT of points earned from `since` (default: 12 months before `now`) up to `now` (values or binds)."""
    start = since if since is not None else now - WINDOW
    # two plain comparisons rather than IN (...): an IN list is an "expanding" parameter that SQLAlchemy
    # re-renders into the SQL text on every execution, a cost the ledger's hot path paid on each write
    return sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
        PointsEntry.member_id == member_id, PointsEntry.points > 0,
        sa.or_(PointsEntry.kind == EntryKind.EARN, PointsEntry.kind == EntryKind.ADJUST),
        PointsEntry.created_at > start, PointsEntry.created_at <= now)


def earned_in(s: Session, member_id: int, now: datetime, since: datetime | None = None) -> int:
    """Points earned from `since` (default: 12 months before `now`) up to `now`."""
    return int(s.scalar(earned_query(member_id, now, since)) or 0)


def ladder(s: Session, account_id: int) -> list[Tier]:
    """The account's tiers, lowest threshold first."""
    return list(s.scalars(sa.select(Tier).where(Tier.account_id == account_id)
                          .order_by(Tier.threshold, Tier.sort_order, Tier.id)))


def rungs(s: Session, account_id: int) -> tuple[Rung, ...]:
    """The account's ladder as cached snapshots, lowest threshold first."""
    return loyalty_cache.cached(("tiers", account_id),
                                lambda: tuple(Rung(t.id, t.threshold) for t in ladder(s, account_id)))


def tier_for(tiers: Sequence[R], earned: int) -> R | None:
    """The highest tier whose threshold `earned` reaches."""
    reached = [t for t in tiers if t.threshold <= earned]
    return reached[-1] if reached else None


def progress_in(s: Session, member: Member, now: datetime) -> Progress:
    """The member's tier, the next one up and how far it is."""
    tiers = ladder(s, member.account_id)
    earned = earned_in(s, member.id, now)
    tier = tier_for(tiers, earned)
    above = [t for t in tiers if t.threshold > earned]
    nxt = above[0] if above else None
    return Progress(earned, tier, nxt, (nxt.threshold - earned) if nxt else 0)


def refresh_in(s: Session, member: Member, now: datetime) -> TierChanged | None:
    """Set the member's tier from the last 12 months; publish and return TierChanged when it moved."""
    return _settle(s, member.id, member.account_id, member.tier_id, earned_in(s, member.id, now), now, member)


def note_earned(s: Session, entry_id: int, tier_id: int | None, earned_12m: int) -> None:
    """The ledger's hand-over for entry `entry_id`: the member's tier and 12-month figure after it."""
    s.info.setdefault(_HINTS, {})[entry_id] = (tier_id, earned_12m)


def _settle(s: Session, member_id: int, account_id: int, tier_id: int | None, earned: int, now: datetime,
            member: Member | None = None) -> TierChanged | None:
    tiers = rungs(s, account_id)
    new = tier_for(tiers, earned)
    new_id = new.id if new else None
    if new_id == tier_id:
        return None
    rank: dict[int | None, int] = {t.id: i for i, t in enumerate(tiers)}
    up = rank.get(new_id, -1) > rank.get(tier_id, -1)
    event = TierChanged(member_id=member_id, account_id=account_id, old_tier_id=tier_id,
                        new_tier_id=new_id, up=up, at=now)
    loaded = member if member is not None else s.identity_map.get(identity_key(Member, member_id))
    if isinstance(loaded, Member):
        loaded.tier_id, loaded.tier_since = new_id, now
    else:
        s.execute(_SET_TIER, {"t_mid": member_id, "t_tier": new_id, "t_at": now})
    events_bus.publish(s, event)
    return event


def _on_points(s: Session, event: PointsChanged) -> None:
    if event.points <= 0:
        return
    hint = s.info.get(_HINTS, {}).pop(event.entry_id, None)
    if hint is not None:
        _settle(s, event.member_id, event.account_id, hint[0], hint[1], event.at)
        return
    m = s.get(Member, event.member_id)
    if m is not None:
        refresh_in(s, m, event.at)


def refresh_all(now: datetime | None = None, batch: int = 1000) -> int:
    """The nightly pass: refresh every member's tier (earnings age out); return how many changed."""
    now = now or db.utcnow()
    changed, last = 0, 0
    while True:
        with db.transaction() as s:
            ids = list(s.scalars(sa.select(Member.id).where(Member.id > last).order_by(Member.id).limit(batch)))
            for member_id in ids:
                m = s.scalar(sa.select(Member).where(Member.id == member_id).with_for_update())
                if m is not None and refresh_in(s, m, now) is not None:
                    changed += 1
        if len(ids) < batch:
            return changed
        last = ids[-1]


events_bus.subscribe(PointsChanged, _on_points, name="tiers.refresh")
