"""What the referral pages show: a member's friends with their progress (H5), and staff's list (admin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from scrm import db
from scrm.models import Customer, CustomerBinding, Dealer, EntryKind, Follower, Member, PointsEntry, Referral
from scrm.security import mask_openid, mask_phone
from scrm.services import booking_config, ledger
from scrm.services.paging import Page, paginate
from scrm.services.referrals import mask_name
from scrm.services.referrals_points import SOURCE
from scrm.services.scope import Perm, Scope

STAGE_FILTERS = ("followed", "bound", "test_drive", "purchased")
_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Friend:
    """One friend a member brought, as the member sees them."""

    label: str
    joined_on: date  # in the member's dealer's time zone
    bound: bool
    test_drove: bool
    bought: bool
    points: int


@dataclass(frozen=True)
class MyReferrals:
    """The member's friends (newest first) and the points their referrals earned."""

    friends: list[Friend]
    points: int
    tz: ZoneInfo


@dataclass(frozen=True)
class Person:
    """A member as staff see them: the bound record's name and phone, else the masked openid."""

    name: str
    phone: str
    openid: str


@dataclass(frozen=True)
class Row:
    """One referral in the admin list."""

    id: int
    created_at: datetime
    referrer: Person
    referee: Person
    dealer: str
    bound_at: datetime | None
    test_drive_at: datetime | None
    purchased_at: datetime | None
    points: int


@dataclass(frozen=True)
class Top:
    """A referrer of this month: friends brought this month and points earned from referrals this month."""

    referrer: Person
    friends: int
    points: int


def _points_by_referral(s: Session, member_id: int | None, referral_ids: list[int]) -> dict[int, int]:
    if not referral_ids:
        return {}
    stmt = (sa.select(PointsEntry.source_id, sa.func.sum(PointsEntry.points))
            .where(PointsEntry.source == SOURCE, PointsEntry.kind == EntryKind.EARN,
                   PointsEntry.source_id.in_([str(i) for i in referral_ids]))
            .group_by(PointsEntry.source_id))
    if member_id is not None:
        stmt = stmt.where(PointsEntry.member_id == member_id)
    return {int(k): int(v or 0) for k, v in s.execute(stmt).all()}


def _bound_people(s: Session, follower_ids: set[int]) -> dict[int, tuple[str, str]]:
    """follower id -> (name, mobile) of its earliest binding to a live record."""
    out: dict[int, tuple[str, str]] = {}
    if not follower_ids:
        return out
    rows = s.execute(sa.select(CustomerBinding.follower_id, Customer.name, Customer.mobile)
                     .join(Customer, Customer.id == CustomerBinding.customer_id)
                     .where(CustomerBinding.follower_id.in_(follower_ids), Customer.erased_at.is_(None))
                     .order_by(CustomerBinding.bound_at.desc()))
    for fid, name, mobile in rows:
        out[int(fid)] = (str(name or ""), str(mobile or ""))
    return out


def mine(account_id: int, follower_id: int) -> MyReferrals:
    """The friends a follower brought and the referral points they earned (nothing yet: empty)."""
    with db.transaction() as s:
        me = s.scalar(sa.select(Member).where(Member.follower_id == follower_id, Member.account_id == account_id))
        if me is None:
            return MyReferrals(friends=[], points=0, tz=ledger.local_tz())
        tz = booking_config.load(s, me.dealer_id).rules.tz if me.dealer_id is not None else ledger.local_tz()
        rows = s.execute(sa.select(Referral, Member.follower_id).join(Member, Member.id == Referral.referee_id)
                         .where(Referral.referrer_id == me.id).order_by(Referral.created_at.desc(),
                                                                       Referral.id.desc())).all()
        points = _points_by_referral(s, me.id, [r.id for r, _ in rows])
        people = _bound_people(s, {int(fid) for _, fid in rows})
        friends = []
        for r, fid in rows:
            name, mobile = people.get(int(fid), ("", ""))
            label = mask_name(name) if name else (mask_phone(mobile) if mobile else "")
            friends.append(Friend(label=label, joined_on=r.created_at.astimezone(tz).date(),
                                  bound=r.bound_at is not None, test_drove=r.test_drive_at is not None,
                                  bought=r.purchased_at is not None,
                                  points=points.get(r.id, 0)))
        total = int(s.scalar(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.points), 0)).where(
            PointsEntry.member_id == me.id, PointsEntry.source == SOURCE, PointsEntry.kind == EntryKind.EARN)) or 0)
        return MyReferrals(friends=friends, points=total, tz=tz)


def _person(scope: Scope, people: dict[int, tuple[str, str]], follower_id: int, openid: str) -> Person:
    name, mobile = people.get(follower_id, ("", ""))
    phone = mobile if scope.can(Perm.CUSTOMER_PHONES) or not mobile else mask_phone(mobile)
    return Person(name=name, phone=phone, openid=mask_openid(openid))


def _scoped(scope: Scope) -> sa.Select[Any]:
    stmt: sa.Select[Any] = sa.select(Referral, Member)  # type: ignore[assignment]
    return stmt.join(Member, Member.id == Referral.referrer_id).where(
        Referral.account_id == scope.account_id, scope.condition(Member))


def month_start(now: datetime) -> datetime:
    """The first instant of `now`'s local month (the points calendar's time zone)."""
    local = now.astimezone(ledger.local_tz()).date()
    return datetime.combine(local.replace(day=1), time(0), ledger.local_tz())


def admin_list(scope: Scope, *, stage: str = "", dealer_id: int | None = None, since: date | None = None,
               until: date | None = None, page: int = 1) -> Page[Row]:
    """Referrals of the members whose home dealer is in scope, newest first, filtered."""
    s = db.session()
    stmt = _scoped(scope)
    if dealer_id is not None:
        stmt = stmt.where(Member.dealer_id == dealer_id)
    column = {"bound": Referral.bound_at, "test_drive": Referral.test_drive_at,
              "purchased": Referral.purchased_at}.get(stage)
    if column is not None:
        stmt = stmt.where(column.is_not(None))
    elif stage == "followed":
        stmt = stmt.where(Referral.bound_at.is_(None))
    tz = ledger.local_tz()
    if since is not None:
        stmt = stmt.where(Referral.created_at >= datetime.combine(since, time(0), tz))
    if until is not None:
        stmt = stmt.where(Referral.created_at < datetime.combine(until, time(0), tz) + _DAY)
    found = paginate(s, stmt.order_by(Referral.created_at.desc(), Referral.id.desc()), page)
    referees = aliased(Member)
    pairs = [(r, m) for r, m in found.items]
    ids = [r.id for r, _ in pairs]
    referee_fids = dict(s.execute(sa.select(referees.id, referees.follower_id)
                                  .where(referees.id.in_([r.referee_id for r, _ in pairs]))).all()) if pairs else {}
    fids = {m.follower_id for _, m in pairs} | {int(v) for v in referee_fids.values()}
    openids = dict(s.execute(sa.select(Follower.id, Follower.openid).where(Follower.id.in_(fids))).all()) \
        if fids else {}
    people = _bound_people(s, fids)
    dealers = dict(s.execute(sa.select(Dealer.id, Dealer.name).where(
        Dealer.id.in_({m.dealer_id for _, m in pairs if m.dealer_id is not None}))).all()) if pairs else {}
    points = _points_by_referral(s, None, ids)
    rows = []
    for r, m in pairs:
        ref_fid = int(referee_fids.get(r.referee_id, 0))
        rows.append(Row(id=r.id, created_at=r.created_at,
                        referrer=_person(scope, people, m.follower_id, str(openids.get(m.follower_id, ""))),
                        referee=_person(scope, people, ref_fid, str(openids.get(ref_fid, ""))),
                        dealer=str(dealers.get(m.dealer_id, "")) if m.dealer_id else "",
                        bound_at=r.bound_at, test_drive_at=r.test_drive_at, purchased_at=r.purchased_at,
                        points=points.get(r.id, 0)))
    return Page(items=rows, page=found.page, per_page=found.per_page, total=found.total)


def top_referrers(scope: Scope, *, now: datetime | None = None, limit: int = 10,
                  dealer_id: int | None = None) -> list[Top]:
    """The members in scope who brought the most friends this (local) month."""
    s = db.session()
    start = month_start(now or db.utcnow())
    stmt = (sa.select(Member.id, Member.follower_id, sa.func.count(Referral.id).label("n"))
            .join(Referral, Referral.referrer_id == Member.id)
            .where(Referral.account_id == scope.account_id, scope.condition(Member), Referral.created_at >= start)
            .group_by(Member.id, Member.follower_id).order_by(sa.desc("n"), Member.id).limit(limit))
    if dealer_id is not None:
        stmt = stmt.where(Member.dealer_id == dealer_id)
    found = s.execute(stmt).all()
    if not found:
        return []
    earned = dict(s.execute(sa.select(PointsEntry.member_id, sa.func.sum(PointsEntry.points))
                            .where(PointsEntry.member_id.in_([r.id for r in found]), PointsEntry.source == SOURCE,
                                   PointsEntry.kind == EntryKind.EARN, PointsEntry.created_at >= start)
                            .group_by(PointsEntry.member_id)).all())
    fids = {int(r.follower_id) for r in found}
    openids = dict(s.execute(sa.select(Follower.id, Follower.openid).where(Follower.id.in_(fids))).all())
    people = _bound_people(s, fids)
    return [Top(referrer=_person(scope, people, int(r.follower_id), str(openids.get(r.follower_id, ""))),
                friends=int(r.n), points=int(earned.get(r.id, 0) or 0)) for r in found]

