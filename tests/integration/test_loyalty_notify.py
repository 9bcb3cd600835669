"""Loyalty notices: the 升级 notice with its tier, written once, skipped outside the 48-hour window."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Channel, Delivery, DeliveryStatus, Member, Trigger
from scrm.services import checkin, events_bus, ledger, tiers
from scrm.services.loyalty_events import TierChanged
from scrm.services.loyalty_notify import on_tier_changed
from tests.factories import make_follower
from tests.integration.loyalty_support import make_rule, make_tiers
from tests.integration.outbox_helpers import all_deliveries, override_settings

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def notices(prefix: str = "loyalty:") -> list[Delivery]:
    """The loyalty notices in the outbox, oldest first."""
    return [d for d in all_deliveries() if d.dedupe_key.startswith(prefix)]


def text_of(d: Delivery) -> str:
    """The customer-service text of an AUTO notice."""
    return str(d.payload["custom"]["text"]["content"])


def test_reaching_a_tier_writes_the_upgrade_notice_once(app_ctx: Any) -> None:
    silver, gold, _platinum = make_tiers()
    make_rule(Trigger.CHECKIN, 1000)
    f = make_follower()
    result = checkin.check_in(f.id, NOW)
    [d] = notices()
    assert d.dedupe_key == f"loyalty:tier_up:{result.member_id}:{gold.id}:2026-11-23"
    assert (d.channel, d.purpose, d.follower_id, d.openid) == (Channel.AUTO, "transactional", f.id, f.openid)
    assert set(d.payload) == {"custom"}                        # no loyalty template is configured: text only
    text = text_of(d)
    public = runtime.get().settings.app.public_url
    assert "恭喜！您的会员等级已升至「金卡」。" in text and "您的权益：金卡权益" in text and "积分余额：1000" in text
    assert "继续攒积分，向白金卡进发。" in text and f'<a href="{public}/h5/demo/member">进入会员中心</a>' in text
    event = TierChanged(member_id=result.member_id, account_id=d.account_id, old_tier_id=silver.id,
                        new_tier_id=gold.id, up=True, at=NOW + timedelta(hours=1))
    with db.transaction() as s:                                 # the same change told again: nothing new
        on_tier_changed(s, event)
    assert len(notices()) == 1


def test_the_first_points_into_the_base_tier_are_no_upgrade(app_ctx: Any) -> None:
    silver, _gold, _platinum = make_tiers()                     # silver starts at 0 points
    make_rule(Trigger.CHECKIN, 5)
    f = make_follower()
    result = checkin.check_in(f.id, NOW)
    db.session.remove()
    assert db.session.get(Member, result.member_id).tier_id == silver.id  # type: ignore[union-attr]
    assert notices() == []


def test_a_drop_and_a_rollback_write_nothing(app_ctx: Any) -> None:
    make_tiers()
    make_rule(Trigger.BOOKING_COMPLETED, 1200)
    f = make_follower()
    with db.transaction() as s:
        m = ledger.member_in(s, f.id)
        ledger.earn_in(s, m.id, Trigger.BOOKING_COMPLETED, key="b1", source="booking", now=NOW - timedelta(days=300))
    assert len(notices()) == 1
    assert tiers.refresh_all(NOW + timedelta(days=70)) == 1     # aged out: gold -> silver, no notice for that
    assert len(notices()) == 1
    other = make_follower().id

    def boom(s: Any, event: TierChanged) -> None:
        raise RuntimeError("a later subscriber failed")

    events_bus.subscribe(TierChanged, boom, name="test.boom")
    try:
        with pytest.raises(RuntimeError), db.transaction() as s:
            m2 = ledger.member_in(s, other)
            ledger.earn_in(s, m2.id, Trigger.BOOKING_COMPLETED, key="b2", source="booking", now=NOW)
    finally:
        events_bus.unsubscribe(TierChanged, "test.boom")
    assert len(notices()) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(Member.follower_id == other)) == 0


def test_unsubscribed_members_get_no_notice(app_ctx: Any) -> None:
    make_tiers()
    make_rule(Trigger.BOOKING_COMPLETED, 1200)
    f = make_follower(subscribed=False)
    with db.transaction() as s:
        m = ledger.member_in(s, f.id)
        ledger.earn_in(s, m.id, Trigger.BOOKING_COMPLETED, key="b1", source="booking", now=NOW)
    assert notices() == []


def test_english_account_gets_english_notices(app_ctx: Any) -> None:
    make_tiers()
    make_rule(Trigger.CHECKIN, 1000)
    f = make_follower()
    settings = runtime.get().settings
    english = dataclasses.replace(settings.accounts["demo"], language="en")
    with override_settings(accounts={**settings.accounts, "demo": english}):
        checkin.check_in(f.id, NOW)
    text = text_of(notices()[0])
    assert "Congratulations! You are now a 金卡 member." in text and "Open the member centre" in text


def test_outside_the_window_the_notice_is_skipped_with_its_reason(app_ctx: Any) -> None:
    from scrm.outbox.worker import drain

    make_tiers()
    make_rule(Trigger.CHECKIN, 1000)
    f = make_follower(last_interaction_at=db.utcnow() - timedelta(days=3), interaction_kind="message")
    checkin.check_in(f.id)
    drain()
    [d] = notices()
    assert (d.status, d.error) == (DeliveryStatus.SKIPPED, "window closed")
