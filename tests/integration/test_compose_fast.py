"""The fast render path (one joined, streamed query of contexts) gives exactly what the per-recipient path gives."""

from __future__ import annotations

import threading
import time
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Campaign, CampaignChannel, Channel, Delivery, Gender, Member, Segment
from scrm.outbox.claim import Claimed
from scrm.services import campaign_render, compose, compose_context, links
from scrm.services.accounts import account_id
from scrm.services.compose_context import contexts, delivery_contexts
from tests.factories import make_dealer, make_follower
from tests.integration.customer_support import make_customer, make_vehicle
from tests.integration.loyalty_support import make_member, make_tiers

pytestmark = pytest.mark.integration

TODAY = date(2026, 11, 23)
EVERYTHING = ("{{ customer.salutation }}/{{ customer.name }}/{{ customer.surname }}/{{ customer.city }}/"
              "{{ customer.birthday|date }}/{{ customer.stage }}/{{ customer.name|masked }}|"
              "{{ vehicle.model }}/{{ vehicle.brand }}/{{ vehicle.plate|masked }}/{{ vehicle.purchase_date|date }}/"
              "{{ vehicle.mileage }}/{{ vehicle.last_service_date|date('%Y年%m月%d日') }}/"
              "{{ vehicle.insurance_expiry|date }}/{{ vehicle.next_service_date|date('%m-%d') }}|"
              "{{ member.balance }}/{{ member.tier }}/{{ member.referral_code }}|{{ dealer.name }}/{{ dealer.phone }}/"
              "{{ dealer.address }}/{{ dealer.city }}|{{ today|date }}"
              "{% if vehicle %}有车{% else %}无车{% endif %}{{ vehicle.model|default('未知车型') }} "
              "https://dealer.example.com/care")
MESSAGE = {"kind": "text", "text": EVERYTHING,
           "template": {"template_id": "TPL_1", "url": "https://dealer.example.com/t",
                        "fields": {"thing1": "{{ vehicle.model|default('爱车') }}",
                                   "name2": "{{ customer.salutation }}",
                                   "time3": "{{ vehicle.next_service_date|date }}"}}}


@pytest.fixture(autouse=True)
def _no_stale_plans() -> None:
    campaign_render.forget_all()   # campaign ids restart with each test's fresh tables


def _recipients() -> tuple[int, int, list[tuple[int | None, int]]]:
    """A campaign dealer, another dealer, and varied (customer id or None, follower id) recipients."""
    d, other = make_dealer(), make_dealer(name="另一家店", phone="010-1234", address="", city="北京")
    tiers = make_tiers()
    pairs: list[tuple[int | None, int]] = []

    def add(customer: Any | None, member: bool = False, tier: int | None = None) -> None:
        follower_id = make_member(dealer_id=d.id).follower_id if member else make_follower(dealer_id=d.id).id
        if tier is not None:
            with db.transaction() as s:
                s.execute(sa.update(Member).where(Member.follower_id == follower_id).values(tier_id=tier,
                                                                                           balance=4321))
        pairs.append((customer.id if customer is not None else None, follower_id))

    full = make_customer(d, name="王伟", gender=Gender.MALE, city="上海", birthday=date(1985, 6, 1))
    make_vehicle(full, model="Model 3", brand="特斯拉", plate="沪A12345", purchase_date=date(2020, 1, 2),
                 mileage=23000, last_service_date=date(2025, 8, 9), insurance_expiry=date(2026, 12, 31))
    make_vehicle(full, model="旧车", purchase_date=date(2015, 1, 1))       # not the newest: not shown
    add(full, member=True, tier=tiers[1].id)
    no_name = make_customer(d, name="", city="")
    make_vehicle(no_name, model="", purchase_date=None, last_service_date=None)
    add(no_name, member=True)
    add(make_customer(d, name="Li Na", gender=Gender.FEMALE))               # no vehicle, not a member
    add(make_customer(other, name="赵敏", gender=Gender.FEMALE))             # another dealer's customer
    undated = make_customer(d, name="周", gender=None)
    make_vehicle(undated, model="速腾", purchase_date=None, last_service_date=None)   # both undated: the later id
    make_vehicle(undated, model="途观L", purchase_date=None, last_service_date=date(2024, 3, 3))
    add(undated)
    add(None)                                                              # a follower without a customer
    add(None, member=True)
    return d.id, other.id, pairs


def _deliveries(dealer_id: int, pairs: list[tuple[int | None, int]]) -> tuple[int, dict[int, tuple[Any, int]]]:
    """A campaign with one outbox row per recipient: (campaign id, delivery id -> (customer id, follower id))."""
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=dealer_id, name="全部", definition={})
        s.add(seg)
        s.flush()
        message = compose.normalise(MESSAGE, CampaignChannel.AUTO)
        c = Campaign(account_id=account_id("demo"), dealer_id=dealer_id, name="对照", segment_id=seg.id,
                     channel=CampaignChannel.AUTO, variants=[{"key": "A", "weight": 100, "message": message}])
        s.add(c)
        s.flush()
        rows = {}
        for customer_id, follower_id in pairs:
            d = Delivery(account_id=account_id("demo"), dealer_id=dealer_id, follower_id=follower_id,
                         dedupe_key=f"c:{c.id}:1:{follower_id}", channel=Channel.AUTO, purpose="campaign",
                         payload={"render": {"kind": "campaign", "campaign_id": c.id, "occurrence": 1, "arm": "A",
                                             "customer_id": customer_id}, "quiet_hours": False},
                         campaign_id=c.id, arm="A")
            s.add(d)
            s.flush()
            rows[d.id] = (customer_id, follower_id)
        return c.id, rows


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("whole", [False, True])
def test_delivery_contexts_equal_the_per_recipient_contexts(app_ctx: Any, language: str, whole: bool) -> None:
    dealer_id, _other, pairs = _recipients()
    cid, rows = _deliveries(dealer_id, pairs)
    with db.transaction() as s:
        fast = list(delivery_contexts(s, Delivery.campaign_id == cid, dealer_id=dealer_id, today=TODAY,
                                      language=language, whole_account=account_id("demo") if whole else None))
        if whole:   # a whole campaign streams in no set order
            fast.sort(key=lambda r: r[0])
        assert [r[0] for r in fast] == sorted(rows)
        for delivery_id, follower_id, arm, ctx in fast:
            customer_id, expected_follower = rows[delivery_id]
            slow = contexts(s, [(customer_id, follower_id)], dealer_id=dealer_id, today=TODAY,
                            language=language)[follower_id]
            assert follower_id == expected_follower and arm == "A"
            assert repr(ctx) == repr(slow)          # same values, same key order (a `{{ customer }}` prints it)
    names = [ctx["customer"]["salutation"] for *_x, ctx in fast]
    expected = ["Mr 王伟", "Dear owner", "Ms Li Na"] if language == "en" else ["王先生", "尊敬的车主", "Li Na"]
    assert names[:3] == expected
    assert fast[0][3]["vehicle"]["model"] == "Model 3" and fast[2][3]["vehicle"] is None
    assert fast[3][3]["dealer"]["city"] == "北京" and fast[5][3]["dealer"]["city"] == "上海"
    assert fast[4][3]["vehicle"]["model"] == "途观L"


def _claimed(d: Delivery) -> Claimed:
    return Claimed(id=d.id, account_id=d.account_id, follower_id=d.follower_id, openid=d.openid,
                   dedupe_key=d.dedupe_key, channel=d.channel, purpose=d.purpose, payload=d.payload, attempts=0,
                   claimed_at=d.created_at)


def test_render_all_renders_what_the_send_worker_renders(app_ctx: Any) -> None:
    dealer_id, _other, pairs = _recipients()
    cid, rows = _deliveries(dealer_id, pairs)
    got = dict(campaign_render.render_all(cid))
    plan = campaign_render.plan(cid)
    assert plan is not None and set(got) == set(rows)
    with db.transaction() as s:
        claimed = [_claimed(d) for d in s.scalars(sa.select(Delivery).where(Delivery.campaign_id == cid))]
    for row in claimed:   # the send worker's path, one row at a time (contexts loaded per recipient)
        assert got[row.id] == campaign_render.render_row(row)
    campaign_render.prepare_rows(claimed)   # and its batch path (one query for the batch)
    for row in claimed:
        assert got[row.id] == campaign_render.render_row(row)
    with db.transaction() as s:
        for delivery_id, (customer_id, follower_id) in rows.items():
            ctx = contexts(s, [(customer_id, follower_id)], dealer_id=dealer_id, today=campaign_render._today(),
                           language="zh")[follower_id]
            expected = compose.render(plan.messages["A"], CampaignChannel.AUTO, ctx,
                                      lambda url, d=delivery_id: links.tracked_url(plan.tokens[url], d))
            payload = got[delivery_id]
            assert isinstance(payload, dict) and payload["custom"] == expected["custom"]
            assert payload["template"] in (expected["template"], None)   # None: a field empty for this owner
    first = got[min(got)]
    assert isinstance(first, dict)
    text = first["custom"]["text"]["content"]
    assert text.startswith("王先生/王伟/王/上海/1985-06-01/") and "|Model 3/特斯拉/沪A***45/2020-01-02/23000/" in text
    assert "|4321/金卡/" in text and "/l/" in text and "dealer.example.com" not in text
    assert first["template"] is not None
    assert sum(1 for p in got.values() if isinstance(p, dict) and p["template"] is None) >= 3
    halves = [dict(campaign_render.render_all(cid, part=(k, 2))) for k in (0, 1)]
    assert halves[0].keys().isdisjoint(halves[1]) and {**halves[0], **halves[1]} == got


def test_a_whole_campaign_read_stops_when_the_reader_stops(app_ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose_context, "FETCH_ROWS", 1)   # one row a fetch: the read-ahead blocks, queue full
    dealer_id, _other, pairs = _recipients()
    cid, _rows = _deliveries(dealer_id, pairs)
    with db.transaction() as s:
        found = delivery_contexts(s, Delivery.campaign_id == cid, dealer_id=dealer_id, today=TODAY,
                                  whole_account=account_id("demo"))
        next(found)
        time.sleep(0.3)
        assert any(t.name == "contexts-read-ahead" for t in threading.enumerate())   # waiting for room
        found.close()
        assert not any(t.name == "contexts-read-ahead" for t in threading.enumerate())
        assert s.scalar(sa.select(sa.func.count()).select_from(Delivery)) == len(pairs)   # the connection is usable
