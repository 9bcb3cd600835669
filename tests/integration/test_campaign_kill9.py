"""kill -9 of a real worker in the middle of a campaign: nothing lost, nothing sent twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import (
    Campaign,
    CampaignChannel,
    Customer,
    CustomerBinding,
    Delivery,
    DeliveryStatus,
    Follower,
    Gender,
    Segment,
)
from scrm.sandbox import state as sandbox
from scrm.services import campaign_run
from scrm.services.accounts import account_id
from tests.factories import make_dealer
from tests.integration.outbox_helpers import to_toml

pytestmark = pytest.mark.integration
SCRM = Path(sys.executable).with_name("scrm")
ROWS = 300
TEXT = {"kind": "text", "text": "{{ customer.salutation }}，冬季用车请注意检查电瓶与轮胎。"}
FINAL = {DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.SKIPPED, DeliveryStatus.UNKNOWN}


def _campaign(app_id: str) -> tuple[int, list[str]]:
    """A dealer's ROWS bound followers in a segment, and a customer-service campaign to them, launched."""
    d = make_dealer()
    acc, now = account_id("demo"), utcnow()
    openids = [f"o_kill9_{i:04d}_openid_xxxxxxxxxx" for i in range(ROWS)]
    with db.transaction() as s:   # in bulk: one transaction, not ROWS x 3
        followers = [Follower(account_id=acc, openid=o, subscribed=True, subscribed_at=now, first_subscribed_at=now,
                              last_interaction_at=now, interaction_kind="message", dealer_id=d.id) for o in openids]
        customers = [Customer(account_id=acc, dealer_id=d.id, name=f"李{i}", gender=Gender.FEMALE, city="杭州",
                              mobile=f"137{i:08d}", created_at=now, updated_at=now) for i in range(ROWS)]
        s.add_all([*followers, *customers])
        s.flush()
        s.add_all([CustomerBinding(account_id=acc, dealer_id=d.id, follower_id=f.id, customer_id=c.id)
                   for f, c in zip(followers, customers, strict=True)])
    for o in openids:
        sandbox.add_follower(app_id, o, subscribed=True, interaction="message")
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=d.id, name="杭州车主",
                      definition={"match": "all", "rules": [{"field": "city", "op": "eq", "value": "杭州"}]})
        s.add(seg)
        s.flush()
        c = Campaign(account_id=account_id("demo"), dealer_id=d.id, name="冬季用车", segment_id=seg.id,
                     channel=CampaignChannel.CUSTOM, variants=[{"key": "A", "weight": 100, "message": TEXT}])
        s.add(c)
        s.flush()
        campaign_run.start_run(s, c)
        cid = c.id
    return cid, openids


def _worker(config: Path, name: str, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    return subprocess.Popen([str(SCRM), "--config", str(config), "worker", "--name", name, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _config(tmp_path: Path, settings_dict: dict[str, Any], name: str, **outbox: Any) -> Path:
    raw = {**settings_dict, "sandbox": {"enabled": False}, "outbox": {**settings_dict["outbox"], **outbox}}
    path = tmp_path / f"{name}.toml"
    path.write_text(to_toml(raw), encoding="utf-8")
    return path


def _received(app_id: str, openids: list[str]) -> dict[str, int]:
    return {o: len(sandbox.messages_for(app_id, o)) for o in openids}


def _holding(cid: int) -> bool:
    with db.engine().connect() as c:
        return bool(c.scalar(sa.select(sa.func.count()).select_from(Delivery)
                             .where(Delivery.campaign_id == cid, Delivery.status == DeliveryStatus.SENDING)))


def _rows(cid: int) -> list[Delivery]:
    db.session.remove()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.campaign_id == cid).order_by(Delivery.id)))


@pytest.mark.timeout(300)
def test_kill9_mid_campaign_loses_and_duplicates_nothing(live_server: Any, app_ctx: Any, settings: Any,
                                                         settings_dict: dict[str, Any], tmp_path: Path) -> None:
    if not db.is_postgres():
        pytest.skip("a real worker process against the test database needs PostgreSQL (SQLite: one process)")
    app_id = str(settings.accounts["demo"].app_id)
    cid, openids = _campaign(app_id)
    assert len(_rows(cid)) == ROWS

    # Slow enough that the worker is mid-campaign when killed; a short lease so the reaper may act soon after.
    slow = _config(tmp_path, settings_dict, "slow", rate_per_second=25.0, burst=1, batch_size=10, lease_seconds=4)
    victim = _worker(slow, "victim")
    try:
        deadline = time.monotonic() + 60
        # Kill once 60 have arrived and the worker holds claimed rows (not between two batches).
        while not (sum(_received(app_id, openids).values()) >= 60 and _holding(cid)) and time.monotonic() < deadline:
            assert victim.poll() is None, victim.communicate()[1][-3000:]
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(5)
    at_kill = Counter(r.status for r in _rows(cid))
    assert at_kill[DeliveryStatus.SENT] >= 55 and at_kill[DeliveryStatus.PENDING] > 0, at_kill  # mid-campaign
    assert at_kill[DeliveryStatus.SENDING] >= 1, at_kill        # rows the dead worker had claimed

    time.sleep(4.5)   # past the lease: the next worker's reaper takes the orphaned rows
    fast = _config(tmp_path, settings_dict, "fast", rate_per_second=500.0, burst=50, batch_size=50, lease_seconds=4)
    rescuer = _worker(fast, "rescuer", "--once")
    try:
        _out, err = rescuer.communicate(timeout=120)
    finally:
        if rescuer.poll() is None:
            rescuer.kill()
            rescuer.wait(5)
    assert rescuer.returncode == 0, err[-3000:]

    rows = _rows(cid)
    statuses = Counter(r.status for r in rows)
    assert set(statuses) <= FINAL, statuses                     # every row ended in a final state
    unknown = [r for r in rows if r.status == DeliveryStatus.UNKNOWN]
    assert 1 <= len(unknown) == at_kill[DeliveryStatus.SENDING]
    assert all(r.claimed_by == "victim" for r in unknown)      # only what the dead worker held, never resent
    assert {r.claimed_by for r in rows if r.status == DeliveryStatus.SENT} <= {"victim", "rescuer"}
    assert any(r.claimed_by == "rescuer" for r in rows)

    received = _received(app_id, openids)
    assert max(received.values()) == 1                          # no follower got the message twice
    by_openid = {r.openid: r for r in rows}
    sent = [r for r in rows if r.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)]
    assert all(received[r.openid] == 1 for r in sent)           # every row recorded sent really arrived
    unknown_received = sum(received[r.openid] for r in unknown)
    assert sum(received.values()) == len(sent) + unknown_received   # nothing lost, nothing duplicated
    assert statuses[DeliveryStatus.SKIPPED] == 0                # nobody was skipped: all ROWS accounted for
    assert len(sent) + len(unknown) == ROWS
    assert unknown_received <= 1                                # a worker has at most one call in flight
    assert all(received[o] == 0 for o in openids if by_openid[o] in unknown and not unknown_received)
