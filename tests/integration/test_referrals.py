"""Referrals: who may be credited (not oneself, once, no loops, first follows only) and each stage paying once."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Delivery, Follower, Member, PointsEntry, Referral, Trigger
from scrm.services import booking, booking_status, checkin, events_bus, followers, referrals, referrals_points
from scrm.services.accounts import account_id
from scrm.services.booking_events import BookingCompleted, event_of
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import at, make_shop, request
from tests.integration.customer_support import bind, make_customer, make_vehicle
from tests.integration.loyalty_support import make_rule

pytestmark = pytest.mark.integration


def _follow(referrer: Follower, openid: str | None = None) -> tuple[int, referrals.Invited]:
    """A new person follows through `referrer`'s code (followers.subscribe, then the hook's service)."""
    openid = openid or f"oRef{uuid.uuid4().hex[:24]}"
    r = followers.subscribe(account_id("demo"), openid, scene=referrals.scene_for(referrer.id))
    assert r.scene.referrer_id in (referrer.id, None)
    invited = referrals.record_follow(referrer.id, r.follower_id, first_follow=not r.returning)
    return r.follower_id, invited


def _referrals() -> list[Referral]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(Referral).order_by(Referral.id)))


def _entries(reason: str | None = None) -> list[PointsEntry]:
    with db.transaction() as s:
        stmt = sa.select(PointsEntry).order_by(PointsEntry.id)
        if reason:
            stmt = stmt.where(PointsEntry.reason == reason)
        return list(s.scalars(stmt))


def _member(follower_id: int) -> Member:
    with db.transaction() as s:
        m = s.scalar(sa.select(Member).where(Member.follower_id == follower_id))
        assert m is not None
        return m


def _notices() -> list[Delivery]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(Delivery).where(Delivery.dedupe_key.like("ref:%")).order_by(Delivery.id)))


def test_a_first_follow_through_a_members_code_creates_the_referral(app_ctx: Any) -> None:
    a = make_follower()
    friend_id, invited = _follow(a)
    assert invited.referral_id is not None and invited.refused == ""
    [row] = _referrals()
    assert (row.referrer_id, row.referee_id) == (_member(a.id).id, _member(friend_id).id)
    assert _member(friend_id).referrer_id == _member(a.id).id


def test_self_referral_is_refused(app_ctx: Any) -> None:
    a = make_follower(subscribed=False)
    r = followers.subscribe(account_id("demo"), a.openid, scene=referrals.scene_for(a.id))
    assert r.scene.referrer_id is None                              # subscribe already drops it
    assert referrals.record_follow(a.id, a.id, first_follow=True).refused == "self"
    assert _referrals() == []


def test_a_friend_is_credited_once_and_a_refollow_never(app_ctx: Any) -> None:
    a, b = make_follower(), make_follower()
    friend_id, first = _follow(a)
    assert first.referral_id is not None
    with db.transaction() as s:
        friend = s.get(Follower, friend_id)
        assert friend is not None
        openid = friend.openid
    followers.unsubscribe(account_id("demo"), openid)
    again_id, again = _follow(b, openid)                          # unfollow, then follow B's code
    assert again_id == friend_id and again.referral_id is None and again.refused == "returning"
    assert referrals.record_follow(b.id, friend_id, first_follow=True).refused == "not_credited"
    assert [(r.referrer_id, r.referee_id) for r in _referrals()] == [(_member(a.id).id, _member(friend_id).id)]


def test_a_second_referrer_for_the_same_friend_is_refused(app_ctx: Any) -> None:
    a, b = make_follower(), make_follower()
    friend_id, _ = _follow(a)
    with db.transaction() as s:
        friend = s.get(Follower, friend_id)
        assert friend is not None
        friend.referrer_id = b.id                                   # even if the follower row said otherwise
    assert referrals.record_follow(b.id, friend_id, first_follow=True).refused == "already_referred"
    assert len(_referrals()) == 1


def _force_credit(referrer: Follower, referee: Follower) -> str:
    with db.transaction() as s:
        f = s.get(Follower, referee.id)
        assert f is not None
        f.referrer_id = referrer.id
    return referrals.record_follow(referrer.id, referee.id, first_follow=True).refused


def test_loops_are_refused_directly_and_up_the_chain(app_ctx: Any) -> None:
    a, b, c = make_follower(), make_follower(), make_follower()
    assert _force_credit(a, b) == ""                                # A -> B
    assert _force_credit(b, a) == "loop"                            # B -> A would close A -> B -> A
    assert _force_credit(b, c) == ""                                # A -> B -> C
    assert _force_credit(c, a) == "loop"                            # C -> A would close A -> B -> C -> A
    with db.transaction() as s:
        chain = s.scalar(sa.select(Member.id).where(Member.follower_id == a.id))
        assert chain is not None and referrals.chain_has(s, _member(c.id).id, chain)
    assert len(_referrals()) == 2


def test_someone_already_a_member_is_not_credited(app_ctx: Any) -> None:
    a, old = make_follower(), make_follower()
    make_rule(Trigger.CHECKIN, 5)
    checkin.check_in(old.id)
    assert _force_credit(a, old) == "already_member"
    assert _referrals() == []


def test_binding_pays_once_from_the_scan_and_tells_the_referrer(app_ctx: Any) -> None:
    make_rule(Trigger.REFERRAL_BIND, 50)
    shop = make_shop()
    a = make_follower()
    friend_id, _ = _follow(a)
    c = make_customer(shop.dealer, name="李小明", mobile="13900002222")
    with db.transaction() as s:
        friend = s.get(Follower, friend_id)
        assert friend is not None
    bind(c, friend)
    assert referrals_points.scan_bindings() == 1
    assert referrals_points.scan_bindings() == 0                     # a re-run pays nothing
    [entry] = _entries(Trigger.REFERRAL_BIND.value)
    assert (entry.member_id, entry.points, entry.idempotency_key) == (
        _member(a.id).id, 50, f"ref:{_referrals()[0].id}:bind")
    assert _referrals()[0].bound_at is not None
    [notice] = _notices()
    text = notice.payload["custom"]["text"]["content"]
    assert "李**" in text and "50" in text and notice.purpose == "transactional" and notice.follower_id == a.id
    with db.transaction() as s:                                        # the event path finds it done
        assert referrals_points.reach_in(s, _referrals()[0].id, "bind") is False
    assert len(_entries(Trigger.REFERRAL_BIND.value)) == 1 and len(_notices()) == 1


def test_a_completed_test_drive_pays_once_even_when_the_event_is_replayed(app_ctx: Any) -> None:
    make_rule(Trigger.REFERRAL_TEST_DRIVE, 80)
    shop = make_shop()
    a = make_follower()
    friend_id, _ = _follow(a)
    maint = booking.book(request(shop, shop.maintenance, at(9), follower_id=friend_id))
    staff = make_staff(dealer=shop.dealer)
    booking_status.complete(maint.id, staff)
    assert _entries(Trigger.REFERRAL_TEST_DRIVE.value) == []         # maintenance is not a test drive
    td = booking.book(request(shop, shop.test_drive, at(14), follower_id=friend_id, licence_confirmed=True,
                              demo_model="极氪001"))
    done = booking_status.complete(td.id, staff)
    with db.transaction() as s:                                        # the event replayed
        events_bus.publish(s, event_of(BookingCompleted, done, staff.id, completed_at=db.utcnow()))
    [entry] = _entries(Trigger.REFERRAL_TEST_DRIVE.value)
    assert entry.points == 80 and entry.member_id == _member(a.id).id
    assert _referrals()[0].test_drive_at is not None and len(_notices()) == 1


def test_a_test_drive_of_a_customer_bound_to_the_friend_counts(app_ctx: Any) -> None:
    make_rule(Trigger.REFERRAL_TEST_DRIVE, 80)
    shop = make_shop()
    a = make_follower()
    friend_id, _ = _follow(a)
    c = make_customer(shop.dealer, name="赵六", mobile="13900003333")
    with db.transaction() as s:
        friend = s.get(Follower, friend_id)
    assert friend is not None
    bind(c, friend)
    td = booking.book(request(shop, shop.test_drive, at(10), customer_id=c.id, licence_confirmed=True,
                              demo_model="极氪007"))
    booking_status.complete(td.id, make_staff(dealer=shop.dealer))
    assert [e.points for e in _entries(Trigger.REFERRAL_TEST_DRIVE.value)] == [80]


def test_a_purchase_after_the_referral_pays_once_and_an_older_car_never(app_ctx: Any) -> None:
    make_rule(Trigger.REFERRAL_PURCHASE, 500)
    shop = make_shop()
    a, b = make_follower(), make_follower()
    friend_id, _ = _follow(a)
    old_id, _ = _follow(b)
    with db.transaction() as s:
        friend, old = s.get(Follower, friend_id), s.get(Follower, old_id)
    assert friend is not None and old is not None
    owner = make_customer(shop.dealer, name="孙七", mobile="13900004444")
    earlier = make_customer(shop.dealer, name="周八", mobile="13900005555")
    bind(owner, friend)
    bind(earlier, old)
    make_vehicle(owner, plate="沪B12345", purchase_date=date.today() + timedelta(days=1))
    make_vehicle(earlier, plate="沪B54321", purchase_date=date.today() - timedelta(days=400))
    assert referrals_points.scan_purchases() == 1
    assert referrals_points.scan_purchases() == 0
    [entry] = _entries(Trigger.REFERRAL_PURCHASE.value)
    assert entry.points == 500 and entry.member_id == _member(a.id).id
    rows = {r.referee_id: r for r in _referrals()}
    assert rows[_member(friend_id).id].purchased_at is not None and rows[_member(old_id).id].purchased_at is None


def test_the_rules_caps_apply_to_referral_points(app_ctx: Any) -> None:
    make_rule(Trigger.REFERRAL_BIND, 50, monthly_cap=80)
    shop = make_shop()
    a = make_follower()
    for i in range(3):
        friend_id, _ = _follow(a)
        with db.transaction() as s:
            friend = s.get(Follower, friend_id)
        assert friend is not None
        bind(make_customer(shop.dealer, name=f"好友{i}", mobile=f"1390000600{i}"), friend)
    assert referrals_points.scan_bindings() == 3                    # every stage is reached and recorded...
    assert [e.points for e in _entries(Trigger.REFERRAL_BIND.value)] == [50, 30]   # ...but paid up to the cap
    assert all(r.bound_at is not None for r in _referrals())
    assert _member(a.id).balance == 80


def test_scans_and_a_test_drive_racing_pay_each_stage_once(app_ctx: Any) -> None:
    make_rule(Trigger.REFERRAL_BIND, 50)
    shop = make_shop()
    a = make_follower()
    friend_id, _ = _follow(a)
    with db.transaction() as s:
        friend = s.get(Follower, friend_id)
    assert friend is not None
    bind(make_customer(shop.dealer, name="钱九", mobile="13900007777"), friend)
    rid = _referrals()[0].id

    def by_event() -> int:
        with db.transaction() as s:
            return int(referrals_points.reach_in(s, rid, "bind"))

    jobs = [referrals_points.scan_bindings, by_event] * 4
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = jobs[i]()
        except Exception as exc:  # collected and asserted on below
            results[i] = exc
        finally:
            db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(results) == 1, results
    assert [e.points for e in _entries(Trigger.REFERRAL_BIND.value)] == [50] and len(_notices()) == 1
