"""Club registrations: seats, waitlist order and promotion with its notice, refusals, check-in, jobs."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.jobs import club_jobs
from scrm.models import (
    Audience,
    Badge,
    BadgeRule,
    ClubEvent,
    Delivery,
    EventRegistration,
    EventStatus,
    Member,
    MemberBadge,
    PointsEntry,
    RegistrationStatus,
)
from scrm.services import club, club_checkin, ledger
from scrm.services.accounts import account_id
from scrm.services.errors import Invalid, NotFound
from tests.factories import make_dealer, make_follower
from tests.integration.loyalty_support import make_tiers

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def make_event(account: str = "demo", **kw: Any) -> ClubEvent:
    """A published event starting in three days (two hours long), registration open, 10 seats."""
    values: dict[str, Any] = dict(title="春季自驾游", place="上海市浦东新区世纪大道100号", description="一起出发",
                                  starts_at=NOW + timedelta(days=3), ends_at=NOW + timedelta(days=3, hours=2),
                                  registration_deadline=NOW + timedelta(days=2), capacity=10, max_companions=2,
                                  points=50, audience=Audience.ALL, status=EventStatus.PUBLISHED,
                                  checkin_token=secrets.token_hex(12), published_at=NOW)
    values.update(kw)
    with db.transaction() as s:
        ev = ClubEvent(account_id=account_id(account), **values)
        s.add(ev)
    return ev


def registrations(event_id: int) -> list[EventRegistration]:
    """The event's registrations in id order, freshly read."""
    with db.transaction() as s:
        return list(s.scalars(sa.select(EventRegistration).where(EventRegistration.event_id == event_id)
                              .order_by(EventRegistration.id)))


def seats(event_id: int) -> int:
    """The event's seats taken, freshly read."""
    with db.transaction() as s:
        return int(s.scalar(sa.select(ClubEvent.seats_taken).where(ClubEvent.id == event_id)) or 0)


def deliveries(prefix: str) -> list[Delivery]:
    """Outbox rows whose dedupe key starts with `prefix`."""
    with db.transaction() as s:
        return list(s.scalars(sa.select(Delivery).where(Delivery.dedupe_key.startswith(prefix))
                              .order_by(Delivery.id)))


def make_member_of(follower_id: int) -> None:
    """The follower's member row (created on first use)."""
    with db.transaction() as s:
        ledger.member_in(s, follower_id)


def member_id(follower_id: int) -> int:
    """The follower's member id."""
    with db.transaction() as s:
        return int(s.scalar(sa.select(Member.id).where(Member.follower_id == follower_id)) or 0)


def test_register_takes_seats_then_waitlists_in_order(app_ctx: Any) -> None:
    ev = make_event(capacity=5)
    a, b, c, d = (make_follower() for _ in range(4))
    assert club.register(a.id, ev.id, 2, NOW).status == RegistrationStatus.REGISTERED      # 3 seats
    assert club.register(b.id, ev.id, 1, NOW).status == RegistrationStatus.REGISTERED      # 5 seats
    third = club.register(c.id, ev.id, 0, NOW + timedelta(minutes=1))
    fourth = club.register(d.id, ev.id, 2, NOW + timedelta(minutes=2))
    assert (third.status, third.position) == (RegistrationStatus.WAITLISTED, 1)
    assert (fourth.status, fourth.position) == (RegistrationStatus.WAITLISTED, 2)
    assert seats(ev.id) == 5
    with pytest.raises(Invalid):
        club.register(a.id, ev.id, 0, NOW)                       # one registration per member


def test_cancel_promotes_in_order_those_that_fit_and_tells_them(app_ctx: Any) -> None:
    ev = make_event(capacity=4)
    a, b, c, d = (make_follower() for _ in range(4))
    club.register(a.id, ev.id, 1, NOW)                            # 2 seats
    club.register(b.id, ev.id, 1, NOW)                            # 4 seats: full
    club.register(c.id, ev.id, 2, NOW + timedelta(minutes=1))    # waits for 3
    club.register(d.id, ev.id, 0, NOW + timedelta(minutes=2))    # waits for 1
    promoted = club.cancel(a.id, ev.id, NOW + timedelta(hours=1))   # frees 2: c (3) does not fit, d (1) does
    assert promoted == [member_id(d.id)]
    assert seats(ev.id) == 3
    assert club.registration_of(c.id, ev.id)[1] == 1              # c is now first in line
    notices = deliveries(f"club:{ev.id}:promoted:")
    assert [n.dedupe_key for n in notices] == [f"club:{ev.id}:promoted:{member_id(d.id)}"]
    assert notices[0].follower_id == d.id and notices[0].purpose == "transactional"
    assert "春季自驾游" in notices[0].payload["custom"]["text"]["content"]
    club.cancel(b.id, ev.id, NOW + timedelta(hours=2))            # frees 2 more: 1 + 2 = 3 free, c fits
    assert club.registration_of(c.id, ev.id)[0].status == RegistrationStatus.REGISTERED  # type: ignore[union-attr]
    assert seats(ev.id) == 4
    again = club.register(a.id, ev.id, 0, NOW + timedelta(hours=3))   # a cancelled member may come back
    assert again.status == RegistrationStatus.WAITLISTED


def test_refusals_change_nothing(app_ctx: Any) -> None:
    dealer, other = make_dealer(), make_dealer()
    tiers = make_tiers()
    f = make_follower(dealer_id=other.id)
    make_member_of(f.id)
    closed = make_event(registration_deadline=NOW - timedelta(minutes=1))
    for_dealer = make_event(audience=Audience.DEALER, dealer_id=dealer.id)
    for_gold = make_event(audience=Audience.TIER, min_tier_id=tiers[1].id)
    small = make_event(max_companions=1)
    draft = make_event(status=EventStatus.DRAFT)
    for ev, companions, message in [(closed, 0, "Registration for this event has closed."),
                                    (for_dealer, 0, "This event is not open to you."),
                                    (for_gold, 0, "This event is not open to you."),
                                    (small, 2, "You may bring at most %(n)s companions.")]:
        with pytest.raises(Invalid) as caught:
            club.register(f.id, ev.id, companions, NOW)
        assert caught.value.message == message
        assert registrations(ev.id) == [] and seats(ev.id) == 0
    with pytest.raises(NotFound):
        club.register(f.id, draft.id, 0, NOW)
    with db.transaction() as s:       # gold member: the tier event opens; home dealer: the dealer's event opens
        m = s.scalar(sa.select(Member).where(Member.follower_id == f.id))
        assert m is not None
        m.tier_id, m.dealer_id = tiers[2].id, dealer.id
    assert club.register(f.id, for_gold.id, 0, NOW).status == RegistrationStatus.REGISTERED
    assert club.register(f.id, for_dealer.id, 0, NOW).status == RegistrationStatus.REGISTERED
    assert [e.id for e in club.upcoming(f.id, NOW)] == [for_dealer.id, for_gold.id, small.id]


def test_check_in_by_scan_once_with_points_once(app_ctx: Any) -> None:
    ev = make_event()
    f = make_follower()
    club.register(f.id, ev.id, 1, NOW)
    aid = account_id("demo")
    early = club_checkin.check_in(aid, f.id, ev.checkin_token, ev.starts_at - timedelta(hours=3))
    assert early.outcome == club_checkin.Outcome.TOO_EARLY
    first = club_checkin.check_in(aid, f.id, ev.checkin_token, ev.starts_at - timedelta(hours=1))
    second = club_checkin.check_in(aid, f.id, ev.checkin_token, ev.starts_at)
    assert (first.outcome, first.points) == (club_checkin.Outcome.ATTENDED, 50)
    assert (second.outcome, second.points) == (club_checkin.Outcome.ALREADY, 0)
    reg = registrations(ev.id)[0]
    assert reg.status == RegistrationStatus.ATTENDED and reg.checked_in_at is not None
    with db.transaction() as s:
        entries = list(s.scalars(sa.select(PointsEntry).where(PointsEntry.member_id == reg.member_id)))
    assert [(e.points, e.reason, e.idempotency_key) for e in entries] == [
        (50, "event_attended", f"event:{ev.id}:{reg.member_id}")]
    assert seats(ev.id) == 2
    over = club_checkin.check_in(aid, f.id, ev.checkin_token, ev.ends_at + timedelta(minutes=1))
    assert over.outcome == club_checkin.Outcome.OVER
    assert club_checkin.check_in(aid, f.id, "nope", NOW).outcome == club_checkin.Outcome.UNKNOWN


def test_walk_in_when_seats_allow_else_refused(app_ctx: Any) -> None:
    ev = make_event(capacity=2, max_companions=1)
    owner, waiting, walker, late = (make_follower() for _ in range(4))
    club.register(owner.id, ev.id, 0, NOW)
    club.register(waiting.id, ev.id, 1, NOW)      # 2 seats needed, 1 free: waitlisted
    at = ev.starts_at
    walk = club_checkin.check_in(account_id("demo"), walker.id, ev.checkin_token, at)
    assert walk.outcome == club_checkin.Outcome.WALK_IN and walk.points == 50
    full = club_checkin.check_in(account_id("demo"), late.id, ev.checkin_token, at)
    assert full.outcome == club_checkin.Outcome.FULL and full.points == 0
    still = club_checkin.check_in(account_id("demo"), waiting.id, ev.checkin_token, at)
    assert still.outcome == club_checkin.Outcome.FULL
    assert seats(ev.id) == 2
    statuses = {r.member_id: r.status for r in registrations(ev.id)}
    assert statuses[member_id(walker.id)] == RegistrationStatus.ATTENDED
    assert statuses[member_id(waiting.id)] == RegistrationStatus.WAITLISTED
    assert member_id(late.id) not in statuses


def test_no_show_job_marks_only_the_absent_after_the_end(app_ctx: Any) -> None:
    ev = make_event()
    came, absent, waited = (make_follower() for _ in range(3))
    for f in (came, absent):
        club.register(f.id, ev.id, 0, NOW)
    club_checkin.check_in(account_id("demo"), came.id, ev.checkin_token, ev.starts_at)
    assert club_jobs.mark_no_shows(ev.ends_at - timedelta(minutes=1)) == 0
    assert club_jobs.mark_no_shows(ev.ends_at + timedelta(minutes=1)) == 1
    statuses = {r.member_id: r.status for r in registrations(ev.id)}
    assert statuses == {member_id(came.id): RegistrationStatus.ATTENDED,
                        member_id(absent.id): RegistrationStatus.NO_SHOW}
    assert waited.id and club_jobs.mark_no_shows(ev.ends_at + timedelta(hours=1)) == 0


def test_reminder_job_writes_once_per_registered_member(app_ctx: Any) -> None:
    ev = make_event()
    a, b, gone = (make_follower() for _ in range(3))
    for f in (a, b, gone):
        club.register(f.id, ev.id, 0, NOW)
    club.cancel(gone.id, ev.id, NOW)
    assert club_jobs.remind(ev.starts_at - timedelta(hours=30)) == 0           # too early
    assert club_jobs.remind(ev.starts_at - timedelta(hours=20)) == 2
    assert club_jobs.remind(ev.starts_at - timedelta(hours=19)) == 0           # once
    keys = sorted(d.dedupe_key for d in deliveries(f"club:{ev.id}:remind:"))
    assert keys == sorted(f"club:{ev.id}:remind:{member_id(f.id)}" for f in (a, b))


def test_check_in_awards_the_club_regular_badge_in_the_same_transaction(app_ctx: Any) -> None:
    with db.transaction() as s:
        s.add(Badge(account_id=account_id("demo"), code="club1", name="活动达人", rule=BadgeRule.CLUB_REGULAR,
                    threshold=1))
    ev = make_event()
    f = make_follower()
    club.register(f.id, ev.id, 0, NOW)
    club_checkin.check_in(account_id("demo"), f.id, ev.checkin_token, ev.starts_at)
    with db.transaction() as s:
        held = list(s.scalars(sa.select(MemberBadge.member_id)))
    assert held == [member_id(f.id)]
