"""The monthly leaderboard: points earned in a local calendar month by the members of one home dealer.

One grouped query over the ledger: the dealer's members (Member.dealer_id index) joined to their earn
entries of the month (the (member_id, created_at) index), summed, ranked with RANK() so ties share a
rank; the top rows and the asking member's own row come back together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import EntryKind, Follower, Member, PointsEntry
from scrm.services import booking_config
from scrm.services.errors import Invalid
from scrm.services.normalize_base import N_

TOP = 20
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Place:
    """One line of the board; `name` is the masked remark, empty when the page shows 车主 + `tail`."""

    rank: int
    member_id: int
    name: str
    tail: str
    points: int


@dataclass(frozen=True)
class Board:
    """The top places of a month, and the asking member's place (None: no points earned that month)."""

    month: date
    dealer_id: int
    places: list[Place]
    me: Place | None


def mask_name(remark: str) -> str:
    """A remark shown to other members: its first character, the rest starred."""
    remark = remark.strip()
    if not remark:
        return ""
    return remark[0] + "*" * max(1, min(len(remark) - 1, 2))


def parse_month(value: str | None, today: date) -> date:
    """`YYYY-MM` as the first day of that month (empty: this month); Invalid when malformed."""
    if not value:
        return today.replace(day=1)
    m = _MONTH.match(value.strip())
    if m is None or not 1 <= int(m.group(2)) <= 12 or not 2000 <= int(m.group(1)) <= 2100:
        raise Invalid(N_("Choose a month as YYYY-MM."), field="month")
    return date(int(m.group(1)), int(m.group(2)), 1)


def month_span(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants [start, end) of a local calendar month."""
    first = month.replace(day=1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return datetime.combine(first, time(0), tz), datetime.combine(nxt, time(0), tz)


def dealer_tz(s: Session, dealer_id: int) -> ZoneInfo:
    """The time zone of the dealer's days and months."""
    return booking_config.load(s, dealer_id).rules.tz


def board_in(s: Session, account_id: int, dealer_id: int, month: date, member_id: int | None = None,
             top: int = TOP) -> Board:
    """The board of `dealer_id`'s members for `month`, with `member_id`'s own place even outside the top."""
    start, end = month_span(month, dealer_tz(s, dealer_id))
    totals = (sa.select(PointsEntry.member_id.label("member_id"), sa.func.sum(PointsEntry.points).label("points"))
              .join(Member, Member.id == PointsEntry.member_id)
              .where(Member.account_id == account_id, Member.dealer_id == dealer_id,
                     PointsEntry.kind == EntryKind.EARN, PointsEntry.points > 0,
                     PointsEntry.created_at >= start, PointsEntry.created_at < end)
              .group_by(PointsEntry.member_id).cte("totals"))
    ranked = sa.select(totals.c.member_id, totals.c.points,
                       sa.func.rank().over(order_by=totals.c.points.desc()).label("rank"),
                       sa.func.row_number().over(order_by=(totals.c.points.desc(), totals.c.member_id))
                       .label("pos")).subquery("ranked")
    wanted = ranked.c.pos <= top
    if member_id is not None:
        wanted = sa.or_(wanted, ranked.c.member_id == member_id)
    rows = s.execute(sa.select(ranked.c.member_id, ranked.c.points, ranked.c.rank, ranked.c.pos,
                               Follower.remark, Follower.openid)
                     .join(Member, Member.id == ranked.c.member_id)
                     .join(Follower, Follower.id == Member.follower_id)
                     .where(wanted).order_by(ranked.c.pos)).all()
    places, me = [], None
    for r in rows:
        place = Place(rank=int(r.rank), member_id=int(r.member_id), name=mask_name(r.remark or ""),
                      tail=(r.openid or "")[-4:], points=int(r.points))
        if r.pos <= top:
            places.append(place)
        if r.member_id == member_id:
            me = place
    return Board(month=month, dealer_id=dealer_id, places=places, me=me)


def board(account_id: int, dealer_id: int, month: date, member_id: int | None = None) -> Board:
    """`board_in` in a read-only transaction of its own."""
    s = db.session()
    try:
        return board_in(s, account_id, dealer_id, month, member_id)
    finally:
        s.rollback()


def local_today(dealer_id: int, now: datetime | None = None) -> date:
    """Today in the dealer's time zone."""
    s = db.session()
    try:
        return (now or db.utcnow()).astimezone(dealer_tz(s, dealer_id)).date()
    finally:
        s.rollback()


def member_of(account_id: int, follower_id: int) -> Member | None:
    """The follower's member row (None before their first loyalty use), for the H5 board."""
    s = db.session()
    try:
        return s.scalar(sa.select(Member).where(Member.account_id == account_id, Member.follower_id == follower_id))
    finally:
        s.rollback()
