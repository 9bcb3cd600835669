"""The outbox on SQLite, as `scrm demo` runs it (no SKIP LOCKED; one process)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import Base, utcnow
from scrm.models import Channel, Delivery, DeliveryStatus
from scrm.outbox.claim import claim
from scrm.outbox.enqueue import enqueue
from scrm.outbox.reaper import reap
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services import accounts
from tests.factories import make_follower
from tests.integration.outbox_helpers import all_deliveries

pytestmark = pytest.mark.integration


@pytest.fixture
def on_sqlite(live_server: Any, app_ctx: Any, database_url: str, tmp_path: Path) -> Iterator[None]:
    """Point the process at a fresh SQLite file for one test, then back at the test database."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    Base.metadata.create_all(db.init_engine(url))
    accounts.forget_cache()
    try:
        yield
    finally:
        db.init_engine(database_url)
        accounts.forget_cache()


def test_outbox_on_sqlite(on_sqlite: None, settings: Any) -> None:
    assert not db.is_postgres()
    app_id = settings.accounts["demo"].app_id
    f = make_follower(interaction_kind="message")
    sandbox.add_follower(app_id, f.openid)
    aid = accounts.account_id("demo")
    with db.transaction() as s:
        ids = [enqueue(s, account_id=aid, dedupe_key=f"sq:{i}", channel=Channel.CUSTOM, follower_id=f.id,
                       openid=f.openid, payload={"msgtype": "text", "text": {"content": f"消息{i}"}})
               for i in range(4)]
        assert enqueue(s, account_id=aid, dedupe_key="sq:0", channel=Channel.CUSTOM, payload={}) is None
    assert None not in ids

    first = claim(3, "demo-worker")
    assert [r.id for r in first] == ids[:3]
    assert claim(3, "other") != [] and len(all_deliveries()) == 4
    # Both claims are now "crashed" mid-call: the reaper marks them unknown, nothing is resent.
    lease = runtime.get().settings.outbox.lease_seconds
    with db.transaction() as s:
        s.execute(sa.update(Delivery).values(claimed_at=utcnow() - timedelta(seconds=lease + 1)))
    assert reap() == 4
    assert drain() == 0
    assert sandbox.messages_for(app_id, f.openid) == []

    with db.transaction() as s:
        new_id = enqueue(s, account_id=aid, dedupe_key="sq:new", channel=Channel.CUSTOM, follower_id=f.id,
                         openid=f.openid, payload={"msgtype": "text", "text": {"content": "新消息"}})
    assert drain() == 1
    statuses = {r.id: r.status for r in all_deliveries()}
    assert statuses[new_id] == DeliveryStatus.SENT
    assert [m["body"]["content"] for m in sandbox.messages_for(app_id, f.openid)] == ["新消息"]
