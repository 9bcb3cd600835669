"""Launching a campaign occurrence: members and deliveries in bulk, arms, holdout, idempotence, send-time render."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import (
    Campaign,
    CampaignChannel,
    CampaignMember,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Segment,
)
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services import campaign_render, campaign_run
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_follower
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration

@pytest.fixture(autouse=True)
def _no_stale_plans() -> None:
    campaign_render.forget_all()   # campaign ids restart with each test's fresh tables

TEXT = {"kind": "text", "text": "{{ customer.salutation }}，您的{{ vehicle.model }}该保养了 https://dealer.example.com/a"}


@pytest.fixture
def app_id(live_server: Any, app_ctx: Any, settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


def _world(app_id: str, n: int, **campaign: Any) -> tuple[int, list[Any]]:
    d = make_dealer()
    followers = []
    for i in range(n):
        f = make_follower(dealer_id=d.id, interaction_kind="message")
        sandbox.add_follower(app_id, f.openid, subscribed=True, interaction="message")
        c = make_customer(d, name=f"王{i}", gender="male", city="上海")
        make_vehicle(c, model="Model Y")
        bind(c, f)
        followers.append(f)
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=d.id, name="上海车主",
                      definition={"match": "all", "rules": [{"field": "city", "op": "eq", "value": "上海"}]})
        s.add(seg)
        s.flush()
        values: dict[str, Any] = dict(account_id=account_id("demo"), dealer_id=d.id, name="保养提醒",
                                      segment_id=seg.id, channel=CampaignChannel.CUSTOM,
                                      variants=[{"key": "A", "weight": 100, "message": TEXT}])
        values.update(campaign)
        c = Campaign(**values)
        s.add(c)
        s.flush()
        cid = c.id
    return cid, followers


def _launch(cid: int) -> None:
    with db.transaction() as s:
        campaign_run.start_run(s, s.get(Campaign, cid))


def test_launch_materialises_and_sends_personal_messages(app_id: str) -> None:
    cid, fs = _world(app_id, 3)
    _launch(cid)
    with db.transaction() as s:
        rows = list(s.scalars(sa.select(Delivery).where(Delivery.campaign_id == cid)))
        assert len(rows) == 3 and {r.status for r in rows} == {DeliveryStatus.PENDING}
        assert s.get(Campaign, cid).status == CampaignStatus.RUNNING
    drain()
    with db.transaction() as s:
        assert {r.status for r in s.scalars(sa.select(Delivery).where(Delivery.campaign_id == cid))} == \
            {DeliveryStatus.SENT}
    got = sandbox.messages_for(app_id, fs[0].openid)
    assert len(got) == 1
    content = str(got[0])
    assert "王先生" in content or "王0" in content
    assert "Model Y" in content and "/l/" in content and "dealer.example.com" not in content


def test_same_occurrence_twice_writes_nothing_new(app_id: str) -> None:
    cid, _ = _world(app_id, 2)
    _launch(cid)
    with db.transaction() as s:
        c = s.get(Campaign, cid)
        c.occurrences = 0           # as if the first commit's bookkeeping were lost
        campaign_run.start_run(s, c)
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.campaign_id == cid)) == 2
        assert s.scalar(sa.select(sa.func.count()).select_from(CampaignMember)) == 2


def test_holdout_and_variants_split_and_holdout_gets_nothing(app_id: str) -> None:
    variants = [{"key": "A", "weight": 50, "message": TEXT}, {"key": "B", "weight": 50, "message": TEXT}]
    cid, _ = _world(app_id, 40, holdout_pct=25, variants=variants)
    _launch(cid)
    with db.transaction() as s:
        arms = Counter(s.scalars(sa.select(CampaignMember.arm).where(CampaignMember.campaign_id == cid)))
        sent_arms = Counter(s.scalars(sa.select(Delivery.arm).where(Delivery.campaign_id == cid)))
    assert sum(arms.values()) == 40 and set(arms) == {"A", "B", "holdout"}
    assert "holdout" not in sent_arms and sum(sent_arms.values()) == 40 - arms["holdout"]


def test_pause_holds_and_resume_releases(app_id: str) -> None:
    cid, _ = _world(app_id, 3)
    _launch(cid)
    with db.transaction() as s:
        assert campaign_run.pause(s, s.get(Campaign, cid)) == 3
    assert drain() == 0
    with db.transaction() as s:
        assert campaign_run.resume(s, s.get(Campaign, cid)) == 3
    assert drain() == 3


def test_unsubscribed_and_opted_out_are_excluded(app_id: str) -> None:
    cid, fs = _world(app_id, 3)
    with db.transaction() as s:
        from scrm.models import Follower

        s.get(Follower, fs[0].id).subscribed = False
        s.get(Follower, fs[1].id).opt_out_marketing = True
    _launch(cid)
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.campaign_id == cid)) == 1
        from scrm.models import CampaignRun

        run = s.scalar(sa.select(CampaignRun).where(CampaignRun.campaign_id == cid))
        assert run.excluded == {"unreachable": 2}


def test_mass_campaign_tags_its_audience_and_sends_one_mass_row(app_id: str) -> None:
    mass_text = {"kind": "text", "text": "{{ customer.salutation }}，春季保养八折"}
    cid, fs = _world(app_id, 3, channel=CampaignChannel.MASS,
                     variants=[{"key": "A", "weight": 100, "message": mass_text}])
    _launch(cid)
    with db.transaction() as s:
        [row] = s.scalars(sa.select(Delivery).where(Delivery.campaign_id == cid))
        assert (row.channel, row.arm, row.dedupe_key) == ("mass", "A", f"c:{cid}:1:mass")
    assert drain() == 1
    with db.transaction() as s:
        row = s.scalar(sa.select(Delivery).where(Delivery.campaign_id == cid))
        assert row.status == DeliveryStatus.SENT and row.channel_used == "mass"
        from scrm.models import CampaignRun

        assert s.scalar(sa.select(CampaignRun.mass_tag_id).where(CampaignRun.campaign_id == cid)) is not None
    for f in fs:
        got = sandbox.messages_for(app_id, f.openid)
        assert len(got) == 1 and "春季保养八折" in str(got[0]) and "尊敬的车主" in str(got[0])


def test_rows_of_a_cancelled_campaign_are_never_sent(app_id: str) -> None:
    cid, fs = _world(app_id, 2)
    _launch(cid)
    with db.transaction() as s:
        assert campaign_run.cancel(s, s.get(Campaign, cid)) == 2
    assert drain() == 0
    assert all(sandbox.messages_for(app_id, f.openid) == [] for f in fs)
    with db.transaction() as s:
        assert {r.status for r in s.scalars(sa.select(Delivery).where(Delivery.campaign_id == cid))} == \
            {DeliveryStatus.CANCELLED}
