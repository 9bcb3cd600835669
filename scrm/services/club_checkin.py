"""Club check-in by the event's QR code, the no-show sweep and the day-before reminders.

Scanning `event:<token>` (as a scan or a follow with that scene) marks the member ATTENDED once and pays
the event's points once through the ledger (key `event:<event id>:<member id>`). Someone not registered,
cancelled or on the waitlist is let in as a walk-in when the seats allow. The window opens two hours
before the start and closes at the end.
"""

from __future__ import annotations

import enum
import importlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import ClubEvent, EventRegistration, EventStatus, Follower, RegistrationStatus, Trigger
from scrm.services import club, club_notify, ledger
from scrm.services.booking_notify_text import local_time

log = logging.getLogger(__name__)
SCENE_PREFIX = "event"
OPENS_BEFORE = timedelta(hours=2)
REMIND_AHEAD = timedelta(hours=24)


class Outcome(enum.StrEnum):
    ATTENDED = "attended"      # checked in now (registered)
    WALK_IN = "walk_in"        # checked in now without a seat held
    ALREADY = "already"        # had checked in before
    FULL = "full"              # not registered and no seats left
    TOO_EARLY = "too_early"
    OVER = "over"
    UNKNOWN = "unknown"        # no such published event


@dataclass(frozen=True)
class CheckIn:
    """What a check-in scan did."""

    outcome: Outcome
    title: str = ""
    points: int = 0
    opens_at: datetime | None = None


def token_of(scene: str) -> str | None:
    """The check-in token of a scene `event:<token>`, else None."""
    prefix, sep, token = (scene or "").partition(":")
    return token if prefix == SCENE_PREFIX and sep and token else None


def _badges(s: Session, member_id: int, now: datetime) -> None:
    try:
        badges = importlib.import_module("scrm.services.badges")
    except ImportError:
        return
    check = getattr(badges, "check_member_in", None)
    if check is not None:
        check(s, member_id, now)


def check_in(account_id: int, follower_id: int, token: str, now: datetime | None = None) -> CheckIn:
    """Check the follower in to the event of `token` (once) and pay its points (once)."""
    now = now or db.utcnow()
    with db.transaction() as s:
        ev = s.scalar(sa.select(ClubEvent).where(ClubEvent.account_id == account_id,
                                                 ClubEvent.checkin_token == token))
        if ev is None or ev.status != EventStatus.PUBLISHED:
            return CheckIn(Outcome.UNKNOWN)
        if now < ev.starts_at - OPENS_BEFORE:
            return CheckIn(Outcome.TOO_EARLY, ev.title, opens_at=ev.starts_at - OPENS_BEFORE)
        if now > ev.ends_at:
            return CheckIn(Outcome.OVER, ev.title)
        m = ledger.member_in(s, follower_id, lock=True)
        reg = s.scalar(sa.select(EventRegistration).where(EventRegistration.event_id == ev.id,
                                                          EventRegistration.member_id == m.id).with_for_update())
        if reg is not None and reg.status == RegistrationStatus.ATTENDED:
            return CheckIn(Outcome.ALREADY, ev.title)
        outcome = Outcome.ATTENDED
        if reg is None or reg.status != RegistrationStatus.REGISTERED:
            party = 1 + (reg.companions if reg is not None and reg.status == RegistrationStatus.WAITLISTED else 0)
            if not club.take_seats(s, ev.id, party, behind_waitlist=False):
                return CheckIn(Outcome.FULL, ev.title)
            outcome = Outcome.WALK_IN
            if reg is None:
                reg = EventRegistration(event_id=ev.id, member_id=m.id, companions=0, registered_at=now,
                                        status=RegistrationStatus.ATTENDED)
                s.add(reg)
            elif reg.status != RegistrationStatus.WAITLISTED:
                reg.companions = 0
        reg.status, reg.checked_in_at, reg.cancelled_at = RegistrationStatus.ATTENDED, now, None
        s.flush()
        paid = 0
        if ev.points > 0:
            award = ledger.earn_in(s, m.id, Trigger.EVENT_ATTENDED, key=f"event:{ev.id}:{m.id}", source="event",
                                   source_id=str(ev.id), dealer_id=ev.dealer_id, points=ev.points,
                                   note=ev.title[:200], now=now)
            paid = award.points
        _badges(s, m.id, now)
        return CheckIn(outcome, ev.title, paid)


def follower_id_of(account_id: int, openid: str) -> int | None:
    """The id of the account's follower `openid`."""
    with db.transaction() as s:
        fid = s.scalar(sa.select(Follower.id).where(Follower.account_id == account_id, Follower.openid == openid))
        return int(fid) if fid is not None else None


def mark_no_shows(now: datetime | None = None) -> int:
    """Mark REGISTERED members of ended events who never checked in as NO_SHOW; the number marked."""
    now = now or db.utcnow()
    with db.transaction() as s:
        ended = sa.select(ClubEvent.id).where(ClubEvent.ends_at < now)
        result = cast(sa.CursorResult[Any], s.execute(sa.update(EventRegistration)
                           .where(EventRegistration.status == RegistrationStatus.REGISTERED,
                                  EventRegistration.event_id.in_(ended))
                           .values(status=RegistrationStatus.NO_SHOW).execution_options(synchronize_session=False)))
        return int(result.rowcount or 0)


def send_reminders(now: datetime | None = None) -> int:
    """Remind registered members of published events starting within a day (once each); rows written."""
    now = now or db.utcnow()
    written = 0
    with db.transaction() as s:
        events = s.scalars(sa.select(ClubEvent).where(ClubEvent.status == EventStatus.PUBLISHED,
                                                      ClubEvent.starts_at > now,
                                                      ClubEvent.starts_at <= now + REMIND_AHEAD)).all()
        for ev in events:
            members = list(s.scalars(sa.select(EventRegistration.member_id).where(
                EventRegistration.event_id == ev.id, EventRegistration.status == RegistrationStatus.REGISTERED)))
            written += club_notify.tell_members(s, ev, "remind", members)
            ev.reminded_at = now
    if written:
        log.info("club reminders written: %s", written)
    return written



def opens_text(account_id: int, token: str, opens_at: datetime, language: str) -> str:
    """When the check-in of the event with `token` opens, in its local time."""
    with db.transaction() as s:
        ev = s.scalar(sa.select(ClubEvent).where(ClubEvent.account_id == account_id, ClubEvent.checkin_token == token))
        tz = club_notify.event_tz(s, ev) if ev is not None else ledger.local_tz()
    return local_time(opens_at.astimezone(tz), language)
