"""Staff side of club events: create and edit, publish (with an optional push), cancel, and no-shows.

A dealer manager's events belong to their dealer; a brand admin may also make account-wide ones
(`dealer_id` empty). Every write needs Perm.EVENTS_MANAGE, is scoped to the staff member and audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    Audience,
    ClubEvent,
    EventRegistration,
    EventStatus,
    Follower,
    Member,
    RegistrationStatus,
    Segment,
    StaffUser,
    Tier,
)
from scrm.services import audit, booking_config, club, club_notify, ledger, segments
from scrm.services.errors import Invalid
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope

audit.ACTIONS.update({
    "club.create": N_("Created a club event"),
    "club.update": N_("Edited a club event"),
    "club.publish": N_("Published a club event"),
    "club.cancel": N_("Cancelled a club event"),
    "club.no_show": N_("Marked a club registrant as no-show"),
    "club.export": N_("Exported a club event's attendees"),
})


@dataclass
class EventInput:
    """The editable fields of an event (instants in UTC)."""

    title: str
    description: str
    place: str
    starts_at: datetime
    ends_at: datetime
    registration_deadline: datetime
    capacity: int
    max_companions: int
    points: int
    audience: Audience
    dealer_id: int | None
    min_tier_id: int | None = None
    segment_id: int | None = None


def events(scope: Scope, limit: int = 200) -> list[ClubEvent]:
    """Events in scope, latest start first."""
    scope.require(Perm.EVENTS_MANAGE)
    return list(db.session.scalars(scope.apply(sa.select(ClubEvent), ClubEvent)
                                   .order_by(ClubEvent.starts_at.desc(), ClubEvent.id.desc()).limit(limit)))


def get_event(scope: Scope, event_id: int) -> ClubEvent:
    """One event in scope, else NotFound."""
    scope.require(Perm.EVENTS_MANAGE)
    return scope.get(db.session(), ClubEvent, event_id)


def tiers(account_id: int) -> list[Tier]:
    """The account's tiers, lowest first."""
    return list(db.session.scalars(sa.select(Tier).where(Tier.account_id == account_id)
                                   .order_by(Tier.sort_order, Tier.id)))


def _check(s: Session, scope: Scope, data: EventInput, ev: ClubEvent | None) -> None:
    if not scope.dealer_ok(data.dealer_id):
        raise Invalid("Choose your own dealer.", field="dealer_id")
    if not data.title.strip():
        raise Invalid("Enter a title.", field="title")
    if data.ends_at <= data.starts_at:
        raise Invalid("The event must end after it starts.", field="ends_at")
    if data.registration_deadline > data.starts_at:
        raise Invalid("Registration must close before the event starts.", field="registration_deadline")
    if data.capacity < 1 or (ev is not None and data.capacity < ev.seats_taken):
        raise Invalid("The capacity must be at least 1 and not below the seats already taken.", field="capacity")
    if not 0 <= data.max_companions <= 10:
        raise Invalid("Companions must be between 0 and 10.", field="max_companions")
    if data.points < 0:
        raise Invalid("Points cannot be negative.", field="points")
    if data.audience == Audience.DEALER and data.dealer_id is None:
        raise Invalid("An event for a dealer's members needs a dealer.", field="audience")
    if data.audience == Audience.SEGMENT:
        seg = s.get(Segment, data.segment_id) if data.segment_id is not None else None
        if (seg is None or seg.account_id != scope.account_id or seg.archived_at is not None
                or seg.dealer_id not in (None, data.dealer_id)):
            raise Invalid("Choose a segment of the event's dealer or an account-wide one.", field="segment_id")
    if data.audience == Audience.TIER:
        tier = s.get(Tier, data.min_tier_id) if data.min_tier_id is not None else None
        if tier is None or tier.account_id != scope.account_id:
            raise Invalid("Choose a tier.", field="min_tier_id")


def save(actor: StaffUser, event_id: int | None, data: EventInput, ip: str = "") -> ClubEvent:
    """Create (event_id None) or edit an event in scope; cancelled events cannot be edited."""
    scope = Scope.of(actor)
    scope.require(Perm.EVENTS_MANAGE)
    with db.transaction() as s:
        ev = scope.get(s, ClubEvent, event_id) if event_id is not None else None
        if ev is not None and ev.status == EventStatus.CANCELLED:
            raise Invalid("A cancelled event cannot be changed.")
        _check(s, scope, data, ev)
        if ev is None:
            ev = ClubEvent(account_id=scope.account_id, checkin_token=secrets.token_hex(12),
                           created_by=actor.id, status=EventStatus.DRAFT, seats_taken=0)
            s.add(ev)
        ev.title, ev.description, ev.place = data.title.strip()[:60], data.description.strip(), data.place.strip()[:200]
        ev.starts_at, ev.ends_at, ev.registration_deadline = data.starts_at, data.ends_at, data.registration_deadline
        ev.capacity, ev.max_companions, ev.points = data.capacity, data.max_companions, data.points
        ev.audience, ev.dealer_id = data.audience, data.dealer_id
        ev.min_tier_id = data.min_tier_id if data.audience == Audience.TIER else None
        ev.segment_id = data.segment_id if data.audience == Audience.SEGMENT else None
        s.flush()
        if ev.status == EventStatus.PUBLISHED:      # more seats (or a later start) may seat the waitlist
            club.promote(s, ev.id, db.utcnow())
        audit.record(s, staff=actor, action="club.update" if event_id else "club.create", target_type="club_event",
                     target_id=ev.id, detail={"title": ev.title}, ip=ip, dealer_id=ev.dealer_id)
    return ev


def audience_followers(s: Session, ev: ClubEvent) -> list[tuple[int, str]]:
    """(follower id, openid) of the subscribed followers in the event's audience."""
    stmt = (sa.select(Follower.id, Follower.openid).outerjoin(Member, Member.follower_id == Follower.id)
            .where(Follower.account_id == ev.account_id, Follower.subscribed.is_(True)))
    if ev.audience == Audience.DEALER:
        stmt = stmt.where(sa.func.coalesce(Member.dealer_id, Follower.dealer_id) == ev.dealer_id)
    elif ev.audience == Audience.TIER:
        floor = s.get(Tier, ev.min_tier_id) if ev.min_tier_id is not None else None
        if floor is not None:
            stmt = stmt.where(Member.tier_id.in_(sa.select(Tier.id).where(
                Tier.account_id == ev.account_id, Tier.sort_order >= floor.sort_order)))
    elif ev.audience == Audience.SEGMENT:
        seg = s.get(Segment, ev.segment_id) if ev.segment_id is not None else None
        return segments.followers(s, seg) if seg is not None else []
    return [(int(r.id), str(r.openid)) for r in s.execute(stmt.order_by(Follower.id))]


def publish(actor: StaffUser, event_id: int, push: bool, ip: str = "") -> int:
    """Publish a draft (and, when asked, push it to its audience once); the number of pushes written."""
    scope = Scope.of(actor)
    scope.require(Perm.EVENTS_MANAGE)
    now = db.utcnow()
    with db.transaction() as s:
        ev = scope.get(s, ClubEvent, event_id)
        if ev.status == EventStatus.CANCELLED:
            raise Invalid("A cancelled event cannot be published.")
        if ev.ends_at <= now:
            raise Invalid("This event is already over.")
        if ev.status == EventStatus.DRAFT:
            ev.status, ev.published_at = EventStatus.PUBLISHED, now
        pushed = 0
        if push:
            pushed = club_notify.push(s, ev, audience_followers(s, ev))
            ev.pushed_at = now
        audit.record(s, staff=actor, action="club.publish", target_type="club_event", target_id=ev.id,
                     detail={"push": push, "pushed": pushed}, ip=ip, dealer_id=ev.dealer_id)
    return pushed


def cancel_event(actor: StaffUser, event_id: int, ip: str = "") -> int:
    """Cancel an event and tell everyone registered or waiting; the number of notices written."""
    scope = Scope.of(actor)
    scope.require(Perm.EVENTS_MANAGE)
    now = db.utcnow()
    with db.transaction() as s:
        ev = scope.get(s, ClubEvent, event_id)
        if ev.status == EventStatus.CANCELLED:
            raise Invalid("This event is already cancelled.")
        was_published = ev.status == EventStatus.PUBLISHED
        ev.status = EventStatus.CANCELLED
        regs = list(s.scalars(sa.select(EventRegistration).where(
            EventRegistration.event_id == ev.id,
            EventRegistration.status.in_([RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED]))))
        held = sum(1 + r.companions for r in regs if r.status == RegistrationStatus.REGISTERED)
        for reg in regs:
            reg.status, reg.cancelled_at = RegistrationStatus.CANCELLED, now
        ev.seats_taken = max(0, ev.seats_taken - held)
        told = club_notify.tell_members(s, ev, "cancelled", [r.member_id for r in regs]) if was_published else 0
        audit.record(s, staff=actor, action="club.cancel", target_type="club_event", target_id=ev.id,
                     detail={"registrations": len(regs)}, ip=ip, dealer_id=ev.dealer_id)
    return told


def mark_no_show(actor: StaffUser, event_id: int, registration_id: int, ip: str = "") -> None:
    """Mark a registered (not checked-in) member of a started event as a no-show."""
    scope = Scope.of(actor)
    scope.require(Perm.EVENTS_MANAGE)
    with db.transaction() as s:
        ev = scope.get(s, ClubEvent, event_id)
        reg = s.get(EventRegistration, registration_id, with_for_update=True)
        if reg is None or reg.event_id != ev.id or reg.status != RegistrationStatus.REGISTERED:
            raise Invalid("Only a registered member who has not checked in can be marked as no-show.")
        if db.utcnow() < ev.starts_at:
            raise Invalid("The event has not started yet.")
        reg.status = RegistrationStatus.NO_SHOW
        audit.record(s, staff=actor, action="club.no_show", target_type="club_event", target_id=ev.id,
                     detail={"registration_id": reg.id, "member_id": reg.member_id}, ip=ip, dealer_id=ev.dealer_id)


def segment_choices(scope: Scope) -> list[Segment]:
    """Segments an event in scope may be restricted to: the staff member's dealer's and account-wide ones."""
    return list(db.session.scalars(scope.apply(sa.select(Segment), Segment, shared=True)
                                   .where(Segment.archived_at.is_(None)).order_by(Segment.name, Segment.id)))


def zone(dealer_id: int | None) -> ZoneInfo:
    """The time zone event times of `dealer_id` (None: account-wide) are entered and shown in."""
    with db.transaction() as s:
        return booking_config.load(s, dealer_id).rules.tz if dealer_id is not None else ledger.local_tz()


def parse_local(raw: str, tz: ZoneInfo, field: str) -> datetime:
    """A `YYYY-MM-DDTHH:MM` local time as an aware UTC instant; Invalid (on `field`) otherwise."""
    try:
        value = datetime.strptime(raw.strip().replace(" ", "T")[:16], "%Y-%m-%dT%H:%M")
    except ValueError as exc:
        raise Invalid("Enter a date and time.", field=field) from exc
    return value.replace(tzinfo=tz).astimezone(UTC)
