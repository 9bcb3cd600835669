"""Owners' club registrations: audience and deadline checks, seats taken atomically, the waitlist, cancel.

Seats (the member plus companions) are taken with one conditional UPDATE of `club_events.seats_taken`
(`+ seats WHERE seats_taken + seats <= capacity`), and the table's CHECK is the last gate, so capacity
holds under any concurrency. A full event (or one with people already waiting) puts the member on the
waitlist, ordered by `registered_at` then id; a cancellation frees the seats and promotes, in order,
those on the waitlist whose party fits, each told through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

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
    Tier,
)
from scrm.services import club_notify, ledger, segments
from scrm.services.booking_notify_text import local_time
from scrm.services.errors import Invalid, NotFound

ACTIVE = (RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED, RegistrationStatus.ATTENDED)


@dataclass(frozen=True)
class Registered:
    """The outcome of registering: the status and, on the waitlist, the position (1 = next)."""

    event_id: int
    status: RegistrationStatus
    companions: int
    position: int | None = None


def event_of(s: Session, account_id: int, event_id: int) -> ClubEvent:
    """A published or cancelled event of the account (never a draft); NotFound otherwise."""
    ev = s.get(ClubEvent, event_id)
    if ev is None or ev.account_id != account_id or ev.status == EventStatus.DRAFT:
        raise NotFound("That event was not found.")
    return ev


def may_join(s: Session, ev: ClubEvent, m: Member) -> bool:
    """Whether member `m` is in the event's audience."""
    if ev.audience == Audience.ALL:
        return True
    if ev.audience == Audience.DEALER:
        return ev.dealer_id is not None and m.dealer_id == ev.dealer_id
    if ev.audience == Audience.TIER:
        if ev.min_tier_id is None:
            return True
        if m.tier_id is None:
            return False
        mine, floor = s.get(Tier, m.tier_id), s.get(Tier, ev.min_tier_id)
        return mine is not None and floor is not None and mine.sort_order >= floor.sort_order
    if ev.audience == Audience.SEGMENT:
        seg = s.get(Segment, ev.segment_id) if ev.segment_id is not None else None
        return seg is not None and seg.account_id == ev.account_id and segments.contains(s, seg, m.follower_id)
    return False


def audience_filter(s: Session, m: Member) -> sa.ColumnElement[bool]:
    """The SQL condition of the events member `m` may join (as `may_join`; segment events need `may_join` too)."""
    conds: list[sa.ColumnElement[bool]] = [ClubEvent.audience.in_([Audience.ALL, Audience.SEGMENT])]
    if m.dealer_id is not None:
        conds.append(sa.and_(ClubEvent.audience == Audience.DEALER, ClubEvent.dealer_id == m.dealer_id))
    tier = s.get(Tier, m.tier_id) if m.tier_id is not None else None
    if tier is not None:
        lower = sa.select(Tier.id).where(Tier.account_id == m.account_id, Tier.sort_order <= tier.sort_order)
        conds.append(sa.and_(ClubEvent.audience == Audience.TIER,
                             sa.or_(ClubEvent.min_tier_id.is_(None), ClubEvent.min_tier_id.in_(lower))))
    return sa.or_(*conds)


def take_seats(s: Session, event_id: int, seats: int, *, behind_waitlist: bool) -> bool:
    """Raise the event's seats by `seats` if they fit (and, when `behind_waitlist`, nobody waits)."""
    stmt = (sa.update(ClubEvent).where(ClubEvent.id == event_id,
                                       ClubEvent.seats_taken + seats <= ClubEvent.capacity)
            .values(seats_taken=ClubEvent.seats_taken + seats))
    if behind_waitlist:
        waiting = sa.exists().where(EventRegistration.event_id == event_id,
                                    EventRegistration.status == RegistrationStatus.WAITLISTED)
        stmt = stmt.where(~waiting)
    result = cast(sa.CursorResult[Any], s.execute(stmt.execution_options(synchronize_session=False)))
    return bool(result.rowcount)


def free_seats(s: Session, event_id: int, seats: int) -> None:
    """Give `seats` back to the event."""
    s.execute(sa.update(ClubEvent).where(ClubEvent.id == event_id)
              .values(seats_taken=ClubEvent.seats_taken - seats).execution_options(synchronize_session=False))


def is_active(reg: EventRegistration | None) -> bool:
    """Whether a registration still holds a seat or a waitlist place (and so can be cancelled)."""
    return reg is not None and reg.status in (RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED)


def waitlist_position(s: Session, reg: EventRegistration) -> int | None:
    """1-based place of a waitlisted registration, else None."""
    if reg.status != RegistrationStatus.WAITLISTED:
        return None
    ahead = s.scalar(sa.select(sa.func.count()).select_from(EventRegistration).where(
        EventRegistration.event_id == reg.event_id, EventRegistration.status == RegistrationStatus.WAITLISTED,
        sa.or_(EventRegistration.registered_at < reg.registered_at,
               sa.and_(EventRegistration.registered_at == reg.registered_at, EventRegistration.id < reg.id))))
    return int(ahead or 0) + 1


def _member(s: Session, follower_id: int) -> Member:
    return ledger.member_in(s, follower_id, lock=True)  # one member's registrations queue up


def _registration(s: Session, event_id: int, member_id: int) -> EventRegistration | None:
    return s.scalar(sa.select(EventRegistration).where(EventRegistration.event_id == event_id,
                                                       EventRegistration.member_id == member_id)
                    .with_for_update())


def register(follower_id: int, event_id: int, companions: int, now: datetime | None = None) -> Registered:
    """Register the follower's member (with `companions`) or put them on the waitlist when full."""
    now = now or db.utcnow()
    with db.transaction() as s:
        account_id = s.scalar(sa.select(Follower.account_id).where(Follower.id == follower_id))
        if account_id is None:
            raise NotFound("That event was not found.")
        ev = event_of(s, int(account_id), event_id)
        m = _member(s, follower_id)
        if ev.status != EventStatus.PUBLISHED:
            raise Invalid("This event has been cancelled.")
        if now > ev.registration_deadline or now >= ev.starts_at:
            raise Invalid("Registration for this event has closed.")
        if not may_join(s, ev, m):
            raise Invalid("This event is not open to you.")
        if companions < 0 or companions > ev.max_companions:
            raise Invalid("You may bring at most %(n)s companions.", n=ev.max_companions)
        reg = _registration(s, ev.id, m.id)
        if reg is not None and reg.status in ACTIVE:
            raise Invalid("You have already registered for this event.")
        seated = take_seats(s, ev.id, 1 + companions, behind_waitlist=True)
        status = RegistrationStatus.REGISTERED if seated else RegistrationStatus.WAITLISTED
        if reg is None:
            reg = EventRegistration(event_id=ev.id, member_id=m.id, companions=companions, status=status,
                                    registered_at=now)
            s.add(reg)
        else:
            reg.companions, reg.status, reg.registered_at = companions, status, now
            reg.cancelled_at = reg.promoted_at = reg.checked_in_at = None
        s.flush()
        return Registered(ev.id, status, companions, waitlist_position(s, reg))


def cancel(follower_id: int, event_id: int, now: datetime | None = None) -> list[int]:
    """Cancel the member's registration or waitlist place; return the members promoted in its place."""
    now = now or db.utcnow()
    with db.transaction() as s:
        account_id = s.scalar(sa.select(Follower.account_id).where(Follower.id == follower_id))
        ev = event_of(s, int(account_id or 0), event_id)
        m = _member(s, follower_id)
        reg = _registration(s, ev.id, m.id)
        if reg is None or reg.status not in (RegistrationStatus.REGISTERED, RegistrationStatus.WAITLISTED):
            raise Invalid("You are not registered for this event.")
        if now >= ev.starts_at:
            raise Invalid("The event has started; it can no longer be cancelled.")
        held = reg.status == RegistrationStatus.REGISTERED
        reg.status, reg.cancelled_at = RegistrationStatus.CANCELLED, now
        s.flush()
        if not held:
            return []
        free_seats(s, ev.id, 1 + reg.companions)
        return promote(s, ev.id, now)


def promote(s: Session, event_id: int, now: datetime) -> list[int]:
    """Seat waitlisted members in order while their party fits; tell each; return their member ids."""
    ev = s.scalar(sa.select(ClubEvent).where(ClubEvent.id == event_id).with_for_update())
    if ev is None or ev.status != EventStatus.PUBLISHED or now >= ev.starts_at:
        return []
    waiting = s.scalars(sa.select(EventRegistration).where(
        EventRegistration.event_id == event_id, EventRegistration.status == RegistrationStatus.WAITLISTED)
        .order_by(EventRegistration.registered_at, EventRegistration.id).with_for_update()).all()
    promoted: list[int] = []
    for reg in waiting:
        if take_seats(s, event_id, 1 + reg.companions, behind_waitlist=False):
            reg.status, reg.promoted_at = RegistrationStatus.REGISTERED, now
            promoted.append(reg.member_id)
    s.flush()
    s.refresh(ev)
    club_notify.tell_members(s, ev, "promoted", promoted)
    return promoted


def mine(follower_id: int, now: datetime | None = None) -> list[tuple[ClubEvent, EventRegistration, int | None]]:
    """The member's registrations (not cancelled) with their events and waitlist places, soonest first."""
    now = now or db.utcnow()
    with db.transaction() as s:
        member_id = s.scalar(sa.select(Member.id).where(Member.follower_id == follower_id))
        if member_id is None:
            return []
        rows = s.execute(sa.select(ClubEvent, EventRegistration)
                         .join(EventRegistration, EventRegistration.event_id == ClubEvent.id)
                         .where(EventRegistration.member_id == member_id,
                                EventRegistration.status != RegistrationStatus.CANCELLED,
                                ClubEvent.ends_at > now)
                         .order_by(ClubEvent.starts_at, ClubEvent.id)).all()
        return [(ev, reg, waitlist_position(s, reg)) for ev, reg in rows]


def upcoming(follower_id: int, now: datetime | None = None, limit: int = 20) -> list[ClubEvent]:
    """Published events still open for registration that the follower's member may join, soonest first."""
    now = now or db.utcnow()
    with db.transaction() as s:
        m = ledger.member_in(s, follower_id)
        found = s.scalars(sa.select(ClubEvent).where(
            ClubEvent.account_id == m.account_id, ClubEvent.status == EventStatus.PUBLISHED,
            ClubEvent.registration_deadline >= now, ClubEvent.starts_at > now, audience_filter(s, m))
            .order_by(ClubEvent.starts_at, ClubEvent.id).limit(limit * 3))
        return [ev for ev in found if ev.audience != Audience.SEGMENT or may_join(s, ev, m)][:limit]


def registration_of(follower_id: int, event_id: int) -> tuple[EventRegistration | None, int | None]:
    """The follower's registration of an event (any status) and its waitlist place."""
    with db.transaction() as s:
        reg = s.scalar(sa.select(EventRegistration).join(Member, Member.id == EventRegistration.member_id)
                       .where(Member.follower_id == follower_id, EventRegistration.event_id == event_id))
        return reg, (waitlist_position(s, reg) if reg is not None else None)


def public_event(account_id: int, event_id: int) -> ClubEvent:
    """A published or cancelled event for a follower's page."""
    with db.transaction() as s:
        return event_of(s, account_id, event_id)


def when_text(ev: ClubEvent, language: str, *, end: bool = False) -> str:
    """The event's start (or end) in its local time, worded for `language` (e.g. 11月28日（周六）14:00)."""
    with db.transaction() as s:
        return local_time((ev.ends_at if end else ev.starts_at).astimezone(club_notify.event_tz(s, ev)), language)


def open_for(follower_id: int, ev: ClubEvent, now: datetime | None = None) -> bool:
    """Whether the follower's member may register for `ev` now (published, before the deadline, audience)."""
    now = now or db.utcnow()
    if ev.status != EventStatus.PUBLISHED or now > ev.registration_deadline or now >= ev.starts_at:
        return False
    with db.transaction() as s:
        return may_join(s, ev, ledger.member_in(s, follower_id))
