"""The badge engine: each rule awards once (repeats and races), in the cause's transaction, with one notice."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    Badge,
    BadgeRule,
    ClubEvent,
    CustomerBinding,
    Delivery,
    EventRegistration,
    EventStatus,
    Member,
    MemberBadge,
    Referral,
    RegistrationStatus,
    RepairOrder,
    Trigger,
)
from scrm.services import badges, badges_notice, booking, booking_status, checkin, events_bus, ledger
from scrm.services.accounts import account_id
from scrm.services.booking_events import BookingCompleted, event_of
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import at, make_shop, request
from tests.integration.customer_support import make_customer
from tests.integration.loyalty_support import make_member, make_rule

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def make_badge(rule: BadgeRule, threshold: int = 1, code: str = "", **kw: Any) -> Badge:
    """A badge of the demo account."""
    with db.transaction() as s:
        b = Badge(account_id=account_id("demo"), code=code or f"{rule.value}_{threshold}", name=f"徽章{threshold}",
                  icon="★", rule=rule, threshold=threshold, **kw)
        s.add(b)
    return b


def held(member_id: int) -> list[int]:
    """The badge ids a member holds."""
    db.session.remove()
    return sorted(db.session.scalars(sa.select(MemberBadge.badge_id).where(MemberBadge.member_id == member_id)))


def notices(badge_id: int, member_id: int) -> list[Delivery]:
    """The outbox rows announcing one badge to one member."""
    db.session.remove()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.dedupe_key == f"badge:{badge_id}:{member_id}")))


def member_of(follower_id: int) -> Member:
    db.session.remove()
    m = db.session.scalar(sa.select(Member).where(Member.follower_id == follower_id))
    assert m is not None
    return m


def test_first_service_once_per_member_on_service_visits_only(app_ctx: Any) -> None:
    first = make_badge(BadgeRule.FIRST_SERVICE)
    shop = make_shop()
    staff = make_staff(dealer=shop.dealer)
    m = make_member()
    seen: list[badges.BadgeAwarded] = []
    events_bus.subscribe(badges.BadgeAwarded, lambda s, e: seen.append(e), name="test.badges")
    try:
        drive = booking.book(request(shop, shop.test_drive, at(9), follower_id=m.follower_id, licence_confirmed=True))
        booking_status.complete(drive.id, staff)
        assert held(m.id) == []                       # a test drive is no service visit
        visit = booking.book(request(shop, shop.maintenance, at(10), follower_id=m.follower_id))
        done = booking_status.complete(visit.id, staff)
        assert held(m.id) == [first.id]
        with db.transaction() as s:                   # the same event again: nothing new
            events_bus.publish(s, event_of(BookingCompleted, done, completed_at=NOW))
    finally:
        events_bus.unsubscribe(badges.BadgeAwarded, "test.badges")
    assert held(m.id) == [first.id]
    assert [(e.member_id, e.badge_id) for e in seen] == [(m.id, first.id)]
    rows = notices(first.id, m.id)
    assert len(rows) == 1 and rows[0].purpose == "transactional" and rows[0].follower_id == m.follower_id
    assert "徽章1" in rows[0].payload["custom"]["text"]["content"]


def test_bookings_counts_the_bound_customers_visits(app_ctx: Any) -> None:
    regular = make_badge(BadgeRule.BOOKINGS, 2)
    inactive = make_badge(BadgeRule.BOOKINGS, 1, code="off", active=False)
    shop = make_shop()
    staff = make_staff(dealer=shop.dealer)
    c = make_customer(shop.dealer)
    f, unsubscribed = make_follower(), make_follower(subscribed=False)
    with db.transaction() as s:
        for who in (f, unsubscribed):
            s.add(CustomerBinding(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, follower_id=who.id,
                                  customer_id=c.id))
    one = booking.book(request(shop, shop.repair, at(9), customer_id=c.id))
    booking_status.complete(one.id, staff)
    m = member_of(f.id)
    assert held(m.id) == []                           # one visit of two
    two = booking.book(request(shop, shop.test_drive, at(11), customer_id=c.id, licence_confirmed=True))
    booking_status.complete(two.id, staff)
    assert held(m.id) == [regular.id] and inactive.id not in held(m.id)
    assert db.session.scalar(sa.select(Member.id).where(Member.follower_id == unsubscribed.id)) is None


def test_checkin_streak_awards_at_the_threshold(app_ctx: Any) -> None:
    streak = make_badge(BadgeRule.CHECKIN_STREAK, 3)
    make_rule(Trigger.CHECKIN, 5)
    f = make_follower()
    for day in range(2):
        checkin.check_in(f.id, NOW + timedelta(days=day))
    m = member_of(f.id)
    assert held(m.id) == []
    checkin.check_in(f.id, NOW + timedelta(days=2))
    checkin.check_in(f.id, NOW + timedelta(days=3))
    assert held(m.id) == [streak.id]
    assert len(notices(streak.id, m.id)) == 1


def _event(dealer_id: int | None = None) -> int:
    with db.transaction() as s:
        e = ClubEvent(account_id=account_id("demo"), dealer_id=dealer_id, title="自驾游", starts_at=NOW,
                      ends_at=NOW + timedelta(hours=3), registration_deadline=NOW, status=EventStatus.PUBLISHED,
                      checkin_token=f"t{datetime.now(UTC).timestamp()}{threading.get_ident()}"[:32])
        s.add(e)
        s.flush()
        return e.id


def test_club_regular_and_top_referrer_by_check_member_in_and_the_daily_job(app_ctx: Any) -> None:
    club = make_badge(BadgeRule.CLUB_REGULAR, 2)
    referrer = make_badge(BadgeRule.TOP_REFERRER, 2)
    m = make_member()
    friends = [make_member() for _ in range(2)]
    with db.transaction() as s:
        for status in (RegistrationStatus.ATTENDED, RegistrationStatus.NO_SHOW):
            s.add(EventRegistration(event_id=_event(), member_id=m.id, status=status))
        s.add(Referral(account_id=m.account_id, referrer_id=m.id, referee_id=friends[0].id, bound_at=NOW))
        s.add(Referral(account_id=m.account_id, referrer_id=m.id, referee_id=friends[1].id))  # not bound yet
    with db.transaction() as s:
        assert badges.check_member_in(s, m.id, NOW) == []
        s.add(EventRegistration(event_id=_event(), member_id=m.id, status=RegistrationStatus.ATTENDED))
        s.flush()
        assert badges.check_member_in(s, m.id, NOW) == [club.id]
    with db.transaction() as s:
        s.execute(sa.update(Referral).where(Referral.referee_id == friends[1].id).values(bound_at=NOW))
    assert badges.recheck_all(NOW) == 1               # the job finds the second bound friend
    assert badges.recheck_all(NOW) == 0
    assert held(m.id) == sorted([club.id, referrer.id])


def test_a_rolled_back_cause_awards_nothing(app_ctx: Any) -> None:
    club_id, member_id = make_badge(BadgeRule.CLUB_REGULAR, 1).id, make_member().id
    with pytest.raises(RuntimeError), db.transaction() as s:
        s.add(EventRegistration(event_id=_event(), member_id=member_id, status=RegistrationStatus.ATTENDED))
        s.flush()
        assert badges.check_member_in(s, member_id, NOW) == [club_id]
        raise RuntimeError("the check-in failed")
    assert held(member_id) == [] and notices(club_id, member_id) == []


def test_two_sessions_racing_award_once(app_ctx: Any) -> None:
    if db.engine().dialect.name != "postgresql":
        pytest.skip("a real race needs PostgreSQL")
    badge = make_badge(BadgeRule.MANUAL)
    m = make_member()
    results: list[bool] = []
    first = Session(db.engine())
    try:
        mine = first.get(Member, m.id)
        assert mine is not None and badges.award_in(first, mine, first.get(Badge, badge.id), NOW)  # type: ignore[arg-type]

        def rival() -> None:
            with Session(db.engine()) as other:
                theirs = other.get(Member, m.id)
                assert theirs is not None
                results.append(badges.award_in(other, theirs, other.get(Badge, badge.id), NOW))  # type: ignore[arg-type]
                other.commit()

        t = threading.Thread(target=rival)
        t.start()
        t.join(timeout=1)
        assert t.is_alive()                           # blocked on the UNIQUE row of the first session
        first.commit()
        t.join(timeout=10)
    finally:
        first.close()
    assert results == [False]
    assert held(m.id) == [badge.id] and len(notices(badge.id, m.id)) == 1


def test_points_without_a_checkin_reason_do_not_check_streaks(app_ctx: Any) -> None:
    streak = make_badge(BadgeRule.CHECKIN_STREAK, 1)
    m = make_member()
    with db.transaction() as s:
        s.get(Member, m.id).streak = 5  # type: ignore[union-attr]
        ledger.earn_in(s, m.id, Trigger.BIRTHDAY, key=f"bday:{m.id}", source="system", points=10, now=NOW)
    assert held(m.id) == [] and streak.id


def test_a_paid_repair_order_counts_as_a_first_service(app_ctx: Any) -> None:
    first = make_badge(BadgeRule.FIRST_SERVICE)
    shop = make_shop()
    c = make_customer(shop.dealer)
    m = make_member()
    with db.transaction() as s:
        s.add(CustomerBinding(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, follower_id=m.follower_id,
                              customer_id=c.id))
        s.add(RepairOrder(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, customer_id=c.id,
                          external_id="RO-1", date=NOW.date()))
    with db.transaction() as s:
        ledger.earn_in(s, m.id, Trigger.REPAIR_ORDER, key=f"ro:{m.id}", source="repair_order", points=30, now=NOW)
    assert held(m.id) == [first.id]


def test_the_daily_job_gives_a_streak_badge_created_after_the_streak(app_ctx: Any) -> None:
    m = make_member()
    with db.transaction() as s:
        s.execute(sa.update(Member).where(Member.id == m.id).values(streak=8))
    streak = make_badge(BadgeRule.CHECKIN_STREAK, 7)
    make_badge(BadgeRule.CHECKIN_STREAK, 30)
    assert badges.recheck_all(NOW) == 1
    assert held(m.id) == [streak.id]


def test_the_notice_reads_in_both_languages(app_ctx: Any) -> None:
    badge = Badge(name="老朋友", icon="友", description="完成 5 次预约到店")
    zh = badges_notice.text(badge, "zh", "https://x.test/h5/demo/member")
    en = badges_notice.text(badge, "en", "https://x.test/h5/demo/member")
    assert zh.startswith("恭喜！你获得了徽章 友 老朋友。") and "完成 5 次预约到店" in zh and "查看我的徽章" in zh
    assert en.startswith("Congratulations! You have earned the badge 友 老朋友.") and "See your badges" in en
