"""The badge editor (brand admin edits, dealer roles view), the standard set, and staff awards and revokes."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Badge, BadgeRule, Member, MemberBadge, StaffUser
from scrm.services import audit, badges
from scrm.services.errors import Forbidden, Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems

audit.ACTIONS.update({
    "badge.create": N_("Created a badge"),
    "badge.update": N_("Edited a badge"),
    "badge.seed": N_("Added the standard badges"),
    "badge.award": N_("Gave a member a badge"),
    "badge.revoke": N_("Took a badge from a member"),
})

RULE_LABELS: dict[BadgeRule, str] = {
    BadgeRule.FIRST_SERVICE: N_("First service visit"),
    BadgeRule.CHECKIN_STREAK: N_("Check-in streak (days)"),
    BadgeRule.CLUB_REGULAR: N_("Club events attended"),
    BadgeRule.TOP_REFERRER: N_("Friends referred who bound"),
    BadgeRule.BOOKINGS: N_("Completed bookings"),
    BadgeRule.MANUAL: N_("Given by staff"),
}

# code, name, description, icon, rule, threshold (Chinese, the default; icons are characters every font has)
STANDARD: list[tuple[str, str, str, str, BadgeRule, int]] = [
    ("first_service", "首次保养", "完成第一次到店保养或维修", "修", BadgeRule.FIRST_SERVICE, 1),
    ("streak_7", "连续签到7天", "连续 7 天每日签到", "签", BadgeRule.CHECKIN_STREAK, 7),
    ("club_regular", "俱乐部常客", "参加 3 场车主活动", "聚", BadgeRule.CLUB_REGULAR, 3),
    ("top_referrer", "推荐达人", "推荐 3 位好友绑定", "荐", BadgeRule.TOP_REFERRER, 3),
    ("old_friend", "老朋友", "完成 5 次预约到店", "友", BadgeRule.BOOKINGS, 5),
]


@dataclass(frozen=True)
class BadgeInput:
    """The editor's fields as typed."""

    code: str
    name: str
    description: str
    icon: str
    rule: str
    threshold: str
    active: bool
    sort_order: str


@dataclass(frozen=True)
class BadgeRow:
    """A badge in the list, with how many members (in the viewer's scope) hold it."""

    badge: Badge
    holders: int


def can_edit(scope: Scope) -> bool:
    """True for who edits badges: the brand admin (badges are account-wide)."""
    return scope.all_dealers and scope.can(Perm.LOYALTY_RULES)


def can_award(scope: Scope) -> bool:
    """True for who may give or take a member's badge."""
    return scope.can(Perm.LOYALTY_RULES) or scope.can(Perm.POINTS_ADJUST)


def list_badges(scope: Scope) -> list[BadgeRow]:
    """The account's badges in order, each with its holders among the members the viewer may see."""
    with db.transaction() as s:
        holders = (sa.select(MemberBadge.badge_id, sa.func.count().label("n"))
                   .join(Member, Member.id == MemberBadge.member_id)
                   .where(scope.condition(Member)).group_by(MemberBadge.badge_id).subquery())
        rows = s.execute(sa.select(Badge, sa.func.coalesce(holders.c.n, 0))
                         .outerjoin(holders, holders.c.badge_id == Badge.id)
                         .where(Badge.account_id == scope.account_id)
                         .order_by(Badge.sort_order, Badge.id)).all()
        return [BadgeRow(r[0], int(r[1])) for r in rows]


def get_badge(scope: Scope, badge_id: int) -> Badge:
    """One badge of the viewer's account; NotFound otherwise."""
    with db.transaction() as s:
        b = s.get(Badge, badge_id)
        if b is None or b.account_id != scope.account_id:
            raise NotFound()
        return b


def _clean(s: Session, scope: Scope, data: BadgeInput, badge_id: int | None) -> dict[str, object]:
    p = Problems()
    code, name, icon = data.code.strip().lower(), data.name.strip(), data.icon.strip()
    if not code or len(code) > 32 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in code):
        p.add("code", N_("Enter a code of up to 32 letters, digits, - or _."))
    elif s.scalar(sa.select(Badge.id).where(Badge.account_id == scope.account_id, Badge.code == code,
                                            Badge.id != (badge_id or 0))) is not None:
        p.add("code", N_("Another badge already has this code."))
    if not name or len(name) > 50:
        p.add("name", N_("Enter a name of up to 50 characters."))
    if len(data.description.strip()) > 200:
        p.add("description", N_("The description can have at most 200 characters."))
    if not icon or len(icon) > 2 or len(icon.encode("utf-8")) > 8:
        p.add("icon", N_("Enter one character or emoji as the icon."))
    try:
        rule = BadgeRule(data.rule)
    except ValueError:
        rule = BadgeRule.MANUAL
        p.add("rule", N_("Choose how the badge is earned."))
    threshold = int(data.threshold) if data.threshold.strip().isdigit() else -1
    if not 1 <= threshold <= 10000:
        p.add("threshold", N_("Enter a whole number from 1 to 10,000."))
    order = data.sort_order.strip().lstrip("-")
    if not order.isdigit() or int(order) > 10000:
        p.add("sort_order", N_("Enter a whole number from -10,000 to 10,000."))
    p.raise_if_any()
    return {"code": code, "name": name, "description": data.description.strip(), "icon": icon, "rule": rule,
            "threshold": threshold, "active": data.active, "sort_order": int(data.sort_order.strip())}


def save_badge(staff: StaffUser, data: BadgeInput, badge_id: int | None = None, ip: str = "") -> Badge:
    """Create (no `badge_id`) or edit a badge; brand admin only; audited."""
    scope = Scope.of(staff)
    if not can_edit(scope):
        raise Forbidden()
    with db.transaction() as s:
        values = _clean(s, scope, data, badge_id)
        if badge_id is None:
            b = Badge(account_id=scope.account_id, **values)
            s.add(b)
            s.flush()
        else:
            found = s.scalar(sa.select(Badge).where(Badge.id == badge_id, Badge.account_id == scope.account_id)
                             .with_for_update())
            if found is None:
                raise NotFound()
            b = found
            for key, value in values.items():
                setattr(b, key, value)
        audit.record(s, staff=staff, action="badge.update" if badge_id else "badge.create", target_type="badge",
                     target_id=b.id, ip=ip, detail={k: str(v) for k, v in values.items()})
        return b


def seed_standard(staff: StaffUser, ip: str = "") -> int:
    """Add the standard badges the account lacks (by code); return how many were added."""
    scope = Scope.of(staff)
    if not can_edit(scope):
        raise Forbidden()
    with db.transaction() as s:
        have = set(s.scalars(sa.select(Badge.code).where(Badge.account_id == scope.account_id)))
        top = int(s.scalar(sa.select(sa.func.coalesce(sa.func.max(Badge.sort_order), 0))
                           .where(Badge.account_id == scope.account_id)) or 0)
        added = [c for c in STANDARD if c[0] not in have]
        for i, (code, name, text, icon, rule, threshold) in enumerate(added, start=1):
            s.add(Badge(account_id=scope.account_id, code=code, name=name, description=text, icon=icon,
                        rule=rule, threshold=threshold, active=True, sort_order=top + i * 10))
        if added:
            audit.record(s, staff=staff, action="badge.seed", target_type="badge",
                         detail={"codes": [c[0] for c in added]}, ip=ip)
        return len(added)


@dataclass(frozen=True)
class MemberBadges:
    """A member's badges for the staff page: what they hold, and the manual badges they could be given."""

    member: Member
    held: list[tuple[Badge, MemberBadge]]
    can_give: list[Badge]


def member_badges(scope: Scope, member_id: int) -> MemberBadges:
    """The badges of a member in the viewer's scope."""
    with db.transaction() as s:
        m = scope.get(s, Member, member_id)
        held = [(r[0], r[1]) for r in s.execute(
            sa.select(Badge, MemberBadge).join(MemberBadge, MemberBadge.badge_id == Badge.id)
            .where(MemberBadge.member_id == m.id).order_by(Badge.sort_order, Badge.id))]
        mine = {b.id for b, _ in held}
        give = [b for b in s.scalars(sa.select(Badge).where(
            Badge.account_id == scope.account_id, Badge.rule == BadgeRule.MANUAL, Badge.active.is_(True))
            .order_by(Badge.sort_order, Badge.id)) if b.id not in mine]
        return MemberBadges(m, held, give)


def award(staff: StaffUser, member_id: int, badge_id: int, ip: str = "") -> bool:
    """Give a MANUAL badge to a member in scope; False when already held. Audited; the member is told."""
    scope = Scope.of(staff)
    if not can_award(scope):
        raise Forbidden()
    with db.transaction() as s:
        m = scope.get(s, Member, member_id)
        b = s.get(Badge, badge_id)
        if b is None or b.account_id != scope.account_id:
            raise NotFound()
        if b.rule != BadgeRule.MANUAL or not b.active:
            raise Invalid(N_("Only active badges given by staff can be awarded by hand."), field="badge_id")
        done = badges.award_in(s, m, b, db.utcnow(), staff_id=staff.id)
        if done:
            audit.record(s, staff=staff, action="badge.award", target_type="member", target_id=m.id, ip=ip,
                         dealer_id=m.dealer_id, detail={"badge": b.code})
        return done


def revoke(staff: StaffUser, member_id: int, badge_id: int, ip: str = "") -> bool:
    """Take a badge from a member in scope; False when not held. Audited."""
    scope = Scope.of(staff)
    if not can_award(scope):
        raise Forbidden()
    with db.transaction() as s:
        m = scope.get(s, Member, member_id)
        b = s.get(Badge, badge_id)
        if b is None or b.account_id != scope.account_id:
            raise NotFound()
        row = s.scalar(sa.select(MemberBadge).where(MemberBadge.member_id == m.id, MemberBadge.badge_id == b.id)
                       .with_for_update())
        gone = row is not None
        if row is not None:
            s.delete(row)
        if gone:
            audit.record(s, staff=staff, action="badge.revoke", target_type="member", target_id=m.id, ip=ip,
                         dealer_id=m.dealer_id, detail={"badge": b.code})
        return gone
