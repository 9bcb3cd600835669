"""Saved segments: create, edit and archive them (scoped, audited), count their audience, test membership.

A dealer role's segments are always its own dealer's; a brand admin may make a dealer's segment or an
account-wide one (`dealer_id` None). Staff of a dealer see their dealer's and the account-wide segments,
and every count they make is narrowed to their dealer. Segments are archived, never deleted: campaigns
and club events keep pointing at them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Dealer, Follower, Segment, StaffUser
from scrm.services import audit, campaign_run, segment_compile, segment_plan
from scrm.services.errors import Forbidden, Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope

audit.ACTIONS.update({
    "segment.create": N_("Created a segment"),
    "segment.update": N_("Edited a segment"),
    "segment.archive": N_("Archived a segment"),
})
NAME_MAX = 100
DESCRIPTION_MAX = 500


@dataclass(frozen=True)
class Counts:
    """How many contacts a definition matches, and of them customers, followers and reachable followers."""

    contacts: int
    customers: int
    followers: int
    reachable: int


@dataclass(frozen=True)
class Listed:
    """A segment on the list page with its dealer's name and who last saved it."""

    segment: Segment
    dealer_name: str
    author: str


def get(scope: Scope, segment_id: int) -> Segment:
    """A non-archived segment the staff member may see (their dealer's or account-wide); NotFound otherwise."""
    seg = scope.get(db.session(), Segment, segment_id, shared=True)
    if seg.archived_at is not None:
        raise NotFound()
    return seg


def may_edit(scope: Scope, seg: Segment) -> bool:
    """Whether the staff member may change this segment (dealer roles: only their own dealer's)."""
    return scope.can(Perm.SEGMENTS_EDIT) and scope.allows(seg)


def listing(scope: Scope, limit: int = 500) -> list[Listed]:
    """Non-archived segments in scope, most recently changed first."""
    stmt = (scope.apply(sa.select(Segment, Dealer.name, StaffUser.display_name, StaffUser.username), Segment,
                        shared=True)
            .outerjoin(Dealer, Dealer.id == Segment.dealer_id)
            .outerjoin(StaffUser, StaffUser.id == Segment.created_by)
            .where(Segment.archived_at.is_(None))
            .order_by(Segment.updated_at.desc(), Segment.id.desc()).limit(limit))
    return [Listed(seg, dealer or "", shown or user or "") for seg, dealer, shown, user in db.session.execute(stmt)]


def _dealer_for(scope: Scope, dealer_id: int | None) -> int | None:
    """The dealer a segment is saved for: a dealer role's own; a brand admin's choice (None: account-wide)."""
    if not scope.all_dealers:
        if scope.dealer_id is None:
            raise Forbidden()
        return scope.dealer_id
    return dealer_id


def _checked(s: Session, scope: Scope, seg_id: int | None, name: str, description: str, dealer_id: int | None,
             definition: Any) -> tuple[str, str, dict[str, Any]]:
    name, description = (name or "").strip(), (description or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise Invalid("Enter a name of 1 to 100 characters.", field="name")
    if len(description) > DESCRIPTION_MAX:
        raise Invalid("The description can be at most 500 characters.", field="description")
    if dealer_id is not None:
        dealer = s.get(Dealer, dealer_id)
        if dealer is None or dealer.account_id != scope.account_id or not scope.dealer_ok(dealer_id):
            raise Invalid("Choose your own dealer.", field="dealer_id")
    clean = segment_compile.normalise(definition, brand=scope.all_dealers)
    same = sa.select(Segment.id).where(
        Segment.account_id == scope.account_id, Segment.archived_at.is_(None),
        sa.func.lower(Segment.name) == name.lower(),
        Segment.dealer_id.is_(None) if dealer_id is None else Segment.dealer_id == dealer_id)
    if seg_id is not None:
        same = same.where(Segment.id != seg_id)
    if s.scalar(same.limit(1)) is not None:
        raise Invalid("A segment with this name already exists.", field="name")
    return name, description, clean


def create(scope: Scope, *, name: str, description: str, dealer_id: int | None, definition: Any,
           ip: str = "") -> Segment:
    """Save a new segment (its definition checked and normalised)."""
    scope.require(Perm.SEGMENTS_EDIT)
    dealer_id = _dealer_for(scope, dealer_id)
    with db.transaction() as s:
        name, description, clean = _checked(s, scope, None, name, description, dealer_id, definition)
        now = db.utcnow()
        seg = Segment(account_id=scope.account_id, dealer_id=dealer_id, name=name, description=description,
                      definition=clean, created_by=scope.staff_id, created_at=now, updated_at=now)
        s.add(seg)
        s.flush()
        _audit(s, scope, "segment.create", seg, ip)
    return seg


def update(scope: Scope, segment_id: int, *, name: str, description: str, dealer_id: int | None,
           definition: Any, ip: str = "") -> Segment:
    """Change a segment in scope; its stored count is cleared when the definition or dealer changes."""
    scope.require(Perm.SEGMENTS_EDIT)
    dealer_id = _dealer_for(scope, dealer_id)
    with db.transaction() as s:
        seg = scope.get(s, Segment, segment_id)
        if seg.archived_at is not None:
            raise Invalid("This segment is archived.")
        name, description, clean = _checked(s, scope, seg.id, name, description, dealer_id, definition)
        if clean != seg.definition or dealer_id != seg.dealer_id:
            seg.last_count, seg.last_counted_at = None, None
        seg.name, seg.description, seg.dealer_id, seg.definition = name, description, dealer_id, clean
        seg.updated_at, seg.created_by = db.utcnow(), scope.staff_id or seg.created_by
        _audit(s, scope, "segment.update", seg, ip)
    return seg


def archive(scope: Scope, segment_id: int, ip: str = "") -> Segment:
    """Archive a segment in scope: it leaves the lists; campaigns and events that use it keep the row."""
    scope.require(Perm.SEGMENTS_EDIT)
    with db.transaction() as s:
        seg = scope.get(s, Segment, segment_id)
        if seg.archived_at is None:
            seg.archived_at = db.utcnow()
            _audit(s, scope, "segment.archive", seg, ip)
    return seg


def _audit(s: Session, scope: Scope, action: str, seg: Segment, ip: str) -> None:
    staff = s.get(StaffUser, scope.staff_id) if scope.staff_id is not None else None
    audit.record(s, staff=staff, action=action, target_type="segment", target_id=seg.id,
                 detail={"name": seg.name}, ip=ip, account_id=scope.account_id, dealer_id=seg.dealer_id)


def narrowed(scope: Scope, dealer_id: int | None) -> int | None:
    """The dealer a count in this scope is narrowed to: a dealer role always sees only its own dealer."""
    return dealer_id if scope.all_dealers else _dealer_for(scope, None)


def audience_query(s: Session, scope: Scope, definition: Any, dealer_id: int | None) -> Any:
    """The compiled contacts (customer_id, follower_id, dealer_id, reachable) of a definition, in scope."""
    clean = segment_compile.normalise(definition, brand=scope.all_dealers)
    return segment_compile.audience(clean, account_id=scope.account_id, dealer_id=narrowed(scope, dealer_id),
                                    env=campaign_run.env(s)).subquery("contacts")


def count_contacts(s: Session, contacts: Any, *, one_dealer: bool = False) -> Counts:
    """The four figures staff see of a compiled audience: contacts, customers, followers, reachable followers.

    `one_dealer` says the audience was compiled for one dealer. Its followers are then each on one row at most
    (a follower has one binding per dealer, of that dealer's customer, and the unbound part takes only
    followers without one), so they are counted without DISTINCT: the count aggregates in the parallel
    workers instead of sorting every row in the leader.
    """
    followers: Any
    reachable: Any
    if one_dealer:
        followers = sa.func.count(contacts.c.follower_id)
        reachable = sa.func.count(contacts.c.follower_id).filter(contacts.c.reachable.is_(True))
    else:
        followers = sa.func.count(sa.distinct(contacts.c.follower_id))
        reachable = sa.func.count(sa.distinct(sa.case((contacts.c.reachable.is_(True), contacts.c.follower_id))))
    stmt = sa.select(sa.func.count(), sa.func.count(sa.distinct(contacts.c.customer_id)), followers,
                     reachable).select_from(contacts)
    with segment_plan.count_plan(s, sa.select(contacts.c.customer_id).select_from(contacts)):
        row = s.execute(stmt).one()
    return Counts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def count(scope: Scope, definition: Any, dealer_id: int | None, segment_id: int | None = None) -> Counts:
    """Count a definition for the builder; Invalid with its first problem.

    When it is the unchanged definition of saved segment `segment_id`, the count is stored on it.
    """
    scope.require(Perm.SEGMENTS_EDIT)
    with db.transaction() as s:
        segment_compile.tune(s)
        counts = count_contacts(s, audience_query(s, scope, definition, dealer_id),
                                one_dealer=narrowed(scope, dealer_id) is not None)
        seg = s.get(Segment, segment_id) if segment_id is not None else None
        clean = segment_compile.normalise(definition, brand=scope.all_dealers)
        if (seg is not None and seg.archived_at is None and scope.allows(seg)
                and seg.dealer_id == narrowed(scope, dealer_id) and seg.definition == clean):
            seg.last_count, seg.last_counted_at = counts.contacts, db.utcnow()
    return counts


def count_saved(scope: Scope, segment_id: int) -> Counts:
    """Count a saved segment in scope and store the number of contacts on it."""
    with db.transaction() as s:
        seg = scope.get(s, Segment, segment_id, shared=True)
        segment_compile.tune(s)
        counts = count_contacts(s, audience_query(s, scope, seg.definition, seg.dealer_id),
                                one_dealer=narrowed(scope, seg.dealer_id) is not None)
        if seg.archived_at is None and (scope.all_dealers or seg.dealer_id is not None):
            seg.last_count, seg.last_counted_at = counts.contacts, db.utcnow()   # a narrowed count is not stored
    return counts


def _compiled(s: Session, seg: Segment) -> Any:
    clean = segment_compile.normalise(seg.definition, brand=True)
    return segment_compile.audience(clean, account_id=seg.account_id, dealer_id=seg.dealer_id,
                                    env=campaign_run.env(s)).subquery("contacts")


def contains(s: Session, segment: Segment, follower_id: int) -> bool:
    """Whether this follower is in the segment's audience (an archived segment holds nobody)."""
    if segment.archived_at is not None:
        return False
    contacts = _compiled(s, segment)
    return bool(s.scalar(sa.select(sa.exists().where(contacts.c.follower_id == follower_id))))


def followers(s: Session, segment: Segment) -> list[tuple[int, str]]:
    """(follower id, openid) of the segment's subscribed followers, each once."""
    if segment.archived_at is not None:
        return []
    contacts = _compiled(s, segment)
    ids = sa.select(contacts.c.follower_id).where(contacts.c.follower_id.isnot(None))
    rows = s.execute(sa.select(Follower.id, Follower.openid).where(Follower.id.in_(ids),
                                                                   Follower.subscribed.is_(True))
                     .order_by(Follower.id))
    return [(int(r.id), str(r.openid)) for r in rows]


def usable(s: Session, account_id: int, dealer_id: int | None) -> list[Segment]:
    """Non-archived segments a row of `dealer_id` may target: that dealer's and the account-wide ones."""
    mine = Segment.dealer_id.is_(None) if dealer_id is None else sa.or_(Segment.dealer_id.is_(None),
                                                                        Segment.dealer_id == dealer_id)
    return list(s.scalars(sa.select(Segment).where(Segment.account_id == account_id,
                                                   Segment.archived_at.is_(None), mine)
                          .order_by(Segment.name, Segment.id)))
