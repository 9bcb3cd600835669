"""Members in the admin: who a staff user may see, the filtered list, one member with the ledger, adjustments.

A dealer role sees a member whose home dealer is its dealer, or who is bound to one of its customers;
a brand admin sees every member of the account. Every points write goes through `ledger`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Customer, CustomerBinding, Follower, Member, PointsEntry, StaffUser, Tier
from scrm.security import mask_openid
from scrm.services import ledger, loyalty_rules, tiers
from scrm.services.customer_admin import show_phone
from scrm.services.errors import Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope

PER_PAGE = 50
LEDGER_PER_PAGE = 30
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class MemberFilter:
    """The list's filters; empty values filter nothing."""

    q: str = ""
    tier_id: int | None = None
    min_balance: int | None = None
    max_balance: int | None = None


@dataclass(frozen=True)
class BoundCustomer:
    """A customer record a member's follower is bound to, as this user may see it."""

    id: int
    name: str
    phone: str
    dealer_id: int


@dataclass(frozen=True)
class MemberRow:
    """One line of the member list."""

    id: int
    openid: str
    remark: str
    balance: int
    tier_name: str
    streak: int
    last_checkin_on: date | None
    joined_at: datetime
    customers: list[BoundCustomer] = field(default_factory=list)


@dataclass(frozen=True)
class LedgerRow:
    """One ledger entry with the name of the staff member who adjusted it."""

    entry: PointsEntry
    staff_name: str


@dataclass(frozen=True)
class MemberView:
    """A member's page: the follower, bound customers, balance, tier progress and points expiring soon."""

    member: Member
    openid: str
    remark: str
    subscribed: bool
    customers: list[BoundCustomer]
    progress: tiers.Progress
    expiring_points: int
    expiring_by: datetime | None
    warning_days: int


def visible(scope: Scope) -> sa.ColumnElement[bool]:
    """Members this user may see: the account's; for a dealer role, its own or bound to its customers."""
    account = Member.account_id == scope.account_id
    if scope.all_dealers:
        return sa.and_(account)
    if scope.dealer_id is None:
        return sa.and_(account, sa.false())
    bound = sa.select(CustomerBinding.follower_id).where(CustomerBinding.dealer_id == scope.dealer_id)
    return sa.and_(account, sa.or_(Member.dealer_id == scope.dealer_id, Member.follower_id.in_(bound)))


def get_member(scope: Scope, member_id: int) -> Member:
    """A member by id; NotFound when it does not exist or is out of the user's scope."""
    m = db.session.scalar(sa.select(Member).where(Member.id == member_id, visible(scope)))
    if m is None:
        raise NotFound()
    return m


def tier_choices(scope: Scope) -> list[Tier]:
    """The account's tiers, lowest first (for the filter)."""
    return tiers.ladder(db.session(), scope.account_id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _customers_scope(scope: Scope) -> sa.ColumnElement[bool]:
    return scope.condition(CustomerBinding)


def _text_condition(scope: Scope, q: str) -> sa.ColumnElement[bool]:
    like = f"%{_escape_like(q.lower())}%"
    parts: list[sa.ColumnElement[bool]] = [sa.func.lower(Follower.remark).like(like, escape="\\")]
    if len(q) >= 4:
        parts.append(Follower.openid.like(f"%{_escape_like(q)}%", escape="\\"))
    cust = sa.select(CustomerBinding.follower_id).join(Customer, Customer.id == CustomerBinding.customer_id).where(
        _customers_scope(scope), Customer.erased_at.is_(None))
    digits = q.replace(" ", "")
    if digits.isdigit() and len(digits) == 4:
        parts.append(Member.follower_id.in_(cust.where(sa.func.substr(Customer.mobile, 8, 4) == digits)))
    elif digits.isdigit() and len(digits) == 11:
        parts.append(Member.follower_id.in_(cust.where(Customer.mobile == digits)))
    else:
        parts.append(Member.follower_id.in_(cust.where(
            sa.func.lower(Customer.name).like(f"{_escape_like(q.lower())}%", escape="\\"))))
    return sa.or_(*parts)


def list_statement(scope: Scope, flt: MemberFilter) -> sa.Select[Member, Follower]:
    """The members in scope matching `flt`, newest first."""
    stmt = sa.select(Member, Follower).join(Follower, Follower.id == Member.follower_id).where(visible(scope))
    if flt.tier_id is not None:
        stmt = stmt.where(Member.tier_id == flt.tier_id)
    if flt.min_balance is not None:
        stmt = stmt.where(Member.balance >= flt.min_balance)
    if flt.max_balance is not None:
        stmt = stmt.where(Member.balance <= flt.max_balance)
    if flt.q:
        stmt = stmt.where(_text_condition(scope, flt.q))
    return stmt.order_by(Member.joined_at.desc(), Member.id.desc())


def _bound(s: Session, scope: Scope, follower_ids: list[int]) -> dict[int, list[BoundCustomer]]:
    if not follower_ids:
        return {}
    out: dict[int, list[BoundCustomer]] = {}
    rows = s.execute(sa.select(CustomerBinding.follower_id, Customer)
                     .join(Customer, Customer.id == CustomerBinding.customer_id)
                     .where(CustomerBinding.follower_id.in_(follower_ids), _customers_scope(scope))
                     .order_by(CustomerBinding.bound_at))
    for follower_id, c in rows:
        out.setdefault(follower_id, []).append(
            BoundCustomer(c.id, c.name or "", show_phone(scope, c.mobile), c.dealer_id))
    return out


def list_members(scope: Scope, flt: MemberFilter, page: int = 1) -> Page[MemberRow]:
    """One page of the member list."""
    s = db.session()
    raw = paginate(s, cast("sa.Select[Any]", list_statement(scope, flt)), page, PER_PAGE)
    names = {t.id: t.name for t in tiers.ladder(s, scope.account_id)}
    bound = _bound(s, scope, [f.id for _m, f in raw.items])
    rows = [MemberRow(m.id, mask_openid(f.openid), f.remark, m.balance, names.get(m.tier_id or 0, ""), m.streak,
                      m.last_checkin_on, m.joined_at, bound.get(f.id, [])) for m, f in raw.items]
    return Page(items=rows, page=raw.page, per_page=raw.per_page, total=raw.total)


def member_view(scope: Scope, member: Member, now: datetime | None = None) -> MemberView:
    """Everything the member page shows above the ledger."""
    s = db.session()
    now = now or db.utcnow()
    f = s.get(Follower, member.follower_id)
    assert f is not None
    warn = loyalty_rules.settings_of(s, member.account_id).expiry_warning_days
    horizon = now + timedelta(days=warn)
    soon = s.execute(sa.select(sa.func.coalesce(sa.func.sum(PointsEntry.remaining), 0),
                               sa.func.max(PointsEntry.expires_at)).where(
        PointsEntry.member_id == member.id, PointsEntry.remaining > 0,
        PointsEntry.expires_at > now, PointsEntry.expires_at <= horizon)).one()
    return MemberView(member, mask_openid(f.openid), f.remark, f.subscribed, _bound(s, scope, [f.id]).get(f.id, []),
                      tiers.progress_in(s, member, now), int(soon[0] or 0), soon[1], warn)


def ledger_page(member: Member, page: int = 1) -> Page[LedgerRow]:
    """The member's ledger, newest first, with staff names for adjustments."""
    s = db.session()
    stmt = (
        sa.select(PointsEntry, sa.func.coalesce(sa.func.nullif(StaffUser.display_name, ""), StaffUser.username))
        .outerjoin(StaffUser, StaffUser.id == PointsEntry.staff_id)
            .where(PointsEntry.member_id == member.id)
            .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc()))
    raw = paginate(s, cast("sa.Select[Any]", stmt), page, LEDGER_PER_PAGE)
    return Page(items=[LedgerRow(e, name or "") for e, name in raw.items], page=raw.page, per_page=raw.per_page,
                total=raw.total)


def for_customer(scope: Scope, customer_id: int) -> list[tuple[Member, str]]:
    """The members of the followers bound to a customer in scope, with their tier names (the 360 panel)."""
    s = db.session()
    c = s.get(Customer, customer_id)
    if c is None or not scope.allows(c):
        return []
    followers = sa.select(CustomerBinding.follower_id).where(CustomerBinding.customer_id == customer_id)
    members = list(s.scalars(sa.select(Member).where(Member.follower_id.in_(followers), visible(scope))
                             .order_by(Member.id)))
    names = {t.id: t.name for t in tiers.ladder(s, scope.account_id)} if members else {}
    return [(m, names.get(m.tier_id or 0, "")) for m in members]


def parse_points(raw: str) -> int:
    """A signed whole number of points from the form ('+50', '-20', '1,000')."""
    text = (raw or "").strip().replace(",", "").replace("，", "").replace(" ", "")
    if not re.fullmatch(r"[+-]?\d{1,7}", text):
        raise Invalid(N_("Enter a whole number of points, e.g. 50 or -20."), field="points")
    return int(text)


def adjust(scope: Scope, staff: StaffUser, member_id: int, points: str, note: str, form_key: str,
           ip: str = "") -> PointsEntry:
    """A staff adjustment through the ledger; the form's key makes a double submit adjust once."""
    scope.require(Perm.POINTS_ADJUST)
    member = get_member(scope, member_id)
    if not _KEY.match(form_key or ""):
        raise Invalid(N_("The form has expired: please reload the page and try again."))
    value = parse_points(points)
    return ledger.adjust(member.id, value, staff=staff, note=(note or "")[:200], key=f"adjust:{member.id}:{form_key}",
                         ip=ip)
