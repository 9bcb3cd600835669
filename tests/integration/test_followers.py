"""The followers service: touch, follow/unfollow, scenes, scans, location."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import Channel, Delivery, DeliveryStatus, MessageLog, QrScene, SceneKind
from scrm.outbox.enqueue import enqueue
from scrm.services import followers, messages, scenes
from scrm.services.accounts import account_id
from scrm.services.messages import CONTENT_LIMIT, LogEntry
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.webhook_support import follower

pytestmark = pytest.mark.integration
OPENID = "oFollowers000000000000000001"


def acc() -> int:
    return account_id("demo")


def test_touch_creates_the_follower(app: Any) -> None:
    ref = followers.touch(acc(), OPENID, kind="message", is_message=True)
    assert ref is not None and ref.subscribed and ref.dealer_id is None
    f = follower(OPENID)
    assert f is not None and f.id == ref.id and f.interaction_kind == "message" and f.last_message_at
    assert f.cs_sent_since_interaction == 0


def test_log_exchange_writes_both_rows_and_clips_content(app: Any) -> None:
    ref = followers.touch(acc(), OPENID, kind="message", is_message=True)
    assert ref is not None
    received = utcnow()
    messages.log_exchange(account_id=acc(), follower_id=ref.id, received_at=received,
                          entry=LogEntry("text", content="x" * 5000, msg_id="77"), reply_type="text",
                          reply_content="ok", handler="keywords.auto_reply")
    with db.transaction() as s:
        rows = list(s.scalars(sa.select(MessageLog).order_by(MessageLog.id)))
    assert [(r.direction, r.msg_type, r.handler) for r in rows] == [("in", "text", ""),
                                                                    ("out", "text", "keywords.auto_reply")]
    assert rows[0].msg_id == "77" and len(rows[0].content) == CONTENT_LIMIT and rows[0].created_at == received
    assert all(r.follower_id == ref.id for r in rows)


def test_touch_without_an_interaction_keeps_the_window(app: Any) -> None:
    made = make_follower(openid=OPENID, interaction_kind="message", cs_sent_since_interaction=2)
    ref = followers.touch(acc(), OPENID, kind=None)
    assert ref is not None and ref.id == made.id
    f = follower(OPENID)
    assert f is not None and (f.interaction_kind, f.cs_sent_since_interaction) == ("message", 2)
    assert f.last_interaction_at == made.last_interaction_at


def test_touch_can_log_without_creating(app: Any) -> None:
    assert followers.touch(acc(), "mphelper", kind=None, create=False) is None
    assert follower("mphelper") is None


def test_touch_rejects_unknown_kinds(app: Any) -> None:
    with pytest.raises(ValueError):
        followers.touch(acc(), OPENID, kind="payment")


def test_a_message_proves_an_unsubscribed_row_is_following(app: Any) -> None:
    make_follower(openid=OPENID, subscribed=False)
    followers.touch(acc(), OPENID, kind="message", is_message=True)
    assert follower(OPENID).subscribed  # type: ignore[union-attr]


def test_subscribe_new_then_again_after_unsubscribe(app: Any) -> None:
    first = followers.subscribe(acc(), OPENID)
    assert not first.returning and first.dealer is None
    f = follower(OPENID)
    assert f is not None and f.subscribed and f.first_subscribed_at == f.subscribed_at
    first_at = f.first_subscribed_at
    assert followers.unsubscribe(acc(), OPENID) == 0
    gone = follower(OPENID)
    assert gone is not None and not gone.subscribed and gone.unsubscribed_at is not None
    again = followers.subscribe(acc(), OPENID)
    assert again.returning
    back = follower(OPENID)
    assert back is not None and back.subscribed and back.first_subscribed_at == first_at
    assert back.subscribed_at > first_at  # type: ignore[operator]


def test_scene_rows_resolve_dealer_staff_referral_and_event(app: Any) -> None:
    dealer = make_dealer()
    staff = make_staff(dealer=dealer)
    referrer = make_follower(dealer_id=dealer.id)
    with db.transaction() as s:
        s.add_all([QrScene(account_id=acc(), scene="d1", kind=SceneKind.DEALER, dealer_id=dealer.id),
                   QrScene(account_id=acc(), scene="s1", kind=SceneKind.STAFF, staff_id=staff.id),
                   QrScene(account_id=acc(), scene="r1", kind=SceneKind.REFERRAL, follower_id=referrer.id),
                   QrScene(account_id=acc(), scene="e1", kind=SceneKind.EVENT, dealer_id=dealer.id, label="车友会")])
    assert scenes.resolve_scene(acc(), "d1").dealer_id == dealer.id
    s1 = scenes.resolve_scene(acc(), "s1")
    assert (s1.kind, s1.staff_id, s1.dealer_id) == (SceneKind.STAFF, staff.id, dealer.id)
    r1 = scenes.resolve_scene(acc(), "r1")
    assert (r1.kind, r1.referrer_id, r1.dealer_id) == (SceneKind.REFERRAL, referrer.id, dealer.id)
    e1 = scenes.resolve_scene(acc(), "e1")
    assert (e1.kind, e1.dealer_id, e1.label) == (SceneKind.EVENT, dealer.id, "车友会")


def test_prefix_scenes_without_rows(app: Any) -> None:
    dealer = make_dealer(code="HZ01")
    staff = make_staff(dealer=dealer)
    assert scenes.resolve_scene(acc(), "dealer:HZ01").dealer_id == dealer.id
    assert scenes.resolve_scene(acc(), f"staff:{staff.id}").staff_id == staff.id
    for unknown in ("dealer:NOPE", "staff:999999", "staff:abc", "whatever", "referral:0"):
        info = scenes.resolve_scene(acc(), unknown)
        assert (info.kind, info.dealer_id, info.staff_id, info.referrer_id) == (SceneKind.OTHER, None, None, None)
    assert scenes.resolve_scene(acc(), "").kind == SceneKind.NONE


def test_scenes_never_reach_across_accounts_or_to_inactive_dealers(app: Any) -> None:
    other_dealer = make_dealer(account="safe", code="X1")
    closed = make_dealer(code="CLOSED", active=False)
    assert scenes.resolve_scene(acc(), "dealer:X1").dealer_id is None
    assert scenes.resolve_scene(acc(), "dealer:CLOSED").dealer_id is None
    with db.transaction() as s:
        s.add(QrScene(account_id=acc(), scene="bad", kind=SceneKind.DEALER, dealer_id=other_dealer.id))
        s.add(QrScene(account_id=acc(), scene="closed", kind=SceneKind.DEALER, dealer_id=closed.id))
    assert scenes.resolve_scene(acc(), "bad").dealer_id is None
    assert scenes.resolve_scene(acc(), "closed").dealer_id is None


def test_referrals_credit_only_a_first_follow_and_never_oneself(app: Any) -> None:
    friend = make_follower()
    result = followers.subscribe(acc(), OPENID, scene=f"referral:{friend.id}")
    assert result.referred and follower(OPENID).referrer_id == friend.id  # type: ignore[union-attr]
    followers.unsubscribe(acc(), "oLater00000000000000000000001")
    later = followers.subscribe(acc(), "oLater00000000000000000000001", scene=f"referral:{friend.id}")
    assert later.returning and follower("oLater00000000000000000000001").referrer_id is None  # type: ignore[union-attr]
    me = follower(OPENID)
    assert me is not None
    followers.subscribe(acc(), "oSelf000000000000000000000001")
    selfish = follower("oSelf000000000000000000000001")
    assert selfish is not None
    followers.unsubscribe(acc(), "oSelf000000000000000000000001")
    followers.subscribe(acc(), "oSelf000000000000000000000001", scene=f"referral:{selfish.id}")
    assert follower("oSelf000000000000000000000001").referrer_id is None  # type: ignore[union-attr]


def test_unsubscribe_cancels_only_pending_rows(app: Any) -> None:
    f = make_follower(openid=OPENID)
    with db.transaction() as s:
        for key in ("p1", "p2", "sent"):
            enqueue(s, account_id=acc(), dedupe_key=key, channel=Channel.CUSTOM, payload={}, follower_id=f.id,
                    openid=OPENID)
        s.execute(sa.update(Delivery).where(Delivery.dedupe_key == "sent").values(status=DeliveryStatus.SENT))
        enqueue(s, account_id=acc(), dedupe_key="by-openid", channel=Channel.CUSTOM, payload={}, openid=OPENID)
    assert followers.unsubscribe(acc(), OPENID) == 3
    with db.transaction() as s:
        states = dict(s.execute(sa.select(Delivery.dedupe_key, Delivery.status)).all())
    assert states == {"p1": DeliveryStatus.CANCELLED, "p2": DeliveryStatus.CANCELLED,
                      "by-openid": DeliveryStatus.CANCELLED, "sent": DeliveryStatus.SENT}


def test_scan_attaches_a_dealer_only_when_there_is_none(app: Any) -> None:
    first, second = make_dealer(code="F1"), make_dealer(code="F2")
    make_follower(openid=OPENID)
    assert followers.record_scan(acc(), OPENID, "dealer:F1").dealer.id == first.id  # type: ignore[union-attr]
    result = followers.record_scan(acc(), OPENID, "dealer:F2")
    assert result.dealer is not None and result.dealer.id == second.id    # the card of the scanned dealer
    assert follower(OPENID).dealer_id == first.id  # type: ignore[union-attr]  # attribution kept


def test_location_bounds(app: Any) -> None:
    make_follower(openid=OPENID)
    assert followers.record_location(acc(), OPENID, 23.1374661, 113.3524249)
    f = follower(OPENID)
    assert f is not None and str(f.latitude) == "23.137466" and str(f.longitude) == "113.352425"
    assert not followers.record_location(acc(), OPENID, None, 1.0)
    assert not followers.record_location(acc(), OPENID, -90.5, 1.0)
    assert not followers.record_location(acc(), "oUnknown000000000000000000001", 1.0, 1.0)


def test_get_follower(app: Any) -> None:
    assert followers.get_follower(acc(), OPENID) is None
    made = make_follower(openid=OPENID)
    ref = followers.get_follower(acc(), OPENID)
    assert ref is not None and ref.id == made.id and ref.subscribed
