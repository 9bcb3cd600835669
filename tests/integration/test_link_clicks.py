"""Tracked-link clicks through the real app: recorded once per 30 s, on the timeline, counted, then redirected."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import (
    Campaign,
    CampaignChannel,
    Channel,
    Delivery,
    Journey,
    JourneyKind,
    LinkClick,
    Segment,
    TimelineEntry,
)
from scrm.services import campaign_run, link_clicks, links, segment_compile
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_follower
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration
URL = "https://dealer.example.com/offer?id=7"


@dataclass
class World:
    dealer: Any
    dealer_id: int
    customer_id: int
    follower_id: int
    campaign_id: int
    delivery_id: int
    token: str


def _campaign(s: Any, dealer_id: int, name: str = "保养季") -> Campaign:
    c = Campaign(account_id=account_id("demo"), dealer_id=dealer_id, name=name, channel=CampaignChannel.CUSTOM,
                 variants=[{"key": "A", "weight": 100, "message": {"kind": "text", "text": URL}}])
    s.add(c)
    s.flush()
    return c


def _delivery(s: Any, follower_id: int, dealer_id: int, key: str, *, customer_id: int | None,
              campaign_id: int | None = None, journey_id: int | None = None) -> Delivery:
    render: dict[str, Any] = {"kind": "campaign", "campaign_id": campaign_id, "occurrence": 1, "arm": "A"}
    if customer_id is not None:
        render["customer_id"] = customer_id
    d = Delivery(account_id=account_id("demo"), dealer_id=dealer_id, follower_id=follower_id, openid="o",
                 dedupe_key=key, channel=Channel.CUSTOM, purpose="campaign", payload={"render": render},
                 campaign_id=campaign_id, journey_id=journey_id, arm="A")
    s.add(d)
    s.flush()
    return d


@pytest.fixture
def world(app_ctx: Any) -> World:
    d = make_dealer()
    c = make_customer(d, name="李雷")
    f = make_follower(dealer_id=d.id)
    bind(c, f)
    with db.transaction() as s:
        camp = _campaign(s, d.id)
        row = _delivery(s, f.id, d.id, "t:1", customer_id=c.id, campaign_id=camp.id)
        token = links.ensure(s, camp.account_id, [URL], campaign_id=camp.id)[URL]
        return World(d, d.id, c.id, f.id, camp.id, row.id, token)


def _path(token: str, delivery_id: int) -> str:
    return re.sub(r"^https?://[^/]+", "", links.tracked_url(token, delivery_id))


def _clicks() -> list[LinkClick]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(LinkClick).order_by(LinkClick.id)))


def _timeline(customer_id: int) -> list[TimelineEntry]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(TimelineEntry).where(TimelineEntry.customer_id == customer_id,
                                                             TimelineEntry.kind == "link_click")))


def test_click_is_recorded_once_with_timeline_and_redirects(client: Any, world: World) -> None:
    path = _path(world.token, world.delivery_id)
    first = client.get(path)
    assert first.status_code == 302 and first.headers["Location"] == URL
    assert first.headers["Cache-Control"] == "no-store"
    again = client.get(path)                                    # a double tap within 30 s
    assert again.status_code == 302 and again.headers["Location"] == URL
    [click] = _clicks()
    assert (click.follower_id, click.customer_id, click.delivery_id) == \
        (world.follower_id, world.customer_id, world.delivery_id)
    [entry] = _timeline(world.customer_id)
    assert entry.title == "Opened a link from a campaign" and entry.dealer_id == world.dealer_id
    assert entry.detail["campaign_id"] == world.campaign_id and entry.detail["url"] == URL
    with db.transaction() as s:
        assert link_clicks.count_for_campaign(s, world.campaign_id) == (1, 1)
        assert link_clicks.clicks_by_url(s, campaign_id=world.campaign_id) == [(URL, 1)]


def test_forged_reference_redirects_and_records_an_anonymous_click(client: Any, world: World) -> None:
    for ref in (f"{world.delivery_id}-000000000000", "abc", f"{world.delivery_id}"):
        resp = client.get(f"/l/{world.token}/{ref}")
        assert resp.status_code == 302 and resp.headers["Location"] == URL
    clicks = _clicks()
    assert len(clicks) == 3 and {(c.follower_id, c.customer_id, c.delivery_id) for c in clicks} == {(None, None, None)}
    assert _timeline(world.customer_id) == []
    with db.transaction() as s:
        assert link_clicks.count_for_campaign(s, world.campaign_id) == (3, 0)


def test_signed_reference_of_another_campaigns_delivery_is_anonymous(client: Any, world: World) -> None:
    with db.transaction() as s:
        other = _campaign(s, world.dealer_id, "另一个")
        row = _delivery(s, world.follower_id, world.dealer_id, "t:2", customer_id=world.customer_id,
                        campaign_id=other.id)
        rid = row.id
    resp = client.get(_path(world.token, rid))                 # right signature, wrong campaign for this link
    assert resp.status_code == 302
    [click] = _clicks()
    assert click.follower_id is None and click.delivery_id is None


def test_unknown_token_is_a_plain_404(client: Any, world: World) -> None:
    resp = client.get(f"/l/nosuchtoken/{world.delivery_id}-abcdef123456")
    assert resp.status_code == 404 and "Location" not in resp.headers
    assert "链接不存在" in resp.data.decode()
    assert _clicks() == []


def test_journey_click_uses_the_binding_at_the_deliverys_dealer(client: Any, world: World) -> None:
    with db.transaction() as s:
        j = Journey(account_id=account_id("demo"), dealer_id=world.dealer_id, kind=JourneyKind.BIRTHDAY, enabled=True)
        s.add(j)
        s.flush()
        row = _delivery(s, world.follower_id, world.dealer_id, "j:1", customer_id=None, journey_id=j.id)
        token = links.ensure(s, j.account_id, [URL], journey_id=j.id)[URL]
        jid, rid = j.id, row.id
    assert client.get(_path(token, rid)).headers["Location"] == URL
    [entry] = _timeline(world.customer_id)
    assert entry.title == "Opened a link from a journey" and entry.detail["journey_id"] == jid
    with db.transaction() as s:
        assert link_clicks.count_for_journey(s, jid) == (1, 1)
        assert link_clicks.count_for_campaign(s, world.campaign_id) == (0, 0)


def test_segment_field_link_clicks_counts_the_click(client: Any, world: World) -> None:
    other = make_customer(world.dealer, name="韩梅梅")
    bind(other, make_follower(dealer_id=world.dealer_id))
    definition = segment_compile.normalise(
        {"match": "all", "rules": [{"field": "link_clicks", "op": "gte", "value": 1, "days": 7}]})
    env = segment_compile.Env(postgres=db.is_postgres(), today=db.utcnow().date(), tz=ZoneInfo("Asia/Shanghai"))

    def matched() -> set[int]:
        q = segment_compile.audience(definition, account_id=account_id("demo"), dealer_id=world.dealer_id, env=env)
        with db.transaction() as s:
            return {row.customer_id for row in s.execute(q)}

    assert matched() == set()
    client.get(_path(world.token, world.delivery_id))
    assert matched() == {world.customer_id}


def test_link_in_a_sent_campaign_message_is_tracked(client: Any, live_server: Any, settings: Any) -> None:
    from scrm.outbox.worker import drain
    from scrm.sandbox import state as sandbox

    app_id = str(settings.accounts["demo"].app_id)
    d = make_dealer()
    f = make_follower(dealer_id=d.id, interaction_kind="message")
    sandbox.add_follower(app_id, f.openid, subscribed=True, interaction="message")
    c = make_customer(d, name="王五", city="上海")
    make_vehicle(c, model="Model Y")
    bind(c, f)
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=d.id, name="上海",
                      definition={"match": "all", "rules": [{"field": "city", "op": "eq", "value": "上海"}]})
        s.add(seg)
        s.flush()
        camp = _campaign(s, d.id)
        camp.segment_id = seg.id
        camp.variants = [{"key": "A", "weight": 100, "message": {"kind": "text", "text": f"详情 {URL}"}}]
        s.flush()
        campaign_run.start_run(s, camp)
        cid = camp.id
    drain()
    [msg] = sandbox.messages_for(app_id, f.openid)
    content = str(msg["body"]["content"])
    sent = re.search(r"https?://\S+/l/[\w-]+/[\w-]+", content)
    assert sent is not None and URL not in content
    resp = client.get(re.sub(r"^https?://[^/]+", "", sent.group(0)))
    assert resp.status_code == 302 and resp.headers["Location"] == URL
    [click] = _clicks()
    assert click.follower_id == f.id and click.customer_id == c.id
    with db.transaction() as s:
        assert link_clicks.count_for_campaign(s, cid) == (1, 1)
