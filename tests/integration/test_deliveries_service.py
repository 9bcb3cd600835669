"""Read helpers over the outbox, scoped like every staff query."""

from __future__ import annotations

from typing import Any

import pytest

from scrm import db
from scrm.models import Channel, Role
from scrm.outbox.enqueue import enqueue
from scrm.services import deliveries
from scrm.services.accounts import account_id
from scrm.services.errors import NotFound
from scrm.services.scope import Scope
from tests.factories import make_dealer

pytestmark = pytest.mark.integration
TEXT = {"msgtype": "text", "text": {"content": "x"}}


def test_counts_and_recent_are_scoped(app_ctx: Any) -> None:
    aid = account_id("demo")
    a, b = make_dealer(), make_dealer()
    with db.transaction() as s:
        ids = {key: enqueue(s, account_id=aid, dedupe_key=key, channel=Channel.CUSTOM, payload=TEXT,
                            openid=f"o_{key}", dealer_id=dealer)
               for key, dealer in (("a1", a.id), ("a2", a.id), ("b1", b.id), ("none", None))}
    brand = Scope(account_id=aid, dealer_id=None, role=Role.BRAND_ADMIN)
    staff_a = Scope(account_id=aid, dealer_id=a.id, role=Role.DEALER_STAFF)
    other_account = Scope(account_id=aid + 1000, dealer_id=None, role=Role.BRAND_ADMIN)

    assert deliveries.counts_by_status(brand)["pending"] == 4
    assert deliveries.counts_by_status(staff_a)["pending"] == 2
    assert deliveries.counts_by_status(staff_a)["sent"] == 0
    assert deliveries.counts_by_status(other_account)["pending"] == 0

    assert [v.openid for v in deliveries.recent(brand)] == ["o_none", "o_b1", "o_a2", "o_a1"]
    assert [v.openid for v in deliveries.recent(staff_a)] == ["o_a2", "o_a1"]
    assert deliveries.recent(brand, status="sent") == []
    assert deliveries.recent(brand, status="nonsense") == []
    assert len(deliveries.recent(brand, limit=2)) == 2

    assert deliveries.get_delivery(staff_a, ids["a1"]).channel == "custom"
    with pytest.raises(NotFound):
        deliveries.get_delivery(staff_a, ids["b1"])
    with pytest.raises(NotFound):
        deliveries.payload_of(staff_a, ids["none"])
    assert deliveries.payload_of(brand, ids["none"]) == TEXT
    assert deliveries.needs_attention(brand) == []
