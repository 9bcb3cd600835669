"""The frequency cap under real concurrency: two worker processes sending two campaigns to the same followers
at the same moment; with a cap of one message, each follower receives exactly one."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Campaign, CampaignChannel, Delivery, DeliveryStatus, Segment
from scrm.sandbox import state as sandbox
from scrm.services import campaign_run
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_follower
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.integration
FOLLOWERS, PROCS = 30, 2


def _worker(settings_dict: dict[str, Any], barrier: Any, results: Any) -> None:
    from scrm import create_app
    from scrm.config import settings_from_dict
    from scrm.outbox.worker import drain

    app = create_app(settings_from_dict(settings_dict))
    try:
        with app.app_context():
            barrier.wait(timeout=60)
            results.put(("ok", drain(max_rows=1000, imports=False)))
    except Exception as exc:  # reported to the parent, which fails the test
        results.put(("error", repr(exc)))


def _campaign(dealer_id: int, segment_id: int, text: str) -> int:
    with db.transaction() as s:
        c = Campaign(account_id=account_id("demo"), dealer_id=dealer_id, name=text, segment_id=segment_id,
                     channel=CampaignChannel.CUSTOM,
                     variants=[{"key": "A", "weight": 100, "message": {"kind": "text", "text": text}}])
        s.add(c)
        s.flush()
        campaign_run.start_run(s, c)
        return c.id


def test_two_workers_two_campaigns_one_message_each(live_server: Any, app_ctx: Any, settings: Any,
                                                    settings_dict: dict[str, Any]) -> None:
    if db.engine().dialect.name != "postgresql":
        pytest.skip("real concurrency needs PostgreSQL (SQLite serialises its writers)")
    app_id = str(settings.accounts["demo"].app_id)
    d = make_dealer()
    followers = []
    for i in range(FOLLOWERS):
        f = make_follower(dealer_id=d.id, interaction_kind="message")
        sandbox.add_follower(app_id, f.openid, subscribed=True, interaction="message")
        bind(make_customer(d, name=f"客户{i}", city="上海"), f)
        followers.append(f)
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=d.id, name="上海",
                      definition={"match": "all", "rules": [{"field": "city", "op": "eq", "value": "上海"}]})
        s.add(seg)
        s.flush()
        seg_id = seg.id
    first, second = _campaign(d.id, seg_id, "第一条活动消息"), _campaign(d.id, seg_id, "第二条活动消息")
    capped = {**settings_dict, "outbox": {**settings_dict.get("outbox", {}), "cap_count": 1, "cap_days": 7,
                                          "batch_size": 7}}
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCS), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(capped, barrier, results)) for _ in range(PROCS)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=180) for _ in range(PROCS)]
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    assert not [o for o in outcomes if o[0] == "error"], outcomes
    assert sum(o[1] for o in outcomes) == 2 * FOLLOWERS          # every row handled once, by one of the two
    received: Counter[int] = Counter()
    for f in followers:
        msgs = sandbox.messages_for(app_id, f.openid)
        received[len(msgs)] += 1
    assert received == Counter({1: FOLLOWERS}), received          # the cap held: one message each, never two
    db.session.remove()
    with db.transaction() as s:
        rows = s.execute(sa.select(Delivery.campaign_id, Delivery.status, Delivery.result)
                         .where(Delivery.campaign_id.in_([first, second]))).all()
    statuses = Counter((r.status, r.result) for r in rows)
    assert statuses[(DeliveryStatus.SENT, "")] == FOLLOWERS
    assert statuses[(DeliveryStatus.SKIPPED, "capped")] == FOLLOWERS
